"""`promptctl score LOGS.jsonl --suite SUITE`: a production log scored by the suite's
checks (run/logscore.py), aggregated in windows, with a drift verdict across them.

Windows (`by`): "day" or "week" (ISO weeks, Monday to Sunday) by each line's timestamp
in UTC, or an int N: N lines each, in file order. Per window: lines, passed, failed,
errors (lines without a verdict), the pass rate over the lines with a verdict and its
Wilson interval, each named metric's mean over lines (a line's several scores of one
metric averaged first) with the interval stats.mean_interval gives, and the
distribution (gate/score_dist.py). Across windows, oldest first: drift.rate_drift of
the pass rate and drift.mean_drift of each metric, in words (drift.describe); the gate
fails on a decline that is significant at `alpha` and larger than `max_drop`.

The result is the history document of kind "score", source "logs" (contract: one
point per window, each with "distribution"), plus the keys `log`, `by`, `lines`
(read, scored, skipped, and the first bad lines) and `notes`.

Invariants: the log is streamed (run/logs.read_log) and no record is kept: per window
the counts, each metric's running sums and a seeded reservoir of at most METRIC_SAMPLE
of its per-line scores (what mean_drift tests; the mean and interval use every line),
and the distribution's bounded samples. Memory grows with the number of windows, not
of lines. Lines may come in any order: a window is found by its key.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .. import drift, stats
from ..boundary import display_path
from ..errors import UserError
from ..load.project import Project
from ..load.suites import Suite
from ..results import CallRecord
from ..run.logs import BadLine, LogLine, Mapping, Reader, read_log
from ..run.logscore import LogScorer
from ..run.store import now_iso
from .score_dist import (
    Distribution,
    Reservoir,
    Shape,
    add_distances,
    embedder_of,
    refused,
    seed_of,
)

METRIC_SAMPLE = 2048  # per-line scores of a metric a window keeps for the drift test
BAD_SHOWN = 20  # bad lines listed in the document (all are counted)
MODELS_KEPT = 20  # distinct logged model names counted per window


@dataclass
class ScoreOptions:
    by: str | int = "day"
    alpha: float = 0.05
    max_drop: float = 0.05
    sample: int = 256  # lines per window embedded (0: no embeddings)
    skip_bad: bool = False
    use_cache: bool = True
    mapping: Mapping = field(default_factory=Mapping)
    seed: int = 0


def parse_by(text: str) -> str | int:
    """--by: day, week, or a number of lines."""
    value = text.strip().lower()
    if value in ("day", "week"):
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise UserError(f"--by {text!r}: expected day, week or a number of lines",
                    hint="e.g. --by day, --by week, --by 1000")


class Moments:
    """n, sum and sum of squares of per-line scores: mean_interval of singletons."""

    __slots__ = ("n", "s", "ss")

    def __init__(self) -> None:
        self.n = 0
        self.s = 0.0
        self.ss = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        self.s += x
        self.ss += x * x

    def interval(self, alpha: float) -> tuple[float, float, float]:
        """stats.mean_interval over n one-sample clusters, from the sums: the same
        padding (one case at 0, one at 1) and the same clustered t interval."""
        n = self.n
        if n == 0:
            return 0.0, 0.0, 1.0
        mean = self.s / n
        m = n + 2
        centre = (self.s + 1) / m
        resid = max(0.0, self.ss + 1 - (self.s + 1) ** 2 / m)
        se = math.sqrt(m / (m - 1) * resid) / m
        half = stats.t_ppf(1 - alpha / 2, m - 1) * se
        return mean, max(0.0, min(mean, centre - half)), min(1.0, max(mean, centre + half))


class Window:
    """What one window has seen."""

    def __init__(self, key: Any, sample: int, seed: int) -> None:
        self.key = key
        self.lines = self.passed = self.failed = self.errors = 0
        self.first_line = self.last_line = 0
        self.first_time: datetime | None = None
        self.metrics: dict[str, tuple[Moments, Reservoir]] = {}
        self.models: Counter[str] = Counter()
        self.seed = seed_of(str(key), seed)
        self.dist = Distribution(sample, self.seed)

    def add(self, line: LogLine, record: CallRecord, input_text: str,
            refusal: bool | None) -> None:
        if not self.lines:
            self.first_line = line.line
        self.lines += 1
        self.last_line = line.line
        if line.time is not None and (self.first_time is None or line.time < self.first_time):
            self.first_time = line.time
        if line.model is not None and (line.model in self.models
                                       or len(self.models) < MODELS_KEPT):
            self.models[line.model] += 1
        self.dist.add(input_text, line.output, refusal)
        if record.error is not None:
            self.errors += 1
            return
        if record.passed:
            self.passed += 1
        else:
            self.failed += 1
        scores: dict[str, list[float]] = {}
        for a in record.assertions:
            if a.metric:
                scores.setdefault(a.metric, []).append(a.score)
        for name, values in scores.items():
            kept = self.metrics.get(name)
            if kept is None:
                kept = self.metrics[name] = (Moments(), Reservoir(METRIC_SAMPLE, self.seed))
            x = sum(values) / len(values)
            kept[0].add(x)
            kept[1].add(x)


def _window_key(by: str | int, line: LogLine, seq: int) -> Any:
    if isinstance(by, int):
        return seq // by
    assert line.time is not None  # the reader requires a timestamp for day and week
    day = line.time.date()
    return day if by == "day" else day - timedelta(days=day.weekday())


def score_log(project: Project, suite: Suite, path: Path, options: ScoreOptions, *,
              on_line: Callable[[LogLine, CallRecord, str], None] | None = None,
              on_bytes: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The history document of the log's windows (see the module docstring).
    `on_line(line, record, window id)` after each scored line; `on_bytes(n)` as the
    file is read. A bad line is a UserError naming file:line, unless skip_bad."""
    file = display_path(path)
    if not path.is_file():
        raise UserError("no such log file" if not path.exists() else "not a file",
                        file=file, hint="name a JSONL file of logged calls")
    reader = Reader(options.mapping, need_time=not isinstance(options.by, int))
    scorer = LogScorer(project, suite, use_cache=options.use_cache)
    windows: dict[Any, Window] = {}
    bad: list[BadLine] = []
    errors: list[dict[str, Any]] = []  # the first lines without a verdict, and why
    skipped = seq = 0
    shape: Shape | None = None
    try:
        for item in read_log(path, reader, on_bytes):
            if isinstance(item, BadLine):
                if not options.skip_bad:
                    raise item.error(file)
                skipped += 1
                if len(bad) < BAD_SHOWN:
                    bad.append(item)
                continue
            record, case = scorer.score(item)
            if shape is None:
                shape = Shape.of(item)
            key = _window_key(options.by, item, seq)
            seq += 1
            window = windows.get(key)
            if window is None:
                window = windows[key] = Window(key, options.sample, options.seed)
            window.add(item, record, shape.line_text(item, record, case),
                       refused(case, record))
            if record.error is not None and len(errors) < BAD_SHOWN:
                errors.append({"line": item.line, "error": record.error})
            if on_line is not None:
                on_line(item, record, _ids(options.by, window)[0])
        ordered = [windows[k] for k in sorted(windows)]
        years = {w.key.year for w in ordered} if not isinstance(options.by, int) else set()
        points = [_point(options.by, w, options.alpha, len(years) > 1) for w in ordered]
        notes: list[str] = []
        if shape is not None and options.sample > 0 and points:
            alias = embedder_of(suite)

            def embed(texts: list[str]) -> list[list[float]]:
                return list(scorer.services.embed(texts, alias))

            note = add_distances(points, [w.dist for w in ordered],
                                 shape.case_texts(suite, options.sample, options.seed),
                                 embed)
            if note:
                notes.append(note)
            notes.append(f"centroid distance: {shape.name} of at most {options.sample} "
                         f"lines per window vs the suite's cases, embedder "
                         f"'{alias or project.config.embedder or 'default'}'")
        elif options.sample == 0:
            notes.append("no centroid distance: --sample 0")
    finally:
        scorer.close()
    return _document(suite, file, options, points, ordered, notes,
                     {"read": seq + skipped, "scored": seq, "skipped": skipped,
                      "bad": [{"line": b.line, "message": b.message, "hint": b.hint}
                              for b in bad], "errors": errors})


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


