"""`--dry-run`: the plan of a run, priced, without calling any model.

Per model: the planned calls, how many the response cache already answers (looked up
read-only by the runner's own cache key, run/cache.py), and for the others the
budget's conservative estimate (budget.estimate: the prompt tokens' upper bound, the
completion bound, their price). Nothing is written: no run folder, no cache entry, no
cache hit counted. A `--repeat auto` plan holds its first round only (later rounds
depend on the answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..load.project import Project
from ..load.suites import Suite
from ..providers import Provider
from .budget import Ledger, Limits, estimate, limits_of
from .cache import cache_key, cached_keys
from .options import RunOptions
from .plan import call_params, plan


@dataclass
class ModelPlan:
    model: str
    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0  # of the uncached calls, upper bounds
    completion_tokens: int = 0  # their completion bounds
    cost: float = 0.0  # estimated, of the uncached calls
    priced: bool = False  # the model entry has a `price`

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "cached": self.cached,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost": round(self.cost, 6), "priced": self.priced}


@dataclass
class DryRun:
    models: list[ModelPlan]
    limits: Limits
    adaptive: bool
    fit: int = 0  # uncached calls the limits allow, one after the other, by estimate

    @property
    def total(self) -> ModelPlan:
        out = ModelPlan("total", priced=any(m.priced for m in self.models))
        for m in self.models:
            out.calls += m.calls
            out.cached += m.cached
            out.prompt_tokens += m.prompt_tokens
            out.completion_tokens += m.completion_tokens
            out.cost += m.cost
        return out

    def to_dict(self) -> dict[str, Any]:
        total = self.total
        data: dict[str, Any] = {
            "dry_run": True, "models": {m.model: m.to_dict() for m in self.models},
            "total": total.to_dict(),
            "first_round_only": self.adaptive}
        if self.limits:
            data["budget"] = {**self.limits.to_dict(), "uncached": total.calls - total.cached,
                              "fit": self.fit}
        return data


def dry_run(project: Project, suites: Sequence[Suite], options: RunOptions) -> DryRun:
    """The priced plan of `suites` under `options`; no model is called."""
    calls = plan(project, suites, options)
    by_model: dict[str, ModelPlan] = {}
    providers: dict[str, Provider] = {}
    keyed = []
    for call in calls:
        provider = providers.get(call.model)
        if provider is None:
            provider = providers[call.model] = project.provider(call.model)
            by_model[call.model] = ModelPlan(call.model, priced=bool(provider.entry.price))
        messages = call.messages
        params = call_params(project, call)
        key = cache_key(provider.identity(), messages, params, call.repeat) \
            if options.use_cache else ""
        keyed.append((call, messages, key, params))
    for provider in providers.values():
        provider.close()  # made for identities and prices only: no call was made
    found = cached_keys(project, [k for _, _, k, _ in keyed if k])
    limits = limits_of(project, options)
    result = DryRun(list(by_model.values()), limits,
                    adaptive=options.auto_repeat)
    ledger = Ledger(limits)  # the run's own rule of what fits, call after call
    for call, messages, key, params in keyed:
        entry = by_model[call.model]
        entry.calls += 1
        if key and key in found:
            entry.cached += 1
            continue
        est = estimate(providers[call.model], messages, params)
        entry.prompt_tokens += est.prompt_tokens
        entry.completion_tokens += est.completion_tokens
        entry.cost += est.cost
        ticket = ledger.reserve(est, wait=False)  # nothing in flight: never waits
        if ticket is not None:  # spent as estimated, as if made before the next
            ledger.settle(ticket, est.tokens, est.cost)
            result.fit += 1
    return result


def describe(result: DryRun) -> list[str]:
    """The plan as lines of text: a table per model, the total, the budget's verdict."""
    head = ("model", "calls", "cached", "prompt tokens", "completion bound", "cost (est.)")
    rows = [head]
    for m in [*result.models, result.total]:
        rows.append((m.model, f"{m.calls:,}", f"{m.cached:,}", f"{m.prompt_tokens:,}",
                     f"{m.completion_tokens:,}",
                     f"${m.cost:.4f}" if m.priced else "no price"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
             for r in rows]
    total = result.total
    uncached = total.calls - total.cached
    lines.insert(0, f"dry run: {total.calls:,} calls, {total.cached:,} cached, "
                    f"{uncached:,} to make; no model called"
                 + (" (--repeat auto: the first round only)" if result.adaptive else ""))
    if result.limits:
        limit = ", ".join(f"${v:g}" if k == "max_cost" else f"{v:,} tokens"
                          for k, v in result.limits.to_dict().items())
        verdict = ("all of them fit by the estimate" if result.fit == uncached else
                   f"{result.fit:,} of the {uncached:,} calls fit by the estimate; the "
                   "rest would be not run")
        lines.append(f"budget {limit}: {verdict}")
    lines.append("prompt tokens are upper bounds (UTF-8 bytes + template overhead; exact for "
                 "llama-cpp); the completion bound is max_tokens (docs/budget.md)")
    return lines
