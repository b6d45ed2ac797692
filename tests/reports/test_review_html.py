"""The review page end to end, through the real CLI and real headless Chromium
(tests/helpers/cdp.py): `promptctl run` on the echo provider, `promptctl review --html`,
hostile output shown as text that runs nothing, labels given by click and by key, a note
typed, "Save labels" downloaded, and `promptctl review import` writing
reviews/<suite>.yaml; importing again changes nothing, a conflicting file is listed and
exits 1, --force takes it, bad files are one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from helpers.cdp import Browser

from promptctl.load.reviews import output_sha256

HOSTILE = "</script><img src=x onerror=\"window.pwned=1\"><b>&amp;</b>"
FILES = {
    "promptctl.yaml": "models:\n  echo: {provider: echo}\n",
    "prompts/t.yaml": "prompts:\n  say: {template: '{{ answer }}'}\n",
    "suites/s.yaml": "prompts: [t.say]\nmodels: [echo]\ncases:\n"
                     "  - {id: a, vars: {answer: Paris}, assert: [{type: equals, value: Paris}]}\n"
                     "  - id: b\n    vars: {answer: " + json.dumps(HOSTILE) + "}\n"
                     "    assert: [{type: contains, value: Paris}]\n"
                     "  - {id: c, vars: {answer: Rome}, assert: [{type: equals, value: Rome}]}\n",
}


def _page(tmp_path: Path, cli) -> Path:
    assert cli("run", "s", "-q").exit_code in (0, 1)
    page = tmp_path / "review.html"
    got = cli("review", "--html", str(page), "--by", "tester@example.com")
    assert got.exit_code == 0, got.stdout + got.stderr
    assert "3 outputs to review" in got.stdout
    return page


def _label_in_browser(page: Path, downloads: Path) -> Path:
    with Browser(download_dir=downloads) as b:
        tab = b.open(page)
        text = "document.getElementById('{}').textContent".format
        assert tab.eval(text("progress")) == "0 / 3 labelled"
        assert "case a" in tab.eval(text("where"))
        tab.click("#pass")
        # case b: the hostile output is text, nothing of it ran or became an element
        assert "case b" in tab.eval(text("where"))
        assert tab.eval(text("output")) == HOSTILE
        assert tab.eval("document.querySelectorAll('img').length") == 0
        assert tab.eval("typeof window.pwned") == "undefined"
        assert "fail contains" in tab.eval(text("assertions"))
        tab.press("f")
        # case c: n focuses the note; keys typed in it label nothing
        assert "case c" in tab.eval(text("where"))
        tab.press("n")
        assert tab.eval("document.activeElement.id") == "note"
        tab.type("looks right ")
        tab.press("p")
        assert tab.eval("document.getElementById('note').value") == "looks right p"
        assert tab.eval(text("mine")) == "not labelled on this page"
        tab.eval("document.getElementById('note').blur()")
        tab.press("p")
        assert tab.eval(text("progress")) == "3 / 3 labelled"
        tab.click("#save")
        saved = b.wait_download(15)
        assert not [m for m in tab.console if "exception" in m or "Content Security" in m]
    return saved


def test_label_in_the_page_then_import(make_project, cli, tmp_path) -> None:
    make_project(FILES)
    page = _page(tmp_path, cli)
    html = page.read_text()
    assert "<img" not in html and HOSTILE not in html  # escaped in the data block
    saved = _label_in_browser(page, tmp_path / "dl")
    data = json.loads(saved.read_text())
    assert saved.name == f"labels-{data['run']}.json"
    assert data["version"] == 1 and data["kind"] == "promptctl-labels"
    got = [(e["case"], e["verdict"], e.get("note")) for e in data["labels"]]
    assert got == [("a", "pass", None), ("b", "fail", None), ("c", "pass", "looks right p")]
    for e in data["labels"]:
        assert e["by"] == "tester@example.com" and e["output_sha256"] == output_sha256(e["output"])
        assert len(e["at"]) == 20 and e["at"].endswith("Z")

    res = cli("review", "import", str(saved))
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "s: 3 labels added or changed" in res.stdout
    book = yaml.safe_load((tmp_path / "reviews" / "s.yaml").read_text())
    text = (tmp_path / "reviews" / "s.yaml").read_text()
    assert "looks right p" in text and "tester@example.com" in text
    assert book

    again = cli("review", "import", str(saved))
    assert again.exit_code == 0 and "nothing changed" in again.stdout

    # a file that says otherwise about case a: listed, left out, exit 1; --force takes it
    data["labels"][0]["verdict"] = "fail"
    data["labels"][0]["by"] = "other@example.com"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    clash = cli("review", "import", str(other))
    assert clash.exit_code == 1, clash.stdout + clash.stderr
    assert "conflict: case a" in clash.stdout and "has pass" in clash.stdout
    assert "the file has fail (by other@example.com" in clash.stdout
    assert "verdict: pass" in (tmp_path / "reviews" / "s.yaml").read_text()
    # a page written now shows the labels on file
    page2 = tmp_path / "again.html"
    assert cli("review", "--html", str(page2)).exit_code == 0
    with Browser() as b:
        tab = b.open(page2)
        state = "document.getElementById('state').textContent"
        assert tab.eval(state) == "label on file: labelled pass by tester@example.com"
        assert tab.eval("document.getElementById('progress').textContent") == "3 / 3 labelled"
    forced = cli("review", "import", str(other), "--force")
    assert forced.exit_code == 0 and "s: 1 label added or changed" in forced.stdout
    assert "other@example.com" in (tmp_path / "reviews" / "s.yaml").read_text()


def _entry(**over: object) -> dict:
    e = {"suite": "s", "case": "a", "prompt": "t.say", "model": "echo",
         "output_sha256": output_sha256("Paris"), "output": "Paris", "verdict": "pass",
         "by": "me", "at": "2026-12-02T22:40:00Z"}
    e.update(over)
    return e


def test_bad_files_are_one_line_exit_2(make_project, cli, tmp_path) -> None:
    make_project(FILES)
    cases = {
        "not json {": "invalid JSON",
        json.dumps({"version": 1, "kind": "promptctl-labels", "run": "r",
                    "labels": [_entry(), _entry(output="Rome")]}):
            "labels[1].output_sha256: is not the sha256",
        json.dumps({"version": 1, "kind": "promptctl-labels", "run": "r",
                    "labels": [_entry(suite="nope")]}): "labels[0].suite: no suite 'nope'",
        json.dumps({"version": 1, "kind": "promptctl-labels", "run": "r",
                    "labels": [_entry(verdict="maybe")]}):
            "labels[0].verdict: verdict 'maybe' is not pass or fail",
        json.dumps({"version": 1, "kind": "promptctl-labels", "run": "r",
                    "labels": [_entry(score=1.5)]}): "labels[0].score: score 1.5",
        json.dumps({"version": 1, "kind": "promptctl-labels", "run": "r",
                    "labels": [_entry(case=3)]}): "labels[0].case",
        json.dumps({"version": 1, "kind": "other", "run": "r", "labels": []}): "kind is 'other'",
        json.dumps({"version": 1, "kind": "promptctl-labels", "run": "r",
                    "labels": [_entry(at="yesterday")]}):
            "labels[0].at: 'yesterday' is not a UTC time",
    }
    for i, (text, words) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.json"
        bad.write_text(text)
        got = cli("review", "import", str(bad))
        assert got.exit_code == 2, (text, got.stdout, got.stderr)
        assert words in got.stderr and str(bad) in got.stderr, (words, got.stderr)
        assert len(got.stderr.strip().splitlines()) == 1, got.stderr
    assert not (tmp_path / "reviews").exists()
    missing = cli("review", "import", str(tmp_path / "none.json"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
