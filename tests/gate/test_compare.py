"""`promptctl compare`: the paired statistics against scipy, the CLI on a scripted
provider whose repeats differ by seed, and one end-to-end test on the embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.browser import visit
from helpers.scripted_provider import ScriptedProvider
from scipy import stats as sps

from promptctl.gate.compare import signflip_two_sided
from promptctl.stats import paired_interval, t_ppf

pytestmark = pytest.mark.usefixtures("scripted")

CONFIG = """
models:
  bot: {provider: scripted, model: bot-1, params: {temperature: 0.8, seed: 0}}
  bot2: {provider: scripted, model: bot-2, params: {temperature: 0.8, seed: 100}}
"""
PROMPTS = """
prompts:
  a: {template: "{{ q }}"}
  b: {template: "v2 {{ q }}"}
  c: {template: "v3 {{ q }}"}
"""
CASES = 10
REPEAT = 4


def suite(prompt: str = "p.a", models: str = "[bot]", repeat: int = REPEAT) -> str:
    lines = "".join(f"  - {{id: c{i}, vars: {{q: 'q{i}'}}, "
                    f"assert: [{{type: contains, value: good, metric: acc}}]}}\n"
                    for i in range(CASES))
    return f"prompts: [{prompt}]\nmodels: {models}\nrepeat: {repeat}\ncases:\n{lines}"


def pattern(passes: int, n: int = REPEAT) -> list[str]:
    return ["good"] * passes + ["bad"] * (n - passes)


@pytest.fixture
def project(make_project, scripted):
    """Prompt a passes 1 of 4 samples per case, b passes 4 of 4, c is a's twin."""
    root = make_project({"promptctl.yaml": CONFIG, "prompts/p.yaml": PROMPTS,
                         "suites/s.yaml": suite(),
                         "suites/other.yaml": suite("p.c").replace("c0", "x0")})
    answers: dict[str, str | list[str]] = {}
    for i in range(CASES):
        answers[f"q{i}"] = pattern(1)
        answers[f"v2 q{i}"] = pattern(4)
        answers[f"v3 q{i}"] = pattern(1)
    scripted.reset(answers)
    return root


# -- statistics against scipy -----------------------------------------------------------
@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 10, 30, 99, 200])
@pytest.mark.parametrize("p", [0.9, 0.975, 0.995])
def test_t_quantile_matches_scipy(df, p):
    assert t_ppf(p, df) == pytest.approx(sps.t.ppf(p, df), rel=1e-6 if df < 100 else 1e-3)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy on constant differences
@pytest.mark.parametrize("diffs", [
    [0.25, 0.5, 0.0, 0.75, -0.25, 0.5, 0.25, 0.0],
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [0.1, -0.3, 0.2, 0.05, -0.15, 0.4, 0.33, -0.07, 0.12],
    [1 / 3, 1 / 3, -2 / 3, 1.0, 1 / 3, 0.0, -1 / 3, 2 / 3],
])
def test_paired_statistics_match_scipy(diffs):
    exact = sps.permutation_test((np.array(diffs),), np.mean, permutation_type="samples",
                                 n_resamples=np.inf, alternative="two-sided", vectorized=False)
    p = signflip_two_sided(diffs)
    assert p == pytest.approx(exact.pvalue, rel=1e-9)
    # the interval is no longer a t interval (it collapsed to a point on [1.0] * 6): it
    # inverts this test, checked against scipy in tests/test_intervals.py
    lo, hi = paired_interval(diffs, 0.05, p_value=p)
    assert lo < np.mean(diffs) <= hi and (lo <= 0 <= hi) == (p > 0.05)


def test_signflip_monte_carlo_for_many_continuous_differences():
    rng = np.random.default_rng(1)
    diffs = list(rng.normal(0.2, 1.0, 40))
    p = signflip_two_sided(diffs, max_support=1000)
    exact = sps.permutation_test((np.array(diffs),), np.mean, permutation_type="samples",
                                 n_resamples=200_000, random_state=0, vectorized=False)
    assert p == pytest.approx(exact.pvalue, abs=0.01)
    assert signflip_two_sided([0.0, 0.0]) == 1.0


