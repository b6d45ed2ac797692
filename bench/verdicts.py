"""Are the check's verdicts trustworthy? False alarms under pure noise, detection of a
real drop, and model calls, for promptctl's rule against two naive rules.

Pools of real samples come from the embedded model at temperature 0.8: 24 short-answer
cases, 30 samples each, under a good prompt and under a degraded one (Spanish answers,
no few-shot turns). Trials then resample from the pools, so thousands of gates run in
seconds:

- null: baseline and candidate both draw from the good prompt's pool;
- drop: the candidate draws from the degraded prompt's pool (the target scenario);
- subtle: a milder degradation (Spanish, one few-shot turn), to show where power ends.

Usage: python bench/verdicts.py [--trials N] [--workdir DIR]
The first run makes ~2,160 model calls (a few minutes); the response cache in
WORKDIR/.promptctl makes later runs fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promptctl.errors import ExitCode  # noqa: E402
from promptctl.gate.baseline import Baseline, cells_from_records  # noqa: E402
from promptctl.gate.check import uncertain_against  # noqa: E402
from promptctl.gate.diff import diff_run  # noqa: E402
from promptctl.load.project import load_project  # noqa: E402
from promptctl.load.suites import Suite, load_suite  # noqa: E402
from promptctl.results import CallRecord  # noqa: E402
from promptctl.run.options import RunOptions  # noqa: E402
from promptctl.run.runner import run_suites  # noqa: E402

QA = [
    ("capital-france", "What is the capital of France?", "Paris"),
    ("capital-japan", "What is the capital of Japan?", "Tokyo"),
    ("capital-italy", "What is the capital of Italy?", "Rome"),
    ("capital-spain", "What is the capital of Spain?", "Madrid"),
    ("capital-germany", "What is the capital of Germany?", "Berlin"),
    ("capital-england", "What is the capital of England?", "London"),
    ("capital-russia", "What is the capital of Russia?", "Moscow"),
    ("capital-egypt", "What is the capital of Egypt?", "Cairo"),
    ("capital-china", "What is the capital of China?", "Beijing"),
    ("capital-greece", "What is the capital of Greece?", "Athens"),
    ("red-planet", "Which planet is known as the Red Planet?", "Mars"),
    ("largest-planet", "What is the largest planet in the solar system?", "Jupiter"),
    ("sky-colour", "What color is the sky on a clear day?", "blue"),
    ("spider-legs", "How many legs does a spider have?", "eight|8"),
    ("gold-symbol", "What is the chemical symbol for gold?", "Au"),
    ("frozen-water", "What is frozen water called?", "ice"),
    ("moo", "What animal says moo?", "cow"),
    ("opposite-hot", "What is the opposite of hot?", "cold"),
    ("week-days", "How many days are in a week?", "seven|7"),
    ("bees", "What do bees make?", "honey"),
    ("romeo", "Who wrote Romeo and Juliet?", "Shakespeare"),
    ("two-plus-two", "What is 2 plus 2?", "four|4"),
    ("eiffel", "In which country is the Eiffel Tower?", "France"),
    ("fastest-animal", "What is the fastest land animal?", "cheetah"),
]

PROMPTS = """\
prompts:
  good:
    params: {temperature: 0.8, max_tokens: 12, seed: 0}
    examples:
      - {user: "Q: What is the capital of Portugal?", assistant: Lisbon}
      - {user: "Q: How many wheels does a bicycle have?", assistant: Two}
      - {user: "Q: What is the color of grass?", assistant: Green}
    messages:
      - {role: system, content: Answer the question with one word.}
      - {role: user, content: "Q: {{ question }}"}
  degraded:
    params: {temperature: 0.8, max_tokens: 12, seed: 0}
    messages:
      - {role: system, content: "Answer in Spanish, with one word."}
      - {role: user, content: "Q: {{ question }}"}
  subtle:
    params: {temperature: 0.8, max_tokens: 12, seed: 0}
    examples:
      - {user: "Q: What is the capital of Portugal?", assistant: Lisbon}
    messages:
      - {role: system, content: "Answer in Spanish, with one word."}
      - {role: user, content: "Q: {{ question }}"}
