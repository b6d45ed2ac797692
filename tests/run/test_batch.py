"""Batch mode (issue 18 item 1): an openai model's uncached calls through the OpenAI
Batch API, end to end through the real CLI, against tests/helpers/batch_server.py: a
loopback server of the Batch API's protocol that answers every line with the REAL
llama_cpp.server (`llama_server`); only the batch envelope is simulated. One server for
the module; each test sets its options and gets a fresh project.

The protocol's pure parts (the split at the limits, an output line read) are tested on
their own first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import write_files
from helpers.batch_server import BatchServer

from promptctl.providers.openai_batch import parse_results, request_line, split

PRICE = {"input": 2e-6, "output": 4e-6, "batch_input": 1e-6, "batch_output": 2e-6}
COUNTRIES = [("france", "France"), ("italy", "Italy"), ("spain", "Spain")]


# -- the protocol's pure parts ------------------------------------------------------------

def test_split_cuts_at_the_request_and_byte_limits_and_sets_aside_a_line_too_big():
    lines = [(f"c{i}", request_line(f"c{i}", {"messages": [{"content": "x" * n}]}))
             for i, n in enumerate([10, 10, 10, 500, 10])]
    files, too_big = split(lines, max_requests=2, max_bytes=300)
    assert too_big == ["c3"]
    assert [[cid for cid, _ in f] for f in files] == [["c0", "c1"], ["c2", "c4"]]
    by_bytes, _ = split(lines[:3], max_requests=50, max_bytes=len(lines[0][1]) * 2)
    assert [len(f) for f in by_bytes] == [2, 1]
    first = json.loads(lines[0][1])
    assert first["method"] == "POST" and first["url"] == "/v1/chat/completions"


def test_an_output_line_answers_only_with_status_200_and_no_error():
    text = "\n".join(json.dumps(x) for x in [
        {"id": "r1", "custom_id": "a", "response": {"status_code": 200, "body": {"x": 1}},
         "error": None},
        {"id": "r2", "custom_id": "b", "response": {"status_code": 429, "body": {
            "error": {"message": "slow down"}}}, "error": None},
        {"id": "r3", "custom_id": "c", "response": None,
         "error": {"code": "server_error", "message": "boom"}},
    ]) + "\nnot json\n"
    got = parse_results(text)
    assert got["a"].body == {"x": 1} and got["a"].error is None
    assert got["b"].body is None and got["b"].error == "batch line failed: HTTP 429: slow down"
    assert got["c"].error == "batch line failed: server_error: boom"
    assert set(got) == {"a", "b", "c"}


def test_batch_true_on_a_model_of_another_provider_is_refused(make_project, cli):
    make_project({
        "promptctl.yaml": "models:\n  e: {provider: echo, batch: true}\n",
        "prompts/p.yaml": "prompts:\n  a:\n    template: hi\n",
        "suites/s.yaml": "prompts: [p.a]\nmodels: [e]\ncases:\n  - id: c\n",
    })
    result = cli("run", "-q")
    assert result.exit_code == 2
    assert "promptctl.yaml:2: models.e: batch: true needs provider openai" in result.stderr
    assert not Path(".promptctl/runs").exists()  # refused before any run folder
    # --batch leaves other providers online
    (Path("promptctl.yaml")).write_text("models:\n  e: {provider: echo}\n")
    online = cli("run", "--batch", "-q")
    assert online.exit_code == 0, online.output
    assert not list(Path(".promptctl/runs").glob("*/batches.json"))


def test_a_broken_batches_json_is_exit_2_naming_its_line(make_project, cli):
    root = make_project({
        "promptctl.yaml": "models:\n  e: {provider: echo}\n",
        "prompts/p.yaml": "prompts:\n  a:\n    template: hi\n",
        "suites/s.yaml": "prompts: [p.a]\nmodels: [e]\ncases:\n  - id: c\n",
    })
    assert cli("run", "-q").exit_code == 0
    (latest(root) / "batches.json").write_text(
        '{"version": 1,\n "batches": [{"id": "b", "model": "e"}]}\n')
    result = cli("batches")
    assert result.exit_code == 2
    assert "batches.json:2" in result.stderr and "input_file_id" in result.stderr


# -- end to end -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(llama_server: str) -> Iterator[BatchServer]:
    with BatchServer(llama_server) as srv:
        yield srv


@pytest.fixture
def batch(server: BatchServer) -> Iterator[BatchServer]:
    """The module's server with its options reset and its counts at zero."""
    server.fail_lines, server.status_lines, server.expire_after = set(), set(), None
    server.release()
    server.reset_counts()
    yield server
    server.release()


