"""`promptctl robust -o FILE`: .json (the document below), .md (a pull-request comment),
.html (robust_html.py).

The JSON document (version 1), per suite and perturbation (a row: one perturbation on
one prompt and model): `clean` and `perturbed` (each `pass_rate`, `ci`, `n` cases,
`samples`), `drop` (clean - perturbed, the paired mean over cases) with `drop_ci` at
`ci_level`, `pdr` (None when the clean pass rate is 0: `pdr_note` says so), `p_value`,
`adjusted_p` (Holm over the suite's rows), `significant`, `flipped` (`pass_to_fail`
and `fail_to_pass`: clean case ids), `max_drop`, `gate` (null, pass, fail, no verdict),
`metrics`, and for `counterfactual` the cases whose verdict or output differs with word
diffs of input and output. The wording the terminal shares: robust_text.py.

Every value from the project or a model enters the Markdown through reports/md.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..run.store import write_json_atomic
from . import md
from .robust_text import LIMIT, drop, headline, label, p_text, pct, pdr, side, suite_line

if TYPE_CHECKING:
    from ..gate.robust import Contrast, Estimate, Robustness, Row, SuiteResult

FORMATS = (".json", ".md", ".html")
VERSION = 1


# -- JSON -----------------------------------------------------------------------------
def _estimate(e: Estimate | None, key: str = "pass_rate") -> dict[str, Any] | None:
    if e is None:
        return None
    return {key: e.value, "ci": [e.lo, e.hi], "n": e.cases, "samples": e.samples}


def _contrast(c: Contrast) -> dict[str, Any]:
    return {"case": c.case, "verdict_differs": c.verdict_differs,
            "clean": {"pass_rate": c.clean_rate, "output": c.clean.output,
                      "error": c.clean.error},
            "perturbed": {"pass_rate": c.perturbed_rate, "output": c.perturbed.output,
                          "error": c.perturbed.error},
            "input_diff": [list(x) for x in c.input_diff()],
            "output_diff": [list(x) for x in c.output_diff()]}


def _row(row: Row) -> dict[str, Any]:
    t = row.test
    out: dict[str, Any] = {
        "id": row.perturbation, "type": row.family, "prompt": row.prompt,
        "model": row.model, "clean": _estimate(row.clean),
        "perturbed": _estimate(row.perturbed), "drop": row.drop,
        "drop_ci": list(row.drop_ci) if row.drop_ci else None,
        "ci_level": None if t is None else 1 - t.ci_alpha,
        "pdr": row.pdr, "pdr_note": row.pdr_note,
        "p_value": None if t is None else t.p_value,
        "adjusted_p": None if t is None else t.adjusted,
        "significant": row.significant, "note": "" if t is None else t.note,
        "flipped": {"pass_to_fail": row.pass_to_fail, "fail_to_pass": row.fail_to_pass},
        "max_drop": row.max_drop, "gate": row.gate, "verdict": row.verdict(),
        "unscored": row.unscored, "missing_clean": row.missing,
        "metrics": {m.name: {"clean": _estimate(m.clean, "mean"),
                             "perturbed": _estimate(m.perturbed, "mean"), "pdr": m.pdr,
                             "diff": m.test.diff, "ci": [m.test.lo, m.test.hi],
                             "ci_level": 1 - m.test.ci_alpha, "p_value": m.test.p_value,
                             "adjusted_p": m.test.adjusted,
                             "significant": m.test.significant} for m in row.metrics},
    }
    if row.family == "counterfactual":
        out["counterfactual"] = {"count": row.contrast_count,
                                 "cases": [_contrast(c) for c in row.contrasts]}
    return out


def document(result: Robustness) -> dict[str, Any]:
    return {
        "version": VERSION, "run_id": result.run_id, "alpha": result.alpha,
        "exit_code": int(result.exit_code), "verdict": headline(result),
        "holm": "over the perturbations (x prompts x models) of each suite",
        "skipped": result.skipped,
        "suites": [{"suite": s.name, "file": s.file, "cases": s.cases,
                    "perturbations": [_row(r) for r in s.rows]} for s in result.suites],
    }


# -- Markdown -------------------------------------------------------------------------
def _ids(ids: list[str]) -> str:
    shown = ", ".join(md.code(i) for i in ids[:LIMIT])
    return shown + (f" … and {len(ids) - LIMIT} more" if len(ids) > LIMIT else "")


def md_diff(ops: list[tuple[str, str]]) -> str:
    """A word diff inline: removed words struck through, added ones in bold."""
    mark = {"-": "~~{}~~", "+": "**{}**", " ": "{}"}
    return " ".join(mark[op].format(md.text(words)) for op, words in ops if words)


def markdown(result: Robustness) -> str:
    lines = ["## promptctl robust", "", f"**{md.text(headline(result))}**", ""]
    if result.run_id:
        lines += [f"run {md.code(result.run_id, in_table=False)}", ""]
    for suite in result.suites:
        lines += [f"### {md.text(suite_line(suite, result))}", "",
                  "| perturbation | clean | perturbed | drop | PDR | p | verdict |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in suite.rows:
            lines.append(f"| {md.code(label(suite, row))} | {side(row.clean)} | "
                         f"{side(row.perturbed)} | {drop(row)} | {pdr(row)} | "
                         f"{p_text(row)} | {md.text(row.verdict())} |")
        lines.append("")
        for row in suite.rows:
            lines += _row_md(suite, row)
    if result.skipped:
        lines += ["", "No perturbations declared (nothing to do): "
                  + ", ".join(md.code(s, in_table=False) for s in result.skipped)]
    return "\n".join(lines).rstrip() + "\n"


def _row_md(suite: SuiteResult, row: Row) -> list[str]:
    out = []
    name = md.code(label(suite, row), in_table=False)
    for word, ids in (("pass → fail", row.pass_to_fail), ("fail → pass", row.fail_to_pass)):
        if ids:
            out.append(f"- {name} {word} ({len(ids)}): {_ids(ids)}")
    if row.unscored:
        out.append(f"- {name} without a verdict (errors): {_ids(row.unscored)}")
    for m in row.metrics:
        out.append(f"- {name} metric {md.code(m.name, in_table=False)}: "
                   f"{m.clean.value:.3f} → {m.perturbed.value:.3f} "
                   f"({md.text(m.test.p_text())})")
    if row.contrasts:
        out += ["", f"#### {name}: {row.contrast_count} cases differ between the sides",
                ""]
        for c in row.contrasts:
            out.append(f"- {md.code(c.case, in_table=False)} {pct(c.clean_rate)} → "
                       f"{pct(c.perturbed_rate)}; input: {md_diff(c.input_diff())}; "
                       f"output: {md_diff(c.output_diff())}")
        if row.contrast_count > len(row.contrasts):
            out.append(f"- … and {row.contrast_count - len(row.contrasts)} more")
    return [*out, ""] if out else []


def write(path: Path, result: Robustness) -> None:
    suffix = path.suffix.lower()
    if suffix == ".json":
        write_json_atomic(path, document(result))
    elif suffix == ".html":
        # deferred: the page's module only when it is written
        from .robust_html import render_html

        path.write_text(render_html(result), encoding="utf-8")
    else:
        path.write_text(markdown(result), encoding="utf-8")
