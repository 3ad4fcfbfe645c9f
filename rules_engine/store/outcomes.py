"""Each applied event's outcome, as a store keeps it: compressed JSON.

A store keeps every event's outcome (without the state) to answer a redelivery with exactly what
the first delivery got, and for `void`, which reads what an event did. It is the one row written
per event that is never read again in the common case, and the largest: ~2.9 KB of JSON for a
coffee-club event, most of it the trace's repeated keys and reasons, about half of the database.
zlib (the standard library's, level 1) keeps it in ~0.8 KB for ~25-55 µs per event, a few percent
of an event's cost in a store; reading one back (a redelivery, a void) costs ~10 µs more. Level 6
and up save 7 % more bytes for 15 % more time: not worth it on the write path.

Rows written before migration 10 keep their outcome as text and read as before.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import zlib

log = logging.getLogger("rules_engine.store")

LEVEL = 1


def pack(outcome: str) -> bytes:
    return zlib.compress(outcome.encode(), LEVEL)


def unpack(text: str | None, packed: bytes | memoryview | None) -> str:
    """The outcome JSON of a row: `packed` when the row has it (migration 10 on), else its text."""
    if packed is None:
        return str(text)
    return zlib.decompress(packed).decode()


class Packing:
    """One outcome to be packed by a `Packer`'s thread, or by whoever needs it first (`packed`)."""

    __slots__ = ("claim", "outcome", "result")

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.result: bytes | None = None
        """`pack(outcome)`, once the packer's thread made it."""
        self.claim = threading.Lock()
        """Taken by the one who packs it (the packer's thread, or `packed`'s caller): held by the
        thread while it packs, never given back by the caller."""

    def packed(self) -> bytes:
        """`pack(outcome)`: the packer's, or made here if its thread has not begun it (or failed
        it: raised here then, if it fails again); waits only for one the thread is packing now."""
        result = self.result
        if result is not None:
            return result
        if not self.claim.acquire(blocking=False):  # the thread is packing it: its result shortly
            self.claim.acquire()
            result = self.result
            if result is not None:
                return result
        return pack(self.outcome)


class Packer:
    """A thread that packs outcomes (`pack`) as they are handed to it (`packing`), so that their
    zlib work, which runs without the interpreter's lock, overlaps with the Python of whoever
    handed them: the service's events lane, deciding the rest of its group
    (store/batch.py). The bytes are `pack`'s: the same call, on another thread."""

    def __init__(self, name: str = "loyalty-pack") -> None:
        self.name = name
        self._queue: queue.SimpleQueue[Packing | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.packed = 0
        """Outcomes its thread packed (the others were packed by whoever needed them first)."""

    def packing(self, outcome: str) -> Packing:
        """The outcome queued for the thread; `Packing.packed` gives its bytes."""
        job = Packing(outcome)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                    thread.start()
                    self._thread = thread
        self._queue.put(job)
        return job

    def _work(self) -> None:
        jobs = self._queue
        while True:
            job = jobs.get()
            if job is None:
                return
            if job.claim.acquire(blocking=False):  # else packed already by whoever needed it
                try:
                    job.result = pack(job.outcome)
                    self.packed += 1
                except Exception:  # (MemoryError …) `packed` tries again, and raises there
                    log.warning("an outcome could not be packed on the packer's thread", exc_info=True)
                finally:
                    job.claim.release()
            del job  # nothing held while waiting

    def close(self) -> None:
        """End the thread once the outcomes queued are done (not waited for)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)


_packer: Packer | None = None
_packer_lock = threading.Lock()
_here = threading.local()


def pack_behind() -> None:
    """From now on, the groups of SQL stores begun on this thread hand their outcomes to this
    process's packer as their events are staged (store/batch.py): for the service's events lane,
    whose Python decides the rest of a group meanwhile (http/app.py)."""
    _here.behind = True


def packs_behind() -> Packer | None:
    """The packer, on a thread that packs behind (`pack_behind`); None on any other."""
    return packer() if getattr(_here, "behind", False) is True else None


def packer() -> Packer:
    """This process's packer (started on first use)."""
    global _packer
    found = _packer
    if found is None:
        with _packer_lock:
            if _packer is None:
                _packer = Packer()
            found = _packer
    return found


def _forget() -> None:
    """In a forked child: the parent's thread did not come along."""
    global _packer, _packer_lock
    _packer = None
    _packer_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget)
