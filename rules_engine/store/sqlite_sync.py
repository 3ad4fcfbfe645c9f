"""SQLite's write-ahead log made durable behind the commits, for the service's events lane.

Why: with `synchronous=FULL` a commit returns once the log is on disk (an `fdatasync` of the -wal
file inside `COMMIT`). `loyalty serve` stores a group of up to 64 events a transaction
(http/threads.py `Lane`), and while that sync runs the worker has nothing to do: the lane waits
for the disk, and the event loop has long read the next group's requests. Measured on a server
at concurrency 64 (bench/README.md, `lean`): the commit's wall time 5.5 ms median, 14 ms p90,
against 0.5 ms of CPU, at load ~10; `?synchronous=normal` (no sync at all) served 30-50 % more
requests a second there.

How: the lane's thread commits with `synchronous=NORMAL` (`commit_behind`: an SQLite store whose
commits sync, `synchronous=full`, sets NORMAL for a transaction begun on that thread, FULL for one
begun on any other: the commit only writes the log), and a `LogSync` thread syncs the log file after it, with
`fdatasync`, while the lane decides its next group; the group's answers are handed back only
once that sync has returned (`LogSync.after`). Groups committed while a sync runs wait for the
next one, which covers them all (one `fdatasync` covers every page of the file written before
it). So every answer still leaves only once its event is on disk, as before: an acknowledged
event survives a power loss. What is not acknowledged yet may be read by another request (a
customer's balance), as it could between a commit and its answer before; after a power loss such
an event is lost and its sender, never answered, sends it again.

SQLite's own safety stands: with `NORMAL` in WAL mode a checkpoint syncs the log before copying
it and the database after (sqlite_log.py runs them), and a log cut short by a power loss is read
up to its last whole transaction. A sync that fails (EIO) answers the group's events with RE810
(http/app.py): committed, maybe not durable; re-sending them is safe (the store answers a
redelivery with the stored outcome).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("rules_engine.store")

Synced = Callable[[OSError | None], None]
"""Called once the log is on disk (None), or with the error the sync failed with."""

_END = None

_here = threading.local()


def commit_behind() -> None:
    """From now on, SQLite's transactions begun on this thread commit without syncing the log
    (sqlite.py `_begin`): for a thread that answers what it committed only after a `LogSync`."""
    _here.behind = True


def behind() -> bool:
    """Whether this thread commits without syncing (`commit_behind`)."""
    return getattr(_here, "behind", False) is True


class LogSync:
    """One thread that syncs an SQLite database's write-ahead log (`path` + "-wal") for whoever
    asks (`after`), one `fdatasync` for every call queued while the last one ran."""

    def __init__(self, path: str, name: str = "loyalty-log-sync") -> None:
        self.log_file = f"{path}-wal"
        self.name = name
        self.syncs = 0
        """Syncs done so far (tests and benchmarks read it: calls over syncs is calls a sync)."""
        self._calls: queue.SimpleQueue[Synced | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def after(self, synced: Synced) -> None:
        """`synced(None)` on the sync thread once the log, as written now, is on disk; or at once
        on the caller's thread with the error when the log cannot be synced (closed)."""
        with self._lock:
            closed = self._closed
            if not closed:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                    self._thread.start()
                self._calls.put(synced)
        if closed:
            synced(OSError("the log's sync thread is closed"))

    def _work(self) -> None:
        calls = self._calls
        ending = False
        while not ending:
            first = calls.get()
            if first is _END:
                return
            waiting = [first]
            while True:  # every call queued by now: the sync below covers what they committed
                try:
                    call = calls.get_nowait()
                except queue.Empty:
                    break
                if call is _END:
                    ending = True
                    break
                waiting.append(call)
            error = self.sync()
            self.syncs += 1
            for synced in waiting:
                try:
                    synced(error)
                except Exception:  # an answer that cannot be handed back must not stop the others
                    log.exception("a call waiting for the log's sync failed")

    def sync(self) -> OSError | None:
        """Sync the log file now (on the calling thread): None once it is on disk, or the error.
        No log file: nothing to sync (the last connection to close checkpointed it)."""
        try:
            handle = os.open(self.log_file, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as error:
            return error
        try:
            os.fdatasync(handle)
        except OSError as error:
            return error
        finally:
            os.close(handle)
        return None

    def close(self) -> None:
        """Sync for the calls queued, answer them, and end the thread; later calls get an error."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._calls.put(_END)
        if thread is not None and thread is not threading.current_thread():
            thread.join()
