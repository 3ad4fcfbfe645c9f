"""An event whose transaction the database gives up for another's sake (`TransientError`: a
deadlock between two workers' groups on PostgreSQL, a serialization failure) is the store's
business: the service decides it again, in a transaction of its own, up to `events.TRIES` times,
before it answers 503 — with `Retry-After`, saying that the same request may be sent again (its
event id makes that safe). Forced: SQLite's event raises it, PostgreSQL's server raises it (a
trigger, tests/store/test_deadlocks.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from rules_engine import jsonio
from rules_engine.errors import Diagnostic, TransientError
from rules_engine.http import Settings
from rules_engine.http.routes import events
from rules_engine.service import Handled, Loyalty
from rules_engine.store import open_store
from tests.http.conftest import Server, purchase, serving
from tests.store.test_deadlocks import give_up

EVENTS = "/v1/programs/coffee-club/events"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _send(server: Server, token: str, body: Any) -> httpx.Response:
    with server.client(token) as client:
        return client.post(EVENTS, content=jsonio.dumps(body), headers={"Content-Type": "application/json"})


def _answers(server: Server, token: str, times: int) -> None:
    """The event given up `times` times: applied once when fewer than `TRIES`, else 503 with
    Retry-After, and sent again then, applied once."""
    event = purchase(1, "dora")
    answer = _send(server, token, event)
    if times < events.TRIES:
        assert answer.status_code == 200, answer.text
        assert answer.json()["duplicate"] is False
    else:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "1"
        problem = answer.json()
        assert problem["code"] == "RE810"
        assert "deadlock" in problem["detail"]
        assert "event id makes that safe" in problem["errors"][0]["hint"]
        again = _send(server, token, event)  # nothing of it was written: applied now, once
        assert again.status_code == 200 and again.json()["duplicate"] is False
    assert _send(server, token, event).json()["duplicate"] is True


@pytest.mark.parametrize("shortcut", [True, False])
@pytest.mark.parametrize("times", [events.TRIES - 1, events.TRIES])
def test_an_event_the_database_gave_up_is_decided_again_before_a_503(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times: int, shortcut: bool
) -> None:
    """SQLite: the lane's group of one (`shortcut`: it fails once as a group, then the event is
    decided on its own, `TRIES` times at most) and FastAPI's route (`TRIES` times) alike."""
    handle = Loyalty.handle
    left = [times + shortcut]

    def giving_up(self: Loyalty, event: Any, *, explain: bool = False) -> Handled:
        if left[0] > 0:
            left[0] -= 1
            raise TransientError([Diagnostic("RE605", "deadlock detected")])
        return handle(self, event, explain=explain)

    monkeypatch.setattr(Loyalty, "handle", giving_up)
    db = str(tmp_path / "loyalty.db")
    settings = Settings(programs=program_dir, db=db, clock=lambda: NOW, shortcut=shortcut, docs=False)
    with serving(settings) as server:
        _answers(server, server.add_key(["events:write"]), times)
    assert left == [0]


@pytest.mark.parametrize("times", [events.TRIES - 1, events.TRIES])
def test_postgresql_giving_an_event_up_is_decided_again_before_a_503(
    program_dir: Path, postgres_database: str, times: int
) -> None:
    """PostgreSQL's server ends the event's transaction with SQLSTATE 40P01, as its deadlock
    detection does: the store's `TransientError`, through the service's real store."""
    open_store(postgres_database, "coffee-club").close()  # its tables, then the trigger on them
    give_up(postgres_database, "evt-dora-1", times)
    settings = Settings(programs=program_dir, db=postgres_database, clock=lambda: NOW, docs=False)
    with serving(settings) as server:
        _answers(server, server.add_key(["events:write"]), times)
