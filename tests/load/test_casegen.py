"""Cases generated from what a suite writes once (load/expand.py, load/suites.py):
assertion sets (`assert_sets:`, `{use: NAME}`), `matrix:` on a case or in defaults,
and `from:` entries with an `id` prefix, so that one data file feeds several entries.
Through the real CLI on the echo provider (its output is the rendered prompt), and
load_suite for what the CLI does not print. Broken inputs (exit 2 at file:line) are
in test_broken_inputs.py's corpus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import write_files

from promptctl.errors import UserError
from promptctl.load import expand
from promptctl.load.project import load_project
from promptctl.load.suites import case_matches, load_suite

PROMPTS = """
prompts:
  greet:
    template: "Hello {{ name }} in {{ lang }}, {{ tone }}."
"""


def _project(root: Path, suite: str, config: str | None = None, **more: str) -> Path:
    files = {"prompts/p.yaml": PROMPTS, "suites/s.yaml": suite, **more}
    if config is not None:
        files["promptctl.yaml"] = config
    write_files(root, files)
    return root


def _suite(root: Path):
    return load_suite(load_project(root), root / "suites" / "s.yaml")


def _results(cli, root: Path, *flags: str) -> list[dict]:
    out = root / "out.json"
    result = cli("run", "-q", "-m", "echo", "--no-cache", "-o", str(out), *flags)
    assert result.exit_code in (0, 1), result.output
    return json.loads(out.read_text())["results"]


# -- assertion sets -------------------------------------------------------------------

SETS_CONFIG = """
assert_sets:
  short:
    - {type: length, max_words: 40}
  polite:
    - use: short
    - {type: not-icontains, value: stupid, metric: politeness}
"""


def test_a_set_expands_in_place_in_defaults_and_cases(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {name: Ann, lang: en, tone: warm}
          assert:
            - {type: contains, value: Hello}
            - use: polite
        cases:
          - id: a
            assert:
              - {type: icontains, value: ann}
              - use: [short, short]
          - id: b
        """, SETS_CONFIG))
    results = {r["case"]: r for r in _results(cli, tmp_path)}
    types = {case: [a["type"] for a in r["assertions"]] for case, r in results.items()}
    assert types == {
        "a": ["contains", "length", "not-icontains", "icontains", "length", "length"],
        "b": ["contains", "length", "not-icontains"]}
    assert all(r["passed"] for r in results.values())
    suite = _suite(tmp_path)
    assert [a.metric for a in suite.cases[1].asserts] == [None, None, "politeness"]


def test_a_failing_set_assertion_fails_the_case(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        cases:
          - id: rude
            vars: {name: stupid, lang: en, tone: dry}
            assert: [{use: polite}]
        """, SETS_CONFIG))
    result = cli("run", "-q", "-m", "echo", "--no-cache")
    assert result.exit_code == 1, result.output


def test_a_suite_set_shadows_the_projects_and_sets_use_sets(tmp_path):
    _project(tmp_path, """
        prompts: [p.greet]
        assert_sets:
          short:                      # shadows promptctl.yaml's for this suite's cases
            - {type: length, max_words: 3}
          mine:
            - use: polite             # promptctl.yaml's: it uses promptctl.yaml's short
            - use: short              # this suite's
        cases:
          - id: a
            vars: {name: Ann, lang: en, tone: warm}
            assert: [{use: mine}]
        """, SETS_CONFIG)
    (case,) = _suite(tmp_path).cases
    assert [(a.type, a.options) for a in case.asserts] == [
        ("length", {"max_words": 40}), ("not-icontains", {}), ("length", {"max_words": 3})]
    # each assertion's line is where it is written: the suite's own, or None for those
    # of promptctl.yaml (assert_lines are lines of the suite file)
    assert case.assert_lines == [None, None, 4]


def test_set_values_are_rendered_with_each_cases_vars(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        assert_sets:
          says-name:
            - {type: contains, value: "{{ name }}"}
        defaults:
          vars: {lang: en, tone: warm}
        cases:
          - {id: a, vars: {name: Ann}, assert: [{use: says-name}]}
          - {id: b, vars: {name: Bob}, assert: [{use: says-name}]}
        """))
    results = _results(cli, tmp_path)
    assert [(r["case"], r["passed"]) for r in results] == [("a", True), ("b", True)]
    suite = _suite(tmp_path)
    assert [c.asserts[0].value for c in suite.cases] == ["Ann", "Bob"]


