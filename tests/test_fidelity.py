"""Fidelity (SCALE@STEPS) and FidelityGrid (which fidelities a backend answers): bomix/fidelity.py."""

from __future__ import annotations

import pytest

from bomix.errors import BomixError
from bomix.fidelity import Fidelity, FidelityGrid


def test_grid_allows_logged_and_declared_ranges_only():
    g = FidelityGrid.from_pairs([("s", 100), ("l", 2000)], ranges={"m": (100, 500)})
    assert g.allows("s", 100) and g.allows("m", 300) and not g.allows("s", 2000) and not g.allows("m", 501)
    with pytest.raises(BomixError, match="s@2000 has no logged data") as exc:
        g.check("s", 2000)
    assert "\n" not in str(exc.value)
    assert g.nearest_steps("s", 1500) == 100 and g.nearest_steps("m", 300) == 300 and g.nearest_steps("x", 1) is None
    assert FidelityGrid.from_dict(g.to_dict()).to_dict() == g.to_dict()


def test_fidelity_subsets_parse_scale_at_steps():
    assert [Fidelity.parse(v) for v in ["1M@1000", " 60M @ 1000"]] == [Fidelity("1M", 1000), Fidelity("60M", 1000)]
    assert str(Fidelity("1M", 1000)) == "1M@1000" and Fidelity.parse(str(Fidelity("60M", 25))) == Fidelity("60M", 25)
    for bad in ("1B", "1B@", "1B@1e3", "1B@-5"):
        with pytest.raises(BomixError, match="SCALE@STEPS"):
            Fidelity.parse(bad)
