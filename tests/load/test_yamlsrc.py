"""yamlsrc's one-pass reader (`_direct`) against the node tree it replaces: the same data,
the same line of every value and key, the same error at the same line, or a hand-back
to the composer for what it leaves to it."""

from __future__ import annotations

import json
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
    "d: 2024-13-45\n",  # looks like a date, is not one: text, as every date is
    "a: !!int abc\nb: !!timestamp 2026-12-02\n",  # a tag's value not of its type
    "a: 1\nbig: " + "9" * 5000 + "\n",  # an int Python will not read
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


# ------------------------------------------------------------- the YAML 1.2 core schema

# (plain scalar as written, what promptctl reads): the 1.2 core schema, and in the
# comments what PyYAML's YAML 1.1 resolver made of it
CORE = [
    ("true", True), ("True", True), ("TRUE", True),
    ("false", False), ("False", False), ("FALSE", False),
    ("yes", "yes"), ("Yes", "Yes"), ("YES", "YES"), ("no", "no"), ("No", "No"),  # bools
    ("on", "on"), ("On", "On"), ("off", "off"), ("Off", "Off"), ("y", "y"), ("n", "n"),
    ("null", None), ("Null", None), ("NULL", None), ("~", None), ("", None),
    ("nUll", "nUll"), ("tRue", "tRue"),
    ("14:02", "14:02"), ("1:30:00", "1:30:00"), ("-1:20", "-1:20"),  # 842, 5400, -80
    ("12", 12), ("-3", -3), ("+7", 7), ("0", 0),
    ("017", 17), ("00", 0), ("0o17", 15), ("0x1F", 31), ("0x1f", 31),  # 017 was 15
    ("0b101", "0b101"), ("1_000", "1_000"), ("+0x1F", "+0x1F"), ("0o8", "0o8"),
    ("1.5", 1.5), ("-2.", -2.0), (".5", 0.5), ("1e3", 1000.0), ("+1.5E-2", 0.015),  # 1e3: str
    ("1_000.5", "1_000.5"), ("1.2.3", "1.2.3"),
    (".inf", math.inf), (".Inf", math.inf), ("+.INF", math.inf), ("-.inf", -math.inf),
    (".nan", math.nan), (".NaN", math.nan), (".NAN", math.nan), (".nAn", ".nAn"),
    ("2026-12-02", "2026-12-02"), ("2024-13-45", "2024-13-45"),  # dates
    ("2026-12-02 10:11:12", "2026-12-02 10:11:12"), ("2026-12-02T10:11:12Z",
                                                     "2026-12-02T10:11:12Z"),
    ("=", "="),  # PyYAML's value tag, which its safe loader could not even construct
    ("12abc", "12abc"), ("-.", "-."), (".", "."), ("<<x", "<<x"),
]


def _every_reader(text: str, monkeypatch) -> list:
    """parse_yaml's data through each of its three readers: the C composer, `_direct`
    and the bounded Python composer."""
    out = [yamlsrc.parse_yaml(text, "f.yaml")[0]]
    for direct in (True, False):
        data = read(text, direct=direct, monkeypatch=monkeypatch)
        assert data[0] != "error", data
        out.append(data[0])
    return out


@pytest.mark.parametrize(("written", "value"), CORE, ids=[w or "empty" for w, _ in CORE])
def test_plain_scalars_resolve_by_the_yaml_1_2_core_schema(written, value, monkeypatch):
    text = f"v: {written}\nlist:\n  - {written}\n{written or 'k'}: key\n"
    if written:
        text += f"flow: [{written}, x]\n"
    for data in _every_reader(text, monkeypatch):
        assert same(data["v"], value), (written, data["v"])
        assert same(data["list"], [value]), (written, data["list"])
        if written:  # as a mapping key too: a prompt named `yes:` is named "yes"
            key = next(k for k in data if k not in ("v", "list"))
            assert same(key, value) and data[key] == "key", (written, key)


def test_quoted_and_block_scalars_stay_text(monkeypatch):
    text = "a: 'true'\nb: \"12\"\nc: |\n  yes\nd: >-\n  14:02\n"
    for data in _every_reader(text, monkeypatch):
        assert data == {"a": "true", "b": "12", "c": "yes\n", "d": "14:02"}


@pytest.mark.parametrize(("written", "value"), [
    ("!!str 12", "12"), ("!!str yes", "yes"), ("!!int 017", 17), ("!!int 0x1F", 31),
    ("!!float 1", 1.0), ("!!float .inf", math.inf), ("!!bool TRUE", True),
    ("!!null ~", None), ("!!null ''", None), ("!!seq [1]", [1]), ("!!map {a: 1}", {"a": 1}),
])
def test_the_core_schema_s_explicit_tags(written, value, monkeypatch):
    for data in _every_reader(f"v: {written}\n", monkeypatch):
        assert same(data["v"], value), (written, data)


