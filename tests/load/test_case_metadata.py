"""Case `metadata` and `tags` as a suite writes them: merged over defaults and `from:`
entries, carried by data-file rows (JSONL objects, CSV `metadata.KEY` columns), checked
at file:line when malformed, known to lint. Read back from the real CLI's -o JSON."""

from __future__ import annotations

import json

import pytest

from promptctl.load.project import load_project
from promptctl.load.suites import NO_METADATA, load_suite

PROMPT = {"prompts/p.yaml": """
    prompts:
      echo: {template: "Say {{ q }}"}
    """}

SUITE = """
    prompts: [p.echo]
    models: [echo]
    tags: [nightly]
    defaults:
      metadata: {team: core, level: 1}
      tags: [all]
      assert: [{type: contains, value: Say}]
    cases:
      - id: own
        vars: {q: one}
        metadata: {owner: alice, level: 2, langs: [en, fr], extra: {deep: [1, null]}}
        tags: [smoke, all]
      - id: bare
        vars: {q: two}
      - from: data/rows.csv
        metadata: {src: csv, team: data}
        tags: csv
      - from: data/rows.jsonl
    """

ROWS_CSV = """\
id,q,metadata.lang,metadata.src,tags
c1,hi,fr,,"t1, t2"
c2,yo,,hand,
"""

ROWS_JSONL = (
    '{"id": "j1", "q": "x", "metadata": {"lang": "de", "n": 3}, "metadata.lang": "nl",'
    ' "tags": ["jt"]}\n'
    '{"id": "j2", "q": "y", "tags": "a, b"}\n'
    '{"id": "j3", "vars": {"q": "z"}, "metadata": {"full": true}, "tags": ["row"]}\n'
)


def project(make_project, suite: str = SUITE, csv: str = ROWS_CSV, jsonl: str = ROWS_JSONL):
    return make_project({**PROMPT, "suites/s.yaml": suite, "suites/data/rows.csv": csv,
                         "suites/data/rows.jsonl": jsonl})


def results(cli, tmp_path, *args: str) -> dict[str, dict]:
    result = cli("run", "-q", "-o", "out.json", *args)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out.json").read_text())
    return {r["case"]: r for r in doc["results"]}


def test_metadata_merges_key_by_key_and_tags_union_in_order(make_project, cli, tmp_path):
    project(make_project)
    got = results(cli, tmp_path)
    assert got["own"]["metadata"] == {"team": "core", "level": 2, "owner": "alice",
                                      "langs": ["en", "fr"], "extra": {"deep": [1, None]}}
    assert got["own"]["tags"] == ["nightly", "all", "smoke"]
    assert got["bare"]["metadata"] == {"team": "core", "level": 1}
    assert got["bare"]["tags"] == ["nightly", "all"]
    # a from: entry's metadata and tags apply to each of its rows, under the row's own
    assert got["c1"]["metadata"] == {"team": "data", "level": 1, "src": "csv", "lang": "fr"}
    assert got["c1"]["tags"] == ["nightly", "all", "csv", "t1", "t2"]
    # an empty metadata.KEY cell is no value: the entry's stays
    assert got["c2"]["metadata"] == {"team": "data", "level": 1, "src": "hand"}
    assert got["c2"]["tags"] == ["nightly", "all", "csv"]
    # JSONL: a metadata object, metadata.KEY keys (they win), tags as a list or text
    assert got["j1"]["metadata"] == {"team": "core", "level": 1, "lang": "nl", "n": 3}
    assert got["j1"]["tags"] == ["nightly", "all", "jt"]
    assert got["j2"]["tags"] == ["nightly", "all", "a", "b"]
    # a full row (with vars) takes metadata and tags as a case does
    assert got["j3"]["metadata"] == {"team": "core", "level": 1, "full": True}
    assert got["j3"]["tags"] == ["nightly", "all", "row"]


def test_metadata_columns_are_not_variables(make_project, cli, tmp_path):
    """A row's metadata and tags are not vars: the rendered prompt is the same, and
    lint finds no unused variable in them."""
    project(make_project)
    got = results(cli, tmp_path)
    assert got["c1"]["output"] == "Say hi" and got["j1"]["output"] == "Say x"
    assert got["c1"]["messages"] == [{"role": "user", "content": "Say hi"}]
    result = cli("lint")
    assert result.exit_code == 0, result.output
    assert "not used" not in result.output


