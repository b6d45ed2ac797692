"""`promptctl review promote` through the real CLI in tmp projects: labels written with
load.reviews.write_reviews, references promoted into the suite file (its text compared
whole: comments and layout kept), into a .jsonl and a .csv, the promoted suite linted
and run on the echo provider against `{{ reference }}`, conflicts without and with
--force, --dry-run, data-file cases refused with the hint, cases gone skipped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from promptctl.load.project import load_project
from promptctl.load.reviews import Label, Reviews, output_sha256, write_reviews

SUITE = """\
# triage suite
prompts: [t.say]
models: [echo]
cases:
  # the first case
  - id: a
    vars: {answer: Paris}   # inline vars
    assert:
      - {type: equals, value: "{{ reference }}"}
  - id: b
    vars:
      answer: Rome
    assert:
      - type: similar
        value: "{{ reference }}"
        threshold: 0.99
"""

PROMOTED = """\
# triage suite
prompts: [t.say]
models: [echo]
cases:
  # the first case
  - id: a
    vars: {answer: Paris, reference: Paris} # inline vars
    assert:
      - {type: equals, value: "{{ reference }}"}
  - id: b
    vars:
      answer: Rome
      reference: Rome
    assert:
      - type: similar
        value: "{{ reference }}"
        threshold: 0.99
