"""Outcomes packed behind (store/outcomes.py `Packer`, store/batch.py `packings`): a group begun on
a thread that packs behind (the service's events lane) hands each staged event's outcome to the
packer's thread, and writes what it made. The rows are the same bytes as a group that packs its
outcomes itself; an outcome the thread has not begun is packed by the group; one it failed is
packed again, and one that cannot be packed at all fails the whole group: nothing written, nothing
held."""

from __future__ import annotations

import sqlite3
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rules_engine.service import Loyalty
from rules_engine.store import open_store, outcomes
from rules_engine.store.outcomes import Packer, pack, pack_behind, packer, packs_behind
from rules_engine.store.sql import SqlStore
from tests.store.test_tables import LONG, events

T = TypeVar("T")

TABLES = {
    "events": "SELECT program, customer, event, outcome, packed, digest, at FROM events ORDER BY rowid",
    "customers": "SELECT program, customer, state FROM customers ORDER BY program, customer",
    "customer_lists": "SELECT * FROM customer_lists ORDER BY program, customer, pos, part",
    "ledger": "SELECT * FROM ledger ORDER BY rowid",
}
"""What the groups write (the customers' revisions left out: a customer's first is random)."""


def on_a_thread(function: Callable[[], T], *, behind: bool) -> T:
    """`function()` on a thread of its own, which packs behind (`pack_behind`) or not."""
    found: list[Any] = []

    def run() -> None:
        if behind:
            pack_behind()
        try:
            found.append(function())
        except BaseException as error:
            found.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if isinstance(found[0], BaseException):
        raise found[0]
    return found[0]  # type: ignore[no-any-return]


def groups(db: Path, stream: list[dict[str, Any]], size: int) -> list[str]:
    """The stream through SQLite in groups of `size`; what each event answered."""
    told = []
    with open_store(f"sqlite:///{db}?synchronous=normal", "store-test") as store:
        loyalty = Loyalty(LONG, store, horizon=None)
        for start in range(0, len(stream), size):
            with store.group():
                for event in stream[start : start + size]:
                    try:
                        told.append(loyalty.handle(event).outcome.model_dump_json())
                    except Exception as error:
                        told.append(type(error).__name__)
    return told


def rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as connection:
        return {table: connection.execute(query).fetchall() for table, query in TABLES.items()}


@pytest.mark.parametrize("size", [1, 7, 32])
def test_a_group_that_packs_behind_writes_the_bytes_a_group_that_packs_itself_writes(
    tmp_path: Path, size: int
) -> None:
    stream = events(7, 3, 60)
    itself = on_a_thread(lambda: groups(tmp_path / "itself.db", stream, size), behind=False)
    behind = on_a_thread(lambda: groups(tmp_path / "behind.db", stream, size), behind=True)
    assert behind == itself
    written = rows(tmp_path / "behind.db")
    assert written == rows(tmp_path / "itself.db")
    assert written["events"]
    for row in written["events"]:
        assert row[4] == pack(zlib.decompress(row[4]).decode())  # `pack`'s bytes, level 1


def test_only_a_thread_that_packs_behind_hands_its_outcomes_to_the_packer() -> None:
    assert packs_behind() is None  # this thread (the tests'): its groups pack their outcomes
    assert on_a_thread(packs_behind, behind=True) is packer()
    assert on_a_thread(packs_behind, behind=False) is None


class Slow:
    """`outcomes.pack` as the packer's thread calls it (a thread named `test-pack`): held until `go`
    is set, then raising `error` if given; as it is on any other thread, where with `waits` the
    first call waits until the packer's thread has begun one."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, *, error: Exception | None = None, waits: bool = False
    ) -> None:
        self.started = threading.Event()
        self.go = threading.Event()
        self.error = error
        self.waits = waits
        monkeypatch.setattr(outcomes, "pack", self)

    def __call__(self, outcome: str) -> bytes:
        if threading.current_thread().name == "test-pack":
            self.started.set()
            assert self.go.wait(30)
            if self.error is not None:
                raise self.error
        elif self.waits:
            self.waits = False
            assert self.started.wait(30)
        return zlib.compress(outcome.encode(), outcomes.LEVEL)


def texts(name: str, count: int) -> list[str]:
    return [f'{{"{name}": {n}}}' for n in range(count)]


def test_the_packer_and_the_writing_thread_pack_a_group_from_its_two_ends() -> None:
    mine = Packer("test-pack")
    try:
        group = texts("event", 40)
        assert mine.pack_all(group) == [pack(text) for text in group]
        assert mine.pack_all(group[:1]) == [pack(group[0])]  # one: packed here, nothing handed over
        assert mine.pack_all([]) == []
    finally:
        mine.close()


def test_what_the_packer_has_not_begun_the_writing_thread_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = Slow(monkeypatch, waits=True)
    mine = Packer("test-pack")
    first: list[list[bytes]] = []
    try:
        writer = threading.Thread(target=lambda: first.append(mine.pack_all(texts("a", 3))))
        writer.start()
        assert slow.started.wait(30)  # the packer's thread holds the first group's first outcome
        second = mine.pack_all(texts("b", 5))  # none begun by the packer: all packed here, no wait
        assert second == [pack(text) for text in texts("b", 5)]
        assert writer.is_alive()  # still waiting for the outcome the packer holds
        slow.go.set()
        writer.join(30)
        assert first == [[pack(text) for text in texts("a", 3)]]
        assert mine.packed == 1
    finally:
        slow.go.set()
        mine.close()


def test_what_the_packer_failed_the_writing_thread_packs_again(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = Slow(monkeypatch, error=MemoryError("no memory for zlib"), waits=True)
    slow.go.set()
    mine = Packer("test-pack")
    try:
        assert mine.pack_all(texts("a", 2)) == [pack(text) for text in texts("a", 2)]
        assert slow.started.is_set()  # the packer tried its first, and failed it
        assert mine.packed == 0
    finally:
        mine.close()


def test_a_group_whose_outcome_cannot_be_packed_writes_nothing_and_holds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "loyalty.db"
    stream = events(3, 2, 6)

    def failing(outcome: str) -> bytes:
        raise MemoryError("no memory for zlib")

    def run() -> tuple[Any, ...]:
        with open_store(f"sqlite:///{db}?synchronous=normal", "store-test") as store:
            assert isinstance(store, SqlStore)
            loyalty = Loyalty(LONG, store, horizon=None)
            with store.group():
                loyalty.handle(stream[0])
            before = {customer: state.model_dump_json() for customer, state in store.states()}
            with monkeypatch.context() as patched:
                patched.setattr(outcomes, "pack", failing)  # on the packer's thread …
                patched.setattr("rules_engine.store.batch.pack", failing)  # … and the group's
                with pytest.raises(MemoryError), store.group():
                    for event in stream[1:]:
                        loyalty.handle(event)
            after = {customer: state.model_dump_json() for customer, state in store.states()}
            assert store._batch is None
            processed = store.processed()
            again = [loyalty.handle(event).duplicate for event in stream]  # decided on what was committed
            return before, after, processed, again

    before, after, processed, again = on_a_thread(run, behind=True)
    assert after == before  # nothing of the failed group written, nor held by the store's cache
    assert processed == 1
    assert again == [True] + [False] * (len(stream) - 1)  # each applied once, now
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM events").fetchone()[0] == len(stream)
