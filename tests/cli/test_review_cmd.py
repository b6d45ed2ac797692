"""`promptctl review`'s routing and its refusals, through the real CLI: a first word
that is no subcommand goes to `review label`, a run id is told from a suite name, and
bad input is exit 2 with one line."""

from __future__ import annotations

import pytest

from promptctl.cli.review_cmd import split_words

FILES = {
    "promptctl.yaml": "models:\n  echo: {provider: echo}\n",
    "prompts/t.yaml": "prompts:\n  say: {template: '{{ answer }}'}\n",
    "suites/s.yaml": "prompts: [t.say]\nmodels: [echo]\ncases:\n"
                     "  - {id: a, vars: {answer: Paris}, assert: [{type: equals, value: Paris}]}\n",
    "suites/u.yaml": "prompts: [t.say]\nmodels: [echo]\ncases:\n"
                     "  - {id: b, vars: {answer: Rome}, assert: [{type: equals, value: Rome}]}\n",
}


def test_the_first_word_is_a_run_only_when_it_names_one(tmp_path) -> None:
    runs = tmp_path / "runs"
    (runs / "my-run").mkdir(parents=True)
    assert split_words(runs, []) == (None, [])
    assert split_words(runs, ["latest", "s"]) == ("latest", ["s"])
    assert split_words(runs, ["20261203T041729-e9a609"]) == ("20261203T041729-e9a609", [])
    assert split_words(runs, ["20261203T04"]) == ("20261203T04", [])  # a prefix
    assert split_words(runs, ["my-run", "s"]) == ("my-run", ["s"])
    assert split_words(runs, ["s", "u"]) == (None, ["s", "u"])


def test_review_before_any_run_is_bad_input(make_project, cli) -> None:
    make_project(FILES)
    got = cli("review")
    assert got.exit_code == 2
    assert "no runs yet" in got.stderr and len(got.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("args", "words"), [
    (["--only", "failed"], "--only 'failed' is not a filter"),
    (["latest", "nope"], "nope"),
    (["20991231T000000-000000"], "no run '20991231T000000-000000'"),
])
def test_bad_input_is_one_line_exit_2(make_project, cli, args, words) -> None:
    make_project(FILES)
    assert cli("run", "s", "-q").exit_code == 0
    got = cli("review", *args)
    assert got.exit_code == 2, got.stdout + got.stderr
    assert words in got.stderr and len(got.stderr.strip().splitlines()) == 1


def test_a_suite_the_run_does_not_have_is_refused(make_project, cli) -> None:
    make_project(FILES)
    assert cli("run", "s", "-q").exit_code == 0
    got = cli("review", "u")
    assert got.exit_code == 2 and "has no suite 'u'" in got.stderr


def test_nothing_left_to_review_says_so(make_project, cli) -> None:
    make_project(FILES)
    assert cli("run", "-q").exit_code == 0
    got = cli("review", "--only", "failing")
    assert got.exit_code == 0
    assert "nothing to review in run " in got.stdout and "(--only failing)" in got.stdout
    got = cli("review", "label", "latest", "s", "--only", "disagreements")
    assert got.exit_code == 0 and "nothing to review" in got.stdout


def test_help_lists_the_subcommands(cli) -> None:
    got = cli("review", "--help")
    assert got.exit_code == 0 and "label" in got.stdout
    assert "Keys: p pass" in cli("review", "label", "--help").stdout
