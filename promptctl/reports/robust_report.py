"""`promptctl robust -o FILE`: .json (the document below), .md (a pull-request comment),
.html (robust_html.py); and the wording every one of them and the terminal share.

The JSON document (version 1), per suite and perturbation (a row: one perturbation on
one prompt and model): `clean` and `perturbed` (each `pass_rate`, `ci`, `n` cases,
`samples`), `drop` (clean - perturbed, the paired mean over cases) with `drop_ci` at
`ci_level`, `pdr` (None when the clean pass rate is 0: `pdr_note` says so), `p_value`,
`adjusted_p` (Holm over the suite's rows), `significant`, `flipped` (`pass_to_fail`
and `fail_to_pass`: clean case ids), `max_drop`, `gate` (null, pass, fail, no verdict),
`metrics`, and for `counterfactual` the cases whose verdict or output differs with word
diffs of input and output.

Every value from the project or a model enters the Markdown through reports/md.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..run.store import write_json_atomic
from . import md

if TYPE_CHECKING:
    from ..gate.robust import Contrast, Estimate, Robustness, Row, SuiteResult

FORMATS = (".json", ".md", ".html")
VERSION = 1
LIMIT = 30  # case ids listed per flip direction in the text reports


# -- wording shared by the terminal and the reports ----------------------------------
def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def side(e: Estimate | None) -> str:
    """'42% [19%, 68%]'"""
    return "-" if e is None else f"{e.value:.0%} [{e.lo:.0%}, {e.hi:.0%}]"


def drop(row: Row) -> str:
    """'+58 points (95% CI +25..+83)': the drop in pass rate; its interval agrees with
    the verdict (0 inside exactly when the change is not significant)."""
    if row.test is None or row.drop is None or row.drop_ci is None:
        return "-"
    lo, hi = row.drop_ci
    return (f"{row.drop * 100:+.0f} points ({row.test.ci_level} CI "
            f"{lo * 100:+.0f}..{hi * 100:+.0f})")


def pdr(row: Row) -> str:
    if row.pdr is None:
        return "n/a (clean 0%)" if row.pdr_note else "-"
    return f"{row.pdr:.2f}"


def p_text(row: Row) -> str:
    if row.test is None:
        return "-"
    t = row.test
    return f"{t.p_value:.2g}" + (f" (adj {t.adjusted:.2g})" if t.adjusted != t.p_value else "")


def label(suite: SuiteResult, row: Row) -> str:
    """The perturbation, with its prompt and model when the suite runs more than one."""
    return row.perturbation if len(suite.targets) == 1 else row.label


def headline(result: Robustness) -> str:
    failed = result.failed_gates
    gated = [r for r in result.rows if r.gate is not None]
    if failed:
        names = ", ".join(f"{r.suite}:{r.perturbation}" for r in failed)
        return f"robust: {len(failed)} of {len(gated)} gates failed ({names})"
    found = [r for r in result.rows if r.significant and (r.drop or 0) > 0]
    n = len(result.suites)
    text = (f"robust: {n} suite{'s' if n != 1 else ''}, {len(result.rows)} perturbations, "
            f"{len(found)} with a significant drop; {len(gated)} gated, none failed")
    unscored = sum(len(r.unscored) for r in result.rows)
    if unscored:
        text += f"; {unscored} pairs without a verdict (errors)"
    return text


def suite_line(suite: SuiteResult, result: Robustness) -> str:
    n = len(suite.rows)
    return (f"{suite.name}: {suite.cases} cases, alpha {result.alpha:g} with Holm over "
            f"its {n} perturbation{'s' if n != 1 else ''}"
            + (f" x {len(suite.targets)} prompt/model" if len(suite.targets) > 1 else ""))


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
