"""Batch mode: an openai model's uncached calls sent through the OpenAI Batch API
(`--batch`, or `batch: true` on the model entry), and collected back into the same
scoring, cache and records as online calls.

The runner hands every round's calls here first (`take`); what this module does not
take runs online as before. A call is taken when its model is an openai model in batch
mode, or when the run folder's batches.json lists it in a batch not yet collected:
such a call is COLLECTED from that batch, whatever the flags, and never submitted again
(a resume never pays twice). Cached calls are served from the cache as online.

The invariants:
- batches.json (its shape is artifacts.BatchesFile) is written atomically before
  batches.create (the entry with its input file and calls, `id: null`) and again at
  once with the batch's id: a run killed in between finds its batch by input file
  (BatchClient.find) instead of creating a second one.
- A call's custom_id is a digest of its record key: the same call has the same id in
  every process, so a resumed run knows which of its calls a listed batch carries.
- A batch is `collected` once every call of it has a record (written before the mark):
  under `--retry-errors` its errored calls are then sent again (online, or in a new
  batch with --batch), never read from the batch that failed them.
- A failed line (error file, a status other than 200, or a call missing from a batch
  that ended expired, failed or cancelled) is the call's recorded error, never a
  failed case. A protocol failure (the Files or Batches API down after retries) ends
  the run with an InfraError: the batches stay listed, `run --resume` collects them.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InfraError, UserError
from ..results import CallRecord, Completion, digest
from .budget import Ticket, estimate, not_run
from .store import now_iso, write_json_atomic
from .timing import now as _now

if TYPE_CHECKING:
    from ..load.project import Project
    from ..providers import Provider
    from ..providers.openai import OpenAIProvider
    from ..providers.openai_batch import BatchClient
    from .budget import Ledger as Budget
    from .options import RunOptions
    from .plan import Call
    from .store import RunWriter
    from .timing import Timing

LEDGER = "batches.json"
VERSION = 1


class Host(Protocol):
    """What this module uses of the runner (run/runner.Runner)."""

    options: RunOptions
    writer: RunWriter | None
    budget: Budget | None
    timing: Timing

    def provider(self, alias: str) -> Provider: ...

    def batched(self, record: CallRecord, start: int) -> None: ...

    def _params(self, call: Call) -> dict[str, Any]: ...

    def _begin(self, call: Call, provider: Provider
               ) -> tuple[CallRecord, str, Completion | None]: ...

    def _end(self, call: Call, record: CallRecord, key: str, completion: Completion, *,
             cache: bool = True) -> CallRecord: ...

    def _finish(self, record: CallRecord, *, flush: bool = True) -> None: ...


# -- what the terminal is told ----------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A batch's news: `kind` is "submitted", "status" (a new state), "counts" (more
    lines done) or "collected" (its calls recorded)."""

    kind: str
    batch_id: str
    model: str
    status: str
    total: int
    completed: int
    failed: int


_listeners: list[Callable[[Event], None]] = []


@contextlib.contextmanager
def watching(listener: Callable[[Event], None]) -> Iterator[None]:
    """Tell `listener` every batch event while the block runs (cli/output.progress)."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _tell(kind: str, entry: dict[str, Any]) -> None:
    counts = entry.get("request_counts") or {}
    event = Event(kind, str(entry.get("id")), entry["model"], entry["status"],
                  int(counts.get("total") or 0), int(counts.get("completed") or 0),
                  int(counts.get("failed") or 0))
    for listener in list(_listeners):
        listener(event)


# -- batches.json -----------------------------------------------------------------------


def custom_id(call: Call) -> str:
    """The call's id in a batch: the same in every process that plans it."""
    return "pc-" + digest(list(call.key))[:40]


def read_ledger(run_dir: Path) -> list[dict[str, Any]]:
    """The batches of a run folder, as batches.json lists them (none: an empty list)."""
    path = run_dir / LEDGER
    if not path.is_file():
        return []
    from ..artifacts import BatchesFile, load_json  # its pydantic shapes, for reading
    from ..boundary import display_path

    _, data = load_json(path, BatchesFile, display_path(path), "batch list",
                        "restore the file, or delete it to submit the calls again")
    return list(data["batches"])


class Ledger:
    """batches.json of one run (in memory only for a run without a folder)."""

    def __init__(self, run_dir: Path | None) -> None:
        self.path = run_dir / LEDGER if run_dir is not None else None
        self.entries = read_ledger(run_dir) if run_dir is not None else []

    def save(self) -> None:
        if self.path is not None:
            write_json_atomic(self.path, {"version": VERSION, "batches": self.entries})

    def open_ids(self, alias: str) -> set[str]:
        """The calls of this model in a batch not yet collected."""
        return {cid for e in self.entries if e["model"] == alias and not e["collected"]
                for cid in e["custom_ids"]}


