"""A canned OpenAI-compatible upstream on loopback, for fast tests of one mechanism
each (retries, concurrency, the engine). Never for claims about what a model answers:
those tests use the real llama_cpp.server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Stub:
    """An OpenAI-compatible endpoint on loopback that answers every chat completion
    with "echo: <last user message>" (a prompt containing HTTP-4xx gets that status),
    counting requests and the most it served at once."""

    def __init__(self, delay: float = 0.0,
                 models: tuple[int, str, bytes] | None = None) -> None:
        """`models`: what GET /v1/models answers instead of a model list, as
        (status, content type, body)."""
        self.delay = delay
        self.models = models
        self.seen: list[tuple[str, str | None]] = []  # (request target, Authorization)
        self.requests = 0
        self.in_flight = 0
        self.peak = 0
        self.spans: list[tuple[float, float]] = []  # (start, end) of each POST's wait
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stub.seen.append((self.path, self.headers.get("Authorization")))
                if stub.models is not None:
                    status, kind, data = stub.models
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.reply(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})

            def do_POST(self) -> None:
                stub.seen.append((self.path, self.headers.get("Authorization")))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.requests += 1
                    stub.in_flight += 1
                    stub.peak = max(stub.peak, stub.in_flight)
                start = time.monotonic()
                try:
                    time.sleep(stub.delay)
                finally:
                    with stub.lock:
                        stub.in_flight -= 1
                        stub.spans.append((start, time.monotonic()))
                text = body["messages"][-1]["content"]
                if "HTTP-" in text:
                    status = int(text.split("HTTP-", 1)[1][:3])
                    self.reply(status, {"error": {"message": f"stub says {status}",
                                                  "type": "invalid_request_error"}})
                    return
                self.reply(200, {
                    "id": "chatcmpl-stub", "object": "chat.completion", "created": 0,
                    "model": "stub",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": f"echo: {text}"}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})

            def reply(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of 20 connections would see
    # SYNs dropped and retried a second later, which is the stub's limit, not the client's
    request_queue_size = 256
