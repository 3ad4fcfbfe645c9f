"""The event loop `loyalty serve` runs on: asyncio's own, with the events' answers collected on its
way instead of each waking it.

An event runs on a thread (threads.py) and its answer goes back to the loop. asyncio's way across
threads, `call_soon_threadsafe`, writes a byte to the loop's self-pipe (a socket pair) for every
call, and the loop reads it back: a `send` on the worker's thread; on the loop's, two `recv` (it
reads until the pipe is empty) and a second turn of the loop (the answer's callback is queued in
the first, the request's task resumes in the next, each turn an `epoll` call). Counted on a server
under load: ~0.95 self-pipe reads a request, even while the loop was awake and busy with other
requests anyway (bench/README.md, "Fewer wake-ups").

`ServiceLoop.hand_back` puts the call on a deque instead, and the loop's selector runs what the
deque holds every time the loop has looked for I/O (without waiting when the deque is not empty),
so that the request's task resumes in the same turn. A loop that is running collects the answers
on its next turn with no syscall at all. The loop is woken only when it sleeps in `epoll` (or is
about to), by an eventfd of its own: one `write` to wake it, one `read` after. The two sides
check each other in opposite orders (the worker: deque, then "asleep?"; the loop: "asleep", then
the deque), so an answer is never left behind: either the loop sees it before it sleeps, or the
worker sees the loop asleep and wakes it. Both are plain Python reads and writes under the
interpreter's lock, which orders them.

Calls handed back run on the loop's thread, in the order they were handed back, inside the
selector's `select`; a future's callbacks they schedule (`call_soon`) run in the same turn. One
that raises is reported to the loop's exception handler, as a callback's error is.

`ServiceLoop.at_turn_end` runs a call once the callbacks of the current turn have run, before the
loop looks for I/O again (`call_soon` would run it in the next turn, after one more `epoll`):
protocol.py sends a response's head and body together with it.

Measured (bench/bench_handoff.py): a hop through `Threads` 29.5 → 21.6 µs of CPU one at a time,
10.5 → 7.9 µs sixteen at a time; on a server, 2 `recvfrom` and ~1 `epoll_wait` fewer a request.

uvicorn builds the loop through its `loop` setting (an import string naming a loop factory:
server.py). Whatever else runs the app (tests with their own loop, `profile_service.py`) keeps
asyncio's loop, and `Threads` falls back to `call_soon_threadsafe` there; so does a system without
eventfd (not Linux), where `LOOP` names asyncio's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

_Call = tuple[Callable[..., None], tuple[Any, ...]]


class _Collecting(selectors.DefaultSelector):
    """The loop's selector, running the calls handed back to the loop around each wait, and woken
    for them by an eventfd of its own (one `write` to wake, one `read` after: asyncio's self-pipe
    is a socket pair, a `send` to wake and two `recv` after)."""

    def __init__(self, failed: Callable[[dict[str, Any]], None], scheduled: Callable[[], bool]) -> None:
        super().__init__()
        self.failed = failed
        """The loop's exception handler, told of a call that raised (none should)."""
        self.scheduled = scheduled
        """Whether the loop has callbacks ready to run."""
        self.handed: deque[_Call] = deque()
        self.ending: list[Callable[[], None]] = []
        """Calls to run when the loop's current turn ends (`ServiceLoop.at_turn_end`)."""
        self.asleep = False
        """True while the loop waits for I/O (or is about to): a call handed back must wake it."""
        self.bell = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.closed = False
        self.lock = threading.Lock()
        """Held to ring the bell and to close it: never a write to a closed (or reused) fd."""
        super().register(self.bell, selectors.EVENT_READ)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ending = self.ending
        if ending:  # the turn that ends here asked for these (`ServiceLoop.at_turn_end`)
            self.ending = []
            for callback in ending:
                self._run(callback, ())
            if self.scheduled():  # they scheduled a callback (a write that failed): no sleeping
                timeout = 0
        handed = self.handed
        if handed:
            timeout = 0
        else:
            self.asleep = True
            if handed:  # handed back between the test above and `asleep`: do not sleep on it
                timeout = 0
        try:
            ready: list[tuple[selectors.SelectorKey, int]] = super().select(timeout)
        finally:
            self.asleep = False
        bell = self.bell
        for index, (key, _) in enumerate(ready):
            if key.fd == bell:
                del ready[index]
                with contextlib.suppress(BlockingIOError):  # already read by an earlier turn
                    os.eventfd_read(bell)
                break
        while handed:
            self._run(*handed.popleft())
        return ready

    def _run(self, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception as error:  # as the loop reports a callback's error, and goes on
            self.failed({"message": f"Exception in the loop's call {callback!r}", "exception": error})

    def ring(self) -> None:
        with self.lock:
            if not self.closed:
                os.eventfd_write(self.bell, 1)

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                super().unregister(self.bell)
                os.close(self.bell)
        super().close()


class ServiceLoop(asyncio.SelectorEventLoop):
    """asyncio's selector event loop with `hand_back` (module docstring)."""

    def __init__(self) -> None:
        self._collecting = _Collecting(self.call_exception_handler, self._has_ready)
        super().__init__(self._collecting)

    def _accept_connection(self, protocol_factory: Any, sock: Any, *args: Any) -> None:
        """asyncio's, accepting one connection a turn rather than up to the listening backlog
        (uvicorn's 2,048): with several workers sharing the listening socket (`--workers N`),
        the worker woken first took every connection of a burst — a client's pool of 64
        keep-alive connections all on one worker (measured: 400 requests of 400, or 251 against
        149, on two workers). One a turn, the workers take them in turn as they are free."""
        if len(args) >= 3:  # sslcontext, server, backlog, …: asyncio passes them by position
            args = (*args[:2], ACCEPTS, *args[3:])
        super()._accept_connection(protocol_factory, sock, *args)  # type: ignore[misc]

    def _has_ready(self) -> bool:
        return bool(self._ready)  # type: ignore[attr-defined]  # asyncio's queue of callbacks to run

    def at_turn_end(self, callback: Callable[[], None]) -> None:
        """`callback()` once the callbacks of this turn of the loop have run, before the loop
        looks for I/O again: from the loop's thread only. (`call_soon` would run it in the next
        turn, which first polls for I/O: one more `epoll` call.)"""
        self._collecting.ending.append(callback)

    def hand_back(self, callback: Callable[..., None], *args: Any) -> None:
        """`callback(*args)` on the loop's thread, soon, from any thread: `call_soon_threadsafe`
        that wakes the loop only if it waits for I/O (module docstring).

        Raises:
            RuntimeError: the loop is closed (as `call_soon_threadsafe` does).
        """
        collecting = self._collecting
        if collecting.closed:
            raise RuntimeError("Event loop is closed")
        collecting.handed.append((callback, args))
        if collecting.asleep:
            collecting.ring()


ACCEPTS = 1
"""Connections a worker's loop accepts a turn (`ServiceLoop._accept_connection`)."""

LOOP = f"{__name__}:{ServiceLoop.__name__}" if hasattr(os, "eventfd") else "asyncio"
"""The loop as uvicorn's `loop` setting names it: a factory it calls in each worker (asyncio's
own where there is no eventfd: not on Linux)."""
