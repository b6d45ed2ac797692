"""Compare a run with the baselines, case by case, and reach the gate's verdict.

Per (case, prompt, model): fixed, broken (a regression), tolerated (pass -> fail within
`max_drop`), still failing, changed (output differs, still passing), unchanged, new,
removed, error; plus what changed in the fingerprint, in words (a hosted endpoint that
now serves another model behind the same name: served_change; the prompt's tools
edited: `tools_sha256`). A changed tool call, in any turn, is a changed output (the
cells' outputs hold them: baseline.Cell.outputs), and an exact cell's note says what
changed in words (tool_changes: `tool call 1 get_weather: city "Paris" -> "London"`).
Per suite: pass rate and every
named metric, before -> after. A case that already failed in the baseline is never a
regression (a ratchet).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .. import stats
from ..load.suites import Suite
from ..redact import redact_url
from ..results import CallRecord, SuiteCellKey
from .baseline import Baseline, Cell, cells_from_records, served_of
from .calls import sample_changes
from .outcome import DEFAULT_ALPHA, CellDiff, DiffReport, SuiteDiff
from .passk_gate import evaluate as evaluate_gate
from .verdicts import counts, decide, sampled, sampled_status, suite_hypotheses


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """[(op, words)] with op in ' ', '-', '+': a word-level diff. A replaced run of
    words comes out whole (all of its '-' then all of its '+'), so it reads as a phrase."""
    a, b = before.split(), after.split()
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False
                                                       ).get_opcodes():
        if tag == "equal":
            out.append((" ", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("-", " ".join(a[i1:i2])))
        if j2 > j1:
            out.append(("+", " ".join(b[j1:j2])))
    return out


def fingerprint_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed between two fingerprints, in words (deepdiff finds the paths)."""
    if before == after:
        return []
    # deferred: deepdiff (~0.17 s) only when two fingerprints differ
    from deepdiff import DeepDiff

    changes: list[str] = []
    tree = DeepDiff(before, after, view="tree")
    for kind, items in tree.items():
        for item in items:
            path = item.path(output_format="list")
            head = path[0] if path else ""
            name = ".".join(str(p) for p in path[1:])
            if head == "prompt_sha256":
                changes.append("prompt edited (rendered messages differ)")
            elif head == "tools_sha256":
                changes.append("tools edited (the prompt's tool definitions differ)")
            elif head == "model":
                old = "absent" if kind == "dictionary_item_added" else item.t1
                new = "absent" if kind == "dictionary_item_removed" else item.t2
                if name == "base_url":  # a baseline written before credentials were cut
                    old, new = (redact_url(v) if isinstance(v, str) else v
                                for v in (old, new))
                    if old == new:
                        continue  # only the credentials differ: the same endpoint
                changes.append(f"model {name}: {_short(old)} -> {_short(new)}")
            elif head == "served":
                continue  # said once, in words, below
            elif head == "params":
                old = "unset" if kind == "dictionary_item_added" else item.t1
                new = "unset" if kind == "dictionary_item_removed" else item.t2
                changes.append(f"param {name}: {old!r} -> {new!r}".replace("'unset'",
                                                                          "unset"))
            else:
                changes.append(f"{'.'.join(str(p) for p in path)} changed")
    served = served_change(before, after)
    if served:
        changes.append(served)
    return sorted(set(changes))


def served_change(before_fp: dict[str, Any], after_fp: dict[str, Any]) -> str | None:
    """What the endpoint behind the same model name now says it runs, as a sentence:
    "the endpoint changed the model behind gpt-4o-mini: gpt-4o-mini-2024-07-18 ->
    gpt-4o-mini-2024-11-20; fp_a -> fp_b". The "; fp" part only when both sides know a
    system_fingerprint and none of the new ones was seen before (a cell with repeats
    may list several: OpenAI rotates them); a new fingerprint of the same model is
    "gpt-4o-mini-2024-07-18 (same model); fp_a -> fp_b". None when nothing changed,
    when a side does not say (a baseline written before promptctl recorded it, a local
    model) or when the model asked for is another one (that swap is its own change)."""
    before, after = before_fp.get("served"), after_fp.get("served")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    asked_before, asked_after = _asked(before_fp), _asked(after_fp)
    if asked_before != asked_after:
        return None
    old, new = before.get("model"), after.get("model")
    old_fps, new_fps = _served_fps(before), _served_fps(after)
    fp_changed = bool(old_fps and new_fps and not old_fps & new_fps)
    if old == new and not fp_changed:
        return None
    text = (f"the endpoint changed the model behind {asked_after or old}: "
            + (f"{old} -> {new}" if old != new else f"{new} (same model)"))
    if fp_changed:
        text += f"; {'/'.join(sorted(old_fps))} -> {'/'.join(sorted(new_fps))}"
    return text


