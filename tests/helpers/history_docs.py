"""History documents written by hand, in the shape `promptctl history -o
history.json` and `promptctl score -o score.json` write (version 1): a stable history
of saved runs, a slow decline over baseline commits in git with a change point and a
hostile commit subject, a score document of log windows with distribution series, and
a suite whose every value is null. The intervals are real Wilson intervals of the
counts (promptctl.stats), the drift sentences are worded as promptctl.drift words
them; no test may assume more of them than the shape."""

from __future__ import annotations

import copy
from typing import Any

from promptctl.stats import wilson

HOSTILE = "</svg><script>document.title='pwned'</script>\"q\" & 'a'"


def _rate(passed: int, scored: int) -> tuple[float, list[float]]:
    lo, hi = wilson(passed, scored)
    return round(passed / scored, 4), [round(lo, 4), round(hi, 4)]


def point(pid: str, label: str, title: str, day: int, cases: int, passed: int, *,
          errors: int = 0, hit: int | None = None, changes: list[str] | None = None,
          **extra: Any) -> dict[str, Any]:
    rate, ci = _rate(passed, cases - errors)
    out: dict[str, Any] = {
        "id": pid, "label": label, "title": title, "time": f"2026-11-{day:02d}T10:15:00+00:00",
        "cases": cases, "passed": passed, "failed": cases - errors - passed, "errors": errors,
        "pass_rate": rate, "ci": ci, "metrics": {},
        "models": {"default": {"identity": "llama-cpp smollm2 sha256:1a2b3c4d", "served": None}},
        "changes": changes or []}
    if hit is not None:
        mean, mci = _rate(hit, cases - errors)
        out["metrics"]["hit"] = {"mean": mean, "ci": mci, "n": cases - errors}
    out.update(extra)
    return out


def _drift(text: str, *, p: float | None, declined: bool, significant: bool, drop: float,
           before: tuple[str, str, float, list[float]] | None = None,
           after: tuple[str, str, float, list[float]] | None = None) -> dict[str, Any]:
    def seg(s: tuple[str, str, float, list[float]] | None) -> dict[str, Any] | None:
        return None if s is None else {"from": s[0], "to": s[1], "value": s[2], "ci": s[3]}

    return {"method": "change-point (binomial LR, permutation)", "p": p, "declined": declined,
            "significant": significant, "drop": drop, "before": seg(before),
            "after": seg(after), "text": text}


def stable() -> dict[str, Any]:
    """Eight saved runs of one suite, 35 cases, pass rate wobbling around 90%."""
    counts = [32, 31, 33, 32, 31, 32, 33, 32]
    points = [point(f"20261{i + 1:03d}T101500-ab{i}cd", f"Nov {i + 3}",
                    f"run 20261{i + 1:03d}T101500-ab{i}cd", i + 3, 35, k, hit=k - 1,
                    run_id=f"20261{i + 1:03d}T101500-ab{i}cd",
                    changes=["cases added: 3"] if i == 4 else [])
              for i, k in enumerate(counts)]
    return {"version": 1, "kind": "history", "source": "runs",
            "generated": "2026-12-02T18:00:00+00:00", "alpha": 0.05, "max_drop": 0.05,
            "gate": {"failed": False, "reasons": []},
            "suites": [{"suite": "triage", "points": points, "drift": {
                "pass_rate": _drift("pass rate shows no sustained decline over 8 points "
                                    "(p = 0.62)", p=0.62, declined=False, significant=False,
                                    drop=0.0),
                "metrics": {"hit": _drift("hit shows no sustained decline over 8 points "
                                          "(p = 0.55)", p=0.55, declined=False,
                                          significant=False, drop=0.0)}}}]}


