"""Two small things the SQL stores' writes do per event: a customer's first revision drawn from
the store module's own generator (sql_writing.py `_FIRST_REVISIONS`), and SQLite's moment text
kept for the next identical moment (sqlite.py `_time`)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from rules_engine.state.customer import CustomerState
from rules_engine.store import open_store
from rules_engine.store.base import Change
from rules_engine.store.sql_writing import _FIRST_REVISIONS
from rules_engine.store.sqlite import SqliteStore


def test_a_forked_child_draws_other_first_revisions() -> None:
    """The generator is seeded again in a forked child (a worker): without it, parent and child
    would draw the same revisions for their new customers."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next draw, to the parent
        try:
            os.write(write, str(_FIRST_REVISIONS.getrandbits(40)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = int(pipe.read())
    os.waitpid(pid, 0)
    assert child != _FIRST_REVISIONS.getrandbits(40)


def test_a_first_revision_is_from_1_to_2_to_the_40(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "r.db"), "p") as store:
        assert isinstance(store, SqliteStore)
        for n in range(20):
            with store.transaction(f"c{n}") as transaction:
                transaction.save(Change(CustomerState(customer=f"c{n}")))
        revisions = [row[0] for row in store._execute("SELECT revision FROM customers")]
    assert len(revisions) == 20
    assert all(1 <= revision <= 1 << 40 for revision in revisions)
    assert len(set(revisions)) == len(revisions)


def test_a_moments_text_is_its_own_whatever_came_before(tmp_path: Path) -> None:
    """The text kept is the last moment's, by identity: an equal moment that is another object,
    another moment, another offset each get their own."""
    with open_store(str(tmp_path / "t.db"), "p") as store:
        assert isinstance(store, SqliteStore)
        first = dt.datetime(2026, 12, 6, 8, 30, tzinfo=dt.UTC)
        other = dt.datetime(2026, 12, 6, 9, 30, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        same = dt.datetime(2026, 12, 6, 8, 30, tzinfo=dt.UTC)
        for moment in (first, first, other, same, first, other):
            assert store._time(moment) == moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
        assert store._time(other) == "2026-12-06T08:30:00.000005+00:00"