def served_summary(pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> str | None:
    """One served_change for the cells of one model, as (before, after) fingerprints,
    when every one of them has one: what the baseline's cells saw together against
    what the run's saw together ("...: a -> b; fp_a/fp_b -> fp_c/fp_d"). None when a
    cell has no such change (the move is not the whole model's, or there is none)."""
    if not pairs or any(served_change(b, a) is None for b, a in pairs):
        return None
    return served_change(pooled(b for b, _ in pairs), pooled(a for _, a in pairs))


def pooled(fingerprints: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The fingerprints of several cells as one: the first's, with one `served` that
    the system_fingerprints of all of them speak for (baseline.served_of)."""
    listed = list(fingerprints)
    reported: list[dict[str, Any]] = []
    for fp in listed:
        served = fp.get("served")
        if isinstance(served, dict):
            fps: list[str | None] = [*sorted(_served_fps(served))] or [None]
            reported += [{"model": served.get("model"), "system_fingerprint": f}
                         for f in fps]
    return {**listed[0], "served": served_of(reported)}


def served_label(fingerprint: dict[str, Any]) -> str | None:
    """What the endpoint said it ran, in short: "gpt-4o-mini-2024-07-18 fp_44709d6fcb"
    (the model alone when it gave no system_fingerprint); None when it said nothing."""
    served = fingerprint.get("served")
    if not isinstance(served, dict) or not served.get("model"):
        return None
    fps = _served_fps(served)
    return " ".join([str(served["model"]), *sorted(fps)])


def _asked(fingerprint: dict[str, Any]) -> str | None:
    """The model name a fingerprint's identity asked the endpoint for."""
    model = (fingerprint.get("model") or {}).get("model")
    return None if model is None else str(model)


def _served_fps(served: dict[str, Any]) -> set[str]:
    """Every system_fingerprint a `served` names (one, or a cell's several)."""
    fps = {str(f) for f in served.get("system_fingerprints") or [] if f}
    if served.get("system_fingerprint"):
        fps.add(str(served["system_fingerprint"]))
    return fps


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] + "…" if len(text) > 16 and re.fullmatch(r"[0-9a-f]+", text) else text


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _metric_means(cells: Iterable[Cell]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for cell in cells:
        for sample in cell.samples:
            for a in sample.assertions:
                if a.get("metric"):
                    sums.setdefault(a["metric"], []).append(float(a["score"]))
    return {name: sum(v) / len(v) for name, v in sums.items()}


def _tolerated(before: Cell, after: Cell, limits: list[float | None], default: float | None
               ) -> bool:
    """pass -> fail is tolerated when every assertion that flipped dropped by no more
    than its max_drop (or the suite's)."""
    b, a = before.assertion_scores(), after.assertion_scores()
    flipped = [i for i in a if not a[i][2] and (i not in b or b[i][2])]
    if not flipped:
        return False
    for i in flipped:
        limit = limits[i] if i < len(limits) and limits[i] is not None else default
        if limit is None or i not in b or b[i][0] != a[i][0]:
            return False
        if b[i][1] - a[i][1] > limit + 1e-9:
            return False
    return True


def _failing_reasons(records: list[CallRecord]) -> list[str]:
    reasons: list[str] = []
    for rec in sorted(records, key=lambda r: r.repeat):
        if rec.error:
            reasons.append(f"error: {rec.error}")
        reasons.extend(f"{a.type}: {a.reason}" for a in rec.assertions if not a.passed)
    return list(dict.fromkeys(reasons))


def diff_suite(suite: Suite, baseline: Baseline | None, records: list[CallRecord]
               ) -> SuiteDiff:
    after_cells = cells_from_records(r for r in records if r.error is None).get(suite.name, {})
    by_cell: dict[SuiteCellKey, list[CallRecord]] = {}
    for rec in records:
        by_cell.setdefault((rec.case, rec.prompt, rec.model), []).append(rec)
    before_cells = baseline.cells if baseline else {}
    # cells the suite still defines: its own models and any -m override of this run
    models = {*suite.models, *(suite.spec.models or ["default"])}
    current = {(c.id, p.id, m) for c in suite.cases for p in suite.prompts for m in models}
    cases = {c.id: c for c in suite.cases}
    out: list[CellDiff] = []
    not_run = 0
    for key in sorted(set(by_cell) | set(before_cells)):
        recs = by_cell.get(key, [])
        if not recs and key in current:
            not_run += 1  # filtered out of this run
            continue
        case = key[0]
        limits = [a.max_drop for a in cases[case].asserts] if case in cases else []
        out.append(_diff_cell(suite, key, before_cells.get(key), after_cells.get(key), recs,
                              limits))
    result = _suite_diff(suite.name, baseline is not None, out, suite.spec.max_drop, not_run)
    evaluate_gate(suite.spec.gate, result)  # pass^k / pass@k thresholds and drops
    return result


def _diff_cell(suite: Suite, key: SuiteCellKey, before: Cell | None, after: Cell | None,
               recs: list[CallRecord], limits: list[float | None]) -> CellDiff:
    """One cell's status: removed (no records), error, new, sampled (a test on the pass
    counts) or exact (pass/fail before and after), and its fingerprint changes."""
    case, prompt, model = key
    diff = CellDiff(suite.name, case, prompt, model, "unchanged", before, after,
                    reasons=_failing_reasons(recs))
    if not recs:
        diff.status = "removed"
    elif any(r.error for r in recs):
        diff.status = "error"
    elif before is None or after is None:
        diff.status = "new"
    elif sampled(before, after):
        diff.sample_counts = counts(before, after)
        k0, n0, k1, n1 = diff.sample_counts
        diff.p_value = stats.fisher_less(k1, n1, k0, n0)
        diff.status = sampled_status(k0, n0, k1, n1)
    else:
        diff.status = _exact_status(before, after, limits, suite.spec.max_drop)
        notes = tool_changes(before, after)
        if len(before.samples) != len(after.samples):
            notes.insert(0, f"repeats {len(before.samples)} -> {len(after.samples)}")
        diff.note = "; ".join(notes)
    if before is not None and recs:
        now = after.fingerprint if after is not None else recs[0].fingerprint
        diff.fingerprint = fingerprint_changes(before.fingerprint, now)
    return diff


NOTED_CHANGES = 4  # tool-call changes a cell's note lists before "and N more"


def tool_changes(before: Cell, after: Cell, limit: int | None = NOTED_CHANGES
                 ) -> list[str]:
    """What changed in the tool calls and turns of two cells' samples, repeat by repeat
    (prefixed "repeat N: " when a cell has more than one), cut to `limit` lines and
    "… and N more"."""
    many = max(len(before.samples), len(after.samples)) > 1
    out: list[str] = []
    for i, (b, a) in enumerate(zip(before.samples, after.samples, strict=False)):
        lines = sample_changes(b.tool_calls, b.turns, a.tool_calls, a.turns)
        out += [f"repeat {i}: {line}" if many else line for line in lines]
    if limit is not None and len(out) > limit:
        out = [*out[:limit], f"… and {len(out) - limit} more"]
    return out


def _exact_status(before: Cell, after: Cell, limits: list[float | None],
                  max_drop: float | None) -> str:
    if before.passed and not after.passed:
        return "tolerated" if _tolerated(before, after, limits, max_drop) else "broken"
    if not before.passed and after.passed:
        return "fixed"
    if not before.passed:
        return "failing"
    return "changed" if before.outputs != after.outputs else "unchanged"


def _suite_diff(name: str, has_baseline: bool, out: list[CellDiff], max_drop: float | None,
                not_run: int) -> SuiteDiff:
    """The suite's pass rate and metrics over the cells compared on both sides."""
    both = [d for d in out if d.before is not None and d.after is not None]
    before_outcomes = [[float(x.passed) for x in d.before.samples] for d in both if d.before]
    after_outcomes = [[float(x.passed) for x in d.after.samples] for d in both if d.after]
    rate_before = _mean([x for g in before_outcomes for x in g])
    rate_after = _mean([x for g in after_outcomes for x in g])
    m_before = _metric_means(d.before for d in both if d.before)
    m_after = _metric_means(d.after for d in both if d.after)
    metrics = {metric: (m_before.get(metric), m_after.get(metric))
               for metric in sorted(set(m_before) | set(m_after))}
    result = SuiteDiff(name, has_baseline, out, (rate_before, rate_after), metrics, max_drop,
                       _metric_regressions(metrics, max_drop), not_run)
    if both:
        result.pass_rate_ci = (stats.rate_interval(before_outcomes)[1:],
                               stats.rate_interval(after_outcomes)[1:])
    if any(d.sample_counts for d in out):
        result.metric_regressions = []  # metrics of sampled cells need a significant drop
        result.hypotheses = suite_hypotheses(result)
    return result


def _metric_regressions(metrics: dict[str, tuple[float | None, float | None]],
                        max_drop: float | None) -> list[str]:
    """The metrics of exact cells that dropped by more than max_drop (sampled ones are
    judged in verdicts.decide)."""
    if max_drop is None:
        return []
    return [f"metric {name} dropped {b:.3f} -> {a:.3f} (max_drop {max_drop})"
            for name, (b, a) in metrics.items()
            if b is not None and a is not None and b - a > max_drop + 1e-9]


def diff_run(suites: Sequence[Suite], baselines: dict[str, Baseline | None],
             records: Sequence[CallRecord], *, run_id: str | None = None,
             strict: bool = False, alpha: float = DEFAULT_ALPHA) -> DiffReport:
    by_suite: dict[str, list[CallRecord]] = {}
    for rec in records:
        by_suite.setdefault(rec.suite, []).append(rec)
    report = DiffReport(run_id, [diff_suite(s, baselines.get(s.name),
                                            by_suite.get(s.name, [])) for s in suites],
                        strict, alpha)
    decide(report, alpha)
    return report
