"""SQLite's write-ahead log, checkpointed off the commit path.

Why: SQLite's automatic checkpoint (once the log holds 1,000 pages) runs inside the commit that
crosses the bound, before COMMIT returns. In `loyalty serve` that commit is a group's (up to 64 events,
one transaction: http/threads.py `Lane`), whose answers all waited for the checkpoint: commit wall
time at load 24 was 36 / 82 / 186 ms (median, p90, max), and 25 / 47 / 70 ms without it.

How: a writing store's connection has `wal_autocheckpoint` off, and this module runs the
checkpoint instead. After a commit, once the log has grown by about `LOG_PAGES` pages, a PASSIVE
checkpoint starts on a thread of its own with a connection of its own (`Log.committed`): it copies
the log's pages into the database file and syncs it while the store goes on (sqlite3 lets go of
the interpreter's lock while it works). A PASSIVE checkpoint waits for nobody and holds nothing a
writer needs. Python's sqlite3 cannot tell a store how many pages a commit wrote (SQLite's
`wal_hook`), so the growth is estimated: commits since the log began again, times the pages a
commit wrote on average, learned from each checkpoint's count of the log's pages.

The log begins again from its start (the -wal file overwritten rather than grown) only when a
writer starts a transaction with every page of the log copied. Under a steady stream a writer is
always writing while the background checkpoint copies, so that checkpoint never catches up on its
own: once it is over, the store's next transaction first copies, on its own connection, the
little it missed (what was committed while it ran: `Log.before_begin`), then begins, and its first
write starts the log again. So the log stays bounded — about `LOG_PAGES`, plus what is committed
while one checkpoint runs, and at most (1 + `BEHIND`) × `LOG_PAGES` (as estimated): past that a
transaction waits for the checkpoint — and what waits is one transaction's start, for a copy of
what one checkpoint missed (about a group's pages) and one sync, not a group's answers for a
thousand pages.

Safety is SQLite's: a checkpoint only copies committed pages, a process killed during one leaves
the log to be copied again, so a crash loses nothing committed. A clean close waits for the
running checkpoint (`Log.release`); SQLite's last connection to close checkpoints the whole log
and deletes the -wal file, as before (sqlite.py's check about never-checkpointed logs stays true).

The stores of one database in one process (the service's keys and programs) share one `Log`
(`share`), so that one checkpoint runs at a time; another process's (a second `serve` worker)
counts its own commits, and SQLite lets one checkpoint run at a time between them (a second
PASSIVE one returns at once).
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading

log = logging.getLogger("rules_engine.store")

LOG_PAGES = 1000
"""Pages of log after which a checkpoint starts: SQLite's own default for its automatic one."""

BEHIND = 3
"""A store's transaction waits for the running background checkpoint once `BEHIND` × `LOG_PAGES`
pages (as estimated) were committed since it started: the log then holds about (1 + `BEHIND`) ×
`LOG_PAGES` pages at most, however slow the disk, rather than growing while the copy lags."""

FIRST_DUE = 8
"""Commits before the first checkpoint of a process, which learns how many pages a commit writes."""