# -- prompts ------------------------------------------------------------------------------
def test_a_better_prompt_is_reported_with_sign_and_significance(project, cli):
    result = cli("compare", "p.a", "p.b", "--no-cache")
    assert result.exit_code == 0, result.output
    # only suite s uses p.a or p.b: 10 cases x 2 prompts x 4 repeats
    assert len(ScriptedProvider.calls) == CASES * 2 * REPEAT
    out = result.stdout
    # ten cases that all gain 75 points: not a point interval (a t interval said
    # +75..+75), and one that excludes 0 as the test does
    assert "B is better on pass rate: +75 points, 95% CI +15..+96" in out
    assert "B wins 10, loses 0, ties 0" in out
    assert "s/c0 [bot]" in out and "1/4" in out and "4/4" in out

    reverse = cli("compare", "p.b", "p.a")
    assert "B is worse on pass rate: -75 points" in reverse.stdout


def test_a_prompt_compared_with_itself_shows_no_difference(project, cli):
    result = cli("compare", "p.a", "p.a")
    assert result.exit_code == 0, result.output
    assert "no detectable difference with these samples" in result.stdout
    assert len(ScriptedProvider.calls) == CASES * REPEAT  # run once, not twice
    twin = cli("compare", "p.a", "p.c", "-s", "s", "-s", "other")
    assert twin.exit_code == 0, twin.output
    assert "no detectable difference with these samples" in twin.stdout
    assert "B wins 0, loses 0, ties 20" in twin.stdout  # named suites run both prompts


def test_a_noisy_small_difference_is_not_significant(project, cli, scripted):
    answers = dict(scripted.answers)
    answers.update({"v2 q0": pattern(2), "v2 q1": pattern(0)})
    answers.update({f"v2 q{i}": pattern(1) for i in range(2, CASES)})
    scripted.reset(answers)
    result = cli("compare", "p.a", "p.b", "-k", "c[01]")
    assert "no detectable difference" in result.stdout


def test_repeat_and_filter_options(project, cli):
    result = cli("compare", "p.a", "p.b", "-r", "1", "-k", "c1*", "-o", "out.json")
    assert result.exit_code == 0, result.output
    doc = json.loads(Path("out.json").read_text())
    assert [c["key"] for c in doc["cases"]] == [["s", "c1", "bot"]]
    assert doc["cases"][0]["a"]["samples"] == 1
    assert doc["differences"][0]["significant"] is False  # one case proves nothing


def test_repeat_auto_samples_both_sides_of_a_mixed_pair(project, cli, scripted):
    # always "good" on A except c0, where A and B disagree
    scripted.reset({**{f"q{i}": "good" for i in range(CASES)},
                    **{f"v2 q{i}": "good" for i in range(CASES)}, "q0": "bad"})
    result = cli("compare", "p.a", "p.b", "-r", "auto", "--max-repeat", "3", "-o", "o.json")
    assert result.exit_code == 0, result.output
    doc = json.loads(Path("o.json").read_text())
    samples = {c["key"][1]: (c["a"]["samples"], c["b"]["samples"]) for c in doc["cases"]}
    assert samples["c0"] == (3, 3) and samples["c1"] == (1, 1)


# -- models and runs ----------------------------------------------------------------------
def test_two_models(make_project, scripted, cli):
    make_project({"promptctl.yaml": CONFIG, "prompts/p.yaml": PROMPTS,
                  "suites/s.yaml": suite(repeat=2)})
    # answers are indexed by seed: bot draws seeds 0-1 (bad), bot2 seeds 100-101 (good)
    scripted.reset({f"q{i}": ["bad"] * 100 + ["good"] * 100 for i in range(CASES)})
    result = cli("compare", "bot", "bot2")
    assert result.exit_code == 0, result.output
    assert "B is better on pass rate: +100 points" in result.stdout
    assert "s/c3 [p.a]" in result.stdout
    assert cli("compare", "bot", "bot2", "-m", "bot").exit_code == 2


