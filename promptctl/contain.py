"""Containment of user code that runs inside the promptctl process: provider plugins,
assertion types registered by plugins, the built-in checks on hostile input.

Invariants:
- Whatever such code raises, `SystemExit`, `KeyboardInterrupt` and `GeneratorExit`
  included, becomes a recorded error or a failed assertion (`escapes` says what must
  still propagate, `describe` words the rest). Code of the project under test never
  ends the process or picks its exit code.
- A real Ctrl-C (SIGINT to the main thread) still stops the run: `watch_sigint` marks
  the interrupts the signal raises, so a KeyboardInterrupt that user code raised by
  hand is told apart from one the user typed.
- `bounded(fn, args, seconds)` runs fn in the calling thread and, past `seconds`,
  raises an exception inside it (CPython's asynchronous exceptions: this interrupts
  Python code between two bytecodes, not a C call in progress). The exception is
  raised again every `_REFIRE` seconds, so code that swallows it once is stopped all
  the same (code that swallows every one cannot be stopped in a thread: only a process
  can be killed), and it is never left pending once `bounded` returns.

`python` checks do not run here at all: they run in worker processes
(promptctl/assertions/pool.py), which also survive `os._exit` and crashes.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import cut

T = TypeVar("T")

_REFIRE = 0.25  # seconds between two raises in code that swallowed the first


class CheckTimeout(BaseException):
    """Raised inside an in-process check that ran past its time limit."""


# ------------------------------------------------------------------------ interrupts

_sigints = 0
_watching = False


def _on_sigint(signum: int, frame: Any) -> None:
    global _sigints
    _sigints += 1
    raise KeyboardInterrupt


def watch_sigint() -> None:
    """Mark real Ctrl-Cs (main thread only; a handler someone else installed is kept,
    and then only a KeyboardInterrupt on the main thread counts as real)."""
    global _watching
    if _watching or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        signal.signal(signal.SIGINT, _on_sigint)
    except (ValueError, OSError):  # not the main interpreter, or no signals here
        return
    _watching = True


def real_interrupt(exc: BaseException) -> bool:
    """Is this KeyboardInterrupt the user's Ctrl-C (not raised by user code)?"""
    if not isinstance(exc, KeyboardInterrupt):
        return False
    if _watching:
        return _sigints > 0
    return threading.current_thread() is threading.main_thread()


def escapes(exc: BaseException, *, on_loop: bool = False) -> bool:
    """Must this exception propagate out of a call into user code? A real Ctrl-C, a
    check's time limit, and (for a coroutine on the event loop) its cancellation."""
    if isinstance(exc, CheckTimeout) or real_interrupt(exc):
        return True
    if not on_loop:
        return False
    import asyncio  # loaded already, on the loop; kept out of `lint`'s imports

    return isinstance(exc, asyncio.CancelledError)


def describe(exc: BaseException) -> str:
    """What user code did, for a reason or an error, on one line: 'called sys.exit(0)',
    'raised ValueError: bad output' (an exception's text over several lines, such as a
    failed import's, is joined with single spaces)."""
    if isinstance(exc, SystemExit):
        code = "" if exc.code is None else cut(repr(exc.code), 300)
        return f"called sys.exit({code})"
    text = cut(" ".join(str(exc).split()), 300)
    return f"raised {type(exc).__name__}: {text}" if text else \
        f"raised {type(exc).__name__}"



# ------------------------------------------------------------------------ time limits


class _Armed:
    __slots__ = ("deadline", "fired", "tid")

    def __init__(self, tid: int, deadline: float) -> None:
        self.tid = tid
        self.deadline = deadline
        self.fired = False


_lock = threading.Lock()  # _armed, _next_wake, _arms, and firing vs disarming
_wake = threading.Event()  # set when a check's deadline comes before _next_wake
_armed: dict[int, _Armed] = {}  # id -> a check in progress (nested ones too)
_next_wake = float("inf")  # when the watchdog looks next (it sleeps until then)
_arms = 0  # checks armed so far: the watchdog tells a busy process from an idle one
_IDLE = 1.0  # seconds: while checks keep coming, the watchdog looks this often
_watchdog: threading.Thread | None = None


def _raise_in(tid: int, exc: type[BaseException] | None) -> None:
    import ctypes  # only once a limit strikes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid),
                                               ctypes.py_object(exc) if exc else None)


def _watch() -> None:
    """Fires every check past its deadline, then sleeps until the next deadline. When
    none is armed but some were since it last looked (a run making checks one after
    another), it looks again in _IDLE seconds rather than sleeping until woken: a
    check whose deadline is later needs no wake-up, so the checks of a run do not each
    wake it (and it does not wait on the lock they take, which made every check's
    release of it a system call). Idle, it sleeps until a check wakes it."""
    global _next_wake
    seen = -1
    while True:
        _wake.clear()  # before looking: a wake-up from here on is not lost
        with _lock:
            now = time.monotonic()
            for armed in _armed.values():
                if armed.deadline <= now:
                    armed.fired = True
                    armed.deadline = now + _REFIRE
                    _raise_in(armed.tid, CheckTimeout)
            if _armed:
                _next_wake = min(a.deadline for a in _armed.values())
            else:
                _next_wake = now + _IDLE if _arms != seen else float("inf")
            seen = _arms
            timeout = None if _next_wake == float("inf") else _next_wake - now
        _wake.wait(timeout)


def bounded(fn: Callable[..., T], args: tuple[Any, ...], seconds: float
            ) -> tuple[bool, T | None]:
    """(timed_out, fn(*args)): fn runs here; past `seconds` it is interrupted."""
    global _watchdog, _next_wake, _arms
    tid = threading.get_ident()
    armed = _Armed(tid, time.monotonic() + seconds)
    try:
        try:
            with _lock:
                if _watchdog is None:
                    _watchdog = threading.Thread(target=_watch, name="pc-watchdog",
                                                 daemon=True)
                    _watchdog.start()
                _armed[id(armed)] = armed
                _arms += 1
                sooner = armed.deadline < _next_wake
                if sooner:
                    _next_wake = armed.deadline
            if sooner:
                _wake.set()
            value = fn(*args)
        finally:
            enclosing = False  # an enclosing check's limit struck while disarming
            while True:  # disarmed for sure, even if the limit strikes right here
                try:
                    with _lock:
                        _armed.pop(id(armed), None)
                        if armed.fired:  # raised, or still pending: never let it out
                            _raise_in(tid, None)
                    break
                except CheckTimeout:
                    enclosing = enclosing or not armed.fired
                    continue
            if enclosing and not armed.fired:
                raise CheckTimeout  # passed on to the check it was aimed at
    except CheckTimeout:
        if not armed.fired:  # an enclosing check's limit, landed in here: not ours
            raise
        return True, None
    if armed.fired:
        return True, None
    return False, value
