"""`promptctl history`: a suite's quality over time, one point per saved run (or per
baseline commit: history_git.py), and the drift verdict across the points. What a
point is and what changed between two: history_points.py.

Saved runs are read oldest first by start time. A run that is left out says why in the
history's notes, never stops the command: unfinished (no summary.json: killed, or still
running), partial (-k, one --shard, a --changed-since selection, a merge of some shards:
its pass rate is over other cases than its neighbours'), or unreadable (its meta.json
or records.jsonl is not what promptctl writes). Only the runs whose meta.json names a
wanted suite have their records read, one run at a time, streamed.

The verdict: drift.rate_drift over the points' sample counts and drift.mean_drift over
each named metric's per-cell scores. A suite fails the gate when a decline is
significant (p <= alpha) and larger than its max_drop: `--max-drop`, else the suite's
own `max_drop`, else 0.05. The test covers the points since the suite's cases last
changed (a pass rate over other cases is not comparable: adding hard cases is no
drift); the earlier points are shown, not tested. Fewer points than the drift test
needs (drift.py: two per segment, so four) is "not enough history": a note, never a
failure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import drift
from ..errors import UserError
from ..load.project import Project
from ..run.store import read_record_dicts, runs_dir
from .history_points import Gathered, Point, Tally, link

DEFAULT_MAX_DROP = 0.05


# -- saved runs ----------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """An ISO time as promptctl writes it; what does not parse sorts first."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return datetime.min.replace(tzinfo=timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def run_label(started: datetime) -> str:
    return f"{started:%b} {started.day} {started:%H:%M}"


def unique_labels(points: list[Point]) -> None:
    """Runs started in the same minute get their seconds, then their run id's suffix:
    a label names one point of its suite."""
    for extend in (lambda p: p.time[17:19] and f"{p.label}:{p.time[17:19]}",
                   lambda p: f"{p.label} {p.id.rsplit('-', 1)[-1]}"):
        counts: dict[str, int] = {}
        for p in points:
            counts[p.label] = counts.get(p.label, 0) + 1
        for p in points:
            if counts[p.label] > 1:
                p.label = extend(p) or p.label


@dataclass
class _Run:
    path: Path
    started: datetime
    started_text: str
    suites: set[str]
    finished_ns: int  # summary.json's modification time


def _why_partial(meta: dict[str, Any]) -> str | None:
    options = meta.get("options") or {}
    if options.get("filter"):
        return "filtered with -k"
    if options.get("shard"):
        return f"shard {options['shard']}"
    if meta.get("merged_from") and meta.get("partial"):
        return "a merge of some shards"
    if meta.get("partial"):
        return "a --changed-since selection"
    return None


def _runs(root: Path, notes: list[str]) -> list[_Run]:
    """The finished, whole runs under root, oldest first; the others in notes."""
    # deferred: meta.json's reader only when there are runs to read
    from ..run.meta import read_meta

    left_out: dict[str, list[str]] = {}
    found: list[_Run] = []
    for path in sorted(root.iterdir()):
        if path.is_symlink() or not path.is_dir():
            continue  # `latest`, or something promptctl did not write
        try:
            meta = read_meta(path)
        except UserError as exc:
            notes.append(f"run {path.name} left out: {exc}")
            continue
        if not (path / "summary.json").is_file():
            left_out.setdefault("unfinished (killed, or still running)", []).append(path.name)
            continue
        why = _why_partial(meta)
        if why is not None:
            left_out.setdefault(f"partial ({why})", []).append(path.name)
            continue
        started = str(meta.get("started") or "")
        found.append(_Run(path, parse_time(started), started,
                          {Path(str(f)).stem for f in meta.get("suites") or []},
                          (path / "summary.json").stat().st_mtime_ns))
    for why, ids in left_out.items():
        shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        notes.append(f"{len(ids)} run{'s' if len(ids) > 1 else ''} left out, {why}: {shown}")
    # start times are to the second: runs started in the same second go by finish time
    found.sort(key=lambda r: (r.started, r.finished_ns, r.path.name))
    return found


