"""A run's spans over OTLP/HTTP, with the OpenTelemetry SDK (the `otel` extra).

On when `--trace` (or `--trace-contents`) is given, when promptctl.yaml has `tracing:`,
or when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set; off, nothing of
opentelemetry is imported. Where to: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else
OTEL_EXPORTER_OTLP_ENDPOINT or `tracing.endpoint` plus /v1/traces, else
http://localhost:4318/v1/traces.

The tree: a span for the run, one per suite, one per cell (suite, case, prompt, model),
one per model call ("chat {model}", the GenAI semantic conventions' attributes) with a
`gen_ai.evaluation.result` event per assertion. Every span is made in the runner's
finishing thread, after its call, from the call's own perf_counter marks (run/timing.py):
the calls' hot path does no OTel work. A call's span is made when its record comes back
and goes out at once (BatchSpanProcessor). A parent's span is made once its first start
and last end are known, under the span id reserved when its first call came back (the
ids generator hands it out), so every parent covers exactly its children: a cell's as
its last call comes back when the plan says how many it has (no adaptive rounds), else
at the end of the run, as the suites' and the run's.

Invariants: prompt and output contents (and the assertions' explanations, which quote
outputs) go out only with `contents` on; never an API key, a header or the userinfo or
query of a base_url (endpoints are named by redact.redact_url). A collector that is down
or slow costs at most EXPORT_TIMEOUT once: the first failed export stops the others, and
the run ends with one warning line, never an error.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..redact import redact_url
from . import otel_sdk
from .summary import cell_status

if TYPE_CHECKING:
    from ..load.project import Project
    from ..results import CallRecord
    from .options import RunOptions
    from .timing import Timing

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
DEFAULT_ENDPOINT = "http://localhost:4318"
EXPORT_TIMEOUT = 2.0  # seconds an export may take (and the end of the run wait for it)
REQUEST_PARAMS = ("temperature", "max_tokens", "top_p", "seed")


@dataclass(frozen=True)
class Settings:
    endpoint: str  # the full URL spans are posted to
    contents: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


def settings(project: Project, options: RunOptions) -> Settings | None:
    """Whether this run is traced, and where to; None: tracing is off."""
    config = getattr(project.config, "tracing", None)
    contents = options.trace_contents if options.trace_contents is not None \
        else bool(config is not None and config.contents)
    traces_url = os.environ.get(ENDPOINT_VARS[0], "").strip()
    base_url = os.environ.get(ENDPOINT_VARS[1], "").strip()
    if options.trace is False:
        return None
    if not (options.trace or options.trace_contents or config is not None or traces_url
            or base_url):
        return None
    if traces_url:
        endpoint = traces_url
    else:
        base = base_url or (config.endpoint if config is not None and config.endpoint
                            else DEFAULT_ENDPOINT)
        base = base.rstrip("/")
        endpoint = base if base.endswith("/v1/traces") else base + "/v1/traces"
    headers = dict(config.headers) if config is not None and config.headers else {}
    return Settings(endpoint, contents, headers)


def start(project: Project, options: RunOptions, timing: Timing) -> Tracer | None:
    """The run's tracer, or None when tracing is off. Missing SDK: a UserError."""
    chosen = settings(project, options)
    if chosen is None:
        return None
    otel_sdk.check()
    return Tracer(chosen, timing)


class _Parent:
    """A run, suite or cell span, made at the end under the id reserved now."""

    __slots__ = ("attributes", "end", "error", "left", "name", "parent", "span_id", "start",
                 "status")

    def __init__(self, name: str, span_id: int, parent: _Parent | None,
                 attributes: dict[str, Any], start: int) -> None:
        self.name = name
        self.span_id = span_id
        self.parent = parent
        self.attributes = attributes
        self.start = start
        self.end = start
        self.error = False
        self.status: str | None = None  # a cell's, as the summary counts it
        self.left: int | None = None  # a cell's calls still to come, when known

    def cover(self, start: int, end: int, error: bool) -> None:
        self.start = min(self.start, start)
        self.end = max(self.end, end)
        self.error = self.error or error
        if self.parent is not None:
            self.parent.cover(start, end, error)


