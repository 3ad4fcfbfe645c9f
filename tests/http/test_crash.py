"""`loyalty serve` as a process: killed with SIGKILL in the middle of a stream, a new one started,
every event not acknowledged sent again — each customer ends with exactly the balance the engine
alone gives; then SIGTERM in the middle of a burst: the requests in flight finish, the process
ends, and every acknowledged event is in the store."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from tests.conftest import ROOT
from tests.http.conftest import add_key, post, purchase, serve_process

CUSTOMERS = [f"crash-{n}" for n in range(4)]
EVENTS = [purchase(n, customer) for n in range(1, 31) for customer in CUSTOMERS]


def states(db: str) -> dict[str, Any]:
    with open_store(db, "coffee-club") as store:
        return {customer: store.state(customer) for customer in CUSTOMERS}


def expected() -> dict[str, Any]:
    loyalty = Loyalty.in_memory(Engine.from_file(ROOT / "programs" / "coffee-club.yaml"))
    for event in EVENTS:
        loyalty.handle(event)
    return {customer: loyalty.store.state(customer) for customer in CUSTOMERS}


def send(
    url: str, token: str, events: list[dict[str, Any]], acknowledged: set[str], stop: threading.Event
) -> None:
    """Send events in order until one fails to be acknowledged (the server is gone) or `stop`."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        for event in events:
            if stop.is_set():
                return
            try:
                answer = post(client, "/v1/programs/coffee-club/events", event)
            except httpx.TransportError:
                return
            if answer.status_code != 200:
                return
            acknowledged.add(event["id"])


@pytest.mark.parametrize("working", [False, True])
def test_kill_9_mid_stream_then_resending_the_unacknowledged_gives_exact_balances(
    program_dir: Path, tmp_path: Path, working: bool
) -> None:
    """`working`: the store carries working states (`?working=1`): the service steps in place."""
    db = f"sqlite:///{tmp_path / 'crash.db'}?working=1" if working else str(tmp_path / "crash.db")
    token = add_key(db, ["events:write"])
    acknowledged: set[str] = set()
    stop = threading.Event()
    with serve_process(program_dir, db, cwd=tmp_path) as first:
        sender = threading.Thread(target=send, args=(first.url, token, EVENTS, acknowledged, stop))
        sender.start()
        while len(acknowledged) < 40 and sender.is_alive():
            threading.Event().wait(0.01)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        sender.join(30)
    assert 40 <= len(acknowledged) < len(EVENTS)

    with serve_process(program_dir, db, cwd=tmp_path) as second:
        unacknowledged = [event for event in EVENTS if event["id"] not in acknowledged]
        with second.client(token) as client:
            for event in unacknowledged:
                answer = post(client, "/v1/programs/coffee-club/events", event)
                assert answer.status_code == 200, answer.text
            assert post(client, "/v1/programs/coffee-club/events", EVENTS[0]).json()["duplicate"] is True
        wanted = expected()
        for customer, state in states(db).items():
            assert state == wanted[customer], customer  # balances, lots, ledger: exactly the engine's

        # SIGTERM in the middle of a burst from four clients, one customer each: the requests in
        # flight finish, new ones are refused, and every acknowledged event is stored.
        late = [purchase(n, customer) for n in range(31, 61) for customer in CUSTOMERS]
        burst: set[str] = set()
        stop = threading.Event()
        senders = [
            threading.Thread(target=send, args=(second.url, token, late[k::4], burst, stop)) for k in range(4)
        ]
        for thread in senders:
            thread.start()
        while len(burst) < 10:
            threading.Event().wait(0.01)
        second.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: the exit status says SIGTERM.
        assert second.process.wait(30) == -signal.SIGTERM
        for thread in senders:
            thread.join(30)
        log = second.log_lines()

    assert 10 <= len(burst) < len(late)
    processed = {event for state in states(db).values() for event in state.processed}
    assert burst <= processed
    said = [line.get("message") for line in log]
    assert said.index("Shutting down") < said.index("Application shutdown complete.")
    assert all(line["status"] == 200 for line in log if line.get("route") == "/v1/programs/{program}/events")
