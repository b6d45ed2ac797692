"""Retries, backoff and adaptive concurrency for hosted calls.

promptctl owns the retries (the SDK's are turned off) so that every call can say how
many it took and why, and so that all the calls to one provider share two things:

- a retry budget: 10 retries plus one per ten calls made (`BUDGET_MIN`,
  `BUDGET_RATIO`). A dead or throttling server makes a run fail fast instead of
  multiplying its load; once spent, failing calls give up with "retry budget exhausted".
- an adaptive limit on calls in flight (AIMD): a 429 halves it, every success adds one
  back, up to the configured concurrency.

One call's attempts (`Retrier.call`): an HTTP 429 waits what the server asks
(`retry-after-ms`, `Retry-After`, else the `x-ratelimit-reset-*` durations), and the
provider's other new calls wait as long; 5xx, 408/409, connection errors, timeouts and
bodies that are not JSON wait an exponential backoff with full jitter; other errors
(400, 401, 403, 404, 422...) fail at once. No single wait is longer than `MAX_DELAY`
(a server asking for more is not retried), and waits end at once when the provider is
closed. Each attempt holds a slot of the limiter; a waiting retry does not.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import aio

T = TypeVar("T")

# Defaults, module-level so that tests (and embedders) can make them small.
BASE_DELAY = 0.5  # seconds: the first backoff is uniform in [0, BASE_DELAY]
MAX_DELAY = 60.0  # no wait is longer; a server asking for more is not retried
BUDGET_MIN = 10  # retries a provider may spend whatever the number of calls
BUDGET_RATIO = 0.1  # plus this many per call made

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str | None) -> float | None:
    """Seconds in OpenAI's rate-limit duration format ("1s", "6m0s", "20ms",
    "1h2m3.5s"; a bare number is seconds); None when it is not one."""
    if text is None:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    total, end = 0.0, 0
    for match in _DURATION.finditer(text):
        if match.start() != end:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        end = match.end()
    return total if end and end == len(text) else None


def server_delay(headers: Mapping[str, str]) -> tuple[float | None, bool]:
    """How long the server asks us to wait, and whether it said so explicitly.

    `retry-after-ms`, then `Retry-After` (seconds or an HTTP date) are explicit; else
    the `x-ratelimit-reset-requests` / `-tokens` durations are an estimate: the one
    of an exhausted limit (remaining 0), or the shorter one."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000), True
        except ValueError:
            pass
    after = lower.get("retry-after")
    if after is not None:
        try:
            return max(0.0, float(after)), True
        except ValueError:
            parsed = email.utils.parsedate_tz(after)
            if parsed is not None:
                return max(0.0, email.utils.mktime_tz(parsed) - time.time()), True
    resets: dict[str, float] = {}
    for kind in ("requests", "tokens"):
        value = parse_duration(lower.get(f"x-ratelimit-reset-{kind}"))
        if value is not None:
            resets[kind] = value
    if not resets:
        return None, False
    exhausted = [v for k, v in resets.items()
                 if lower.get(f"x-ratelimit-remaining-{k}", "").strip() == "0"]
    return (max(exhausted) if exhausted else min(resets.values())), False


def backoff(retry: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**retry)]."""
    ceiling = min(cap, base * 2.0 ** min(retry, 32))
    return (rng or random).uniform(0.0, ceiling)


@dataclass
class Failure:
    """What a failed attempt means for the call."""

    message: str  # one line, e.g. "HTTP 503: The engine is overloaded"
    retryable: bool
    throttled: bool = False  # an HTTP 429: slow the provider down
    delay: float | None = None  # what the server asked to wait
    explicit: bool = False  # ... in Retry-After, not just estimated from rate-limit headers


class RetryFailed(Exception):
    """A call that failed for good: `message` says why and after how many retries."""

    def __init__(self, message: str, retries: int) -> None:
        super().__init__(message)
        self.message = message
        self.retries = retries


def retries_text(n: int) -> str:
    return f"{n} {'retry' if n == 1 else 'retries'}"


class RetryBudget:
    """Retries shared by every call of one provider in one run: `minimum` plus `ratio`
    per call made. Thread-safe."""

    def __init__(self, ratio: float = BUDGET_RATIO, minimum: int = BUDGET_MIN) -> None:
        self.ratio = ratio
        self.minimum = minimum
        self.calls = 0
        self.spent = 0
        self._lock = threading.Lock()

    def add_call(self) -> None:
        with self._lock:
            self.calls += 1

    @property
    def remaining(self) -> float:
        with self._lock:
            return self.minimum + self.ratio * self.calls - self.spent

    def spend(self) -> bool:
        """Take one retry from the budget; False when none is left."""
        with self._lock:
            if self.spent + 1 > self.minimum + self.ratio * self.calls + 1e-9:
                return False
            self.spent += 1
            return True


class Cancelled(Exception):
    """The caller's cancel event was set while it waited for a slot."""


