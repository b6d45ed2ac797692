"""Where a run's time went: one cheap, thread-safe accumulator of per-stage time.

The stages, in the order a call meets them:

- load: reading promptctl.yaml and the suites (timed by the command, before the run);
- render: the plan's rendering of every cell, and each call's render of its messages;
- queue_wait: a call's time in its provider before the attempt that answered: waiting
  for a slot of the adaptive limiter, a 429's pause, the retries before the answer
  (the call's time minus the latency the provider reports for the answering attempt);
- model: the answering attempt (a cached call: its cache lookup, near zero);
- scoring: the assertions and judges of a call;
- writing: records.jsonl, meta.json, the run folder;
- batch: the wall time a round waited on its provider batches (run/batch.py: upload,
  polling, download), counted once per round, not per call: a batch's lines are
  answered by the provider in its own time, which no call of the run is busy with.

Calls run concurrently, so the stages overlap: each stage's figure is the busy time
summed over every call (ten calls of 1 s in flight together are 10 s of model time in
1 s of wall time), beside the run's wall time, measured from the command's start
(before loading) to the end of the calls and their records. A serial run's stages sum
to a little less than its wall time; a concurrent run's model time can exceed it.

Invariants: only `time.perf_counter_ns` on the hot path and one short lock per add;
nothing here prints or imports more than the stdlib. `epoch_ns` turns a perf_counter_ns
reading into wall-clock nanoseconds since the epoch (what tracing spans are stamped with).
"""

from __future__ import annotations

import threading
import time
from typing import Any

STAGES = ("load", "render", "queue_wait", "model", "scoring", "writing", "batch")

now = time.perf_counter_ns  # the clock of every mark


class Timing:
    """The run's clock: started when made (the command's start), ended by `end()`."""

    def __init__(self) -> None:
        self.started_ns = now()
        self._epoch_at_start = time.time_ns()
        self.ended_ns: int | None = None
        self._busy = dict.fromkeys(STAGES, 0)
        self._lock = threading.Lock()

    def add(self, stage: str, ns: int) -> None:
        """Count `ns` nanoseconds of busy time in `stage` (any thread)."""
        with self._lock:
            self._busy[stage] += ns

    def since(self, stage: str, start_ns: int) -> int:
        """Count the time from `start_ns` to now in `stage`; returns now."""
        end = now()
        self.add(stage, end - start_ns)
        return end

    def end(self) -> None:
        """The run's calls and records are done: its wall time stops here."""
        self.ended_ns = now()

    @property
    def wall_ns(self) -> int:
        return (self.ended_ns if self.ended_ns is not None else now()) - self.started_ns

    def busy_ns(self) -> dict[str, int]:
        with self._lock:
            return dict(self._busy)

    def epoch_ns(self, perf_ns: int) -> int:
        """A perf_counter_ns reading as nanoseconds since the epoch."""
        return self._epoch_at_start + (perf_ns - self.started_ns)

    def to_dict(self) -> dict[str, Any]:
        """summary.json's and the JSON report's "timing": seconds, rounded to 0.1 ms."""
        return {"wall_seconds": round(self.wall_ns / 1e9, 4),
                "busy_seconds": {k: round(v / 1e9, 4) for k, v in self.busy_ns().items()}}


def words(timing: dict[str, Any]) -> str:
    """The --verbose line: the wall time, then each stage's busy time."""
    busy = timing.get("busy_seconds") or {}
    parts = [f"{stage.replace('_', ' ')} {float(busy.get(stage, 0.0)):.2f}s"
             for stage in STAGES]
    return (f"time: {float(timing.get('wall_seconds', 0.0)):.2f}s wall; busy, summed "
            f"over calls: " + ", ".join(parts))
