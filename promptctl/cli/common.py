"""Options shared by several commands, and the helpers that read them.

Every command module imports this one, and `promptctl --help` imports every command
module: at module level only typer, the stdlib and promptctl.errors (stdlib only). The
loaders and the runner are imported inside the helpers that use them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import UserError

if TYPE_CHECKING:
    from ..gate.labels import LabelView
    from ..load.project import Project
    from ..load.suites import Suite
    from ..results import CallRecord, RecordKey
    from ..run.meta import SavedRun
    from ..run.options import RunOptions
    from ..run.timing import Timing

SuitesArg = Annotated[list[str] | None, typer.Argument(
    help="Suite files, directories, or names in suites/ (default: all).",
    show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="Path to promptctl.yaml (default: found upwards from here).",
    show_default=False)]
ModelOpt = Annotated[list[str] | None, typer.Option(
    "--model", "-m", help="Model alias or spec (builtin:smollm2, PATH.gguf, "
    "openai:NAME, echo); repeat for a matrix. Overrides the suites' models.",
    show_default=False)]
RepeatOpt = Annotated[str | None, typer.Option(
    "--repeat", "-r", help="Samples per cell, or 'auto': one per cell and more only where "
    "the verdict is uncertain (overrides the suites' repeat).", show_default=False)]
MaxRepeatOpt = Annotated[int, typer.Option(
    "--max-repeat", min=1, help="The most samples per cell that --repeat auto draws.")]
ResampleOpt = Annotated[bool, typer.Option(
    "--resample", help="Draw fresh samples (new seeds) instead of cached ones; the cache "
    "keeps both.")]
ConcurrencyOpt = Annotated[int | None, typer.Option(
    "--concurrency", "-j", min=1, help="Calls in flight per hosted model.",
    show_default=False)]
NoCacheOpt = Annotated[bool, typer.Option(
    "--no-cache", help="Call the model even when a cached answer exists.")]
NoPerturbOpt = Annotated[bool, typer.Option(
    "--no-perturb", help="Leave out the perturbed variants (CASE~ID) of the suites' "
    "`perturb:`: only the clean cases.")]
FilterOpt = Annotated[list[str] | None, typer.Option(
    "--filter", "-k", metavar="PATTERN", help="Only the matching cases: TEXT (the id "
    "contains it, or matches it as a glob), id:TEXT (the same, for an id holding '=' or "
    "'tag:'), tag:NAME (the case's or suite's tags), KEY=VALUE (the case's metadata; "
    "globs too), !TERM (not). Commas separate alternatives; a repeated -k narrows.",
    show_default=False)]
OutputOpt = Annotated[list[Path] | None, typer.Option(
    "--output", "-o", help="Write results to FILE; the format comes from the extension: "
    ".json, .jsonl, .xml (JUnit), .html, .md. Repeatable.", show_default=False)]
ShardOpt = Annotated[str | None, typer.Option(
    "--shard", metavar="I/N", help="Run only slice I of N (1-based) of the cells, e.g. "
    "--shard 2/3 on the second of three CI machines; join the runs with `promptctl merge`.",
    show_default=False)]
BatchOpt = Annotated[bool, typer.Option(
    "--batch", help="Send the uncached calls of openai models through the OpenAI Batch "
    "API (about half the price; results within 24 h), wait for them, and score them as "
    "usual. The batch ids are kept in the run folder: `run --resume` collects them.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary line.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="Every case, with reasons.")]
ChangedSinceOpt = Annotated[str | None, typer.Option(
    "--changed-since", metavar="REF", help="Only the cases whose inputs (suite, case, "
    "data row, prompt, included templates, judge prompt, promptctl.yaml) differ from git "
    "REF, e.g. HEAD or main.", show_default=False)]
MaxCostOpt = Annotated[float | None, typer.Option(
    "--max-cost", metavar="DOLLARS", min=0.0, help="Stop making new calls before the "
    "run's spend (priced by the models' `price`) would pass DOLLARS; the calls left are "
    "recorded as 'not run: budget reached' (exit 3; finish with --resume and a higher "
    "limit). Wins over `budget: max_cost` in promptctl.yaml.", show_default=False)]
MaxTokensOpt = Annotated[int | None, typer.Option(
    "--max-tokens", metavar="N", min=0, help="The same for the run's prompt + completion "
    "tokens. Wins over `budget: max_tokens` in promptctl.yaml.", show_default=False)]
DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Print the plan without calling any model: per model the calls, "
    "how many are cached, the estimated tokens and cost; writes no run folder.")]
TraceOpt = Annotated[bool, typer.Option(
    "--trace", help="Export the run's spans over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, "
    "`tracing.endpoint`, or http://localhost:4318); needs promptctl[otel].")]
TraceContentsOpt = Annotated[bool, typer.Option(
    "--trace-contents", help="Tracing with the prompts, outputs and assertion reasons in "
    "the spans (they can be private); implies --trace.")]
VarOpt = Annotated[list[str] | None, typer.Option(
    "--var", help="A variable, KEY=VALUE; repeatable.", show_default=False)]


def project(config: Path | None, timing: Timing | None = None) -> Project:
    start = time.perf_counter_ns()  # load time: importing the loaders too
    from ..load.project import load_project  # deferred: keeps --help fast

    loaded = load_project(config=config)
    if timing is not None:
        timing.add("load", time.perf_counter_ns() - start)
    return loaded


def clock() -> Timing:
    """The run's clock (run/timing.py), started as the command starts."""
    from ..run.timing import Timing  # deferred: keeps --help fast

    return Timing()


def traced(options: RunOptions, timing: Timing, trace: bool, trace_contents: bool
           ) -> RunOptions:
    """The command's clock, --trace and --trace-contents on the run's options."""
    options.timing = timing
    options.trace = True if trace or trace_contents else None
    options.trace_contents = True if trace_contents else None
    return options


