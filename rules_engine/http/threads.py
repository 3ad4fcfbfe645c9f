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
benchmark". A lane's group whose answers are held until its store has committed (`Lane`'s
`deliver`) goes back in one hand-off, not one per call (`_answer_all`).

Workers start as they are needed, up to `size`, and stay: the store's pools bound how many events
really run at once. `shutdown` lets the calls already queued finish, then the workers end; a call
made after it fails at once.

`Lane` is one thread rather than several, for a store that takes one event at a time anyway
(SQLite: its gate, stores.py), or whose groups lock their customers together (PostgreSQL: one
transaction for the events waiting, stores.py `sorted_locks`): it takes the calls in the order
they came, and those already waiting when it is free, up to `most` of them with the same key
(the program), go to its function together, which answers each as it can (`Reply`) and may take
in those queued since (`More`: the events' function does once it has the store, for which it
may have waited on another worker).
The events shortcut decides such a group in one store transaction (shortcut.py `decide_group`):
one commit, one disk flush for all. One thread also keeps the interpreter's lock out of a tug of
war between several event threads, of which only one could use the store (bench/README.md, "One
event thread").
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from rules_engine.http.loop import ServiceLoop

T = TypeVar("T")
A = TypeVar("A")

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
            how: Callable[[Receiver, Any], None]
            try:
                how, value = _succeed, context.run(function, *args)
            except BaseException as error:  # handed to the caller, as an executor does
                how, value = _fail, error
            with lock:
                self._idle += 1  # free before the caller hears: its next call need not start a worker
            _answer(loop, future, how, value)
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


def _answer(
    loop: asyncio.AbstractEventLoop,
    future: Receiver,
    how: Callable[[Receiver, Any], None],
    value: Any,
) -> None:
    """`how(future, value)` on the caller's loop: collected on the service's loop's way (woken
    only if it sleeps: loop.py), by `call_soon_threadsafe` on any other."""
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for the answer
        if isinstance(loop, ServiceLoop):
            loop.hand_back(how, future, value)
        else:
            loop.call_soon_threadsafe(how, future, value)


def _release(held: list[tuple[int, _Queued, Any]], error: BaseException | Again | None) -> None:
    """A group's answers held by `Lane(deliver=…)`, handed back together (`_answer_all`); with an
    exception `error`, each that was to succeed fails with it instead; with an `Again`, each is
    the answer it gives."""
    answers: list[tuple[_Queued, Any]] = []
    for index, call, value in held:
        if isinstance(error, BaseException):
            if not isinstance(value, BaseException):
                value = error
        elif error is not None:
            try:
                value = error(index, value)
            except Exception as failure:  # handed to the caller, as the lane's function's would be
                value = failure
        answers.append((call, value))
    _answer_all(answers)


def _answer_all(answers: list[tuple[_Queued, Any]]) -> None:
    """Each call's answer (a value, or an exception it raises), in order, handed to its receiver
    on its loop: one hand-back for all of a loop's (`_settle`), not one each — on the service's
    loop one entry on its deque, on any other one `call_soon_threadsafe`. (A group's calls all
    come from one loop but in tests.)"""
    if not answers:
        return
    first = answers[0][0].loop
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Receiver, Any]]]
    if all(call.loop is first for call, _ in answers):
        by_loop = {first: [(call.future, value) for call, value in answers]}
    else:
        by_loop = {}
        for call, value in answers:
            by_loop.setdefault(call.loop, []).append((call.future, value))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for the answers
            if isinstance(loop, ServiceLoop):
                loop.hand_back(_settle, settled)
            else:
                loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[Receiver, Any]]) -> None:
    """`_answer_all`'s answers given to their receivers, on their loop: each as `_succeed` or
    `_fail` gives it alone; one that raises is reported to the loop's exception handler, as a
    callback's error is, and the others are still given."""
    for receiver, value in settled:
        try:
            if not receiver.cancelled():
                if isinstance(value, BaseException):
                    receiver.set_exception(value)
                else:
                    receiver.set_result(value)
        except Exception as error:
            asyncio.get_running_loop().call_exception_handler(
                {"message": f"Exception answering {receiver!r}", "exception": error}
            )


class Receiver(Protocol):
    """What a lane's call is answered to, on its loop (`Lane.submit`): an asyncio future is one
    (`Lane.run` awaits it); the events protocol's request is another (direct_request.py `Direct`), called
    back at once rather than through a future's scheduled callbacks."""

    def cancelled(self) -> bool: ...

    def set_result(self, result: Any, /) -> None: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


