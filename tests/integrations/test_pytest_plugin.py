"""The pytest plugin end to end: `pytest suites/` in a real project written into
pytester's directory, on the echo provider (one slow test on the real model).

Most runs are in-process (pytest loads the installed `pytest11` entry point there too);
the runs that must prove the installed plugin loads on its own, and the pytest-xdist
runs, are subprocesses."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PROMPTS = """
    prompts:
      triage:
        messages:
          - {role: system, content: Route the ticket.}
          - {role: user, content: "Ticket: {{ ticket }}"}
      short:
        template: "T: {{ ticket }}"
    """

TRIAGE = """
    description: routing
    prompts: [support.triage]
    models: [echo]
    cases:
      - id: double-charge
        vars: {ticket: charged twice}
        assert: [{type: icontains, value: charged}]
      - id: lost-parcel
        vars: {ticket: parcel lost}
        assert:
          - {type: icontains, value: parcel}
          - {type: icontains, value: billing}
      - id: wrong-size
        vars: {ticket: the shirt is too small}
        assert: [{type: icontains, value: shirt}]
    """


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture(autouse=True)
def _quiet_plugins(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs skip unrelated installed plugins that cost a second a run (hypothesis
    reports at session end); blocking a plugin that is not installed is harmless."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:benchmark")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project without promptctl.yaml: prompts/ and suites/ on the defaults."""
    write(pytester.path, {"prompts/support.yaml": PROMPTS, "suites/triage.yaml": TRIAGE})
    return pytester


def ids(result: pytest.RunResult) -> list[str]:
    """Node ids from `--collect-only -q`."""
    return [line for line in result.outlines if "::" in line]


def junit(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


def properties(case: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in case.iter("property")}


def test_installed_plugin_collects_cases_and_reports_failures(project: pytest.Pytester):
    result = project.runpytest_subprocess("suites/", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "suites/triage.yaml::double-charge PASSED*",
        "suites/triage.yaml::lost-parcel FAILED*",
        "suites/triage.yaml::wrong-size PASSED*",
    ])
    out = result.stdout.str()
    # the failure: where the case is, the output, each failing assertion's type, reason
    # and line; the passing assertion of the same case is not listed
    result.stdout.fnmatch_lines([
        "suites/triage.yaml:8: case 'lost-parcel' failed on support.triage @ echo",
        "output:",
        "    | Route the ticket.",
        "    | Ticket: parcel lost",
        "failed assertions:",
        "    suites/triage.yaml:12: icontains: expected to contain 'billing'*",
        "*short test summary*",
        "FAILED suites/triage.yaml::lost-parcel - suites/triage.yaml:8: icontains: *",
    ])
    assert "suites/triage.yaml:11" not in out
    assert "Traceback" not in out and "pytest_plugin.py" not in out
    # the plugin prints nothing of its own, and a pytest run records no promptctl run
    assert not (project.path / ".promptctl" / "runs").exists()
    assert (project.path / ".promptctl" / "cache.sqlite").is_file()


def test_matrix_ids_carry_prompt_and_model(project: pytest.Pytester):
    write(project.path, {"suites/matrix.yaml": """
        prompts: [support.triage, support.short]
        models: [echo]
        cases:
          - id: one
            vars: {ticket: a}
            assert: [{type: contains, value: a}]
        """})
    result = project.runpytest("suites/", "--collect-only", "-q")
    assert ids(result) == [
        "suites/matrix.yaml::one[support.triage@echo]",
        "suites/matrix.yaml::one[support.short@echo]",
        "suites/triage.yaml::double-charge",
        "suites/triage.yaml::lost-parcel",
        "suites/triage.yaml::wrong-size",
    ]
    # two models on the command line make a matrix of a single-model suite too
    result = project.runpytest("suites/triage.yaml", "--collect-only", "-q",
                               "--promptctl-model", "echo",
                               "--promptctl-model", "openai:gpt-4o-mini")
    assert ids(result)[:2] == [
        "suites/triage.yaml::double-charge[support.triage@echo]",
        "suites/triage.yaml::double-charge[support.triage@openai:gpt-4o-mini]",
    ]
    # and -k reaches the prompt and the model
    result = project.runpytest("suites/", "-k", "short", "-q")
    result.assert_outcomes(passed=1)


