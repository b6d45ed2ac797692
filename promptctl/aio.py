"""The event loop of the hosted engine: one per process, in a daemon thread.

Hosted providers (`Provider.is_async`) do their I/O as coroutines on this loop: the
runner schedules one coroutine per call slot on it, and every synchronous caller (a
judge or an embedding asked for while scoring, `promptctl models`, a plugin) goes
through `run()`, which blocks its own thread, never the loop. One loop means one HTTP
connection pool and one rate limiter per provider, whoever is calling.

The loop is started on first use, re-made in a forked child, and shut down at exit
(its clients closed, its tasks cancelled) so that no warning leaks at the end.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .contain import describe
from .errors import InfraError

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pid = 0
_closers: dict[int, Callable[[], Awaitable[Any]]] = {}
_next_closer = 0


def loop() -> asyncio.AbstractEventLoop:
    """The running engine loop (started now if it is not)."""
    global _loop, _thread, _pid
    with _lock:
        if _loop is None or _pid != os.getpid() or not _loop.is_running():
            new = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(target=_serve, args=(new, ready), daemon=True,
                                      name="promptctl-aio")
            thread.start()
            ready.wait()
            if _pid != os.getpid():
                _closers.clear()  # a forked child's clients belong to its parent's loop
                atexit.register(shutdown)
            _loop, _thread, _pid = new, thread, os.getpid()
        return _loop


def _serve(new: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(new)
    new.call_soon(ready.set)
    try:
        new.run_forever()
    finally:
        new.close()


def on_loop() -> bool:
    """Is the caller running on the engine loop's thread?"""
    return _thread is not None and threading.current_thread() is _thread


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule a coroutine on the engine loop from any other thread."""
    return asyncio.run_coroutine_threadsafe(_contained(coro), loop())


async def _contained(coro: Coroutine[Any, Any, T]) -> T:
    """A SystemExit or KeyboardInterrupt out of a coroutine (a plugin's acomplete) would
    stop the loop itself (asyncio re-raises them out of run_forever): it reaches the
    caller as an error instead, and the loop goes on serving everyone else."""
    try:
        return await coro
    except (SystemExit, KeyboardInterrupt) as exc:
        raise InfraError(f"a coroutine on the event loop {describe(exc)}") from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the engine loop and wait for its value (in this thread).

    Called on the loop's own thread it would wait for itself forever: that is a bug in
    the caller (a check that blocks must run in a worker thread), so it raises."""
    if on_loop():
        coro.close()
        raise RuntimeError("a blocking model call on the event loop's thread: "
                           "run the caller in a worker thread")
    future = submit(coro)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # Ctrl-C while waiting: the coroutine is cancelled too
        raise


def call_soon(fn: Callable[[], Any]) -> None:
    """Run fn on the loop's thread (at once when already there)."""
    if on_loop():
        fn()
    elif _loop is not None and _loop.is_running() and _pid == os.getpid():
        _loop.call_soon_threadsafe(fn)


def on_shutdown(closer: Callable[[], Awaitable[Any]]) -> int:
    """closer() is awaited on the loop when the process exits (an HTTP client's close),
    unless `forget` is given the number this returns."""
    global _next_closer
    with _lock:
        _next_closer += 1
        _closers[_next_closer] = closer
        return _next_closer


def forget(handle: int) -> Callable[[], Awaitable[Any]] | None:
    """Take a closer back from `on_shutdown` (its owner closes itself); returns it."""
    with _lock:
        return _closers.pop(handle, None)


def shutdown(timeout: float = 5.0) -> None:
    """Close what registered itself, cancel what still runs, stop the loop."""
    global _loop
    with _lock:
        current, _loop = _loop, None
    if current is None or not current.is_running() or _pid != os.getpid():
        return
    with _lock:
        closers = list(_closers.values())
        _closers.clear()

    async def close_all() -> None:
        for closer in closers:
            with contextlib.suppress(Exception):  # best effort at exit
                await closer()
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    with contextlib.suppress(Exception):  # best effort at exit
        asyncio.run_coroutine_threadsafe(close_all(), current).result(timeout)
    current.call_soon_threadsafe(current.stop)
    if _thread is not None:
        _thread.join(timeout)
