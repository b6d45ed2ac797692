"""`promptctl robust` as library calls: which cells a robust run needs (the selected
variants with their clean cases), the --repeat auto policy of a pair, running them
through run_suites (the one public entry point `run` uses), and reading a saved run.
The analysis of the records is robust.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import UserError
from ..load.project import Project
from ..load.suites import Case, Suite, case_matches
from ..results import CallRecord, CellKey
from ..run.meta import load_run
from ..run.options import MorePolicy, RunOptions
from ..run.runner import run_suites
from .robust import Robustness, analyse, perturbations_of, split_id


# -- which cells ----------------------------------------------------------------------
@dataclass
class Selection:
    suites: list[Suite]  # with only the selected cases: clean ones and their variants
    skipped: list[str]  # suites that declare no perturbation
    partial: bool  # some case of a chosen suite was left out


def _variant_of(case: Case) -> tuple[str, str] | None:
    """(clean id, perturbation id) of a variant (load/variants.py); None for a clean case."""
    if case.variant_of is None or case.perturbation is None:
        return None
    return case.variant_of, case.perturbation


def select(suites: Sequence[Suite], filter: tuple[str, ...] = (),
           perturbations: Sequence[str] = ()) -> Selection:
    """The cells `robust` needs: every variant that -k and -p select, with its clean
    case. A variant is selected when -k matches it or its clean case (so `-k ticket-1`
    brings `ticket-1~typos` along and `-k '*~typos'` brings `ticket-1`); a clean case
    without a selected variant is left out, it has nothing to be compared with."""
    declared = {p.id for s in suites for p in perturbations_of(s)} | {
        v[1] for s in suites for c in s.cases if (v := _variant_of(c))}
    unknown = [p for p in perturbations if p not in declared]
    if unknown:
        raise UserError(f"no suite declares perturbation '{unknown[0]}'",
                        hint="perturbations: " + (", ".join(sorted(declared)) or "none"))
    chosen, skipped, partial = [], [], False
    for suite in suites:
        if not any(_variant_of(c) for c in suite.cases):
            skipped.append(suite.name)
            continue
        clean = {c.id: c for c in suite.cases if _variant_of(c) is None}
        keep: set[str] = set()
        for case in suite.cases:
            split = _variant_of(case)
            if split is None or split[0] not in clean:
                continue
            if perturbations and split[1] not in perturbations:
                continue
            base = clean[split[0]]
            if case_matches(case.id, filter, case.metadata, case.tags) or \
                    case_matches(base.id, filter, base.metadata, base.tags):
                keep.update((case.id, base.id))
        cases = [c for c in suite.cases if c.id in keep]
        partial = partial or len(cases) < len(suite.cases)
        if cases:
            chosen.append(replace(suite, cases=cases))
    return Selection(chosen, skipped, partial)


def _nothing_to_do(skipped: Sequence[str], selected: bool) -> UserError:
    """Nothing to compare: no suite has variants, or (`selected`) -k / -p left none."""
    if selected:
        return UserError("no perturbed case matches -k / -p",
                         hint="check the patterns: a variant's id is CASE~PERTURBATION")
    names = ", ".join(skipped) or "none"
    return UserError(f"no suite declares a perturbation (suites: {names})",
                     hint="add `perturb: [typos, {type: case, mode: upper}]` to a suite, "
                          "its defaults or a case; see the README, Robustness")


def paired_policy(suites: Sequence[Suite], seen: dict[CellKey, list[bool]]) -> MorePolicy:
    """--repeat auto: a cell samples again while the outcomes of it and its partners
    (a variant's clean cell; a clean cell's variants) are mixed; a pair that always
    passes, or always fails, on both sides is settled."""
    variants: dict[tuple[str, str], list[str]] = {}
    for suite in suites:
        for case in suite.cases:
            split = _variant_of(case)
            if split is not None:
                variants.setdefault((suite.name, split[0]), []).append(case.id)

    def more(cell: CellKey, outcomes: list[bool]) -> bool:
        suite, case, prompt, model = cell
        split = split_id(case)
        partners = [split[0]] if split else variants.get((suite, case), [])
        both = list(outcomes)
        for other in partners:
            both += seen.get((suite, other, prompt, model), [])
        return any(both) and not all(both)

    return more


def robust_run(project: Project, suites: Sequence[Suite], options: RunOptions, *,
               alpha: float = 0.05, perturbations: Sequence[str] = (),
               on_plan: Callable[[int], None] | None = None,
               on_record: Callable[[CallRecord], None] | None = None) -> Robustness:
    """Run the clean and perturbed cells of the suites (a run folder like `run`'s, so
    `robust --run` and `baseline update --run` can read it again) and analyse them."""
    chosen = select(suites, options.filter, perturbations)
    if not chosen.suites:
        declared = any(_variant_of(c) for s in suites for c in s.cases)
        raise _nothing_to_do(chosen.skipped, selected=declared)
    seen: dict[CellKey, list[bool]] = {}

    def collect(rec: CallRecord) -> None:
        if rec.error is None:
            seen.setdefault(rec.cell, []).append(rec.passed)
        if on_record is not None:
            on_record(rec)

    meta: dict[str, Any] = {"command": "robust", "alpha": alpha}
    if chosen.partial:
        meta["partial"] = True  # baseline update --run keeps the cases it did not run
    result = run_suites(project, chosen.suites, replace(options, filter=()),
                        on_plan=on_plan, on_record=collect,
                        more=paired_policy(chosen.suites, seen), meta=meta)
    return analyse(result.records, chosen.suites, alpha=alpha, run_id=result.run_id,
                   skipped=chosen.skipped)


def robust_saved(project: Project, run: str | None, names: Sequence[str] = (), *,
                 filter: tuple[str, ...] = (), perturbations: Sequence[str] = (),
                 alpha: float = 0.05) -> Robustness:
    """Analyse a saved run: its records (the named suites only, -k and -p as in
    `select`); its suites as they are now give each perturbation's family and max_drop."""
    saved = load_run(project, run)
    records = saved.records
    if names:
        in_run = {r.suite for r in records}
        absent = [n for n in names if n not in in_run]
        if absent:
            raise UserError(f"suite '{absent[0]}' is not in run '{saved.run_id}'",
                            hint="suites in the run: " + ", ".join(sorted(in_run)))
        records = [r for r in records if r.suite in names]
    variants = [r for r in records if split_id(r.case)]
    if not variants:
        raise UserError(f"run '{saved.run_id}' has no perturbed cells",
                        hint="run `promptctl robust` (or `promptctl run` on suites that "
                             "declare `perturb:`) first")
    keep: set[CellKey] = set()
    for rec in variants:
        clean, pid = split_id(rec.case) or ("", "")
        if perturbations and pid not in perturbations:
            continue
        if case_matches(rec.case, filter, rec.metadata, rec.tags) or \
                case_matches(clean, filter, rec.metadata, rec.tags):
            keep.update((rec.cell, (rec.suite, clean, rec.prompt, rec.model)))
    if not keep:
        raise _nothing_to_do([], selected=True)
    shown = [s for s in saved.suites if not names or s.name in names]
    return analyse([r for r in records if r.cell in keep], shown, alpha=alpha,
                   run_id=saved.run_id)
