"""bomix.report.server: fixed routes only, a new version only when a directory changed, read-only."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request

import pytest

from bomix.errors import BomixError
from bomix.report.server import Dashboard, make_server

from report_fixtures import run


def test_content_is_rebuilt_only_when_a_campaign_changes(sweep, tmp_path):
    d = tmp_path / "c"
    shutil.copytree(sweep / "random", d)
    before = {f: (d / f).read_bytes() for f in ("store.sqlite", "summary.json")}
    dash = Dashboard([tmp_path], refresh=1)
    v1, b1 = dash.current()
    assert dash.current() == (v1, b1)  # nothing changed: the same content, not re-read
    assert json.loads(dash.state(v1)) == {"version": v1}  # the page has it already
    assert json.loads(dash.state("old"))["html"] == b1.html
    assert {f: (d / f).read_bytes() for f in before} == before  # read-only
    run(d, "random", budget=5.0)  # the campaign is extended: two more runs
    v2, b2 = dash.current()
    assert v2 != v1 and 'data-runs="5"' in b2.html and 'data-runs="3"' in b1.html


def test_a_folder_without_campaigns_yet_is_served(tmp_path):
    dash = Dashboard([tmp_path])
    assert "No campaign yet" in dash.current()[1].html
    with pytest.raises(BomixError, match="does not exist"):
        Dashboard([tmp_path / "nope"])


def _get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_http_routes(sweep):
    server = make_server([sweep / "hb"], port=0, refresh=2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = server.url
        status, headers, body = _get(url)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in headers["Content-Security-Policy"] and headers["Cache-Control"] == "no-store"
        page = body.decode()
        assert '<script src="plotly.min.js">' in page and 'data-refresh="2"' in page
        status, _, body = _get(url + "state.json")
        state = json.loads(body)
        assert status == 200 and set(state) == {"version", "html", "figures"} and len(state["figures"]) == 4
        assert json.loads(_get(url + f"state.json?v={state['version']}")[2]) == {"version": state["version"]}
        status, headers, body = _get(url + "plotly.min.js")
        assert status == 200 and len(body) > 1_000_000 and headers["Content-Type"].startswith("text/javascript")
        for path in ("store.sqlite", "summary.json", "../hb/store.sqlite", "%2e%2e/etc/passwd", "x"):
            assert _get(url + path)[0] == 404
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_in_use_is_one_line(sweep):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(BomixError, match=rf"cannot serve on 127.0.0.1:{port} .*choose another --port"):
            make_server([sweep / "hb"], port=port)
