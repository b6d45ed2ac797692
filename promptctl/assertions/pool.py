"""The pool of worker processes that run `python` checks (the worker: pyworker.py).

Invariants:
- A check never runs in promptctl's process: `call` hands it to a worker and waits at
  most `timeout` seconds. A worker that times out, dies (a signal, `os._exit`, a crash,
  the memory killer) or breaks the protocol is killed and reaped, and the call fails
  with a reason saying which; the next call gets a fresh worker.
- Workers are reused across calls (started lazily, at most `limit` at once, each
  serving one call at a time). `shutdown` kills every worker; it runs when a run ends
  (Runner.close) and at exit, so nothing is left running after promptctl returns.
- Nothing a worker sends is trusted: answers are size-bounded JSON, checked for shape
  and for the sequence number of the request they answer.
- Workers start in their own session, so a Ctrl-C at the terminal reaches promptctl
  only (which then shuts the pool down), and a check cannot signal promptctl's
  process group; killing a worker kills its whole group, so a process a check started
  does not outlive it either.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import InfraError
from .base import fmt_num

WORKER = Path(__file__).with_name("pyworker.py")
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
MAX_ANSWER = 16 * 1024 * 1024  # bytes: a check answers a verdict, not a data set
_HEADER = struct.Struct(">I")  # an answer's length
_REQUEST = struct.Struct(">II")  # a request's length and sequence number


class CallFailed(Exception):
    """The worker gave no answer: the reason is the failed assertion's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Worker:
    def __init__(self) -> None:
        try:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER), PACKAGE_PARENT], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, bufsize=0, close_fds=True, start_new_session=True)
        except OSError as exc:
            raise InfraError(f"cannot start a worker process for python checks: {exc}",
                             hint="check the number of processes and open files "
                                  "allowed (ulimit)") from None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        os.set_blocking(self.wfd, False)
        os.set_blocking(self.rfd, False)
        self.seq = 0
        self.retired = False  # shut down while busy: killed, not reused

    def call(self, body: bytes, timeout: float) -> dict[str, Any]:
        self.seq = (self.seq + 1) % (1 << 32)
        deadline = time.monotonic() + timeout
        self._send(_REQUEST.pack(len(body), self.seq) + body, deadline, timeout)
        size = _HEADER.unpack(self._recv(_HEADER.size, deadline, timeout))[0]
        if size > MAX_ANSWER:
            raise CallFailed("python assertion's process sent an answer of "
                             f"{size} bytes (at most {MAX_ANSWER})")
        data = self._recv(size, deadline, timeout)
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or answer.get("seq") != self.seq \
                or not isinstance(answer.get("ok"), bool) \
                or (not answer["ok"] and not isinstance(answer.get("reason"), str)):
            raise CallFailed("python assertion's process sent an answer promptctl "
                             "cannot read (did the check write to promptctl's pipes?)")
        return answer

    def _wait(self, fd: int, events: int, deadline: float, timeout: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CallFailed(f"python assertion timed out after {fmt_num(timeout)} s")
        poller = select.poll()
        poller.register(fd, events)
        poller.poll(max(1, int(left * 1000)))

    def _send(self, data: bytes, deadline: float, timeout: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.wfd, view):]
            except BlockingIOError:
                self._wait(self.wfd, select.POLLOUT, deadline, timeout)
            except (BrokenPipeError, ConnectionResetError):
                raise CallFailed(self._gone()) from None

    def _recv(self, n: int, deadline: float, timeout: float) -> bytes:
        chunks: list[bytes] = []
        while n:
            try:
                chunk = os.read(self.rfd, min(n, 1 << 20))
            except BlockingIOError:
                self._wait(self.rfd, select.POLLIN, deadline, timeout)
                continue
            if not chunk:
                raise CallFailed(self._gone())
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _gone(self) -> str:
        code = self._status(timeout=2)
        self.kill(close=False)
        if code is None:
            return "python assertion's process closed its pipes to promptctl"
        if code < 0:
            try:
                name = f" ({signal.Signals(-code).name})"
            except ValueError:
                name = ""
            return f"python assertion's process died with signal {-code}{name}"
        return f"python assertion's process exited with code {code} before answering"

    def _status(self, timeout: float = 0.0) -> int | None:
        """The worker's exit status (-N: killed by signal N), None while it runs. It is
        not reaped here: until then its process group id cannot go to another process,
        so `kill` can still end what the check started."""
        if self.proc.returncode is not None:
            return self.proc.returncode
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = os.waitid(os.P_PID, self.proc.pid,
                                 os.WEXITED | os.WNOWAIT | os.WNOHANG)
            except ChildProcessError:  # reaped already
                return self.proc.poll()
            if info is not None:
                return info.si_status if info.si_code == os.CLD_EXITED \
                    else -info.si_status
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def alive(self) -> bool:
        return self._status() is None

    def kill(self, *, close: bool = True) -> None:
        """End the worker and whatever it started (its own process group), then reap
        it: no zombie, nothing left running."""
        if self.proc.returncode is None:  # not reaped: the group id is still its own
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if close:
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()


class Pool:
    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or max(4, os.cpu_count() or 1)
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._pid = os.getpid()

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The worker's answer ({ok, value} or {ok: False, reason}); raises CallFailed
        when it gave none (timeout, death, garbage). The request must pickle."""
        body = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        worker = self._acquire()
        try:
            answer = worker.call(body, timeout)
        except BaseException:  # its state is unknown now: never reused
            self._discard(worker)
            raise
        self._release(worker)
        return answer

    def _acquire(self) -> _Worker:
        with self._cond:
            if self._pid != os.getpid():  # a forked child: the workers are the parent's
                self._idle, self._busy, self._starting = [], set(), 0
                self._pid = os.getpid()
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        self._busy.add(worker)
                        return worker
                    worker.kill()  # died while idle (e.g. its orphan guard): replace it
                if len(self._busy) + self._starting < self.limit:
                    self._starting += 1
                    break
                self._cond.wait()
        try:
            worker = _Worker()
        finally:
            with self._cond:
                self._starting -= 1
        with self._cond:
            self._busy.add(worker)
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            self._busy.discard(worker)
            if not worker.retired:
                self._idle.append(worker)
                self._cond.notify()
                return
            self._cond.notify()
        worker.kill()

    def _discard(self, worker: _Worker) -> None:
        with self._cond:
            self._busy.discard(worker)
            self._cond.notify()
        worker.kill()

    def shutdown(self) -> None:
        """Kill every worker. A call in progress in another thread fails ("died")."""
        with self._cond:
            if self._pid != os.getpid():
                return
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            for worker in busy:
                worker.retired = True
        for worker in idle:
            worker.kill()
        for worker in busy:  # its caller closes the pipes when it sees the end
            worker.kill(close=False)

    def size(self) -> int:
        with self._cond:
            return len(self._idle) + len(self._busy)


POOL = Pool()
atexit.register(POOL.shutdown)


def call(request: dict[str, Any], timeout: float) -> dict[str, Any]:
    return POOL.call(request, timeout)


def shutdown() -> None:
    POOL.shutdown()
