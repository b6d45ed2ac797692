"""The engine that keeps calls in flight: one lane per model.

- A synchronous provider (the in-process llama.cpp model, echo, most plugins) gets
  `width` worker threads; the local model has width 1, so it runs one call at a time
  in its own worker while hosted calls proceed.
- An asynchronous provider (`Provider.is_async`: the openai provider) gets `width`
  coroutines on the engine's event loop (promptctl.aio), each taking the next call of
  its lane when its last one is done. Thousands of calls cost `width` tasks, not
  thousands of threads, and the provider's adaptive limiter and retry waits are plain
  awaits.

Workers pull calls from their lane, so at most `width` calls per lane are in progress
and nothing is queued ahead of them. Finished records come back to the thread that
called `wait()`, in the order they finish, a batch at a time: that thread (the
runner's) is the only one that writes records and reports progress.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from .. import aio, contain
from ..errors import InfraError

C = TypeVar("C")
R = TypeVar("R")

_DONE = object()  # an end marker in the result queue: a worker thread or a lane is done


class Engine:
    def __init__(self) -> None:
        self._results: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._futures: list[concurrent.futures.Future[None]] = []
        self._ends = 0  # end markers wait() still expects

    def add_threads(self, calls: Sequence[C], width: int,
                    execute: Callable[[C], R]) -> None:
        """A lane of `width` worker threads calling execute(call)."""
        lane = _Lane(calls)
        workers = max(1, min(width, len(calls)))
        self._ends += workers  # each worker thread says when it is done

        def work() -> None:
            try:
                for call in lane.pulled(self._stop):
                    self._results.put(execute(call))
            except BaseException as exc:  # handed to the waiting thread
                self._results.put(_Failed(exc))
            finally:
                self._results.put(_DONE)

        for i in range(workers):
            thread = threading.Thread(target=work, name=f"pc-worker-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def add_async(self, calls: Sequence[C], width: int,
                  aexecute: Callable[[C], Awaitable[R]]) -> None:
        """A lane of `width` coroutines on the engine loop awaiting aexecute(call)."""
        lane = _Lane(calls)
        self._ends += 1  # the lane's driver says when all its coroutines are done
        workers = max(1, min(width, len(calls)))

        async def work() -> None:
            for call in lane.pulled(self._stop):
                self._results.put(await aexecute(call))

        async def drive() -> None:
            try:
                tasks = [asyncio.ensure_future(work()) for _ in range(workers)]
                try:
                    await asyncio.gather(*tasks)
                except BaseException:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise
            except asyncio.CancelledError:
                pass  # abort(): the waiting thread has stopped listening
            except BaseException as exc:  # handed to the waiting thread
                self._results.put(_Failed(exc))
            finally:
                self._results.put(_DONE)

        self._futures.append(aio.submit(drive()))

    def wait(self, finish: Callable[[Any], None],
             after_batch: Callable[[], None] | None = None) -> None:
        """Hand every record to finish() as it comes; after_batch() after each run of
        records that were waiting together (e.g. one flush for them). Raises what a
        worker raised (a bug: failed calls are records, not exceptions)."""
        ends = self._ends
        while ends:
            batch = [self._results.get()]
            while True:
                try:
                    batch.append(self._results.get_nowait())
                except queue.Empty:
                    break
            for item in batch:
                if item is _DONE:
                    ends -= 1
                elif isinstance(item, _Failed):
                    raise _stray(item.error)
                else:
                    finish(item)
            if after_batch is not None:
                after_batch()
        for thread in self._threads:
            thread.join()

    def abort(self) -> None:
        """Stop taking calls, cancel the coroutines in flight, wait for the threads
        (a local model's call cannot be interrupted; it ends, and is dropped)."""
        self._stop.set()
        for future in self._futures:
            future.cancel()
        for thread in self._threads:
            thread.join()


class _Lane:
    """The calls of one model, handed out one at a time to its workers."""

    def __init__(self, calls: Sequence[Any]) -> None:
        self._calls = iter(calls)
        self._lock = threading.Lock()

    def pulled(self, stop: threading.Event) -> Iterator[Any]:
        while not stop.is_set():
            with self._lock:
                call = next(self._calls, _DONE)
            if call is _DONE:
                return
            yield call


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _stray(error: BaseException) -> BaseException:
    """What a worker raised, as the waiting thread raises it. A SystemExit or a
    KeyboardInterrupt from a worker thread or the loop is never the user's Ctrl-C
    (signals reach the main thread only) nor promptctl's own exit: raised as is it would
    end the process with the exit code user code chose, so it is an error instead."""
    if isinstance(error, Exception) or contain.escapes(error):
        return error
    return InfraError(f"a call stopped its worker: it {contain.describe(error)}")
