"""Resuming a run: the records it already has must match the plan, and are handed
back to the runner round by round as if the calls had just been made."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .results import CallRecord

if TYPE_CHECKING:
    from .runner import Call, Runner, RunOptions

RecordKey = tuple[str, str, str, str, int]  # (suite, case, prompt, model, repeat)


def call_key(call: Call) -> RecordKey:
    return (call.suite.name, call.case.id, call.prompt.id, call.model, call.repeat)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def check_resumable(calls: Sequence[Call], done: dict[RecordKey, CallRecord],
                    options: RunOptions) -> None:
    """The kept records must be the ones this plan would make: the same cells, the
    same rendered messages and params. Otherwise the suites changed since the run
    started, and mixing old and new results would be neither run."""
    from .runner import adaptive

    planned = {call_key(c): c for c in calls}
    sampled = {call_key(c)[:4] for c in calls if adaptive(c.suite, options)}
    for key, rec in done.items():
        call = planned.get(key)
        where = f"{key[0]}/{key[1]} (prompt {key[2]}, model {key[3]}, repeat {key[4]})"
        if call is None:
            if key[4] > 0 and key[:4] in sampled:
                continue  # a sample of a later --repeat auto round
            raise UserError(f"the run has a record for {where}, which the suites no "
                            "longer plan", hint="the suites changed since the run "
                            "started: start a new run")
        if (_canon(rec.messages) != _canon(call.messages)
                or _canon(rec.params) != _canon(call.params)):
            raise UserError(f"{where} renders differently than when the run started",
                            file=call.case.file, line=call.case.line,
                            hint="the prompt, case or params changed: start a new run")


class _Replay:
    """The records a resumed run already has, handed out round by round so that the
    runner's state (records, summary, plan order) grows exactly as in the original
    run, and every adaptive decision is made on the same evidence."""

    def __init__(self, done: dict[RecordKey, CallRecord]) -> None:
        self.done = dict(done)
        self.models: dict[str, str] = {}
        for rec in done.values():
            self.models.setdefault(rec.model, _canon(rec.fingerprint.get("model")))

    def round(self, runner: Runner, calls: Sequence[Call]) -> None:
        if not self.done:
            runner.run(calls)
            return
        base = len(runner._order)
        kept = [self.done.pop(k) for k in map(call_key, calls) if k in self.done]
        have = {r.key for r in kept}
        todo = [c for c in calls if call_key(c) not in have]
        for alias in dict.fromkeys(c.model for c in todo):
            before = self.models.get(alias)
            if before is not None and _canon(runner.provider(alias).identity()) != before:
                raise UserError(f"model '{alias}' is not the one the run started with "
                                f"(was {before})", hint="the model file, runtime or "
                                "endpoint changed: start a new run")
        self.add(runner, kept)
        if todo:
            runner.run(todo)
        for i, call in enumerate(calls):  # report in plan order, kept and new alike
            runner._order[call_key(call)] = base + i

    def leftovers(self, runner: Runner) -> None:
        """Samples the replay did not ask for (an adaptive policy whose inputs, the
        baselines, changed): they are in the file, so they stay in the result."""
        if self.done:
            self.add(runner, list(self.done.values()))
            self.done.clear()

    @staticmethod
    def add(runner: Runner, records: Sequence[CallRecord]) -> None:
        with runner._lock:
            for rec in records:
                if runner.keep_records:
                    runner.records.append(rec)
                runner.summary.add(rec)
                if runner.on_record is not None:
                    runner.on_record(rec)
