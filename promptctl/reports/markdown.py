"""`-o FILE.md`: for check/diff the pull-request comment (reports/diff_report.py); for
a run, a summary and the failing cases, for a job summary or a chat message.

Every value from the project or a model goes through reports/md.py: only the markup
written here is Markdown. A case's metadata and tags show as the -k terms that select
it (`owner=alice, tag:smoke`), in a column of their own when any listed case has them.
A case's output shows its tool calls (`get_weather({"city":"Paris"})`) and a
conversation's turns (gate/calls.py), cut as a text is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..gate.calls import ARGUMENTS_LIMIT, shown
from ..gate.labels import DISAGREEMENTS
from . import md

if TYPE_CHECKING:
    from ..results import CallRecord
    from .data import ReportData

LIMIT = 50


def markdown(data: ReportData) -> str:
    if data.diff is not None:
        # deferred: the diff's Markdown only for check and diff reports
        from .diff_report import markdown as diff_markdown

        return diff_markdown(data.diff, data.case_metadata(), data.history) \
            + pass_k_section(data) + review_section(data)
    s = data.summary
    lo, hi = s.pass_rate_interval()
    icon = "✅" if not s.failed and not s.errors else "❌" if s.failed else "⚠️"
    lines = [f"## promptctl run {icon} {s.passed}/{len(s.cells)} cases passed", "",
             f"Run {md.code(data.run_id, in_table=False)} · pass rate {s.pass_rate:.1%} "
             f"[{lo:.0%}, {hi:.0%}]"
             f" · {s.samples} samples · {s.cached} cached", ""]
    metrics = s.metric_intervals()
    if metrics:
        lines += ["| metric | mean | 95% interval |", "| --- | --- | --- |"]
        lines += [f"| {md.text(name)} | {mean:.3f} | {mlo:.3f} – {mhi:.3f} |"
                  for name, (mean, mlo, mhi, _) in metrics.items()]
        lines.append("")
    if s.pass_k():
        lines += [pass_k_section(data).strip("\n"), ""]
    bad = [r for r in data.records if r.status != "pass"]
    if bad:
        tagged = any(r.metadata or r.tags for r in bad[:LIMIT])
        labelled = any(r.key in data.labels and data.labels[r.key].label for r in bad[:LIMIT])
        lines += [f"### Not passing ({len(bad)})", "",
                  "| status | suite | case | " + "metadata | " * tagged
                  + "prompt | model | # | output | why |" + " reviewer |" * labelled,
                  "| --- | --- | --- | " + "--- | " * tagged + "--- | --- | --- | --- | --- |"
                  + " --- |" * labelled]
        for r in bad[:LIMIT]:
            why = r.error or "; ".join(f"{a.type}: {a.reason}" for a in r.assertions
                                       if not a.passed)
            meta = f"{md.metadata(r.metadata, r.tags)} | " if tagged else ""
            view = data.labels.get(r.key)
            review = f" {md.text(view.words() if view else '')} |" if labelled else ""
            lines.append(f"| {r.status} | {md.text(r.suite)} | {md.code(r.case)} | {meta}"
                         f"{md.text(r.prompt)} | {md.text(r.model)} | {r.repeat} | "
                         f"{md.text(_said(r), 120)} | {md.text(why, 200)} |{review}")
        if len(bad) > LIMIT:
            lines.append(f"\n… and {len(bad) - LIMIT} more")
    return "\n".join(lines) + "\n" + review_section(data)


def _said(r: CallRecord) -> str:
    """A record's output as a row shows it: calls and turns included."""
    return shown(r.output, r.tool_calls, r.turns, ARGUMENTS_LIMIT)


def pass_k_section(data: ReportData) -> str:
    """Per suite with repeats, pass@k and pass^k with their 95% intervals over cells
    (run/passk.py). Empty when no suite has repeats."""
    rows = data.summary.pass_k()
    if not rows:
        return ""
    lines = ["", "| suite | k | pass@k | pass^k | cells |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {md.text(r.suite)} | {r.k} | {r.at.mean:.1%} [{r.at.lo:.0%}, {r.at.hi:.0%}] "
              f"| {r.hat.mean:.1%} [{r.hat.lo:.0%}, {r.hat.hi:.0%}] | {r.at.cells} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def review_section(data: ReportData) -> str:
    """The human labels of reviews/ against the suite's verdicts: how many cells carry
    one, and every disagreement (a gap, or an assertion too strict). Empty without
    labels."""
    cells = data.cell_labels()
    if not cells:
        return ""
    stale = sum(v.state == "stale" for v in cells.values())
    odd = [(key, v) for key, v in cells.items() if v.disagreement is not None]
    lines = ["", f"### Reviewer labels: {len(cells) - stale} cells labelled"
             + (f", {stale} stale (output changed)" if stale else "")
             + f", {len(odd)} disagreements", ""]
    if not odd:
        return "\n".join([*lines, "Every label agrees with the suite's verdict."]) + "\n"
    lines += [*(f"- **{kind}**: {why}" for kind, why in DISAGREEMENTS.items()), "",
              "| | suite | case | prompt | model | reviewer | suite verdict | output | note |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (suite, case, prompt, model), v in odd[:LIMIT]:
        lab = v.label
        assert lab is not None
        lines.append(f"| {v.disagreement} | {md.text(suite)} | {md.code(case)} | "
                     f"{md.text(prompt)} | {md.text(model)} | {lab.verdict} | {v.suite} | "
                     f"{md.text(lab.output or '', 120)} | {md.text(lab.note or '', 200)} |")
    if len(odd) > LIMIT:
        lines.append(f"\n… and {len(odd) - LIMIT} more")
    return "\n".join(lines) + "\n"

