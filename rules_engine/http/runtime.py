"""What one app holds while it runs: its settings, the programs, the store pools, the metrics.

`create_app(settings)` builds one `Runtime` and keeps it in `app.state.runtime`; routes reach it
through the `runtime` dependency. There is no other state: two apps in one process (as the tests
build them) share nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from rules_engine.http.metrics import Metrics
from rules_engine.http.running import Programs
from rules_engine.http.stores import Stores
from rules_engine.http.threads import Lane, Threads
from rules_engine.program.model import Program
from rules_engine.service import DEFAULT_HORIZON
from rules_engine.store.keys import ApiKey
from rules_engine.store.versions import check_version

log = logging.getLogger("rules_engine.http")

MAX_BODY = 1024 * 1024
"""The largest request body taken by default: 1 MiB (a basket of thousands of lines)."""
THREADS = 40
"""Threads that run events (`Runtime.threads`): as many as Starlette's thread pool has for the
other routes (anyio's default)."""
KEY_CACHE = 1.0
"""Seconds an API key read from the store is trusted by default: a revoked key stops working
within this time."""
REFRESH = 0.75
"""The part of its `KeyCache.seconds` after which a key found in the cache is read again in the
background (`KeyCache.due`): late enough that a reading happens about once a `seconds` (each waits,
with SQLite, for the database behind the events' lane: a short stall of the lane's next group),
early enough that it is done before the old reading expires."""


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Settings:
    """How to run a service: `loyalty serve`'s options, or a test's."""

    programs: Path
    """The folder of program files (`*.yaml`), one program each."""
    db: str
    """The store: an SQLite file, sqlite:///PATH, postgresql://… or memory:."""
    secret: bytes = b""
    """The deployment's secret for coupon and referral codes (LOYALTY_SECRET)."""
    horizon: dt.timedelta | None = DEFAULT_HORIZON
    """How far ahead of the clock an event may be dated (docs/stores.md); None: no limit."""
    max_body: int = MAX_BODY
    """The largest request body, in bytes."""
    pool_size: int | None = None
    """Store connections per program and worker; None: by the kind of store (stores.py)."""
    clock: Callable[[], dt.datetime] = system_clock
    """The current time: the horizon's reference and a redemption's time when it gives none."""
    docs: bool = True
    """Serve the docs page at /docs (the schema at /openapi.json is always served)."""
    key_cache: float = KEY_CACHE
    """Seconds an API key read from the store is trusted before it is read again (auth.py): a
    revoked key stops working within this time. 0: every request reads its key."""
    speculate: bool = False
    """With SQLite, the events lane decides each group outside the database's gate across workers
    and takes the gate only to check what it read and write (routes/events.py `decide_together`,
    stores.py): for several workers (`serve --workers N`, N > 1), which then decide at once. One
    worker gains nothing by it (nobody else takes the gate) and pays the checks: off."""
    shortcut: bool = True
    """Serve `POST …/events` by the shortcut (shortcut.py) rather than through FastAPI's
    dependency solving: the same answers for less CPU. False: FastAPI's route takes them all
    (the tests compare the two)."""


@dataclass
class KeyCache:
    """API keys read from the store, each trusted for `seconds` from its reading (auth.py).

    Only keys the store holds are kept (a revoked one too, so that it is refused without a read):
    ids nobody issued are read every time, so made-up keys cannot fill the cache. Dict reads and
    writes are atomic, so the request threads and the event loop share it without a lock; two
    requests that miss at once both read, and the later reading stays.

    A key in use is read again before its reading expires, in the background (`due`, `refresh`):
    a reading that expired under load was missed by every request in flight at once, and each read
    the key on a thread — with SQLite waiting for the database behind the events being stored
    (stores.py's gate). Measured at concurrency 64: 32 requests read the key at once, each waiting
    60 ms, once a second: the slowest requests of the second (bench/README.md, "The service's tail
    at concurrency 64")."""

    stores: Stores
    seconds: float
    clock: Callable[[], float] = time.monotonic
    """Where the ages come from (a test moves its own clock)."""
    _read: dict[str, tuple[float, ApiKey]] = field(default_factory=dict)
    _refreshing: set[str] = field(default_factory=set)
    """Ids being read again in the background (`due`)."""
    reading: dict[str, asyncio.Task[ApiKey | None]] = field(default_factory=dict)
    """The readings requests wait for, by id: one at a time for every request that missed the key
    (auth.py `_read`). The event loop's only."""

    def cached(self, key_id: str) -> ApiKey | None:
        """The key, if it was read less than `seconds` ago; None: read it (`read`)."""
        found = self._read.get(key_id)
        if found is None:
            return None
        age = self.clock() - found[0]
        return found[1] if 0 <= age < self.seconds else None

    def read(self, key_id: str) -> ApiKey | None:
        """The key as the store holds it now (None: no such id), kept for `seconds`. Blocking:
        call it on a thread."""
        read_at = self.clock()  # the reading's age counts from before the read: never trusted longer
        with self.stores.keys() as store:
            key = store.api_key(key_id)
        if key is None:
            self._read.pop(key_id, None)
        elif self.seconds > 0:
            self._read[key_id] = (read_at, key)
        return key

    def due(self, key_id: str) -> bool:
        """Whether a key just found in the cache is to be read again now, in the background
        (`refresh`): its reading is older than `REFRESH` of `seconds`, and it is not being read
        already (from now on it is). Called on the event loop only: the check and the mark are
        not taken apart by another caller."""
        found = self._read.get(key_id)
        if found is None or key_id in self._refreshing or self.clock() - found[0] < self.seconds * REFRESH:
            return False
        self._refreshing.add(key_id)
        return True

    def refresh(self, key_id: str) -> None:
        """`read`, for a key `due` marked, on a thread of its own: nobody waits for it. If the store
        fails, the reading in the cache stays until it expires, and a request then reads it."""
        try:
            self.read(key_id)
        except Exception:
            log.warning("the API key %s could not be read again", key_id, exc_info=True)
        finally:
            self._refreshing.discard(key_id)


@dataclass
class Runtime:
    settings: Settings
    programs: Programs
    stores: Stores
    keys: KeyCache
    metrics: Metrics = field(default_factory=Metrics)
    threads: Threads = field(default_factory=lambda: Threads(THREADS, "loyalty-events"))
    """Where the events shortcut runs events (shortcut.py): a hand-off of our own (threads.py),
    cheaper per request than asyncio's `run_in_executor` on a `ThreadPoolExecutor` (measured:
    69-72 against 117-138 µs of CPU per hop one at a time, 16-17 against 51-62 sixteen at a
    time), which was cheaper than anyio's worker threads under Starlette's `run_in_threadpool`.
    Its threads start as they are needed, and stop with the app."""
    lane: Lane[Any] | None = None
    """Where the events shortcut runs events instead, when the store takes one at a time or
    stores groups (`Stores.serial`: SQLite, PostgreSQL, memory): one thread, the events waiting
    together decided as a group (threads.py `Lane`, shortcut.py `decide_group`); set by
    `create_app`."""
    ready: bool = False
    """True from start-up until shutdown begins: /readyz answers 503 outside it."""

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        """Load every program (ProgramError if one has errors) and prepare the store pools."""
        metrics = Metrics()
        programs = Programs.load(settings.programs, settings.secret)
        programs.on_reload = metrics.reload
        stores = Stores(settings.db, settings.pool_size)
        programs.guard = functools.partial(_guard, stores, settings.clock)
        return cls(settings, programs, stores, KeyCache(stores, settings.key_cache), metrics)


def _guard(stores: Stores, clock: Callable[[], dt.datetime], program: Program) -> None:
    """The version guard (store/versions.py) for a program about to run: never a downgrade."""
    with stores.borrow(program.program) as store:
        check_version(store, program, clock())


async def runtime(request: Request) -> Runtime:
    """The app's runtime, for the routes (`Depends(runtime)`): async, so that FastAPI calls it
    on the event loop rather than handing it to a thread."""
    found: Runtime = request.app.state.runtime
    return found
