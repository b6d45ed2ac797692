"""yamlsrc's one-pass reader (`_direct`) against the node tree it replaces: the same data,
the same line of every value and key, the same error at the same line, or a hand-back
to the composer for what it leaves to it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from promptctl.errors import UserError
from promptctl.load import yamlsrc

REPO = Path(__file__).resolve().parents[2]

DOCUMENTS = [
    "a: 1\n",
    "- x\n- y\n",
    "plain text at the root\n",
    "''\n",
    "a:\nb: ~\nc: null\nd: ''\ne: \"\"\n",
    # every implicit type the safe loader resolves, and text that looks like one
    "i: 12\nh: 0x1f\no: 0o17\nf: 1.5\ne: 1e3\ninf: .inf\nninf: -.inf\nnan: .nan\n"
    "t: true\nF: False\ny: yes\nn: no\non: on\nd: 2024-01-02\n"
    "ts: 2024-01-02 10:11:12\nq: '12'\nqq: \"true\"\nv: 1_000\ns: 12abc\n",
    "n: {a: [1, 2, {b: [c, {d: e}]}], 'quoted key': \"v\", 3: int key, 1.5: f, true: b}\n",
    "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\nkeep: |+\n  x\n\nend: 1\n",
    "multi: a\n  b\n  c\nnext: \"x\n  y\"\n",
    "# a comment\n---\na: 1 # trailing\n...\n",
    "a: [x, y,\n    z]\nb: {k: v,\n    m: n}\n",
    "cases:\n  - id: one\n    vars: {q: hello}\n    assert:\n      - {type: contains, value: h}\n"
    "  - id: two\n    vars:\n      q: [a, b]\n",
    "émoji: 'ü 😀'\n\"\\u00e9\": \"\\t tab\"\n",
    "a: 1\nb: 2\na: 3\n",  # duplicate key: the second is named
    "x:\n  a: 1\n  a: 2\ny:\n  - {k: 1, k: 2}\n",
    "a: 1\na: 2\nb: [\n",  # a duplicate, then a syntax error: the syntax error comes first
    "a: 1\n01: x\n1: y\n",  # text differs, keys equal: no duplicate, the last one wins
    "a: [1, 2\n",
    "a: b: c\n",
    "- a\nb: c\n",
    "key: 'unterminated\n",
    "a: 1\n---\nb: 2\n",  # two documents
    "",
    "# only a comment\n",
    "a: &x 1\nb: *x\n",  # anchors and aliases: the composer's
    "a: !!str 12\nb: !custom x\n",  # tags
    "base: {k: 1}\nc:\n  <<: {j: 2}\n  k: 3\n",  # a merge key
    "'<<': quoted\n",
    "? [a, b]\n: c\n",  # a key that is a collection
    "? complex\n: value\n",
    "d: 2024-13-45\n",  # looks like a date, is not one
    "a: [" * 150 + "]" * 150 + "\n",  # past the depth bound
    "[\n" * 150 + "]" * 150 + "\n",  # one level a line: the line of the 101st
    "[\n" * 99 + "x" + "]" * 99 + "\n",  # at the bound
    "a:\n" + "".join("  " * i + f"- k{i}:\n" for i in range(1, 120)) + "  " * 120 + "- x\n",
]


def repo_documents() -> list[Path]:
    return sorted(p for p in REPO.rglob("*.y*ml") if ".git" not in p.parts
                  and p.suffix in (".yaml", ".yml"))


def same(a, b) -> bool:
    """Equal with types (1 is not True), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def read(text: str, *, direct: bool, monkeypatch):
    """parse_yaml through one path only: `_direct` (for any text, not only deep ones)
    or the node tree (the bounded composer, which `_direct` stands in for)."""
    with monkeypatch.context() as m:
        m.setattr(yamlsrc, "_C_COMPOSER_SAFE", 0)  # every text takes the long path
        if not direct:
            def refuse(text, src):
                raise yamlsrc._Fallback
            m.setattr(yamlsrc, "_direct", refuse)
        try:
            data, src = yamlsrc.parse_yaml(text, "f.yaml")
        except UserError as exc:
            return ("error", exc.message, exc.file, exc.line, exc.hint)
        except ValueError as exc:  # a date that is not one: PyYAML's constructor's own
            return ("error", type(exc), str(exc))
        return data, src.lines, src.key_lines


@pytest.mark.parametrize("text", DOCUMENTS + [p.read_text() for p in repo_documents()],
                         ids=lambda t: t[:30])
def test_one_pass_reads_as_the_node_tree_reads(text, monkeypatch):
    ours = read(text, direct=True, monkeypatch=monkeypatch)
    theirs = read(text, direct=False, monkeypatch=monkeypatch)
    assert ours[0] == "error" or theirs[0] != "error", ours
    if theirs[0] == "error":
        assert ours == theirs
        return
    assert same(ours[0], theirs[0])
    assert ours[1] == theirs[1]
    assert ours[2] == theirs[2]


def test_the_one_pass_reader_is_what_reads_a_big_suite(monkeypatch):
    """A suite past the C composer's bound is read by `_direct` (no hand-back), and
    as the node tree reads it."""
    cases = "".join(f"  - id: case-{i}\n    vars: {{ticket: order {i}, n: {i}}}\n"
                    for i in range(400))
    text = "prompts: [s.q]\ncases:\n" + cases
    assert yamlsrc._nesting_bound(text) >= yamlsrc._C_COMPOSER_SAFE
    handed_back = []
    real = yamlsrc._composed
    monkeypatch.setattr(yamlsrc, "_composed", lambda *a: handed_back.append(1) or real(*a))
    data, src = yamlsrc.parse_yaml(text, "s.yaml")
    assert not handed_back
    assert data["cases"][399] == {"id": "case-399", "vars": {"ticket": "order 399", "n": 399}}
    assert src.line(("cases", 399, "id"), key=True) == 3 + 2 * 399
    assert src.line(("cases", 399, "vars", "n")) == 3 + 2 * 399 + 1
    monkeypatch.undo()
    assert read(text, direct=True, monkeypatch=monkeypatch) == \
        read(text, direct=False, monkeypatch=monkeypatch)


@pytest.mark.parametrize("value", ["2024-13-45", "2024-02-30"])
def test_a_value_that_looks_like_a_date_but_is_not_one_is_exit_2_at_its_line(make_project,
                                                                              cli, value):
    make_project({"prompts/p.yaml": "prompts:\n  x: {template: '{{ q }}'}\n",
                  "suites/s.yaml": f"prompts: [p.x]\ncases:\n  - id: a\n    vars:\n"
                                   f"      q: {value}\n"})
    result = cli("run", "-m", "echo")
    assert result.exit_code == 2, result.output
    assert "suites/s.yaml:5:" in result.stderr and "quote the value" in result.stderr