# -- the runner's hook ------------------------------------------------------------------


def take(host: Host, calls: Sequence[Call]) -> list[Call]:
    """Run the calls that go through batches (see the module's docstring); return the
    others, in order, for the online path."""
    if not calls:
        return []
    ledger: Ledger | None = None
    rest: list[Call] = []
    mine: list[Call] = []
    decided: dict[str, tuple[bool, set[str]]] = {}  # alias -> (batching, open ids)
    for call in calls:
        if call.is_conversation:  # each turn waits for the last: online only
            rest.append(call)
            continue
        if call.model not in decided:
            provider = host.provider(call.model)
            if not _is_openai(provider):
                decided[call.model] = (False, set())
            else:
                if ledger is None:
                    ledger = Ledger(host.writer.dir if host.writer is not None else None)
                decided[call.model] = (_batching(host.options, provider),
                                       ledger.open_ids(call.model))
        batching, open_ids = decided[call.model]
        if batching or (open_ids and custom_id(call) in open_ids):
            mine.append(call)
        else:
            rest.append(call)
    if mine:
        assert ledger is not None
        _Session(host, ledger).run(mine)
    return rest


def _is_openai(provider: Provider) -> bool:
    """An openai provider? A run whose models are all local or echo never loaded the
    openai provider's module, and need not load it (~11 ms) to be told no."""
    module = sys.modules.get("promptctl.providers.openai")
    return module is not None and isinstance(provider, module.OpenAIProvider)


def _batching(options: RunOptions, provider: Provider) -> bool:
    """Is this openai model in batch mode? (`batch: true` on another provider is
    refused by the schema: schema.ModelEntry.)"""
    return options.batch or bool(getattr(provider.entry, "batch", False))


@dataclass
class _Pending:
    call: Call
    record: CallRecord
    key: str  # its cache key
    ticket: Ticket | None = None  # its reservation in the run's spend limits (budget.py)


