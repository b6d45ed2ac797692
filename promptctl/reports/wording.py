"""The words of a baseline diff, shared by the terminal and the HTML report: suite
lines and the verdict as (text, style) segments (styles are rich style names; the HTML
report ignores them)."""

from __future__ import annotations

from ..errors import ExitCode
from ..gate.outcome import CellDiff, DiffReport, SuiteDiff

Segments = list[tuple[str, str]]

STATUS_ORDER = ("broken", "error", "tolerated", "dropped", "fixed", "improved", "failing",
                "flaky", "changed", "new", "removed", "unchanged")
ORDER = {s: i for i, s in enumerate(STATUS_ORDER)}


def plain(segments: Segments) -> str:
    return "".join(text for text, _ in segments)


def shared_fingerprint(s: SuiteDiff) -> set[str]:
    """Fingerprint changes every compared cell of the suite has: said once per suite."""
    compared = [c for c in s.cells if c.before is not None and c.after is not None]
    if len(compared) < 2:
        return set()
    shared = set(compared[0].fingerprint)
    for c in compared[1:]:
        shared &= set(c.fingerprint)
    return shared


def shared_by_model(s: SuiteDiff) -> dict[str, set[str]]:
    """Fingerprint changes every compared cell of one model has (beyond those of the
    whole suite): a hosted endpoint that moved its alias to another snapshot changes
    every cell of that model alike, said once per model instead of once per case."""
    compared = [c for c in s.cells if c.before is not None and c.after is not None]
    by_model: dict[str, list[CellDiff]] = {}
    for c in compared:
        by_model.setdefault(c.model, []).append(c)
    if len(by_model) < 2:
        return {}  # one model: the suite's shared changes are its own
    suite_wide = shared_fingerprint(s)
    out: dict[str, set[str]] = {}
    for model, cells in by_model.items():
        if len(cells) < 2:
            continue
        shared = set(cells[0].fingerprint).intersection(*(c.fingerprint for c in cells[1:]))
        if shared - suite_wide:
            out[model] = shared - suite_wide
    return out


def said_once(s: SuiteDiff) -> dict[str, set[str]]:
    """Per model of the suite, the fingerprint changes said once at the suite's level
    (shared_fingerprint and shared_by_model), left out of its cells' lines."""
    suite_wide = shared_fingerprint(s)
    by_model = shared_by_model(s)
    return {m: suite_wide | by_model.get(m, set()) for m in {c.model for c in s.cells}}


def shared_lines(s: SuiteDiff) -> list[str]:
    """The suite-level lines of shared_fingerprint and shared_by_model: "every case:
    ...", "every case of model M: ..."."""
    lines = []
    shared = shared_fingerprint(s)
    if shared:
        lines.append("every case: " + "; ".join(sorted(shared)))
    for model, changes in sorted(shared_by_model(s).items()):
        lines.append(f"every case of model {model}: " + "; ".join(sorted(changes)))
    return lines


def sample_text(c: CellDiff) -> str:
    """'5/5 -> 2/5 passed, p=0.083 (adjusted 0.9)' for a sampled cell."""
    k0, n0, k1, n1 = c.sample_counts or (0, 0, 0, 0)
    text = f"{k0}/{n0} -> {k1}/{n1} passed"
    if c.p_value is not None and k1 / max(n1, 1) < k0 / max(n0, 1):
        adjusted = 1.0 if c.adjusted is None else c.adjusted
        text += f", p={c.p_value:.3g} (adjusted {adjusted:.3g})"
    return text


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.0%}, {ci[1]:.0%}]"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def suite_line(s: SuiteDiff) -> Segments:
    text: Segments = [(f"{s.suite}: ", "bold")]
    if not s.has_baseline:
        text.append(("no baseline yet (all cases new) ", "yellow"))
    before, after = s.pass_rate
    ci_b, ci_a = s.pass_rate_ci
    text.append((f"pass rate {_pct(before)}{_ci(ci_b)} -> {_pct(after)}{_ci(ci_a)}", ""))
    for name, (b, a) in s.metrics.items():
        text.append((f" · {name} {_num(b)} -> {_num(a)}", ""))
    counts: dict[str, int] = {}
    for c in s.cells:
        counts[c.status] = counts.get(c.status, 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items(), key=lambda x: ORDER[x[0]])]
    if s.not_run:
        parts.append(f"{s.not_run} not run")
    once = said_once(s)
    fp = sum(1 for c in s.cells if set(c.fingerprint) - once.get(c.model, set()))
    if fp:
        parts.append(f"{fp} fingerprint changes")
    text.append((" · " + ", ".join(parts), ""))
    for line in shared_lines(s):
        text.append((f"\n  {line}", "cyan"))
    for h in s.hypotheses:
        if not h.regression:
            text.append((f"\n  {h.describe()}: not a significant drop", "dim"))
    for reg in s.metric_regressions:
        text.append((f"\n  {reg}", "red"))
    if s.power is not None:
        text.append((f"\n  power: {s.power.describe()}", "dim"))
    flaky = [c.case for c in s.cells if c.sample_counts and 0 < c.sample_counts[2]
             < c.sample_counts[3]]
    if flaky:
        text.append((f"\n  flaky now ({len(flaky)}): " + ", ".join(flaky[:10])
                     + (" …" if len(flaky) > 10 else ""), "yellow"))
    return text


def verdict(report: DiffReport) -> tuple[str, str]:
    code = report.exit_code
    counts = report.counts()
    if code == ExitCode.FAILED:
        failing = report.failing()
        what = f"{len(failing)} case{'s' if len(failing) != 1 else ''}"
        reason = "changed (--strict)" if report.strict else "regressed"
        suite_level = sum(len(s.metric_regressions) for s in report.suites)
        parts = [f"{what} {reason}"] if failing else []
        if suite_level:
            drops = [h for s in report.suites for h in s.hypotheses if h.regression]
            parts.append("; ".join(f"{h.suite} {h.describe()}" for h in drops) or
                         f"{suite_level} metric drops beyond max_drop")
        msg = "REGRESSED: " + "; ".join(parts)
        return msg, "bold red"
    if code == ExitCode.INFRA:
        return (f"NO VERDICT: {counts['error']} cases errored (infrastructure)",
                "bold yellow")
    moved = ", ".join(f"{counts[k]} {k}" for k in ("unchanged", "changed", "fixed",
                                                   "improved", "dropped", "flaky", "failing",
                                                   "new", "removed") if counts[k])
    alpha = f" at alpha {report.alpha:g}" if any(s.hypotheses for s in report.suites) else ""
    return f"OK: no regressions{alpha} ({moved or 'nothing compared'})", "green"
