"""A real OTLP/HTTP trace receiver for the tests and bench/concurrency.py: stdlib
http.server on loopback, POST /v1/traces, the protobuf body (gzip when
Content-Encoding says so) decoded with the official opentelemetry-proto package.

`spans` holds every span received, flattened to plain values (`Span`), so a test can
assert on names, the parent tree, attributes and events without protobuf types. Each
request is parsed before it is answered (a body that is not an
ExportTraceServiceRequest fails it); the flattening waits until `spans` is read, so a
benchmark's exporter does not wait for this file's Python.
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    status: int  # 0 unset, 1 ok, 2 error
    status_message: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


class Receiver:
    """Start with `with Receiver() as r:`; `r.endpoint` is the base URL to give as
    OTEL_EXPORTER_OTLP_ENDPOINT."""

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._pending: list[Any] = []  # parsed requests not yet flattened
        self.requests = 0
        self.raw: list[bytes] = []  # each decoded request body, to look for secrets
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                # deferred: opentelemetry-proto is a test dependency
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceRequest,
                    ExportTraceServiceResponse,
                )

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver._take(request, body, dict(self.headers))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _take(self, request: Any, body: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests += 1
            self.raw.append(body)
            self.headers.append(headers)
            self._pending.append(request)

    @property
    def spans(self) -> list[Span]:
        with self._lock:
            pending, self._pending = self._pending, []
            for request in pending:
                self._spans.extend(self._flat(request))
            return list(self._spans)

    @staticmethod
    def _flat(request: Any) -> list[Span]:
        spans = []
        for rs in request.resource_spans:
            resource = _attrs(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(Span(
                        s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                        s.start_time_unix_nano, s.end_time_unix_nano, s.status.code,
                        s.status.message, _attrs(s.attributes),
                        [(e.name, _attrs(e.attributes)) for e in s.events], resource))
        return spans

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self._pending.clear()
            self.raw.clear()
            self.headers.clear()
            self.requests = 0

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
