"""Replaying a stream on several processes, each owning its customers (`loyalty run --workers N`).

The parent reads the stream and sends each line to one of N worker processes by a stable hash of
its customer id (CRC-32 of the UTF-8 id, not Python's `hash`, which is salted per process), so all
of one customer's events go to one worker, in file order, and no two workers ever work on one
customer. A line the parent cannot route (not UTF-8, not JSON, no customer id) goes to a worker by
its line number; the workers read, check, report and apply lines with `replay.replay_numbered`,
exactly as one process does (so every problem reads as it does with one worker).

Each worker has a store connection of its own, its write-behind batches and its cache of the
states it owns, and acknowledges a line once its batch is committed: what to print (the text
`render` made of its outcome), its problems, and what it added to the totals (`replay.Counted`).
The parent puts the acknowledgements back in file order and hands them on: the caller sees what a
one-process replay shows, line for line, and the same totals. A worker whose input runs dry commits
the batch it holds at once (`idle`), so the parent, waiting for the next line in file order, never
waits for a batch that waits for more lines.

Memory stays bounded: the parent sends at most `window` lines ahead of the last one it has handed
on (and at most `_WINDOW_BYTES` of them), so a slow or stalled worker holds the parent back rather
than making it buffer the stream; it holds no state per customer beyond the run's points tally,
which moves to disk as it grows (`tally.CustomerTally`).

What crosses customers is kept as one process has it where the parent can: the horizon (RE441) of a
line is measured from the latest time of the lines before it that it let through, which the parent
gives each line (`_Horizon`, replay_worker.py), not from the store, where other workers' lines are
both missing (not committed yet) and ahead (committed early); and a line that owes a referrer a
reward is delivered once more, as a redelivery, once every line before it is done and the parent
has found the referrer in the store (`_Parent._owed`): its worker gives the reward only then
(`replay_worker._Deferring`), after the referrer's own earlier lines, as one process does (given
before them, dated the purchase's time, it
would make the referrer's clock refuse them: RE440), and only to a referrer a line before made
known, as one process had them (RE607 else: a code is known from its owner's first event's time,
store/base.py `known`, and the parent refuses one whose first event its worker committed early
from a later line, whatever its time). Budgets and stock go to the worker that gets
there first (docs/cli.md).

Stopping: `stop()` (Ctrl-C) stops the parent reading and every worker after the line in progress
(each commits the batch it has taken). A worker's store failure at line F stops the workers from
taking lines from F on, lets them finish the lines before F, and the run ends at F as with one
worker. Either way the caller is told the lines in file order up to the first that is not done:
a worker may have committed a few lines beyond it, which the caller was not told of (as after a
kill between a commit and its acknowledgement); run again, they are reported as processed before.
If the parent is killed, its workers are too (Linux: `PR_SET_PDEATHSIG`; elsewhere they notice
within a second and stop), losing only their uncommitted batches, which nobody was told about.

Workers are started by `fork` on Linux when the calling process runs no other thread (they
inherit the compiled program: milliseconds), else by `spawn`, loading the program again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing
import os
import pickle
import sys
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait
from multiprocessing.context import BaseContext
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import Diagnostic
from rules_engine.replay import OnProblem, Replay
from rules_engine.replay_worker import WorkerSpec, _Said, _work
from rules_engine.store import open_store

_CHUNK = 64
"""Lines the parent sends a worker at a time (fewer when it is about to wait)."""

_WINDOW_BYTES = 64 * 1024 * 1024
"""At most this many bytes of lines sent and not yet handed on (besides the line count)."""

_NO_LIMIT = 2**62


def route(raw: bytes | None, number: int, workers: int) -> int:
    """The worker of a line: by its customer id's CRC-32, or by its number when it has none."""
    return _read(raw, number, workers)[0]


def _read(raw: bytes | None, number: int, workers: int) -> tuple[int, dt.datetime | None, str | None]:
    """A line's worker (`route`), its time, if it has one with an offset, and its customer id."""
    data = None
    if raw is not None:
        try:
            data = json.loads(raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw)
        except (ValueError, RecursionError):
            data = None
    if not isinstance(data, dict):
        return number % workers, None, None
    customer, moment = data.get("customer"), data.get("time")
    if not isinstance(customer, str):
        customer = None
    worker = owner(customer, workers) if customer is not None else number % workers
    if not isinstance(moment, str):
        return worker, None, customer
    try:
        at = dt.datetime.fromisoformat(moment)
    except ValueError:
        return worker, None, customer
    return worker, (at if at.utcoffset() is not None else None), customer


