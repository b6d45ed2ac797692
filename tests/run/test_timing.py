"""Where a run's time went (issue 18 item 5): per-stage busy time and the wall time, in
summary.json, the JSON report and `run --verbose`; a retried hosted call's wait is
queue wait, not model time."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from promptctl.run.store import read_summary
from promptctl.run.timing import STAGES, Timing

PROJECT = {
    "promptctl.yaml": "models: {}\n",
    "prompts/p.yaml": """
        prompts:
          ask:
            template: 'Say hello to {{ name }}'
        """,
    "suites/greet.yaml": """
        prompts: [p.ask]
        models: [echo]
        cases:
          - from: names.jsonl
        defaults:
          assert:
            - {type: icontains, value: hello}
            - {type: python, value: "len(output) > 5"}
        """,
    "suites/names.jsonl": "".join(json.dumps({"id": f"n{i}", "name": f"N{i}"}) + "\n"
                                 for i in range(40)),
}


def test_the_json_report_and_summary_json_split_the_wall_time_into_stages(
        make_project, cli):
    make_project(PROJECT)
    start = time.perf_counter()
    result = cli("run", "-o", "out.json")
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    assert "time:" not in result.stdout  # only with --verbose
    doc = json.loads(Path("out.json").read_text())
    timing = doc["timing"]
    busy = timing["busy_seconds"]
    assert list(busy) == sorted(STAGES)  # every stage, sorted as the document is
    assert all(v >= 0 for v in busy.values())
    # a serial run (echo: one call at a time): the stages fit in the wall time, which
    # is within what the command took
    assert 0 < sum(busy.values()) <= timing["wall_seconds"] <= elapsed
    for stage in ("load", "render", "model", "scoring", "writing"):
        assert busy[stage] > 0, stage
    assert busy["queue_wait"] == 0  # echo never waits for a slot
    # the python checks run in worker processes: scoring dominates the calls' stages
    assert busy["scoring"] > busy["model"]
    # summary.json keeps the same figures beside its summary; existing keys unchanged
    saved = read_summary(Path(".promptctl/runs") / doc["run_id"])
    assert saved is not None
    assert saved["timing"] == timing and saved["summary"] == doc["summary"]


def test_run_verbose_prints_the_stages(make_project, cli):
    make_project(PROJECT)
    out = cli("run", "--verbose", "-k", "n1").stdout
    line = next(x for x in out.splitlines() if x.startswith("time:"))
    assert "s wall; busy, summed over calls: load " in line
    for words in ("render", "queue wait", "model", "scoring", "writing"):
        assert f" {words} " in line


def test_the_accumulator_counts_every_add_from_many_threads():
    timing = Timing()

    def work() -> None:
        for _ in range(5000):
            timing.add("model", 3)
            timing.add("scoring", 1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    timing.end()
    busy = timing.busy_ns()
    assert (busy["model"], busy["scoring"]) == (8 * 5000 * 3, 8 * 5000)
    assert timing.to_dict()["wall_seconds"] >= 0
    # epoch_ns maps the perf clock onto wall-clock time, for spans
    assert abs(timing.epoch_ns(timing.started_ns) - time.time_ns()) < 60 * 10**9


@pytest.mark.slow
def test_a_retried_call_waits_in_the_queue_not_in_the_model(make_project, cli,
                                                            fault_proxy):
    proxy = fault_proxy(script=["429", "ok"], retry_after=0.5,
                        only_paths=["/v1/chat/completions"])
    make_project({**PROJECT, "promptctl.yaml": f"""
        models:
          hosted:
            provider: openai
            model: smollm2
            base_url: '{proxy.base_url}/v1'
            params: {{temperature: 0, max_tokens: 2}}
        """, "suites/greet.yaml": """
        prompts: [p.ask]
        models: [hosted]
        cases:
          - {id: one, vars: {name: Ann}, assert: [{type: not-is-json}]}
        """})
    result = cli("run", "--no-cache", "-o", "out.json")
    assert result.exit_code == 0, result.output
    doc = json.loads(Path("out.json").read_text())
    assert [r["retries"] for r in doc["results"]] == [1]
    busy = doc["timing"]["busy_seconds"]
    # the 429 and the Retry-After wait: queue wait; the answer: model time
    assert busy["queue_wait"] >= 0.5
    assert busy["model"] > 0
    assert busy["queue_wait"] + busy["model"] <= doc["timing"]["wall_seconds"]


def test_checks_diff_document_has_the_timing_of_its_run_and_a_saved_diff_none(
        make_project, cli):
    make_project(PROJECT)
    assert cli("baseline", "update", "-k", "n1").exit_code == 0
    assert cli("check", "-k", "n1", "-o", "diff.json").exit_code == 0
    timing = json.loads(Path("diff.json").read_text())["timing"]
    assert set(timing["busy_seconds"]) == set(STAGES) and timing["wall_seconds"] > 0
    # `diff` of a saved run ran nothing now: no timing in its document
    assert cli("diff", "-o", "saved.json").exit_code == 0
    assert "timing" not in json.loads(Path("saved.json").read_text())
