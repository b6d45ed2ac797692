"""Resume a killed run, or call its errors again: `promptctl run --resume [RUN]` and
`promptctl run --retry-errors [RUN]`.

The run's meta.json holds what made its plan: the suite files and the options. The
plan is made again from them, the calls that already have a record are kept, the rest
run and are appended to the same records.jsonl, and summary.json is written at the
end (runner.run_suites with `resume`). A flag that would change the plan conflicts
with the run and is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError
from .project import Project, Suite
from .results import CallRecord
from .runner import MorePolicy, Resume, RunOptions, RunResult, run_suites, until_a_pass
from .store import final_records, read_meta, read_summary, resolve_run

# the flags that shape a plan, by their command-line names
PLAN_FLAGS = ("--model", "--repeat", "--max-repeat", "--resample", "--no-cache", "--filter",
              "--shard")


def options_from_meta(meta: dict[str, Any], *, concurrency: int | None = None) -> RunOptions:
    from .sharding import parse_shard

    saved = meta.get("options") or {}
    repeat = saved.get("repeat")
    return RunOptions(
        models=list(saved.get("models") or []),
        repeat=None if repeat in (None, "auto") else int(repeat),
        concurrency=concurrency,  # how fast, not what: the command line decides
        use_cache=bool(saved.get("use_cache", True)),
        filter=saved.get("filter"),
        params=dict(saved.get("params") or {}),
        auto_repeat=repeat == "auto",
        max_repeat=int(saved.get("max_repeat") or 5),
        seed_offset=int(saved.get("seed_offset") or 0),
        shard=parse_shard(saved["shard"]) if saved.get("shard") else None,
        only=({(str(s), str(c), str(p), str(m)) for s, c, p, m in meta["only"]}
              if isinstance(meta.get("only"), list) else None),
    )


def _show(flag: str, options: RunOptions) -> str:
    if flag == "--model":
        return ", ".join(options.models) or "the suites' models"
    if flag == "--repeat":
        return "auto" if options.auto_repeat else (
            str(options.repeat) if options.repeat else "the suites' repeat")
    if flag == "--max-repeat":
        return str(options.max_repeat)
    if flag == "--resample":
        return "resampled" if options.seed_offset else "not resampled"
    if flag == "--no-cache":
        return "cache on" if options.use_cache else "--no-cache"
    if flag == "--filter":
        return repr(options.filter) if options.filter else "no filter"
    shard = options.shard
    return f"{shard[0]}/{shard[1]}" if shard else "not sharded"


def _differs(flag: str, saved: RunOptions, given: RunOptions) -> bool:
    if flag == "--resample":
        return not saved.seed_offset  # the run's own offset is kept either way
    if flag == "--repeat":
        return (saved.auto_repeat, saved.repeat) != (given.auto_repeat, given.repeat)
    attr = {"--model": "models", "--max-repeat": "max_repeat", "--no-cache": "use_cache",
            "--filter": "filter", "--shard": "shard"}[flag]
    return bool(getattr(saved, attr) != getattr(given, attr))


def check_flags(run_id: str, saved: RunOptions, given: RunOptions,
                explicit: Iterable[str]) -> None:
    """Refuse command-line flags that would make a different plan than the run's.
    A flag that repeats the run's own value is fine."""
    for flag in PLAN_FLAGS:
        if flag in explicit and _differs(flag, saved, given):
            raise UserError(f"{flag} conflicts with run '{run_id}', which was made with "
                            f"{_show(flag, saved)}",
                            hint=f"drop {flag} to resume it as it was, or start a new run "
                                 "without --resume")


@dataclass
class Target:
    """A saved run to continue: its directory and what made its plan."""

    run_dir: Path
    meta: dict[str, Any]
    suites: list[Suite]
    options: RunOptions
    more: MorePolicy
    records: list[CallRecord]

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def finished(self) -> bool:
        return read_summary(self.run_dir) is not None

    def errors(self) -> int:
        return sum(r.error is not None for r in self.records)


def prepare(project: Project, run: str | None = None, *, concurrency: int | None = None
            ) -> Target:
    """Read a run's meta.json and load its suites (as they are now; resuming checks
    that the recorded calls still match them)."""
    from .gate import load_baselines, suites_from_meta, uncertain_against
    from .verdicts import DEFAULT_ALPHA

    run_dir = resolve_run(project.state_dir / "runs", run)
    meta = read_meta(run_dir)
    options = options_from_meta(meta, concurrency=concurrency)
    files = meta.get("suites") or []
    if not files:
        raise UserError(f"run '{run_dir.name}' names no suites in its meta.json",
                        hint="start a new run")
    suites = suites_from_meta(project, files, options.models, strict=True)
    more: MorePolicy = until_a_pass
    if meta.get("command") == "check" and options.auto_repeat:
        # a check samples against the baselines: replay the same policy
        baselines = load_baselines(project, suites, allow_missing=True)
        more = uncertain_against(baselines, float(meta.get("alpha") or DEFAULT_ALPHA))
    return Target(run_dir, meta, suites, options, more, final_records(run_dir))


def resume_run(project: Project, target: Target, *, retry_errors: bool = False,
               on_plan: Callable[[int], None] | None = None,
               on_record: Callable[[CallRecord], None] | None = None) -> RunResult:
    return run_suites(project, target.suites, target.options, on_plan=on_plan,
                      on_record=on_record, more=target.more,
                      resume=Resume(target.run_dir, retry_errors=retry_errors))


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
    if target.finished:
        return f"run {target.run_id} had finished: {kept} calls recorded, nothing left to run"
    return f"resuming run {target.run_id}: {kept}{of} calls recorded, running the rest"

