"""The threads that run events for the event loop: a small hand-off of our own.

An event blocks (the store's transaction, a disk flush at commit), so the events shortcut runs it
on a thread and awaits its answer. asyncio's `run_in_executor` does that through a
`ThreadPoolExecutor`: a `concurrent.futures.Future` with its condition and lock, a work item, an
idle semaphore, an asyncio future chained to the first by two callbacks, each crossing threads.
Per request that is most of the hand-off's CPU, on the loop's thread and the worker's, both
holding the interpreter's lock the event needs.

`Threads.run` does the least that is needed: the call goes on a `queue.SimpleQueue` (C, no Python
lock), a waiting worker takes it, runs it in a copy of the caller's context (as
`run_in_executor` callers do with `contextvars.copy_context`, and as Starlette's thread pool does),
and hands the result or the exception back onto an asyncio future: on the service's loop with
`ServiceLoop.hand_back` (loop.py: collected on the loop's way, the loop woken only if it sleeps),
on any other loop with one `loop.call_soon_threadsafe`. Measured: bench/README.md, "Service
benchmark".

Workers start as they are needed, up to `size`, and stay: the store's pools bound how many events
really run at once. `shutdown` lets the calls already queued finish, then the workers end; a call
made after it fails at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from rules_engine.http.loop import ServiceLoop

T = TypeVar("T")

_Call = tuple[
    asyncio.AbstractEventLoop, "asyncio.Future[Any]", contextvars.Context, Callable[..., Any], tuple[Any, ...]
]


class Threads:
    """Up to `size` worker threads taking calls from one queue (module docstring)."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._idle = 0
        """Workers less the calls queued or running (under `_lock`): below 0, calls wait for a
        worker, and a call starts one while there are fewer than `size`."""
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on a worker, in a copy of this context: its result, or its exception
        raised here. Cancelled while it runs, the call still finishes (a thread cannot be
        stopped); its answer is dropped."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the event threads are shut down")
            self._idle -= 1
            start = self._idle < 0 and len(self._workers) < self.size
            if start:
                self._idle += 1
                worker = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._workers)}", daemon=True
                )
                self._workers.append(worker)
                worker.start()
            # queued under the lock: never behind the ends `shutdown` queues, where no worker takes it
            self._calls.put((loop, future, contextvars.copy_context(), function, args))
        return await future

    def _work(self) -> None:
        calls, lock = self._calls, self._lock
        while True:
            call = calls.get()
            if call is None:
                return
            loop, future, context, function, args = call
            del call
            how: Callable[[asyncio.Future[Any], Any], None]
            try:
                how, value = _succeed, context.run(function, *args)
            except BaseException as error:  # handed to the caller, as an executor does
                how, value = _fail, error
            with lock:
                self._idle += 1  # free before the caller hears: its next call need not start a worker
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for the answer
                if isinstance(loop, ServiceLoop):  # collected on its way, woken only if asleep (loop.py)
                    loop.hand_back(how, future, value)
                else:
                    loop.call_soon_threadsafe(how, future, value)
            del loop, future, context, function, args, how, value  # nothing held while waiting

    def shutdown(self, *, wait: bool = True) -> None:
        """No new calls; the queued ones finish, then every worker ends (waited for if `wait`)."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        for _ in workers:
            self._calls.put(None)
        if wait:
            for worker in workers:
                if worker is not threading.current_thread():
                    worker.join()


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(error)