def test_k_selects_by_case_and_suite(project: pytest.Pytester):
    write(project.path, {"suites/other.yaml": """
        prompts: [support.short]
        models: [echo]
        cases:
          - id: double-check
            vars: {ticket: x}
            assert: [{type: contains, value: x}]
        """})
    result = project.runpytest("suites/", "-k", "double")
    result.assert_outcomes(passed=2, deselected=2)
    result = project.runpytest("suites/", "-k", "triage and not lost", "-v")
    result.assert_outcomes(passed=2, deselected=2)
    result.stdout.fnmatch_lines(["suites/triage.yaml::double-charge PASSED*",
                                 "suites/triage.yaml::wrong-size PASSED*"])
    # a node id selects one case
    result = project.runpytest("suites/triage.yaml::wrong-size")
    result.assert_outcomes(passed=1)


def test_x_stops_after_the_first_failure(project: pytest.Pytester):
    write(project.path, {"suites/triage.yaml": """
        prompts: [support.triage]
        models: [echo]
        cases:
          - {id: a, vars: {ticket: a}, assert: [{type: contains, value: nope}]}
          - {id: b, vars: {ticket: b}, assert: [{type: contains, value: nope}]}
          - {id: c, vars: {ticket: c}, assert: [{type: contains, value: c}]}
        """})
    result = project.runpytest("suites/")
    result.assert_outcomes(passed=1, failed=2)
    result = project.runpytest("suites/", "-x")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_junitxml_has_one_testcase_per_item(project: pytest.Pytester):
    # xunit1: the family that keeps each testcase's file and line
    result = project.runpytest("suites/", "--junitxml=report.xml", "-o", "junit_family=xunit1")
    result.assert_outcomes(passed=2, failed=1)
    cases = junit(project.path / "report.xml")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("suites.triage.yaml", "double-charge"),
        ("suites.triage.yaml", "lost-parcel"),
        ("suites.triage.yaml", "wrong-size"),
    ]
    by_name = {c.get("name"): c for c in cases}
    failed = by_name["lost-parcel"]
    (failure,) = failed.findall("failure")
    # the one-line message, then the whole report
    assert failure.get("message", "").startswith("suites/triage.yaml:8: icontains: expected")
    assert "Ticket: parcel lost" in (failure.text or "")
    assert failed.get("file") == "suites/triage.yaml" and failed.get("line") == "7"
    assert not by_name["double-charge"].findall("failure")
    assert properties(failed) == {"prompt": "support.triage", "model": "echo",
                                  "samples": "1", "passed_samples": "0",
                                  "cached_samples": "0"}


def test_repeat_makes_one_item_per_cell_with_every_sample(project: pytest.Pytester):
    result = project.runpytest("suites/", "--promptctl-repeat", "3", "--junitxml=r.xml")
    result.assert_outcomes(passed=2, failed=1)  # still one item per case
    cases = {c.get("name"): properties(c) for c in junit(project.path / "r.xml")}
    assert cases["double-charge"]["samples"] == "3"
    assert cases["double-charge"]["passed_samples"] == "3"
    assert cases["lost-parcel"]["passed_samples"] == "0"
    # identical failures of several repeats are shown once
    result.stdout.fnmatch_lines([
        "*case 'lost-parcel' failed on support.triage @ echo (0/3 samples passed)",
        "repeats 0, 1, 2:",
        "  output:",
    ])
    result = project.runpytest("suites/", "--promptctl-repeat", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--promptctl-repeat: bad value '0'*"])


def test_promptctl_model_overrides_the_suites_models(pytester: pytest.Pytester):
    write(pytester.path, {
        "promptctl.yaml": "models:\n  gpt: {provider: openai, model: gpt-4o-mini}\n",
        "prompts/support.yaml": PROMPTS,
        "suites/triage.yaml": TRIAGE.replace("models: [echo]", "models: [nonexistent]"),
    })
    result = pytester.runpytest("suites/")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*ERROR collecting suites/triage.yaml*",
        "error: suites/triage.yaml:3: unknown model 'nonexistent' (*",
    ])
    result = pytester.runpytest("suites/", "--promptctl-model", "echo")
    result.assert_outcomes(passed=2, failed=1)
    result = pytester.runpytest("suites/", "--promptctl-model", "ecko")
    result.stdout.fnmatch_lines([
        "error: unknown model 'ecko' (given with --promptctl-model) (did you mean 'echo'?)"])


