"""The report and the dashboard in a real headless browser (Debian's Chromium driven by selenium through its
chromedriver, nothing downloaded): every figure renders and the console stays free of errors, for a finished
sweep's report file and for the dashboard of a campaign that is still running, which updates itself as runs land.

Skipped only where /usr/bin/chromium is absent (``.ci/run`` installs chromium and chromium-driver).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.errors import BomixError
from bomix.report.data import load, load_campaign
from bomix.report.page import build
from bomix.report.render import write_report
from bomix.report.server import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000"]
#: every plot drawn: plotly's container, its SVG and at least one trace with data
RENDERED = """return Array.from(document.querySelectorAll('div.plot')).map(function (el) {
  return el.classList.contains('js-plotly-plot') && !!el.querySelector('svg.main-svg') && (el.data || []).length > 0;
});"""

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium "
                                "(apt-get install chromium chromium-driver; .ci/run installs both)")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium never looks for a driver online
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="bomix-chromium-") as profile:
        for flag in FLAGS + [f"--user-data-dir={profile}"]:
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


def _severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _wait(driver, condition, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition())


def _rendered(driver, n: int) -> bool:
    flags = driver.execute_script(RENDERED)
    return len(flags) == n and all(flags)


def _runs(driver) -> tuple[int, int, str]:
    """(finished, pending, status) of the page's (only) campaign, as the page shows them now."""
    runs, pending, status = driver.execute_script(  # in one go: the page may swap its content between two calls
        "var r = document.querySelector('span.runs'), s = document.querySelector('span.status');"
        "return [r.getAttribute('data-runs'), r.getAttribute('data-pending'), s.textContent];")
    return int(runs), int(pending), status


def test_report_file_renders_every_figure_without_console_errors(browser, sweep, tmp_path):
    out = tmp_path / "report.html"
    info = write_report([sweep], out)
    browser.get(out.as_uri())
    _wait(browser, lambda: _rendered(browser, info["figures"]))
    assert info["figures"] == 14 and len(browser.find_elements("css selector", ".js-plotly-plot")) == 14
    titles = [t.text for t in browser.find_elements("css selector", "g.g-xtitle text")]
    assert "cumulative cost (target-run equivalents)" in titles and "fidelity (scale@steps)" in titles
    assert len(browser.find_elements("css selector", "#comparison tbody tr")) == 3
    assert _severe(browser) == []


class GatedBackend(SyntheticBackend):
    """The synthetic simulator whose runs wait for the test's permission (one ``gate.release()`` per run)."""

    def __init__(self, gate: threading.Semaphore, **kw):
        super().__init__(**kw)
        self.gate = gate

    def run(self, spec):
        if not self.gate.acquire(timeout=120):
            raise RuntimeError("the test never let this run finish")
        return super().run(spec)


def test_dashboard_of_a_running_campaign_updates_itself(browser, tmp_path):
    from bomix.campaign import run_campaign
    from bomix.policies.hyperband import HyperbandPolicy

    gate = threading.Semaphore(3)
    d = tmp_path / "live"
    campaign = threading.Thread(target=run_campaign, daemon=True, args=(
        GatedBackend(gate, k=4, noise=0.01), HyperbandPolicy()), kwargs={"budget": 2.0, "directory": d})
    campaign.start()
    server = make_server([tmp_path], port=0, refresh=0.3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _wait(browser, lambda: _finished(d) == 3)  # the 4th run is dispatched (pending) and waits at the gate
        n_figures = len(build(load([d])).figures)
        browser.get(server.url)
        _wait(browser, lambda: _rendered(browser, n_figures))
        assert n_figures == 4 and _runs(browser) == (3, 1, "running")
        gate.release(5)  # five more runs land: the page shows them without a reload
        _wait(browser, lambda: _runs(browser)[0] == 8)
        assert _rendered(browser, 4) and "live: checked" in browser.find_element("id", "live").text
        gate.release(100)  # the rest of the campaign
        campaign.join(timeout=60)
        assert not campaign.is_alive()
        _wait(browser, lambda: _runs(browser) == (31, 0, "done"))
        assert _rendered(browser, 4)
        browser.refresh()
        _wait(browser, lambda: _rendered(browser, 4))
        assert _runs(browser) == (31, 0, "done")
        assert _severe(browser) == []
    finally:
        gate.release(1000)
        server.shutdown()
        server.server_close()


def _finished(d: Path) -> int:
    try:
        return load_campaign(d).final["runs"]
    except BomixError:  # the campaign has not written its store yet
        return -1
