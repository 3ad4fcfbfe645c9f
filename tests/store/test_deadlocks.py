"""A deadlock between two PostgreSQL transactions is the store's `TransientError`: the server
rolled one back so the other could go on, and the same transaction again succeeds (`loyalty run`
tries the line again, tests/test_replay.py). A real deadlock, forced: two connections lock two
rows in opposite orders."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rules_engine.errors import StoreError, TransientError
from rules_engine.store import open_store


def test_a_deadlock_is_transient_and_other_failures_are_not(postgres_database: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    store = open_store(postgres_database, "deadlocks")
    first = psycopg.connect(postgres_database, autocommit=True)
    second = psycopg.connect(postgres_database, autocommit=True)
    caught: list[Any] = []
    try:
        first.execute("CREATE TABLE pair (id int PRIMARY KEY)")
        first.execute("INSERT INTO pair VALUES (1), (2)")
        first.execute("BEGIN")
        second.execute("BEGIN")
        first.execute("UPDATE pair SET id = id WHERE id = 1")
        second.execute("UPDATE pair SET id = id WHERE id = 2")

        def cross(connection: Any, row: int) -> None:
            try:
                connection.execute("UPDATE pair SET id = id WHERE id = %s", (row,))
            except psycopg.Error as problem:
                caught.append(problem)
                connection.execute("ROLLBACK")

        threads = [
            threading.Thread(target=cross, args=(first, 2)),
            threading.Thread(target=cross, args=(second, 1)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(caught) == 1  # the server chose one; the other went on
        assert isinstance(store._failed(caught[0]), TransientError)
        try:
            first.execute("SELECT * FROM no_such_table")
        except psycopg.Error as problem:
            other = store._failed(problem)
        assert isinstance(other, StoreError) and not isinstance(other, TransientError)
    finally:
        first.close()  # a connection closed in a transaction rolls it back
        second.close()
        store.close()
