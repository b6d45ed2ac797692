"""`promptctl compare A B`: two prompts, two models or two saved runs on the same cases.

What runs:

- prompts: each suite runs with its prompt list replaced by [A, B] on its own models
  (or -m). With no suites named, the suites whose prompts include A or B; suites named
  on the command line run on both prompts whatever prompts they list.
- models: each suite runs its own prompts on [A, B] (no suite is skipped).
- runs: the two saved runs' records are compared; no model is called.

The unit of evidence is the *case*: a cell (suite, case, prompt, model) of A paired
with the matching cell of B (the dimension under comparison left out of the match).
Per pair, d = B's rate - A's rate over its repeats (or its mean score on a named metric).
The mean of d gets a two-sided paired sign-flip test (exact while the sum's distribution
is small, else Monte Carlo; on pass/fail cases, the exact McNemar test) and the interval
that inverts that same test (stats.paired_interval). Holm's adjustment covers the pass
rate and every metric: a difference is reported only when its adjusted p-value is at
most alpha.

Invariant: an interval never contradicts its verdict. 0 is inside a measure's interval
exactly when that measure is not significant. Intervals are at 1 - alpha, except for a
measure that is significant on its own but not after Holm's adjustment: its interval
is at the level where Holm's procedure stopped (alpha / the measures still in play),
and says so ("97.5% CI").
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import stats
from ..errors import ExitCode, UserError
from ..load.project import Project
from ..load.suites import Suite, case_matches, load_suite
from ..results import CallRecord, CellKey
from ..run.meta import load_run
from ..run.options import MorePolicy, RunOptions
from ..run.runner import run_suites
from ..run.store import LATEST, read_latest, runs_dir

KINDS = ("prompt", "model", "run")
FIELDS = ("suite", "case", "prompt", "model")


# -- statistics ----------------------------------------------------------------------
signflip_two_sided = stats.signflip_two_sided  # the paired test (exact McNemar on pass/fail)


# -- what is being compared ------------------------------------------------------------
@dataclass
class Target:
    kind: str  # prompt | model | run
    name: str  # as resolved: the prompt id, the model alias/spec, the run id
    arg: str  # as typed


def _run_ids(project: Project, arg: str) -> list[str]:
    runs = runs_dir(project)
    if not runs.is_dir():
        return []
    if arg == LATEST and ((runs / LATEST).exists() or (runs / LATEST).is_symlink()):
        return [read_latest(runs)]  # a bad pointer is exit 2 naming it
    if "/" in arg or "\\" in arg or arg in (".", ".."):
        return []  # never a path: a run id is a folder name
    if (runs / arg).is_dir():
        return [arg]
    return [p.name for p in runs.iterdir() if p.is_dir() and p.name.startswith(arg)]


def classify(project: Project, arg: str) -> Target:
    """A run id (or unique prefix), a model alias/spec, or a prompt; exit 2 when the
    argument names none, or more than one kind."""
    found: list[Target] = []
    ids = _run_ids(project, arg)
    if len(ids) > 1:
        raise UserError(f"'{arg}' matches {len(ids)} runs", hint="give more of the run id")
    found += [Target("run", i, arg) for i in ids]
    with contextlib.suppress(UserError):
        project.model(arg)
        found.append(Target("model", arg, arg))
    project.prompts  # noqa: B018 - a broken collection is an error, not "no prompt"
    with contextlib.suppress(UserError):
        found.append(Target("prompt", project.prompt(arg).id, arg))
    if not found:
        raise UserError(f"'{arg}' is not a prompt, a model or a run id",
                        hint="give COLLECTION.PROMPT, a model alias or spec, or a run id "
                             "from .promptctl/runs")
    if len(found) > 1:
        kinds = " and a ".join(t.kind for t in found)
        raise UserError(f"'{arg}' is ambiguous: it names a {kinds}",
                        hint="write the prompt as COLLECTION.PROMPT, or rename the alias")
    return found[0]


def classify_pair(project: Project, a: str, b: str) -> tuple[Target, Target]:
    ta, tb = classify(project, a), classify(project, b)
    if ta.kind != tb.kind:
        raise UserError(f"'{a}' is a {ta.kind} but '{b}' is a {tb.kind}",
                        hint="compare two prompts, two models or two runs")
    return ta, tb


def comparison_suites(project: Project, ta: Target, tb: Target, targets: Sequence[str],
                      models: Sequence[str]) -> list[Suite]:
    """The suites to run, rewritten so that they run exactly A and B."""
    suites = [load_suite(project, p, models=list(models))
              for p in project.suite_paths(list(targets))]
    if ta.kind == "model":
        if models:
            raise UserError("-m cannot be used when comparing two models",
                            hint="the models compared are A and B")
        return [load_suite(project, s.path, models=list(dict.fromkeys([ta.name, tb.name])))
                for s in suites]
    pair = {ta.name, tb.name}
    if not targets:
        suites = [s for s in suites if pair & {p.id for p in s.prompts}]
        if not suites:
            raise UserError(f"no suite uses prompt '{ta.name}' or '{tb.name}'",
                            hint=f"name the suites to run them on: promptctl compare "
                                 f"{ta.arg} {tb.arg} SUITE")
    refs = [project.prompt(n) for n in dict.fromkeys([ta.name, tb.name])]
    return [replace(s, prompts=refs) for s in suites]


# -- the comparison ------------------------------------------------------------------
@dataclass
class Pair:
    key: tuple[str, ...]  # (suite, case, and whichever of prompt/model is shared)
    a: list[CallRecord]
    b: list[CallRecord]

    @property
    def label(self) -> str:
        return "/".join(self.key[:2]) + "".join(f" [{k}]" for k in self.key[2:])

    @property
    def scored(self) -> bool:
        return any(r.error is None for r in self.a) and any(r.error is None for r in self.b)

    @staticmethod
    def rate(recs: Sequence[CallRecord]) -> float:
        ok = [r for r in recs if r.error is None]
        return sum(r.passed for r in ok) / len(ok) if ok else 0.0

    @staticmethod
    def metrics(recs: Sequence[CallRecord]) -> dict[str, float]:
        scores: dict[str, list[float]] = {}
        for r in recs:
            for x in r.assertions if r.error is None else []:
                if x.metric:
                    scores.setdefault(x.metric, []).append(float(x.score))
        return {k: statistics.fmean(v) for k, v in scores.items()}

    def first(self, side: str) -> CallRecord:
        return min(self.a if side == "a" else self.b, key=lambda r: r.repeat)


@dataclass
class Difference:
    """B - A on one measure ("pass rate" or a metric's name), over the scored pairs."""

    name: str
    a: float
    b: float
    diff: float
    lo: float
    hi: float
    p_value: float
    wins: int  # cases where B is higher
    losses: int
    ties: int
    adjusted: float = 1.0
    significant: bool = False
    alpha: float = 0.05  # the comparison's
    ci_alpha: float = 0.05  # the interval is at 1 - ci_alpha (see the module docstring)
    diffs: list[float] = field(default_factory=list, repr=False)
    note: str = ""  # why the test cannot tell, when it cannot

    @property
    def changed(self) -> int:
        return self.wins + self.losses

    @property
    def ci_level(self) -> str:
        return f"{(1 - self.ci_alpha) * 100:.1f}".removesuffix(".0") + "%"

    def ci_text(self) -> str:
        """'-100..+68', with the level when it is not 1 - alpha."""
        text = f"{self.fmt(self.lo)}..{self.fmt(self.hi)}"
        return text if self.ci_alpha == self.alpha else f"{text} ({self.ci_level})"

    def fmt(self, x: float, sign: bool = True) -> str:
        if self.name == "pass rate":
            return f"{x * 100:+.0f}" if sign else f"{x:.1%}"
        return f"{x:+.3f}" if sign else f"{x:.3f}"

    def interval(self) -> str:
        unit = " points" if self.name == "pass rate" else ""
        return (f"{self.fmt(self.diff)}{unit}, {self.ci_level} CI "
                f"{self.fmt(self.lo)}..{self.fmt(self.hi)}")

    def p_text(self) -> str:
        text = f"p={self.p_value:.2g}"
        return text + (f", adjusted {self.adjusted:.2g}" if self.adjusted != self.p_value
                       else "")

    def verdict(self) -> str:
        if self.significant:
            word = "better" if self.diff > 0 else "worse"
            return f"B is {word} on {self.name}: {self.interval()} ({self.p_text()})"
        text = (f"no detectable difference on {self.name} with these samples: "
                f"{self.interval()} ({self.p_text()})")
        return f"{text}; {self.note}" if self.note else text


@dataclass
class Comparison:
    kind: str
    a: str
    b: str
    pairs: list[Pair]
    only_a: list[tuple[str, ...]] = field(default_factory=list)
    only_b: list[tuple[str, ...]] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    alpha: float = 0.05

    @property
    def unscored(self) -> list[Pair]:
        return [p for p in self.pairs if not p.scored]

    @property
    def repeats(self) -> int:
        return max((len(p.a) for p in self.pairs), default=0)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.INFRA if self.unscored else ExitCode.OK

    def verdict(self) -> str:
        """The headline: the first significant difference, else 'no difference'."""
        hit = next((d for d in self.differences if d.significant), None)
        if hit is not None:
            return hit.verdict()
        if not self.differences:
            return "no case was scored on both sides: no verdict"
        return "no detectable difference with these samples"


def match(recs_a: Sequence[CallRecord], recs_b: Sequence[CallRecord],
          drop: Sequence[str] | None = None) -> tuple[list[Pair], list[Any], list[Any]]:
    """Pair A's cells with B's. `drop` names the fields left out of the match (the one
    being compared); None tries the full key first, then without prompt, model, both."""
    options = [tuple(drop)] if drop is not None else [(), ("prompt",), ("model",), FIELDS[2:]]
    best: tuple[list[Pair], list[Any], list[Any]] | None = None
    for left_out in options:
        keep = [f for f in FIELDS if f not in left_out]
        a, b = _group(recs_a, keep), _group(recs_b, keep)
        if a is None or b is None:
            continue  # two cells would collapse into one key
        pairs = [Pair(k, a[k], b[k]) for k in a if k in b]
        found = (pairs, [k for k in a if k not in b], [k for k in b if k not in a])
        if pairs:
            return found
        best = best or found
    return best or ([], [], [])


def _group(recs: Sequence[CallRecord], keep: Sequence[str]
           ) -> dict[tuple[str, ...], list[CallRecord]] | None:
    out: dict[tuple[str, ...], list[CallRecord]] = {}
    cells: dict[tuple[str, ...], tuple[str, ...]] = {}
    for r in recs:
        key = tuple(str(getattr(r, f)) for f in keep)
        cell = r.cell
        if cells.setdefault(key, cell) != cell:
            return None
        out.setdefault(key, []).append(r)
    return out


def analyse(kind: str, a: str, b: str, pairs: list[Pair], only_a: list[Any],
            only_b: list[Any], alpha: float = 0.05) -> Comparison:
    comp = Comparison(kind, a, b, pairs, only_a, only_b, alpha=alpha)
    scored = [p for p in pairs if p.scored]
    if not scored:
        return comp
    named = [("pass rate", [(Pair.rate(p.a), Pair.rate(p.b)) for p in scored])]
    by_metric: dict[str, list[tuple[float, float]]] = {}
    for p in scored:
        ma, mb = Pair.metrics(p.a), Pair.metrics(p.b)
        for name in sorted(ma.keys() & mb.keys()):
            by_metric.setdefault(name, []).append((ma[name], mb[name]))
    comp.differences = paired_differences([*named, *sorted(by_metric.items())], alpha)
    return comp


def paired_differences(named: Sequence[tuple[str, Sequence[tuple[float, float]]]],
                       alpha: float = 0.05) -> list[Difference]:
    """One Difference per measure from its (A, B) values per case: the test, Holm over
    the measures, then each interval at the level that agrees with its verdict."""
    out = [_difference(name, values, alpha) for name, values in named]
    pvalues = [d.p_value for d in out]
    adjusted = stats.holm(pvalues)
    order = sorted(range(len(out)), key=lambda i: pvalues[i])  # Holm's order
    stop = next((rank for rank, i in enumerate(order) if adjusted[i] > alpha), None)
    for d, adj in zip(out, adjusted, strict=True):
        d.adjusted = adj
        d.significant = adj <= alpha and d.diff != 0
        # a measure Holm did not reject, though its own p is at most alpha: its interval
        # is at the level where Holm stopped, so that it holds 0 (its p is above it)
        tight = not d.significant and d.p_value <= alpha and stop is not None
        d.ci_alpha = alpha / (len(out) - stop) if tight and stop is not None else alpha
        d.lo, d.hi = stats.paired_interval(d.diffs, d.ci_alpha, p_value=d.p_value)
        need = stats.cases_needed(d.ci_alpha)
        if not d.significant and 0 < d.changed < need:
            d.note = (f"too few cases to tell: {d.changed} changed, and with fewer than "
                      f"{need} changed cases no difference can be significant at "
                      f"alpha {d.ci_alpha:.3g}")
    return out


def _difference(name: str, values: Sequence[tuple[float, float]], alpha: float
                ) -> Difference:
    diffs = [vb - va for va, vb in values]
    eps = 1e-12
    return Difference(name, statistics.fmean(va for va, _ in values),
                      statistics.fmean(vb for _, vb in values), statistics.fmean(diffs),
                      -1.0, 1.0, signflip_two_sided(diffs), sum(d > eps for d in diffs),
                      sum(d < -eps for d in diffs), sum(abs(d) <= eps for d in diffs),
                      alpha=alpha, diffs=diffs)


def paired_policy(kind: str, a: str, b: str, seen: dict[CellKey, list[bool]]) -> MorePolicy:
    """--repeat auto: a pair samples both its cells again while its outcomes are mixed;
    one that always passes, or always fails, on both sides is settled."""
    axis = FIELDS.index(kind)

    def more(cell: CellKey, outcomes: list[bool]) -> bool:
        other = list(cell)
        other[axis] = b if cell[axis] == a else a
        both = outcomes + seen.get((other[0], other[1], other[2], other[3]), [])
        return any(both) and not all(both)

    return more


def compare_targets(project: Project, ta: Target, tb: Target, targets: Sequence[str],
                    options: RunOptions, *, alpha: float = 0.05,
                    on_plan: Callable[[int], None] | None = None,
                    on_record: Callable[[CallRecord], None] | None = None) -> Comparison:
    """Run (or load) both sides and compare them."""
    if ta.kind == "run":
        ra, rb = load_run(project, ta.name), load_run(project, tb.name)
        keep = [r for r in ra.records
                if case_matches(r.case, options.filter, r.metadata, r.tags)]
        other = [r for r in rb.records
                 if case_matches(r.case, options.filter, r.metadata, r.tags)]
        return analyse("run", ta.name, tb.name, *match(keep, other), alpha=alpha)
    suites = comparison_suites(project, ta, tb, targets, options.models)
    seen: dict[CellKey, list[bool]] = {}

    def collect(rec: CallRecord) -> None:
        if rec.error is None:
            seen.setdefault(rec.cell, []).append(
                rec.passed)
        if on_record is not None:
            on_record(rec)

    options = replace(options, models=[])  # already applied to the suites
    result = run_suites(project, suites, options, on_plan=on_plan, on_record=collect,
                        record_run=False,
                        more=paired_policy(ta.kind, ta.name, tb.name, seen))
    side_a = [r for r in result.records if getattr(r, ta.kind) == ta.name]
    side_b = [r for r in result.records if getattr(r, tb.kind) == tb.name]
    return analyse(ta.kind, ta.name, tb.name, *match(side_a, side_b, [ta.kind]),
                   alpha=alpha)
