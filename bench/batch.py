"""Batch mode at scale: N calls through `promptctl run --batch` against the loopback
batch-protocol server of the tests (tests/helpers/batch_server.py), which answers every
line with a real `python -m llama_cpp.server` (SmolLM2, started here on a free port).

Two phases are printed:
1. a fresh run of N cases with --batch: wall time, the input files and batches made,
   the lines the server forwarded to the model and the online calls (none expected);
2. the same suite in a fresh project, SIGKILLed while its batches are held
   in_progress, then `run --resume`: the batches and files the resume created (none
   expected: it collects the listed batches) and the records it finished with.

The answers are the model's, so the time is mostly the model's: `--max-tokens` (default
2) keeps each answer short. Each input file holds `--max-requests` lines (default 250:
1,000 calls make four batches, the split exercised). Polling starts at 0.2 s and grows
to 1 s. PYTHONPATH is passed on: PYTHONPATH=. times the checkout.

Usage: python bench/batch.py [--calls 1000] [--max-tokens 2] [--max-requests 250]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers import free_port  # noqa: E402
from helpers.batch_server import BatchServer  # noqa: E402


def start_model_server(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    from promptctl.providers.llama_cpp import resolve_model_path

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model",
         str(resolve_model_path("builtin:smollm2")), "--host", "127.0.0.1", "--port",
         str(port), "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 1),
         "--seed", "0"], stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/models", timeout=2):
                return proc, base
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("llama_cpp.server did not start in 90 s") from None
            time.sleep(0.2)


def make_project(root: Path, base_url: str, calls: int, max_tokens: int,
                 max_requests: int) -> Path:
    entry = {"provider": "openai", "model": "smollm2", "base_url": base_url,
             "params": {"temperature": 0, "seed": 0, "max_tokens": max_tokens},
             "price": {"input": 1.5e-7, "output": 6e-7, "batch_input": 7.5e-8,
                       "batch_output": 3e-7},
             "batch_limits": {"max_requests": max_requests, "poll_seconds": 0.2,
                              "poll_max_seconds": 1.0}}
    (root / "prompts").mkdir(parents=True)
    (root / "suites").mkdir()
    (root / "promptctl.yaml").write_text("models:\n  hosted: " + json.dumps(entry) + "\n")
    (root / "prompts/p.yaml").write_text(
        'prompts:\n  count:\n    template: "Say the number {{ n }}."\n')
    cases = "".join(f"  - id: c{i}\n    vars: {{n: {i}}}\n"
                    f"    assert: [{{type: regex, value: '.'}}]\n" for i in range(calls))
    (root / "suites/s.yaml").write_text(
        "prompts: [p.count]\nmodels: [hosted]\ncases:\n" + cases)
    return root


def records(root: Path) -> list[dict[str, object]]:
    runs = root / ".promptctl/runs"
    run_dir = runs / (runs / "latest").read_text().strip()
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def promptctl(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "promptctl", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--max-tokens", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=250)
    args = parser.parse_args()
    pythonpath = os.environ.get("PYTHONPATH")
    env = {**os.environ, "COLUMNS": "200"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve())
                                            for p in pythonpath.split(os.pathsep))
    with tempfile.TemporaryDirectory() as tmp:
        env["XDG_CACHE_HOME"] = str(Path(tmp) / "user-cache")
        model, upstream = start_model_server(Path(tmp) / "server.log")
        try:
            with BatchServer(upstream) as server:
                run(server, Path(tmp), env, args)
        finally:
            model.terminate()
            model.wait(timeout=20)
    print(f"load average: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} cores)")


def run(server: BatchServer, tmp: Path, env: dict[str, str], args: argparse.Namespace
        ) -> None:
    n = args.calls
    print(f"{n} calls, max_tokens {args.max_tokens}, {args.max_requests} lines per "
          "input file, real SmolLM2 behind the loopback batch server")
    # 1. a fresh batch run
    root = make_project(tmp / "fresh", server.base_url, n, args.max_tokens,
                        args.max_requests)
    start = time.perf_counter()
    proc = promptctl(root, env, "run", "--batch", "-q")
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    recs = records(root)
    answered = sum(r["error"] is None for r in recs)
    print(f"fresh run: {wall:.1f} s wall, exit {proc.returncode}; {len(recs)} records, "
          f"{answered} answered; {server.files_created} input files, "
          f"{server.batches_created} batches, {server.forwarded} lines forwarded to the "
          f"model, {server.online} online calls")
    span = server.last_answer - server.first_forward
    print(f"  of which the model answering (first line sent to last answer): {span:.1f} s; "
          f"promptctl and the batch envelope: {wall - span:.1f} s")
    if proc.returncode not in (0, 1):
        print(err[-2000:])
    # 2. killed while polling, then resumed
    server.reset_counts()
    root = make_project(tmp / "killed", server.base_url, n, args.max_tokens,
                        args.max_requests)
    server.holding.set()
    proc = promptctl(root, env, "run", "--batch", "-q")
    want = -(-n // args.max_requests)
    deadline = time.monotonic() + 120
    while server.batches_created < want and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a few polls
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = (server.files_created, server.batches_created)
    server.release()
    start = time.perf_counter()
    resumed = promptctl(root, env, "run", "--resume", "-q")
    _, err = resumed.communicate()
    wall = time.perf_counter() - start
    recs = records(root)
    print(f"killed while polling with {before[1]} batches submitted; resume: {wall:.1f} s "
          f"wall, exit {resumed.returncode}; new input files "
          f"{server.files_created - before[0]}, new batches "
          f"{server.batches_created - before[1]}; {len(recs)} records, "
          f"{sum(r['error'] is None for r in recs)} answered; lines forwarded "
          f"{server.forwarded} (each once), online calls {server.online}")
    if resumed.returncode not in (0, 1):
        print(err[-2000:])


if __name__ == "__main__":
    main()