def run_history(project: Project, suites: Sequence[str] = (), models: Sequence[str] = (),
                *, last: int | None = None, until: str | None = None,
                alpha: float = 0.05) -> Gathered:
    """One point per saved run per suite, oldest first. `suites` and `models` narrow
    (empty: all); `last` keeps each suite's last N points (with their changes since the
    point before); `until` (a run id) ends the history at that run."""
    root = runs_dir(project)
    gathered = Gathered("runs", {})
    if not root.is_dir():
        return gathered
    runs = _runs(root, gathered.notes)
    if until is not None:
        at = next((i for i, r in enumerate(runs) if r.path.name == until), None)
        runs = runs[: at + 1] if at is not None else runs
    wanted = set(suites)
    gathered.suites_seen = {name for r in runs for name in r.suites}
    if wanted:
        runs = [r for r in runs if r.suites & wanted]
    keep = None if last is None else last + 1  # one more: the oldest kept point's changes
    by_suite: dict[str, list[Point]] = {}
    # newest first: with named suites and --last, stop once each has its points
    for run in reversed(runs):
        if keep is not None and wanted and all(len(by_suite.get(s, [])) >= keep
                                               for s in wanted):
            break
        try:
            tallies = _tally_run(run.path, wanted, set(models), gathered.models_seen)
        except UserError as exc:
            gathered.notes.append(f"run {run.path.name} left out: {exc}")
            continue
        for suite, tally in tallies.items():
            if keep is not None and len(by_suite.get(suite, [])) >= keep:
                continue
            title = f"run {run.path.name} started {run.started_text}"
            by_suite.setdefault(suite, []).append(tally.point(
                run.path.name, run_label(run.started), title, run.started_text, alpha))
            by_suite[suite][-1].run_id = run.path.name
    for suite, points in sorted(by_suite.items()):
        points.reverse()
        link(points)
        unique_labels(points)
        gathered.points[suite] = points[-last:] if last is not None else points
    return gathered


def _tally_run(path: Path, wanted: set[str], models: set[str], seen: set[str]
               ) -> dict[str, Tally]:
    """A run's final records (the last per key), tallied per suite."""
    final: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rec in read_record_dicts(path):  # the last record per key, as store.dedupe keeps
        if not wanted or rec["suite"] in wanted:
            final[rec["suite"], rec["case"], rec["prompt"], rec["model"],
                  rec["repeat"]] = rec
    tallies: dict[str, Tally] = {}
    for rec in final.values():
        seen.add(rec["model"])
        if models and rec["model"] not in models:
            continue
        tallies.setdefault(rec["suite"], Tally()).add_record(rec)
    return {suite: tally for suite, tally in tallies.items() if tally}


# -- the verdict ---------------------------------------------------------------------


@dataclass
class SuiteHistory:
    suite: str
    points: list[Point]
    max_drop: float
    rate: drift.Drift
    metrics: dict[str, drift.Drift]
    rate_text: str
    metric_texts: dict[str, str]
    note: str | None = None

    def reasons(self) -> list[str]:
        """One sentence per decline that fails the gate."""
        out = []
        if self.rate.significant(self.max_drop):
            out.append(f"{self.suite}: {self.rate_text} (max_drop {self.max_drop:g})")
        for name, d in self.metrics.items():
            if d.significant(self.max_drop):
                out.append(f"{self.suite}: {self.metric_texts[name]} "
                           f"(max_drop {self.max_drop:g})")
        return out


@dataclass
class History:
    kind: str
    source: str
    alpha: float
    max_drop: float | None  # --max-drop, or None: each suite's own or the default
    suites: list[SuiteHistory]
    notes: list[str]
    generated: str
    gated: bool = False

    def reasons(self) -> list[str]:
        return [r for s in self.suites for r in s.reasons()]

    @property
    def failed(self) -> bool:
        return bool(self.reasons())

    @property
    def exit_code(self) -> int:
        return 1 if self.gated and self.failed else 0


def _rate_drift(points: Sequence[Point], alpha: float) -> drift.Drift:
    return drift.rate_drift([(p.passed_samples, p.samples) for p in points], alpha=alpha)