class _Session:
    """One round's batch calls: submitted, polled and collected."""

    def __init__(self, host: Host, ledger: Ledger) -> None:
        self.host = host
        self.ledger = ledger
        self.pending: dict[str, _Pending] = {}
        self.clients: dict[str, BatchClient] = {}
        self.started = 0  # when the round's batch work began (perf_counter_ns)

    def client(self, alias: str) -> BatchClient:
        from ..providers.openai_batch import BatchClient  # deferred: only a run that batches

        if alias not in self.clients:
            provider: Any = self.host.provider(alias)
            self.clients[alias] = BatchClient(provider)
        return self.clients[alias]

    def run(self, calls: Sequence[Call]) -> None:
        host = self.host
        for call in calls:
            provider = host.provider(call.model)
            record, key, completion = host._begin(call, provider)
            if completion is not None:  # cached: served as online
                host._finish(host._end(call, record, key, completion))
            else:
                self.pending[custom_id(call)] = _Pending(call, record, key)
        if not self.pending:
            return
        self.started = _now()
        try:
            self._run_pending()
        finally:  # the round's wait on its batches: once, not summed per call
            host.timing.add("batch", _now() - self.started)

    def _run_pending(self) -> None:
        listed = self._listed()
        fresh: dict[str, list[str]] = {}
        for cid, p in self.pending.items():
            if cid not in listed:
                fresh.setdefault(p.call.model, []).append(cid)
        for alias, ids in fresh.items():
            self._submit(alias, ids)
        self._poll()

    def _listed(self) -> set[str]:
        """The pending calls in a listed batch not yet collected: a resumed run's. A
        batch whose creation was not written down is looked up by its input file."""
        listed: set[str] = set()
        for entry in self.ledger.entries:
            if entry["collected"] or not self.pending.keys() & set(entry["custom_ids"]):
                continue
            if entry["id"] is None:
                found = self._aio(self.client(entry["model"]).find(entry["input_file_id"]))
                if found is None:  # never created: create it now, from the same file
                    found = self._aio(self.client(entry["model"]).create(
                        entry["input_file_id"]))
                _update(entry, found)
                self.ledger.save()
            listed.update(entry["custom_ids"])
        return listed

    def _submit(self, alias: str, ids: list[str]) -> None:
        """The calls of one model, in as many input files as the limits ask."""
        from ..providers.openai_batch import request_line, split  # deferred: as client()

        provider: OpenAIProvider = self.host.provider(alias)  # type: ignore[assignment]
        limits = provider.entry.batch_limits
        lines = []
        for cid in ids:
            p = self.pending[cid]
            if not self._reserve(provider, p):
                continue  # over the spend limits: recorded as not run, as online
            lines.append((cid, request_line(cid, provider.body(p.record.messages,
                                                               self.host._params(p.call)))))
        files, too_big = split(lines, limits.max_requests, limits.max_bytes)
        for cid in too_big:
            self._error(cid, f"the request is over the batch input file limit of "
                             f"{limits.max_bytes} bytes")
        client = self.client(alias)
        for n, chunk in enumerate(files):
            data = b"".join(line for _, line in chunk)
            file_id = self._aio(client.upload(data, f"promptctl-{alias}-{n + 1}.jsonl"))
            entry: dict[str, Any] = {
                "id": None, "model": alias, "input_file_id": file_id,
                "custom_ids": [cid for cid, _ in chunk], "status": "uploaded",
                "request_counts": {"total": len(chunk), "completed": 0, "failed": 0},
                "created": now_iso(), "finished": None, "collected": False,
                "output_file_id": None, "error_file_id": None}
            self.ledger.entries.append(entry)
            self.ledger.save()  # before the batch exists: a kill now is found by its file
            _update(entry, self._aio(client.create(file_id)))
            self.ledger.save()
            _tell("submitted", entry)

    def _poll(self) -> None:
        """Until every batch with a pending call has ended, with backoff; then each is
        collected."""
        active = [e for e in self.ledger.entries if not e["collected"]
                  and self.pending.keys() & set(e["custom_ids"])]
        delays = {e["model"]: self.host.provider(e["model"]).entry.batch_limits
                  for e in active}
        wait = min((lim.poll_seconds for lim in delays.values()), default=1.0)
        most = max((lim.poll_max_seconds for lim in delays.values()), default=60.0)
        from ..providers.openai_batch import TERMINAL  # deferred: as client()

        while active:
            changed = False
            for entry in list(active):
                before = (entry["status"], dict(entry["request_counts"]))
                _update(entry, self._aio(self.client(entry["model"]).retrieve(entry["id"])))
                if entry["status"] != before[0]:
                    changed = True
                    _tell("status", entry)
                elif entry["request_counts"] != before[1]:
                    changed = True
                    _tell("counts", entry)
                if entry["status"] in TERMINAL:
                    self._collect(entry)
                    active.remove(entry)
            if changed:
                self.ledger.save()
            if active:
                time.sleep(wait)
                wait = min(wait * 1.5, most)

    def _collect(self, entry: dict[str, Any]) -> None:
        """An ended batch's lines into records: each call's reply scored, cached and
        written as an online one, or its error."""
        from ..providers.openai_batch import parse_results  # deferred: as client()

        client = self.client(entry["model"])
        results = {}
        for key in ("error_file_id", "output_file_id"):  # an output line wins
            if entry.get(key):
                results.update(parse_results(self._aio(client.content(entry[key]))))
        provider: OpenAIProvider = self.host.provider(entry["model"])  # type: ignore[assignment]
        missing = _missing_reason(entry)
        for cid in entry["custom_ids"]:
            p = self.pending.pop(cid, None)
            if p is None:
                continue  # recorded already (a resumed run's kept record), or not asked
            line = results.get(cid)
            if line is None or line.body is None:
                self._finish_error(p, line.error if line is not None else missing)
                continue
            try:
                completion = provider.reply_completion(line.body, 0.0, 0, batch=True)
            except (LookupError, TypeError, ValueError, AttributeError):
                self._finish_error(p, f"batch line failed: the body is no completion: "
                                      f"{str(line.body)[:120]!r}")
                continue
            record = self.host._end(p.call, p.record, p.key, completion)
            self._settle(p, completion)
            self.host.batched(record, self.started)  # its span: submitted to collected
            self.host._finish(record)
        if self.host.writer is not None:
            self.host.writer.flush()
        entry["collected"] = True
        entry["finished"] = entry.get("finished") or now_iso()
        self.ledger.save()
        _tell("collected", entry)

    def _reserve(self, provider: OpenAIProvider, p: _Pending) -> bool:
        """A line's reservation at the batch price, before it is uploaded. A batch
        reserves all its lines before any settles, so one that does not fit stops the
        budget (wait=False) and is recorded as not run; the run's later calls are too."""
        budget = self.host.budget
        if budget is None:
            return True
        p.ticket = budget.reserve(estimate(provider, p.record.messages, self.host._params(p.call),
                                           batch=True), wait=False)
        if p.ticket is None:
            del self.pending[custom_id(p.call)]
            self.host._finish(not_run(p.record))
            return False
        return True

    def _settle(self, p: _Pending, completion: Completion | None) -> None:
        """A collected line's real usage into the spend limits: its reservation settled,
        or, for a line a resumed run collects from an earlier process's batch, its
        spend added as the records kept from that process are."""
        budget = self.host.budget
        if budget is None:
            return
        if p.ticket is not None:
            budget.settle_completion(p.ticket, completion)
        elif completion is not None:
            budget.spent_before([p.record])

    def _error(self, cid: str, message: str) -> None:
        p = self.pending.pop(cid)
        self._finish_error(p, message)

    def _finish_error(self, p: _Pending, message: str | None) -> None:
        p.record.error = message or "batch line failed"
        self._settle(p, None)
        self.host.batched(p.record, self.started)
        self.host._finish(p.record)

    def _aio(self, coro: Any) -> Any:
        """A protocol call on the engine loop; after its retries, the run's end."""
        from .. import aio  # the engine loop: loaded already by the openai provider
        from ..providers import ProviderError

        try:
            return aio.run(coro)
        except ProviderError as exc:
            raise InfraError(f"the batch API failed: {exc.message}",
                             hint="the submitted batches are listed in the run's "
                                  "batches.json: `promptctl run --resume` collects them"
                             ) from None


