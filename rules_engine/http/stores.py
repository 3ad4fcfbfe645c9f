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

SQLite across workers (`loyalty serve --workers N`): the pools order one process's requests, and
SQLite's write lock orders the processes, through its busy handler, which sleeps and tries again
(1, 2, 5 … up to 100 ms between tries) and keeps no order. While one worker slept, the other
took the lock again and again: at 64 requests at once a few requests waited close to a second
(p99 0.5–1 s against 0.2 s with one worker) and some purchases were overtaken by the customer's
next one (422 RE440). So a borrowed SQLite connection also holds the database's gate (`_Gate`):
an exclusive `flock` on a file beside the database (`<database>-serve.lock`), which the kernel
hands to a waiting worker as soon as it is let go — no sleeping, no polling. Inside a process the
gate is shared (`_Gate`): its threads are ordered by the pools, as before. Reads take it too: a
worker's reads and writes are one at a time already, and a read is short.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rules_engine.errors import StoreError
from rules_engine.http.problems import FAILURES, ServiceError
from rules_engine.store import Store, open_store, sqlite_path

log = logging.getLogger("rules_engine.http")

_KEYS = ""
"""The pool whose store serves API keys (a store opened for no program)."""


GATE_SUFFIX = "-serve.lock"
"""The gate's file: beside the database, its name and this suffix (module docstring)."""


class _Gate:
    """The right to use an SQLite database, one worker process at a time, handed over by the
    kernel in the order it is asked for (module docstring).

    Within the process it is shared: the first of its threads to borrow a connection takes the
    file's lock for the process, the others go through while it is held, and the last to give its
    connection back lets go. (The pools already order the threads of a process; an exclusive gate
    per thread would make a thread holding one pool's connection and waiting for the gate, and a
    thread holding the gate and waiting for that connection, wait for each other.)"""

    def __init__(self, database: str) -> None:
        self.path = database + GATE_SUFFIX
        self._changed = threading.Condition(threading.Lock())
        self._holders = 0
        """Threads of this process inside the gate, or waiting for the process to be let in."""
        self._held = False
        """The process holds the file's lock."""
        self._taking = False
        """One of the holders is taking the file's lock for the process (the others wait)."""
        self._file: int | None = None

    def enter(self) -> None:
        with self._changed:
            self._holders += 1
            while not self._held and self._taking:
                self._changed.wait()
            if self._held:
                return
            self._taking = True
        try:
            if self._file is None:
                self._file = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._file, fcntl.LOCK_EX)  # blocks without the interpreter's lock
        except BaseException:
            with self._changed:
                self._holders -= 1
                self._taking = False
                self._changed.notify_all()  # the next waiting thread tries
            raise
        with self._changed:
            self._held = True
            self._taking = False
            self._changed.notify_all()

    def leave(self) -> None:
        with self._changed:
            self._holders -= 1
            if self._holders == 0 and self._held:
                self._held = False
                assert self._file is not None
                fcntl.flock(self._file, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._changed:
            if self._file is not None and self._holders == 0:
                os.close(self._file)  # lets go of the lock too
                self._file = None


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

    def __post_init__(self) -> None:
        if self.size is None:
            self.size = 4 if self.url.startswith(("postgresql://", "postgres://")) else 1
        database = sqlite_path(self.url)
        if database is not None:
            self._gate = _Gate(database)

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
                    raise ServiceError(
                        "RE810",
                        f"every connection to the store was busy for {self.wait:g} s",
                        hint="retry; more workers (PostgreSQL) share the load",
                        headers={"Retry-After": "1"},
                    )
            if waiter.store is not None:
                return waiter.store
            assert waiter.open  # a broken connection was dropped: open its replacement (counted)
        try:
            return open_store(self.url, program)
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
        self.pool = self.stores._pool(self.program)
        self.store = self.stores._take(self.pool, self.program)
        if self.gate is not None:
            try:
                self.gate.enter()
            except BaseException:
                self.stores._give_back(self.pool, self.store)
                raise
        return self.store

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if self.gate is not None:
            self.gate.leave()
        if isinstance(error, StoreError) and error.code in FAILURES:
            self.stores._discard(self.pool, self.store)  # may be broken: open a new one next time
        else:
            self.stores._give_back(self.pool, self.store)