def same_cases_since(points: Sequence[Point]) -> int:
    """The index of the first point since the suite's cases last changed (0: they never
    did). A pass rate over other cases is no trend: adding hard cases is not drift."""
    start = 0
    for i in range(1, len(points)):
        before, after = points[i - 1].case_ids, points[i].case_ids
        if before and after and before != after:
            start = i
    return start


def judge(suite: str, points: list[Point], max_drop: float, alpha: float) -> SuiteHistory:
    """The drift of the pass rate and of each metric over the points since the cases
    last changed (same_cases_since; every point is still shown). A drift with no
    p-value (fewer points than the test needs) is "not enough history"."""
    start = same_cases_since(points)
    tested = points[start:]
    rate = _rate_drift(tested, alpha)
    labels = [p.label for p in tested]
    metrics: dict[str, drift.Drift] = {}
    texts: dict[str, str] = {}
    for name in sorted({m for p in tested for m in p.metrics}):
        d = drift.mean_drift([p.metrics[name].scores if name in p.metrics else []
                              for p in tested], alpha=alpha)
        metrics[name], texts[name] = d, drift.describe(d, labels, what=f"metric {name}")
    notes = []
    if start:
        notes.append(f"drift tested over the {len(tested)} point"
                     f"{'' if len(tested) == 1 else 's'} since the cases changed at "
                     f"{points[start].label}")
    if rate.p is None:
        scored = sum(1 for p in tested if p.samples)
        notes.append(f"not enough history: {scored} point{'' if scored == 1 else 's'} "
                     "with a pass rate, too few for the drift test")
    note = "; ".join(notes) or None
    return SuiteHistory(suite, points, max_drop, rate, metrics,
                        drift.describe(rate, labels), texts, note)


def suite_max_drop(project: Project, suite: str, notes: list[str]) -> float | None:
    """The suite's own `max_drop`, None when it has none (or its file is gone)."""
    # deferred: loading a suite only to read its max_drop
    from ..load.suites import load_suite

    path = next((p for p in (project.suites_dir / f"{suite}{s}" for s in (".yaml", ".yml"))
                 if p.is_file()), None)
    if path is None:
        return None
    try:
        return load_suite(project, path).spec.max_drop
    except UserError as exc:
        notes.append(f"{suite}: max_drop {DEFAULT_MAX_DROP:g} used, the suite does not "
                     f"load: {exc}")
        return None


def build(project: Project, gathered: Gathered, *, alpha: float = 0.05,
          max_drop: float | None = None, gated: bool = False, kind: str = "history"
          ) -> History:
    """The verdict over gathered points, per suite."""
    notes = list(gathered.notes)
    suites = []
    for suite, points in gathered.points.items():
        limit = max_drop if max_drop is not None else suite_max_drop(project, suite, notes)
        suites.append(judge(suite, points, DEFAULT_MAX_DROP if limit is None else limit,
                            alpha))
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return History(kind, gathered.source, alpha, max_drop, suites, notes, generated, gated)


def check_alpha(alpha: float) -> float:
    if not (0 < alpha < 1) or math.isnan(alpha):
        raise UserError(f"bad --alpha {alpha:g}", hint="a false-alarm rate between 0 and "
                        "1, e.g. 0.05")
    return alpha


def check_max_drop(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise UserError(f"bad --max-drop {value:g}", hint="a drop in pass rate between 0 "
                        "and 1, e.g. 0.05 for five points")
    return value


# -- the Markdown diff's one line per suite -----------------------------------------

RECENT = 20  # runs a Markdown diff's sparkline looks back over


def recent(project: Project, suites: Sequence[str], until: str | None = None,
           last: int = RECENT) -> dict[str, list[Point]]:
    """The last `last` points of each suite up to run `until`: cheap (named suites stop
    the read early), and never an error (a history is an extra in a diff)."""
    if not suites:
        return {}
    try:
        return run_history(project, suites, last=last, until=until).points
    except (UserError, OSError):
        return {}
