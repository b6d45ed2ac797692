"""Rich rendering of a baseline diff: a table of what moved, suite lines, a verdict."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..diff import CellDiff, DiffReport, SuiteDiff, word_diff
from ..errors import ExitCode
from .output import out, short

STYLE = {"broken": "bold red", "error": "yellow", "tolerated": "magenta",
         "dropped": "magenta", "fixed": "green", "improved": "green", "failing": "red",
         "flaky": "yellow", "changed": "cyan", "new": "blue", "removed": "dim",
         "unchanged": "dim"}
ORDER = {s: i for i, s in enumerate(STYLE)}


def diff_text(before: str, after: str, width: int = 200) -> Text:
    text = Text()
    for op, words in word_diff(before, after):
        if text:
            text.append(" ")
        if op == "-":
            text.append(words, style="red strike")
        elif op == "+":
            text.append(words, style="green")
        else:
            text.append(words if len(words) <= 40 else words[:18] + " … " + words[-18:])
    if len(text) > width:
        text.truncate(width - 1)
        text.append("…")
    return text


def _output_cell(d: CellDiff) -> Text:
    if d.sample_counts is not None and d.after is not None:
        # sampled outputs differ by chance: show a failing sample of the candidate
        shown = next((x.output for x in d.after.samples if not x.passed),
                     d.after.samples[0].output)
        return Text(short(shown, 80))
    if d.before and d.after and d.before.outputs != d.after.outputs:
        return diff_text(d.before.outputs[0], d.after.outputs[0])
    cell = d.after or d.before
    return Text(short(cell.outputs[0] if cell else "", 80))


def show_report(report: DiffReport, *, verbose: bool = False) -> None:
    rows = sorted((c for c in report.cells() if verbose or c.status != "unchanged"),
                  key=lambda c: (ORDER[c.status], c.suite, c.case, c.prompt, c.model))
    common = {s.suite: shared_fingerprint(s) for s in report.suites}
    if rows:
        many_prompts = len({c.prompt for c in rows}) > 1
        many_models = len({c.model for c in rows}) > 1
        many_suites = len(report.suites) > 1
        table = Table(pad_edge=False)
        table.add_column("", no_wrap=True)
        if many_suites:
            table.add_column("suite", no_wrap=True)
        table.add_column("case", no_wrap=True)
        if many_prompts:
            table.add_column("prompt", no_wrap=True)
        if many_models:
            table.add_column("model", no_wrap=True)
        table.add_column("output (before -> after)", overflow="fold", ratio=2)
        table.add_column("why", overflow="fold", ratio=1)
        for c in rows:
            cells: list[Text | str] = [Text(c.status.upper(), style=STYLE[c.status])]
            if many_suites:
                cells.append(c.suite)
            cells.append(c.case)
            if many_prompts:
                cells.append(c.prompt)
            if many_models:
                cells.append(c.model)
            cells.append(_output_cell(c))
            why = [*c.reasons[:3], *(f for f in c.fingerprint
                                      if f not in common.get(c.suite, set()))]
            if c.sample_counts is not None:
                why.insert(0, sample_text(c))
            if c.note:
                why.append(c.note)
            cells.append(Text("; ".join(why)))
            table.add_row(*cells)
        out.print(table)
    for s in report.suites:
        out.print(suite_line(s))
    out.print(verdict_line(report))


def shared_fingerprint(s: SuiteDiff) -> set[str]:
    """Fingerprint changes every compared cell of the suite has: said once per suite."""
    compared = [c for c in s.cells if c.before is not None and c.after is not None]
    if len(compared) < 2:
        return set()
    shared = set(compared[0].fingerprint)
    for c in compared[1:]:
        shared &= set(c.fingerprint)
    return shared


def sample_text(c: CellDiff) -> str:
    """'5/5 -> 2/5 passed, p=0.083 (adjusted 0.9)' for a sampled cell."""
    k0, n0, k1, n1 = c.sample_counts or (0, 0, 0, 0)
    text = f"{k0}/{n0} -> {k1}/{n1} passed"
    if c.p_value is not None and k1 / max(n1, 1) < k0 / max(n0, 1):
        text += f", p={c.p_value:.3g} (adjusted {c.adjusted or 1:.3g})"
    return text


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.0%}, {ci[1]:.0%}]"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def suite_line(s: SuiteDiff) -> Text:
    text = Text(f"{s.suite}: ", style="bold")
    if not s.has_baseline:
        text.append("no baseline yet (all cases new) ", style="yellow")
    before, after = s.pass_rate
    ci_b, ci_a = s.pass_rate_ci
    text.append(f"pass rate {_pct(before)}{_ci(ci_b)} -> {_pct(after)}{_ci(ci_a)}")
    for name, (b, a) in s.metrics.items():
        text.append(f" · {name} {_num(b)} -> {_num(a)}")
    counts: dict[str, int] = {}
    for c in s.cells:
        counts[c.status] = counts.get(c.status, 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items(), key=lambda x: ORDER[x[0]])]
    if s.not_run:
        parts.append(f"{s.not_run} not run")
    shared = shared_fingerprint(s)
    fp = sum(1 for c in s.cells if set(c.fingerprint) - shared)
    if fp:
        parts.append(f"{fp} fingerprint changes")
    text.append(" · " + ", ".join(parts))
    if shared:
        text.append("\n  every case: " + "; ".join(sorted(shared)), style="cyan")
    for h in s.hypotheses:
        if not h.regression:
            text.append(f"\n  {h.describe()}: not a significant drop", style="dim")
    for reg in s.metric_regressions:
        text.append(f"\n  {reg}", style="red")
    if s.power is not None:
        text.append(f"\n  power: {s.power.describe()}", style="dim")
    flaky = [c.case for c in s.cells if c.sample_counts and 0 < c.sample_counts[2]
             < c.sample_counts[3]]
    if flaky:
        text.append(f"\n  flaky now ({len(flaky)}): " + ", ".join(flaky[:10])
                    + (" …" if len(flaky) > 10 else ""), style="yellow")
    return text


def verdict_line(report: DiffReport) -> Text:
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
        return Text(msg, style="bold red")
    if code == ExitCode.INFRA:
        return Text(f"NO VERDICT: {counts['error']} cases errored (infrastructure)",
                    style="bold yellow")
    moved = ", ".join(f"{counts[k]} {k}" for k in ("unchanged", "changed", "fixed",
                                                   "improved", "dropped", "flaky", "failing",
                                                   "new", "removed") if counts[k])
    alpha = f" at alpha {report.alpha:g}" if any(s.hypotheses for s in report.suites) else ""
    return Text(f"OK: no regressions{alpha} ({moved or 'nothing compared'})", style="green")