@pytest.mark.parametrize(("suite", "message"), [
    ("prompts: [support.triage]\nmodels: [echo]\ncases:\n  - id: a\n    vars: {ticket: x}\n"
     "    asert: []\n",
     "error: suites/bad.yaml:6: unknown key 'asert' in cases[0] (did you mean 'assert'?)"),
    ("prompts: [support.nosuch]\ncases: [{id: a}]\n",
     "error: suites/bad.yaml:1: unknown prompt 'support.nosuch'*"),
    ("prompts: [support.triage]\nmodels: [echo]\ncases:\n  - id: a\n    vars: {}\n",
     "error: prompts/support.yaml:*: prompt 'support.triage' (case 'a' of suites/bad.yaml:4): "
     "'ticket' is undefined*"),
    ("prompts: [support.triage\n", "error: suites/bad.yaml:*"),
], ids=["schema", "unknown-prompt", "undefined-variable", "yaml-syntax"])
def test_bad_suite_is_a_collection_error_with_one_line(project: pytest.Pytester, suite: str,
                                                       message: str):
    (project.path / "suites" / "bad.yaml").write_text(suite, encoding="utf-8")
    result = project.runpytest("suites/")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting suites/bad.yaml*", message,
                                 "*short test summary*",
                                 "ERROR suites/bad.yaml - error: *.yaml:*"])
    assert "Traceback" not in result.stdout.str()
    assert "promptctl/" not in result.stdout.str()


def test_broken_config_is_a_collection_error_of_the_suites(project: pytest.Pytester):
    write(project.path, {"promptctl.yaml": "modles: {}\n", "data/x.yaml": "a: 1\n"})
    result = project.runpytest("suites/", "data/")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR collecting suites/triage.yaml*",
        "error: promptctl.yaml:1: unknown key 'modles' (did you mean 'models'?)",
    ])


def test_yaml_outside_the_suites_directory_is_not_collected(project: pytest.Pytester):
    write(project.path, {
        ".github/workflows/ci.yaml": "on: push\njobs: {test: {runs-on: ubuntu-latest}}\n",
        "other/suites/x.yaml": "whatever: [1, 2]\n",
        "other/config.yml": "a: 1\n",
        "test_plain.py": "def test_plain():\n    assert True\n",
    })
    result = project.runpytest(".github", "prompts", "other", "test_plain.py",
                               "--collect-only", "-q")
    assert ids(result) == ["test_plain.py::test_plain"]
    # with promptctl.yaml, only its paths.suites directory holds suites
    write(project.path, {"promptctl.yaml": "paths: {suites: evals}\n",
                         "evals/triage.yaml": TRIAGE})
    result = project.runpytest(".", "--collect-only", "-q")
    assert ids(result) == ["evals/triage.yaml::double-charge", "evals/triage.yaml::lost-parcel",
                           "evals/triage.yaml::wrong-size", "test_plain.py::test_plain"]


