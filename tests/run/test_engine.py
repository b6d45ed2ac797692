"""The engine (promptctl/engine.py, promptctl/aio.py): async lanes keep `width` calls
in flight as coroutines on one event loop, sync lanes use worker threads, both run at
once, and failures and interruptions reach the runner's thread.

The engine is tested on its own with plain callables; the runner's use of it goes over
real HTTP to the canned stub (tests/helpers/stub_server.py) through the real openai SDK."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.stub_server import Stub

from promptctl import aio
from promptctl.load.project import load_project
from promptctl.load.suites import load_suite
from promptctl.run.engine import Engine
from promptctl.run.options import RunOptions
from promptctl.run.runner import run_suites


def test_an_async_lane_keeps_width_calls_in_flight_without_a_thread_each():
    in_flight = peak = 0
    threads_seen: set[int] = set()

    async def call(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        threads_seen.add(threading.get_ident())
        await asyncio.sleep(0.02)
        in_flight -= 1
        return i

    engine = Engine()
    engine.add_async(range(400), 50, call)
    got: list[int] = []
    engine.wait(got.append)
    assert sorted(got) == list(range(400))
    assert peak == 50  # 50 calls asleep at once: in flight together, not one by one
    assert len(threads_seen) == 1  # every call on the one loop thread


def test_a_sync_lane_and_an_async_lane_run_at_the_same_time():
    # the local model: one call at a time in its own thread, while hosted calls proceed
    local_threads: set[str] = set()
    spans: dict[str, list[tuple[float, float]]] = {"local": [], "hosted": []}

    def local(i: int) -> str:
        local_threads.add(threading.current_thread().name)
        start = time.monotonic()
        time.sleep(0.1)
        spans["local"].append((start, time.monotonic()))
        return f"local {i}"

    async def hosted(i: int) -> str:
        start = time.monotonic()
        await asyncio.sleep(0.1)
        spans["hosted"].append((start, time.monotonic()))
        return f"hosted {i}"

    engine = Engine()
    engine.add_threads(range(5), 1, local)
    engine.add_async(range(50), 10, hosted)
    got: list[str] = []
    engine.wait(got.append)
    assert len(got) == 55
    # side by side, not one after the other: hosted calls ran while local ones did
    # (an order of events, not a wall-clock budget a loaded CI box can miss)
    assert overlapping(spans["hosted"], spans["local"]) >= 10
    assert len(local_threads) == 1


def overlapping(these: list[tuple[float, float]], those: list[tuple[float, float]]) -> int:
    """How many of `these` time spans overlap one of `those`."""
    return sum(any(a < d and c < b for c, d in those) for a, b in these)


def test_records_are_handed_over_in_batches_with_one_call_after_each():
    batches: list[int] = []
    seen: list[int] = []

    async def quick(i: int) -> int:
        return i

    engine = Engine()
    engine.add_async(range(300), 30, quick)
    engine.wait(seen.append, lambda: batches.append(len(seen)))
    assert sorted(seen) == list(range(300))
    assert batches and batches[-1] == 300
    assert len(batches) < 300  # records that finished together share one flush


@pytest.mark.parametrize("lane", ["threads", "async"])
def test_a_worker_that_raises_reaches_the_waiting_thread(lane):
    def boom(i: int) -> int:
        if i == 3:
            raise ZeroDivisionError("a bug in a check")
        return i

    async def aboom(i: int) -> int:
        return boom(i)

    engine = Engine()
    if lane == "threads":
        engine.add_threads(range(10), 2, boom)
    else:
        engine.add_async(range(10), 2, aboom)
    with pytest.raises(ZeroDivisionError, match="a bug in a check"):
        engine.wait(lambda record: None)
    engine.abort()


def test_abort_cancels_the_coroutines_in_flight_at_once():
    cancelled = threading.Event()
    started = threading.Event()

    async def slow(i: int) -> int:
        if i == 0:
            return i
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return i

    class Stop(Exception):
        pass

    def finish(record: int) -> None:
        started.wait(5)
        raise Stop  # what Ctrl-C does to the runner's thread

    engine = Engine()
    engine.add_async(range(20), 5, slow)
    start = time.monotonic()
    with pytest.raises(Stop):
        engine.wait(finish)
    engine.abort()
    assert cancelled.wait(2)
    assert time.monotonic() - start < 3


def test_a_blocking_call_on_the_loop_thread_is_refused_not_a_deadlock():
    async def inner() -> int:
        return 1

    async def outer() -> str:
        try:
            aio.run(inner())
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert "worker thread" in aio.run(outer())


# -- the runner on the engine, over real HTTP -----------------------------------------


@pytest.fixture
def slow_stub() -> Iterator[Stub]:
    server = Stub(delay=0.1)
    yield server
    server.close()


def hosted_project(make_project: Any, stub: Stub, cases: int, check: str) -> Any:
    rows = "\n".join(f"  - {{id: c{i}, vars: {{n: {i}}}}}" for i in range(cases))
    return make_project({
        "promptctl.yaml": f"models:\n  hosted: {{provider: openai, model: stub, "
                          f"base_url: '{stub.url}/v1', api_key: sk-test, concurrency: 20}}\n",
        "prompts/p.yaml": "prompts:\n  ask:\n    template: 'Say {{ n }}'\n",
        "checks.py": "import threading\n\n"
                     "def where(output, ctx):\n"
                     "    return {'pass': True, 'score': 1.0,\n"
                     "            'reason': threading.current_thread().name}\n",
        "suites/s.yaml": f"prompts: [p.ask]\nmodels: [hosted]\n"
                         f"defaults:\n  assert:\n    - {check}\ncases:\n{rows}\n",
    })


def test_hosted_calls_fan_out_to_the_model_limit_on_the_event_loop(make_project, slow_stub):
    root = hosted_project(make_project, slow_stub, 60, "{type: icontains, value: echo}")
    project = load_project(root)
    suites = [load_suite(project, p) for p in project.suite_paths()]
    before = {t.name for t in threading.enumerate()}
    seen_threads: set[str] = set()

    def on_record(record: Any) -> None:
        seen_threads.update(t.name for t in threading.enumerate())

    result = run_suites(project, suites, RunOptions(use_cache=False), on_record=on_record,
                        record_run=False)
    assert result.summary.passed == 60 and slow_stub.requests == 60
    # the model's concurrency, never more (the stub counts a request once its body is
    # read, so a connection still being set up can leave the first wave one short)
    assert 18 <= slow_stub.peak <= 20
    new = seen_threads - before
    # the stub server's request threads aside, no worker thread per call: the calls
    # are coroutines on the one loop thread
    assert not [n for n in new if n.startswith(("pc-worker", "pc-hosted", "pc-score"))]


def test_checks_that_may_block_are_scored_off_the_event_loop(make_project, slow_stub):
    # a plugin's assertion type (user code, in-process) could block, or ask a judge:
    # never on the loop thread. (A python check runs in a worker process; the wait for
    # its answer takes this same path: `python` is not an inline type either.)
    from promptctl.assertions import register, runs_inline
    from promptctl.schema import AssertionSpec

    register("where-test", needs_value=False)(
        lambda output, arg, ctx: (True, 1.0, threading.current_thread().name, None))
    root = hosted_project(make_project, slow_stub, 6, "{type: where-test}")
    project = load_project(root)
    suites = [load_suite(project, p) for p in project.suite_paths()]
    result = run_suites(project, suites, RunOptions(use_cache=False), record_run=False)
    threads = {r.assertions[0].reason for r in result.records}
    assert all(name.startswith("pc-score") for name in threads), threads
    assert not runs_inline([AssertionSpec(type="python", value="checks:where")])


def test_a_serial_local_model_and_a_hosted_model_run_side_by_side(make_project, slow_stub,
                                                                  scripted):
    # a one-at-a-time model (the scripted stand-in for llama-cpp: a sync provider of
    # width 1) in the same run as 100 hosted calls: the hosted lane does not wait for it
    scripted.reset(delay=0.2)
    scripted.default = "echo"
    rows = "\n".join(f"  - {{id: c{i}, vars: {{n: {i}}}}}" for i in range(100))
    root = make_project({
        "promptctl.yaml": f"models:\n  hosted: {{provider: openai, model: stub, "
                          f"base_url: '{slow_stub.url}/v1', api_key: sk-test, "
                          f"concurrency: 20}}\n  local: {{provider: scripted, concurrency: 1}}\n",
        "prompts/p.yaml": "prompts:\n  ask:\n    template: 'Say {{ n }}'\n",
        "suites/hosted.yaml": f"prompts: [p.ask]\nmodels: [hosted]\n"
                              f"defaults:\n  assert:\n    - {{type: icontains, value: echo}}\n"
                              f"cases:\n{rows}\n",
        "suites/local.yaml": "prompts: [p.ask]\nmodels: [local]\n"
                             "defaults:\n  assert:\n    - {type: icontains, value: echo}\n"
                             "cases:\n" + "\n".join(f"  - {{id: l{i}, vars: {{n: {i}}}}}"
                                                    for i in range(5)) + "\n",
    })
    project = load_project(root)
    suites = [load_suite(project, p) for p in project.suite_paths()]
    result = run_suites(project, suites, RunOptions(use_cache=False), record_run=False)
    assert result.summary.passed == 105
    assert scripted.max_in_flight == 1  # the local model: one call at a time
    # side by side: hosted requests were served while local calls were running (one
    # after the other, none would be); an order of events, not a wall-clock budget
    assert overlapping(slow_stub.spans, scripted.spans) >= 20


def test_ctrl_c_stops_a_hosted_run_at_once_and_resume_finishes_it(make_project, tmp_path):
    # calls of 1.5 s at -j 4: Ctrl-C after the first answers must not wait for the
    # calls in flight (their coroutines are cancelled), must keep what finished, and
    # the run must resume to completion
    import os
    import signal
    import subprocess
    import sys

    from promptctl.run.store import read_records

    server = Stub(delay=1.5)
    try:
        root = hosted_project(make_project, server, 12, "{type: icontains, value: echo}")
        (root / "promptctl.yaml").write_text(
            (root / "promptctl.yaml").read_text().replace("concurrency: 20", "concurrency: 4"))
        proc = subprocess.Popen([sys.executable, "-m", "promptctl", "run", "--no-cache"],
                                cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "COLUMNS": "200"})
        runs = root / ".promptctl" / "runs"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the first wave has answered
            found = list(runs.glob("*/records.jsonl")) if runs.is_dir() else []
            if found and found[0].read_text().count("\n") >= 4:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # the second wave is in flight now
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        stopped = time.monotonic() - interrupted
        assert proc.returncode == 130, out + err
        assert stopped < 1.0, stopped  # not the 1.2 s left of the calls in flight
        assert "Traceback" not in err
        (run_dir,) = [d for d in runs.iterdir() if d.is_dir()]
        kept = list(read_records(run_dir))
        assert 4 <= len(kept) < 12 and all(r.passed for r in kept)

        done = subprocess.run([sys.executable, "-m", "promptctl", "run", "--resume"],
                              cwd=root, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        records = list(read_records(run_dir))
        assert len(records) == len({r.key for r in records}) == 12
        assert server.requests <= 12 + 4  # only the calls cut off were made again
    finally:
        server.close()
