"""Resuming a run: `promptctl run --resume [RUN]` continues a killed run in its own
folder, `--retry-errors [RUN]` calls its errored calls again.

The run's meta.json holds what made its plan: the suite files and the options
(meta.py). `prepare` makes the plan again from them; the runner (runner.run_suites with
`resume=target.resume(...)`) keeps the calls that already have a record, runs the rest,
appends them to the same records.jsonl and writes summary.json at the end. The kept
records must be the ones this plan would make (`check_resumable`), and are handed back
to the runner round by round (`Replay`) as if the calls had just been made, so that
every `--repeat auto` decision is taken on the same evidence: the result is the one an
uninterrupted run would have given. A flag that would change the plan conflicts with
the run and is refused (options.check_flags).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..load.project import Project
from ..load.suites import Suite
from ..results import CallRecord, RecordKey, canonical
from .budget import is_not_run
from .meta import options_from_meta, read_meta, suites_from_meta
from .options import RunOptions
from .plan import Call, adaptive
from .store import final_records, read_summary, resolve_run, runs_dir


@dataclass
class Resume:
    """Continue a saved run in place: the calls it recorded are kept, the others run
    and are appended to the same records.jsonl."""

    run_dir: Path
    retry_errors: bool = False  # call the errored calls again: their new records win


@dataclass
class Target:
    """A saved run to continue: its directory and what made its plan."""

    run_dir: Path
    meta: dict[str, Any]
    suites: list[Suite]
    options: RunOptions
    records: list[CallRecord]

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def finished(self) -> bool:
        return read_summary(self.run_dir) is not None

    def errors(self) -> int:
        return sum(r.error is not None for r in self.records)

    def not_run(self) -> int:
        """Calls the budget did not allow (budget.py): a resume makes them."""
        return sum(map(is_not_run, self.records))

    def resume(self, retry_errors: bool = False) -> Resume:
        return Resume(self.run_dir, retry_errors=retry_errors)


def prepare(project: Project, run: str | None = None, *, concurrency: int | None = None
            ) -> Target:
    """Read a run's meta.json and load its suites (as they are now; resuming checks
    that the recorded calls still match them)."""
    run_dir = resolve_run(runs_dir(project), run)
    meta = read_meta(run_dir)
    options = options_from_meta(meta, concurrency=concurrency)
    files = meta.get("suites") or []
    if not files:
        raise UserError(f"run '{run_dir.name}' names no suites in its meta.json",
                        hint="start a new run")
    suites = suites_from_meta(project, files, options.models, strict=True)
    return Target(run_dir, meta, suites, options, final_records(run_dir))


def describe(target: Target, retry_errors: bool) -> str:
    """One line for stderr on what a resume is about to do."""
    kept = len(target.records)
    errors = target.errors()
    planned = target.meta.get("calls")
    of = f" of {planned} planned" if isinstance(planned, int) and not \
        target.options.auto_repeat else ""
    if retry_errors:
        return (f"retrying {errors} errored call{'s' * (errors != 1)} of run "
                f"{target.run_id} ({kept - errors} kept{of})")
    skipped = target.not_run()
    if skipped:
        return (f"resuming run {target.run_id}: {kept - skipped}{of} calls recorded, "
                f"{skipped} not run by the budget: running them and the rest")
    if target.finished:
        return f"run {target.run_id} had finished: {kept} calls recorded, nothing left to run"
    return f"resuming run {target.run_id}: {kept}{of} calls recorded, running the rest"


# -- the kept records ---------------------------------------------------------------


def check_resumable(calls: Sequence[Call], done: dict[RecordKey, CallRecord],
                    options: RunOptions) -> None:
    """The kept records must be the ones this plan would make: the same cells, the
    same rendered messages and params. Otherwise the suites changed since the run
    started, and mixing old and new results would be neither run."""
    planned = {c.key: c for c in calls}
    sampled = {c.cell for c in calls if adaptive(c.suite, options)}
    for key, rec in done.items():
        call = planned.get(key)
        where = f"{key[0]}/{key[1]} (prompt {key[2]}, model {key[3]}, repeat {key[4]})"
        if call is None:
            if key[4] > 0 and key[:4] in sampled:
                continue  # a sample of a later --repeat auto round
            raise UserError(f"the run has a record for {where}, which the suites no "
                            "longer plan", hint="the suites changed since the run "
                            "started: start a new run")
        if (canonical(rec.messages) != canonical(call.messages)
                or canonical(rec.params) != canonical(call.params)):
            raise UserError(f"{where} renders differently than when the run started",
                            file=call.case.file, line=call.case.line,
                            hint="the prompt, case or params changed: start a new run")


class Replay:
    """The records a resumed run already has, handed to the runner round by round
    (Runner.replay_round): its records, summary and plan order then grow exactly as in
    the original run."""

    def __init__(self, done: dict[RecordKey, CallRecord]) -> None:
        self.done = dict(done)
        self.models: dict[str, str] = {}
        for rec in done.values():
            self.models.setdefault(rec.model, canonical(rec.fingerprint.get("model")))

    def take(self, calls: Sequence[Call]) -> tuple[list[CallRecord], list[Call]]:
        """(the records these calls already have, the calls still to make)."""
        kept = [self.done.pop(c.key) for c in calls if c.key in self.done]
        have = {r.key for r in kept}
        return kept, [c for c in calls if c.key not in have]

    def check_model(self, alias: str, identity: Any) -> None:
        """A call still to make must go to the model the run started with."""
        before = self.models.get(alias)
        if before is not None and canonical(identity) != before:
            raise UserError(f"model '{alias}' is not the one the run started with "
                            f"(was {before})", hint="the model file, runtime or "
                            "endpoint changed: start a new run")

    def leftovers(self) -> list[CallRecord]:
        """Samples the replay was not asked for (an adaptive policy whose inputs, the
        baselines, changed): they are in the file, so they stay in the result."""
        left = list(self.done.values())
        self.done.clear()
        return left
