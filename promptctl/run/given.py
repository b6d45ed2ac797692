"""A run of outputs another tool produced: `record_given` writes a run folder whose
records are the given outputs, scored by promptctl's own checks, as `promptctl run`
would have scored them had its models answered that (integrations/promptfoo/results.py
imports promptfoo's results through it).

The run is made like any other: the plan of the suites (plan.py), one record per
planned call that has a given output, made and scored by the Runner (`Runner.given`:
same record, same fingerprint, same assertions, judges and cache for them), streamed by
the RunWriter, with a meta.json (meta.new_meta) and a summary.json; `latest` names it.
Nothing calls the models under test, and no given output enters the response cache,
so the next `promptctl run` asks the models itself.

Invariants: the run is written whole or not at all (an error while scoring, a judge
without its API key, Ctrl-C: the folder goes and `latest` is restored); a record's
fingerprint names the model as promptctl would call it (`identity`: the provider's
identity, or what it would be when it cannot be made here, e.g. no API key); when the
outputs cover only some cells, the run is partial (meta.json `only`), so `diff` and
`baseline update` treat the others as not run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import UserError
from ..load.project import Project
from ..load.suites import Suite
from ..results import CallRecord, Completion, RecordKey
from .meta import new_meta, write_meta
from .options import RunOptions
from .plan import plan
from .runner import Runner, RunResult
from .store import LATEST, RunWriter, now_iso, runs_dir, write_text_atomic


@dataclass
class Given:
    """What another tool got for one call: a completion, or the error it recorded."""

    completion: Completion | None
    error: str | None = None


def identity(project: Project, alias: str) -> dict[str, Any]:
    """The model's identity as promptctl's provider states it; when the provider cannot
    be made here (no API key, no model file), what it would state (identity_of)."""
    # deferred: provider modules only when a model is used (start-up speed)
    from ..providers.registry import provider_class

    try:
        return project.provider(alias).identity()
    except UserError:
        entry = project.model(alias)
        return provider_class(entry.provider).identity_of(entry)


def record_given(project: Project, suites: Sequence[Suite], given: Mapping[RecordKey, Given],
                 *, meta: dict[str, Any] | None = None,
                 on_record: Callable[[CallRecord], None] | None = None) -> RunResult:
    """A new run folder in the project's runs directory holding `given`, every key of
    which must be a call of the suites' plan (default options)."""
    options = RunOptions()
    calls = plan(project, suites, options)
    planned = {c.key for c in calls}
    stray = [k for k in given if k not in planned]
    if stray:  # the caller matches against this same plan: a bug, not bad input
        raise ValueError(f"given outputs for calls the suites do not plan: {stray[:3]}")
    cells = {k[:4] for k in given}
    if cells != {c.cell for c in calls}:
        options = replace(options, only=cells)
        calls = [c for c in calls if c.cell in cells]
    todo = [c for c in calls if c.key in given]
    identities = {alias: identity(project, alias) for alias in dict.fromkeys(
        c.model for c in todo)}
    started = now_iso()
    runner = Runner(project, options, on_record=on_record)
    pointer = runs_dir(project) / LATEST
    before = pointer.read_text(encoding="utf-8") if pointer.is_file() else None
    writer = RunWriter(runs_dir(project))
    runner.attach(writer)
    try:
        fresh = new_meta(writer.run_id, started, suites, len(calls), options, meta)
        # from the project root, which is where readers look first: the import may
        # run from another folder (the promptfoo project's)
        fresh["suites"] = [_from_root(project, s) for s in suites]
        write_meta(writer.dir, fresh)
        for call in todo:
            got = given[call.key]
            runner.given(call, identities[call.model], got.completion, got.error)
    except BaseException:
        # all or nothing: half a run of given outputs must not be resumed (a resume
        # would ask the models for the rest) nor become the latest run
        writer.close()
        shutil.rmtree(writer.dir, ignore_errors=True)
        if before is None:
            pointer.unlink(missing_ok=True)
        else:
            write_text_atomic(pointer, before)
        raise
    finally:
        runner.close()
    result = runner.result(started)
    writer.finish({"run_id": writer.run_id, "started": result.started,
                   "finished": result.finished, "summary": result.summary.to_dict()})
    return result


def _from_root(project: Project, suite: Suite) -> str:
    try:
        return suite.path.resolve().relative_to(project.root.resolve()).as_posix()
    except ValueError:  # a suite outside the project: as the user named it
        return suite.file
