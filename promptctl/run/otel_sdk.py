"""The OpenTelemetry SDK as run/tracing.py uses it, imported only when a run is traced.

`check()` finds the SDK without importing it (a missing `otel` extra is a UserError
naming it, before any call); `load()` imports it and gives the pieces tracing.py builds
its provider from, with two classes of its own: an ids generator that hands out a span
id reserved earlier (so a parent span made after its children keeps the id they point
to) and an exporter wrapper that gives up after its first failure (so a collector that
is down costs one export timeout, not one per batch). Nothing here runs at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..errors import UserError

SDK_MODULES = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter")


def check() -> None:
    """The SDK is installed (found, not imported yet), or a UserError naming the extra."""
    import importlib.util  # deferred: tracing is on

    for name in SDK_MODULES:
        try:
            found = importlib.util.find_spec(name)
        except ImportError as exc:
            raise UserError(f"tracing needs the OpenTelemetry SDK: {exc}",
                            hint="pip install 'promptctl[otel]'") from None
        if found is None:
            raise UserError(f"tracing needs the OpenTelemetry SDK: no module {name}",
                            hint="pip install 'promptctl[otel]'")


def load() -> Any:
    """The OpenTelemetry modules, imported now: tracing is on."""
    try:
        # deferred: only a traced run pays for the SDK (and requests, protobuf)
        from opentelemetry import context, trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
        from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON
    except ImportError as exc:
        raise UserError(f"tracing needs the OpenTelemetry SDK: {exc}",
                        hint="pip install 'promptctl[otel]'") from None

    class Ids(IdGenerator):
        """One trace id per run; the span id reserved for a parent when it is made."""

        def __init__(self) -> None:
            self._random = RandomIdGenerator()
            self.trace_id = self._random.generate_trace_id()
            self.reserved: int | None = None

        def generate_trace_id(self) -> int:
            return self.trace_id

        def generate_span_id(self) -> int:
            if self.reserved is not None:
                span_id, self.reserved = self.reserved, None
                return span_id
            return self._random.generate_span_id()

        def new_span_id(self) -> int:
            return self._random.generate_span_id()

    class Guarded(SpanExporter):
        """The OTLP exporter, given up after its first failure: a dead collector
        costs one export timeout, not one per batch."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.failed = 0  # spans not delivered
            self.sent = 0

        def export(self, spans: Sequence[Any]) -> Any:
            if self.failed:
                self.failed += len(spans)
                return SpanExportResult.FAILURE
            try:
                result = self.inner.export(spans)
            except Exception:  # the exporter's own bug: tracing must not end the run
                result = SpanExportResult.FAILURE
            if result is SpanExportResult.SUCCESS:
                self.sent += len(spans)
            else:
                self.failed += len(spans)
            return result

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    return (context, trace, OTLPSpanExporter, Resource, TracerProvider, BatchSpanProcessor,
            ALWAYS_ON, Ids, Guarded)


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # deferred: tracing on

    try:
        return version("promptctl")
    except PackageNotFoundError:  # a checkout that is not installed
        return "unknown"


def quiet_logs() -> None:
    """The SDK logs each failed export (a traceback on stderr); promptctl says it once."""
    logger = logging.getLogger("opentelemetry")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False

