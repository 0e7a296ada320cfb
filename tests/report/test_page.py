"""bomix.report.figures / page / render: which figures a campaign gets, a comparison for several, text read from a
store escaped, and a report file that needs no network."""

from __future__ import annotations

import json
import re

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.policies.heuristics import RandomPolicy
from bomix.report.data import load, load_campaign
from bomix.report.figures import campaign_figures
from bomix.report.page import build, state
from bomix.report.render import write_report


def test_each_campaign_gets_its_figures_and_several_a_comparison(sweep):
    keys = {c.label: [f.key for f in campaign_figures(c)] for c in load([sweep]).campaigns}
    assert keys == {"hb": ["progress", "weights", "fidelity_cost", "mixtures"],
                    "random": ["progress", "weights", "fidelity_cost", "mixtures"],
                    "pred": ["progress", "weights", "fidelity_cost", "prediction", "mixtures"]}
    built = build(load([sweep]))
    assert [f.key for f in built.figures] == ["comparison"] + keys["hb"] + keys["pred"] + keys["random"]
    assert len(re.findall(r'<div class="plot[^"]*" id="[^"]+" data-fig="\d+"', built.html)) == len(built.figures)
    assert "Comparison of 3 campaigns" in built.html and built.html.count("<tr>") >= 4
    progress = json.loads(built.figures[1].json)
    fidelities = [t["name"] for t in progress["data"] if t.get("legendgroup") == "runs"]
    assert fidelities == ["1B@500", "1B@5000", "1B@10000", "1B@20000"]  # coloured by fidelity, cheapest first
    assert progress["layout"]["yaxis2"]["title"]["text"] == "regret"
    s = json.loads(state(built, "v1"))
    assert s["version"] == "v1" and s["html"] == built.html and len(s["figures"]) == len(built.figures)


def test_text_from_a_store_is_escaped(tmp_path):
    run_campaign(SyntheticBackend(domains=["a<i>x", "b&c", "web"], noise=0.01), RandomPolicy(), budget=2, seed=0,
                 directory=tmp_path / "c<b>")
    c = load_campaign(tmp_path / "c<b>")
    built = build(load([tmp_path / "c<b>"]))
    assert "a<i>x" not in built.html and "a&lt;i&gt;x" in built.html and "c&lt;b&gt;" in built.html
    assert "<b>c" not in built.html
    for f in built.figures:
        assert "<" not in f.json  # plotly's JSON escapes it: the figures can sit in a <script> element
        names = {t.get("name") for t in json.loads(f.json)["data"]}
        assert "a<i>x" not in names
    assert c.domains == ["a<i>x", "b&c", "web"]


def test_report_file_is_self_contained(sweep, tmp_path):
    out = tmp_path / "sub" / "report.html"
    info = write_report([sweep / "hb"], out)
    text = out.read_text()
    assert info == {"out": str(out), "campaigns": 1, "figures": 4, "bytes": len(text.encode())}
    assert "<script src" not in text and "<link rel=\"stylesheet\"" not in text  # plotly.js is inline
    assert "Content-Security-Policy" in text and "connect-src" not in text  # default-src 'none': no network
    assert text.count(' data-fig="') == 4 and 'id="bomix-figures"' in text