def test_a_data_rows_own_assertions_may_use_sets(cli, tmp_path, monkeypatch):
    row = {"id": "r1", "vars": {"name": "Ann", "lang": "en", "tone": "dry"},
           "assert": [{"use": "polite"}]}
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        cases:
          - from: data/rows.jsonl
        """, SETS_CONFIG, **{"suites/data/rows.jsonl": json.dumps(row) + "\n"}))
    (result,) = _results(cli, tmp_path)
    assert [a["type"] for a in result["assertions"]] == ["length", "not-icontains"]
    row["assert"] = [{"use": "nope"}]
    (tmp_path / "suites/data/rows.jsonl").write_text(json.dumps(row) + "\n")
    result = cli("run", "-q", "-m", "echo")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: suites/data/rows.jsonl:1: unknown assertion "
                                    "set 'nope'"), result.stderr


def test_lint_warns_about_sets_no_case_uses(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        assert_sets:
          spare:
            - {type: contains, value: x}
          used:
            - use: short
        cases:
          - id: a
            vars: {name: Ann, lang: en, tone: warm}
            assert: [{use: used}]
        """, SETS_CONFIG))
    result = cli("lint")
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if "warning:" in ln]
    assert lines == [
        "promptctl.yaml:4: warning: assertion set 'polite' is not used by any suite (use "
        "it with '- use: NAME' in an assert list, or remove it)",
        "suites/s.yaml:3: warning: assertion set 'spare' is not used by any case of the "
        "suite (use it with '- use: NAME', or remove it)"], result.stderr


def test_a_set_is_expanded_once_per_suite(tmp_path):
    """A set's assertions are the same spec objects in every case that uses it, so a
    static assertion is checked once (suites._Resolved), not once per case."""
    _project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {name: Ann, lang: en, tone: warm}
        cases:
          - {id: a, assert: [{use: polite}]}
          - {id: b, assert: [{use: polite}]}
        """, SETS_CONFIG)
    a, b = _suite(tmp_path).cases
    assert all(x is y for x, y in zip(a.asserts, b.asserts, strict=True))


# -- matrix -----------------------------------------------------------------------------

def test_matrix_cases_ids_and_order(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {name: Ann}
          matrix: {tone: [warm, dry]}
          assert: [{type: contains, value: "{{ lang }}, {{ tone }}"}]
        cases:
          - id: greet
            matrix: {lang: [en, fr]}
          - id: plain
            vars: {lang: de}
        """))
    results = _results(cli, tmp_path)
    assert [(r["case"], r["output"]) for r in results] == [
        ("greet[warm-en]", "Hello Ann in en, warm."),
        ("greet[warm-fr]", "Hello Ann in fr, warm."),
        ("greet[dry-en]", "Hello Ann in en, dry."),
        ("greet[dry-fr]", "Hello Ann in fr, dry."),
        ("plain[warm]", "Hello Ann in de, warm."),
        ("plain[dry]", "Hello Ann in de, dry.")]
    assert all(r["passed"] for r in results)


def test_a_cases_matrix_key_wins_over_the_defaults(tmp_path):
    _project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {name: Ann, lang: xx}          # a default: any matrix sets it
          matrix: {tone: [warm, dry], lang: [en, fr]}
        cases:
          - id: pinned
            matrix: {lang: [de]}
        """)
    cases = _suite(tmp_path).cases
    assert [(c.id, c.vars["lang"], c.vars["tone"]) for c in cases] == [
        ("pinned[warm-de]", "de", "warm"), ("pinned[dry-de]", "de", "dry")]


@pytest.mark.parametrize(("values", "labels"), [
    (["en", "fr"], ["en", "fr"]),
    ([1, 2.5, True, None], ["1", "2.5", "true", "null"]),
    (["en-US", "fr"], ["0", "fr"]),            # '-' is the separator: never in a label
    (["a b", "x/y", "a:b", "", "é"], ["0", "1", "2", "3", "é"]),
    (["x" * 32, "x" * 33], ["x" * 32, "1"]),   # short texts only
    ([{"k": 1}, [1, 2]], ["0", "1"]),          # no text for a mapping or a list
    ([1, "1"], ["0", "1"]),                    # the same text twice: indices for all
    (["0", {"k": 1}], ["0", "1"]),             # a text that is another value's index
    (["1", {"k": 1}], ["0", "1"]),
])
def test_matrix_labels(values, labels):
    assert expand._labels(values) == labels


def test_matrix_ids_are_unique_whatever_the_values(tmp_path):
    _project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {name: Ann}
        cases:
          - id: c
            matrix:
              lang: [a, a-b, 1, "1"]
              tone: [b-c, c, {x: 1}, [1]]
        """)
    cases = _suite(tmp_path).cases
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)) == 16
    assert ids[:4] == ["c[0-0]", "c[0-c]", "c[0-2]", "c[0-3]"]
    assert cases[2].vars["tone"] == {"x": 1}
    assert cases[2].vars["tone"] is not cases[6].vars["tone"]  # each case its own copy
    assert {c.origin for c in cases} == {"c"}


