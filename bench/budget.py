"""Spend limits under concurrency: N priced calls through `promptctl run -j J` with a
--max-cost that fits K of them (by their real cost), against the loopback endpoint of
bench/concurrency.py (an asyncio HTTP/1.1 server answering every chat completion after
a fixed delay with a canned reply of 8 prompt + 1 completion tokens).

Printed: the calls made (the endpoint's count), the calls recorded "not run", the
spend (the run's summary cost) against the limit, the overshoot ($ over the limit:
the ledger's invariant says 0 with upper-bound estimates), the peak in flight and the
wall time. Fewer than K calls are made: each call reserves its conservative estimate
(the prompt's UTF-8 bytes + template overhead, and max_tokens) before it is made, so
the last reservation that fits leaves up to one estimate of the limit unspent, and
fewer calls are in flight at once as the limit nears. A second run with --max-tokens
shows the same for a token limit.

Usage: python bench/budget.py [--requests 1000] [-j 50] [--fits 100] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from concurrency import REPLY, Endpoint, bench_env, make_project

PRICE = 1e-6  # $ per token, input and output
MAX_TOKENS = 4


def run(root: Path, endpoint: Endpoint, jobs: int, limit: list[str],
        env: dict[str, str]) -> tuple[int, dict, float]:
    endpoint.reset()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "promptctl", "run", "-j", str(jobs),
                           "--no-cache", "-q", "-o", "out.json", *limit], cwd=root,
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        raise SystemExit(f"promptctl run exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    summary = json.loads((root / "out.json").read_text())["summary"]
    return proc.returncode, summary, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("-j", "--jobs", type=int, default=50)
    parser.add_argument("--fits", type=int, default=100, help="calls the limit pays for")
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()
    usage = REPLY["usage"]
    per_call = (usage["prompt_tokens"] + usage["completion_tokens"]) * PRICE
    cost_limit = args.fits * per_call
    token_limit = args.fits * (usage["prompt_tokens"] + usage["completion_tokens"])
    endpoint = Endpoint(args.delay).start()
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                tempfile.TemporaryDirectory(prefix="budget-pycache-") as pycache:
            root = Path(tmp)
            env = bench_env(pycache)
            url = f"http://127.0.0.1:{endpoint.port}/v1"
            make_project(root, url, args.requests, args.jobs)
            (root / "promptctl.yaml").write_text(
                "models:\n"
                f"  bench: {{provider: openai, base_url: '{url}', model: bench, "
                f"concurrency: {args.jobs}, params: {{max_tokens: {MAX_TOKENS}}}, "
                f"price: {{input: {PRICE}, output: {PRICE}}}}}\n")
            print(f"{args.requests} calls of ${per_call:.6f} each, -j {args.jobs}, "
                  f"{args.delay * 1000:.0f} ms each; load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            for name, flag, limit in (("--max-cost", f"{cost_limit:.10f}", cost_limit),
                                      ("--max-tokens", str(token_limit), token_limit)):
                code, summary, wall = run(root, endpoint, args.jobs, [name, flag], env)
                spent = summary["cost"] if name == "--max-cost" else \
                    summary["tokens"]["prompt"] + summary["tokens"]["completion"]
                over = max(0.0, spent - limit)
                shown = (lambda v: f"${v:.6f}") if name == "--max-cost" else \
                    (lambda v: f"{v:,.0f} tokens")
                print(f"  {name} {shown(limit)} (fits {args.fits}): exit {code}, "
                      f"{endpoint.requests} calls made, {summary.get('not_run', 0)} not "
                      f"run; spent {shown(spent)} ({spent / limit:.1%} of the limit), "
                      f"overshoot {shown(over)}; peak in flight {endpoint.peak}; "
                      f"{wall:.2f} s")
    finally:
        endpoint.stop()


if __name__ == "__main__":
    main()
