"""`-o FILE.md`: for check/diff the pull-request comment (reports/diff_report.py); for
a run, a summary and the failing cases, for a job summary or a chat message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import ReportData

LIMIT = 50


def _cell(text: str | None, width: int = 120) -> str:
    flat = " ".join((text or "").split()).replace("|", "\\|").replace("`", "'")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def markdown(data: ReportData) -> str:
    if data.diff is not None:
        from .diff_report import markdown as diff_markdown

        return diff_markdown(data.diff)
    s = data.summary
    lo, hi = s.pass_rate_interval()
    icon = "✅" if not s.failed and not s.errors else "❌" if s.failed else "⚠️"
    lines = [f"## promptctl run {icon} {s.passed}/{len(s.cells)} cases passed", "",
             f"Run `{data.run_id}` · pass rate {s.pass_rate:.1%} [{lo:.0%}, {hi:.0%}]"
             f" · {s.samples} samples · {s.cached} cached", ""]
    metrics = s.metric_intervals()
    if metrics:
        lines += ["| metric | mean | 95% interval |", "| --- | --- | --- |"]
        lines += [f"| {name} | {mean:.3f} | {mlo:.3f} – {mhi:.3f} |"
                  for name, (mean, mlo, mhi, _) in metrics.items()]
        lines.append("")
    bad = [r for r in data.records if r.status != "pass"]
    if bad:
        lines += [f"### Not passing ({len(bad)})", "",
                  "| status | suite | case | prompt | model | # | output | why |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in bad[:LIMIT]:
            why = r.error or "; ".join(f"{a.type}: {a.reason}" for a in r.assertions
                                       if not a.passed)
            lines.append(f"| {r.status} | {r.suite} | `{r.case}` | {r.prompt} | {r.model} | "
                         f"{r.repeat} | {_cell(r.output)} | {_cell(why, 200)} |")
        if len(bad) > LIMIT:
            lines.append(f"\n… and {len(bad) - LIMIT} more")
    return "\n".join(lines) + "\n"