def check_state(proj: Project, key: str = "state") -> None:
    """The state directory (paths.state, default .promptctl; or another of `paths`,
    e.g. baselines) must be a directory that can be written, or be creatable there:
    checked before any model call, so a run never dies half-way with nothing recorded.
    Nothing is created here."""
    from ..reports import unwritable_dir  # deferred: keeps --help fast

    target = proj.root / getattr(proj.config.paths, key)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir():
        problem = unwritable_dir(existing)
    elif existing == target:
        problem = "it is a file, not a directory"
    else:
        problem = f"{existing} is a file, not a directory"
    if problem is None:
        return
    from ..boundary import display_path  # deferred: keeps --help fast

    shown = display_path(target)
    src = proj.config_source
    line = src.key_lines.get(("paths", key)) if src is not None else None
    if line is not None:
        raise UserError(f"paths.{key} '{getattr(proj.config.paths, key)}' ({shown}): "
                        f"{problem}", file=proj.config_file, line=line,
                        hint=f"point paths.{key} at a directory you can write to")
    what = "state directory" if key == "state" else f"{key} directory"
    raise UserError(f"the {what}: {problem}", file=shown,
                    hint=f"remove or move it, or set paths.{key} in promptctl.yaml")


def load_suites(proj: Project, targets: list[str] | None, models: list[str] | None,
                timing: Timing | None = None) -> list[Suite]:
    """The suites named on the command line (default: all), with -m applied. A local
    model file that is missing is refused here, naming where it is written, before a
    run folder exists."""
    # deferred: keeps --help fast
    from ..load.project import missing_model_file
    from ..load.suites import load_suite

    start = time.perf_counter_ns()
    loaded = [load_suite(proj, p, models=models or []) for p in proj.suite_paths(targets or [])]
    if timing is not None:
        timing.add("load", time.perf_counter_ns() - start)
    for suite in loaded:
        for i, name in enumerate(suite.models):
            problem = missing_model_file(proj.root, proj.model(name))
            if problem is None:
                continue
            file, line = None, None
            if name in proj.config.models and proj.config_source is not None:
                file = proj.config_file
                line = proj.config_source.line(("models", name, "model"))
            elif not models:
                file, line = suite.file, suite.source.line(("models", i))
            raise UserError(f"model '{name}': {problem}", file=file, line=line,
                            hint="give the path to a .gguf file, or use builtin:smollm2")
    return loaded


def run_options(model: list[str] | None, repeat: str | None, concurrency: int | None,
                no_cache: bool, filter: list[str] | None, max_repeat: int = 5,
                resample: bool = False, shard: str | None = None, *,
                no_perturb: bool = False, batch: bool = False,
                max_cost: float | None = None,
                max_tokens: int | None = None) -> RunOptions:
    # deferred: keeps --help fast
    import secrets

    from ..load.filters import check_filter
    from ..run.options import RunOptions
    from ..schema import parse_shard

    count: int | None = None
    if repeat is not None and repeat != "auto":
        try:
            count = int(repeat)
        except ValueError:
            count = 0
        if count < 1:
            raise UserError(f"bad --repeat '{repeat}'", hint="a whole number >= 1, or auto")
    return RunOptions(models=list(model or []), repeat=count, concurrency=concurrency,
                      use_cache=not no_cache, filter=check_filter(filter),
                      auto_repeat=repeat == "auto", max_repeat=max_repeat,
                      seed_offset=secrets.randbelow(2**31 - 1) + 1 if resample else 0,
                      shard=parse_shard(shard) if shard is not None else None,
                      perturb=not no_perturb, batch=batch, max_cost=max_cost,
                      max_tokens=max_tokens)


def parse_vars(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"bad --var '{pair}'", hint="write --var KEY=VALUE")
        out[key.strip()] = value
    return out


def select_changed(proj: Project, suites: list[Suite], options: RunOptions,
                   ref: str | None) -> bool:
    """--changed-since REF: narrow options to the changed cells and say how many there
    are. False when none changed (the caller exits 0 with that message)."""
    if ref is None:
        return True
    # deferred: keeps --help fast
    from ..load import deps
    from .output import err, out

    selected, total = deps.select_changed(proj, suites, ref, options.filter)
    message = deps.describe_selection(len(selected), total, ref)
    if not selected:
        out.print(f"{message}: nothing to run", markup=False)
        return False
    err.print(message, markup=False)
    options.only = selected
    return True


def of_saved_run(proj: Project, saved: SavedRun, targets: list[str] | None
                 ) -> tuple[list[Suite], list[CallRecord]]:
    """The suites of a saved run named on the command line (default: all of them) and
    their records; a suite the run does not have is refused."""
    chosen = saved.suites
    if targets:
        wanted = {s.name for s in load_suites(proj, targets, None)}
        chosen = [s for s in saved.suites if s.name in wanted]
        missing = wanted - {s.name for s in chosen}
        if missing:
            raise UserError(f"run {saved.run_id} has no suite {sorted(missing)[0]!r}",
                            hint="run that suite first, or name a run that has it (--run)")
    names = {s.name for s in chosen}
    return chosen, [r for r in saved.records if r.suite in names]


def labels_of(proj: Project, records: Callable[[], Sequence[CallRecord]]
              ) -> dict[RecordKey, LabelView]:
    """The reviewer's labels in reviews/ on the outputs of `records()`, for the reports;
    without a reviews/ folder nothing is read (a big run's records stay on disk)."""
    from ..load.reviews import reviews_dir  # deferred: keeps --help fast

    if not reviews_dir(proj).is_dir():
        return {}
    from ..gate.labels import label_views  # deferred: only a project with reviews/

    return label_views(proj, records())
