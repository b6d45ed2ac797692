"""A fault-injecting HTTP proxy for tests: it sits between an HTTP client (the
official `openai` SDK) and a real OpenAI-compatible server on loopback, forwards
every request, and on a schedule answers some of them with a fault instead.

Standard library only: `http.server` with one thread per connection, started in a
background thread on 127.0.0.1 and a free port.

    with FaultProxy("http://127.0.0.1:8080", script=["429", "ok"]) as proxy:
        client = openai.OpenAI(base_url=proxy.base_url + "/v1", api_key="x")
        ...
        assert proxy.faults == ["429", "ok"]

Which request gets which fault: the `script` entries first, one per request in the
order the requests arrive; then, if `rate` > 0, a seeded `random.Random(seed)`
draws once per request (`random() < rate`) and picks a kind from `kinds`;
otherwise the request goes through ("ok"). With `only_paths`, requests on other
paths go through without consuming the schedule.

Fault kinds (see KINDS):
  429              status 429, `Retry-After` (and `retry-after-ms` if set),
                   `x-ratelimit-*` headers and an OpenAI-style JSON error body
  500, 503         an OpenAI-style JSON error body with that status
  drop             read the request, then close the connection with no response (EOF)
  reset            read the request, then abort the connection (TCP RST)
  slow             wait `slow_seconds` before forwarding (a client with a shorter
                   timeout gives up; the proxy then skips the upstream call)
  garbage          200, `Content-Type: application/json` (`garbage_content_type`),
                   a body that is not JSON (`garbage_body`)
  corrupt-content  forward, then replace every choice's message content (chat) or
                   text (completions) in the upstream's JSON with `corrupt_content`
  served           forward, then set the completion's metadata only, `model` to
                   `served_model` and `system_fingerprint` to `served_fingerprint`
                   (None: null; a list: one after the other, cycling, as OpenAI rotates
                   them), as a hosted endpoint that moved its alias to another
                   snapshot would; the answer's text stays the upstream's

Only scheme://host:port of `upstream` is used, and it must be a loopback address;
request paths are forwarded verbatim. `Accept-Encoding` is forced to `identity`
so that bodies can be rewritten. By default every response carries
`Connection: close` (no connection is reused, the most robust choice with pooled
clients); `keep_alive=True` keeps HTTP/1.1 connections open instead.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import random
import select
import socket
import socketserver
import struct
import sys
import threading
from collections import Counter, deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

OK = "ok"
KINDS = ("429", "500", "503", "drop", "reset", "slow", "garbage", "corrupt-content",
         "served")
DEFAULT_RANDOM_KINDS = ("429", "500", "503")

# not forwarded in either direction (RFC 9110 7.6.1), plus what the proxy sets itself
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
REQUEST_SKIP = HOP_BY_HOP | {"host", "content-length", "accept-encoding"}
RESPONSE_SKIP = HOP_BY_HOP | {"content-length", "server", "date"}

ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "429": ("Too Many Requests", {
        "message": "Rate limit reached for requests (injected by fault_proxy).",
        "type": "requests", "param": None, "code": "rate_limit_exceeded"}),
    "500": ("Internal Server Error", {
        "message": "The server had an error while processing your request "
                   "(injected by fault_proxy).",
        "type": "server_error", "param": None, "code": None}),
    "503": ("Service Unavailable", {
        "message": "The engine is currently overloaded, please try again later "
                   "(injected by fault_proxy).",
        "type": "server_error", "param": None, "code": None}),
}


class Record(NamedTuple):
    """One request the proxy received. `status` is what the client was sent, None
    when it got no response (drop, reset, a slow request it gave up on)."""

    path: str
    fault: str
    method: str
    status: int | None


def _kind(value: object) -> str:
    kind = str(value)
    if kind != OK and kind not in KINDS:
        raise ValueError(f"unknown fault kind {value!r}; expected 'ok' or one of {KINDS}")
    return kind


def _loopback_origin(url: str) -> tuple[str, int]:
    """(host, port) of a loopback http:// URL; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"upstream must be an http:// URL, got {url!r}")
    host = parts.hostname or ""
    if host == "localhost":
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False  # a name: never resolved, never contacted
    if not loopback:
        raise ValueError(f"upstream must be on loopback (127.0.0.0/8, ::1), got {url!r}")
    return host, parts.port or 80


