"""The words of a baseline diff, shared by the terminal and the HTML report: suite
lines and the verdict as (text, style) segments (styles are rich style names; the HTML
report ignores them). A fingerprint change many cells share is said once, on its
suite's line (shared_changes: the terminal and the Markdown leave it out of the rows)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ExitCode
from ..gate.diff import served_change, served_summary
from ..gate.outcome import CellDiff, DiffReport, SuiteDiff

Segments = list[tuple[str, str]]

STATUS_ORDER = ("broken", "error", "tolerated", "dropped", "fixed", "improved", "failing",
                "flaky", "changed", "new", "removed", "unchanged")
ORDER = {s: i for i, s in enumerate(STATUS_ORDER)}


def plain(segments: Segments) -> str:
    return "".join(text for text, _ in segments)


@dataclass
class Shared:
    """The fingerprint changes of a suite said once, at its level: `lines` ("every
    case: ...", "every case of model M: ..."), and per model the changes of its cells
    those lines cover (`said`), left out of each cell's own line."""

    lines: list[str] = field(default_factory=list)
    said: dict[str, set[str]] = field(default_factory=dict)
    changes: set[str] = field(default_factory=set)  # what the lines say, without "every"

    def left(self, c: CellDiff) -> list[str]:
        """A cell's fingerprint changes that no suite-level line says."""
        said = self.said.get(c.model, set())
        return [f for f in c.fingerprint if f not in said]


def shared_changes(s: SuiteDiff) -> Shared:
    """What to say once for the suite's compared cells:

    - per model whose every compared cell says its endpoint serves another model
      (or fingerprint) behind the same name, one sentence over all of them
      (gate.diff.served_summary): the fingerprints OpenAI rotates make the cells'
      own sentences differ, the move of the alias is one;
    - the other changes every compared cell of the suite has (two cells at least);
    - with several models, those every compared cell of one model has.
    """
    compared = [c for c in s.cells if c.before is not None and c.after is not None]
    by_model: dict[str, list[CellDiff]] = {}
    for c in compared:
        by_model.setdefault(c.model, []).append(c)
    out = Shared()
    for model, cells in sorted(by_model.items()):
        pairs = [(c.before.fingerprint, c.after.fingerprint) for c in cells
                 if c.before is not None and c.after is not None]
        sentence = served_summary(pairs)
        if sentence is not None:
            out.lines.append(f"every case of model {model}: {sentence}")
            out.changes.add(sentence)
            out.said[model] = {served_change(b, a) or "" for b, a in pairs}
    rest = [set(out.left(c)) for c in compared]
    suite_wide = set.intersection(*rest) if len(rest) > 1 else set()
    if suite_wide:
        out.lines.insert(0, "every case: " + "; ".join(sorted(suite_wide)))
        out.changes |= suite_wide
    for model, cells in sorted(by_model.items()):
        out.said[model] = out.said.get(model, set()) | suite_wide
        if len(by_model) < 2 or len(cells) < 2:
            continue  # one model: the suite's shared changes are its own
        shared = set.intersection(*(set(out.left(c)) for c in cells))
        if shared:
            out.lines.append(f"every case of model {model}: " + "; ".join(sorted(shared)))
            out.said[model] |= shared
            out.changes |= shared
    return out


def sample_text(c: CellDiff) -> str:
    """'5/5 -> 2/5 passed, p=0.083 (adjusted 0.9)' for a sampled cell."""
    k0, n0, k1, n1 = c.sample_counts or (0, 0, 0, 0)
    text = f"{k0}/{n0} -> {k1}/{n1} passed"
    if c.p_value is not None and k1 / max(n1, 1) < k0 / max(n0, 1):
        adjusted = 1.0 if c.adjusted is None else c.adjusted
        text += f", p={c.p_value:.3g} (adjusted {adjusted:.3g})"
    return text


def pct(x: float | None) -> str:
    """A rate as a whole percent; a dash when there is none."""
    return "—" if x is None else f"{x:.0%}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.0%}, {ci[1]:.0%}]"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


GATE_STYLE = {"fail": "red", "below": "yellow", "none": "yellow"}


def suite_line(s: SuiteDiff) -> Segments:
    text: Segments = [(f"{s.suite}: ", "bold")]
    if not s.has_baseline:
        text.append(("no baseline yet (all cases new) ", "yellow"))
    before, after = s.pass_rate
    ci_b, ci_a = s.pass_rate_ci
    text.append((f"pass rate {pct(before)}{_ci(ci_b)} -> {pct(after)}{_ci(ci_a)}", ""))
    for name, (b, a) in s.metrics.items():
        text.append((f" · {name} {_num(b)} -> {_num(a)}", ""))
    counts: dict[str, int] = {}
    for c in s.cells:
        counts[c.status] = counts.get(c.status, 0) + 1
    parts = [f"{n} {status}" for status, n in sorted(counts.items(), key=lambda x: ORDER[x[0]])]
    if s.not_run:
        parts.append(f"{s.not_run} not run")
    shared = shared_changes(s)
    fp = sum(1 for c in s.cells if shared.left(c))
    if fp:
        parts.append(f"{fp} fingerprint changes")
    text.append((" · " + ", ".join(parts), ""))
    for line in shared.lines:
        text.append((f"\n  {line}", "cyan"))
    for h in s.hypotheses:
        if not h.regression:
            text.append((f"\n  {h.describe()}: not a significant drop", "dim"))
    for reg in s.metric_regressions:
        text.append((f"\n  {reg}", "red"))
    for v in s.gate:  # pass^k / pass@k thresholds (gate/passk_gate.py)
        text.append((f"\n  gate: {v.reason}", GATE_STYLE.get(v.status, "dim")))
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
        parts += [f"{s.suite} gate: {v.reason}" for s in report.suites
                  for v in s.gate_failures]
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
