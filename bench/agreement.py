"""Judge agreement: the kappa interval's coverage by sample size, and timing.

    python bench/agreement.py

Coverage: how often the 95% interval of `agreement.kappa` (Fleiss, Cohen & Everitt
1969) holds the true kappa, over 1,000 simulated label sets per row (a judge right
`accuracy` of the time, reviewer pass rate `p_human`). Timing: `kappa` and
`compare_judges` on 10,000 pairs. Seeded, so the numbers repeat.
"""

from __future__ import annotations

import random
import time

from promptctl.agreement import compare_judges, kappa


def pairs(rng, n, p_human, accuracy):
    humans = [rng.random() < p_human for _ in range(n)]
    return [(h if rng.random() < accuracy else not h, h) for h in humans]


def true_kappa(p_human, accuracy):
    pp, fp = p_human * accuracy, p_human * (1 - accuracy)
    pf, ff = (1 - p_human) * (1 - accuracy), (1 - p_human) * accuracy
    pe = (pp + pf) * (pp + fp) + (fp + ff) * (pf + ff)
    return (pp + ff - pe) / (1 - pe)


def main() -> None:
    rng = random.Random(2026)
    print("   n  p_human  accuracy  true kappa  coverage  no interval")
    for n in (12, 30, 50, 100, 200, 500):
        for p_human, accuracy in ((0.5, 0.8), (0.8, 0.9)):
            true = true_kappa(p_human, accuracy)
            hit = none = 0
            runs = 1000
            for _ in range(runs):
                k = kappa(pairs(rng, n, p_human, accuracy))
                if k.ci is None:
                    none += 1
                else:
                    hit += k.ci[0] <= true <= k.ci[1]
            cov = hit / max(1, runs - none)
            print(f"{n:4d}  {p_human:7.2f}  {accuracy:8.2f}  {true:10.3f}  {cov:8.1%}  {none:11d}")
    humans = [rng.random() < 0.5 for _ in range(10_000)]
    a = [(h if rng.random() < 0.9 else not h, h) for h in humans]
    b = [(h if rng.random() < 0.85 else not h, h) for h in humans]
    t = time.perf_counter()
    kappa(a)
    t_k = time.perf_counter() - t
    t = time.perf_counter()
    diff, ci, p = compare_judges(a, b)
    t_c = time.perf_counter() - t
    print(f"kappa on 10,000 pairs: {t_k * 1000:.1f} ms")
    print(f"compare_judges on 10,000 pairs (2,000 resamples): {t_c * 1000:.0f} ms "
          f"(diff {diff:.3f} [{ci[0]:.3f}, {ci[1]:.3f}], p = {p:.4f})")


if __name__ == "__main__":
    main()