def _succeed(future: Receiver, result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


def _fail(future: Receiver, error: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(error)


Reply = Callable[[int, Any], None]
"""How a lane's function answers the `index`th call of its group: with a value, or with an
exception (an instance of `BaseException`), which the caller's `await` raises."""
Again = Callable[[int, Any], Any]
"""What a lane's function may return for `deliver`: the answer the `index`th call of its group
gets instead of the one it held (a value, or an exception), when the group's transaction failed
after the function returned (PostgreSQL's COMMIT left in flight: shortcut.py `decide_group`)."""
Release = Callable[[BaseException | Again | None], None]
"""How `deliver` lets a group's held answers leave: None, as they are; an exception, instead of
each that was to succeed; an `Again`, each as it says."""
More = Callable[[], list[Any]]
"""What a lane's function calls to add to its group the calls of its key queued since the group
was formed (up to `most` in all): their arguments, which follow the group's in `Reply`'s indices;
an empty list when there are none, or when the next queued call has another key."""


@dataclass(slots=True)
class _Queued:
    loop: asyncio.AbstractEventLoop
    future: Receiver
    key: str
    argument: Any
    since: float


_END = None
"""What `Lane.shutdown` queues: the thread ends once it is taken."""


class Lane(Generic[A]):
    """One thread that takes calls in the order they came and hands those waiting together, with
    the same key, to `function` as one group (module docstring).

    Args:
        name: the thread's name.
        function: called on the lane's thread with a key, the arguments of a group's calls (in
            the order they came), `reply`, with which it answers each call once, and `more`, with
            which it may take into the group the calls queued since (once it holds what the group
            needs: the store). A call it leaves unanswered gets the exception it raised, or a
            `RuntimeError`.
        most: the largest group.
        wait: seconds a call may wait in the queue; a call found older when its turn comes is
            answered `late()` instead of being run (as a store's pool answers a request that
            waited too long for a connection).
        late: the exception for such a call.
        clock: where the waits are measured (a test moves its own).
        deliver: when given, a group's answers are held until the function has returned and then
            handed to `deliver(key, release, returned)` (`returned`: what the function returned),
            which calls `release(None)` once they may leave (on any thread), `release(error)` to
            fail instead every call that was to succeed, or `release(again)` (`Again`, which the
            function may return) to answer each call anew: the service's SQLite lane answers a
            group once the database's log is on disk (store/sqlite_sync.py), PostgreSQL's once
            its COMMIT came back (store/postgres_flights.py), while this thread decides the next
            group.
        after: called on the lane's thread once each group is done (its answers handed back or
            held): a service's worker freezes what the group left alive (collector.py
            `after_work`).
    """

    def __init__(
        self,
        name: str,
        function: Callable[[str, Sequence[A], Reply, More], Any],
        *,
        most: int,
        wait: float,
        late: Callable[[], BaseException],
        clock: Callable[[], float] = time.monotonic,
        deliver: Callable[[str, Release, Any], None] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.after = after
        self.deliver = deliver
        self.function = function
        self.most = most
        self.wait = wait
        self.late = late
        self.clock = clock
        self._calls: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._carried: _Queued | None = None
        """The lane thread's: a call taken while gathering a group of another key, the next group's first."""
        self._ending = False
        """The lane thread's: `shutdown`'s end was taken while gathering; the thread ends after this group."""
        self.groups = 0
        """Groups handed to `function` so far (with `calls`: how many calls a group has on average)."""
        self.calls = 0

    async def run(self, key: str, argument: A) -> Any:
        """The answer `function` gives this call (its exception raised here). Cancelled while it
        waits or runs, the call is still made; its answer is dropped."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.submit(loop, key, argument, future)
        return await future

    def submit(self, loop: asyncio.AbstractEventLoop, key: str, argument: A, receiver: Receiver) -> None:
        """`run` without a coroutine or a future: the call queued, its answer handed to
        `receiver` on `loop` (`set_result`, or `set_exception` with what `run` would raise),
        unless `receiver.cancelled()` by then. The events protocol's requests (direct.py) are
        their own receivers: a future's answer scheduled its callback through `call_soon` (a
        handle and a turn's queue) and resumed the request's coroutine, for every request.

        Raises:
            RuntimeError: the lane is shut down (nothing was queued).
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the event lane is shut down")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._calls.put(_Queued(loop, receiver, key, argument, self.clock()))

    def _work(self) -> None:
        while True:
            first = self._carried if self._carried is not None else self._calls.get()
            self._carried = None
            if first is None:
                return
            self._run(first.key, [first, *self._gather(first.key, self.most - 1)])
            del first  # nothing held while waiting
            if self.after is not None:
                self.after()
            if self._ending:
                return

    def _gather(self, key: str, room: int) -> list[_Queued]:
        """Up to `room` calls with this key that are in the queue now, in order; a call with
        another key is kept for the next group (`_carried`), and what follows it stays queued."""
        found: list[_Queued] = []
        calls = self._calls
        while len(found) < room and self._carried is None and not self._ending:
            try:
                call = calls.get_nowait()
            except queue.Empty:
                break
            if call is None:
                self._ending = True
            elif call.key != key:
                self._carried = call  # the next group's first
            else:
                found.append(call)
        return found

    def _run(self, key: str, group: list[_Queued]) -> None:
        taken: list[_Queued] = []
        answered: list[bool] = []

        def admit(calls: list[_Queued]) -> list[A]:
            oldest = self.clock() - self.wait
            admitted = []
            for call in calls:
                if call.since < oldest:
                    _answer(call.loop, call.future, _fail, self.late())
                else:
                    taken.append(call)
                    answered.append(False)
                    admitted.append(call.argument)
            return admitted

        held: list[tuple[int, _Queued, Any]] | None = None if self.deliver is None else []

        def reply(index: int, value: Any) -> None:
            if answered[index]:
                return
            answered[index] = True
            call = taken[index]
            if held is not None:  # handed back by `deliver`'s release
                held.append((index, call, value))
                return
            how = _fail if isinstance(value, BaseException) else _succeed
            _answer(call.loop, call.future, how, value)

        def more() -> list[A]:
            return admit(self._gather(key, self.most - len(taken)))

        arguments = admit(group)
        if not arguments:
            return
        failure: BaseException = RuntimeError("the lane's function gave this call no answer")
        returned = None
        try:
            returned = self.function(key, arguments, reply, more)
        except BaseException as error:  # handed to every call it did not answer, as `Threads` does
            failure = error
        self.groups += 1
        self.calls += len(taken)
        for index in range(len(taken)):
            reply(index, failure)
        if held is not None and self.deliver is not None:
            self.deliver(key, partial(_release, held), returned)

    def shutdown(self, *, wait: bool = True) -> None:
        """No new calls; the queued ones are made, then the thread ends (waited for if `wait`)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._calls.put(_END)
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()