def test_matrix_on_a_from_entry_multiplies_every_row(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {tone: warm}
        cases:
          - from: data/people.csv
            matrix: {lang: [en, fr]}
        """, **{"suites/data/people.csv": "id,name\nann,Ann\nbob,Bob\n"}))
    results = _results(cli, tmp_path)
    assert [(r["case"], r["output"]) for r in results] == [
        ("ann[en]", "Hello Ann in en, warm."), ("ann[fr]", "Hello Ann in fr, warm."),
        ("bob[en]", "Hello Bob in en, warm."), ("bob[fr]", "Hello Bob in fr, warm.")]


def test_the_matrix_cap_is_per_case(tmp_path, monkeypatch):
    monkeypatch.setattr(expand, "MAX_COMBINATIONS", 4)
    monkeypatch.chdir(tmp_path)
    _project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {name: Ann}
          matrix: {lang: [en, fr]}
        cases:
          - {id: a, matrix: {tone: [x, y]}}
          - {id: b, matrix: {tone: [x, y]}}
        """)
    assert len(_suite(tmp_path).cases) == 8
    text = (tmp_path / "suites/s.yaml").read_text().replace("tone: [x, y]}}\n  - {id: b",
                                                           "tone: [x, y, z]}}\n  - {id: b")
    (tmp_path / "suites/s.yaml").write_text(text)
    with pytest.raises(UserError) as err:
        _suite(tmp_path)
    assert (err.value.file, err.value.line) == ("suites/s.yaml", 6)
    assert "matrix makes 6 combinations, more than 4 per case" in err.value.message


def test_a_matrix_case_is_selected_by_its_exact_id(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {name: Ann, tone: warm}
        cases:
          - {id: greet, matrix: {lang: [en, fr]}}
          - {id: greeting, vars: {lang: de}}
        """))
    assert case_matches("greet[en]", "greet[en]")  # the exact id, though it is a glob
    assert case_matches("greete", "greet[en]")  # that matches other ids as a glob still
    assert [r["case"] for r in _results(cli, tmp_path, "-k", "greet[en]")] == ["greet[en]"]
    assert [r["case"] for r in _results(cli, tmp_path, "-k", "greet[[]*")] == [
        "greet[en]", "greet[fr]"]
    result = cli("render", "p.greet", "--case", "s:greet[fr]")
    assert result.exit_code == 0, result.output
    assert "Hello Ann in fr, warm." in result.stdout


# -- from: entries: a prefix, and what the entry gives its rows -------------------------

def test_one_data_file_feeds_several_entries_with_prefixes(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {lang: en}
          threshold: 0.9
        cases:
          - from: data/people.csv
            vars: {tone: warm}
          - from: data/people.csv
            id: dry
            vars: {tone: dry}
            description: The same people, drily
            threshold: 0.25
        """, **{"suites/data/people.csv": "id,name,description\nann,Ann,\n"
                                          "bob,Bob,Bob's own\n"}))
    results = _results(cli, tmp_path)
    assert [(r["case"], r["output"]) for r in results] == [
        ("ann", "Hello Ann in en, warm."), ("bob", "Hello Bob in en, warm."),
        ("dry/ann", "Hello Ann in en, dry."), ("dry/bob", "Hello Bob in en, dry.")]
    cases = _suite(tmp_path).cases
    assert [(c.id, c.description, c.threshold, c.origin) for c in cases] == [
        ("ann", None, 0.9, None), ("bob", "Bob's own", 0.9, None),
        ("dry/ann", "The same people, drily", 0.25, "ann"),
        ("dry/bob", "Bob's own", 0.25, "bob")]


def test_a_rows_own_threshold_wins_over_its_entrys(tmp_path):
    row = {"id": "r", "vars": {"name": "A", "lang": "en", "tone": "t"}, "threshold": 0.5,
           "description": "mine"}
    _project(tmp_path, """
        prompts: [p.greet]
        cases:
          - {from: data/r.jsonl, id: x, threshold: 0.1, description: entry}
        """, **{"suites/data/r.jsonl": json.dumps(row) + "\n"})
    (case,) = _suite(tmp_path).cases
    assert (case.id, case.threshold, case.description) == ("x/r", 0.5, "mine")


# -- --changed-since: generated cases are found by the id they were written with --------

def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_changed_since_selects_the_matrix_and_prefixed_cases_edited(cli, tmp_path,
                                                                    monkeypatch):
    monkeypatch.chdir(_project(tmp_path, """
        prompts: [p.greet]
        defaults:
          vars: {name: Ann, tone: warm}
        cases:
          - {id: greet, matrix: {lang: [en, fr]}}
          - {id: other, vars: {lang: de}}
          - {from: data/people.csv, id: p, vars: {lang: en}}
        """, **{"suites/data/people.csv": "id,name\nann,Ann\nbob,Bob\n"}))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    suite = tmp_path / "suites/s.yaml"
    suite.write_text(suite.read_text().replace("[en, fr]", "[en, fr, it]"))
    csv = tmp_path / "suites/data/people.csv"
    csv.write_text("id,name\nann,Ann\nbob,Robert\n")
    results = _results(cli, tmp_path, "--changed-since", "HEAD")
    assert sorted(r["case"] for r in results) == ["greet[en]", "greet[fr]", "greet[it]",
                                                  "p/bob"]
