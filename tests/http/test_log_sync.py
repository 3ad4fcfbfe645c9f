"""SQLite's log synced behind the lane's commits (store/sqlite_sync.py `LogSync`, threads.py
`Lane(deliver=…)`, http/app.py `_deliver`): the lane's connection commits without syncing, and a
group's answers leave only once the log is on disk, so an acknowledged event is as durable as
before; a sync that fails answers 503 (RE810), and the event sent again is answered as stored."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from rules_engine import jsonio
from rules_engine.http import Settings
from rules_engine.http.threads import Lane, More, Reply
from rules_engine.store import open_store
from rules_engine.store.sqlite import SqliteStore
from rules_engine.store.sqlite_sync import LogSync, commit_behind
from tests.http.conftest import Server, purchase, serving

EVENTS = "/v1/programs/coffee-club/events"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


class Held:
    """`os.fdatasync` as the sync thread calls it, held until `release` (or failing with `error`),
    noting which files it synced."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, error: OSError | None = None) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.error = error
        self.synced: list[str] = []
        monkeypatch.setattr(os, "fdatasync", self)

    def __call__(self, handle: int) -> None:
        self.started.set()
        assert self.release.wait(30)
        self.synced.append(os.readlink(f"/proc/self/fd/{handle}"))
        if self.error is not None:
            raise self.error


def _note(answers: list[tuple[int, OSError | None]], number: int, error: OSError | None) -> None:
    answers.append((number, error))


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


# -- the sync thread --------------------------------------------------------------------------------
def test_a_call_is_answered_once_the_log_file_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db.sqlite-wal").write_bytes(b"frames")
    held = Held(monkeypatch)
    sync = LogSync(str(tmp_path / "db.sqlite"))
    answers: list[OSError | None] = []
    try:
        sync.after(answers.append)
        assert held.started.wait(30)
        time.sleep(0.05)
        assert answers == []  # not before the sync returned
        held.release.set()
        _wait_for(lambda: answers, "the call was not answered")
        assert answers == [None]
        assert held.synced == [str(tmp_path / "db.sqlite-wal")]
    finally:
        held.release.set()
        sync.close()


def test_the_calls_queued_while_a_sync_runs_share_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db.sqlite-wal").write_bytes(b"frames")
    held = Held(monkeypatch)
    sync = LogSync(str(tmp_path / "db.sqlite"))
    answers: list[tuple[int, OSError | None]] = []
    try:
        sync.after(partial(_note, answers, 0))
        assert held.started.wait(30)
        for number in (1, 2, 3):  # committed while the first sync runs: the next covers them all
            sync.after(partial(_note, answers, number))
        held.release.set()
        _wait_for(lambda: len(answers) == 4, "the calls were not answered")
        assert answers == [(0, None), (1, None), (2, None), (3, None)]  # in the order they came
        assert sync.syncs == 2
    finally:
        held.release.set()
        sync.close()


def test_a_sync_that_fails_hands_its_error_to_every_call_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db.sqlite-wal").write_bytes(b"frames")
    held = Held(monkeypatch, error=OSError(5, "Input/output error"))
    held.release.set()
    sync = LogSync(str(tmp_path / "db.sqlite"))
    answers: list[OSError | None] = []
    try:
        sync.after(answers.append)
        sync.after(answers.append)
        _wait_for(lambda: len(answers) == 2, "the calls were not answered")
        assert all(isinstance(error, OSError) and error.errno == 5 for error in answers)
    finally:
        sync.close()


def test_close_answers_the_calls_queued_and_refuses_later_ones(tmp_path: Path) -> None:
    sync = LogSync(str(tmp_path / "db.sqlite"))  # no log file: nothing to sync, answered None
    answers: list[OSError | None] = []
    sync.after(answers.append)
    sync.close()
    assert answers == [None]
    sync.after(answers.append)  # closed: answered at once, with an error
    assert answers[0] is None and isinstance(answers[1], OSError)


# -- the store --------------------------------------------------------------------------------------
def _synchronous(store: SqliteStore) -> int:
    return int(store._execute("PRAGMA synchronous")[0][0])


def _committed_on(store: SqliteStore, *, behind: bool) -> int:
    """`PRAGMA synchronous` inside a transaction begun on a new thread (`commit_behind` there or
    not); after it, FULL again (a statement outside a transaction commits on its own)."""
    found: list[int] = []

    def write() -> None:
        if behind:
            commit_behind()
        with store.group():
            found.append(_synchronous(store))
        assert _synchronous(store) == 2 or not store._syncs
        with store.transaction("anna"):  # nothing changed: rolled back
            found.append(_synchronous(store))
        assert _synchronous(store) == 2 or not store._syncs

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(30)
    assert len(found) == 2 and found[0] == found[1]
    return found[0]


