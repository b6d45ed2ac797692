"""The history document (`history -o FILE.json`; its shape is contract section 2 of
issue 16, docs/history.md) and the words every rendering of a history shares: the
terminal table's cells, the Markdown diff's one line per suite.

`-o` goes through WRITERS, by extension, here and nowhere else: `.json` the document,
`.html` the page of reports/history_html.render_html (the same document, drawn).
Keys of the document may be added, never renamed; absent data is null, except the
source-specific keys (run_id for runs, commit for git), which appear only there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import drift
from ..gate.history import History, SuiteHistory, recent
from ..gate.history_points import Point
from ..load.project import Project
from ..run.store import write_json_atomic, write_text_atomic
from .wording import pct

VERSION = 1


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _ci(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [round(ci[0], 4), round(ci[1], 4)]


def point_doc(p: Point) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id, "label": p.label, "title": p.title, "time": p.time,
        "cases": p.cases, "passed": p.passed, "failed": p.failed, "errors": p.errors,
        "samples": p.samples, "variants": p.variants,
        "pass_rate": _r(p.pass_rate), "ci": _ci(p.ci),
        "metrics": {name: {"mean": _r(m.mean), "ci": _ci(m.ci), "n": m.n}
                    for name, m in p.metrics.items()},
        "models": p.models,
        "changes": list(p.changes),
    }
    if p.run_id is not None:
        out["run_id"] = p.run_id
    if p.commit is not None:
        out["commit"] = dict(p.commit)
    return out


def suite_doc(s: SuiteHistory) -> dict[str, Any]:
    ids = [p.id for p in s.points]
    return {
        "suite": s.suite,
        "max_drop": s.max_drop,
        "note": s.note,
        "points": [point_doc(p) for p in s.points],
        "drift": {"pass_rate": s.rate.document(ids, s.rate_text, s.max_drop),
                  "metrics": {name: d.document(ids, s.metric_texts[name], s.max_drop)
                              for name, d in s.metrics.items()}},
    }


def document(h: History) -> dict[str, Any]:
    return {
        "version": VERSION,
        "kind": h.kind,
        "source": h.source,
        "generated": h.generated,
        "alpha": h.alpha,
        "max_drop": h.max_drop,
        "gate": {"failed": h.failed, "enforced": h.gated, "reasons": h.reasons()},
        "notes": list(h.notes),
        "suites": [suite_doc(s) for s in h.suites],
    }


# -- -o: one writer per extension ------------------------------------------------------


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    write_json_atomic(path, doc)


def _write_html(path: Path, doc: dict[str, Any]) -> None:
    from .history_html import render_html  # the page: only when one is asked for

    write_text_atomic(path, render_html(doc))


WRITERS: dict[str, Callable[[Path, dict[str, Any]], None]] = {
    ".json": _write_json,
    ".html": _write_html,
}
FORMATS = tuple(WRITERS)


def write(path: Path, doc: dict[str, Any]) -> None:
    """One `-o` file; its extension was checked (reports.check_outputs) before."""
    WRITERS[path.suffix.lower()](path, doc)


# -- words -----------------------------------------------------------------------------


def rate_cell(p: Point) -> str:
    if p.pass_rate is None or p.ci is None:
        return "—"
    return f"{pct(p.pass_rate)} [{100 * p.ci[0]:.0f}-{100 * p.ci[1]:.0f}]"


def metrics_cell(p: Point) -> str:
    return ", ".join(f"{name} {m.mean:.2f}" for name, m in p.metrics.items()) or "—"


def cases_cell(p: Point) -> str:
    text = f"{p.passed}/{p.cases}"
    if p.errors:
        text += f" ({p.errors} err)"
    return text


def spark(points: Sequence[Point]) -> str:
    return drift.sparkline([p.pass_rate for p in points])


def suite_headline(s: SuiteHistory) -> str:
    n = len(s.points)
    return f"{s.suite}: {n} point{'' if n == 1 else 's'}  {spark(s.points)}"


def headline(h: History) -> str:
    """The last line: the verdict, in words."""
    reasons = h.reasons()
    n = len(h.suites)
    where = f"{n} suite{'' if n == 1 else 's'}"
    if reasons:
        verb = "failed" if h.gated else "would fail"
        return f"history: {where}, the drift gate {verb}: " + "; ".join(reasons)
    short = [s.suite for s in h.suites if s.note and "not enough history" in s.note]
    tail = f" (not enough history: {', '.join(short)})" if short else ""
    return f"history: {where}, no significant decline{tail}"


def recent_line(points: Sequence[Point]) -> str | None:
    """The Markdown diff's line: "History (last N runs): ▂▃▅▅▇ 80% → 91%"."""
    rated = [p for p in points if p.pass_rate is not None]
    if len(rated) < 2:
        return None
    n = len(points)
    return (f"History (last {n} run{'' if n == 1 else 's'}): {spark(points).strip()} "
            f"{pct(rated[0].pass_rate)} → {pct(rated[-1].pass_rate)}")


def recent_lines(project: Project, suites: Sequence[str], until: str | None = None
                 ) -> dict[str, str]:
    """suite -> its recent_line, for the suites that have a history of two runs or more
    up to run `until` (the diffed one): the last history.RECENT runs."""
    points = recent(project, suites, until)
    found = {suite: recent_line(points[suite]) for suite in suites if suite in points}
    return {suite: line for suite, line in found.items() if line}