def owner(customer: str, workers: int) -> int:
    """The worker that owns a customer: the same in every run and every process."""
    return zlib.crc32(customer.encode("utf-8", "surrogatepass")) % workers


@dataclass
class _Worker:
    process: Any
    inbox: Any
    answers: Any
    """The parent's end of the pipe the worker answers on."""
    chunk: list[tuple[int, bytes | None, dt.datetime | None, bool]] = field(default_factory=list)
    """Lines to send: (number, bytes, the horizon's reference, whether delivered again)."""
    in_flight: deque[int] = field(default_factory=deque)
    """The numbers of the lines sent and not yet acknowledged, in order."""
    done: bool = False


class Workers:
    """N worker processes for one replay: started on entering (before the caller starts threads
    of its own, such as a progress bar: a fork copies only the calling thread), stopped on exit."""

    def __init__(self, spec: WorkerSpec, count: int, engine: Engine) -> None:
        self.spec = spec
        self.count = count
        self.engine = engine
        self.workers: list[_Worker] = []
        self.context: BaseContext | None = None

    def __enter__(self) -> Workers:
        forking = sys.platform == "linux" and threading.active_count() == 1
        context = multiprocessing.get_context("fork" if forking else "spawn")
        self.context = context
        self.limit = context.Value("q", _NO_LIMIT, lock=False)
        for stream in (sys.stdout, sys.stderr):  # a child flushes them as it ends: not the parent's text
            with contextlib.suppress(Exception):
                stream.flush()
        parent = os.getpid()
        inherited = self.engine if forking else None
        for index in range(self.count):
            inbox = context.Queue()
            answers, outbox = context.Pipe(duplex=False)
            process = context.Process(  # type: ignore[attr-defined]
                target=_work,
                args=(self.spec, inherited, index, inbox, outbox, self.limit, parent),
                name=f"loyalty-run-worker-{index}",
                daemon=True,
            )
            process.start()
            outbox.close()  # the worker's alone: its end closes when it ends (EOF here)
            self.workers.append(_Worker(process, inbox, answers))
        return self

    def __exit__(self, *exc: object) -> None:
        clean = exc[0] is None
        for worker in self.workers:
            # lines a worker stopped before (a stop, a failure) need not reach it: no waiting for them
            worker.inbox.cancel_join_thread()
            if not clean and worker.process.is_alive():
                worker.process.terminate()  # its open batch rolls back
            worker.process.join(None if clean else 5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.inbox.close()
            worker.answers.close()

    def replay(
        self,
        numbered: Iterable[tuple[int, bytes | None]],
        *,
        into: Replay,
        on_text: Callable[[str], None] | None,
        on_problem: OnProblem,
        on_line: Callable[[int], None] | None,
        stop: Callable[[], bool] | None,
    ) -> Replay:
        """Replay the lines on the workers; the caller is told in file order (module docstring)."""
        parent = _Parent(self, into, on_text, on_problem, on_line, stop)
        try:
            return parent.run(numbered)
        finally:
            if parent.store is not None:
                parent.store.close()


class _Parent:
    """The parent's side of one replay: sending lines, putting acknowledgements back in order."""

    def __init__(
        self,
        pool: Workers,
        result: Replay,
        on_text: Callable[[str], None] | None,
        on_problem: OnProblem,
        on_line: Callable[[int], None] | None,
        stop: Callable[[], bool] | None,
    ) -> None:
        self.pool = pool
        self.workers = pool.workers
        self.result = result
        self.on_text = on_text
        self.on_problem = on_problem
        self.on_line = on_line
        self.stop = stop
        self.window = max(2 * pool.spec.batch * pool.count, 256)
        self.next = 1
        """The next line to hand on."""
        self.sent = 0
        """The last line sent."""
        self.held: dict[int, _Said] = {}
        """Lines acknowledged out of order, until those before them are handed on."""
        self.lines: dict[int, tuple[bytes | None, dt.datetime | None, str | None]] = {}
        """The lines sent and not yet handed on (with their horizon's reference and customer id),
        to deliver one again (`_again`) and to tell who a line's referrer's code became known
        from (`_owed`)."""
        self.again: dict[int, _Said] = {}
        """Lines delivered again, by number: their first acknowledgement."""
        self.referrers: dict[int, tuple[str, int]] = {}
        """Lines owing a reward whose referrer the parent found: (the referrer, the last line sent
        when it looked)."""
        self.store: Any = None
        """The parent's own connection to the store, to look referrers up (`_owed`), once needed."""
        self.customers: dict[str, deque[int]] = {}
        """The numbers of the lines in `lines`, by customer id (`_owed` looks for a referrer's)."""
        self.bytes = 0
        self.failure: tuple[int, Diagnostic] | None = None
        self.interrupted = False
        spec = pool.spec
        self.guarded = spec.guarded
        self.horizon: dt.timedelta | None = spec.horizon
        self.latest: dt.datetime | None = spec.latest
        """The horizon's reference for the next line: the latest time of the events before it
        that the horizon let through (`replay_worker._Horizon`)."""

    def run(self, numbered: Iterable[tuple[int, bytes | None]]) -> Replay:
        count = self.pool.count
        try:
            for number, raw in numbered:
                if self.stop is not None and self.stop():
                    self.interrupted = True
                    break
                if self.failure is not None:
                    break
                index, at, customer = _read(raw, number, count)
                worker = self.workers[index]
                size = 0 if raw is None else len(raw)
                worker.chunk.append((number, raw, self.latest, False))
                self.lines[number] = (raw, self.latest, customer)
                if customer is not None:
                    numbers = self.customers.get(customer)
                    if numbers is None:
                        self.customers[customer] = numbers = deque()
                    numbers.append(number)
                if self.guarded and at is not None:
                    self._passes(at)
                worker.in_flight.append(number)
                self.bytes += size
                self.sent = number
                if len(worker.chunk) >= _CHUNK:
                    self._send(worker)
                self._receive(block=False)
                while self.sent - self.next + 1 >= self.window or self.bytes > _WINDOW_BYTES:
                    self._send_all()
                    self._receive(block=True)
                    if self.failure is not None or (self.stop is not None and self.stop()):
                        break
        finally:
            if self.interrupted:
                self.pool.limit.value = 0
            self._send_all()
        # every line handed on before the workers are told the lines have ended: one may yet be
        # delivered again
        while self.next <= self.sent and self.failure is None and not self.interrupted:
            if self.stop is not None and self.stop():
                self.interrupted = True
                self.pool.limit.value = 0
                break
            self._receive(block=True)
        for worker in self.workers:
            worker.inbox.put(None)
        while not all(worker.done for worker in self.workers):
            if not self.interrupted and self.stop is not None and self.stop():
                self.interrupted = True
                self.pool.limit.value = 0
            self._receive(block=True)
        self._hand_on()
        result = self.result
        if self.failure is not None:
            result.line = min(self.failure[0], self.next)
            result.failure = self.failure[1]
            result.stopped = "failed"
        elif self.interrupted:
            result.stopped = "interrupted"
        return result

    def _passes(self, at: dt.datetime) -> None:
        """The horizon's reference moves on to an event's time if the horizon lets it through."""
        latest, horizon = self.latest, self.horizon
        assert horizon is not None
        if latest is None or latest < at <= latest + horizon:
            self.latest = at

    def _send(self, worker: _Worker) -> None:
        if worker.chunk:
            worker.inbox.put(worker.chunk)
            worker.chunk = []

    def _send_all(self) -> None:
        for worker in self.workers:
            self._send(worker)

    def _receive(self, *, block: bool) -> None:
        """Take the workers' messages: all there are now, or (`block`) at least one."""
        while True:
            live: dict[Any, int] = {w.answers: i for i, w in enumerate(self.workers) if not w.done}
            if not live:
                return
            ready: list[Any] = wait(list(live), timeout=None if block else 0)
            if not ready:
                return
            for answers in ready:
                index = live[answers]
                try:
                    message = answers.recv()
                except (EOFError, OSError, pickle.UnpicklingError):
                    self._ended(index)
                    continue
                self._take(message)
            block = False

    def _ended(self, index: int) -> None:
        """A worker that ended without saying so (killed, out of memory) fails the run at the first
        line it had not acknowledged."""
        worker = self.workers[index]
        worker.done = True
        worker.process.join(5)
        code = worker.process.exitcode
        self._failed(index, f"worker {index} ended unexpectedly (exit status {code})")

    def _take(self, message: tuple[Any, ...]) -> None:
        kind, index = message[0], message[1]
        worker = self.workers[index]
        if kind == "said":
            for said in message[2]:
                number = said.counted.number
                while worker.in_flight and worker.in_flight[0] < number:  # taken by no batch: after a stop
                    worker.in_flight.popleft()
                if worker.in_flight and worker.in_flight[0] == number:
                    worker.in_flight.popleft()
                first = self.again.pop(number, None)
                said = replace(said, worker=index) if first is None else first.with_referrer(said)
                self.held[number] = said
            self._hand_on()
        elif kind == "done":
            worker.done = True
            failure: tuple[int | None, Diagnostic] | None = message[2]
            if failure is not None:
                at, diagnostic = failure
                self._fail_at(self._where(worker, at), diagnostic)
        elif kind == "crashed":
            worker.done = True
            self._failed(index, message[2])

    def _where(self, worker: _Worker, at: int | None) -> int:
        """Where a worker's failure stops the run: at its line, or (None: the worker failed before
        any line, or died) at the first line it had not acknowledged."""
        if at is not None:
            return at
        return worker.in_flight[0] if worker.in_flight else self.sent + 1

    def _failed(self, index: int, what: str) -> None:
        line = self._where(self.workers[index], None)
        self._fail_at(
            line,
            Diagnostic(
                "RE462",
                f"line {line}: {what}; the run stopped here, every line before it done",
                hint="run the same file again: events already applied are skipped, the rest applied once",
            ),
        )

    def _fail_at(self, line: int, diagnostic: Diagnostic) -> None:
        """The run ends at `line`: no worker takes it or a later one."""
        if self.failure is None or line < self.failure[0]:
            self.failure = (line, diagnostic)
            self.pool.limit.value = min(self.pool.limit.value, line)

    def _hand_on(self) -> None:
        """Tell the caller every line acknowledged, in file order, up to the first that is not."""
        while True:
            number = self.next
            said = self.held.get(number)
            if said is None:
                return
            if said.unknown_referrer and not said.settled:
                said = self._owed(said)
                if said is None:
                    return
            del self.held[number]
            self.referrers.pop(number, None)
            self._tell(said)
            raw, _, customer = self.lines.pop(number, (None, None, None))
            self.bytes -= 0 if raw is None else len(raw)
            if customer is not None:
                numbers = self.customers[customer]
                numbers.popleft()
                if not numbers:
                    del self.customers[customer]
            self.next = number + 1

    def _owed(self, said: _Said) -> _Said | None:
        """A line that owes a referrer a reward its worker did not give (deferred, or the referrer
        not known), now that every line before it is done: the line settled, or None while it
        waits for the reward (a redelivery, `_again`) or for the referrer's later lines.

        One process gives the reward if a line before this one made the referrer's code known (and
        their first event is earlier than the purchase: the store's `known`). The store holds all
        of those now, and also lines other workers committed early, up to the last line sent; so
        the referrer found counts only if none of their lines after this one, up to that, was their
        first event (`_Said.created`), which is waited for. Looked up here, not by the worker: in
        an optimistic group a code found unknown is checked again at the commit, which another
        worker's new customer would fail, and the whole group be done again."""
        number = said.counted.number
        found = self.referrers.get(number)
        if found is None:
            if said.owes is None:  # a worker that noted nothing: a program without referrals
                return replace(said, settled=True)
            code, at = said.owes
            if self.store is None:
                spec = self.pool.spec
                self.store = open_store(spec.db, self.pool.engine.program.program, readonly=True)
            referrer = self.store.referrer(code, at)
            if referrer is None:
                return replace(said, settled=True)  # RE607, as one process
            found = self.referrers[number] = (referrer, self.sent)
        referrer, sent = found
        later = [self.held.get(n) for n in self.customers.get(referrer, ()) if number < n <= sent]
        if None in later:
            return None
        if any(line.created for line in later if line is not None):
            return replace(said, settled=True)  # known from a later line: one process warned
        self._again(said)
        return None

    def _again(self, said: _Said) -> None:
        """The line goes again to its worker, a redelivery that gives the reward owed (service.py)
        once; its acknowledgement completes the first (`with_referrer`)."""
        number = said.counted.number
        del self.held[number]
        self.again[number] = said
        worker = self.workers[said.worker]
        raw, reference, _ = self.lines[number]
        worker.in_flight.appendleft(number)
        worker.inbox.put([(number, raw, reference, True)])

    def _tell(self, said: _Said) -> None:
        for item in said.told:
            if isinstance(item, Diagnostic):
                self.on_problem(item)
            elif self.on_text is not None:
                self.on_text(item)
        result = self.result
        result.add(said.counted)
        result.line = said.counted.number
        result.points.commit()
        if self.on_line is not None:
            self.on_line(said.counted.number)
