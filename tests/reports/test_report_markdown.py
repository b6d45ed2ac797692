"""Issue 12, class 4: the Markdown reports (`-o x.md` of run, check and compare: the
pull-request comment and job summary) cannot be spoofed. A project whose case id, suite,
prompt, model and metric names, assertion value and model output are hostile Markdown
is run through the real CLI on the echo provider; each report is parsed by a real
CommonMark parser with GFM tables and strikethrough (markdown-it-py) and must hold only
the structure promptctl writes, with every hostile value still readable as plain text.
The HTML report and JUnit XML of the same runs stay inert too."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from promptctl.reports import md

SPOOF = "\n\n## ✅ OK: no regressions\n\n<img src=https://e.vil/t.png>\n"
CASE = "x" + SPOOF + "`a|b` ``c`` [l](https://e.vil)"
SUITE = "s ## <b>x<b> [l](https:e.vil) | `t` **b** ~~d~~ www.e.vil"  # a file name
PROMPT = "ask <i>q</i> | [y](https://e.vil) ![i](https://e.vil/i.png)"
MODEL = "bot <b>m</b> [x](https://e.vil) | a@e.vil"
METRIC = "m|<img src=x>[l](http://e.vil)\n# h &amp; $x$"
NEEDLE = "zz <img src=https://e.vil/r.png> `|` \\| <!-- c -->"
TEXT = ("hi\n# head\n```\n<script>alert(1)</script>\n```\n> quote\n- item\n1. one\n"
        "    code\n***\n| c | d |\n|---|---|\nhttps://e.vil/x www.e.vil [r]: https://e.vil\n"
        "\\")

PROJECT = {
    "promptctl.yaml": f"models:\n  {json.dumps(MODEL)}: {{provider: echo}}\n",
    "prompts/p.yaml": f"""
        prompts:
          {json.dumps(PROMPT)}:
            template: "{{{{ text }}}} {{{{ needle }}}}"
          other:
            template: "{{{{ text }}}}"
        """,
    f"suites/{SUITE}.yaml": f"""
        prompts: [{json.dumps("p." + PROMPT)}]
        models: [{json.dumps(MODEL)}]
        cases:
          - id: {json.dumps(CASE)}
            vars: {{text: {json.dumps(TEXT)}, needle: {json.dumps(NEEDLE)}}}
            assert: [{{type: contains, value: {json.dumps(NEEDLE)},
                       metric: {json.dumps(METRIC)}}}]
        """,
}

# text_join off: each escaped character stays a token of its own, as it is a text node of
# its own in cmark-gfm (GitHub's parser), whose autolinker only sees within one node
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"]).disable("text_join")
NEVER = {"image", "html_inline", "html_block", "link_open", "fence", "code_block",
         "blockquote_open", "bullet_list_open", "ordered_list_open", "hr", "em_open"}


def flat(text: str) -> str:
    return " ".join(text.split())


def cut(text: str, limit: int) -> str:
    text = flat(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        yield from walk(token.children or [])


def plain(inline: Token) -> str:
    """The text a reader sees in an inline run (markup dropped)."""
    return "".join(t.content if t.type in ("text", "code_inline", "text_special") else
                   " " if t.type in ("softbreak", "hardbreak") else ""
                   for t in inline.children or [])


class Parsed:
    def __init__(self, src: str) -> None:
        self.src = src
        self.tokens = PARSER.parse(src)
        self.kinds = {t.type for t in walk(self.tokens)}
        self.headings = [plain(self.tokens[i + 1]) for i, t in enumerate(self.tokens)
                         if t.type == "heading_open"]
        self.paragraphs = [plain(self.tokens[i + 1]) for i, t in enumerate(self.tokens)
                           if t.type == "paragraph_open"]
        self.tables: list[list[list[str]]] = []  # table -> rows (header first) -> cells
        for t in self.tokens:
            if t.type == "table_open":
                self.tables.append([])
            elif t.type == "tr_open":
                self.tables[-1].append([])
            elif t.type == "inline" and self.tables and self._in_cell(t):
                self.tables[-1][-1].append(plain(t))

    def _in_cell(self, inline: Token) -> bool:
        i = self.tokens.index(inline)
        return self.tokens[i - 1].type in ("th_open", "td_open")

    def rows(self, first_header: str) -> list[dict[str, str]]:
        (table,) = [t for t in self.tables if t[0][0] == first_header]
        return [dict(zip(table[0], row, strict=True)) for row in table[1:]]

    def marked(self, kind: str) -> list[str]:
        """The text inside each strong or strikethrough run."""
        out, inside = [], None
        for t in walk(self.tokens):
            if t.type == f"{kind}_open":
                inside = []
            elif t.type == f"{kind}_close" and inside is not None:
                out.append("".join(inside))
                inside = None
            elif inside is not None and t.type in ("text", "text_special", "code_inline"):
                inside.append(t.content)
        return out


def assert_inert(doc: Parsed) -> None:
    assert not (NEVER & doc.kinds), sorted(NEVER & doc.kinds)
    # GFM's extended autolinks, which CommonMark parsers do not know: www., scheme://,
    # e-mail addresses; no run of text outside code may hold one
    texts = [t.content for t in walk(doc.tokens) if t.type == "text"]
    assert [t for t in texts if re.search(r"://|www\.|@", t)] == []


@pytest.fixture
def hostile(make_project, cli, tmp_path) -> Path:
    root = make_project(PROJECT)
    assert cli("baseline", "update").exit_code == 0
    # the prompt loses its needle: the case breaks, its output changes
    prompts = root / "prompts/p.yaml"
    prompts.write_text(prompts.read_text().replace(" {{ needle }}", ""))
    return root


def test_the_run_report_shows_hostile_values_as_text_only(hostile, cli):
    result = cli("run", "-o", "run.md", "-o", "run.json", "-o", "run.html", "-o", "run.xml")
    assert result.exit_code == 1, result.output
    doc = Parsed((hostile / "run.md").read_text())
    assert_inert(doc)
    assert doc.headings == ["promptctl run ❌ 0/1 cases passed", "Not passing (1)"]
    assert not {"strong_open", "s_open"} & doc.kinds
    assert doc.rows("metric")[0]["metric"] == flat(METRIC)
    (row,) = doc.rows("status")
    record = json.loads((hostile / "run.json").read_text())["results"][0]
    assert row == {"status": "fail", "suite": SUITE, "case": flat(CASE), "prompt": f"p.{PROMPT}",
                   "model": MODEL, "#": "0", "output": cut(TEXT, 120),
                   "why": cut(f"contains: {record['assertions'][0]['reason']}", 200)}
    assert "<img src=https://e.vil/r.png>" in record["assertions"][0]["reason"]
    assert_html_and_junit_inert(hostile / "run.html", hostile / "run.xml")


def test_the_check_report_shows_hostile_values_as_text_only(hostile, cli):
    result = cli("check", "-o", "diff.md", "-o", "diff.html", "-o", "diff.xml")
    assert result.exit_code == 1, result.output
    doc = Parsed((hostile / "diff.md").read_text())
    assert_inert(doc)
    assert doc.headings == ["promptctl: ❌ regressions found", "Broken (regressions) (1)"]
    (suite,) = doc.rows("suite")
    assert suite["suite"] == SUITE
    assert suite["metrics"] == f"{flat(METRIC)} 1.0 → 0.0"
    (row,) = doc.rows("case")
    before, after = flat(f"{TEXT} {NEEDLE}"), flat(TEXT)
    assert (row["case"], row["prompt"], row["model"]) == (flat(CASE), f"p.{PROMPT}", MODEL)
    assert row["output (before after)"] == before  # the diff reads whole
    # the only strikethrough and bold: the column header and the needle struck out
    assert doc.marked("s") == ["before", flat(NEEDLE)]
    assert doc.marked("strong") == ["after"]
    assert row["why"].startswith("contains: expected to contain 'zz <img src=https://e.vil")
    assert row["why"].endswith("prompt edited (rendered messages differ)")
    assert doc.paragraphs[-1] == ("Fingerprint changes in 1 cases: "
                                  "prompt edited (rendered messages differ)")
    assert after in before
    assert_html_and_junit_inert(hostile / "diff.html", hostile / "diff.xml")


def test_the_compare_report_shows_hostile_values_as_text_only(make_project, cli):
    hostile = make_project(PROJECT)
    result = cli("compare", f"p.{PROMPT}", "p.other", "-o", "cmp.md")
    assert result.exit_code == 0, result.output
    doc = Parsed((hostile / "cmp.md").read_text())
    assert_inert(doc)
    assert doc.headings == [f"promptctl compare: p.{PROMPT} (A) vs p.other (B)",
                            "Cases that differ (1)"]
    assert [r["measure"] for r in doc.rows("measure")] == ["pass rate", flat(METRIC)]
    (row,) = doc.rows("case")
    assert row["case"] == f"{SUITE}/{flat(CASE)} [{MODEL}]"
    assert row["A output"] == cut(f"{TEXT} {NEEDLE}", 120)
    assert row["B output"] == cut(TEXT, 120)
    assert doc.marked("strong") == [p for p in doc.paragraphs if p.startswith(("B is",
                                                                                "no "))]


@pytest.mark.parametrize("value", [
    CASE, SUITE, PROMPT, MODEL, METRIC, NEEDLE, TEXT, "`", "\\", "|", " `x` ", "a\\|b",
    "1. x", "12) x", "- x", "+ x", "* x", "> q", "# h", "=", "---", "***", "___", "~~~",
    "    code", "\tcode", "<div>", "<!-- c -->", "&lt;", "&#65;", "[r]: https://e.vil",
    "[^1]", "https://e.vil", "WWW.e.vil", "a@e.vil", "$x$", "x  \ny", "x\\\ny",
    "<https://e.vil>", "![i](https://e.vil/i.png)", "_a_ *b* ~c~"])
def test_text_and_code_render_as_the_value_and_nothing_else(value):
    for cell in (md.text(value), md.code(value)):  # in a table cell
        doc = Parsed(f"| h | i |\n| --- | --- |\n| {cell} | next |\n")
        assert_inert(doc)
        assert doc.tables[0][1] == [flat(value), "next"], cell
    for line, reads in ((md.text(value), value),  # a paragraph of its own
                        ("x " + md.code(value, in_table=False), "x " + value)):
        doc = Parsed(f"para\n\n{line}\n")
        assert_inert(doc)
        assert doc.paragraphs == ["para", flat(reads)], line


def test_a_cut_never_leaves_a_dangling_escape():
    # a value cut right after a character that needs a backslash: the cell still ends
    value = "a" * 118 + "|" + "b" * 10
    doc = Parsed(f"| h | i |\n| --- | --- |\n| {md.text(value, 120)} | next |\n")
    assert doc.tables[0][1] == [value[:119] + "…", "next"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_html_and_junit_inert(page: Path, junit: Path) -> None:
    parser = _Tags()
    parser.feed(page.read_text())
    assert {"img", "i"} & set(parser.tags) == set()
    assert parser.tags.count("script") == 1  # the report's own
    text = flat("".join(parser.text))
    for value in (SUITE, PROMPT, MODEL):
        assert flat(value) in text
    tree = ET.parse(junit)  # well-formed whatever the values hold
    names = " ".join(flat(c.get("name", "") + " " + c.get("classname", ""))
                     for c in tree.iter("testcase"))
    assert flat(CASE) in names or flat(CASE) in flat(ET.tostring(tree.getroot(), "unicode"))