class AdaptiveLimiter:
    """How many calls may be in flight, adapted by AIMD: a throttled call (HTTP 429)
    halves the limit, a success adds one, up to `maximum`.

    An asyncio primitive: `acquire` and `release` run on the engine loop (promptctl.aio),
    so its state needs no lock. A burst of 429s for calls that were all in flight
    together halves the limit once: each slot remembers the limiter's epoch, and only a
    429 on a slot taken since the last decrease lowers it again. `pause(seconds)` holds
    every new call back for as long as a 429's Retry-After asked: the limit is the
    client's, not one call's."""

    def __init__(self, maximum: int, minimum: int = 1) -> None:
        self.maximum = max(1, maximum)
        self.minimum = max(1, min(minimum, self.maximum))
        self.limit = self.maximum
        self.in_flight = 0
        self.peak = 0  # the most calls ever in flight at once
        self.lowest = self.maximum  # the lowest limit so far
        self.decreases = 0  # also the current epoch
        self.paused_until = 0.0  # time.monotonic() before which no call starts
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self, cancel: asyncio.Event | None = None) -> int:
        """Wait for a slot; returns its epoch, for `release`."""
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            paused = self.paused_until - time.monotonic()
            if paused <= 0 and self.in_flight < self.limit:
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            waits: set[asyncio.Future[Any]] = {waiter}
            stop = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
            if stop is not None:
                waits.add(stop)
            try:
                await asyncio.wait(waits, timeout=paused if paused > 0 else None,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                if stop is not None:
                    stop.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                waiter.cancel()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return self.decreases

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def resize(self, maximum: int) -> None:
        """A new ceiling (`-j N` on a model with no `concurrency:` of its own); the
        current limit moves to it, as a fresh limiter's would. Safe from any thread."""
        self.maximum = max(1, maximum)
        self.minimum = min(self.minimum, self.maximum)
        self.limit = self.maximum
        self.lowest = min(self.lowest, self.maximum)
        aio.call_soon(self._wake)

    def pause(self, seconds: float) -> None:
        """No call starts for this long (a later deadline wins over an earlier one)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def release(self, epoch: int, *, ok: bool = False, throttled: bool = False) -> None:
        if throttled and epoch == self.decreases:
            self.limit = max(self.minimum, min(self.limit, self.in_flight) // 2)
            self.lowest = min(self.lowest, self.limit)
            self.decreases += 1
        elif ok and self.limit < self.maximum:
            self.limit += 1
        self.in_flight -= 1
        self._wake()


@dataclass
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = BASE_DELAY
    max_delay: float = MAX_DELAY

    @classmethod
    def defaults(cls, max_retries: int) -> RetryPolicy:
        """The module's current defaults (read when a provider is made, so that tests
        can set them)."""
        return cls(max_retries=max_retries, base_delay=BASE_DELAY, max_delay=MAX_DELAY)


class Retrier:
    """Runs one call's attempts under a policy, a shared budget and a shared limiter.

    `call` is a coroutine on the engine loop; `cancel` (an asyncio.Event of that loop)
    ends every wait of every call at once: a closed provider gives up."""

    def __init__(self, policy: RetryPolicy, *, budget: RetryBudget | None = None,
                 limiter: AdaptiveLimiter | None = None,
                 cancel: asyncio.Event | None = None,
                 rng: random.Random | None = None) -> None:
        self.policy = policy
        self.budget = budget or RetryBudget()
        self.limiter = limiter or AdaptiveLimiter(1_000_000)
        self.cancel = cancel or asyncio.Event()
        self.rng = rng or random.Random()

    async def call(self, attempt: Callable[[], Awaitable[T]],
                   classify: Callable[[Exception], Failure | None]) -> tuple[T, int]:
        """(attempt's value, retries it took), or raise RetryFailed. An exception that
        `classify` does not know (None) propagates unchanged: it is a bug, not a fault."""
        self.budget.add_call()
        retries = 0
        while True:
            try:
                epoch = await self.limiter.acquire(self.cancel)
            except Cancelled:
                raise RetryFailed(self._said("cancelled before the call was made", retries),
                                  retries) from None
            ok, failure = False, None
            try:
                value = await attempt()
                ok = True
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
            finally:  # also when the task is cancelled: the slot is never lost
                self.limiter.release(epoch, ok=ok,
                                     throttled=failure is not None and failure.throttled)
            if failure is None:
                return value, retries
            wait = self._wait(failure, retries)
            if failure.throttled and failure.delay is not None:
                self.limiter.pause(wait)  # the other calls wait for the server too
            if await _set_within(self.cancel, wait):
                raise RetryFailed(self._said(failure.message, retries, "interrupted"), retries)
            retries += 1

    def _wait(self, failure: Failure, retries: int) -> float:
        """Seconds to wait before the next attempt, or raise RetryFailed."""
        policy = self.policy
        if not failure.retryable:
            raise RetryFailed(self._said(failure.message, retries), retries)
        if retries >= policy.max_retries:
            raise RetryFailed(self._said(failure.message, retries), retries)
        delay = failure.delay
        if delay is not None and delay > policy.max_delay:
            if failure.explicit:  # e.g. a daily quota: waiting a minute would not help
                raise RetryFailed(self._said(
                    failure.message, retries,
                    f"the server asks to wait {delay:g}s, more than {policy.max_delay:g}s"),
                    retries)
            delay = policy.max_delay  # an estimate: try again after the longest wait
        if not self.budget.spend():
            raise RetryFailed(self._said(failure.message, retries, "retry budget exhausted"),
                              retries)
        if delay is None:
            return backoff(retries, policy.base_delay, policy.max_delay, self.rng)
        # what the server asked, spread by up to 10% so that waiters do not all return
        # at the same instant
        return min(policy.max_delay, delay * (1 + 0.1 * self.rng.random()))

    @staticmethod
    def _said(message: str, retries: int, why: str = "") -> str:
        notes = [why] if why else []
        if retries:
            notes.append(f"after {retries_text(retries)}")
        return f"{message} ({', '.join(notes)})" if notes else message


async def _set_within(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds`; True as soon as the event is set."""
    if event.is_set():
        return True
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except (TimeoutError, asyncio.TimeoutError):  # one class from Python 3.11 on
        return False
    return True
