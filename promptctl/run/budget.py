"""Spend limits: `--max-cost`, `--max-tokens` and `budget:` in promptctl.yaml.

A `Ledger` holds a run's limits, what its finished calls spent and what the calls in
flight have reserved. Before an uncached model call the runner asks it to `reserve`
a conservative `Estimate` of that call (`estimate`: the prompt's tokens counted as an
upper bound, the completion bound from `max_tokens`, the price of both from the model
entry); when the call ends, `settle` replaces the reservation by the real usage (the
Completion's tokens and cost; nothing for a call that failed). A reservation that
would take the spent and reserved total past a limit is not granted while other
calls are in flight: it waits for them to settle, and is granted if the room they
leave is enough. With no call in flight and still no room, the ledger stops: that
call and every later one get None, and become records with the error NOT_RUN.

The invariant: the settled spend never passes a limit by more than what the calls in
flight spend beyond their estimates; with estimates that are upper bounds (the byte
count of the prompt, a `max_tokens` on every call) it never passes it at all.

Thread-safe and loop-safe: local calls reserve from worker threads (`reserve` blocks
on a condition), hosted ones from coroutines on the one event loop (`areserve` awaits
a future that `settle` resolves from whichever thread it runs in). The same plain API
(`reserve(estimate) -> Ticket | None`, `settle(ticket, tokens, cost)`) serves any
other caller that spends per call (a batch submission, a judge's call).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..results import canonical

if TYPE_CHECKING:
    from ..load.project import Project
    from ..providers import Provider
    from ..results import CallRecord, Completion
    from .options import RunOptions

NOT_RUN = "not run: budget reached"

# The completion bound of a call whose params give no max_tokens. Not a bound the
# endpoint keeps: documented (docs/budget.md) as the assumption, settled to the truth.
DEFAULT_COMPLETION_TOKENS = 4096


@dataclass(frozen=True)
class Estimate:
    """What a call may spend at most: prompt and completion tokens, and their cost."""

    prompt_tokens: int
    completion_tokens: int
    cost: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Limits:
    max_cost: float | None = None
    max_tokens: int | None = None

    def __bool__(self) -> bool:
        return self.max_cost is not None or self.max_tokens is not None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("max_cost", self.max_cost),
                                  ("max_tokens", self.max_tokens)) if v is not None}


def limits_of(project: Project, options: RunOptions) -> Limits:
    """The run's limits: each flag given on the command line wins over promptctl.yaml's
    `budget:` value of the same name."""
    config = project.config.budget
    cost = options.max_cost if options.max_cost is not None else config.max_cost
    tokens = options.max_tokens if options.max_tokens is not None else config.max_tokens
    return Limits(cost, tokens)


def estimate(provider: Provider, messages: Sequence[dict[str, str]],
             params: dict[str, Any], *, batch: bool = False) -> Estimate:
    """The conservative estimate of one call: its prompt bound (the provider's,
    Provider.prompt_tokens_bound), `max_tokens` (else DEFAULT_COMPLETION_TOKENS) and
    their price (a batch line's at the entry's batch price, run/batch.py)."""
    prompt = int(provider.prompt_tokens_bound(list(messages)))
    if params.get("tools"):  # the tools' definitions are prompt tokens too
        prompt += len(canonical(params["tools"]).encode())
    completion = int(params.get("max_tokens") or DEFAULT_COMPLETION_TOKENS)
    price = provider.price(prompt, completion, batch=True) if batch \
        else provider.price(prompt, completion)
    return Estimate(prompt, completion, price)


class Ticket:
    """A granted reservation, settled once."""

    __slots__ = ("estimate", "settled")

    def __init__(self, estimate: Estimate) -> None:
        self.estimate = estimate
        self.settled = False


_WAIT = object()  # not now: calls in flight may leave room when they settle


class Ledger:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.spent_cost = 0.0
        self.spent_tokens = 0
        self.calls = 0  # settled calls
        self.refused = 0  # calls not run
        self.stopped = False
        self._reserved_cost = 0.0
        self._reserved_tokens = 0
        self._in_flight = 0
        self._cond = threading.Condition(threading.Lock())
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    # -- the plain API ---------------------------------------------------------------
    def reserve(self, estimate: Estimate, *, wait: bool = True) -> Ticket | None:
        """A ticket for a call of this estimate, or None: the budget is reached (the
        call is not to be made). Blocks while calls in flight may still make room;
        with wait=False (a caller that reserves many calls before any settles, as a
        batch submission does) a call that does not fit now stops the ledger."""
        with self._cond:
            while True:
                got = self._try(estimate)
                if got is not _WAIT:
                    return got  # type: ignore[return-value]
                if not wait:
                    self.stopped = True
                    self.refused += 1
                    return None
                self._cond.wait(1.0)

    async def areserve(self, estimate: Estimate) -> Ticket | None:
        """reserve() for a coroutine: waits without blocking the event loop."""
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                got = self._try(estimate)
                if got is not _WAIT:
                    return got  # type: ignore[return-value]
                future: asyncio.Future[None] = loop.create_future()
                waiter = (loop, future)
                self._waiters.append(waiter)
            try:
                await future
            finally:  # cancelled (Ctrl-C): no settle is to wake it any more
                with self._cond:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    def settle(self, ticket: Ticket, tokens: int, cost: float) -> None:
        """The call of `ticket` ended having spent `tokens` and `cost` (0 and 0.0 for a
        call that failed: an endpoint reports no usage for it)."""
        with self._cond:
            if ticket.settled:
                return
            ticket.settled = True
            self._in_flight -= 1
            self._reserved_cost -= ticket.estimate.cost
            self._reserved_tokens -= ticket.estimate.tokens
            self.spent_cost += cost
            self.spent_tokens += tokens
            self.calls += 1
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # a loop closed at exit: none waits
                loop.call_soon_threadsafe(_wake, future)

    def settle_completion(self, ticket: Ticket, completion: Completion | None) -> None:
        if completion is None:
            self.settle(ticket, 0, 0.0)
        else:
            self.settle(ticket, completion.prompt_tokens + completion.completion_tokens,
                        completion.cost)

    def spent_before(self, records: Sequence[CallRecord]) -> None:
        """A resumed run's kept records: what their uncached calls spent counts."""
        with self._cond:
            for rec in records:
                if rec.error is None and not rec.cached:
                    self.spent_tokens += sum(rec.tokens.values())
                    self.spent_cost += rec.cost

    def _try(self, estimate: Estimate) -> Ticket | object | None:
        """Under the lock: a ticket, _WAIT, or None (stopped)."""
        if self.stopped:
            self.refused += 1
            return None
        cost, tokens = self.limits.max_cost, self.limits.max_tokens
        fits = ((cost is None
                 or self.spent_cost + self._reserved_cost + estimate.cost <= cost + 1e-12)
                and (tokens is None
                     or self.spent_tokens + self._reserved_tokens + estimate.tokens <= tokens))
        if fits:
            self._in_flight += 1
            self._reserved_cost += estimate.cost
            self._reserved_tokens += estimate.tokens
            return Ticket(estimate)
        if self._in_flight:
            return _WAIT
        self.stopped = True
        self.refused += 1
        return None

    # -- for the summary ---------------------------------------------------------------
    def describe(self) -> str:
        """One line for the terminal: how many calls were not run, spend and limit."""
        spend = []
        if self.limits.max_cost is not None:
            spend.append(f"${self.spent_cost:.4f} of ${self.limits.max_cost:g}")
        if self.limits.max_tokens is not None:
            spend.append(f"{self.spent_tokens:,} of {self.limits.max_tokens:,} tokens")
        if not self.refused:
            return f"budget: spent {', '.join(spend)}"
        return (f"budget reached: {self.refused} call{'s' * (self.refused != 1)} not run "
                f"(spent {', '.join(spend)}); raise the limit and `promptctl run "
                "--resume` to make them")

    def to_dict(self) -> dict[str, Any]:
        return {**self.limits.to_dict(), "spent_cost": round(self.spent_cost, 6),
                "spent_tokens": self.spent_tokens, "not_run": self.refused}


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def ledger_for(project: Project, options: RunOptions) -> Ledger | None:
    """The run's ledger, or None when no limit is set (no call pays for one)."""
    limits = limits_of(project, options)
    return Ledger(limits) if limits else None


def reserve_or_raise(ledger: Ledger, provider: Provider,
                     messages: Sequence[dict[str, str]], params: dict[str, Any]) -> Ticket:
    """A judge's call (services.py): its ticket, or the InfraError that leaves the
    call under test without a verdict, as NOT_RUN."""
    ticket = ledger.reserve(estimate(provider, messages, params))
    if ticket is None:
        from ..errors import InfraError  # base module: loaded already

        raise InfraError(NOT_RUN)
    return ticket


def not_run(record: CallRecord) -> CallRecord:
    """The record of a call the budget did not allow: no verdict, resumable."""
    record.error = NOT_RUN
    return record


def is_not_run(record: CallRecord) -> bool:
    """The budget left this call without a verdict: its own call, or a judge's call
    its check needed ("llm-rubric: not run: budget reached")."""
    return record.error is not None and record.error.endswith(NOT_RUN)
