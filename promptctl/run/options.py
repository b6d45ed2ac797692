"""What a run is asked to do: RunOptions, the policy that draws more samples, and the
one table of the command-line flags that change a plan.

A plan (plan.py) is made from the suites and these options alone. The flags in
PLAN_FLAGS change which calls it holds; the others (-j, -q, -o) only change how it
runs or what is shown. The table is used wherever that difference matters: the run
folder's meta.json records them (meta.py), `--resume` refuses a flag that disagrees
with the run it continues (resume.py), and the CLI reads which ones were given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..load import filters
from ..load.filters import patterns
from ..results import CellKey
from ..schema import format_shard


@dataclass
class RunOptions:
    models: list[str] = field(default_factory=list)  # overrides every suite's models
    repeat: int | None = None
    concurrency: int | None = None
    use_cache: bool = True
    filter: tuple[str, ...] = ()  # -k patterns, every one to match (load/filters.py)
    params: dict[str, Any] = field(default_factory=dict)  # command-line params: win last
    # --repeat auto: one sample per cell, more only where the verdict is uncertain
    auto_repeat: bool = False
    max_repeat: int = 5
    # --resample: shift every seed by this offset: fresh samples, the cache kept
    seed_offset: int = 0
    # --shard I/N: run only the I-th (1-based) of N slices of the cells (sharding.py)
    shard: tuple[int, int] | None = None
    # --changed-since / --watch: only these (suite, case, prompt, model) cells (load/deps.py)
    only: set[CellKey] | None = None
    # --no-perturb: leave out the perturbed variants (Case.variant_of) of the suites
    perturb: bool = True
    # --batch: an openai model's uncached calls through the Batch API (run/batch.py);
    # how the calls are sent, not which: plan-neutral, not in PLAN_FLAGS
    batch: bool = False
    # --max-cost / --max-tokens (run/budget.py): how far the run may spend, not what it
    # plans, so no PLAN_FLAG (a resume may raise them); meta.json records them
    max_cost: float | None = None
    max_tokens: int | None = None
    # how it runs, not what it plans (no PLAN_FLAGS entry): --trace / --trace-contents
    # (None: promptctl.yaml's `tracing:` or OTEL_EXPORTER_OTLP_ENDPOINT decides,
    # run/tracing.py), and the command's clock (run/timing.Timing, started before loading)
    trace: bool | None = None
    trace_contents: bool | None = None
    timing: Any = field(default=None, compare=False, repr=False)


# (cell, its outcomes so far: True for a pass) -> draw another sample?
MorePolicy = Callable[[CellKey, list[bool]], bool]


def until_a_pass(cell: CellKey, outcomes: list[bool]) -> bool:
    """The policy without a baseline: a passing cell is settled at once; a failing one
    is sampled until it passes once (flaky) or the cap says it always fails."""
    return not any(outcomes)


# -- the flags that change a plan ------------------------------------------------------


@dataclass(frozen=True)
class PlanFlag:
    flag: str  # as typed: --max-repeat
    param: str  # the command's parameter: max_repeat
    value: Callable[[RunOptions], Any]  # what it sets, for comparing two plans
    show: Callable[[RunOptions], str]  # that value in words, for an error message


def _repeat(o: RunOptions) -> str:
    return "auto" if o.auto_repeat else (str(o.repeat) if o.repeat else "the suites' repeat")


PLAN_FLAGS: tuple[PlanFlag, ...] = (
    PlanFlag("--model", "model", lambda o: o.models,
             lambda o: ", ".join(o.models) or "the suites' models"),
    PlanFlag("--repeat", "repeat", lambda o: (o.auto_repeat, o.repeat), _repeat),
    PlanFlag("--max-repeat", "max_repeat", lambda o: o.max_repeat,
             lambda o: str(o.max_repeat)),
    # a resumed run keeps its own seed offset: --resample differs only from a run made
    # without it
    PlanFlag("--resample", "resample", lambda o: bool(o.seed_offset),
             lambda o: "resampled" if o.seed_offset else "not resampled"),
    PlanFlag("--no-cache", "no_cache", lambda o: o.use_cache,
             lambda o: "cache on" if o.use_cache else "--no-cache"),
    PlanFlag("--filter", "filter", lambda o: patterns(o.filter),
             lambda o: filters.describe(o.filter) if o.filter else "no filter"),
    PlanFlag("--shard", "shard", lambda o: o.shard,
             lambda o: format_shard(o.shard) or "not sharded"),
    PlanFlag("--no-perturb", "no_perturb", lambda o: o.perturb,
             lambda o: "perturbed variants" if o.perturb else "--no-perturb"),
)


def check_flags(run_id: str, saved: RunOptions, given: RunOptions,
                explicit: Iterable[str]) -> None:
    """Refuse command-line flags that would make a different plan than the run's.
    A flag that repeats the run's own value is fine."""
    named = set(explicit)
    for f in PLAN_FLAGS:
        differs = (not saved.seed_offset) if f.flag == "--resample" \
            else f.value(saved) != f.value(given)
        if f.flag in named and differs:
            raise UserError(f"{f.flag} conflicts with run '{run_id}', which was made with "
                            f"{f.show(saved)}",
                            hint=f"drop {f.flag} to resume it as it was, or start a new run "
                                 "without --resume")