def test_two_saved_runs_call_no_model(project, cli, scripted):
    latest = Path(".promptctl/runs/latest")
    assert cli("run", "s").exit_code == 1
    first = latest.read_text().strip()
    answers = dict(scripted.answers)
    answers.update({f"q{i}": pattern(4) for i in range(CASES)})
    scripted.reset(answers)
    assert cli("run", "s", "--no-cache").exit_code == 0
    second = latest.read_text().strip()
    scripted.reset()
    result = cli("compare", first[:-1], "latest", "-o", "cmp.md", "-o", "cmp.html")
    assert result.exit_code == 0, result.output
    assert ScriptedProvider.calls == []
    assert "B is better on pass rate: +75 points" in result.stdout
    md = Path("cmp.md").read_text()
    assert md.startswith(f"## promptctl compare: {first} (A) vs {second} (B)")
    assert "| pass rate | 25.0% | 100.0% | +75 |" in md and "| acc |" in md
    page = Path("cmp.html").read_text()
    assert "B is better on pass rate" in page and "default-src 'none'" in page
    seen = visit(Path("cmp.html").resolve())  # its own style is allowed, nothing else loads
    assert seen.requests == [] and seen.violations() == [], seen.console
    assert cli("compare", first, second, "-r", "3").exit_code == 2


# -- bad input and errors -----------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["p.a", "nope"], "'nope' is not a prompt, a model or a run id"),
    (["p.a", "bot"], "'p.a' is a prompt but 'bot' is a model"),
    (["a", "p.b"], "'a' is ambiguous: it names a model and a prompt"),
    (["p.a", "p.b", "-o", "x.txt"], "unsupported output format"),
    (["p.a", "p.b", "-r", "zero"], "bad --repeat"),
])
def test_bad_arguments_exit_2_with_one_line(make_project, cli, args, message):
    make_project({"promptctl.yaml": CONFIG + "  a: {provider: scripted, model: x}\n",
                  "prompts/p.yaml": PROMPTS, "suites/s.yaml": suite()})
    result = cli("compare", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_suite_uses_the_prompts(make_project, cli):
    make_project({"promptctl.yaml": CONFIG, "prompts/p.yaml": PROMPTS,
                  "suites/s.yaml": suite("p.c")})
    result = cli("compare", "p.a", "p.b")
    assert result.exit_code == 2
    assert "no suite uses prompt 'p.a' or 'p.b'" in result.stderr


def test_errors_leave_cases_without_a_verdict_exit_3(project, cli, scripted):
    Path("suites/s.yaml").write_text(suite().replace("q: 'q3'", "q: 'FAIL-INFRA'"))
    result = cli("compare", "p.a", "p.b", "-o", "e.json")
    assert result.exit_code == 3, result.output
    doc = json.loads(Path("e.json").read_text())
    assert doc["exit_code"] == 3 and doc["verdict"].startswith("B is better")
    assert [c["scored"] for c in doc["cases"]].count(False) == 1


# -- the embedded model -------------------------------------------------------------------
CAPITALS = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"),
            ("England", "London"), ("Japan", "Tokyo"), ("Spain", "Madrid"),
            ("Greece", "Athens"), ("Egypt", "Cairo"), ("China", "Beijing"),
            ("Russia", "Moscow")]
GEO = """
prompts:
  capital:
    params: {max_tokens: 12}
    messages:
      - {role: system, content: "Answer in one word."}
      - {role: user, content: "What is the capital of {{ country }}?"}
  capital_es:
    params: {max_tokens: 12}
    messages:
      - {role: system, content: "Answer in Spanish, with one word."}
      - {role: user, content: "What is the capital of {{ country }}? Responde en español."}
"""


@pytest.mark.slow
def test_embedded_model_two_prompt_versions(make_project, cli):
    cases = "".join(f"  - {{id: {c.lower()}, vars: {{country: {c}}}, "
                    f"assert: [{{type: icontains, value: {cap}}}]}}\n" for c, cap in CAPITALS)
    make_project({"prompts/geo.yaml": GEO,
                  "suites/capitals.yaml": f"prompts: [geo.capital]\ncases:\n{cases}"})
    worse = cli("compare", "geo.capital", "geo.capital_es", "-o", "c.json")
    assert worse.exit_code == 0, worse.output
    doc = json.loads(Path("c.json").read_text())
    rate = doc["differences"][0]
    assert rate["name"] == "pass rate" and rate["diff"] < 0 and rate["losses"] > rate["wins"]
    assert rate["significant"] and doc["verdict"].startswith("B is worse on pass rate")
    same = cli("compare", "geo.capital", "geo.capital")
    assert same.exit_code == 0, same.output
    assert "no detectable difference with these samples" in same.stdout
