"""SQLite's write-ahead log checkpointed off the commit path (store/sqlite_log.py): no commit runs
a checkpoint, the log stays bounded over a long stream all the same, a clean close leaves no
-wal file, and a process killed with SIGKILL while background checkpoints run loses nothing it
acknowledged."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rules_engine.errors import EventError, StoreError
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.sqlite import SqliteStore
from rules_engine.store.sqlite_log import BEHIND, Log
from tests.store.streams import PROGRAM, engine, reference, stream

ROOT = Path(__file__).resolve().parents[2]
ENGINE = engine()
FRAME = 24
"""A log frame's header: a frame is a page and these bytes (the -wal file's format)."""


def feed(store: SqliteStore, events: list[dict[str, Any]], after: Any = None) -> None:
    loyalty = Loyalty(ENGINE, store, horizon=None)  # the stream runs into next year
    for event in events:
        with contextlib.suppress(EventError):  # a redemption refused for lack of points: nothing written
            loyalty.handle(event)
        if after is not None:
            after()


def log_of(store: SqliteStore) -> Log:
    assert store._log is not None
    return store._log


def page_size(store: SqliteStore) -> int:
    size: int = store._db.execute("PRAGMA page_size").fetchone()[0]
    return size


def test_no_commit_checkpoints_and_the_log_stays_bounded_over_a_long_stream(tmp_path: Path) -> None:
    """1,200 events an own transaction each write ~30,000 pages of log; with a bound of 100 pages
    the -wal file never grows past (1 + BEHIND) × 100 pages and the slack of one estimate (twice
    that), where a log never started again would hold them all."""
    path = tmp_path / "loyalty.db"
    store = SqliteStore(path, "store-test", synchronous="normal", log_pages=100)
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)  # never in a commit
    log = log_of(store)
    wal = Path(f"{path}-wal")
    highest = 0

    def measure() -> None:
        nonlocal highest
        highest = max(highest, wal.stat().st_size)

    events = stream(seed=5, customers=40, events=1200)
    feed(store, events, measure)
    frame = page_size(store) + FRAME
    bound = 2 * (1 + BEHIND) * 100 * frame
    assert highest <= bound, f"the log grew to {highest // frame} pages"
    assert log.passes >= 10  # checkpoints ran in the background
    assert log.tails >= 10  # and a transaction copied what each one missed before it began
    assert dict(store.states()) == reference(ENGINE, events)
    store.close()


def test_commit_keeps_sqlites_automatic_checkpoint(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "loyalty.db", "store-test", checkpoint="commit")
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    assert store._log is None
    store.close()


def test_a_clean_close_checkpoints_and_leaves_no_log(tmp_path: Path) -> None:
    """A checkpoint after every commit (a bound of 1 page): the close comes while one may run. Two
    stores of one database (as the service's pool holds) share the log's checkpoints; the last to
    close leaves no -wal, and the file reads back read-only (sqlite.py refuses a log never
    checkpointed)."""
    path = tmp_path / "loyalty.db"
    first = SqliteStore(path, "store-test", log_pages=1)
    second = SqliteStore(path, "store-test", log_pages=1)
    assert first._log is second._log
    events = stream(seed=7, customers=5, events=80)
    feed(first, events[:40])
    feed(second, events[40:60])
    first.close()
    feed(second, events[60:])
    second.close()
    assert not Path(f"{path}-wal").exists()
    with open_store(str(path), "store-test", readonly=True) as again:
        assert dict(again.states()) == reference(ENGINE, events)


WRITER = """
import json, sys
from rules_engine.errors import EventError
from rules_engine.service import Loyalty
from rules_engine.store.sqlite import SqliteStore
from tests.store.test_checkpoints import ENGINE

store = SqliteStore(sys.argv[1], "store-test", log_pages=20)
loyalty = Loyalty(ENGINE, store, horizon=None)
for line in sys.stdin:
    event = json.loads(line)
    try:
        loyalty.handle(event)
    except EventError:
        pass
    print(event["id"], flush=True)  # acknowledged: committed
"""


def test_killed_while_checkpoints_run_it_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """A writer with a checkpoint every ~20 pages, killed with SIGKILL mid-stream three times, each
    time started again after the last event it acknowledged (events it committed unacknowledged
    come again: a duplicate changes nothing): the database ends exactly where the engine alone
    does, so nothing acknowledged was lost (nor anything applied twice)."""
    path = tmp_path / "loyalty.db"
    (tmp_path / "store-test.yaml").write_text(PROGRAM)
    events = stream(seed=9, customers=8, events=300)
    lines = [json.dumps(event) + "\n" for event in events]
    sent = 0
    for stop_after in (40, 60, 80):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            text=True,
        )
        assert writer.stdin is not None and writer.stdout is not None
        writer.stdin.writelines(lines[sent:])
        writer.stdin.flush()
        acknowledged = [writer.stdout.readline().strip() for _ in range(stop_after)]
        writer.send_signal(signal.SIGKILL)
        assert writer.wait() == -signal.SIGKILL
        writer.stdin.close()
        writer.stdout.close()
        assert acknowledged == [event["id"] for event in events[sent : sent + stop_after]]
        assert Path(f"{path}-wal").exists()  # killed: nobody checkpointed its log away
        sent += stop_after
    store = SqliteStore(path, "store-test", log_pages=20)
    feed(store, events[sent:])
    assert dict(store.states()) == reference(ENGINE, events)
    store.close()


def test_the_url_chooses_where_the_log_is_checkpointed(tmp_path: Path) -> None:
    path = tmp_path / "loyalty.db"
    with open_store(f"sqlite:///{path}?checkpoint=commit", "store-test") as kept:
        assert isinstance(kept, SqliteStore) and kept._log is None
    with open_store(f"sqlite:///{path}?checkpoint=background&synchronous=normal", "store-test") as moved:
        assert isinstance(moved, SqliteStore) and moved._log is not None
    with open_store(str(path), "store-test") as default:
        assert isinstance(default, SqliteStore) and default._log is not None
    with pytest.raises(StoreError) as refused:
        open_store(f"sqlite:///{path}?checkpoint=never", "store-test")
    assert refused.value.code == "RE601" and "checkpoint=commit" in (refused.value.diagnostics[0].hint or "")
