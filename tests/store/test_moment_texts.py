"""SQLite's text of a moment (sqlite.py `SqliteStore._time`): each moment's own, UTC to the
microsecond, whether its text was kept (an event's row and its ledger rows, written apart in a
group) or made again, and past the number of texts kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from rules_engine.store import open_store
from rules_engine.store.sqlite import TIMES, SqliteStore


def test_each_moment_is_written_as_its_own_text(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "times.db"), "coffee-club")
    assert isinstance(store, SqliteStore)
    try:
        start = dt.datetime(2026, 3, 29, 0, 30, tzinfo=ZoneInfo("Europe/Paris"))
        moments = [start + dt.timedelta(minutes=17 * i, microseconds=i) for i in range(TIMES * 3)]
        for _ in range(2):  # the second time: the texts kept, then those made again
            for moment in moments:
                expected = moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
                assert store._time(moment) == expected
                assert store._time(moment) == expected
        for _ in range(TIMES * 2):  # moments made and let go: an id used again is another moment
            moment = dt.datetime.now(dt.UTC) + dt.timedelta(days=len(store._times))
            assert store._time(moment) == moment.isoformat(timespec="microseconds")
        assert len(store._times) <= TIMES
    finally:
        store.close()