"""

FILES = {
    "promptctl.yaml": "models:\n  echo: {provider: echo}\n",
    "prompts/t.yaml": "prompts:\n  say: {template: '{{ answer }}'}\n",
    "suites/s.yaml": SUITE,
}


def lab(case: str, output: str, verdict: str = "pass", at: str = "2026-12-02T10:00:00Z",
        prompt: str = "t.say", model: str = "echo") -> Label:
    return Label(case, prompt, model, output_sha256(output), verdict, "r@example.com", at,
                 output=output)


def put(root: Path, suite: str, labels: list[Label]) -> None:
    book = Reviews(suite, f"reviews/{suite}.yaml")
    for one in labels:
        book.put(one)
    write_reviews(load_project(root), book)


@pytest.fixture
def proj(make_project):
    root = make_project(FILES)
    put(root, "s", [lab("a", "Paris"), lab("b", "Rom", at="2026-12-01T10:00:00Z"),
                    lab("b", "Rome"),  # the newest passing label wins
                    lab("b", "Roma", "fail", at="2026-12-03T10:00:00Z"),  # fails: never
                    lab("gone", "x")])
    return root


def test_into_the_suite_keeps_its_text_and_then_runs(proj, cli) -> None:
    res = cli("review", "promote")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert (proj / "suites/s.yaml").read_text() == PROMOTED
    assert "case 'gone' is no longer in suites/s.yaml" in res.stdout
    assert "wrote 2 reference(s) to suite, 0 unchanged" in res.stdout
    lint = cli("lint")  # its one warning is the label of the case that is gone
    assert "0 errors, 1 warning" in lint.stderr, lint.stdout + lint.stderr
    assert "a label for case 'gone'" in lint.stderr
    run = cli("run")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "2 passed, 0 failed" in run.stdout
    again = cli("review", "promote")
    assert "wrote 0 reference(s) to suite, 2 unchanged" in again.stdout
    assert (proj / "suites/s.yaml").read_text() == PROMOTED


def test_a_different_reference_is_kept_until_force(proj, cli) -> None:
    cli("review", "promote")
    put(proj, "s", [lab("a", "Paris"), lab("a", "Paris, France", at="2026-12-04T10:00:00Z"),
                    lab("b", "Rome")])
    res = cli("review", "promote")
    assert res.exit_code == 0
    assert "s/a: has a different reference 'Paris', label says 'Paris, France': kept" \
        in res.stdout
    assert "1 conflict(s) kept (--force replaces them)" in res.stdout
    assert (proj / "suites/s.yaml").read_text() == PROMOTED
    forced = cli("review", "promote", "--force")
    assert forced.exit_code == 0
    assert "replaced" in forced.stdout
    assert (proj / "suites/s.yaml").read_text() == PROMOTED.replace(
        "reference: Paris}", "reference: 'Paris, France'}")


def test_dry_run_writes_nothing(proj, cli) -> None:
    res = cli("review", "promote", "--dry-run")
    assert res.exit_code == 0
    assert "s/a: reference = 'Paris'" in res.stdout
    assert "would write 2 reference(s)" in res.stdout
    assert (proj / "suites/s.yaml").read_text() == SUITE
    res = cli("review", "promote", "--dry-run", "--to", "data/references.jsonl")
    assert not (proj / "data/references.jsonl").exists()


def test_into_a_jsonl_and_a_csv(proj, cli) -> None:
    res = cli("review", "promote", "--to", "data/references.jsonl")
    assert res.exit_code == 0, res.stdout + res.stderr
    rows = [json.loads(x) for x in (proj / "data/references.jsonl").read_text().splitlines()]
    assert rows == [{"id": "a", "reference": "Paris"}, {"id": "b", "reference": "Rome"}]
    res = cli("review", "promote", "--to", "data/refs.csv", "--var", "gold")
    assert res.exit_code == 0
    with (proj / "data/refs.csv").open(newline="") as fh:
        assert list(csv.DictReader(fh)) == [{"id": "a", "gold": "Paris"},
                                            {"id": "b", "gold": "Rome"}]
    assert (proj / "suites/s.yaml").read_text() == SUITE  # the suite untouched
    # a different row kept without --force
    (proj / "data/refs.csv").write_text("id,gold\na,Lyon\n")
    res = cli("review", "promote", "--to", "data/refs.csv", "--var", "gold")
    assert "1 conflict(s) kept" in res.stdout
    assert (proj / "data/refs.csv").read_text() == "id,gold\na,Lyon\nb,Rome\n"
    cli("review", "promote", "--to", "data/refs.csv", "--var", "gold", "--force")
    assert (proj / "data/refs.csv").read_text() == "id,gold\na,Paris\nb,Rome\n"


def test_data_file_cases_are_refused_with_the_hint(make_project, cli) -> None:
    root = make_project({
        **FILES,
        "suites/s.yaml": "prompts: [t.say]\nmodels: [echo]\ncases:\n"
                         "  - {id: a, vars: {answer: Paris}}\n  - from: data/rows.csv\n",
        "data/rows.csv": "id,answer\nr1,Oslo\n",
    })
    put(root, "s", [lab("a", "Paris"), lab("r1", "Oslo")])
    res = cli("review", "promote")
    assert res.exit_code == 0
    assert "case 'r1' comes from a data file row or a matrix, not editable in " \
        "suites/s.yaml: use --to data/references.jsonl" in res.stdout
    assert "reference: Paris" in (root / "suites/s.yaml").read_text()
    assert "Oslo" not in (root / "suites/s.yaml").read_text()


def test_most_labelled_pair_is_used_and_said(proj, cli) -> None:
    put(proj, "s", [lab("a", "Paris"), lab("b", "Rome"),
                    lab("a", "PARIS", model="big")])
    res = cli("review", "promote", "--dry-run")
    assert "labels of prompt t.say x model echo (2) used; also labelled: t.say x big (1)" \
        in res.stdout
    res = cli("review", "promote", "--dry-run", "--model", "big")
    assert "s/a: reference = 'PARIS'" in res.stdout


@pytest.mark.parametrize("args, words", [
    (("--to", "refs.txt"), "a data file ends in .csv or .jsonl"),
    (("--var", "not a name"), "is not a variable name"),
])
def test_bad_input_is_one_line_exit_2(proj, cli, args, words) -> None:
    res = cli("review", "promote", *args)
    assert res.exit_code == 2
    assert words in res.stdout + res.stderr


def test_a_bad_data_file_names_its_line(proj, cli) -> None:
    (proj / "data").mkdir()
    (proj / "data/r.jsonl").write_text('{"id": "a", "reference": "x"}\nnot json\n')
    res = cli("review", "promote", "--to", "data/r.jsonl")
    assert res.exit_code == 2
    assert "data/r.jsonl:2" in res.stdout + res.stderr


def test_a_suite_reads_the_promoted_file_through_references(make_project, cli) -> None:
    root = make_project({
        **FILES,
        "suites/s.yaml": "prompts: [t.say]\nmodels: [echo]\n"
                         "references: data/references.jsonl\ncases:\n"
                         "  - id: a\n    vars: {answer: Paris}\n"
                         "    assert: [{type: equals, value: '{{ reference }}'}]\n"
                         "  - from: data/rows.csv\n"
                         "    assert: [{type: similar, value: '{{ reference }}', "
                         "threshold: 0.99}]\n",
        "data/rows.csv": "id,answer\nr1,Oslo\n",
        "data/references.jsonl": "",
    })
    (root / "data/references.jsonl").unlink()  # promote writes it
    put(root, "s", [lab("a", "Paris"), lab("r1", "Oslo")])
    res = cli("review", "promote", "--to", "data/references.jsonl")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert (root / "data/references.jsonl").read_text() == (
        '{"id": "a", "reference": "Paris"}\n{"id": "r1", "reference": "Oslo"}\n')
    lint = cli("lint")
    assert lint.exit_code == 0, lint.stdout + lint.stderr
    run = cli("run")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "2 passed, 0 failed" in run.stdout
    # a wrong reference fails the run: the file is really read
    (root / "data/references.jsonl").write_text(
        '{"id": "a", "reference": "Lyon"}\n{"id": "r1", "reference": "Oslo"}\n')
    assert "1 passed, 1 failed" in cli("run").stdout


def test_a_references_row_without_an_id_names_its_line(make_project, cli) -> None:
    make_project({**FILES, "suites/s.yaml": "references: data/r.jsonl\n" + SUITE,
                  "data/r.jsonl": '{"id": "a", "reference": "Paris"}\n{"reference": "x"}\n'})
    res = cli("lint")
    assert res.exit_code == 2
    assert "data/r.jsonl:2" in res.stdout + res.stderr


def test_a_text_of_several_lines_reads_back_exactly(make_project, cli) -> None:
    text = "Dear customer,\n  we refunded you.\n\nBest: support\n"
    root = make_project(FILES)
    put(root, "s", [lab("a", text), lab("b", "Rome")])
    assert cli("review", "promote").exit_code == 0
    # case a's vars are a flow mapping: the text is a quoted scalar there
    from promptctl.load.suites import load_suite

    suite = load_suite(load_project(root), root / "suites/s.yaml")
    assert {c.id: c.vars["reference"] for c in suite.cases} == {"a": text, "b": "Rome"}
