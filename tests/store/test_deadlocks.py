"""A deadlock between two PostgreSQL transactions is the store's `TransientError`: the server
rolled one back so the other could go on, and the same transaction again succeeds (`loyalty run`
tries the line again, tests/test_replay.py). A real deadlock, forced: two connections lock two
rows in opposite orders."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import StoreError, TransientError
from rules_engine.replay import TRIES, replay
from rules_engine.service import Loyalty
from rules_engine.store import open_store

ROOT = Path(__file__).resolve().parent.parent.parent
PROGRAM = ROOT / "programs" / "coffee-club.yaml"
DECEMBER = ROOT / "programs" / "events" / "coffee-club-december.jsonl"


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


GIVE_UP = """
CREATE SEQUENCE given_up;
CREATE FUNCTION give_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event = %(event)s AND nextval('given_up') <= %(times)s THEN
        RAISE EXCEPTION 'deadlock detected (forced)' USING ERRCODE = '40P01';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER give_up BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION give_up();
"""
"""The server gives up the transaction that writes one event, `times` times, as deadlock detection
would (SQLSTATE 40P01): a sequence counts, since what a rolled-back transaction wrote is undone."""


def give_up(url: str, event: str, times: int) -> None:
    """Make PostgreSQL end every transaction writing `event` with a deadlock, its first `times`."""
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(GIVE_UP.replace("%(event)s", f"'{event}'").replace("%(times)s", str(times)))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("times", [TRIES - 1, TRIES])
def test_loyalty_run_tries_a_line_postgresql_gave_up_again(
    postgres_database: str, batch: int, times: int
) -> None:
    """`loyalty run --db postgresql://…`, a transaction a line (`--batch 1`) as in batches: a line
    whose transaction the server ended for another's sake is tried again, up to `TRIES` times on its
    own (in batches, after its batch failed), and the run stops at it only after that."""
    store = open_store(postgres_database, "coffee-club")  # its tables, then the trigger on them
    # in batches, its batch fails first at its COMMIT (written behind), and again as a batch
    give_up(postgres_database, "s6", times + (2 if batch > 1 else 0))
    result = replay(Loyalty(Engine.from_file(PROGRAM), store, horizon=None), DECEMBER, batch=batch)
    if times < TRIES:
        assert (result.applied, result.stopped, result.failure) == (7, None, None)
    else:
        assert (result.applied, result.line, result.stopped) == (4, 5, "failed")
        assert result.failure is not None and "deadlock detected (forced)" in result.failure.message
    assert store.processed() == result.applied
    store.close()
