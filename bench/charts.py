"""The size and render time of the history page (promptctl/reports/history_html.py) for
long histories: a suite of N points with one metric and a change every 50 points,
drawn as the history document shapes it. Prints, per N, the time of render_html (best
of 3), the page's size and the bytes per point.

Usage: python bench/charts.py [N ...]   (default: 10 100 1000 5000)
"""

from __future__ import annotations

import sys
import time
from typing import Any

from promptctl.reports.history_html import render_html
from promptctl.stats import wilson


def history(n: int) -> dict[str, Any]:
    points = []
    for i in range(n):
        passed = 36 - (i * 7919 % 5) - (3 if i > n // 2 else 0)
        lo, hi = wilson(passed, 40)
        points.append({
            "id": f"p{i:05d}", "label": f"p{i}", "title": f"point {i}", "time": None,
            "cases": 40, "passed": passed, "failed": 40 - passed, "errors": 0,
            "pass_rate": passed / 40, "ci": [lo, hi],
            "metrics": {"hit": {"mean": passed / 40, "ci": [lo, hi], "n": 40}},
            "models": {"default": {"identity": "llama-cpp smollm2", "served": None}},
            "changes": ["prompt edited: support.triage"] if i % 50 == 0 and i else []})
    return {"version": 1, "kind": "history", "source": "runs", "generated": None,
            "alpha": 0.05, "max_drop": 0.05, "gate": {"failed": False, "reasons": []},
            "suites": [{"suite": "triage", "points": points, "drift": None}]}


def main(sizes: list[int]) -> None:
    print(f"{'points':>7} {'render ms':>10} {'page KB':>9} {'bytes/point':>12}")
    for n in sizes:
        doc = history(n)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            page = render_html(doc)
            best = min(best, time.perf_counter() - start)
        size = len(page.encode())
        print(f"{n:>7} {best * 1000:>10.1f} {size / 1024:>9.1f} {size / n:>12.0f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 1000, 5000])
