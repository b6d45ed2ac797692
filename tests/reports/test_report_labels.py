"""Human labels of reviews/ in every report of run, check and diff: the terminal table,
JSON, Markdown, HTML and JUnit show the reviewer's verdict beside the output and flag
the disagreements ("gap": reviewer fail, suite pass; "strict": the reverse); a stale
label says the output changed; what a label quotes is escaped."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from promptctl.load.project import load_project
from promptctl.load.reviews import Label, Reviews, output_sha256, write_reviews

ANSWERS = {"agree": "Paris", "gap": "Paris, or maybe Lyon", "strict": "paris?",
           "stale": "Paris!", "none": "Rome"}
SUITE = """
prompts: [t.say]
models: [echo]
defaults:
  assert:
    - {type: contains, value: Paris}
cases:
""" + "".join(f"  - {{id: {k}, vars: {{answer: {json.dumps(v)}}}}}\n" for k, v in ANSWERS.items())
FILES = {
    "promptctl.yaml": "models:\n  echo: {provider: echo}\n",
    "prompts/t.yaml": "prompts:\n  say: {template: '{{ answer }}'}\n",
    "suites/s.yaml": SUITE,
}
HOSTILE = "<script>alert(1)</script> | **bold** [x](http://evil)"


@pytest.fixture
def labelled(make_project):
    root = make_project(FILES)
    book = Reviews("s", "reviews/s.yaml")
    for case, verdict, text in (("agree", "pass", ANSWERS["agree"]),
                                ("gap", "fail", ANSWERS["gap"]),
                                ("strict", "pass", ANSWERS["strict"]),
                                ("stale", "fail", "Paris, an older answer")):
        book.put(Label(case, "t.say", "echo", output_sha256(text), verdict, "ann@example.com",
                       "2026-12-02T10:00:00Z", output=text,
                       note=HOSTILE if case == "gap" else None))
    write_reviews(load_project(root), book)
    return root


def test_run_reports_carry_the_labels_and_flag_disagreements(labelled, cli) -> None:
    got = cli("run", "-o", "r.json", "-o", "r.md", "-o", "r.html", "-o", "r.xml")
    assert got.exit_code == 1  # "strict" and "none" fail the contains check
    assert "reviewer: fail, suite: pass" in got.stdout  # the gap, though it passed
    assert "reviewer: pass, suite: fail" in got.stdout
    assert "label stale (output changed; was fail)" in got.stdout

    doc = json.loads((labelled / "r.json").read_text())
    labels = {r["case"]: r.get("label") for r in doc["results"]}
    assert labels["none"] is None
    assert labels["agree"]["disagreement"] is None and labels["agree"]["state"] == "labelled"
    assert labels["gap"]["disagreement"] == "gap" and labels["gap"]["note"] == HOSTILE
    assert labels["strict"]["disagreement"] == "strict"
    assert labels["stale"]["state"] == "stale" and labels["stale"]["disagreement"] is None

    md = (labelled / "r.md").read_text()
    assert "### Reviewer labels: 3 cells labelled, 1 stale (output changed), " \
           "2 disagreements" in md
    rows = [line for line in md.splitlines() if line.startswith(("| gap", "| strict"))]
    assert len(rows) == 2 and "`gap`" in rows[0] and "`strict`" in rows[1]
    assert "<script>" not in md and "\\*\\*bold\\*\\*" in md

    html = (labelled / "r.html").read_text()
    assert html.count('data-review="gap"') == 1 and html.count('data-review="strict"') == 1
    assert html.count('data-review="stale"') == 1 and html.count('data-review="agree"') == 1
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert 'value="disagreements"' in html

    tree = ET.parse(labelled / "r.xml")
    props = {tc.get("name"): {p.get("name"): p.get("value") for p in tc.iter("property")}
             for tc in tree.iter("testcase")}
    assert props["gap"]["review.disagreement"] == "gap"
    assert props["gap"]["review.verdict"] == "fail" and props["gap"]["review.note"] == HOSTILE
    assert props["strict"]["review.disagreement"] == "strict"
    assert props["stale"]["review.state"] == "stale"
    assert "review.verdict" not in props["none"]


def test_check_and_diff_reports_carry_the_labels(labelled, cli) -> None:
    assert cli("baseline", "update", "-q").exit_code == 0
    got = cli("check", "-o", "c.json", "-o", "c.md", "-o", "c.xml", "-o", "c.html")
    assert got.exit_code == 0
    assert "2 reviewer disagreements" in got.stdout
    assert "gap    s/gap [t.say @ echo]: reviewer: fail, suite: pass" in got.stdout
    cases = {c["case"]: c.get("label") for s in json.loads((labelled / "c.json").read_text())
             ["suites"] for c in s["cases"]}
    assert cases["gap"]["disagreement"] == "gap" and cases["none"] is None
    assert "### Reviewer labels: 3 cells labelled" in (labelled / "c.md").read_text()
    assert 'data-review="strict"' in (labelled / "c.html").read_text()
    assert 'name="review.disagreement" value="gap"' in (labelled / "c.xml").read_text()

    assert cli("diff", "-o", "d.json", "-q").exit_code == 0
    diff_cases = {c["case"]: c.get("label") for s in
                  json.loads((labelled / "d.json").read_text())["suites"] for c in s["cases"]}
    assert diff_cases == cases


def test_no_reviews_folder_no_label_anywhere(make_project, cli) -> None:
    root = make_project(FILES)
    assert cli("run", "-o", "r.json", "-o", "r.md", "-o", "r.html").exit_code == 1
    assert all("label" not in r for r in json.loads((root / "r.json").read_text())["results"])
    assert "Reviewer labels" not in (root / "r.md").read_text()
    assert "data-review=" not in (root / "r.html").read_text()
    assert 'value="disagreements"' not in (root / "r.html").read_text()