def _day_label(d: date, with_year: bool) -> str:
    text = f"{_MONTHS[d.month - 1]} {d.day}"
    return f"{text} {d.year}" if with_year else text


def _ids(by: str | int, w: Window, with_year: bool = False) -> tuple[str, str, str]:
    """(id, label, title) of a window."""
    if isinstance(by, int):  # the id is known from the window's first line on
        span = f"{w.first_line}-{w.last_line}"
        return f"#{w.key + 1}", span, f"lines {span} of the log ({w.lines} scored)"
    d: date = w.key
    if by == "day":
        return d.isoformat(), _day_label(d, with_year), f"{d.isoformat()} (UTC)"
    year, week, _ = d.isocalendar()
    return (f"{year}-W{week:02d}", _day_label(d, with_year),
            f"week of {d.isoformat()} ({year}-W{week:02d}, UTC)")


def _point(by: str | int, w: Window, alpha: float, with_year: bool) -> dict[str, Any]:
    pid, label, title = _ids(by, w, with_year)
    if isinstance(by, int):
        when = w.first_time
    else:
        when = datetime(w.key.year, w.key.month, w.key.day, tzinfo=timezone.utc)
    scored = w.passed + w.failed
    lo, hi = stats.wilson(w.passed, scored, alpha) if scored else (0.0, 1.0)
    metrics = {}
    for name, (moments, _) in sorted(w.metrics.items()):
        mean, mlo, mhi = moments.interval(alpha)
        metrics[name] = {"mean": round(mean, 4), "ci": [round(mlo, 4), round(mhi, 4)],
                         "n": moments.n}
    served = ", ".join(m for m, _ in w.models.most_common()) or None
    return {"id": pid, "label": label, "title": title,
            "time": when.isoformat(timespec="seconds") if when else None,
            "cases": w.lines, "passed": w.passed, "failed": w.failed, "errors": w.errors,
            "pass_rate": round(w.passed / scored, 4) if scored else None,
            "ci": [round(lo, 4), round(hi, 4)] if scored else None,
            "metrics": metrics,
            "models": {"logged": {"identity": None, "served": served}},
            "changes": [], "distribution": w.dist.summary()}


