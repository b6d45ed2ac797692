"""JUnit XML: valid against the schema, read back by a real parser (junitparser)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parents[1] / "data" / "junit.xsd"))

PROJECT = {
    "promptctl.yaml": "models:\n  bot: {provider: scripted, model: bot, params: "
                      "{temperature: 0}}\n",
    "prompts/p.yaml": "prompts:\n  a: {template: '{{ q }}'}\n  b: {template: 'B {{ q }}'}\n",
    "suites/s.yaml": """
        prompts: [p.a]
        models: [bot]
        cases:
          - {id: good, vars: {q: one}, assert: [{type: contains, value: ok}]}
          - {id: bad, vars: {q: two}, assert: [{type: contains, value: ok},
                                                {type: length, max_words: 1}]}
          - {id: down, vars: {q: FAIL-INFRA}, assert: [{type: contains, value: ok}]}
        """,
}


@pytest.fixture(autouse=True)
def answers(scripted):
    scripted.reset({"one": "ok", "two": "not good at all\x07", "B one": "ok"})


def read(path: Path) -> dict[str, object]:
    SCHEMA.validate(str(path))
    xml = JUnitXml.fromfile(str(path))
    out = {}
    for suite in xml:
        for case in suite:
            out[case.name] = case.result[0] if case.result else None
    return out


def test_run_as_junit(make_project, cli, tmp_path):
    make_project(PROJECT)
    assert cli("run", "-o", "results.xml").exit_code == 1
    cases = read(tmp_path / "results.xml")
    assert set(cases) == {"good", "bad", "down"}
    assert cases["good"] is None
    bad = cases["bad"]
    assert isinstance(bad, Failure)
    assert bad.message.startswith("2 failing assertions: contains: expected to contain 'ok'")
    assert "length: 4 words, max 1" in bad.text and "\x07" not in bad.text
    assert isinstance(cases["down"], Error) and cases["down"].message == "scripted outage"
    xml = JUnitXml.fromfile(str(tmp_path / "results.xml"))
    (suite,) = list(xml)
    assert (suite.tests, suite.failures, suite.errors) == (3, 1, 1)


def test_a_matrix_names_its_cells(make_project, cli, tmp_path):
    make_project({**PROJECT, "suites/s.yaml": PROJECT["suites/s.yaml"].replace(
        "prompts: [p.a]", "prompts: [p.a, p.b]")})
    cli("run", "-k", "good", "-o", "m.xml")
    assert set(read(tmp_path / "m.xml")) == {"good[p.a@bot]", "good[p.b@bot]"}


def test_check_as_junit_regressions_fail_and_the_ratchet_skips(make_project, cli, scripted,
                                                               tmp_path):
    make_project({**PROJECT, "suites/s.yaml": PROJECT["suites/s.yaml"].replace(
        "          - {id: down, vars: {q: FAIL-INFRA}, assert: [{type: contains, value: ok}]}\n",
        "")})
    scripted.reset({"one": "ok", "two": "nope"})
    assert cli("baseline", "update").exit_code == 0  # good passes, bad fails
    scripted.reset({"one": "no longer", "two": "nope"})
    assert cli("check", "--no-cache", "-o", "check.xml").exit_code == 1
    cases = read(tmp_path / "check.xml")
    assert isinstance(cases["good"], Failure)
    assert cases["good"].message.startswith("regression: ")
    assert isinstance(cases["bad"], Skipped)
    assert "not a regression" in cases["bad"].message
