"""The pytest plugin and case metadata: --promptctl-filter selects as promptctl's -k
does, pytest's own -k sees a case's tags, --junitxml carries metadata and tags as the
testcase's properties."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

FILES = {
    "prompts/p.yaml": """
        prompts:
          echo: {template: "Say {{ q }}"}
        """,
    "suites/s.yaml": """
        prompts: [p.echo]
        models: [echo]
        tags: [nightly]
        defaults:
          assert: [{type: contains, value: Say}]
        cases:
          - {id: a, vars: {q: one}, metadata: {owner: alice, n: 2}, tags: [smoke]}
          - {id: b, vars: {q: two}, metadata: {owner: bob}}
          - {id: c, vars: {q: three}, tags: [smoke, slow]}
        """,
}


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:benchmark")
    for name, text in FILES.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return pytester


def passed(recorder: pytest.HookRecorder) -> list[str]:
    return sorted(r.nodeid.split("::")[-1] for r in recorder.getreports(
        "pytest_runtest_logreport") if r.when == "call" and r.passed)


@pytest.mark.parametrize(("filters", "expected"), [
    (["tag:smoke"], ["a", "c"]),
    (["owner=*"], ["a", "b"]),
    (["tag:smoke", "!tag:slow"], ["a"]),
    (["owner=bob,n=2"], ["a", "b"]),
    (["id:c"], ["c"]),
])
def test_promptctl_filter_selects_as_k_does(project, filters, expected):
    args = [a for f in filters for a in ("--promptctl-filter", f)]
    result = project.inline_run("suites/", *args)
    assert passed(result) == expected


def test_a_bad_filter_is_a_usage_error_without_traceback(project):
    result = project.runpytest("suites/", "--promptctl-filter", "=x")
    assert result.ret != 0
    assert "bad -k '=x'" in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stdout.str()


def test_pytest_k_sees_tags(project):
    result = project.runpytest("suites/", "-k", "smoke and not slow", "-q")
    result.assert_outcomes(passed=1, deselected=2)


def test_junitxml_carries_metadata_and_tags(project):
    result = project.runpytest("suites/", "--junitxml=r.xml")
    result.assert_outcomes(passed=3)
    cases = {c.get("name"): [(p.get("name"), p.get("value")) for p in c.iter("property")]
             for c in ET.parse(project.path / "r.xml").getroot().iter("testcase")}
    assert cases["a"][:4] == [("metadata.owner", "alice"), ("metadata.n", "2"),
                              ("tag", "nightly"), ("tag", "smoke")]
    assert cases["b"][:2] == [("metadata.owner", "bob"), ("tag", "nightly")]
    assert ("prompt", "p.echo") in cases["a"]  # the plugin's own properties stay