def _document(suite: Suite, file: str, options: ScoreOptions, points: list[dict[str, Any]],
              ordered: list[Window], notes: list[str], lines: dict[str, Any]
              ) -> dict[str, Any]:
    alpha, max_drop = options.alpha, options.max_drop
    for before, after in itertools.pairwise(points):
        was, now = before["models"]["logged"]["served"], after["models"]["logged"]["served"]
        if was != now and (was or now):
            after["changes"].append(f"logged model changed: {was or 'none'} -> "
                                    f"{now or 'none'}")
    reasons: list[str] = []
    rated = [i for i, p in enumerate(points) if p["pass_rate"] is not None]
    ids = [points[i]["id"] for i in rated]
    labels = [points[i]["label"] for i in rated]
    rate = drift.rate_drift([(points[i]["passed"], points[i]["passed"] + points[i]["failed"])
                             for i in rated], alpha=alpha, seed=options.seed)
    rate_text = drift.describe(rate, labels, "pass rate")
    if rate.significant(max_drop):
        reasons.append(rate_text)
    metric_drift: dict[str, Any] = {}
    names = sorted({n for w in ordered for n in w.metrics})
    for name in names:
        having = [i for i, w in enumerate(ordered) if name in w.metrics]
        d = drift.mean_drift([ordered[i].metrics[name][1].items for i in having], alpha=alpha,
                             seed=options.seed)
        what = f"metric {name}"
        text = drift.describe(d, [points[i]["label"] for i in having], what)
        if d.significant(max_drop):
            reasons.append(text)
        metric_drift[name] = d.document([points[i]["id"] for i in having], text, max_drop)
    return {
        "version": 1, "kind": "score", "source": "logs", "generated": now_iso(),
        "alpha": alpha, "max_drop": max_drop,
        "gate": {"failed": bool(reasons), "reasons": reasons},
        "log": file, "by": options.by, "sample": options.sample, "lines": lines,
        "notes": notes,
        "suites": [{"suite": suite.name, "points": points,
                    "drift": {"pass_rate": rate.document(ids, rate_text, max_drop),
                              "metrics": metric_drift}}],
    }
