"""Concurrency of hosted calls: N requests through `promptctl run -j J` to a loopback
OpenAI-compatible endpoint that answers every chat completion after a fixed delay.

The endpoint is a small asyncio HTTP/1.1 server (keep-alive, standard library only)
started by this script on 127.0.0.1 in a background thread; its reply is canned: this
measures how well promptctl keeps J calls in flight, not a model. promptctl runs as a
subprocess on a generated suite of N cases with `--no-cache`, and the time is compared
with the ideal N x delay / J.

Three phases are printed: start-up (process start to the endpoint's first request:
the interpreter, imports, loading and rendering the suite), the run (first request to
last answer: what concurrency decides, compared with the ideal) and wind-down (last
answer to exit: the summary, the JSON report). Start-up and wind-down are fixed costs
plus a little per case; `--requests 5000` shows them amortised.

Python's bytecode goes to a private PYTHONPYCACHEPREFIX (written even when
PYTHONDONTWRITEBYTECODE is set), so the timed runs load cached bytecode as an installed
promptctl does after its first run, as bench/startup.py does. PYTHONPATH is passed on
(resolved here: PYTHONPATH=. times the checkout). The load average is printed: on a
shared machine the phases stretch with it.

With --tracing, each run is made twice, without and with tracing on
(OTEL_EXPORTER_OTLP_ENDPOINT pointing at the tests' OTLP/HTTP receiver,
tests/helpers/otlp_receiver.py, which decodes every span), and the overhead of tracing
is printed: the medians' difference in process time and in the run phase (goal: under
5% of the process time).

Usage: python bench/concurrency.py [--requests 1000] [-j 50] [--delay 0.2] [--runs 3]
       [--tracing]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPLY = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
}
MODELS = {"object": "list", "data": [{"id": "bench", "object": "model"}]}


class Endpoint:
    """The loopback endpoint: answers after `delay` seconds; counts what it served."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.requests = 0
        self.in_flight = 0
        self.peak = 0
        self.first: float | None = None
        self.last: float | None = None
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="endpoint")

    def start(self) -> Endpoint:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def reset(self) -> None:
        self.requests = self.peak = 0
        self.first = self.last = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        for writer in list(self._writers):  # idle keep-alive connections: EOF ends them
            writer.transport.abort()
        self._loop.run_until_complete(
            asyncio.gather(*asyncio.all_tasks(self._loop), return_exceptions=True))
        self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip()
                           for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                if method == "POST" and path.endswith("/chat/completions"):
                    now = time.perf_counter()
                    self.first = self.first or now
                    self.requests += 1
                    self.in_flight += 1
                    self.peak = max(self.peak, self.in_flight)
                    await asyncio.sleep(self.delay)
                    self.in_flight -= 1
                    body = json.dumps(REPLY).encode()
                else:
                    body = json.dumps(MODELS).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                self.last = time.perf_counter()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


def make_project(root: Path, base_url: str, requests: int, concurrency: int) -> None:
    (root / "prompts").mkdir()
    (root / "suites" / "data").mkdir(parents=True)
    # `concurrency:` on the entry: without it the openai provider's default (8) caps
    # -j, as a model entry's limit does
    (root / "promptctl.yaml").write_text(
        "models:\n"
        f"  bench: {{provider: openai, base_url: '{base_url}', model: bench, "
        f"concurrency: {concurrency}, params: {{max_tokens: 4}}}}\n")
    (root / "prompts" / "bench.yaml").write_text(
        "prompts:\n  ask:\n    template: 'Say ok to request {{ n }}'\n")
    (root / "suites" / "bench.yaml").write_text(
        "prompts: [bench.ask]\nmodels: [bench]\n"
        "defaults:\n  assert:\n    - {type: icontains, value: ok}\n"
        "cases:\n  - from: data/cases.jsonl\n")
    rows = (json.dumps({"id": f"r{i:05d}", "n": i}) for i in range(requests))
    (root / "suites" / "data" / "cases.jsonl").write_text("\n".join(rows) + "\n")