def project(root: Path, base_url: str, **limits: Any) -> Path:
    entry = {"provider": "openai", "model": "gpt-4o-mini", "base_url": base_url,
             "params": {"temperature": 0, "seed": 0, "max_tokens": 3}, "price": PRICE,
             "max_retries": 0,
             "batch_limits": {"poll_seconds": 0.05, "poll_max_seconds": 0.2, **limits}}
    cases = "".join(f"  - id: {cid}\n    vars: {{country: {name}}}\n"
                    f"    assert: [{{type: icontains, value: \"{name[:2]}\"}}]\n"
                    for cid, name in COUNTRIES)
    return write_files(root, {
        "promptctl.yaml": "models:\n  hosted: " + json.dumps(entry) + "\n",
        "prompts/geo.yaml": """
            prompts:
              capital:
                template: "Say: {{ country }}."
            """,
        "suites/geo.yaml": "prompts: [geo.capital]\nmodels: [hosted]\ncases:\n" + cases,
    })


def latest(root: Path) -> Path:
    runs = root / ".promptctl/runs"
    return runs / (runs / "latest").read_text().strip()


def records(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The last record per case (a retried call's replaces its error)."""
    out = {}
    for line in (run_dir / "records.jsonl").read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            out[rec["case"]] = rec
    return out


def ledger(run_dir: Path) -> list[dict[str, Any]]:
    return json.loads((run_dir / "batches.json").read_text())["batches"]


@pytest.mark.slow
def test_a_batch_run_is_answered_scored_cached_and_priced_at_the_batch_price(
        tmp_path, monkeypatch, cli, batch):
    root = project(tmp_path, batch.base_url)
    monkeypatch.chdir(root)
    first = cli("run", "--batch", "-o", "out.json")
    assert batch.batches_created == 1 and batch.forwarded == 3 and batch.online == 0
    recs = records(latest(root))
    assert set(recs) == set(dict(COUNTRIES))
    for rec in recs.values():  # a real model's answers, scored by the suite's checks
        assert rec["error"] is None and rec["output"] and not rec["cached"]
        assert rec["assertions"][0]["type"] == "icontains"
    assert first.exit_code == (0 if all(r["passed"] for r in recs.values()) else 1)
    assert "submitted, 3 requests" in first.stderr and "collected (completed" in first.stderr
    # the cost is the batch price of the tokens each line used
    summary = json.loads((root / "out.json").read_text())["summary"]
    tokens = summary["tokens"]
    want = tokens["prompt"] * PRICE["batch_input"] + tokens["completion"] * PRICE["batch_output"]
    assert tokens["prompt"] > 0 and summary["cost"] == pytest.approx(want, abs=1e-6)
    entry, = ledger(latest(root))
    assert entry["status"] == "completed" and entry["collected"] is True
    assert json.loads((latest(root) / "meta.json").read_text())["options"]["batch"] is True

    again = cli("run", "--batch", "-q")  # all cached: no batch, no call
    assert again.exit_code == first.exit_code
    assert batch.batches_created == 1 and batch.forwarded == 3
    assert all(r["cached"] for r in records(latest(root)).values())
    assert not (latest(root) / "batches.json").exists()
    shown = cli("batches", latest(root).name)
    assert shown.exit_code == 2 and "has no batches" in shown.stderr


@pytest.mark.slow
def test_a_plan_over_the_request_limit_is_split_into_several_batches(
        tmp_path, monkeypatch, cli, batch):
    root = project(tmp_path, batch.base_url, max_requests=2)
    monkeypatch.chdir(root)
    result = cli("run", "--batch", "-q")
    assert result.exit_code in (0, 1), result.output
    assert batch.files_created == 2 and batch.batches_created == 2
    assert [len(e["custom_ids"]) for e in ledger(latest(root))] == [2, 1]
    assert all(r["error"] is None for r in records(latest(root)).values())
    table = cli("batches")
    assert table.exit_code == 0
    assert "batch_" in table.stdout and table.stdout.count("completed") == 2


@pytest.mark.slow
def test_failed_lines_are_errors_that_retry_errors_fixes_in_a_batch_or_online(
        tmp_path, monkeypatch, cli, batch):
    root = project(tmp_path, batch.base_url)
    monkeypatch.chdir(root)
    batch.fail_lines, batch.status_lines = {0}, {2}  # the error file; a 500 line
    result = cli("run", "--batch", "-q")
    assert result.exit_code == 3, result.output  # errors, no failed case
    recs = records(latest(root))
    assert recs["france"]["error"] == "batch line failed: server_error: injected line failure"
    assert recs["spain"]["error"] == "batch line failed: HTTP 500: injected 500"
    assert recs["italy"]["error"] is None and recs["italy"]["output"]
    # again in a batch: the two errored calls only, one of them failing again
    batch.fail_lines, batch.status_lines = {1}, set()
    retried = cli("run", "--retry-errors", "--batch", "-q")
    assert retried.exit_code == 3, retried.output
    assert batch.batches_created == 2 and len(ledger(latest(root))[1]["custom_ids"]) == 2
    left = [c for c, r in records(latest(root)).items() if r["error"]]
    assert left == ["spain"]
    # online: no batch, one direct call
    online = cli("run", "--retry-errors", "-q")
    assert online.exit_code in (0, 1), online.output
    assert batch.batches_created == 2 and batch.online == 1
    assert all(r["error"] is None for r in records(latest(root)).values())


@pytest.mark.slow
def test_an_expired_batch_leaves_its_unanswered_calls_as_errors(
        tmp_path, monkeypatch, cli, batch):
    root = project(tmp_path, batch.base_url)
    monkeypatch.chdir(root)
    batch.expire_after = 1
    result = cli("run", "--batch", "-q")
    assert result.exit_code == 3, result.output
    recs = records(latest(root))
    assert recs["france"]["error"] is None and recs["france"]["output"]
    entry, = ledger(latest(root))
    assert entry["status"] == "expired" and entry["collected"]
    for case in ("italy", "spain"):
        assert recs[case]["error"] == (f"batch {entry['id']} ended expired without this "
                                       "call's result")


def _start_held_run(root: Path, batch: BatchServer, batches: int = 1
                    ) -> subprocess.Popen[str]:
    """`run --batch` in a subprocess, once its batches are created and held in_progress."""
    batch.holding.set()
    proc = subprocess.Popen([sys.executable, "-m", "promptctl", "run", "--batch", "-q"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 30
    runs = root / ".promptctl/runs"
    while time.monotonic() < deadline:
        if batch.batches_created >= batches and (runs / "latest").exists():
            found = latest(root) / "batches.json"
            if found.exists() and len([e for e in ledger(latest(root)) if e["id"]]) == batches:
                return proc
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the batch was never submitted")


@pytest.mark.slow
def test_a_run_killed_while_polling_is_resumed_from_its_batch_without_a_new_one(
        tmp_path, monkeypatch, cli, batch):
    root = project(tmp_path, batch.base_url)
    monkeypatch.chdir(root)
    proc = _start_held_run(root, batch)
    time.sleep(0.3)  # a few polls
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = latest(root)
    assert not (run_dir / "summary.json").exists() and records(run_dir) == {}
    shown = cli("batches")
    assert shown.exit_code == 0 and "in_progress (not collected)" in shown.stdout
    # as if killed between batches.create and writing its id down: found by its file
    doc = json.loads((run_dir / "batches.json").read_text())
    doc["batches"][0]["id"] = None
    (run_dir / "batches.json").write_text(json.dumps(doc))
    batch.release()
    resumed = cli("run", "--resume", "-q")
    assert resumed.exit_code in (0, 1), resumed.output
    assert batch.batches_created == 1 and batch.files_created == 1  # paid once
    assert batch.online == 0 and batch.forwarded == 3
    assert all(r["error"] is None for r in records(run_dir).values())
    assert (run_dir / "summary.json").exists() and ledger(run_dir)[0]["collected"]


@pytest.mark.slow
def test_a_resume_submits_in_a_batch_only_the_calls_no_listed_batch_holds(
        tmp_path, monkeypatch, cli, batch):
    root = project(tmp_path, batch.base_url, max_requests=2)
    monkeypatch.chdir(root)
    proc = _start_held_run(root, batch, batches=2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # as if killed before the second file was uploaded: its call is in no batch
    run_dir = latest(root)
    doc = json.loads((run_dir / "batches.json").read_text())
    kept, dropped = doc["batches"]
    doc["batches"] = [kept]
    (run_dir / "batches.json").write_text(json.dumps(doc))
    batch.release()
    resumed = cli("run", "--resume", "-q")
    assert resumed.exit_code in (0, 1), resumed.output
    assert batch.batches_created == 3 and batch.online == 0  # in a batch, as the run was
    entries = ledger(run_dir)
    assert [e["custom_ids"] for e in entries] == [kept["custom_ids"], dropped["custom_ids"]]
    assert entries[1]["id"] not in (kept["id"], dropped["id"])
    assert all(r["error"] is None for r in records(run_dir).values())


@pytest.mark.slow
def test_cancel_stops_a_killed_runs_batch_and_resume_records_its_calls_as_errors(
        tmp_path, monkeypatch, cli, batch):
    root = project(tmp_path, batch.base_url)
    monkeypatch.chdir(root)
    proc = _start_held_run(root, batch)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cancelled = cli("batches", "--cancel")
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancel" in cancelled.stdout  # cancelling, or cancelled already
    batch.release()
    resumed = cli("run", "--resume", "-q")
    assert resumed.exit_code == 3, resumed.output
    errors = {r["error"] for r in records(latest(root)).values()}
    entry, = ledger(latest(root))
    assert entry["status"] == "cancelled"
    assert errors == {f"batch {entry['id']} ended cancelled without this call's result"}
    assert batch.batches_created == 1 and batch.forwarded == 0


@pytest.mark.slow
def test_baseline_update_and_check_take_batch_too(tmp_path, monkeypatch, cli, batch):
    root = project(tmp_path, batch.base_url)
    monkeypatch.chdir(root)
    updated = cli("baseline", "update", "--batch")
    assert updated.exit_code == 0, updated.output
    assert batch.batches_created == 1 and (root / "baselines/geo.json").exists()
    checked = cli("check", "--batch", "-q")  # the same calls: cached, no batch
    assert checked.exit_code == 0, checked.output
    assert batch.batches_created == 1 and batch.forwarded == 3


@pytest.mark.slow
def test_a_spend_limit_reserves_each_line_at_the_batch_price_before_upload(
        tmp_path, monkeypatch, cli, batch):
    """--max-cost in batch mode: each line reserves its upper-bound estimate at the
    batch price before the file is uploaded; the lines that do not fit are never sent,
    are recorded as not run (exit 3), and a resume with a higher limit batches only them."""
    from promptctl.providers.base import PER_CALL_TOKENS, PER_MESSAGE_TOKENS

    root = project(tmp_path, batch.base_url)
    monkeypatch.chdir(root)
    bounds = [PER_CALL_TOKENS + PER_MESSAGE_TOKENS + len("user") + len(f"Say: {name}.")
              for _, name in COUNTRIES]
    at_batch = [b * PRICE["batch_input"] + 3 * PRICE["batch_output"] for b in bounds]
    online_two = (bounds[0] + bounds[1]) * PRICE["input"] + 6 * PRICE["output"]
    limit = sum(at_batch[:2]) + at_batch[2] / 2  # two lines fit at the batch price
    assert limit < online_two  # ...and at the online price only one would
    result = cli("run", "--batch", "--max-cost", f"{limit:.8f}", "-o", "out.json")
    assert result.exit_code == 3, result.output
    assert batch.batches_created == 1 and batch.forwarded == 2
    recs = records(latest(root))
    not_run = [c for c, r in recs.items() if r["error"] == "not run: budget reached"]
    assert not_run == ["spain"]
    assert all(recs[c]["error"] is None for c in ("france", "italy"))
    assert "1 call not run" in result.stdout
    assert json.loads((root / "out.json").read_text())["summary"]["cost"] <= limit

    resumed = cli("run", "--resume", "--max-cost", "1", "-q")
    assert resumed.exit_code in (0, 1), resumed.output
    assert batch.batches_created == 2 and batch.forwarded == 3  # only the line left out
    assert [len(e["custom_ids"]) for e in ledger(latest(root))] == [2, 1]
    assert all(r["error"] is None for r in records(latest(root)).values())


@pytest.mark.slow
def test_a_traced_batch_run_has_a_span_per_line_and_its_wait_in_the_batch_stage(
        tmp_path, monkeypatch, cli, batch):
    """--trace with --batch: each line's call span covers its batch from the upload to
    the collection, with the real usage; the wait is the timing's `batch` stage, once,
    not model time summed over the lines."""
    from helpers.otlp_receiver import Receiver

    root = project(tmp_path, batch.base_url)
    monkeypatch.chdir(root)
    with Receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
        result = cli("run", "--batch", "-o", "out.json")
        assert result.exit_code in (0, 1), result.output
        spans = receiver.spans
    calls = [s for s in spans if s.name == "chat gpt-4o-mini"]
    assert len(calls) == 3 and batch.batches_created == 1
    recs = records(latest(root))
    for span in calls:
        assert span.end_ns - span.start_ns > 0
        assert span.attributes["gen_ai.usage.output_tokens"] > 0
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in calls) == \
        sum(r["tokens"]["prompt"] for r in recs.values())
    busy = json.loads((root / "out.json").read_text())["timing"]["busy_seconds"]
    wall = json.loads((root / "out.json").read_text())["timing"]["wall_seconds"]
    assert 0 < busy["batch"] <= wall
    assert busy["model"] < busy["batch"]  # the lines' wait is not model time per call
