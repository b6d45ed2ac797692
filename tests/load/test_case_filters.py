"""-k/--filter through the real CLI on the echo provider: ids (as before), id:TEXT,
tag:NAME, KEY=VALUE on metadata, ! to negate, commas for alternatives, a repeated -k to
narrow; the same selection in run, check, baseline update, --resume, compare on saved
runs and --changed-since (load/filters.case_matches is the one function)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from promptctl.load.filters import case_matches

FILES = {
    "prompts/p.yaml": """
        prompts:
          echo: {template: "Say {{ q }}"}
        """,
    "suites/s.yaml": """
        prompts: [p.echo]
        models: [echo]
        tags: [suite-wide]
        defaults:
          assert: [{type: contains, value: Say}]
        cases:
          - id: a=b
            vars: {q: one}
            metadata: {owner: alice, level: 2, langs: [en, fr], ok: true}
            tags: [smoke]
          - id: tag:odd
            vars: {q: two}
            metadata: {owner: bob, level: 10}
            tags: [slow, smoke-extra]
          - id: plain
            vars: {q: three}
          - from: data/rows.csv
            metadata: {owner: carol}
        """,
    "suites/data/rows.csv": """
        id,q,metadata.lang,tags
        r1,x,de,slow
        r2,y,fr,
        """,
}
ALL = ["a=b", "tag:odd", "plain", "r1", "r2"]


def selected(cli, tmp_path: Path, *filters: str, command: str = "run") -> list[str]:
    args = [a for f in filters for a in ("-k", f)]
    result = cli(command, "-q", *args, "-o", "out.json") if command == "run" else \
        cli(command, *args, "-o", "out.json")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out.json").read_text())
    return [r["case"] for r in doc["results"]]


CASES = [
    # old meaning: text is a part of the id, a glob matches it whole
    (["r"], ["r1", "r2"]),
    (["r?"], ["r1", "r2"]),
    (["pl*"], ["plain"]),
    # the explicit id form, for ids holding '=' or starting with 'tag:'
    (["id:a=b"], ["a=b"]),
    (["id:tag:odd"], ["tag:odd"]),
    (["id:*a*"], ["a=b", "tag:odd", "plain"]),
    # tags: the case's own, its data row's, and the suite's
    (["tag:smoke"], ["a=b"]),
    (["tag:smoke*"], ["a=b", "tag:odd"]),
    (["tag:slow"], ["tag:odd", "r1"]),
    (["tag:suite-wide"], ALL),
    # metadata: equal as rendered (numbers and booleans as JSON), a list's items, globs
    (["owner=alice"], ["a=b"]),
    (["owner=carol"], ["r1", "r2"]),
    (["level=2"], ["a=b"]),
    (["level=1*"], ["tag:odd"]),
    (["langs=fr"], ["a=b"]),
    (["langs=e?"], ["a=b"]),
    (["ok=true"], ["a=b"]),
    (["lang=fr"], ["r2"]),
    (["owner=*"], ["a=b", "tag:odd", "r1", "r2"]),
    # alternatives, narrowing, negation
    (["owner=alice,owner=bob"], ["a=b", "tag:odd"]),
    (["lang=de, lang=fr"], ["r1", "r2"]),
    (["tag:slow", "owner=carol"], ["r1"]),
    (["!tag:slow"], ["a=b", "plain", "r2"]),
    (["!owner=*"], ["plain"]),
    (["tag:suite-wide", "!r", "!id:tag:*"], ["a=b", "plain"]),
    # a comma inside an id is a glob's character class
    (["id:a[=]b"], ["a=b"]),
]


@pytest.mark.parametrize(("filters", "expected"), CASES,
                         ids=[" -k ".join(c[0]) for c in CASES])
def test_run_selects_the_matching_cases(make_project, cli, tmp_path, filters, expected):
    make_project(FILES)
    assert selected(cli, tmp_path, *filters) == expected


def test_check_and_baseline_update_select_the_same_cases(make_project, cli, tmp_path):
    make_project(FILES)
    result = cli("baseline", "update", "-k", "tag:slow")
    assert result.exit_code == 0, result.output
    baseline = json.loads((tmp_path / "baselines/s.json").read_text())
    assert sorted(baseline["cases"]) == ["r1", "tag:odd"]
    result = cli("check", "-k", "owner=carol", "-o", "diff.json")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "diff.json").read_text())
    (suite,) = doc["suites"]
    statuses = {c["case"]: c["status"] for c in suite["cases"]}
    assert statuses == {"r1": "unchanged", "r2": "new"}


def test_no_match_and_malformed_filters_exit_2(make_project, cli):
    make_project(FILES)
    result = cli("run", "-k", "owner=nobody")
    assert result.exit_code == 2 and "no case matches -k 'owner=nobody'" in result.stderr
    result = cli("run", "-k", "x=y")  # an id holding '=' needs id:
    assert result.exit_code == 2 and "id:TEXT" in result.stderr
    for bad in ("=x", "tag:", "id:", "!", "a,!"):
        result = cli("run", "-k", bad)
        assert result.exit_code == 2, (bad, result.output)
        assert f"bad -k '{bad}'" in result.stderr and "Traceback" not in result.output


def test_a_resumed_run_keeps_its_filters_and_refuses_others(make_project, cli, tmp_path):
    make_project(FILES)
    assert cli("run", "-q", "-k", "tag:smoke*", "-k", "!owner=bob").exit_code == 0
    latest = (tmp_path / ".promptctl/runs/latest").read_text().strip()
    meta = json.loads((tmp_path / ".promptctl/runs" / latest / "meta.json").read_text())
    assert meta["options"]["filter"] == ["tag:smoke*", "!owner=bob"]
    result = cli("run", "--resume", "-k", "tag:smoke*", "-k", "!owner=bob")
    assert result.exit_code == 0, result.output
    result = cli("run", "--resume", "-k", "tag:smoke*")
    assert result.exit_code == 2 and "--filter conflicts with run" in result.stderr
    assert "-k 'tag:smoke*' -k '!owner=bob'" in result.stderr
    # one -k is recorded as text, as before
    assert cli("run", "-q", "-k", "plain").exit_code == 0
    latest = (tmp_path / ".promptctl/runs/latest").read_text().strip()
    meta = json.loads((tmp_path / ".promptctl/runs" / latest / "meta.json").read_text())
    assert meta["options"]["filter"] == "plain"


def test_compare_of_saved_runs_filters_on_recorded_metadata(make_project, cli, tmp_path):
    make_project(FILES)
    ids = []
    for _ in range(2):
        assert cli("run", "-q").exit_code == 0
        ids.append((tmp_path / ".promptctl/runs/latest").read_text().strip())
    result = cli("compare", *ids, "-k", "lang=*", "-o", "cmp.json")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "cmp.json").read_text())
    assert "r1" in json.dumps(doc) and "a=b" not in json.dumps(doc)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "commit.gpgsign=false", *args], cwd=root, check=True,
                   capture_output=True)


def test_changed_since_counts_only_the_filtered_cases(make_project, cli):
    root = make_project(FILES)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    text = (root / "prompts/p.yaml").read_text()
    (root / "prompts/p.yaml").write_text(text.replace("Say", "Now say"))
    result = cli("run", "--changed-since", "HEAD", "-k", "tag:slow", "-o", "out.json")
    assert "2 of 2 cases changed since HEAD" in result.output
    doc = json.loads((root / "out.json").read_text())
    assert sorted(r["case"] for r in doc["results"]) == ["r1", "tag:odd"]


def test_case_matches_reads_a_plain_string_as_one_pattern():
    """Library callers (and older meta.json files) pass one pattern as text."""
    assert case_matches("double-charge", "double")
    assert case_matches("x", None) and case_matches("x", "") and case_matches("x", ())
    assert not case_matches("x", "owner=a", {"owner": "b"})
    assert case_matches("x", "owner=a,tag:t", {"owner": "b"}, ("t",))
    assert case_matches("x", ["owner=*", "!tag:slow"], {"owner": None}, ("fast",))
    assert case_matches("x", "n=null", {"n": None})
    assert case_matches("x", "n=2.5", {"n": 2.5})
    assert case_matches("x", 'd={"a":1}', {"d": {"a": 1}})  # canonical JSON
    assert not case_matches("x", 'd={"a": 1}', {"d": {"a": 1}})