def test_a_repo_without_promptctl_runs_as_usual(pytester: pytest.Pytester):
    """A suites/ directory of some other tool's YAML, without prompts/, is not ours."""
    write(pytester.path, {"suites/load.yaml": "not: [a promptctl suite\n",
                          "test_ok.py": "def test_ok():\n    pass\n"})
    result = pytester.runpytest_subprocess(".", "suites/")
    result.assert_outcomes(passed=1)


def test_failed_model_call_is_an_error_not_a_failure(pytester: pytest.Pytester):
    write(pytester.path, {
        "promptctl.yaml": """
            models:
              down: {provider: openai, model: m, base_url: "http://127.0.0.1:9/v1",
                     api_key: k, max_retries: 0, timeout: 5}
            """,
        "prompts/support.yaml": PROMPTS,
        "suites/triage.yaml": TRIAGE.replace("models: [echo]", "models: [down]"),
    })
    result = pytester.runpytest("suites/", "-k", "double", "--junitxml=r.xml")
    result.assert_outcomes(errors=1, deselected=2)
    result.stdout.fnmatch_lines([
        "*ERROR at setup of triage::double-charge*",
        "suites/triage.yaml:5: case 'double-charge' has no verdict: a model call failed "
        "on support.triage @ down",
        "  error: *",
    ])
    assert "Traceback" not in result.stdout.str()
    (case,) = junit(pytester.path / "r.xml")
    assert case.findall("error") and not case.findall("failure")


def test_xdist_workers_share_the_cache(project: pytest.Pytester):
    pytest.importorskip("xdist")
    first = project.runpytest_subprocess("suites/", "-n", "2", "--junitxml=1.xml")
    first.assert_outcomes(passed=2, failed=1)
    # every item ran once, on some worker, and became one testcase
    cases = junit(project.path / "1.xml")
    assert sorted(c.get("name", "") for c in cases) == ["double-charge", "lost-parcel",
                                                        "wrong-size"]
    assert {properties(c)["cached_samples"] for c in cases} == {"0"}
    (failure,) = [f for c in cases for f in c.findall("failure")]
    assert "expected to contain 'billing'" in (failure.text or "")
    # a second run is served from the SQLite cache that both workers wrote
    second = project.runpytest_subprocess("suites/", "-n", "2", "--junitxml=2.xml")
    second.assert_outcomes(passed=2, failed=1)
    second.stdout.fnmatch_lines(["*suites/triage.yaml:12: icontains: expected to contain*"])
    assert {properties(c)["cached_samples"] for c in junit(project.path / "2.xml")} == {"1"}


def test_reruns_are_cached_unless_no_cache(project: pytest.Pytester):
    def cached(*args: str) -> set[str]:
        project.runpytest("suites/", "--junitxml=r.xml", *args).assert_outcomes(
            passed=2, failed=1)
        return {properties(c)["cached_samples"] for c in junit(project.path / "r.xml")}

    assert cached() == {"0"}
    assert cached() == {"1"}
    assert cached("--promptctl-no-cache") == {"0"}
    assert cached("--promptctl-repeat", "2") == {"1"}  # repeat 0 cached, repeat 1 new


@pytest.mark.slow
def test_real_model_through_pytest(pytester: pytest.Pytester):
    """No models: key, no promptctl.yaml: the embedded SmolLM2 answers, in-process."""
    write(pytester.path, {
        "prompts/qa.yaml": """
            prompts:
              answer:
                params: {max_tokens: 8}
                template: "{{ question }}"
            """,
        "suites/qa.yaml": """
            prompts: [qa.answer]
            cases:
              - id: capital
                vars: {question: What is the capital of France? Answer in one word.}
                assert: [{type: icontains, value: Paris}]
            """,
    })
    result = pytester.runpytest_subprocess("suites/", "-v", "--junitxml=r.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["suites/qa.yaml::capital PASSED*"])
    (case,) = junit(pytester.path / "r.xml")
    assert properties(case)["model"] == "default"
