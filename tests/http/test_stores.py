"""The store pools the service's requests borrow from: first come, first served.

A connection given back goes to the request that has waited longest, never to one that came
later: not to a request arriving just then, nor to the thread that gave it back and asks again.
(With a plain queue they took it first far more often than the woken waiters, and under 64
requests at once some requests waited round after round.)
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rules_engine.http.problems import ServiceError
from rules_engine.http.stores import GATE_SUFFIX, Stores

PROGRAM = "coffee-club"


def _waiting(stores: Stores, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(stores._pools[PROGRAM].waiting) < count:
        assert time.monotonic() < deadline, "the waiter did not queue"
        time.sleep(0.001)


def test_a_connection_given_back_goes_to_the_longest_waiter() -> None:
    stores = Stores("memory:", size=1)
    order: list[str] = []

    def borrower(name: str) -> None:
        with stores.borrow(PROGRAM):
            order.append(name)

    threads = []
    with stores.borrow(PROGRAM):
        for count, name in enumerate("abcd", start=1):
            thread = threading.Thread(target=borrower, args=(name,))
            thread.start()
            threads.append(thread)
            _waiting(stores, count)
    for thread in threads:
        thread.join(10)
    assert order == list("abcd")


def test_the_thread_that_gives_a_connection_back_does_not_jump_the_line() -> None:
    stores = Stores("memory:", size=1)
    order: list[str] = []
    release = threading.Event()

    def waiter() -> None:
        with stores.borrow(PROGRAM):
            order.append("waiter")
            release.wait(10)

    thread = threading.Thread(target=waiter)
    with stores.borrow(PROGRAM):
        thread.start()
        _waiting(stores, 1)
    stores.wait = 0.2
    with pytest.raises(ServiceError) as busy, stores.borrow(PROGRAM):  # the waiter has it, and keeps it
        order.append("again")
    assert busy.value.diagnostics[0].code == "RE810"
    assert not stores._pools[PROGRAM].waiting  # who gave up left the line
    release.set()
    thread.join(10)
    with stores.borrow(PROGRAM):
        order.append("after")
    assert order == ["waiter", "after"]


def test_a_dropped_connection_lets_the_longest_waiter_open_another() -> None:
    from rules_engine.errors import Diagnostic, StoreError

    stores = Stores("memory:", size=1)
    got: list[object] = []

    def waiter() -> None:
        with stores.borrow(PROGRAM) as store:
            got.append(store)

    thread = threading.Thread(target=waiter)
    with pytest.raises(StoreError), stores.borrow(PROGRAM) as broken:
        thread.start()
        _waiting(stores, 1)
        raise StoreError([Diagnostic("RE605", "the database failed")])
    thread.join(10)
    assert len(got) == 1 and got[0] is not broken
    assert stores._pools[PROGRAM].opened == 1


def test_an_sqlite_connection_is_one_workers_at_a_time(tmp_path: Path) -> None:
    """Two workers' pools on one SQLite file (two `Stores`, as two processes hold them: each its
    own open gate file): while one borrows, the other waits, and gets it once it is let go — not
    SQLite's busy handler sleeping and retrying."""
    database = str(tmp_path / "loyalty.db")
    first, second = Stores(database), Stores(database)
    borrowed = threading.Event()
    done: list[float] = []

    def other_worker() -> None:
        with second.borrow(PROGRAM):
            done.append(time.monotonic())

    with first.borrow(PROGRAM):
        thread = threading.Thread(target=other_worker)
        thread.start()
        borrowed.wait(0.3)  # time for the other worker to ask
        assert not done, "the other worker went through while the first held the database"
        let_go = time.monotonic()
    thread.join(10)
    assert done and done[0] >= let_go
    assert (tmp_path / f"loyalty.db{GATE_SUFFIX}").exists()
    first.close()
    second.close()


def _in_line(stores: Stores, count: int) -> None:
    assert stores._gate is not None
    deadline = time.monotonic() + 10
    while len(stores._gate._waiting) < count:
        assert time.monotonic() < deadline, "the borrower did not queue"
        time.sleep(0.001)


def test_inside_a_worker_the_database_is_one_threads_at_a_time_in_order(tmp_path: Path) -> None:
    """All of a database's pools share its gate: a thread that holds a program's connection keeps
    the others out, whichever pool they borrow from (the keys' too), and they get it in the order
    they asked, as a pool's waiters do; the holder itself borrows again without waiting (the keys'
    pool inside a program's, on one thread)."""
    stores = Stores(str(tmp_path / "loyalty.db"))
    order: list[str] = []

    def borrower(name: str) -> None:
        with stores.keys() if name in "bd" else stores.borrow(PROGRAM):
            order.append(name)

    threads = []
    with stores.borrow(PROGRAM) as store:
        with stores.keys() as keys:  # the same thread: goes through
            assert keys is not store
            assert keys.api_key("lk_nobody") is None
        for count, name in enumerate("abcd", start=1):
            thread = threading.Thread(target=borrower, args=(name,))
            thread.start()
            threads.append(thread)
            _in_line(stores, count)
        assert order == []
    for thread in threads:
        thread.join(10)
    assert order == list("abcd")
    stores.close()


def test_a_thread_that_waits_for_the_database_too_long_is_answered_503(tmp_path: Path) -> None:
    stores = Stores(str(tmp_path / "loyalty.db"), wait=0.2)
    failed: list[BaseException] = []

    def borrower() -> None:
        try:
            with stores.keys():
                pass
        except ServiceError as error:
            failed.append(error)

    with stores.borrow(PROGRAM):
        thread = threading.Thread(target=borrower)
        thread.start()
        thread.join(10)
    assert [error.diagnostics[0].code for error in failed if isinstance(error, ServiceError)] == ["RE810"]
    assert stores._gate is not None and not stores._gate._waiting  # who gave up left the line
    with stores.keys():  # and the database is free again
        pass
    stores.close()


def test_a_worker_that_cannot_take_the_gate_lets_its_next_thread_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while taking the file's lock (the folder cannot be written) is the request's;
    the connection goes back to its pool and the next request tries again."""
    stores = Stores(str(tmp_path / "loyalty.db"))
    failing = {"left": 1}
    real_open = os.open

    def flaky_open(path: str, *args: Any) -> int:
        if path.endswith(GATE_SUFFIX) and failing["left"]:
            failing["left"] -= 1
            raise PermissionError(path)
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", flaky_open)
    with pytest.raises(PermissionError), stores.borrow(PROGRAM):
        pass
    with stores.borrow(PROGRAM) as store:
        assert store.state("nobody") is None
    stores.close()


def test_other_stores_have_no_gate(tmp_path: Path) -> None:
    assert Stores("memory:")._gate is None
    assert Stores("postgresql://localhost/loyalty")._gate is None
    assert Stores(f"sqlite:///{tmp_path / 'x.db'}?synchronous=normal")._gate is not None