def _update(entry: dict[str, Any], batch: dict[str, Any]) -> None:
    """A ledger entry from a batch object the API returned."""
    entry["id"] = batch["id"]
    entry["status"] = str(batch.get("status") or entry["status"])
    counts = batch.get("request_counts") or {}
    if isinstance(counts, dict) and counts.get("total"):
        entry["request_counts"] = {k: int(counts.get(k) or 0)
                                   for k in ("total", "completed", "failed")}
    for key in ("output_file_id", "error_file_id"):
        if batch.get(key):
            entry[key] = batch[key]
    for key in ("completed_at", "failed_at", "expired_at", "cancelled_at"):
        if batch.get(key) and not entry.get("finished"):
            entry["finished"] = _iso(batch[key])
    if batch.get("errors") and isinstance(batch["errors"], dict):
        data = batch["errors"].get("data") or []
        if data and isinstance(data[0], dict):
            entry["error"] = str(data[0].get("message") or "")[:300]


def _iso(stamp: Any) -> str:
    from datetime import datetime, timezone

    try:
        return datetime.fromtimestamp(float(stamp), timezone.utc).isoformat(
            timespec="seconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return now_iso()


def _missing_reason(entry: dict[str, Any]) -> str:
    """A call the ended batch has no line for."""
    status = entry["status"]
    why = f": {entry['error']}" if entry.get("error") else ""
    return f"batch {entry['id']} ended {status} without this call's result{why}"


# -- `promptctl batches` ----------------------------------------------------------------


def run_batches(project: Project, run: str | None = None, *, cancel: bool = False
                ) -> tuple[str, list[dict[str, Any]]]:
    """A saved run's batches (default: the latest run's): those not yet collected with
    their status asked of the API again (batches.json is not written: the run may be
    going); with `cancel`, each unfinished one is cancelled first. A run without
    batches is a UserError."""
    from ..providers.openai_batch import TERMINAL, BatchClient  # deferred: the SDK's
    from .store import resolve_run, runs_dir

    run_dir = resolve_run(runs_dir(project), run)
    entries = read_ledger(run_dir)
    if not entries:
        raise UserError(f"run {run_dir.name} has no batches",
                        hint="batches are made by --batch, or batch: true on an openai "
                             "model")
    clients: dict[str, BatchClient] = {}
    from .. import aio

    for entry in entries:
        if entry["collected"] or entry["id"] is None:
            continue
        if entry["model"] not in clients:
            provider: Any = project.provider(entry["model"])
            clients[entry["model"]] = BatchClient(provider)
        client = clients[entry["model"]]
        try:
            if cancel and entry["status"] not in TERMINAL:
                _update(entry, aio.run(client.cancel(entry["id"])))
            else:
                _update(entry, aio.run(client.retrieve(entry["id"])))
        except InfraError as exc:
            raise InfraError(f"batch {entry['id']}: {exc.message}") from None
    for client in clients.values():
        client.provider.close()
    return run_dir.name, entries