class Tracer:
    """The spans of one run. The SDK is imported and set up in a thread of its own
    (about 0.2 s of imports, while the run loads its models and makes its first calls);
    the first span waits for it."""

    def __init__(self, chosen: Settings, timing: Timing) -> None:
        self.settings = chosen
        self.timing = timing
        self._lock = threading.Lock()  # given() may finish records from another thread
        self._suites: dict[str, _Parent] = {}
        self._cells: dict[tuple[str, str, str, str], _Parent] = {}
        self._parent_contexts: dict[int, Any] = {}
        self._servers: dict[str, str] = {}  # base_url -> as shown (redacted)
        self._expected: Mapping[tuple[str, str, str, str], int] = {}
        self.spans = 0
        self._ready = False
        self._problem: BaseException | None = None
        self._setup_thread = threading.Thread(target=self._setup_aside, daemon=True,
                                              name="pc-otel-setup")
        self._setup_thread.start()

    def _setup_aside(self) -> None:
        try:
            self._setup()
        except BaseException as exc:  # seen by _wait, in the runner's thread
            self._problem = exc

    def _wait(self) -> bool:
        """Whether the SDK is set up (waiting for its thread the first time)."""
        if self._ready:
            return True
        self._setup_thread.join()
        if not self._ready and self._problem is not None:
            # e.g. an import that raced one of the run's own: once more, in this thread
            try:
                self._setup()
            except Exception as exc:
                self._problem = exc
        return self._ready

    def _setup(self) -> None:
        (self._context, self._trace, exporter_cls, resource_cls, provider_cls, batch_cls,
         always_on, ids_cls, guarded_cls) = otel_sdk.load()
        chosen, timing = self.settings, self.timing
        otel_sdk.quiet_logs()
        attributes = {"service.version": otel_sdk.version()}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = "promptctl"
        self._ids = ids_cls()
        self._exporter = guarded_cls(exporter_cls(
            endpoint=chosen.endpoint, headers=dict(chosen.headers) or None,
            timeout=EXPORT_TIMEOUT))
        self._provider = provider_cls(resource=resource_cls.create(attributes),
                                      id_generator=self._ids, sampler=always_on)
        self._provider.add_span_processor(batch_cls(
            self._exporter, export_timeout_millis=int(EXPORT_TIMEOUT * 1000)))
        self._tracer = self._provider.get_tracer("promptctl", attributes["service.version"])
        self._run = _Parent("promptctl run", self._ids.new_span_id(), None, {},
                            timing.epoch_ns(timing.started_ns))
        self._ready = True

    def expect(self, calls: Mapping[tuple[str, str, str, str], int]) -> None:
        """How many calls each cell has (a plan with no adaptive rounds): a cell's span
        is made as its last call comes back, exported while the run goes on."""
        self._expected = calls

    def _context_of(self, parent: _Parent) -> Any:
        ctx = self._parent_contexts.get(parent.span_id)
        if ctx is None:
            trace = self._trace
            span_context = trace.SpanContext(
                self._ids.trace_id, parent.span_id, is_remote=False,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
            ctx = self._parent_contexts[parent.span_id] = trace.set_span_in_context(
                trace.NonRecordingSpan(span_context), self._context.Context())
        return ctx

    def _cell(self, record: CallRecord, start: int) -> _Parent:
        key = record.cell
        cell = self._cells.get(key)
        if cell is not None:
            return cell
        suite = self._suites.get(record.suite)
        if suite is None:
            suite = self._suites[record.suite] = _Parent(
                f"suite {record.suite}", self._ids.new_span_id(), self._run,
                {"promptctl.suite": record.suite}, start)
        cell = self._cells[key] = _Parent(
            f"cell {record.case}", self._ids.new_span_id(), suite,
            {"promptctl.suite": record.suite, "promptctl.case": record.case,
             "promptctl.prompt": record.prompt, "promptctl.model": record.model}, start)
        cell.left = self._expected.get(key)
        return cell

    def call(self, record: CallRecord, marks: tuple[int, int] | None) -> None:
        """The span of one finished call (in the thread that finishes records)."""
        if not self._ready and not self._wait():
            return
        timing = self.timing
        if marks is None:  # no provider call was timed (a given output)
            start = end = timing.epoch_ns(timing.started_ns)
        else:
            start, end = timing.epoch_ns(marks[0]), timing.epoch_ns(marks[1])
        with self._lock:
            cell = self._cell(record, start)
            error = record.error is not None
            cell.cover(start, end, error)
            identity = record.fingerprint.get("model") or {}
            model = str(identity.get("model") or record.model)
            span = self._tracer.start_span(f"chat {model}", context=self._context_of(cell),
                                           start_time=start,
                                           attributes=self._attributes(record, identity,
                                                                       model))
            if error:
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR,
                                                   record.error))
                span.set_attribute("error.type", "promptctl.call_error")
            else:
                contents = self.settings.contents
                for a in record.assertions:
                    event = {"gen_ai.evaluation.name": a.metric or a.type,
                             "gen_ai.evaluation.score.value": float(a.score),
                             "gen_ai.evaluation.score.label": "pass" if a.passed else "fail"}
                    if a.metric:  # named by its metric: say which assertion it is
                        event["promptctl.assertion.type"] = a.type
                    if contents:  # a reason quotes the output
                        event["gen_ai.evaluation.explanation"] = a.reason
                    span.add_event("gen_ai.evaluation.result", event, timestamp=end)
            span.end(end_time=end)
            self.spans += 1
            cell.status = cell_status(cell.status, record.status)
            if cell.left is not None:
                cell.left -= 1
                if cell.left <= 0:  # its last call: the cell's span now
                    del self._cells[record.cell]
                    cell.attributes["promptctl.status"] = cell.status
                    self._end(cell)

    def _attributes(self, record: CallRecord, identity: Mapping[str, Any], model: str
                    ) -> dict[str, Any]:
        # the suite, case, prompt, model alias and verdict are the parent cell's
        # attributes, the assertions' scores its events: a call's span holds only what
        # differs between calls (every attribute costs per span: bench/concurrency.py)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": str(identity.get("provider") or "unknown"),
            "gen_ai.request.model": model,
            "promptctl.retries": record.retries, "promptctl.cached": record.cached,
        }
        if record.repeat:
            attrs["promptctl.repeat"] = record.repeat
        base_url = identity.get("base_url")
        if isinstance(base_url, str) and base_url:
            shown = self._servers.get(base_url)
            if shown is None:
                shown = self._servers[base_url] = redact_url(base_url)
            attrs["server.address"] = shown
        for name in REQUEST_PARAMS:
            value = record.params.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attrs[f"gen_ai.request.{name}"] = value
        if record.error is not None:
            return attrs
        served = record.fingerprint.get("served")
        if isinstance(served, dict) and served.get("model"):
            attrs["gen_ai.response.model"] = str(served["model"])
        if served and isinstance(served, dict) and served.get("system_fingerprint"):
            attrs["promptctl.system_fingerprint"] = str(served["system_fingerprint"])
        attrs["gen_ai.usage.input_tokens"] = int(record.tokens.get("prompt", 0))
        attrs["gen_ai.usage.output_tokens"] = int(record.tokens.get("completion", 0))
        if self.settings.contents:
            attrs["gen_ai.input.messages"] = json.dumps(
                [{"role": m.get("role", "user"),
                  "parts": [{"type": "text", "content": m.get("content", "")}]}
                 for m in record.messages], ensure_ascii=False)
            attrs["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant",
                  "parts": [{"type": "text", "content": record.output or ""}]}],
                ensure_ascii=False)
        return attrs

    def close(self, statuses: Mapping[tuple[str, str, str, str], str],
              run_id: str | None) -> str | None:
        """End the cells, suites and run (their spans made now), flush, shut down.
        Returns a warning line when spans could not be delivered, else None."""
        if not self._wait():
            return f"tracing: the OpenTelemetry SDK did not start: {self._problem}"
        timing = self.timing
        run = self._run
        run.end = max(run.end, timing.epoch_ns(timing.ended_ns or timing.started_ns))
        if run_id:
            run.attributes["promptctl.run_id"] = run_id
        try:
            with self._lock:
                for key, cell in self._cells.items():
                    cell.attributes["promptctl.status"] = statuses.get(
                        key, cell.status or "error")
                    self._end(cell)
                self._cells.clear()
                for suite in self._suites.values():
                    self._end(suite)
                self._end(run)
            self._provider.shutdown()  # exports what is queued: bounded by Guarded
        except Exception as exc:  # tracing never fails the run
            return f"tracing: spans not exported ({type(exc).__name__})"
        failed = self._exporter.failed
        if failed:
            return (f"tracing: {failed} span{'s' * (failed != 1)} could not be exported to "
                    f"{redact_url(self.settings.endpoint)} (no collector answered within "
                    f"{EXPORT_TIMEOUT:g}s); the run itself is unaffected")
        return None

    def _end(self, parent: _Parent) -> None:
        self._ids.reserved = parent.span_id
        ctx = self._context_of(parent.parent) if parent.parent is not None \
            else self._context.Context()
        span = self._tracer.start_span(parent.name, context=ctx, start_time=parent.start,
                                       attributes=parent.attributes)
        self._ids.reserved = None
        if parent.error:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR,
                                               "a call ended in an error"))
        span.end(end_time=parent.end)
        self.spans += 1
