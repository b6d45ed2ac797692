"""Runner logic on a scripted provider: the matrix, verdicts, cache, errors, streaming."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from helpers import provider_plugin_site

from promptctl.errors import ExitCode
from promptctl.load.project import load_project
from promptctl.load.suites import load_suite
from promptctl.providers import registry
from promptctl.run.options import RunOptions
from promptctl.run.runner import run_suites
from promptctl.run.store import read_records, resolve_run, runs_dir

T = TypeVar("T")

pytestmark = pytest.mark.usefixtures("scripted")


def project_with(make_project, suite: str, config: str = ""):
    files = {
        "prompts/p.yaml": """
            prompts:
              a: {template: "A {{ q }}"}
              b: {template: "B {{ q }}"}
            """,
        "suites/s.yaml": suite,
        "promptctl.yaml": config or """
            models:
              one: {provider: scripted, model: one}
              two: {provider: scripted, model: two, params: {seed: 3}}
            """,
    }
    make_project(files)
    project = load_project()
    return project, [load_suite(project, p) for p in project.suite_paths()]


def test_matrix_of_cases_prompts_models_and_repeats(make_project, scripted):
    project, suites = project_with(make_project, """
        prompts: [p.a, p.b]
        models: [one, two]
        repeat: 2
        cases:
          - {id: x, vars: {q: "1"}, assert: [{type: contains, value: echo}]}
          - {id: y, vars: {q: "2"}, assert: [{type: contains, value: nope}]}
        """)
    result = run_suites(project, suites, RunOptions(use_cache=False))
    keys = {r.key for r in result.records}
    assert len(result.records) == len(keys) == 2 * 2 * 2 * 2
    s = result.summary
    assert (len(s.cells), s.passed, s.failed, s.errors) == (8, 4, 4, 0)
    assert s.pass_rate == 0.5
    assert result.exit_code == ExitCode.FAILED
    seeds = sorted(p.get("seed") for _, p in scripted.calls if p.get("seed") is not None)
    assert seeds == [3] * 4 + [4] * 4  # model "two": repeat i uses seed + i


def test_weighted_threshold_and_metrics(make_project):
    project, suites = project_with(make_project, """
        prompts: [p.a]
        models: [one]
        cases:
          - id: x
            vars: {q: "1"}
            threshold: 0.7
            assert:
              - {type: contains, value: echo, weight: 3, metric: acc}
              - {type: contains, value: nope, weight: 1, metric: acc}
          - id: y
            vars: {q: "2"}
            assert:
              - {type: contains, value: nope, metric: acc}
        """)
    result = run_suites(project, suites, RunOptions(use_cache=False))
    by_case = {r.case: r for r in result.records}
    assert by_case["x"].passed and by_case["x"].score == pytest.approx(0.75)
    assert not by_case["y"].passed
    metric = result.summary.to_dict()["metrics"]["acc"]
    assert metric["n"] == 3 and metric["mean"] == pytest.approx(1 / 3, abs=1e-3)


def test_errors_are_results_not_exceptions_and_never_cached(make_project, scripted):
    project, suites = project_with(make_project, """
        prompts: [p.a]
        models: [one]
        cases:
          - {id: ok, vars: {q: fine}, assert: [{type: contains, value: echo}]}
          - {id: down, vars: {q: FAIL-INFRA}, assert: [{type: contains, value: echo}]}
        """)
    first = run_suites(project, suites, RunOptions())
    assert first.exit_code == ExitCode.INFRA
    down = next(r for r in first.records if r.case == "down")
    assert down.error == "scripted outage" and down.output is None
    second = run_suites(project, suites, RunOptions())
    cached = {r.case: r.cached for r in second.records}
    assert cached == {"ok": True, "down": False}
    assert len(scripted.calls) == 3  # ok once, down twice


def test_a_failure_outranks_an_error_in_the_exit_code(make_project):
    project, suites = project_with(make_project, """
        prompts: [p.a]
        models: [one]
        cases:
          - {id: bad, vars: {q: x}, assert: [{type: contains, value: nope}]}
          - {id: down, vars: {q: FAIL-INFRA}, assert: [{type: contains, value: echo}]}
        """)
    assert run_suites(project, suites, RunOptions()).exit_code == ExitCode.FAILED


def test_cache_key_covers_messages_params_and_repeat(make_project, scripted):
    project, suites = project_with(make_project, """
        prompts: [p.a]
        models: [one]
        repeat: 2
        cases: [{id: x, vars: {q: "1"}, assert: [{type: contains, value: echo}]}]
        """)
    run_suites(project, suites, RunOptions())
    assert len(scripted.calls) == 2  # each repeat is its own entry
    run_suites(project, suites, RunOptions())
    assert len(scripted.calls) == 2
    run_suites(project, suites, RunOptions(params={"temperature": 0.3}))
    assert len(scripted.calls) == 4  # a param change misses the cache
    run_suites(project, suites, RunOptions(use_cache=False))
    assert len(scripted.calls) == 6  # --no-cache always calls


def test_hosted_calls_run_concurrently_up_to_the_limit(make_project, scripted):
    scripted.reset(delay=0.05)
    project, suites = project_with(make_project, """
        prompts: [p.a]
        models: [one]
        cases: [""" + ", ".join(f"{{id: c{i}, vars: {{q: '{i}'}}}}" for i in range(12)) + "]\n")
    run_suites(project, suites, RunOptions(use_cache=False, concurrency=3))
    assert scripted.max_in_flight == 3
    scripted.reset(delay=0.02)
    run_suites(project, suites, RunOptions(use_cache=False, concurrency=1))
    assert scripted.max_in_flight == 1


def test_filter_selects_case_ids(make_project, scripted):
    project, suites = project_with(make_project, """
        prompts: [p.a]
        models: [one]
        cases:
          - {id: billing-1, vars: {q: "1"}}
          - {id: billing-2, vars: {q: "2"}}
          - {id: shipping-1, vars: {q: "3"}}
        """)
    result = run_suites(project, suites, RunOptions(filter="billing"))
    assert sorted(r.case for r in result.records) == ["billing-1", "billing-2"]
    result = run_suites(project, suites, RunOptions(filter="*-1"))
    assert sorted(r.case for r in result.records) == ["billing-1", "shipping-1"]


def test_records_stream_to_the_run_directory(make_project):
    project, suites = project_with(make_project, """
        prompts: [p.a]
        models: [one]
        cases: [{id: x, vars: {q: "1"}, assert: [{type: contains, value: echo}]}]
        """)
    seen = []
    result = run_suites(project, suites, RunOptions(), on_record=seen.append)
    run_dir = resolve_run(runs_dir(project))
    assert run_dir.name == result.run_id
    records = list(read_records(run_dir))
    assert [r.key for r in records] == [r.key for r in seen] == [("s", "x", "p.a", "one", 0)]
    assert records[0].messages == [{"role": "user", "content": "A 1"}]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["summary"]["passed"] == 1
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["calls"] == 1


def loaded(root: Path) -> tuple[Any, list[Any]]:
    project = load_project(root)
    return project, [load_suite(project, p) for p in project.suite_paths()]


def traced(fn: Callable[[], T]) -> tuple[T, int, int]:
    """fn()'s value, and the bytes it left allocated and allocated at its peak."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        value = fn()
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return value, now - base, peak - base


@pytest.mark.parametrize("repeat", ["2", "auto"])
def test_a_small_run_reports_the_records_its_folder_holds(make_project, scripted, repeat):
    """A small run keeps its records in memory beside records.jsonl (runner.HELD_BYTES)
    so that its reports need not read them back: what it reports is what reading the
    folder back gives, in the same order, an adaptive run's extra rounds included."""
    project, suites = project_with(make_project, f"""
        prompts: [p.b, p.a]
        models: [two, one]
        repeat: {repeat}
        cases:
          - {{id: y, vars: {{q: "2"}}, assert: [{{type: contains, value: nope}}]}}
          - {{id: x, vars: {{q: "1"}}, assert: [{{type: contains, value: echo}}]}}
        """)
    options = RunOptions(use_cache=False, auto_repeat=repeat == "auto", max_repeat=3)
    result = run_suites(project, suites, options)
    held = [r.to_dict() for r in result.records]
    assert result._run_dir is None  # held: no reading back
    read = [r.to_dict() for r in read_records(resolve_run(runs_dir(project), result.run_id))]
    order = {(r["suite"], r["case"], r["prompt"], r["model"], r["repeat"]): i
             for i, r in enumerate(held)}
    assert held == sorted(read, key=lambda r: order[r["suite"], r["case"], r["prompt"],
                                                    r["model"], r["repeat"]])
    assert (held[0]["case"], held[0]["prompt"], held[0]["model"]) == ("y", "p.b", "two")
    assert len(held) == len(read) >= 8  # plan order above: the suite's order


@pytest.mark.parametrize("record_run", [True, False])
def test_a_run_that_streams_to_disk_does_not_hold_its_results(make_project, record_run):
    # 600 outputs of ~8 KB each: ~5 MB of results. Streamed to records.jsonl they are
    # not kept (memory is the plan plus the calls in flight); a run without a run
    # directory (record_run=False: the pytest plugin's) keeps them, which shows the
    # measurement can tell the two apart.
    n, size = 600, 8000
    rows = "\n".join(f"  - {{id: c{i}, vars: {{n: {i}}}}}" for i in range(n))
    root = make_project({
        "promptctl.yaml": "models:\n  e: {provider: echo}\n",
        # two messages: echo's output is a new string, not the prompt's own
        "prompts/p.yaml": "prompts:\n  big:\n    messages:\n"
                          "      - {role: system, content: 'Echo.'}\n"
                          "      - {role: user, content: '{{ n }} {{ \"x\" * "
                          + str(size) + " }}'}\n",
        "suites/s.yaml": f"prompts: [p.big]\nmodels: [e]\ndefaults:\n  assert:\n"
                         f"    - {{type: contains, value: x}}\ncases:\n{rows}\n",
    })
    project, suites = loaded(root)
    result, now, peak = traced(lambda: run_suites(project, suites, RunOptions(use_cache=False),
                                                  record_run=record_run))
    plan_bytes = n * size  # the rendered prompts, held by the plan during the run
    assert result.summary.passed == n
    if record_run:
        assert peak < plan_bytes * 1.4  # the plan and the calls in flight
        assert now < plan_bytes * 0.3  # the plan is gone once the run ends
        assert len(result.records) == n  # read back from disk when asked for
    else:
        assert peak > plan_bytes * 1.8  # the plan and every output
        assert now > plan_bytes * 0.9  # the outputs, kept


def test_the_plan_holds_no_rendered_prompts_but_checks_them_all_first(make_project,
                                                                       scripted):
    # a 4 KB system prompt over 400 cases: 1.6 MB once rendered. The plan keeps
    # references to the suite instead; every prompt is still rendered before the first
    # call, so a template error in the last case costs no call at all.
    from promptctl.errors import UserError
    from promptctl.run.plan import plan

    system = "Policy for case {{ n }}. " + "Policy. " * 500  # a new string per case
    rows = "\n".join(f"  - {{id: c{i}, vars: {{n: {i}}}}}" for i in range(400))
    root = make_project({
        "promptctl.yaml": "models:\n  s: {provider: scripted}\n",
        "prompts/p.yaml": "prompts:\n  big:\n    messages:\n"
                          f"      - {{role: system, content: '{system}'}}\n"
                          "      - {role: user, content: 'case {{ n }}'}\n",
        "suites/s.yaml": "prompts: [p.big]\nmodels: [s]\ndefaults:\n"
                         f"  assert:\n    - {{type: contains, value: x}}\ncases:\n{rows}\n",
    })
    project, suites = loaded(root)
    calls, held, _ = traced(lambda: plan(project, suites, RunOptions()))
    rendered = sum(len(m["content"]) for m in calls[0].messages) * len(calls)
    assert len(calls) == 400 and rendered > 1_500_000
    assert held < rendered * 0.15, (held, rendered)

    suite_file = root / "suites" / "s.yaml"
    suite_file.write_text(suite_file.read_text().replace(
        "  - {id: c399, vars: {n: 399}}", "  - {id: c399, vars: {m: 399}}"))
    project, suites = loaded(root)
    with pytest.raises(UserError, match="'n' is undefined"):
        run_suites(project, suites, RunOptions(use_cache=False))
    assert scripted.calls == []


def test_providers_from_the_entry_point_group(make_project, tmp_path, monkeypatch):
    """A plugin registers a provider through the `promptctl.providers` entry points."""
    site = provider_plugin_site(tmp_path / "site", "promptctl-plugin",
                                "plugged = helpers.scripted_provider:ScriptedProvider")
    monkeypatch.syspath_prepend(str(site))
    registry._plugins.cache_clear()
    try:
        assert "plugged" in registry.names()
        project, suites = project_with(make_project, """
            prompts: [p.a]
            models: [plugged]
            cases: [{id: x, vars: {q: "1"}, assert: [{type: contains, value: echo}]}]
            """, config="models: {}\n")
        result = run_suites(project, suites, RunOptions(use_cache=False))
        assert result.records[0].passed
    finally:
        registry._plugins.cache_clear()


def test_a_torn_last_record_is_skipped_but_corruption_is_an_error(make_project):
    from promptctl.errors import UserError

    project, suites = project_with(make_project, """
        prompts: [p.a]
        models: [one]
        cases: [{id: x, vars: {q: "1"}}, {id: y, vars: {q: "2"}}]
        """)
    run_suites(project, suites, RunOptions())
    run_dir = resolve_run(runs_dir(project))
    path = run_dir / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][:20])  # killed while writing the second
    assert [r.case for r in read_records(run_dir)] == [json.loads(lines[0])["case"]]
    path.write_text(lines[0][:20] + "\n" + lines[1])
    with pytest.raises(UserError, match="corrupt run record"):
        list(read_records(run_dir))


@pytest.mark.parametrize("model", ["openai:gpt-4o-mini", "missing.gguf"])
def test_a_model_that_cannot_be_set_up_leaves_no_run_behind(make_project, cli, monkeypatch,
                                                             model):
    """No API key, no GGUF file: exit 2 before a run folder exists, and `latest` still
    names the last real run (a folder with only meta.json would become `latest`)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    root = make_project({
        "prompts/p.yaml": "prompts:\n  q:\n    template: 'Hi {{ name }}'\n",
        "suites/s.yaml": "prompts: [p.q]\ncases:\n  - id: a\n    vars: {name: x}\n"
                         "    assert: [{type: contains, value: x}]\n"})
    assert cli("run", "-m", "echo", "-q").exit_code == 0
    runs = root / ".promptctl" / "runs"
    before = sorted(p.name for p in runs.iterdir())
    latest = (runs / "latest").read_text()
    result = cli("run", "-m", model, "-q")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert sorted(p.name for p in runs.iterdir()) == before
    assert (runs / "latest").read_text() == latest