def decline() -> dict[str, Any]:
    """Twelve baseline commits, 40 cases: about 92% for five commits, then a prompt edit
    (a commit with a hostile subject) and a slide to about 76%. A second suite has a
    single commit; a third has every value null."""
    counts = [37, 37, 36, 37, 36, 33, 32, 31, 31, 30, 30, 30]
    points = []
    for i, k in enumerate(counts):
        sha = f"{i:x}a1b2c3d4e5f60718293a4b5c6d7e8f9{i:x}0"[:40]
        subject = HOSTILE if i == 5 else f"Baseline update {i}"
        changes = {5: ["prompt edited: support.triage", f"commit subject: {HOSTILE}"],
                   9: ["model swapped: default llama-cpp smollm2 -> llama-cpp smollm2-q8"]}
        points.append(point(sha[:7], sha[:7], f"{sha[:7]} 2026-11-{i + 3:02d} {subject}", i + 3,
                            40, k, hit=k + 1 if k < 39 else k, changes=changes.get(i, []),
                            commit={"sha": sha, "short": sha[:7],
                                    "date": f"2026-11-{i + 3:02d}", "subject": subject}))
    before = (points[0]["id"], points[4]["id"], 0.915, [0.85, 0.955])
    after = (points[5]["id"], points[11]["id"], 0.771, [0.70, 0.83])
    text = (f"pass rate fell from 92% [85-96] to 77% [70-83] between {points[4]['label']} "
            f"(Nov 7) and {points[5]['label']} (Nov 8): p = 0.004")
    solo = point("f00dfee", "f00dfee", "f00dfee 2026-11-20 first baseline", 20, 10, 9)
    nulls = {"suite": "nulls", "drift": None, "points": [
        {"id": "n1", "label": None, "title": None, "time": None, "cases": None, "passed": None,
         "failed": None, "errors": None, "pass_rate": None, "ci": None,
         "metrics": {"hit": None, "other": {"mean": None, "ci": None, "n": 0}},
         "models": None, "changes": None},
        {"id": "n2", "label": "n2", "title": "", "time": None, "cases": 3, "passed": 3,
         "failed": 0, "errors": 0, "pass_rate": 1.0, "ci": [0.44, 1.0], "metrics": None,
         "models": {"default": None}, "changes": []}]}
    return {"version": 1, "kind": "history", "source": "git",
            "generated": "2026-12-02T18:00:00+00:00", "alpha": 0.05, "max_drop": 0.05,
            "gate": {"failed": True, "reasons": [f"triage: {text}"]},
            "suites": [
                {"suite": "triage", "points": points, "drift": {
                    "pass_rate": _drift(text, p=0.004, declined=True, significant=True,
                                        drop=0.144, before=before, after=after),
                    "metrics": {"hit": _drift(text.replace("pass rate", "hit", 1), p=0.01,
                                              declined=True, significant=True, drop=0.13,
                                              before=before, after=after)}}},
                {"suite": "solo", "points": [solo], "drift": {
                    "pass_rate": _drift("pass rate: too few points for a drift test (1)",
                                        p=None, declined=False, significant=False, drop=0.0),
                    "metrics": {}}},
                nulls]}


def score() -> dict[str, Any]:
    """Six daily windows of a production log, with the distribution series: refusals
    and the distance from the suite's cases creep up in the last two windows."""
    n = [120, 131, 118, 140, 125, 133]
    k = [110, 121, 108, 128, 104, 107]
    refusal = [0.01, 0.0, 0.017, 0.014, 0.06, 0.075]
    distance = [0.12, 0.11, 0.13, 0.12, 0.19, 0.22]
    points = [point(f"2026-11-{d:02d}", f"Nov {d}", f"2026-11-{d:02d} ({n[i]} log lines)", d,
                    n[i], k[i], errors=1 if i == 3 else 0,
                    distribution={"input_chars": 118.0 + 3 * i, "output_chars": 40.5 - i,
                                  "refusal_rate": refusal[i], "centroid_distance": distance[i]})
              for i, d in enumerate(range(3, 9))]
    text = "pass rate fell from 92% [88-94] to 80% [75-85] between Nov 6 and Nov 7: p = 0.001"
    return {"version": 1, "kind": "score", "source": "logs",
            "generated": "2026-12-02T18:00:00+00:00", "alpha": 0.05, "max_drop": 0.05,
            "gate": {"failed": True, "reasons": [f"support: {text}"]},
            "suites": [{"suite": "support", "points": points, "drift": {
                "pass_rate": _drift(text, p=0.001, declined=True, significant=True, drop=0.12,
                                    before=(points[0]["id"], points[3]["id"], 0.92,
                                            [0.88, 0.94]),
                                    after=(points[4]["id"], points[5]["id"], 0.8,
                                           [0.75, 0.85])),
                "metrics": {}}}]}


DOCS = {"stable": stable, "decline": decline, "score": score}


def every_null(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Copies of `doc` with one value nulled each: every key of the document, of its
    first suite, of that suite's first point, of its drift and gate."""
    out = []

    def nulled(path: tuple[Any, ...]) -> dict[str, Any]:
        copied = copy.deepcopy(doc)
        node: Any = copied
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = None
        return copied

    paths: list[tuple[Any, ...]] = [(k,) for k in doc]
    suite = doc["suites"][0]
    paths += [("suites", 0, k) for k in suite]
    paths += [("suites", 0, "points", 0, k) for k in suite["points"][0]]
    paths += [("suites", 0, "drift", k) for k in suite["drift"]]
    paths += [("suites", 0, "drift", "pass_rate", k) for k in suite["drift"]["pass_rate"]]
    paths += [("gate", k) for k in doc["gate"]]
    for path in paths:
        out.append(nulled(path))
    return out