def test_cases_without_metadata_share_one_empty_mapping(make_project):
    """The 100,000-case load stays as light as before: no mapping or tuple per case."""
    root = make_project({**PROMPT, "suites/s.yaml": """
        prompts: [p.echo]
        cases: [{from: data/rows.csv}]
        """, "suites/data/rows.csv": "id,q\n" + "".join(f"c{i},x\n" for i in range(50))})
    suite = load_suite(load_project(root), root / "suites/s.yaml")
    assert all(c.metadata is NO_METADATA and c.tags == () for c in suite.cases)
    # cases with the same metadata and tags (from defaults) share them too
    (root / "suites/s.yaml").write_text("""\
prompts: [p.echo]
tags: [nightly]
defaults: {metadata: {team: core}}
cases:
  - {id: a, vars: {q: x}}
  - {id: b, vars: {q: y}}
  - {id: c, vars: {q: z}, metadata: {team: other}, tags: [own]}
""")
    a, b, c = load_suite(load_project(root), root / "suites/s.yaml").cases
    assert a.metadata is b.metadata and a.tags is b.tags
    assert (a.metadata, a.tags) == ({"team": "core"}, ("nightly",))
    assert (c.metadata, c.tags) == ({"team": "other"}, ("nightly", "own"))


def test_records_jsonl_carries_metadata_only_when_set(make_project, cli, tmp_path):
    project(make_project)
    assert cli("run", "-q").exit_code == 0
    (run,) = (tmp_path / ".promptctl/runs").glob("2*")
    records = {r["case"]: r for r in map(json.loads, (run / "records.jsonl").open())}
    assert records["own"]["metadata"]["owner"] == "alice"
    assert records["own"]["tags"] == ["nightly", "all", "smoke"]
    make_project({**PROMPT, "suites/s.yaml": """
        prompts: [p.echo]
        models: [echo]
        cases: [{id: plain, vars: {q: a}, assert: [{type: contains, value: a}]}]
        """})
    assert cli("run", "-q", "s").exit_code == 0
    latest = (tmp_path / ".promptctl/runs/latest").read_text().strip()
    (line,) = (tmp_path / ".promptctl/runs" / latest / "records.jsonl").read_text().splitlines()
    assert "metadata" not in json.loads(line) and "tags" not in json.loads(line)
    # a saved run reads back with its metadata: `diff RUN` / baseline update --run
    result = cli("baseline", "update", "--run", "latest")
    assert result.exit_code == 0, result.output


BAD = [
    # (what, suite text or (file, text), where, words in the message)
    ("a list", "    metadata: [a, b]\n", "suites/s.yaml:6", "metadata"),
    ("a key with '='", "    metadata: {'a=b': 1}\n", "suites/s.yaml:6", "'a=b'"),
    ("a key with a space", "    metadata:\n      ok: 1\n      'a b': 2\n", "suites/s.yaml:8",
     "'a b'"),
    ("a tag with a comma", "    tags: ['a, b']\n", "suites/s.yaml:6", "comma"),
    ("an empty tag", "    tags: [ok, '']\n", "suites/s.yaml:6", "tag"),
    ("tags as a mapping", "    tags: {a: 1}\n", "suites/s.yaml:6", "tags"),
    ("a misspelt key", "    metdata: {a: 1}\n", "suites/s.yaml:6", "metadata"),
]


@pytest.mark.parametrize(("what", "extra", "where", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_metadata_is_exit_2_at_its_line(make_project, cli, what, extra, where, words):
    make_project({**PROMPT, "suites/s.yaml": (
        "prompts: [p.echo]\nmodels: [echo]\ncases:\n  - id: a\n    vars: {q: x}\n" + extra)})
    for command in (("run", "-q"), ("lint",)):
        result = cli(*command)
        assert result.exit_code == 2, (command, result.output)
        assert where in result.output, (command, result.output)
        assert words in result.output, (command, result.output)
        assert "Traceback" not in result.output


BAD_ROWS = [
    ("jsonl metadata not a mapping", "rows.jsonl", '{"id": "r", "q": 1}\n'
     '{"id": "s", "q": 2, "metadata": "x"}\n', "suites/data/rows.jsonl:2", "metadata"),
    ("jsonl bad key", "rows.jsonl", '{"id": "r", "q": 1, "metadata": {"a,b": 1}}\n',
     "suites/data/rows.jsonl:1", "'a,b'"),
    ("jsonl tags of numbers", "rows.jsonl", '{"id": "r", "q": 1, "tags": [1]}\n',
     "suites/data/rows.jsonl:1", "tags"),
    ("csv bad key", "rows.csv", "id,q,metadata.a=b\nr,1,x\n", "suites/data/rows.csv:2",
     "'a=b'"),
]


@pytest.mark.parametrize(("what", "name", "text", "where", "words"), BAD_ROWS,
                         ids=[b[0] for b in BAD_ROWS])
def test_bad_row_metadata_is_exit_2_at_the_row(make_project, cli, what, name, text, where,
                                                words):
    make_project({**PROMPT, "suites/s.yaml": f"""
        prompts: [p.echo]
        models: [echo]
        cases: [{{from: data/{name}}}]
        """, f"suites/data/{name}": text})
    result = cli("run", "-q")
    assert result.exit_code == 2, result.output
    assert where in result.output and words in result.output, result.output


def test_lint_accepts_metadata_and_tags_everywhere(make_project, cli):
    project(make_project)
    result = cli("lint")
    assert result.exit_code == 0, result.output
