"""Diff reports to files: Markdown (a pull-request comment or GitHub job summary) and
JSON (for scripts). Every value from the project or a model enters the Markdown through
reports/md.py: only the markup written here is Markdown. A fingerprint change every
case of a suite (or of one of its models) has is said once, under the suite table
(reports/wording.shared_lines), not in each row. A case's output is what it said as a
review reads it: its tool calls (`get_weather({"city":"Paris"})`) and a conversation's
turns included (gate/calls.py), and what changed in its calls is said in words in its
row (gate/diff.tool_changes); the JSON keeps each sample's text (`outputs`), calls
(`tool_calls`) and turns (`turns`, when a conversation) apart."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExitCode
from ..gate.baseline import Cell
from ..gate.diff import tool_changes, word_diff
from ..gate.outcome import CellDiff, DiffReport
from ..run.store import write_json_atomic
from . import md, wording

if TYPE_CHECKING:
    from ..gate.labels import LabelView
    from ..results import CellKey

VERDICT = {ExitCode.OK: "pass", ExitCode.FAILED: "regressed", ExitCode.INFRA: "error"}
HEADLINE = {ExitCode.OK: "✅ no regressions", ExitCode.FAILED: "❌ regressions found",
            ExitCode.INFRA: "⚠️ no verdict: infrastructure errors"}
SECTIONS = [("broken", "Broken (regressions)"), ("error", "Errors"),
            ("tolerated", "Dropped within max_drop"),
            ("dropped", "Pass rate lower, not a significant drop"), ("fixed", "Fixed"),
            ("improved", "Pass rate higher"), ("changed", "Output changed, still passing"),
            ("flaky", "Flaky (same pass rate, neither all pass nor all fail)"),
            ("failing", "Still failing"), ("new", "New"), ("removed", "Removed")]


def _cell(cell: Cell | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    data: dict[str, Any] = {"passed": cell.passed, "score": round(cell.score, 4),
                            "pass_count": cell.pass_count, "samples": len(cell.samples),
                            "outputs": [s.output for s in cell.samples]}
    if any(s.tool_calls for s in cell.samples):
        data["tool_calls"] = [s.tool_calls for s in cell.samples]
    if any(s.turns is not None for s in cell.samples):
        data["turns"] = [s.turns for s in cell.samples]
    return data


def _changes(c: CellDiff, limit: int | None = None) -> list[str]:
    """What changed in an exact cell's tool calls and turns (sampled cells differ by
    chance: none)."""
    if c.before is None or c.after is None or c.sample_counts is not None:
        return []
    return tool_changes(c.before, c.after, limit)


CaseMetadata = Mapping[tuple[str, str], tuple[dict[str, Any], tuple[str, ...]]]


def document(report: DiffReport, metadata: CaseMetadata | None = None,
             labels: Mapping[CellKey, LabelView] | None = None) -> dict[str, Any]:
    """The diff as JSON; each case with the metadata and tags the run gave it, and the
    reviewer's label (`label`) when reviews/ has one for its output."""
    known = metadata or {}
    marks = labels or {}

    def label(suite: str, c: CellDiff) -> dict[str, Any]:
        view = marks.get((suite, c.case, c.prompt, c.model))
        return {"label": view.to_dict()} if view is not None else {}

    def case_meta(suite: str, case: str) -> dict[str, Any]:
        values, tags = known.get((suite, case), ({}, ()))
        return {"metadata": values, "tags": list(tags)}

    code = report.exit_code
    return {
        "version": 1,
        "run_id": report.run_id,
        "verdict": VERDICT[code],
        "exit_code": int(code),
        "strict": report.strict,
        "alpha": report.alpha,
        "counts": dict(sorted(report.counts().items())),
        "suites": [{
            "suite": s.suite,
            "has_baseline": s.has_baseline,
            "pass_rate": {"before": s.pass_rate[0], "after": s.pass_rate[1],
                          "before_ci": s.pass_rate_ci[0], "after_ci": s.pass_rate_ci[1]},
            "metrics": {k: {"before": b, "after": a} for k, (b, a) in s.metrics.items()},
            "metric_regressions": s.metric_regressions,
            "not_run": s.not_run,
            "tests": [{"name": h.name, "before": h.before, "after": h.after,
                       "p_value": h.p_value, "adjusted": h.adjusted,
                       "regression": h.regression} for h in s.hypotheses],
            "gate": [{"measure": v.measure, "k": v.k, "threshold": v.threshold,
                      "status": v.status, "reason": v.reason,
                      **({} if v.estimate is None else v.estimate.to_dict())}
                     for v in s.gate],
            "power": None if s.power is None else {
                "cases": s.power.cases, "repeats": s.power.repeats,
                "min_detectable_drop": s.power.min_drop, "text": s.power.describe()},
            "cases": [{"case": c.case, "prompt": c.prompt, "model": c.model,
                       "status": c.status, "fingerprint": c.fingerprint,
                       "reasons": c.reasons, "before": _cell(c.before),
                       "after": _cell(c.after), "p_value": c.p_value,
                       "adjusted": c.adjusted,
                       **({"tool_changes": changes} if (changes := _changes(c)) else {}),
                       **case_meta(s.suite, c.case),
                       **label(s.suite, c)}
                      for c in s.cells],
        } for s in report.suites],
    }


OUTPUT_LIMIT = 300  # characters of output (or of its word diff) shown per case


