"""Each applied event's outcome, as a store keeps it: compressed JSON.

A store keeps every event's outcome (without the state) to answer a redelivery with exactly what
the first delivery got, and for `void`, which reads what an event did. It is the one row written
per event that is never read again in the common case, and the largest: ~2.9 KB of JSON for a
coffee-club event, most of it the trace's repeated keys and reasons, about half of the database.
zlib (the standard library's, level 1) keeps it in ~0.8 KB for ~25-55 µs per event, a few percent
of an event's cost in a store; reading one back (a redelivery, a void) costs ~10 µs more. Level 6
and up save 7 % more bytes for 15 % more time: not worth it on the write path.

The service's events lane writes a group's outcomes with a second thread (`Packer`, `pack_behind`):
zlib runs without the interpreter's lock, so the two pack on two cores, and the next group's
requests, which wait for the lane, wait for about half of the group's zlib work. The bytes are
`pack`'s all the same (bench/README.md, `overlap`).

Rows written before migration 10 keep their outcome as text and read as before.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import zlib
from collections.abc import Sequence

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
    """One outcome to be packed by a `Packer`'s thread or by the thread that needs it, whichever
    claims it first."""

    __slots__ = ("claim", "outcome", "result")

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.result: bytes | None = None
        """`pack(outcome)`, once made."""
        self.claim = threading.Lock()
        """Taken by the one who packs it: held by the packer's thread while it packs, never given
        back by the thread that needs it."""

    def packed(self) -> bytes:
        """`pack(outcome)`: made already, or being made by the packer's thread (waited for), or
        made here (the thread failed it: raised here then, if it fails again)."""
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
    """A thread that packs a group's outcomes beside the thread that writes the group (`pack_all`):
    zlib runs without the interpreter's lock, so the two pack on two cores at once, and the
    group's write waits for about half of its outcomes' zlib work. The bytes are `pack`'s: the
    same call, on another thread."""

    def __init__(self, name: str = "loyalty-pack") -> None:
        self.name = name
        self._queue: queue.SimpleQueue[list[Packing] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.packed = 0
        """Outcomes its thread packed (the others were packed by the threads that needed them)."""

    def pack_all(self, outcomes: Sequence[str]) -> list[bytes]:
        """`[pack(outcome) for outcome in outcomes]`: the packer's thread takes them from the first
        on, this thread from the last back, each claiming one at a time, until they meet; then
        this thread waits for the one the other may still be packing. One hand-off a group, not
        one an event: each wakes a thread (a context switch, and the interpreter's lock handed
        over), which cost more than an outcome's zlib work when the service's lane handed each
        event's outcome over as it decided the next (bench/README.md, `overlap`)."""
        if len(outcomes) < 2:
            return [pack(outcome) for outcome in outcomes]
        jobs = [Packing(outcome) for outcome in outcomes]
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                    thread.start()
                    self._thread = thread
        self._queue.put(jobs)
        for job in reversed(jobs):
            if not job.claim.acquire(blocking=False):
                break  # the thread's from here back: it takes them in order
            job.result = pack(job.outcome)
        return [job.packed() for job in jobs]

    def _work(self) -> None:
        groups = self._queue
        while True:
            jobs = groups.get()
            if jobs is None:
                return
            for job in jobs:
                if not job.claim.acquire(blocking=False):
                    break  # the writing thread's from here on: it takes them from the last back
                try:
                    job.result = pack(job.outcome)
                    self.packed += 1
                except Exception:  # (MemoryError …) `Packing.packed` tries again, and raises there
                    log.warning("an outcome could not be packed on the packer's thread", exc_info=True)
                finally:
                    job.claim.release()
            del jobs  # nothing held while waiting

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
    """From now on, the groups of SQL stores begun on this thread pack their outcomes with this
    process's packer (`Packer.pack_all`, store/batch.py): for the service's events lane, whose
    group's write the next group's requests wait for (http/app.py)."""
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
