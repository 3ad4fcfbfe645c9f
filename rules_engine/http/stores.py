"""Store connections shared by a worker's request threads.

A store object is used by one thread at a time (store/base.py), and requests run on a pool of
threads: each request borrows a connection of its program's pool and gives it back. A pool opens
connections as they are needed, up to its size, and a request waits for one when all are busy.

Sizes: PostgreSQL 4 per program and worker (rows are locked per customer, so connections work in
parallel); SQLite 1 (its writers take the whole database's lock in turn, and waiting in a queue
here is fairer and faster than SQLite's own retry loop); memory 1 (one store, held in the
process). A connection whose database failed (RE605) is closed rather than given back, so a
broken connection is replaced by a new one on the next request.

A request that waits gets the first connection given back, in the order the requests came
(`_Pool`): a connection given back goes straight to the longest waiter. With a plain queue, the
thread that gave a connection back (and then took the next request) or a request arriving just
then took it first far more often than the waiters, woken but not yet running, so some requests
waited round after round: under 64 requests at once, the slowest of them waited several times
as long as the median (bench/README.md, "Service benchmark").

API keys belong to the database, not to a program: `keys()` borrows from a pool of its own.

SQLite across workers (`loyalty serve --workers N`): the pools ordered one process's requests,
and SQLite's write lock ordered the processes, through its busy handler, which sleeps and tries
again (1, 2, 5 … up to 100 ms between tries) and keeps no order. While one worker slept, the
other took the lock again and again: at 64 requests at once a few requests waited close to a second
(p99 0.5–1 s against 0.2 s with one worker) and some purchases were overtaken by the customer's
next one (422 RE440). So a borrowed SQLite connection also holds the database's gate (`_Gate`):
an exclusive `flock` on a file beside the database (`<database>-serve.lock`), which the kernel
hands to a waiting worker as soon as it is let go — no sleeping, no polling. Inside a process the
gate is taken first, before the connection, one thread at a time in the order they asked (the
pools' order, first come first served); it is let go, and the file's lock with it, after every
borrow, so two workers take turns. All of a database's pools share it (the keys' and every
program's): their connections no longer meet in SQLite's retry loop either. Reads take it too
(an API key's, `/readyz`'s): a read is short, and waits its turn behind the events ahead of it.

With the gate held for a whole borrow, the workers' engines took turns too: only one worker
decided events at a time, and two workers on two cores used one. So with several workers
(`Settings.speculate`) the events lane decides a group outside the gate, on a connection of its
own (`lane_store`: not pooled, used by the lane's one thread only) whose groups are optimistic
(store/sql_writing.py): they read without the write lock — SQLite's WAL readers take none — and
take the gate (`enter_gate`) only to check that nothing they read has changed and write
(routes/events.py, `decide_together`). The lane's connection never waits for a pooled one, and a
thread holding a pooled one holds the gate first, as before: nobody waits for a connection while
holding what another needs.

PostgreSQL's workers group their events too (`groups`, `sorted_locks`): the events lane decides
each group on its own connection, optimistically — the customers' revisions and events read
without a lock — then, right before writing, locks the group's customers in sorted order
(store/postgres.py `_lock_customers`), checks their revisions and the referral codes it found
missing, writes and commits once. Every lock a group takes is taken there, in that one order,
and an event alone locks one customer: two workers never wait for each other in a circle. A group
whose customers changed meanwhile (another worker's event, the same event delivered to both) is
decided again once, optimistically; changed again, or a group that would take other locks (a
budget, stock, a bulk code: they lock as they read), its events are decided one at a time on
the pool's connections, each in its own transaction, as before. The lane does not wait for a
group's COMMIT (`behind`): it sends it and decides the next group on a second connection of its
own, the group's answers handed back once the COMMIT came back (store/postgres_flights.py,
http/app.py `_deliver`): a worker holds up to 4 pooled connections a program, 2 for its lane.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rules_engine.errors import StoreError, TransientError
from rules_engine.http.problems import FAILURES, ServiceError
from rules_engine.store import Store, open_store, sqlite_path
from rules_engine.store.sqlite_sync import LogSync

log = logging.getLogger("rules_engine.http")

_KEYS = ""
"""The pool whose store serves API keys (a store opened for no program)."""


SERVICE_CACHE = 4_096
"""Customers a service's store object holds between events (store/cache.py) unless the URL says
`?cache=N`: 16 times the default 256, within the same budget of list elements (`SERVICE_ELEMENTS`),
so the memory a store object may hold is bounded as before (~600 MB at the very worst) while a
service whose customers are small holds many more of them. The 256 a store object held did not
cover the customers of the last 300 events: in the service benchmark (1,200 purchases of 300
customers, each back 300 requests later) every event but a customer's first read the state again
(`SqlWriting._load`, ~75 µs a request of the lane's ~700 at concurrency 64: bench/README.md)."""

SERVICE_ELEMENTS = 256_000
"""The list elements a service's store object holds in all: the default cache's (256 × 1,000)."""

GATE_SUFFIX = "-serve.lock"
"""The gate's file: beside the database, its name and this suffix (module docstring)."""


class _Turn:
    """A thread waiting for the gate: handed it (`ready` set, the thread made its owner)."""

    __slots__ = ("ready", "thread")

    def __init__(self, thread: int) -> None:
        self.thread = thread
        self.ready = threading.Event()


class _Gate:
    """The right to use an SQLite database: one thread of one worker process at a time (module
    docstring). In the process, the threads get it in the order they asked (as the pools' waiters
    do); between processes, the kernel hands the file's lock to the waiting worker as soon as it
    is let go. Reentrant: a thread that holds it and borrows again (the keys' pool inside a
    program's) goes through. Taken before a connection, so a thread that holds a connection
    always holds the gate: nobody holds one connection while waiting for another."""

    def __init__(self, database: str) -> None:
        self.path = database + GATE_SUFFIX
        self._lock = threading.Lock()
        self._owner: int | None = None
        """The thread that holds the gate in this process (`threading.get_ident`)."""
        self._depth = 0
        self._waiting: deque[_Turn] = deque()
        self._file: int | None = None

    def enter(self, wait: float) -> None:
        """Hold the gate; RE810 after `wait` seconds in line behind this process's threads."""
        me = threading.get_ident()
        with self._lock:
            if self._owner == me:
                self._depth += 1
                return
            turn = None
            if self._owner is None and not self._waiting:
                self._owner, self._depth = me, 1
            else:
                turn = _Turn(me)
                self._waiting.append(turn)
        if turn is not None and not turn.ready.wait(wait):
            with self._lock:
                if not turn.ready.is_set():  # nothing came: leave the line
                    self._waiting.remove(turn)
                    raise _busy(wait)
        try:
            if self._file is None:
                self._file = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._file, fcntl.LOCK_EX)  # another worker's turn: waits without the GIL
        except BaseException:
            self._hand_over()
            raise

    def leave(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth:
                return
        assert self._file is not None
        fcntl.flock(self._file, fcntl.LOCK_UN)  # a worker waiting for it is woken now
        self._hand_over()

    def _hand_over(self) -> None:
        """To this process's longest waiter, who takes the file's lock in turn, or to nobody."""
        with self._lock:
            if self._waiting:
                turn = self._waiting.popleft()
                self._owner, self._depth = turn.thread, 1
                turn.ready.set()
            else:
                self._owner, self._depth = None, 0

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self._owner is None:
                os.close(self._file)
                self._file = None


def _busy(wait: float) -> ServiceError:
    return ServiceError(
        "RE810",
        f"every connection to the store was busy for {wait:g} s",
        hint="retry; more workers (PostgreSQL) share the load",
        headers={"Retry-After": "1"},
    )


class _Waiter:
    """A request waiting for a connection: handed one (`store`), or the right to open one."""

    __slots__ = ("open", "ready", "store")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.store: Store | None = None
        self.open = False


@dataclass
class _Pool:
    """One program's connections: the idle ones (the last given back first: its pages are warm),
    and the requests waiting, first come first served. Guarded by `Stores._lock`."""

    size: int
    idle: list[Store] = field(default_factory=list)
    waiting: deque[_Waiter] = field(default_factory=deque)
    opened: int = 0


@dataclass
class Stores:
    """Pools of store connections by program; see the module docstring."""

    url: str
    size: int | None = None
    """Connections per program; None: by the kind of store (module docstring)."""
    wait: float = 30.0
    """Seconds a request waits for a connection before it is answered 503."""
    _pools: dict[str, _Pool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gate: _Gate | None = None
    """SQLite's gate across workers (module docstring); None for other stores."""
    _lanes: dict[str, Store] = field(default_factory=dict)
    """The events lane's own connections, by program (`lane_store`)."""
    _postgres: bool = field(default=False, init=False)
    behind: bool = True
    """PostgreSQL: the events lane leaves each group's COMMIT in flight on one of its two
    connections while it decides the next group on the other, and hands the group's answers back
    once the COMMIT came back (`after_commit`, store/postgres_flights.py). False: it waits for
    each COMMIT (one connection), as it did until 2026-12-06. Nothing for other stores."""
    log_sync: LogSync | None = field(default=None, init=False)
    """Syncs SQLite's log behind the events lane's commits (store/sqlite_sync.py, http/app.py
    `_deliver`); None for other stores, and for `?synchronous=normal` (no sync asked for)."""

    def __post_init__(self) -> None:
        self._postgres = self.url.startswith(("postgresql://", "postgres://"))
        self.behind = self.behind and self._postgres
        if self.size is None:
            self.size = 4 if self._postgres else 1
        database = sqlite_path(self.url)
        if database is not None:
            self._gate = _Gate(database)
            if "synchronous=normal" not in self.url:
                self.log_sync = LogSync(database)

    @property
    def serial(self) -> bool:
        """The events shortcut decides on one thread (threads.py `Lane`): the store takes one event
        at a time in this worker — SQLite (its gate), a pool of one connection (the memory store)
        — or stores the events waiting together in one transaction (`groups`: PostgreSQL too)."""
        return self._gate is not None or self.size == 1 or self._postgres

    @property
    def groups(self) -> bool:
        """Several events waiting are stored in one transaction (`Store.group`: one commit, one disk
        flush) rather than one each: SQLite, whose writers take the database in turn anyway, and
        PostgreSQL, whose groups are all optimistic (`sorted_locks`). (The memory store has
        nothing to commit.)"""
        return self._gate is not None or self._postgres

    @property
    def sorted_locks(self) -> bool:
        """PostgreSQL: a group is only ever decided optimistically on the lane's connection, its
        customers' rows locked in sorted order right before it writes (module docstring); what
        such a group cannot be, an event at a time. A group that locked rows as it went (as SQLite's
        under the gate does) would hold one customer's row while waiting for another's, which another
        worker's group may hold while waiting for the first: a deadlock."""
        return self._postgres

    def late(self) -> ServiceError:
        """RE810 for a request that waited `wait` seconds for its turn (as for a connection)."""
        return _busy(self.wait)

    def lane_store(self, program: str) -> Store:
        """The events lane's own connection to the program's store (module docstring): opened on
        first use, kept until `drop_lane_store` or `close`; used by the lane's one thread only,
        outside the gate but for what `enter_gate` covers."""
        store = self._lanes.get(program)
        if store is None:
            store = self._lanes[program] = _open(self.url, program)
            if self.behind:
                from rules_engine.store.postgres import PostgresStore

                if isinstance(store, PostgresStore):
                    store.commit_behind()
        return store

    def after_commit(self, program: str, landed: Callable[[StoreError | None], None]) -> None:
        """`landed(None)` once the lane's last group of the program committed (PostgreSQL with
        `behind`: its COMMIT in flight while the lane went on, store/postgres_flights.py),
        `landed(error)` when that COMMIT failed (nothing of it stored); at once when nothing is
        in flight."""
        store = self._lanes.get(program)
        after = getattr(store, "after", None)
        if after is None:
            landed(None)
        else:
            after(landed)

    def drop_lane_store(self, program: str) -> None:
        """Close the lane's connection after a failure that may have broken it (RE605): the next
        group opens a new one."""
        store = self._lanes.pop(program, None)
        if store is not None:
            try:
                store.close()
            except Exception:  # a broken connection may fail to close; it is dropped anyway
                log.warning("a failed store connection could not be closed", exc_info=True)

    def enter_gate(self) -> None:
        """Hold SQLite's gate across workers (module docstring) until `leave_gate`: in this
        process's line, first come first served; RE810 after `wait` seconds. Nothing for other
        stores."""
        if self._gate is not None:
            self._gate.enter(self.wait)

    def leave_gate(self) -> None:
        if self._gate is not None:
            self._gate.leave()

    def borrow(self, program: str) -> _Borrowed:
        """A connection to the program's store, for the length of the `with` block. (A class
        rather than a generator: a request borrows once, and `contextmanager`'s generator cost
        several microseconds of the loop-free path.)"""
        return _Borrowed(self, program)

    @contextmanager
    def keys(self) -> Iterator[Store]:
        """A connection for reading and writing API keys."""
        with self.borrow(_KEYS) as store:
            yield store

    def _pool(self, program: str) -> _Pool:
        pool = self._pools.get(program)  # a dict read is atomic: the lock only to add one
        if pool is not None:
            return pool
        with self._lock:
            pool = self._pools.get(program)
            if pool is None:
                assert self.size is not None
                pool = self._pools[program] = _Pool(self.size)
            return pool

    def _take(self, pool: _Pool, program: str) -> Store:
        with self._lock:
            if pool.idle and not pool.waiting:
                return pool.idle.pop()
            opening = pool.opened < pool.size
            if opening:
                pool.opened += 1
            else:
                waiter = _Waiter()
                pool.waiting.append(waiter)
        if not opening:
            waiter.ready.wait(self.wait)
            with self._lock:
                if not waiter.ready.is_set():  # nothing came: leave the line
                    pool.waiting.remove(waiter)
                    raise _busy(self.wait)
            if waiter.store is not None:
                return waiter.store
            assert waiter.open  # a broken connection was dropped: open its replacement (counted)
        try:
            return _open(self.url, program)
        except BaseException:
            self._closed(pool)
            raise

    def _give_back(self, pool: _Pool, store: Store) -> None:
        """To the longest waiter, or to the idle ones."""
        with self._lock:
            if pool.waiting:
                waiter = pool.waiting.popleft()
                waiter.store = store
                waiter.ready.set()
            else:
                pool.idle.append(store)

    def _closed(self, pool: _Pool) -> None:
        """A connection is gone (dropped, or never opened): the longest waiter may open one."""
        with self._lock:
            if pool.waiting:
                waiter = pool.waiting.popleft()
                waiter.open = True
                waiter.ready.set()
            else:
                pool.opened -= 1

    def _discard(self, pool: _Pool, store: Store) -> None:
        self._closed(pool)
        try:
            store.close()
        except Exception:  # a broken connection may fail to close; it is dropped anyway
            log.warning("a failed store connection could not be closed", exc_info=True)

    def close(self) -> None:
        """Close every idle connection (at shutdown, once the requests are done)."""
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            with self._lock:
                idle, pool.idle = pool.idle, []
            for store in idle:
                store.close()
        if self.log_sync is not None:  # the answers still held: synced and handed back first
            self.log_sync.close()
        for program in list(self._lanes):
            self.drop_lane_store(program)
        if self._gate is not None:
            self._gate.close()


class _Borrowed:
    """`Stores.borrow`'s block: the connection taken on entry, given back on exit (or dropped
    after a failure that may have broken it)."""

    __slots__ = ("gate", "pool", "program", "store", "stores")
    pool: _Pool
    store: Store

    def __init__(self, stores: Stores, program: str) -> None:
        self.stores = stores
        self.program = program
        self.gate = stores._gate

    def __enter__(self) -> Store:
        gate = self.gate
        if gate is not None:
            gate.enter(self.stores.wait)  # first: a thread holding a connection holds the gate
        try:
            self.pool = self.stores._pool(self.program)
            self.store = self.stores._take(self.pool, self.program)
        except BaseException:
            if gate is not None:
                gate.leave()
            raise
        return self.store

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        try:
            self._return(error)
        finally:
            if self.gate is not None:
                self.gate.leave()

    def _return(self, error: BaseException | None) -> None:
        if isinstance(error, StoreError) and error.code in FAILURES and not isinstance(error, TransientError):
            self.stores._discard(self.pool, self.store)  # may be broken: open a new one next time
        else:
            self.stores._give_back(self.pool, self.store)


def _open(url: str, program: str) -> Store:
    """A service's store: `open_store` with the service's cache (`SERVICE_CACHE`) unless the URL
    gives its own (`?cache=N`)."""
    return open_store(url, program, default_cache=SERVICE_CACHE, default_cache_budget=SERVICE_ELEMENTS)
