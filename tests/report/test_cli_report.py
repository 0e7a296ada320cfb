"""`bomix report` and `bomix dashboard` from the command line: a JSON line, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import sys

from bomix.cli import main


def test_report_writes_the_page_and_prints_a_json_line(sweep, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(sweep), "--out", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["out"] == str(out) and info["campaigns"] == 3 and info["figures"] == 1 + 4 + 5 + 4 and out.is_file()


def test_missing_extra_or_bad_input_is_one_line(sweep, tmp_path, capsys, monkeypatch):
    cases = [(["report", str(tmp_path / "nope")], "does not exist"),
             (["report", str(sweep), "--out", str(tmp_path)], "is a directory: give a file name"),
             (["dashboard", str(sweep), "--port", "70000"], "must be a port number 0-65535"),
             (["dashboard", str(sweep), "--refresh", "0"], "must be a number of seconds > 0"),
             (["dashboard", str(tmp_path / "nope")], "does not exist")]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    monkeypatch.setitem(sys.modules, "plotly", None)  # as if the extra were not installed
    for cmd in ("report", "dashboard"):
        assert main([cmd, str(sweep)]) == 2
        assert capsys.readouterr().err == ("bomix: error: bomix report / bomix dashboard needs plotly: "
                                           "pip install 'bomix[report]'\n")
    assert not (tmp_path / "report.html").exists()


def test_help_lists_both_commands(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "report DIR... --out FILE" in text and "dashboard DIR... [--port N]" in text
