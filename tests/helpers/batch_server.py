"""A loopback server of the OpenAI Batch API's protocol for tests: the Files API
(multipart upload, GET content) and the Batches API (create, retrieve, cancel, list),
with each request line of a batch answered by a REAL OpenAI-compatible server
(`upstream`, the tests' llama_cpp.server): the model's answers are real, only the batch
envelope (files, statuses, request counts, output and error files) is simulated.

Standard library only: `http.server` with a thread per connection and one worker
thread per batch, on 127.0.0.1 and a free port.

    with BatchServer(llama_server) as server:      # upstream's /v1 URL
        base_url = server.base_url                 # http://127.0.0.1:PORT/v1
        ...
        assert server.batches_created == 1

Options (attributes, may be changed between runs):
  fail_lines     indexes (0-based, in its input file) of lines answered in the error
                 file with an `error` object instead of being forwarded
  status_lines   indexes answered in the output file with status_code 500
  expire_after   a batch processes this many lines, then ends `expired` (the rest
                 have no line anywhere)
  hold           while set, a batch stays `in_progress` before its first line
                 (`release()` clears it): for a kill during polling
Counts: `files_created`, `batches_created`, `forwarded` (batch lines sent upstream),
`online` (POST /v1/chat/completions made directly, forwarded as they are);
`model_seconds`, the time spent waiting for upstream's answers (summed over the
batches' threads); `first_forward` and `last_answer` (time.perf_counter()).
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import free_port


class BatchServer:
    def __init__(self, upstream: str, *, fail_lines: set[int] | None = None,
                 status_lines: set[int] | None = None, expire_after: int | None = None,
                 hold: bool = False) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname in ("127.0.0.1", "localhost"), "loopback upstreams only"
        self.upstream = ("127.0.0.1", parts.port or 80)
        self.fail_lines = set(fail_lines or ())
        self.status_lines = set(status_lines or ())
        self.expire_after = expire_after
        self.holding = threading.Event()
        if hold:
            self.holding.set()
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.files_created = 0
        self.batches_created = 0
        self.forwarded = 0
        self.online = 0
        self.model_seconds = 0.0  # spent waiting for upstream's answers (summed)
        self.first_forward = 0.0  # perf_counter() when the first line went upstream
        self.last_answer = 0.0  # and when the last answer came back
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._http = _Server(("127.0.0.1", self.port), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    # -- lifetime ---------------------------------------------------------------

    def start(self) -> BatchServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.holding.clear()
        self._http.shutdown()
        self._http.server_close()
        for worker in self._workers:
            worker.join(timeout=30)

    def __enter__(self) -> BatchServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def release(self) -> None:
        """Let held batches run."""
        self.holding.clear()

    def reset_counts(self) -> None:
        self.files_created = self.batches_created = self.forwarded = self.online = 0
        self.model_seconds = self.first_forward = self.last_answer = 0.0

    # -- the Files API ----------------------------------------------------------

    def add_file(self, name: str, data: bytes, purpose: str) -> dict[str, Any]:
        with self._lock:
            self.files_created += 1
            fid = f"file-{len(self.files) + 1:06d}"
            meta = {"id": fid, "object": "file", "bytes": len(data),
                    "created_at": int(time.time()), "filename": name, "purpose": purpose,
                    "status": "processed"}
            self.files[fid] = {"meta": meta, "data": data}
        return meta

    # -- the Batches API --------------------------------------------------------

    def create_batch(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        fid = request.get("input_file_id")
        if fid not in self.files:
            return 400, _error(f"No such File object: {fid}", "invalid_request_error")
        if request.get("endpoint") != "/v1/chat/completions" or \
                request.get("completion_window") != "24h":
            return 400, _error("unsupported endpoint or completion_window",
                               "invalid_request_error")
        lines = [json.loads(x) for x in self.files[fid]["data"].splitlines() if x.strip()]
        with self._lock:
            self.batches_created += 1
            bid = f"batch_{len(self.batches) + 1:06d}"
            batch = {"id": bid, "object": "batch", "endpoint": request["endpoint"],
                     "input_file_id": fid, "completion_window": "24h",
                     "status": "validating", "output_file_id": None, "error_file_id": None,
                     "created_at": int(time.time()), "in_progress_at": None,
                     "completed_at": None, "expired_at": None, "cancelled_at": None,
                     "failed_at": None, "errors": None, "metadata": None,
                     "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
            self.batches[bid] = batch
        worker = threading.Thread(target=self._process, args=(batch, lines), daemon=True)
        self._workers.append(worker)
        worker.start()
        return 200, dict(batch)

    def cancel_batch(self, bid: str) -> dict[str, Any]:
        batch = self.batches[bid]
        with self._lock:
            if batch["status"] in ("validating", "in_progress", "finalizing"):
                batch["status"] = "cancelling"
        return dict(batch)

    def _process(self, batch: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        """Answer the lines one by one from upstream; then the output and error files."""
        for line in lines:
            if not (isinstance(line, dict) and line.get("method") == "POST"
                    and line.get("url") == "/v1/chat/completions"
                    and isinstance(line.get("custom_id"), str)):
                with self._lock:
                    batch.update(status="failed", failed_at=int(time.time()), errors={
                        "object": "list", "data": [{"code": "invalid_request",
                                                    "message": "a line is malformed",
                                                    "line": lines.index(line) + 1}]})
                return
        with self._lock:
            if batch["status"] == "validating":
                batch.update(status="in_progress", in_progress_at=int(time.time()))
        while self.holding.is_set() and batch["status"] == "in_progress":
            time.sleep(0.02)
        out: list[str] = []
        err: list[str] = []
        end = "completed"
        for i, line in enumerate(lines):
            if batch["status"] == "cancelling":
                end = "cancelled"
                break
            if self.expire_after is not None and i >= self.expire_after:
                end = "expired"
                break
            rid = f"batch_req_{batch['id']}_{i}"
            if i in self.fail_lines:
                err.append(json.dumps({"id": rid, "custom_id": line["custom_id"],
                                       "response": None,
                                       "error": {"code": "server_error",
                                                 "message": "injected line failure"}}))
                ok = False
            elif i in self.status_lines:
                out.append(json.dumps({"id": rid, "custom_id": line["custom_id"],
                                       "response": {"status_code": 500, "request_id": rid,
                                                    "body": _error("injected 500",
                                                                   "server_error")},
                                       "error": None}))
                ok = False
            else:
                status, body = self._forward(line["body"])
                out.append(json.dumps({"id": rid, "custom_id": line["custom_id"],
                                       "response": {"status_code": status,
                                                    "request_id": rid, "body": body},
                                       "error": None}))
                ok = status == 200
            with self._lock:
                batch["request_counts"]["completed" if ok else "failed"] += 1
        with self._lock:
            batch["status"] = "finalizing"
        if out:
            batch["output_file_id"] = self._output(batch["id"], "output", out)
        if err:
            batch["error_file_id"] = self._output(batch["id"], "errors", err)
        with self._lock:
            batch["status"] = end
            batch[{"completed": "completed_at", "expired": "expired_at",
                   "cancelled": "cancelled_at"}[end]] = int(time.time())

    def _output(self, bid: str, what: str, lines: list[str]) -> str:
        meta = self.add_file(f"{bid}_{what}.jsonl", ("\n".join(lines) + "\n").encode(),
                             "batch_output")
        with self._lock:
            self.files_created -= 1  # counted are the files clients create
        return str(meta["id"])

    def _forward(self, body: dict[str, Any], *, online: bool = False) -> tuple[int, Any]:
        if not online:
            with self._lock:
                self.forwarded += 1
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        start = time.perf_counter()
        try:
            conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                         headers={"Content-Type": "application/json"})
            reply = conn.getresponse()
            data = reply.read()
            with self._lock:
                self.model_seconds += time.perf_counter() - start
                self.first_forward = self.first_forward or start
                self.last_answer = time.perf_counter()
            try:
                return reply.status, json.loads(data)
            except ValueError:
                return reply.status, {"error": {"message": data[:200].decode(errors="replace")}}
        finally:
            conn.close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-connection (the tests' SIGKILL) is no server error."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _handler(server: BatchServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if raw is not None
                             else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            if path == "/v1/files":
                form = _multipart(self.headers.get("Content-Type", ""), body)
                if "file" not in form or form.get("purpose", (None, b""))[1] != b"batch":
                    self._send(400, _error("a file and purpose=batch are required",
                                           "invalid_request_error"))
                    return
                name, data = form["file"]
                self._send(200, server.add_file(name or "upload.jsonl", data, "batch"))
            elif path == "/v1/batches":
                self._send(*server.create_batch(json.loads(body or b"{}")))
            elif path == "/v1/chat/completions":  # an online call, as the API has both
                with server._lock:
                    server.online += 1
                status, reply = server._forward(json.loads(body or b"{}"), online=True)
                self._send(status, reply)
            elif path.startswith("/v1/batches/") and path.endswith("/cancel"):
                bid = path.split("/")[3]
                if bid not in server.batches:
                    self._send(404, _error(f"No batch {bid}", "invalid_request_error"))
                    return
                self._send(200, server.cancel_batch(bid))
            else:
                self._send(404, _error(f"no route {path}", "invalid_request_error"))

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            parts = path.split("/")
            if path == "/v1/batches":
                data = sorted(server.batches.values(), key=lambda b: b["id"], reverse=True)
                self._send(200, {"object": "list", "data": data,
                                 "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None,
                                 "has_more": False})
            elif len(parts) == 4 and parts[2] == "batches" and parts[3] in server.batches:
                self._send(200, dict(server.batches[parts[3]]))
            elif len(parts) == 5 and parts[2] == "files" and parts[4] == "content" \
                    and parts[3] in server.files:
                self._send(200, None, raw=server.files[parts[3]]["data"])
            else:
                self._send(404, _error(f"no route {path}", "invalid_request_error"))

    return Handler


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = (part.get_filename(), payload)
    return fields
