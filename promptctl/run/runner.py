"""Run a plan (plan.py): every call made, scored and recorded, in a run folder.

The runner never prints: it reports each finished call through a callback. Every
cell is rendered before the first model call (plan.py), so a template error costs no
tokens. A call renders from its case's own vars, which no template can change (the immutable
sandbox) and no check is handed (checks get copies): its prompt does not depend on
which calls ran before it.

A record's fingerprint names what was asked (the rendered prompt's digest, the model's
identity, the params) and, when a hosted endpoint says what it ran, `served`: its
model and system_fingerprint, from the completion (a cached one keeps those of the
call that made it); absent for providers that do not say (llama-cpp, echo).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import gc
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import assertions, contain
from ..errors import ExitCode, InfraError, UserError
from ..load import filters
from ..load.project import Project
from ..load.suites import Suite, young_collections
from ..providers import Provider
from ..results import CallRecord, Completion, RecordKey, digest
from . import tracing
from .batch import take as take_batches
from .budget import Ledger, Ticket, estimate, is_not_run, ledger_for, limits_of, not_run
from .cache import cache_key, open_cache
from .meta import new_meta, read_meta, write_meta
from .options import MorePolicy, RunOptions, until_a_pass
from .plan import Call, adaptive, call_params, plan, repeat_call
from .resume import Replay, Resume, check_resumable
from .scoring import prompt_digest, score_call
from .services import Services
from .store import (
    RunWriter,
    dedupe,
    final_records,
    now_iso,
    read_records,
    read_steps,
    runs_dir,
)
from .summary import Summary
from .timing import Timing, now
from .turns import Conversation, number_calls

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from .tracing import Tracer

# A fresh run keeps its records in memory beside records.jsonl while their lines there
# take up to this many bytes, so that the reports of a small run need not read them back
# (and validate each line again); past it they are let go, memory stays bounded by the
# calls in flight, and the records are read back when a report asks for them.
HELD_BYTES = 1 << 20


class RunResult:
    """A finished run. When the run streamed more records to a run directory than it
    holds (HELD_BYTES), they are read back from there only if asked for, so a run's memory
    is bounded by the calls in flight and the incremental summary, not by the suite."""

    def __init__(self, run_id: str | None, started: str, finished: str,
                 records: list[CallRecord] | None, summary: Summary, *,
                 run_dir: Path | None = None,
                 order: Mapping[RecordKey, int] | Callable[[], Mapping[RecordKey, int]]
                 | None = None) -> None:
        self.run_id = run_id
        self.started = started
        self.finished = finished
        self.summary = summary
        self._records = records
        self._run_dir = run_dir
        self._order = order  # the plan order, or how to work it out
        self.budget: Ledger | None = None  # the spend limits' ledger (budget.py), when set
        self.timing: Timing | None = None  # where the time went (run/timing.py)
        self.notes: list[str] = []  # warnings for the terminal (a collector that is down)

    @property
    def records(self) -> list[CallRecord]:
        """Every record, in plan order (the order of the suite files)."""
        if self._records is None:
            assert self._run_dir is not None
            loaded = final_records(self._run_dir)
            order = self._order() if callable(self._order) else (self._order or {})
            loaded.sort(key=lambda r: order.get(r.key, len(order)))
            self._records = loaded
        return self._records

    @property
    def exit_code(self) -> ExitCode:
        """3 when the budget left calls not run (the run is unfinished), else 1 when any
        case failed (a verdict), else 3 when errors left cases without one, else 0."""
        if self.summary.not_run:
            return ExitCode.INFRA
        if self.summary.failed:
            return ExitCode.FAILED
        if self.summary.errors:
            return ExitCode.INFRA
        return ExitCode.OK


class Runner:
    def __init__(self, project: Project, options: RunOptions, *,
                 on_record: Callable[[CallRecord], None] | None = None,
                 writer: RunWriter | None = None) -> None:
        self.project = project
        self.options = options
        self.on_record = on_record
        self.writer = writer
        self.cache = open_cache(project) if options.use_cache else None
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()
        self._providers_lock = threading.Lock()
        # the calls of each round, in plan order: the order of the records (plan_order)
        self._rounds: list[Sequence[Call]] = []
        self.records: list[CallRecord] = []
        # with a run directory the records live on disk; without one, in memory
        self.keep_records = writer is None
        # a fresh run's records, by key, also kept in memory while they are few: its
        # report then needs no reading back (see HELD_BYTES)
        self._held: dict[RecordKey, CallRecord] | None = None
        self._held_bytes = 0
        self.summary = Summary()
        self.services = Services(project, self.cache, self.provider)
        self._score_pool: ThreadPoolExecutor | None = None  # see aexecute
        # a run's spend limits (budget.py), set by run_suites: None, nothing counted
        self.budget: Ledger | None = None
        self.timing: Timing = options.timing if options.timing is not None else Timing()
        self.tracer: Tracer | None = None  # run/tracing.py, when the run is traced
        self._marks: dict[int, tuple[int, int]] = {}  # id(record) -> its call, for its span
        # a resumed run's finished conversation steps (its steps.jsonl), by cache key
        self.steps: dict[str, Completion] = {}

    def provider(self, alias: str) -> Provider:
        found = self._providers.get(alias)
        if found is not None:
            return found
        with self._providers_lock:  # a judge's model, asked for by two checks at once
            if alias not in self._providers:
                provider = self.project.provider(alias)
                if self.options.concurrency:
                    provider.allow_concurrency(self.options.concurrency)
                self._providers[alias] = provider
            return self._providers[alias]

    def locate(self, calls: Sequence[Call]) -> None:
        """Create the providers (and locate the models) the calls need: a configuration
        error (no API key, no GGUF file) is raised before any call is made."""
        for alias in dict.fromkeys(c.model for c in calls):
            self.provider(alias)

    def attach(self, writer: RunWriter) -> None:
        """Stream records to `writer` from now on: a fresh run's folder is made once its
        models are located, so a configuration error leaves no run folder behind."""
        self.writer = writer
        self.keep_records = False
        self._held = {}

    def run(self, calls: Sequence[Call]) -> None:
        """Run a batch of calls; records and summary accumulate over batches."""
        self._rounds.append(calls)
        self._run(calls)

    def _run(self, calls: Sequence[Call]) -> None:
        self.locate(calls)
        calls = take_batches(self, calls)  # a batch model's calls (run/batch.py), first
        if not calls:
            return
        groups: dict[str, list[Call]] = {}
        for call in calls:
            groups.setdefault(call.model, []).append(call)
        if len(groups) == 1 and self._width(next(iter(groups), "")) == 1:
            finish, execute = self._finish, self.execute
            for call in calls:  # one call at a time: no engine needed
                finish(execute(call))
        else:
            self._run_lanes(groups)

    def replay_round(self, replay: Replay, calls: Sequence[Call]) -> None:
        """Run a round of a resumed run: the calls that have a record get it back, the
        others are made; all are reported in plan order."""
        if not replay.done:
            self.run(calls)
            return
        self._rounds.append(calls)
        kept, todo = replay.take(calls)
        for alias in dict.fromkeys(c.model for c in todo):
            replay.check_model(alias, self.provider(alias).identity())
        self.keep(kept)
        if todo:
            self._run(todo)

    def plan_order(self) -> dict[RecordKey, int]:
        """Each call's place in the plan: the rounds one after the other, each in its
        suites' order (a key planned again takes its later place)."""
        order: dict[RecordKey, int] = {}
        for calls in self._rounds:
            base = len(order)
            for i, call in enumerate(calls):
                order[call.key] = base + i
        return order

    def keep(self, records: Sequence[CallRecord]) -> None:
        """Records a resumed run already has: counted and reported, not written again."""
        if self.budget is not None:
            self.budget.spent_before(records)  # the run's limit counts their spend too
        with self._lock:
            for rec in records:
                if self.keep_records:
                    self.records.append(rec)
                self.summary.add(rec)
                if self.on_record is not None:
                    self.on_record(rec)

    def _finish(self, record: CallRecord, *, flush: bool = True) -> None:
        with self._lock:
            if self.keep_records:
                self.records.append(record)
            self.summary.add(record)
            if self.writer is not None:
                start = now()
                size = self.writer.write(record, flush=flush)
                self.timing.since("writing", start)
                if self._held is not None:
                    self._held[record.key] = record  # the last per key, as final_records
                    self._held_bytes += size
                    if self._held_bytes > HELD_BYTES:
                        self._held = None  # a big run: read back when asked for
            if self.on_record is not None:
                self.on_record(record)
        if self.tracer is not None:
            self.tracer.call(record, self._marks.pop(id(record), None))

    def _called(self, record: CallRecord, start: int, completion: Completion | None,
                ticket: Ticket | None = None) -> None:
        """A provider call (or cache lookup) from `start` to now: the answering attempt's
        latency is model time, the rest of it queue wait (limiter, pauses, retries); its
        reservation in the spend limits (`ticket`) settled to what it spent."""
        if ticket is not None and self.budget is not None:
            self.budget.settle_completion(ticket, completion)
        end = now()
        spent = end - start
        latency = int(completion.latency_ms * 1e6) if completion is not None else 0
        model = min(spent, latency) if latency > 0 else spent
        self.timing.add("model", model)
        if spent > model:
            self.timing.add("queue_wait", spent - model)
        if self.tracer is not None:
            self._marks[id(record)] = (start, end)

    def batched(self, record: CallRecord, start: int) -> None:
        """A batch line's record (run/batch.py): its span runs from the round's first
        upload to its batch's collection; its time is the timing's `batch` stage."""
        if self.tracer is not None:
            self._marks[id(record)] = (start, now())

    def result(self, started: str) -> RunResult:
        run_id = self.writer.run_id if self.writer else None
        if not self.keep_records and self._held is None:  # read back when asked for
            assert self.writer is not None
            return RunResult(run_id, started, now_iso(), None, self.summary,
                             run_dir=self.writer.dir, order=self.plan_order)
        if self._held is not None:  # what records.jsonl holds, as final_records reads it
            self.records = list(self._held.values())
        # report in plan order (the suite file's order), whatever order calls finished in
        order = self.plan_order()
        self.records.sort(key=lambda r: order.get(r.key, len(order)))
        return RunResult(run_id, started, now_iso(), self.records, self.summary)

    def close(self) -> None:
        for provider in self._providers.values():
            try:
                provider.close()
            except BaseException as exc:  # a plugin's close() must not end the run
                if contain.escapes(exc):
                    raise
        if self._score_pool is not None:
            self._score_pool.shutdown(wait=False, cancel_futures=True)
        if self.cache is not None:
            self.cache.close()
        # deferred: the pool's module, only to stop the workers of python checks
        from ..assertions import pool

        pool.shutdown()  # no python check's worker outlives the run

    def _width(self, alias: str) -> int:
        if not alias:
            return 1
        limit = self.provider(alias).max_concurrency
        return max(1, min(limit, self.options.concurrency or limit))

    def _run_lanes(self, groups: dict[str, list[Call]]) -> None:
        """One lane per model (engine.py): the local model stays serial in its own
        thread while a hosted model's calls are coroutines on the event loop."""
        from .engine import Engine  # asyncio and threads: only for more than one lane

        engine = Engine()
        for alias, group in groups.items():
            if self.provider(alias).is_async:
                engine.add_async(group, self._width(alias), self.aexecute)
            else:
                engine.add_threads(group, self._width(alias), self.execute)
        writer = self.writer
        try:
            engine.wait(lambda record: self._finish(record, flush=False),
                        writer.flush if writer is not None else None)
        except BaseException:
            for provider in self._providers.values():
                provider.close()  # ends retry waits at once (Ctrl-C)
            engine.abort()
            raise

    def execute(self, call: Call) -> CallRecord:
        """Make one call (or find it in the cache) and score it; a conversation's
        case is played turn by turn (run/turns.py)."""
        provider = self.provider(call.model)
        if call.is_conversation:
            return self._converse(call, provider)
        params = self._params(call)
        record, key, completion = self._begin(call, provider, params)
        if completion is None:
            completion = self._ask(record, call.model, provider, record.messages, params)
            if completion is None:
                return record
        return self._end(call, record, key, completion)

    async def aexecute(self, call: Call) -> CallRecord:
        """execute() for an asynchronous provider, on the engine loop. Checks that may
        block (a judge, an embedding, user code) are scored in a worker thread."""
        provider = self.provider(call.model)
        if call.is_conversation:
            return await self._aconverse(call, provider)
        params = self._params(call)
        record, key, completion = self._begin(call, provider, params)
        if completion is None:
            completion = await self._aask(record, call.model, provider, record.messages,
                                          params)
            if completion is None:
                return record
        return await self._ascore(call, record, key, completion)

    async def _ascore(self, call: Call, record: CallRecord, key: str,
                      completion: Completion, *, cache: bool = True) -> CallRecord:
        if assertions.runs_inline(call.case.asserts):
            return self._end(call, record, key, completion, cache=cache)
        if self._score_pool is None:
            from concurrent.futures import ThreadPoolExecutor  # see _run_lanes

            self._score_pool = ThreadPoolExecutor(self._width(call.model),
                                                  thread_name_prefix="pc-score")
        import asyncio  # loaded already: this runs on the engine's loop

        return await asyncio.get_running_loop().run_in_executor(
            self._score_pool, functools.partial(self._end, cache=cache), call, record, key,
            completion)

    def _params(self, call: Call) -> dict[str, Any]:
        return call_params(self.project, call)

    def _ask(self, record: CallRecord, alias: str, provider: Provider,
             messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion | None:
        """One request to the provider within the spend limits; None when it failed
        or the budget left it out (the record then says why)."""
        ledger = self.budget  # the spend limits (budget.py): reserve, then settle
        ticket = None if ledger is None else ledger.reserve(
            estimate(provider, messages, params))
        if ledger is not None and ticket is None:
            not_run(record)
            return None
        start = now()
        completion = None
        try:
            completion = provider.complete(messages, params)
        except InfraError as exc:
            _failed(record, exc)
        except BaseException as exc:  # a plugin's code: SystemExit too is an error
            if contain.escapes(exc):
                raise
            _failed(record, _provider_broke(alias, exc))
        finally:  # answered or not: its time, and its spend settled
            self._called(record, start, completion, ticket)
        return completion

    async def _aask(self, record: CallRecord, alias: str, provider: Provider,
                    messages: list[dict[str, Any]], params: dict[str, Any]
                    ) -> Completion | None:
        """_ask() for an asynchronous provider, on the engine loop."""
        ledger = self.budget
        ticket = None if ledger is None else await ledger.areserve(
            estimate(provider, messages, params))
        if ledger is not None and ticket is None:
            not_run(record)
            return None
        start = now()
        completion = None
        try:
            completion = await provider.acomplete(messages, params)
        except InfraError as exc:
            _failed(record, exc)
        except BaseException as exc:  # a plugin's code: SystemExit too is an error
            if contain.escapes(exc, on_loop=True):
                raise
            _failed(record, _provider_broke(alias, exc))
        finally:  # answered or not: its time, and its spend settled
            self._called(record, start, completion, ticket)
        return completion

    # ------------------------------------------------------------ conversations

    def _converse(self, call: Call, provider: Provider) -> CallRecord:
        record, conversation = self._opening(call, provider)
        steps = conversation.play()
        request = next(steps)
        while True:
            completion, key = self._cached_step(record, provider, request)
            conversation.reused = completion is not None
            if completion is None:
                completion = self._ask(record, call.model, provider, *request)
                if completion is None:
                    return self._broken(record, conversation)
                self._store_step(record, key, completion)
            try:
                request = steps.send(completion)
            except StopIteration:
                break
        return self._end(call, *self._spoken(record, conversation), cache=False)

    async def _aconverse(self, call: Call, provider: Provider) -> CallRecord:
        record, conversation = self._opening(call, provider)
        steps = conversation.play()
        request = next(steps)
        while True:
            completion, key = self._cached_step(record, provider, request)
            conversation.reused = completion is not None
            if completion is None:
                completion = await self._aask(record, call.model, provider, *request)
                if completion is None:
                    return self._broken(record, conversation)
                self._store_step(record, key, completion)
            try:
                request = steps.send(completion)
            except StopIteration:
                break
        return await self._ascore(call, *self._spoken(record, conversation), cache=False)

    def _opening(self, call: Call, provider: Provider) -> tuple[CallRecord, Conversation]:
        start = now()
        params = self._params(call)
        record = new_record(call, provider.identity(), params)
        self.timing.since("render", start)
        record.cached = True  # until a turn is asked of the model
        return record, Conversation(self.project, call, params, record.messages)

    def _cached_step(self, record: CallRecord, provider: Provider,
                     request: tuple[list[dict[str, Any]], dict[str, Any]]
                     ) -> tuple[Completion | None, str]:
        """A request's answer from an earlier run: this run's own step log (a resumed
        conversation), else the cache; keyed by everything before it."""
        key = cache_key(provider.identity(), request[0], request[1], record.repeat)
        found = self.steps.get(key) if self.steps else None
        if found is None and self.cache is not None:
            start = now()
            found = self.cache.get(key)
            self._called(record, start, None)
        if found is None:
            record.cached = False
        return found, key

    def _store_step(self, record: CallRecord, key: str, completion: Completion) -> None:
        if self.cache is not None:
            self.cache.put(key, record.fingerprint["model"], completion)
        if self.writer is not None:
            self.writer.write_step(record.key, key, completion)

    def _broken(self, record: CallRecord, conversation: Conversation) -> CallRecord:
        """A conversation whose request failed: an error, with the turns it had."""
        record.messages = conversation.messages
        record.turns = [t.to_dict() for t in conversation.turns]
        record.cached = False
        return record

    def _spoken(self, record: CallRecord, conversation: Conversation
                ) -> tuple[CallRecord, str, Completion]:
        record.messages = conversation.messages
        record.turns = [t.to_dict() for t in conversation.turns]
        return record, "", conversation.total()

    def given(self, call: Call, identity: dict[str, Any], completion: Completion | None,
              error: str | None = None) -> None:
        """A call another tool made (an imported result): recorded and scored as if
        this runner had made it on the model of that `identity`, then reported and
        written like any other. No completion: the call's error."""
        if completion is None:
            record = new_record(call, identity)
            record.error = error or "no output"
        else:
            record = self.score(call, identity, completion)
        self._finish(record)

    def score(self, call: Call, identity: dict[str, Any], completion: Completion
              ) -> CallRecord:
        """A completion another tool got for `call`, recorded and scored as if this
        runner had made it on the model of that `identity` (its checks, judges and
        cache), but neither counted, kept nor written: the caller does that (given();
        a production log's lines, run/logscore.py)."""
        return self._end(call, new_record(call, identity), "", completion, cache=False)

    def _begin(self, call: Call, provider: Provider, params: dict[str, Any] | None = None
               ) -> tuple[CallRecord, str, Completion | None]:
        """The call's record (no result yet), its cache key and a cached completion;
        `params`: the call's request params when the caller has them already."""
        identity = provider.identity()
        start = now()
        if params is None:
            params = self._params(call)
        record = new_record(call, identity, params)
        start = self.timing.since("render", start)
        if self.cache is None:
            return record, "", None
        messages = record.messages
        key = cache_key(identity, messages, params, call.repeat)
        completion = self.cache.get(key)
        record.cached = completion is not None
        self._called(record, start, None)  # a cached call's model time: its lookup
        return record, key, completion

    def _end(self, call: Call, record: CallRecord, key: str,
             completion: Completion, *, cache: bool = True) -> CallRecord:
        """Cache a fresh completion, then score it. What the endpoint says it ran (a
        hosted model's `served` model and system_fingerprint) joins the fingerprint."""
        if not record.cached:
            record.retries = completion.retries
            if self.cache is not None and cache:
                self.cache.put(key, record.fingerprint["model"], completion)
        record.output = completion.text
        if completion.tool_calls and record.turns is None:  # promptctl's ids (turns.py)
            completion.tool_calls = number_calls(completion.tool_calls)
            record.tool_calls = [c.to_dict() for c in completion.tool_calls]
        record.latency_ms = round(completion.latency_ms, 1)
        record.tokens = {"prompt": completion.prompt_tokens,
                         "completion": completion.completion_tokens}
        record.cost = completion.cost
        if completion.served_model:  # a cached answer: the values of the call that made it
            record.fingerprint["served"] = {"model": completion.served_model,
                                            "system_fingerprint": completion.system_fingerprint}
        start = now()
        score_call(record, call, completion, self.project, self.services)
        self.timing.since("scoring", start)
        return record


def new_record(call: Call, identity: dict[str, Any],
               request: dict[str, Any] | None = None) -> CallRecord:
    """A call's record before its result: what was asked, of which model."""
    messages = call.messages  # rendered once per call, here
    record = CallRecord(
        suite=call.suite.name, case=call.case.id, prompt=call.prompt.id, model=call.model,
        repeat=call.repeat, messages=messages, params=call.params,
        metadata=call.case.metadata, tags=call.case.tags,
        fingerprint={"prompt_sha256": prompt_digest(messages), "model": identity,
                     "params": call.params},
    )
    if request is not None and "tools" in request:  # what the model was offered
        record.fingerprint["tools_sha256"] = digest(
            {"tools": request["tools"], "tool_choice": request.get("tool_choice")})
    return record


def _provider_broke(alias: str, exc: BaseException) -> InfraError:
    """A provider raised something other than a ProviderError: the call's error."""
    return InfraError(f"the provider of model '{alias}' {contain.describe(exc)}")


def _failed(record: CallRecord, exc: InfraError) -> CallRecord:
    """A call that failed for good: an error with its cause, never a failed case."""
    record.error = exc.message
    record.retries = getattr(exc, "retries", 0)
    return record


def run_suites(project: Project, suites: Sequence[Suite], options: RunOptions, *,
               on_plan: Callable[[int], None] | None = None,
               on_record: Callable[[CallRecord], None] | None = None,
               record_run: bool = True, more: MorePolicy = until_a_pass,
               resume: Resume | None = None, meta: dict[str, Any] | None = None
               ) -> RunResult:
    """The public entry point used by the CLI, the pytest plugin and the tests.

    With options.auto_repeat, every cell gets one sample, then rounds of one more
    sample for each cell that `more` says is still uncertain, up to options.max_repeat.

    With `resume`, the run continues in its own directory: the plan is made again (the
    same suites and options, see resume.py), calls that already have a record are not
    made again, the adaptive rounds are replayed from the records, and the result is
    the one an uninterrupted run would have given. `meta` adds keys to meta.json.
    """
    contain.watch_sigint()  # a Ctrl-C stops the run; user code raising one does not
    if options.timing is None:  # not timed by a command: the run's clock starts here
        options = dataclasses.replace(options, timing=Timing())
    timing: Timing = options.timing
    start = now()
    with young_collections():
        calls = _plan_calls(project, suites, options)
    timing.since("render", start)
    tracer = tracing.start(project, options, timing)  # before any call or run folder
    if tracer is not None and not any(adaptive(s, options) for s in suites):
        tracer.expect(collections.Counter(c.cell for c in calls))
    if on_plan is not None:
        on_plan(len(calls))
    done: dict[RecordKey, CallRecord] = {}
    writer: RunWriter | None = None
    if resume is not None:
        writer, started, done = _reopen(resume, calls, options,
                                        budget=limits_of(project, options).to_dict())
    else:
        started = now_iso()
    runner = Runner(project, options, on_record=on_record, writer=writer)
    if resume is not None:
        runner.steps = read_steps(resume.run_dir)  # a conversation's finished turns
    runner.budget = runner.services.budget = ledger_for(project, options)
    runner.tracer = tracer
    if resume is None and record_run:
        try:
            writer = _start_folder(runner, project, suites, calls, options, started, meta)
        except BaseException:
            if tracer is not None:
                tracer.close({}, None)
            raise
    replay = Replay(done)
    try:
        with _frozen_heap():
            _rounds(runner, replay, calls, options, more, on_plan)
    except BaseException:
        if writer is not None:
            writer.close()
        if tracer is not None:
            tracer.close({}, None)  # the spans of the calls made, ended now
        raise
    finally:
        runner.close()
    result = runner.result(started)
    result.budget = runner.budget
    timing.end()
    result.timing = timing
    if writer is not None:
        writer.finish({"run_id": writer.run_id, "started": result.started,
                       "finished": result.finished, "summary": result.summary.to_dict(),
                       "timing": timing.to_dict()})
    if tracer is not None:
        note = tracer.close(result.summary.cells, result.run_id)
        if note:
            result.notes.append(note)
    return result


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """While the calls run, the cyclic garbage collector leaves alone what exists when
    they start (the suites, their cases, the plan: alive until the run ends anyway).
    Its full collections walked all of it again and again as the run's summary grew:
    about a tenth of a 100,000-call run. Left as it is if someone else froze the heap."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _plan_calls(project: Project, suites: Sequence[Suite], options: RunOptions
                ) -> list[Call]:
    """The plan; none at all is an error, unless only this shard of it is empty."""
    calls = plan(project, suites, options)
    if not calls and not (options.shard and plan(project, suites,
                                                 dataclasses.replace(options, shard=None))):
        raise UserError(f"no case matches {filters.describe(options.filter)}"
                        if options.filter else "the suites have no cases",
                        hint=filters.no_match_hint(options.filter) if options.filter
                        else "check the case ids")
    return calls


def _reopen(resume: Resume, calls: Sequence[Call], options: RunOptions, *,
            budget: dict[str, Any] | None = None
            ) -> tuple[RunWriter, str, dict[RecordKey, CallRecord]]:
    """Reopen a run to resume it: its writer, when it started, and the records it keeps
    (all but the errors, with retry_errors), checked to be this plan's. Its meta.json
    notes the resume; its summary.json goes, since the run is unfinished again."""
    writer = RunWriter.reopen(resume.run_dir)  # locks it, cuts a torn last line
    try:
        saved = read_meta(resume.run_dir)
        started = str(saved.get("started") or now_iso())
        done = dedupe(read_records(resume.run_dir))
        if resume.retry_errors:
            done = {k: r for k, r in done.items() if r.error is None}
        done = {k: r for k, r in done.items() if not is_not_run(r)}  # budget: not done
        planned = saved.get("calls")
        if isinstance(planned, int) and planned != len(calls) \
                and "merged_from" not in saved:
            raise UserError(f"the suites plan {len(calls)} calls now, {planned} when "
                            f"run '{resume.run_dir.name}' started",
                            hint="the suites changed since the run started: start a "
                                 "new run")
        check_resumable(calls, done, options)
        # running again: until it ends, the run is unfinished (merge refuses it)
        (resume.run_dir / "summary.json").unlink(missing_ok=True)
        saved.setdefault("resumed", []).append(
            {"at": now_iso(), "kept": len(done), "retry_errors": resume.retry_errors,
             **({"budget": budget} if budget else {})})
        write_meta(resume.run_dir, saved)
    except BaseException:
        writer.close()
        raise
    return writer, started, done


def _start_folder(runner: Runner, project: Project, suites: Sequence[Suite],
                  calls: Sequence[Call], options: RunOptions, started: str,
                  meta: dict[str, Any] | None) -> RunWriter:
    """A fresh run's folder, made once its models are located (a configuration error
    leaves none behind), with its meta.json; the runner streams its records there."""
    try:
        runner.locate(calls)
    except BaseException:
        runner.close()
        raise
    start = now()
    writer = RunWriter(runs_dir(project))
    runner.attach(writer)
    if runner.budget is not None:  # the limits it starts with
        meta = {**(meta or {}), "budget": runner.budget.limits.to_dict()}
    write_meta(writer.dir, new_meta(writer.run_id, started, suites, len(calls), options,
                                    meta))
    runner.timing.since("writing", start)
    return writer


def _rounds(runner: Runner, replay: Replay, calls: Sequence[Call], options: RunOptions,
            more: MorePolicy, on_plan: Callable[[int], None] | None) -> None:
    """Every call once, then the adaptive rounds of the cells that sample until sure;
    a resumed run's records come back round by round, those no round asked for last."""
    runner.replay_round(replay, calls)
    auto = [c for c in calls if adaptive(c.suite, options)]
    if auto:
        _sample_adaptively(runner, auto, len(calls), options, more, on_plan, replay)
    runner.keep(replay.leftovers())


def _sample_adaptively(runner: Runner, firsts: Sequence[Call], total: int,
                       options: RunOptions, more: MorePolicy,
                       on_plan: Callable[[int], None] | None,
                       replay: Replay) -> None:
    for i in range(1, options.max_repeat):
        outcomes = runner.summary.outcomes
        batch = []
        for call in firsts:
            key = call.cell
            seen = outcomes.get(key)
            if seen is None or runner.summary.cells.get(key) == "error":
                continue  # an errored cell has no verdict to refine
            if more(key, [x == 1.0 for x in seen]):
                batch.append(repeat_call(call, i, options.seed_offset))
        if not batch:
            return
        total += len(batch)
        if on_plan is not None:
            on_plan(total)
        runner.replay_round(replay, batch)