def bench_env(pycache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=pycache, OPENAI_API_KEY="sk-bench")
    if env.get("PYTHONPATH"):  # relative to here, not to the project in a temp folder
        env["PYTHONPATH"] = os.pathsep.join(
            str(Path(p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep) if p)
    return env


def child_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(root: Path, endpoint: Endpoint, jobs: int, expected: int,
             env: dict[str, str]) -> tuple[float, float, float]:
    """(start-up, run seconds as the endpoint saw them, process wall seconds)."""
    endpoint.reset()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "promptctl", "run", "-j", str(jobs),
                           "--no-cache", "-q", "-o", "out.json"], cwd=root,
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"promptctl run exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    summary = json.loads((root / "out.json").read_text())["summary"]
    if summary["passed"] != expected or endpoint.requests != expected:
        raise SystemExit(f"expected {expected} passing calls, got {summary} and "
                         f"{endpoint.requests} requests")
    assert endpoint.first is not None and endpoint.last is not None
    return endpoint.first - start, endpoint.last - endpoint.first, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("-j", "--jobs", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tracing", action="store_true",
                        help="each run also with tracing on: print its overhead")
    args = parser.parse_args()
    if args.tracing:
        tracing_overhead(args)
        return
    ideal = args.requests * args.delay / args.jobs
    endpoint = Endpoint(args.delay).start()
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                tempfile.TemporaryDirectory(prefix="concurrency-pycache-") as pycache:
            root = Path(tmp)
            env = bench_env(pycache)
            make_project(root, f"http://127.0.0.1:{endpoint.port}/v1", args.requests,
                         args.jobs)
            # untimed: writes the bytecode of everything a run imports
            run_once(root, endpoint, args.jobs, args.requests, env)
            print(f"{args.requests} requests, -j {args.jobs}, {args.delay * 1000:.0f} ms "
                  f"each: ideal {ideal:.2f} s; load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            runs, walls, starts = [], [], []
            for i in range(args.runs):
                start, run, wall = run_once(root, endpoint, args.jobs, args.requests, env)
                runs.append(run)
                walls.append(wall)
                starts.append(start)
                print(f"  run {i + 1}: start-up {start:.2f} s, run {run:.2f} s "
                      f"({run / ideal:.3f} x ideal), wind-down {wall - start - run:.2f} s; "
                      f"process {wall:.2f} s ({wall / ideal:.3f} x ideal), "
                      f"peak in flight {endpoint.peak}")
    finally:
        endpoint.stop()
    run, wall = statistics.median(runs), statistics.median(walls)
    verdict = "within" if run <= ideal * 1.10 else "NOT within"
    whole = "within" if wall <= ideal * 1.10 else "NOT within"
    print(f"median: run {run:.2f} s = {run / ideal:.3f} x ideal ({verdict} 10%); "
          f"process {wall:.2f} s = {wall / ideal:.3f} x ideal ({whole} 10%; start-up "
          f"{statistics.median(starts):.2f} s, min {min(starts):.2f} s); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def tracing_overhead(args: argparse.Namespace) -> None:
    """Runs without and with tracing, alternated; the overhead of tracing in medians."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers.otlp_receiver import Receiver

    ideal = args.requests * args.delay / args.jobs
    endpoint = Endpoint(args.delay).start()
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                tempfile.TemporaryDirectory(prefix="concurrency-pycache-") as pycache, \
                Receiver() as receiver:
            root = Path(tmp)
            env = bench_env(pycache)
            env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
            traced = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
            make_project(root, f"http://127.0.0.1:{endpoint.port}/v1", args.requests,
                         args.jobs)
            run_once(root, endpoint, args.jobs, args.requests, traced)  # bytecode
            print(f"{args.requests} requests, -j {args.jobs}, {args.delay * 1000:.0f} ms "
                  f"each (ideal {ideal:.2f} s), without and with tracing; load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            off: list[tuple[float, float, float]] = []
            on: list[tuple[float, float, float]] = []
            cpu_off: list[float] = []
            cpu_on: list[float] = []
            for i in range(args.runs):
                cpu = child_cpu()
                off.append(run_once(root, endpoint, args.jobs, args.requests, env))
                cpu_off.append(child_cpu() - cpu)
                receiver.clear()
                cpu = child_cpu()
                on.append(run_once(root, endpoint, args.jobs, args.requests, traced))
                cpu_on.append(child_cpu() - cpu)
                spans = len(receiver.spans)
                want = 2 * args.requests + 2  # calls, cells, the suite, the run
                if spans != want:
                    raise SystemExit(f"expected {want} spans, the receiver got {spans}")
                for name, (start, run, wall), cpu in (("off", off[-1], cpu_off[-1]),
                                                      ("on ", on[-1], cpu_on[-1])):
                    print(f"  run {i + 1} tracing {name}: start-up {start:.2f} s, run "
                          f"{run:.2f} s, wind-down {wall - start - run:.2f} s, process "
                          f"{wall:.2f} s, CPU {cpu:.2f} s")
                print(f"    the receiver decoded {spans} spans in {receiver.requests} "
                      f"requests")
    finally:
        endpoint.stop()

    def median(runs: list[tuple[float, float, float]], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    wall_off, wall_on = median(off, 2), median(on, 2)
    run_off, run_on = median(off, 1), median(on, 1)
    extra = (wall_on - wall_off) / wall_off
    print(f"median process {wall_off:.2f} s off, {wall_on:.2f} s on: tracing costs "
          f"{wall_on - wall_off:+.2f} s = {extra:+.1%} "
          f"({'within' if extra < 0.05 else 'NOT within'} 5%); run phase "
          f"{run_off:.2f} s -> {run_on:.2f} s ({(run_on - run_off) / run_off:+.1%}); "
          f"start-up {median(off, 0):.2f} s -> {median(on, 0):.2f} s; wind-down "
          f"{statistics.median(w - s - r for s, r, w in off):.2f} s -> "
          f"{statistics.median(w - s - r for s, r, w in on):.2f} s")
    cpu_a, cpu_b = statistics.median(cpu_off), statistics.median(cpu_on)
    print(f"median CPU of the promptctl process {cpu_a:.2f} s off, {cpu_b:.2f} s on "
          f"({(cpu_b - cpu_a) / cpu_a:+.1%}; {(cpu_b - cpu_a) / args.requests * 1e6:.0f} us "
          f"per call); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