"""

POOL = 30
REPEATS = 5  # baseline samples per case, and the fixed-repeat candidate
ALPHA = 0.05


def make_project(workdir: Path) -> None:
    (workdir / "prompts").mkdir(parents=True, exist_ok=True)
    (workdir / "suites").mkdir(exist_ok=True)
    (workdir / "prompts" / "bench.yaml").write_text(PROMPTS)
    lines = ["prompts: [bench.good, bench.degraded, bench.subtle]", "cases:"]
    for cid, question, answer in QA:
        lines.append(f"  - id: {cid}")
        lines.append(f"    vars: {{question: \"{question}\"}}")
        lines.append(f"    assert: [{{type: regex, value: '(?i)\\b({answer})\\b'}}]")
    (workdir / "suites" / "qa.yaml").write_text("\n".join(lines) + "\n")


def pools(workdir: Path) -> tuple[Suite, dict[str, dict[str, list[CallRecord]]]]:
    """{prompt: {case: [records]}} from one cached run with repeat = POOL."""
    import os

    os.chdir(workdir)
    project = load_project(workdir)
    suite = load_suite(project, workdir / "suites" / "qa.yaml")
    start = time.perf_counter()
    result = run_suites(project, [suite], RunOptions(repeat=POOL), record_run=False)
    seconds = time.perf_counter() - start
    print(f"pools: {len(result.records)} samples ({result.summary.cached} cached) "
          f"in {seconds:.0f} s")
    out: dict[str, dict[str, list[CallRecord]]] = {}
    for rec in result.records:
        out.setdefault(rec.prompt, {}).setdefault(rec.case, []).append(rec)
    only_good = dataclasses.replace(suite, prompts=[p for p in suite.prompts
                                                    if p.id == "bench.good"])
    return only_good, out


def relabel(rec: CallRecord, repeat: int) -> CallRecord:
    """A pooled sample as repeat `repeat` of the prompt under test (bench.good)."""
    return dataclasses.replace(rec, prompt="bench.good", repeat=repeat)


Rule = Callable[[random.Random, dict[str, list[CallRecord]], dict[str, list[CallRecord]]],
                tuple[bool, int]]


def promptctl_rule(repeats: int | str) -> Rule:
    def rule(rng: random.Random, base_pool: dict[str, list[CallRecord]],
             cand_pool: dict[str, list[CallRecord]]) -> tuple[bool, int]:
        base = [relabel(r, i) for case, recs in base_pool.items()
                for i, r in enumerate(rng.choices(recs, k=REPEATS))]
        baseline = Baseline("qa", cells_from_records(base)["qa"])
        cand: list[CallRecord] = []
        if repeats == "auto":
            more = uncertain_against({"qa": baseline}, ALPHA)
            for case, recs in cand_pool.items():
                got = [relabel(rng.choice(recs), 0)]
                key = ("qa", case, "bench.good", "default")
                while len(got) < REPEATS and more(key, [r.passed for r in got]):
                    got.append(relabel(rng.choice(recs), len(got)))
                cand.extend(got)
        else:
            assert isinstance(repeats, int)
            cand = [relabel(r, i) for case, recs in cand_pool.items()
                    for i, r in enumerate(rng.choices(recs, k=repeats))]
        report = diff_run([SUITE], {"qa": baseline}, cand, alpha=ALPHA)
        return report.exit_code == ExitCode.FAILED, len(cand)

    return rule


def any_flip_rule(rng, base_pool, cand_pool):  # type: ignore[no-untyped-def]
    """Fail if any case passed in the baseline and fails now (one sample each)."""
    flips = [rng.choice(base_pool[c]).passed and not rng.choice(cand_pool[c]).passed
             for c in base_pool]
    return any(flips), len(cand_pool)


def rate_down_rule(rng, base_pool, cand_pool):  # type: ignore[no-untyped-def]
    """Fail if the suite's pass rate went down at all (one sample each)."""
    before = sum(rng.choice(base_pool[c]).passed for c in base_pool)
    after = sum(rng.choice(cand_pool[c]).passed for c in cand_pool)
    return after < before, len(cand_pool)


SUITE: Suite


def main() -> None:
    global SUITE
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--workdir", type=Path,
                        default=Path.home() / ".cache" / "promptctl" / "bench-verdicts")
    args = parser.parse_args()
    make_project(args.workdir)
    SUITE, pool = pools(args.workdir)
    good, bad, subtle = pool["bench.good"], pool["bench.degraded"], pool["bench.subtle"]

    def rate(p: dict[str, list[CallRecord]]) -> float:
        return statistics.fmean(statistics.fmean(r.passed for r in v) for v in p.values())

    print(f"{len(good)} cases; pool pass rates: good {rate(good):.1%}, degraded "
          f"{rate(bad):.1%} (drop {100 * (rate(good) - rate(bad)):.0f} points), subtle "
          f"{rate(subtle):.1%} (drop {100 * (rate(good) - rate(subtle)):.0f} points)")
    rules: list[tuple[str, Rule]] = [
        ("naive: any case pass -> fail, 1 sample", any_flip_rule),
        ("naive: pass rate went down, 1 sample", rate_down_rule),
        ("promptctl check, --repeat 1", promptctl_rule(1)),
        ("promptctl check, --repeat 3", promptctl_rule(3)),
        ("promptctl check, --repeat 5", promptctl_rule(5)),
        ("promptctl check, --repeat auto (cap 5)", promptctl_rule("auto")),
    ]
    print(f"\n{args.trials} trials per scenario; baselines hold {REPEATS} samples per case; "
          f"alpha {ALPHA}\n")
    head = ("false alarms", "detection", "detection", "calls/case", "calls/case")
    sub = ("(null)", "(drop)", "(subtle)", "(null)", "(drop)")
    print(f"{'rule':42} " + " ".join(f"{h:>12}" for h in head))
    print(f"{'':42} " + " ".join(f"{h:>12}" for h in sub))
    rng = random.Random(0)
    start = time.perf_counter()
    for name, rule in rules:
        fa = [rule(rng, good, good) for _ in range(args.trials)]
        det = [rule(rng, good, bad) for _ in range(args.trials)]
        sub_det = [rule(rng, good, subtle) for _ in range(args.trials)]
        cells = [statistics.fmean(f for f, _ in fa), statistics.fmean(d for d, _ in det),
                 statistics.fmean(d for d, _ in sub_det)]
        calls = [statistics.fmean(n for _, n in fa) / len(good),
                 statistics.fmean(n for _, n in det) / len(good)]
        print(f"{name:42} " + " ".join(f"{c:>12.1%}" for c in cells) + " "
              + " ".join(f"{c:>12.2f}" for c in calls))
    print(f"\n({time.perf_counter() - start:.0f} s of trials)")


if __name__ == "__main__":
    main()