class Log:
    """One database's write-ahead log in this process, and its checkpoints (module docstring).

    `committed` after every commit and `before_begin` before every transaction of a store that
    writes; both are cheap when there is nothing to do (a count and a comparison)."""

    def __init__(self, path: str, synchronous: str, pages: int = LOG_PAGES, timeout: float = 60.0) -> None:
        self.path = os.path.abspath(path)
        """Absolute: the background connection opens the store's file whatever the directory then."""
        self.key = os.path.realpath(path)
        self.synchronous = synchronous
        self.pages = max(pages, 1)
        self.timeout = timeout
        self.users = 0
        """Stores open on it (`share`, `release`)."""
        self._lock = threading.Lock()
        self._commits = 0
        """Commits since the log last began again (as far as this process knows)."""
        self._due = min(FIRST_DUE, self.pages)
        """Commits after which a background checkpoint starts."""
        self._running: threading.Thread | None = None
        self._started = 0
        """`_commits` when the running checkpoint started."""
        self._tail = False
        """A background checkpoint is over: the next transaction copies what it missed first."""
        self.passes = 0
        """Background checkpoints run (for the tests and the benchmarks)."""
        self.tails = 0
        """Checkpoints run by a store before its transaction (what a background one missed)."""
        self.largest = 0
        """The most pages a checkpoint found in the log."""
        self.waits = 0
        """Transactions that waited for a background checkpoint (`BEHIND`)."""

    def committed(self) -> None:
        """A store of this process committed: start a background checkpoint when the log has grown
        by about `pages` since it began again, unless one runs or its tail is still to copy."""
        self._commits += 1  # unlocked: a count off by one moves a checkpoint by one commit
        if self._commits >= self._due and self._running is None and not self._tail:
            with self._lock:
                if self._running is not None or self._tail:
                    return
                self._started = self._commits
                thread = threading.Thread(
                    target=self._checkpoint, args=(self._commits,), name="loyalty-checkpoint", daemon=True
                )
                self._running = thread
            try:
                thread.start()
            except (
                RuntimeError
            ):  # no thread to be had (the interpreter is ending): the next commit tries again
                self._running = None

    def before_begin(self, db: sqlite3.Connection) -> None:
        """Before a transaction on `db` (a store's connection, outside any transaction): once a
        background checkpoint is over, copy what it missed, so that this transaction starts the
        log again (module docstring). While one runs, go on, unless `BEHIND` times its pages were
        committed since it started (a disk slower than the writers): then wait for it, so that
        the log stays bounded whatever the disk."""
        running = self._running
        if running is not None:
            if self._commits - self._started < BEHIND * self._due:
                return
            self.waits += 1
            self.wait()
        if not self._tail:
            return
        with self._lock:
            if not self._tail or self._running is not None:
                return
            self._tail = False
        try:
            busy, pages, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as problem:  # the transaction's own statements will meet it, if it lasts
            log.warning("a checkpoint of %s failed: %s", self.path, problem)
            return
        self.tails += 1
        self.largest = max(self.largest, pages)
        if not busy and pages == copied:  # all copied: this transaction's first write starts the log again
            self._commits = 0

    def _checkpoint(self, commits: int) -> None:
        """A background checkpoint, on a connection of its own (opened for it: one every
        ~`pages` pages costs nothing worth keeping a connection for)."""
        pages = 0
        try:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            try:
                db.execute(f"PRAGMA synchronous = {self.synchronous}")
                _, pages, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                db.close()
        except sqlite3.Error as problem:  # a full disk, say: the next commits try again
            log.warning("a background checkpoint of %s failed: %s", self.path, problem)
        with self._lock:
            self.passes += 1
            self.largest = max(self.largest, pages)
            if pages > 0 and commits > 0:  # what a commit writes, on average: when the next one is due
                self._due = max(1, math.floor(self.pages / max(pages / commits, 1.0)))
            self._tail = True
            self._running = None

    def wait(self) -> None:
        """Until the running background checkpoint (if any) is over."""
        thread = self._running
        if thread is not None and thread is not threading.current_thread():
            thread.join()


_logs: dict[str, Log] = {}
_logs_lock = threading.Lock()


def share(path: str, synchronous: str, pages: int = LOG_PAGES, timeout: float = 60.0) -> Log:
    """The `Log` of the database at `path` in this process, for one more store (`release` it)."""
    key = os.path.realpath(path)
    with _logs_lock:
        found = _logs.get(key)
        if found is None:
            found = _logs[key] = Log(path, synchronous, pages, timeout)
        found.users += 1
        return found


def release(shared: Log) -> None:
    """A store is closing: wait for the running checkpoint, so that the last connection to close
    finds nobody else and checkpoints the log away (module docstring)."""
    shared.wait()
    with _logs_lock:
        shared.users -= 1
        if shared.users <= 0 and _logs.get(shared.key) is shared:
            del _logs[shared.key]


def _forget() -> None:
    """In a forked child: the parent's logs are the parent's (its threads did not come along)."""
    global _logs_lock
    _logs.clear()
    _logs_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget)
