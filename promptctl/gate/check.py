"""The regression gate as library calls: update baselines, diff a run, check.

The CLI, the pytest plugin and the tests all go through these functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import stats
from ..boundary import display_path
from ..errors import InfraError, UserError
from ..load.project import Project
from ..load.suites import Suite
from ..results import CallRecord, CellKey
from ..run.meta import SavedRun, load_run
from ..run.options import MorePolicy, RunOptions, until_a_pass
from ..run.resume import Target
from ..run.runner import RunResult, run_suites
from .baseline import Baseline, baseline_path, cells_from_records, load_baseline, write_baseline
from .diff import diff_run
from .outcome import DEFAULT_ALPHA, DiffReport


def _load_checked(project: Project, path: Path) -> Baseline | None:
    """A baseline is committed project input: it must resolve inside the project's
    boundary and be a regular file (boundary.py) before it is read."""
    if os.path.lexists(path):
        project.check_input(path, what="baseline")
    return load_baseline(path)


def load_baselines(project: Project, suites: Sequence[Suite], *, allow_missing: bool
                   ) -> dict[str, Baseline | None]:
    """Every suite's baseline; a missing one is an error unless allowed."""
    found = {s.name: _load_checked(project, baseline_path(project.baselines_dir, s.name))
             for s in suites}
    missing = [name for name, b in found.items() if b is None]
    if missing and not allow_missing:
        path = display_path(baseline_path(project.baselines_dir, missing[0]))
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UserError(f"no baseline for suite '{missing[0]}'{more}: {path} does not exist",
                        hint=f"run `promptctl baseline update {' '.join(missing)}` and commit "
                             "it, or pass --allow-missing")
    return found


def diff_saved(project: Project, run: str | None = None, *, strict: bool = False,
               allow_missing: bool = False, alpha: float = DEFAULT_ALPHA
               ) -> tuple[SavedRun, DiffReport]:
    saved = load_run(project, run)
    baselines = load_baselines(project, saved.suites, allow_missing=allow_missing)
    report = diff_run(saved.suites, baselines, saved.records, run_id=saved.run_id,
                      strict=strict, alpha=alpha)
    return saved, report


def diff_saved_run(project: Project, run: str | None = None, *, strict: bool = False,
                   allow_missing: bool = False, alpha: float = DEFAULT_ALPHA) -> DiffReport:
    return diff_saved(project, run, strict=strict, allow_missing=allow_missing,
                      alpha=alpha)[1]


def check(project: Project, suites: Sequence[Suite], options: RunOptions, *,
          strict: bool = False, allow_missing: bool = False, alpha: float = DEFAULT_ALPHA,
          on_plan: Callable[[int], None] | None = None,
          on_record: Callable[[CallRecord], None] | None = None
          ) -> tuple[RunResult, DiffReport]:
    """Run, then diff against the baselines. Baselines are loaded first, so a missing
    or broken one fails before any model time is spent."""
    baselines = load_baselines(project, suites, allow_missing=allow_missing)
    result = run_suites(project, suites, options, on_plan=on_plan, on_record=on_record,
                        more=uncertain_against(baselines, alpha),
                        meta={"command": "check", "alpha": alpha})
    report = diff_run(suites, baselines, result.records, run_id=result.run_id,
                      strict=strict, alpha=alpha)
    return result, report


def uncertain_against(baselines: dict[str, Baseline | None], alpha: float) -> MorePolicy:
    """--repeat auto in a check: sample a cell again only while it looks worse than its
    baseline and the evidence is not yet conclusive. A cell that matches or beats its
    baseline is settled after one sample."""
    known = {(suite, *key): (cell.pass_count, len(cell.samples))
             for suite, b in baselines.items() if b is not None
             for key, cell in b.cells.items()}
    sure = alpha / 2 / max(1, len(known))  # significant even after a full Holm

    def more(cell: CellKey, outcomes: list[bool]) -> bool:
        if cell not in known:
            return until_a_pass(cell, outcomes)
        k0, n0 = known[cell]
        k1, n1 = sum(outcomes), len(outcomes)
        if k1 / n1 >= k0 / n0:
            return False
        return stats.fisher_less(k1, n1, k0, n0) > sure

    return more


def resume_policy(project: Project, target: Target) -> MorePolicy:
    """The --repeat auto policy of a resumed run: a `check` sampled against the
    baselines, so its resume does too; any other run samples until a pass."""
    if target.meta.get("command") == "check" and target.options.auto_repeat:
        baselines = load_baselines(project, target.suites, allow_missing=True)
        return uncertain_against(baselines, float(target.meta.get("alpha") or DEFAULT_ALPHA))
    return until_a_pass


def resume_run(project: Project, target: Target, *, retry_errors: bool = False,
               on_plan: Callable[[int], None] | None = None,
               on_record: Callable[[CallRecord], None] | None = None) -> RunResult:
    """Continue a saved run (run.resume.prepare) in its folder, with the sampling
    policy it was made with."""
    return run_suites(project, target.suites, target.options, on_plan=on_plan,
                      on_record=on_record, more=resume_policy(project, target),
                      resume=target.resume(retry_errors))


@dataclass
class Written:
    suite: str
    path: Path
    cases: int
    passed: int
    previous: DiffReport | None
    replaced_broken: bool = False  # the old file was unreadable: nothing to compare with


def update_baselines(project: Project, suites: Sequence[Suite], records: Sequence[CallRecord],
                     *, partial: bool) -> list[Written]:
    """Write baselines/<suite>.json from a run's records.

    A partial run (filtered) updates only the cases it ran and keeps the others that
    still exist; a full run replaces the file, so removed cases disappear from it.
    Refuses a run with errors: a baseline needs a verdict for every case."""
    errors = [r for r in records if r.error is not None]
    if errors:
        first = errors[0]
        raise InfraError(f"{len(errors)} calls failed (first: {first.suite}/{first.case}: "
                         f"{first.error}); a baseline needs a verdict for every case",
                         hint="fix the model or endpoint and run again")
    grouped = cells_from_records(records)
    for stale in project.baselines_dir.glob(".*.json.*.tmp"):
        stale.unlink(missing_ok=True)  # left by an update that was killed mid-write
    written = []
    for suite in suites:
        cells = grouped.get(suite.name)
        if not cells:
            continue
        path = baseline_path(project.baselines_dir, suite.name)
        try:
            old = _load_checked(project, path)
        except UserError:
            if partial:
                raise  # the cases this run did not cover would be lost with it
            old, broken = None, True  # regenerating it is the way out its error names
        else:
            broken = False
        previous = diff_run([suite], {suite.name: old}, [r for r in records
                                                         if r.suite == suite.name])
        if partial and old is not None:
            current = {(c.id, p.id, m) for c in suite.cases for p in suite.prompts
                       for m in suite.models}
            merged = {k: v for k, v in old.cells.items() if k in current}
            merged.update(cells)
            cells = merged
        baseline = Baseline(suite=suite.name, cells=dict(sorted(cells.items())))
        write_baseline(path, baseline)
        passed = sum(c.passed for c in baseline.cells.values())
        written.append(Written(suite.name, path, len(baseline.cells), passed,
                               previous if old is not None else None, broken))
    return written
