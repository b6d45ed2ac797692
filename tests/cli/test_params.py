"""cli/params.py: typer's coercion is skipped for the parameters nobody gave, and only
for those: a given value, a bad value and a missing argument are typer's as before."""

from __future__ import annotations

import json

import pytest
import typer.core

PROJECT = {
    "promptctl.yaml": "models:\n  e: {provider: echo}\n",
    "prompts/p.yaml": "prompts:\n  t:\n    template: 'Ticket: {{ ticket }}'\n",
    "suites/s.yaml": "prompts: [p.t]\nmodels: [e]\ncases:\n"
                     "  - id: a\n    vars: {ticket: lost}\n"
                     "    assert: [{type: contains, value: lost}]\n",
}


@pytest.fixture
def coerced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the parameters typer built a coercion for (the real one runs)."""
    names: list[str] = []
    real = typer.core._TyperParameter.get_runtime_param

    def spied(self):
        names.append(self.name)
        return real(self)

    monkeypatch.setattr(typer.core._TyperParameter, "get_runtime_param", spied)
    return names


def test_unset_parameters_are_not_coerced(make_project, cli, coerced):
    make_project(PROJECT)
    assert cli("lint").exit_code == 0
    assert coerced == []
    assert cli("lint", "-c", "promptctl.yaml", "--no-cache").exit_code == 0
    assert coerced == ["config"]  # a given value goes through typer (a flag needs none)


def test_given_values_reach_the_command_as_typer_makes_them(make_project, cli, coerced):
    root = make_project(PROJECT)
    result = cli("run", "--no-cache", "-q", "-o", "out.json", "-j", "2", "--max-repeat", "3",
                 "-k", "a")
    assert result.exit_code == 0, result.output
    assert json.loads((root / "out.json").read_text())["summary"]["passed"] == 1
    assert sorted(coerced) == ["concurrency", "filter", "max_repeat", "output_file"]


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--max-repeat", "0"], "Invalid value for '--max-repeat'"),
    (["run", "-j", "many"], "Invalid value for '--concurrency' / '-j'"),
    (["import", "promptfoo"], "Missing argument"),
])
def test_bad_and_missing_values_are_typers_errors(make_project, cli, args, message):
    make_project(PROJECT)
    result = cli(*args)
    assert result.exit_code == 2 and message in result.output, result.output
