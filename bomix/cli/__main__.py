"""``python -m bomix.cli ...``: the same as the ``bomix`` command."""

import sys

from bomix.cli import main

sys.exit(main())
