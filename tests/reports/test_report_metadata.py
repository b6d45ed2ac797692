"""A case's metadata and tags in every report of the real CLI (echo provider): the -o
JSON results and diff document, HTML (escaped, searchable), Markdown (escaped, its own
column), JUnit <properties>. The values are hostile: markup in each language."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

HOSTILE = "<script>alert(1)</script> | **bold** [x](http://e.vil) `tick` &amp;\nline2"

FILES = {
    "prompts/p.yaml": """
        prompts:
          echo: {template: "Say {{ q }}"}
        """,
    "suites/s.yaml": """
        prompts: [p.echo]
        models: [echo]
        cases:
          - id: marked
            vars: {q: one}
            metadata: {owner: "HOSTILE", n: 3}
            tags: ["<b>t</b>"]
            assert: [{type: contains, value: nowhere}]
          - id: bare
            vars: {q: two}
            assert: [{type: contains, value: nowhere}]
          - id: fine
            vars: {q: three}
            metadata: {owner: ok}
            assert: [{type: contains, value: Say}]
        """,
}


def project(make_project) -> Path:
    files = dict(FILES)
    files["suites/s.yaml"] = files["suites/s.yaml"].replace(
        '"HOSTILE"', json.dumps(HOSTILE))
    return make_project(files)


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.kv: list[str] = []  # the text of each <code> inside a .kv span
        self.meta_attrs: list[str] = []
        self._in_kv = 0
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attr = dict(attrs)
        if tag == "tr" and attr.get("data-meta") is not None:
            self.meta_attrs.append(attr["data-meta"] or "")
        if tag == "span" and attr.get("class") == "kv":
            self._in_kv += 1
        if tag == "code" and self._in_kv:
            self._code = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._code is not None:
            self.kv.append("".join(self._code))
            self._code = None
        if tag == "span" and self._in_kv:
            self._in_kv -= 1

    def handle_data(self, data: str) -> None:
        if self._code is not None:
            self._code.append(data)


def test_json_results_carry_metadata_and_tags(make_project, cli, tmp_path):
    project(make_project)
    assert cli("run", "-o", "out.json", "-o", "out.jsonl").exit_code == 1
    doc = json.loads((tmp_path / "out.json").read_text())
    by_case = {r["case"]: r for r in doc["results"]}
    assert by_case["marked"]["metadata"] == {"owner": HOSTILE, "n": 3}
    assert by_case["marked"]["tags"] == ["<b>t</b>"]
    assert by_case["bare"]["metadata"] == {} and by_case["bare"]["tags"] == []
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {x["case"]: x["metadata"] for x in lines}["marked"]["owner"] == HOSTILE


def test_html_shows_metadata_escaped_under_the_case(make_project, cli, tmp_path):
    project(make_project)
    assert cli("run", "-o", "r.html").exit_code == 1
    page = (tmp_path / "r.html").read_text()
    parser = Collect()
    parser.feed(page)
    assert parser.kv == [f"owner={HOSTILE}", "n=3", "tag:<b>t</b>", "owner=ok"], parser.kv
    assert parser.tags.count("script") == 1  # the report's own
    assert "<b>t</b>" not in page and "&lt;b&gt;t&lt;/b&gt;" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert parser.meta_attrs[0] == f"owner={HOSTILE}\nn=3\ntag:<b>t</b>"
    assert 'placeholder="case id or metadata contains"' in page


def test_markdown_gets_a_metadata_column_escaped(make_project, cli, tmp_path):
    project(make_project)
    assert cli("run", "-o", "r.md").exit_code == 1
    text = (tmp_path / "r.md").read_text()
    header = next(x for x in text.splitlines() if x.startswith("| status"))
    assert header == ("| status | suite | case | metadata | prompt | model | # | output "
                      "| why |")
    (row,) = [x for x in text.splitlines() if "`marked`" in x]
    cells = row.split(" | ")
    assert cells[3].startswith("owner=\\<script\\>alert(1)\\</script\\> \\| \\*\\*bold")
    assert "n=3, tag:\\<b\\>t\\</b\\>" in cells[3]
    assert "<script>" not in text and "<b>" not in text and "[x](http" not in text
    (bare,) = [x for x in text.splitlines() if "`bare`" in x]
    assert bare.split(" | ")[3] == ""  # no metadata: an empty cell


def test_markdown_without_metadata_has_no_column(make_project, cli, tmp_path):
    make_project({**FILES, "suites/s.yaml": """
        prompts: [p.echo]
        models: [echo]
        cases: [{id: a, vars: {q: x}, assert: [{type: contains, value: nowhere}]}]
        """})
    assert cli("run", "-o", "r.md").exit_code == 1
    text = (tmp_path / "r.md").read_text()
    assert "| status | suite | case | prompt |" in text and "metadata" not in text


def test_junit_testcases_carry_properties(make_project, cli, tmp_path):
    project(make_project)
    assert cli("run", "-o", "r.xml").exit_code == 1
    root = ET.parse(tmp_path / "r.xml").getroot()
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    props = [(p.get("name"), p.get("value")) for p in cases["marked"].iter("property")]
    assert props == [("metadata.owner", HOSTILE), ("metadata.n", "3"), ("tag", "<b>t</b>")]
    assert cases["bare"].find("properties") is None
    assert cases["marked"][0].tag == "properties"  # first, as pytest writes them


def test_check_reports_show_metadata(make_project, cli, tmp_path):
    root = project(make_project)
    assert cli("baseline", "update").exit_code == 0
    suite = root / "suites/s.yaml"
    suite.write_text(suite.read_text().replace("value: Say}", "value: nowhere}"))
    result = cli("check", "-o", "d.md", "-o", "d.json", "-o", "d.html")
    assert result.exit_code == 1, result.output
    text = (tmp_path / "d.md").read_text()
    broken = text.split("### Broken (regressions) (1)")[1]
    assert "| case | metadata | prompt |" in broken
    assert "| `fine` | owner=ok |" in broken
    failing = text.split("### Still failing (2)")[1]
    assert "owner=\\<script\\>" in failing and "<script>" not in text
    doc = json.loads((tmp_path / "d.json").read_text())
    cases = {c["case"]: c for c in doc["suites"][0]["cases"]}
    assert cases["fine"]["metadata"] == {"owner": "ok"} and cases["fine"]["tags"] == []
    assert cases["marked"]["tags"] == ["<b>t</b>"]
    page = (tmp_path / "d.html").read_text()
    assert "<code>owner=ok</code>" in page and "<script>alert" not in page


@pytest.mark.slow
def test_the_html_search_finds_cases_by_metadata_in_chromium(make_project, cli, tmp_path):
    project(make_project)
    assert cli("run", "-o", "r.html").exit_code == 1
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser",
                                               "google-chrome") if shutil.which(n)), None)
    if browser is None:
        pytest.fail("headless Chromium is required for the HTML report tests",
                    pytrace=False)
    shown = {}
    for query in ("owner%3Dok", "tag%3A%3Cb", "n%3D3", "bare"):
        profile = tmp_path / f"profile-{len(shown)}"
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND",
             f"--user-data-dir={profile}", "--dump-dom",
             (tmp_path / "r.html").as_uri() + "#q=" + query],
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = re.findall(r'<tr data-case="([^"]*)"([^>]*)>', proc.stdout)
        shown[query] = [case for case, rest in rows if "hidden" not in rest]
    assert shown == {"owner%3Dok": ["fine"], "tag%3A%3Cb": ["marked"], "n%3D3": ["marked"],
                     "bare": ["bare"]}