def test_a_transaction_begun_on_a_thread_that_commits_behind_does_not_sync_the_log(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "full.db"), "coffee-club") as store:
        assert isinstance(store, SqliteStore)
        assert _synchronous(store) == 2  # FULL: every commit syncs
        assert (
            _committed_on(store, behind=True) == 1
        )  # NORMAL: the commit writes the log, the thread syncs it
        assert _committed_on(store, behind=False) == 2  # any other thread: FULL again
        assert _committed_on(store, behind=True) == 1
    with open_store(f"sqlite:///{tmp_path / 'normal.db'}?synchronous=normal", "coffee-club") as store:
        assert isinstance(store, SqliteStore)
        assert _committed_on(store, behind=False) == 1  # asked for no sync: NORMAL on every thread


def test_a_transaction_that_cannot_begin_leaves_every_commit_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(str(tmp_path / "full.db"), "coffee-club") as store:
        assert isinstance(store, SqliteStore)
        execute = store._execute

        def busy(sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            if sql == "BEGIN IMMEDIATE":
                raise RuntimeError("the database is locked")
            return execute(sql, parameters)

        monkeypatch.setattr(store, "_execute", busy)
        failed: list[BaseException] = []

        def begin_behind() -> None:
            commit_behind()
            try:
                store._begin()
            except RuntimeError as error:
                failed.append(error)

        thread = threading.Thread(target=begin_behind)
        thread.start()
        thread.join(30)
        assert failed
        assert _synchronous(store) == 2  # a statement outside a transaction still syncs


# -- the lane ---------------------------------------------------------------------------------------
def test_a_lane_with_deliver_holds_the_groups_answers_until_released() -> None:
    released: list[tuple[str, Any]] = []

    def deliver(key: str, release: Any, returned: Any) -> None:  # returned: the function's (None)
        released.append((key, release))

    def function(key: str, arguments: Sequence[int], reply: Reply, more: More) -> None:
        for index, argument in enumerate(arguments):
            reply(index, ValueError("odd") if argument % 2 else argument * 10)

    lane: Lane[int] = Lane("test-lane", function, most=32, wait=30, late=TimeoutError, deliver=deliver)

    async def main(error: BaseException | None) -> list[Any]:
        calls = [asyncio.ensure_future(lane.run("a", argument)) for argument in (2, 3)]
        await asyncio.to_thread(_wait_for, lambda: lane.calls == 2, "the group did not run")
        await asyncio.sleep(0.05)
        assert not any(call.done() for call in calls)  # held: not released yet
        key, release = released[-1]
        assert key == "a"
        release(error)
        return list(await asyncio.gather(*calls, return_exceptions=True))

    try:
        first = asyncio.run(main(None))
        assert first[0] == 20 and isinstance(first[1], ValueError)
        failed = asyncio.run(main(OSError("not on disk")))
        assert isinstance(failed[0], OSError)  # was to succeed: fails with the release's error
        assert isinstance(failed[1], ValueError)  # a refusal stays what it was
    finally:
        lane.shutdown()


# -- the service ------------------------------------------------------------------------------------
def _settings(program_dir: Path, db: str) -> Settings:
    return Settings(programs=program_dir, db=db, clock=lambda: NOW, docs=False)


def _send(server: Server, token: str, body: Any) -> httpx.Response:
    with server.client(token) as client:
        return client.post(EVENTS, content=jsonio.dumps(body), headers={"Content-Type": "application/json"})


def _stored_events(db: Path) -> int:
    with sqlite3.connect(db) as other:  # another connection: what is committed
        return int(other.execute("SELECT count(*) FROM events").fetchone()[0])


def test_an_event_is_answered_only_once_the_log_holding_it_is_on_disk(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "served.db"
    with serving(_settings(program_dir, str(db))) as server:
        token = server.add_key(["events:write"])
        assert _send(server, token, purchase(1)).status_code == 200  # the lane's store is open
        log_sync = server.runtime.stores.log_sync
        assert log_sync is not None
        synced = log_sync.syncs
        assert synced >= 1  # the first answer waited for one
        held = Held(monkeypatch)
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(_send, server, token, purchase(2))
            assert held.started.wait(30)
            _wait_for(lambda: _stored_events(db) == 2, "the event was not committed")
            time.sleep(0.1)
            assert not answer.done()  # committed, but not answered before the log is on disk
            held.release.set()
            assert answer.result(30).status_code == 200
        assert held.synced == [f"{db}-wal"]
        assert log_sync.syncs == synced + 1


def test_an_event_whose_log_cannot_be_synced_is_answered_503_and_again_as_stored(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "served.db"
    with serving(_settings(program_dir, str(db))) as server:
        token = server.add_key(["events:write"])
        assert _send(server, token, purchase(1)).status_code == 200
        held = Held(monkeypatch, error=OSError(5, "Input/output error"))
        held.release.set()
        failed = _send(server, token, purchase(2))
        assert failed.status_code == 503, failed.text
        assert failed.json()["code"] == "RE810"
        assert "stored" in failed.json()["detail"]
        monkeypatch.undo()  # the disk is back
        again = _send(server, token, purchase(2))  # stored: the redelivery gets the stored outcome
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"]  # applied once, by the request answered 503
        assert _stored_events(db) == 2