def _client_gone(sock: socket.socket) -> bool:
    """Has the client closed its side while we were not reading?"""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _shutdown(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class FaultProxy:
    """A started proxy answers on `base_url` (http://127.0.0.1:PORT, no path).

    Counters (thread-safe snapshots): `total` requests received, `forwarded` to the
    upstream, `injected` (a Counter by kind), `connections` accepted, `log` (a list
    of Record), `faults` (the fault of each request, in order), `stats()` (all of it
    as a dict). `reset()` clears them; `set_schedule()` changes what comes next.
    """

    def __init__(self, upstream: str, *, script: Iterable[object] = (), rate: float = 0.0,
                 seed: int = 0, kinds: Iterable[object] = DEFAULT_RANDOM_KINDS,
                 only_paths: Iterable[str] | None = None, retry_after: float | None = 1,
                 retry_after_ms: int | None = None, slow_seconds: float = 2.0,
                 garbage_body: bytes | str = b"<html>oops</html>",
                 garbage_content_type: str = "application/json",
                 corrupt_content: str = "not json at all", keep_alive: bool = False,
                 upstream_timeout: float = 60.0,
                 served_model: str = "gpt-4o-mini-2024-07-18",
                 served_fingerprint: str | list[str | None] | None = "fp_44709d6fcb"
                 ) -> None:
        self.upstream = upstream
        self._up_host, self._up_port = _loopback_origin(upstream)
        self.only_paths = tuple(only_paths) if only_paths is not None else None
        self.retry_after = retry_after
        self.retry_after_ms = retry_after_ms
        self.slow_seconds = slow_seconds
        self.garbage_body = garbage_body.encode() if isinstance(garbage_body, str) \
            else garbage_body
        self.garbage_content_type = garbage_content_type
        self.corrupt_content = corrupt_content
        self.served_model = served_model
        self.served_fingerprint = served_fingerprint
        self._served = 0  # completions given a served_fingerprint so far
        self.keep_alive = keep_alive
        self.upstream_timeout = upstream_timeout

        self._lock = threading.Lock()
        self._script: deque[str] = deque()
        self._rate = 0.0
        self._kinds: tuple[str, ...] = ()
        self._rng = random.Random(seed)
        self.set_schedule(script=script, rate=rate, seed=seed, kinds=kinds)
        self._log: list[Record] = []
        self._injected: Counter[str] = Counter()
        self._total = 0
        self._forwarded = 0
        self._connections = 0
        self._generation = 0

        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._open: set[socket.socket] = set()  # client and upstream sockets in use
        self.host = "127.0.0.1"
        self.port = 0

    # -- lifecycle --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("the proxy is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut every open connection (a slow fault's wait included)
        and join every thread the proxy started."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            open_sockets = list(self._open)
            threads = list(self._threads)
        for sock in open_sockets:
            _shutdown(sock)
        for t in threads:
            t.join(timeout)
        if thread is not None:
            thread.join(timeout)
        self._server = self._thread = None
        alive = [t.name for t in [*threads, thread] if t is not None and t.is_alive()]
        if alive:
            raise RuntimeError(f"fault proxy threads still running after stop: {alive}")

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- schedule and counters --------------------------------------------------

    def set_schedule(self, *, script: Iterable[object] = (), rate: float = 0.0,
                     seed: int = 0, kinds: Iterable[object] = DEFAULT_RANDOM_KINDS) -> None:
        """Replace what the next requests get: `script` first, then the seeded rate."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        new_script = deque(_kind(k) for k in script)
        new_kinds = tuple(_kind(k) for k in kinds)
        if rate > 0 and not new_kinds:
            raise ValueError("a rate needs at least one kind")
        with self._lock:
            self._script = new_script
            self._rate = rate
            self._kinds = new_kinds
            self._rng = random.Random(seed)

    def reset(self) -> None:
        """Clear the counters and the log (the schedule is left as it is)."""
        with self._lock:
            self._log.clear()
            self._injected.clear()
            self._total = self._forwarded = self._connections = 0
            self._generation += 1

    @property
    def total(self) -> int:
        with self._lock:
            return self._total

    @property
    def forwarded(self) -> int:
        with self._lock:
            return self._forwarded

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    @property
    def injected(self) -> Counter[str]:
        with self._lock:
            return Counter(self._injected)

    @property
    def log(self) -> list[Record]:
        with self._lock:
            return list(self._log)

    @property
    def faults(self) -> list[str]:
        return [r.fault for r in self.log]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self._total, "forwarded": self._forwarded,
                    "connections": self._connections, "injected": dict(self._injected),
                    "log": [r._asdict() for r in self._log]}

    def _next_fault(self, handler: _Handler) -> tuple[str, tuple[int, int]]:
        """Count and log the request; say what it gets and where its log entry is."""
        path = handler.path
        with self._lock:
            self._total += 1
            if self.only_paths is not None and \
                    not path.split("?", 1)[0].startswith(self.only_paths):
                kind = OK
            elif self._script:
                kind = self._script.popleft()
            elif self._rate > 0 and self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
            else:
                kind = OK
            if kind != OK:
                self._injected[kind] += 1
            self._log.append(Record(path, kind, handler.command, None))
            return kind, (self._generation, len(self._log) - 1)

    def _record(self, entry: tuple[int, int], status: int | None) -> None:
        generation, index = entry
        with self._lock:
            if generation == self._generation:  # else reset() cleared the log meanwhile
                self._log[index] = self._log[index]._replace(status=status)

    # -- bookkeeping for stop() -------------------------------------------------

    def _track_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()}
            self._threads.add(thread)

    def _opened(self, sock: socket.socket, *, client: bool = False) -> None:
        with self._lock:
            self._open.add(sock)
            if client:
                self._connections += 1
        if self._stopping.is_set():
            _shutdown(sock)

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    # -- one request ------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        body = h.read_body()
        fault, entry = self._next_fault(h)
        if fault == "drop":
            h.close_connection = True  # the server closes it: EOF, no response
            self._record(entry, None)
            return
        if fault == "reset":
            h.close_connection = True
            self._record(entry, None)
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()  # with a zero linger: RST
            return
        if fault in ERRORS:
            self._send_error(h, fault, entry)
            return
        if fault == "garbage":
            h.send(200, "OK", [("Content-Type", self.garbage_content_type)],
                   self.garbage_body, fault, entry)
            return
        if fault == "slow":
            self._stopping.wait(self.slow_seconds)
            if self._stopping.is_set() or _client_gone(h.connection):
                h.close_connection = True  # nobody is waiting: spare the upstream
                self._record(entry, None)
                return
        self._forward(h, body, fault, entry)

    def _send_error(self, h: _Handler, fault: str, entry: tuple[int, int]) -> None:
        reason, error = ERRORS[fault]
        headers = [("Content-Type", "application/json"),
                   ("x-request-id", f"req_fault_proxy_{self.total}")]
        if fault == "429":
            if self.retry_after is not None:
                seconds = self.retry_after
                text = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
                headers += [("Retry-After", text),
                            ("x-ratelimit-reset-requests", f"{text}s"),
                            ("x-ratelimit-reset-tokens", f"{text}s")]
            if self.retry_after_ms is not None:
                headers.append(("retry-after-ms", str(self.retry_after_ms)))
            headers += [("x-ratelimit-limit-requests", "60"),
                        ("x-ratelimit-remaining-requests", "0"),
                        ("x-ratelimit-limit-tokens", "150000"),
                        ("x-ratelimit-remaining-tokens", "0")]
        body = json.dumps({"error": error}).encode()
        h.send(int(fault), reason, headers, body, fault, entry)

    def _forward(self, h: _Handler, body: bytes, fault: str, entry: tuple[int, int]
                 ) -> None:
        conn = http.client.HTTPConnection(self._up_host, self._up_port,
                                          timeout=self.upstream_timeout)
        sock: socket.socket | None = None
        try:
            try:
                conn.connect()
                sock = conn.sock  # kept: http.client may drop conn.sock before the end
                assert sock is not None
                self._opened(sock)
                conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
                host = f"[{self._up_host}]" if ":" in self._up_host else self._up_host
                conn.putheader("Host", f"{host}:{self._up_port}")
                for name, value in h.headers.items():
                    if name.lower() not in REQUEST_SKIP:
                        conn.putheader(name, value)
                conn.putheader("Accept-Encoding", "identity")
                if body or h.command in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body or None)
                resp = conn.getresponse()
                with self._lock:
                    self._forwarded += 1
                headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in RESPONSE_SKIP]
                streaming = (resp.getheader("Content-Type") or "").startswith("text/event-stream")
                if streaming and fault not in ("corrupt-content", "served"):
                    h.relay(resp, headers, fault, entry)
                    return
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                if self._stopping.is_set() or h.sent:
                    h.close_connection = True  # too late for an error response: cut it
                    return
                error = {"message": f"fault_proxy: upstream failed: {exc!r}",
                         "type": "bad_gateway", "param": None, "code": None}
                h.send(502, "Bad Gateway", [("Content-Type", "application/json")],
                       json.dumps({"error": error}).encode(), fault, entry)
                return
        finally:
            if sock is not None:
                self._closed(sock)
            conn.close()
        if fault == "corrupt-content" and resp.status == 200:
            data = self._corrupt(data)
        if fault == "served" and resp.status == 200:
            data = self._serve_as(data)
        h.send(resp.status, resp.reason, headers, data, fault, entry)

    def _corrupt(self, data: bytes) -> bytes:
        """The same completion with every choice's content replaced."""
        try:
            doc = json.loads(data)
        except ValueError:
            return data
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not isinstance(choices, list):
            return data
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            if isinstance(choice.get("message"), dict):
                choice["message"]["content"] = self.corrupt_content
            elif "text" in choice:
                choice["text"] = self.corrupt_content
        return json.dumps(doc).encode()


    def _serve_as(self, data: bytes) -> bytes:
        """The same completion, saying it came from `served_model` with
        `served_fingerprint` (a body that is no completion is left as it is)."""
        try:
            doc = json.loads(data)
        except ValueError:
            return data
        if not isinstance(doc, dict) or not isinstance(doc.get("choices"), list):
            return data
        fps = self.served_fingerprint
        if isinstance(fps, list):
            with self._lock:
                fp, self._served = fps[self._served % len(fps)], self._served + 1
        else:
            fp = fps
        doc["model"] = self.served_model
        doc["system_fingerprint"] = fp
        return json.dumps(doc).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection is closed after this
    server: _Server
    sent = False

    def setup(self) -> None:
        super().setup()
        self.server.proxy._opened(self.connection, client=True)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.server.proxy._closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        self.sent = False
        super().handle_one_request()

    def proxy_request(self) -> None:
        self.server.proxy._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = proxy_request

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _start(self, status: int, reason: str, headers: list[tuple[str, str]],
               fault: str, entry: tuple[int, int]) -> None:
        self.sent = True
        self.server.proxy._record(entry, status)  # before the client can see it
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("X-Fault-Proxy", fault)
        if not self.server.proxy.keep_alive:
            self.send_header("Connection", "close")  # also sets close_connection

    def send(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes,
             fault: str, entry: tuple[int, int]) -> None:
        self._start(status, reason, headers, fault, entry)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def relay(self, resp: http.client.HTTPResponse, headers: list[tuple[str, str]],
              fault: str, entry: tuple[int, int]) -> None:
        """Pass a streamed (server-sent events) body on as it arrives, re-chunked."""
        self._start(resp.status, resp.reason, headers, fault, entry)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while chunk := resp.read1(65536):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")


class _Server(socketserver.ThreadingMixIn, HTTPServer):
    """One thread per connection, each tracked by the proxy so stop() can join it."""

    daemon_threads = True  # never holds the interpreter; stop() joins them anyway
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256  # the default backlog of 5 drops a burst's SYNs for 1 s

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._serial = 0
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no getfqdn(): no name lookup
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        self._serial += 1
        thread = threading.Thread(target=self.process_request_thread,
                                  args=(request, client_address), daemon=True,
                                  name=f"fault-proxy-{self.server_port}-conn-{self._serial}")
        self.proxy._track_thread(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that went away (a timeout, a dropped connection) or stop() cutting a
        # connection is expected; anything else is a bug in the proxy
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or self.proxy._stopping.is_set():
            return
        super().handle_error(request, client_address)
