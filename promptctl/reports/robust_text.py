"""The words and numbers of `promptctl robust` as the terminal, the Markdown and the
HTML report all show them (each escapes them its own way): a side's pass rate with its
interval, the drop with its interval, PDR, p, the headline."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..gate.robust import Estimate, Robustness, Row, SuiteResult

LIMIT = 30  # case ids listed per flip direction in the reports


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def side(e: Estimate | None) -> str:
    """'42% [19%, 68%]'"""
    return "-" if e is None else f"{e.value:.0%} [{e.lo:.0%}, {e.hi:.0%}]"


def side_short(e: Estimate | None) -> str:
    """'42% [19, 68]': a terminal column."""
    return "-" if e is None else f"{e.value:.0%} [{e.lo * 100:.0f}, {e.hi * 100:.0f}]"


def drop_short(row: Row, alpha: float) -> str:
    """'+58 [+25, +83]' in points, its interval at 1 - alpha unless marked '(97.5%)'."""
    if row.test is None or row.drop is None or row.drop_ci is None:
        return "-"
    lo, hi = row.drop_ci
    level = "" if row.test.ci_alpha == alpha else f" ({row.test.ci_level})"
    return f"{row.drop * 100:+.0f} [{lo * 100:+.0f}, {hi * 100:+.0f}]{level}"


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
