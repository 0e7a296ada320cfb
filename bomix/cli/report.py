"""``bomix report DIR... --out report.html`` and ``bomix dashboard DIR... [--port N] [--host H]``: parsing and printing.

The library they call: :mod:`bomix.report` (:func:`bomix.report.render.write_report`,
:func:`bomix.report.server.make_server`). Both need the ``report`` extra (plotly); without it they fail in one line.
"""

from __future__ import annotations

import argparse
import json
import sys

from bomix.errors import BomixError


DIRS_HELP = "campaign, study or sweep directories (searched recursively)"


class _Parser(argparse.ArgumentParser):
    """Argument errors become one-line BomixErrors (the CLI prints them and exits 2)."""

    def error(self, message: str):
        raise BomixError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _seconds(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not (x > 0 and x < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return x


def _port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535 (0: any free one), got {text!r}")
    return n


def report_main(argv: list[str]) -> int:
    """``bomix report DIR... [--out report.html] [--title T]``: one self-contained HTML page; prints a JSON line."""
    from bomix.report.render import require_plotly, write_report

    ap = _Parser(prog="bomix report", description=(
        "one self-contained HTML page (plotly.js inlined: opens offline) of campaign, study or sweep directories: "
        "per campaign its summary, objective (and regret) vs cost by fidelity, the recommended mixture over cost, "
        "cost per fidelity, the prediction +- sd against the truth, runner-up mixtures; for several a comparison "
        "table. Needs the report extra: pip install 'bomix[report]'"))
    ap.add_argument("dirs", nargs="+", metavar="DIR", help=DIRS_HELP)
    ap.add_argument("--out", "-o", default="report.html", help="the HTML file to write (default: report.html)")
    ap.add_argument("--title", default=None, help="page title (default: from the first directory)")
    args = ap.parse_args(argv)
    require_plotly()
    print(json.dumps(write_report(args.dirs, args.out, title=args.title)))
    return 0


def dashboard_main(argv: list[str]) -> int:
    """``bomix dashboard DIR... [--port 8765] [--host 127.0.0.1] [--refresh 5]``: serve the report until Ctrl-C."""
    from bomix.report.server import make_server

    ap = _Parser(prog="bomix dashboard", description=(
        "serve the `bomix report` page of campaign, study or sweep directories on a local web server; the page "
        "refreshes itself while campaigns run (the stores are only read). Needs the report extra: "
        "pip install 'bomix[report]'"))
    ap.add_argument("dirs", nargs="+", metavar="DIR", help=DIRS_HELP)
    ap.add_argument("--port", type=_port, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                    "only; the dashboard has no authentication)")
    ap.add_argument("--refresh", type=_seconds, default=5.0, help="seconds between the page's updates (default 5)")
    ap.add_argument("--title", default=None, help="page title (default: from the first directory)")
    args = ap.parse_args(argv)
    server = make_server(args.dirs, host=args.host, port=args.port, refresh=args.refresh, title=args.title)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"bomix dashboard: listening on {args.host}: anyone who can reach it can read these campaigns",
              file=sys.stderr)
    print(f"bomix dashboard: serving {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