def _md_diff(before: str, after: str, limit: int = OUTPUT_LIMIT) -> str:
    """The word diff, ~~removed~~ and **added**, cut to `limit` characters of text
    (cut before escaping, so no cut falls inside markup)."""
    marks = {"-": "~~{}~~", "+": "**{}**", " ": "{}"}
    parts: list[str] = []
    left = limit
    for op, words in word_diff(before, after):
        if left <= 0:
            parts.append("…")
            break
        whole = md.flat(words)
        shown = md.flat(whole, left)
        if shown:
            parts.append(marks[op].format(md.text(shown)))
        if len(whole) > left:
            break  # the cut shows its own ellipsis
        left -= len(shown) + 1
    return " ".join(parts)


def _md_row(c: CellDiff, metadata: CaseMetadata | None = None,
            shared: wording.Shared | None = None) -> str:
    if c.before and c.after and c.before.outputs != c.after.outputs:
        output = _md_diff(c.before.outputs[0], c.after.outputs[0])
    else:
        cell = c.after or c.before
        output = md.text(cell.outputs[0], OUTPUT_LIMIT) if cell else ""
    why = "; ".join([*c.reasons[:3], *_changes(c, 4),
                     *(shared.left(c) if shared else c.fingerprint)])
    if c.sample_counts is not None:
        k0, n0, k1, n1 = c.sample_counts
        rates = f"{k0}/{n0} → {k1}/{n1}"
        if c.p_value is not None and k1 / n1 < k0 / n0:
            adjusted = 1.0 if c.adjusted is None else c.adjusted
            rates += f" (p={c.p_value:.3g}, adj. {adjusted:.3g})"
        why = f"{rates}; {why}" if why else rates
    meta = ""
    if metadata is not None:
        meta = md.metadata(*metadata.get((c.suite, c.case), ({}, ()))) + " | "
    return (f"| {md.code(c.case)} | {meta}{md.text(c.prompt)} | {md.text(c.model)} | "
            f"{output} | {md.text(why, OUTPUT_LIMIT)} |")


def markdown(report: DiffReport, metadata: CaseMetadata | None = None,
             history: Mapping[str, str] | None = None) -> str:
    """The pull-request comment; a section lists its cases' metadata and tags (from
    the run's records) in a column when any of them has some. `history`: a suite's
    line of its recent runs (history_report.recent_lines), under the table."""
    code = report.exit_code
    lines = [f"## promptctl: {HEADLINE[code]}", ""]
    if report.run_id:
        strict = " (strict)" if report.strict else ""
        lines += [f"Run {md.code(report.run_id, in_table=False)}{strict}", ""]
    shared = {s.suite: wording.shared_changes(s) for s in report.suites}
    lines += ["| suite | pass rate | metrics | cases |", "| --- | --- | --- | --- |"]
    for s in report.suites:
        metrics = ", ".join(f"{md.text(k)} {b if b is None else round(b, 3)} → "
                            f"{a if a is None else round(a, 3)}"
                            for k, (b, a) in s.metrics.items()) or "—"
        counts: dict[str, int] = {}
        for c in s.cells:
            counts[c.status] = counts.get(c.status, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        name = md.text(s.suite) + ("" if s.has_baseline else " (no baseline)")
        ci_b, ci_a = (f" [{c[0]:.0%}–{c[1]:.0%}]" if c else "" for c in s.pass_rate_ci)
        before, after = (wording.pct(rate) for rate in s.pass_rate)
        lines.append(f"| {name} | {before}{ci_b} → {after}{ci_a} | {metrics} | {summary} |")
    if history:
        lines.append("")
        lines += [f"{md.text(suite)}: {md.text(line)}  " for suite, line in history.items()]
    for s in report.suites:
        for reg in s.metric_regressions:
            lines.append(f"\n**{md.text(s.suite)}**: {md.text(reg)}")
        for v in s.gate:
            name = f"**{md.text(s.suite)}**" if v.failed else md.text(s.suite)
            lines.append(f"\n{name}: gate: {md.text(v.reason)}")
        for h in s.hypotheses:
            if not h.regression:
                lines.append(f"\n{md.text(s.suite)}: {md.text(h.describe())}: "
                             "not a significant drop")
        if s.power is not None:
            lines.append(f"\n{md.text(s.suite)}: {md.text(s.power.describe())}.")
        for line in shared[s.suite].lines:  # said here, not in each of its rows
            lines.append(f"\n{md.text(s.suite)}: {md.text(line)}")
    for status, title in SECTIONS:
        rows = [c for c in report.cells() if c.status == status]
        if not rows:
            continue
        tagged = metadata if any((c.suite, c.case) in (metadata or {}) for c in rows) \
            else None
        lines += ["", f"### {title} ({len(rows)})", "",
                  "| case | " + "metadata | " * bool(tagged)
                  + "prompt | model | output (~~before~~ **after**) | why |",
                  "| --- | " + "--- | " * bool(tagged) + "--- | --- | --- | --- |"]
        lines += [_md_row(c, tagged, shared.get(c.suite)) for c in rows]
    changed_fp = [c for c in report.cells() if c.fingerprint]
    if changed_fp:
        # each said once: a suite-level line stands for the cells' own wordings of it
        kinds = sorted({*(f for sh in shared.values() for f in sh.changes),
                        *(f for c in changed_fp for f in shared[c.suite].left(c))})
        lines += ["", f"Fingerprint changes in {len(changed_fp)} cases: "
                  + md.text("; ".join(kinds))]
    return "\n".join(lines) + "\n"


def write_diff_json(path: Path, report: DiffReport, metadata: CaseMetadata | None = None,
                    labels: Mapping[CellKey, LabelView] | None = None,
                    timing: dict[str, Any] | None = None) -> None:
    doc = document(report, metadata, labels)
    if timing is not None:  # a check that ran now: where its time went (run/timing.py)
        doc["timing"] = timing
    write_json_atomic(path, doc)
