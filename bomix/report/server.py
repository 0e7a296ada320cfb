"""``bomix dashboard``: the report's page served locally, refreshed while campaigns run.

A stdlib :class:`http.server.ThreadingHTTPServer` with three fixed routes and nothing else:

* ``/``: the page (:func:`bomix.report.page.page`), its figures drawn by plotly.js from ``/plotly.min.js``;
* ``/state.json?v=VERSION``: the page's content as JSON (``{"version", "html", "figures"}``), or only
  ``{"version"}`` when nothing changed since ``VERSION``; the page polls it every ``refresh`` seconds and redraws;
* ``/plotly.min.js``: the plotly.js that the installed plotly ships.

The stores are read with :class:`bomix.store.StoreReader` (read-only SQLite readers: safe while a campaign writes),
and only again when a directory's store, its write-ahead log, its summary or its lock holder changed. The URL
never names a file; nothing read from a directory is executed (the page's markup escapes every value and the
figures travel as JSON data).
"""

from __future__ import annotations

import hashlib
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bomix.errors import BomixError
from bomix.layout import CampaignLayout
from bomix.report.data import ReportData, find_directories, load
from bomix.report.page import Built, build, page, state
from bomix.report.render import plotly_js, require_plotly, title_for

#: the dashboard page's Content-Security-Policy: our inline script, plotly.js from this server, fetches to it only
CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
       "font-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'")


class Dashboard:
    """What the server shows for ``paths``: the content, re-read only when a directory changed.

    Args:
        paths: campaign, study or sweep directories (a folder in which campaigns will appear is fine).
        refresh: seconds between the page's polls.
        title: the page title (default: from the first path).
    """

    def __init__(self, paths: list[str | Path], refresh: float = 5.0, title: str | None = None):
        self.paths = [Path(p) for p in paths]
        missing = [str(p) for p in self.paths if not p.exists()]
        if missing:
            raise BomixError(f"{', '.join(missing)} does not exist: give campaign, study or sweep directories")
        if not refresh > 0:
            raise BomixError(f"--refresh must be > 0 seconds, got {refresh}")
        self.refresh = float(refresh)
        self.title = title or title_for(self.paths)
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._version = ""
        self._built = Built("", [])

    def _stamp(self) -> tuple:
        """What changes when any directory changes: each one's store, write-ahead log and summary (size and
        modification time) and whether a process holds its lock (a killed campaign changes no file)."""
        from bomix.study.show import campaign_lock_held

        try:
            dirs = find_directories(self.paths)
        except BomixError as exc:
            return (str(exc),)
        out = []
        for d in dirs:
            lay = CampaignLayout(d)
            files = []
            for f in (lay.store, Path(f"{lay.store}-wal"), lay.summary):
                try:
                    st = f.stat()
                except OSError:
                    st = None
                # an empty log is no log (SQLite creates one when a reader opens the store)
                files.append((st.st_mtime_ns, st.st_size) if st is not None and st.st_size else None)
            out.append((str(d), tuple(files), campaign_lock_held(d)))
        return tuple(out)

    def current(self) -> tuple[str, Built]:
        """``(version, content)``, rebuilt when :meth:`_stamp` changed (one rebuild at a time)."""
        with self._lock:
            key = self._stamp()
            if key != self._key:
                try:
                    data = load(self.paths, allow_empty=True)
                except BomixError as exc:
                    data = ReportData([], [{"directory": ", ".join(map(str, self.paths)), "error": str(exc)}])
                self._built = build(data)
                self._key = key
                self._version = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
            return self._version, self._built

    def page(self) -> str:
        version, built = self.current()
        return page(built, title=self.title, plotly_src="plotly.min.js", refresh=self.refresh, version=version)

    def state(self, since: str | None) -> str:
        version, built = self.current()
        if since == version:
            return '{"version": "%s"}' % version
        return state(built, version)


class DashboardServer(ThreadingHTTPServer):
    """The HTTP server of one :class:`Dashboard` (``serve_forever()`` runs it; ``url`` says where)."""

    daemon_threads = True

    def __init__(self, dashboard: Dashboard, host: str = "127.0.0.1", port: int = 8765):
        self.dashboard = dashboard
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise BomixError(f"cannot serve on {host}:{port} ({exc.strerror or exc}): choose another --port "
                             "(0 picks a free one)") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "bomix-dashboard"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        try:
            if url.path in ("/", "/index.html"):
                self._send(self.server.dashboard.page().encode(), "text/html; charset=utf-8")
            elif url.path == "/state.json":
                since = parse_qs(url.query).get("v", [None])[0]
                self._send(self.server.dashboard.state(since).encode(), "application/json")
            elif url.path == "/plotly.min.js":
                self._send(plotly_js().encode(), "text/javascript; charset=utf-8", cache="max-age=3600")
            else:
                self._send(b"not found\n", "text/plain; charset=utf-8", status=HTTPStatus.NOT_FOUND)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away

    def _send(self, body: bytes, ctype: str, status: HTTPStatus = HTTPStatus.OK, cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        if ctype.startswith("text/html"):
            self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        pass  # one line per poll would drown the terminal


def make_server(paths: list[str | Path], host: str = "127.0.0.1", port: int = 8765,
                refresh: float = 5.0, title: str | None = None) -> DashboardServer:
    """A dashboard server for ``paths``, bound but not yet serving (``serve_forever()``; ``shutdown()``)."""
    require_plotly()
    return DashboardServer(Dashboard(paths, refresh=refresh, title=title), host=host, port=port)