@pytest.mark.parametrize(("written", "problem"), [
    ("!!int abc", "'abc' is not a YAML 1.2 integer"),
    ("!!int 1_000", "'1_000' is not a YAML 1.2 integer"),
    ("!!bool yes", "'yes' is not a YAML 1.2 boolean"),
    ("!!float 14:02", "'14:02' is not a YAML 1.2 number"),
    ("!!null none", "'none' is not null"),
    ("!!timestamp 2026-12-02", "could not determine a constructor for the tag "
                               "'tag:yaml.org,2002:timestamp'"),
    ("!!binary aGk=", "could not determine a constructor"),
    ("!!set {a}", "could not determine a constructor"),
    ("9" * 5000, "is not an integer Python reads (too many digits)"),
])
def test_a_value_not_of_its_tag_is_a_user_error_at_its_line(written, problem, monkeypatch):
    text = "a: 1\nb:\n  c: " + written + "\n"
    for direct in (None, True, False):
        if direct is None:
            with pytest.raises(UserError) as info:
                yamlsrc.parse_yaml(text, "f.yaml")
            got = ("error", info.value.message, info.value.file, info.value.line,
                   info.value.hint)
        else:
            got = read(text, direct=direct, monkeypatch=monkeypatch)
        assert got[0] == "error" and problem in got[1] and got[1].startswith(
            "YAML value error: "), got
        assert got[2:4] == ("f.yaml", 3) and "YAML 1.2 core" in got[4], got


def test_merge_keys_still_merge(monkeypatch):
    text = "base: &b {model: echo, n: 1}\nc:\n  <<: *b\n  n: 2\n"
    for data in _every_reader(text, monkeypatch):
        assert data["c"] == {"model": "echo", "n": 2}


YAML11_PROJECT = {
    "prompts/yes.yaml": (
        "prompts:\n"
        "  yes: {template: 'on={{ on }} time={{ time }} day={{ day }} lead={{ lead }} "
        "flag={{ flag }} n={{ n }} y={{ y }}'}\n"
        "  no: {template: 'no: on={{ on }} time={{ time }} day={{ day }}'}\n"),
    "suites/s.yaml": (
        "prompts: [yes.yes, yes.no]\n"
        "cases:\n"
        "  - id: c\n"
        "    vars:\n"
        "      on: Yes\n"
        "      time: 14:02\n"
        "      day: 2026-12-02\n"
        "      lead: 017\n"
        "      flag: True\n"
        "      n: 0x1F\n"
        "      y: n\n"
        "    assert:\n"
        "      - {type: contains, value: on=Yes time=14:02 day=2026-12-02}\n"
        "      - {type: python, value: 'checks:types'}\n"),
    "checks.py": (
        "def types(output, ctx):\n"
        "    v = ctx.vars\n"
        "    if v['lead'] == 17 and v['flag'] is True and v['n'] == 31 and v['y'] == 'n'"
        " and v['on'] == 'Yes' and v['time'] == '14:02':\n"
        "        return True\n"
        "    return {'pass': False, 'reason': repr(v)}\n"),
}


def test_yaml_1_1_lookalikes_reach_prompts_as_written(make_project, cli):
    """A prompt named `yes`, a var `on: Yes`, `time: 14:02`, a date and a leading-zero
    int, through the real CLI: prompt ids, rendered text and the vars a check sees."""
    make_project(YAML11_PROJECT)
    result = cli("render", "yes.yes", "--case", "s:c", "--json")
    assert result.exit_code == 0, result.output
    (message,) = json.loads(result.stdout)
    assert message["content"] == ("on=Yes time=14:02 day=2026-12-02 lead=17 flag=True "
                                  "n=31 y=n")
    result = cli("run", "-m", "echo", "--no-cache")
    assert result.exit_code == 0, result.output + result.stderr
    assert "yes.yes" in result.stdout and "yes.no" in result.stdout


def test_a_project_reads_yaml_1_2_everywhere(make_project, cli):
    """promptctl.yaml is read by the same schema: a model alias `on` is text."""
    make_project({**YAML11_PROJECT,
                  "promptctl.yaml": "models:\n  on: {provider: echo}\njudge: on\n"})
    result = cli("run", "--no-cache", "-m", "on")
    assert result.exit_code == 0, result.output + result.stderr


def test_a_tag_the_core_schema_lacks_is_exit_2_at_its_line(make_project, cli):
    make_project({**YAML11_PROJECT, "suites/s.yaml": YAML11_PROJECT["suites/s.yaml"].replace(
        "day: 2026-12-02", "day: !!timestamp 2026-12-02")})
    result = cli("run", "-m", "echo", "--no-cache")
    assert result.exit_code == 2, result.output
    assert "suites/s.yaml:7:" in result.stderr and "timestamp" in result.stderr
    assert "quote the value" in result.stderr
