"""A request for a customer that waits for their erasure's lock on PostgreSQL, and finds the row
gone once it has it: the docs promise that an event for the id afterwards starts a new customer,
and that a desk operation for a customer the store no longer has is 404 (RE606).

Until 2026-12-07 each of them was answered 500 (RE809): the store's lock for one customer
(store/postgres.py `_lock_customer`) inserts the row if missing and then locks it, and the insert
had found the erasure's row, which was gone when the lock was granted. Found by a hunt that raced
events, redemptions, adjustments, voids and an erasure for a few customers through 2 and 4 workers.

The erasure is held at its deletion of the customer's row (a trigger waits for an advisory lock
the test holds) until the other request waits for the row's lock, then let go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from rules_engine.http import Settings
from tests.http.conftest import Server, exact, post, purchase, serving

P = "/v1/programs/coffee-club"
_HELD = 7_341_043
"""The advisory lock the erasure's deletion waits for."""


@contextmanager
def _erasure_held(db: str) -> Iterator[psycopg.Connection[Any]]:
    """Every deletion of a customer's row waits (a trigger) until the block ends; the connection
    that holds it, to watch the server with."""
    with psycopg.connect(db, autocommit=True) as holder:
        holder.execute(
            "CREATE FUNCTION held() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" PERFORM pg_advisory_xact_lock_shared({_HELD}); RETURN OLD; END $$"
        )
        holder.execute("CREATE TRIGGER held BEFORE DELETE ON customers FOR EACH ROW EXECUTE FUNCTION held()")
        holder.execute("SELECT pg_advisory_lock(%s)", (_HELD,))
        try:
            yield holder
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (_HELD,))


def _until_waiting(holder: psycopg.Connection[Any], event: str, count: int = 1) -> None:
    """Until `count` of the server's sessions wait for a lock of the kind `event` (pg_stat_activity's
    `wait_event`: 'advisory', or 'transactionid' for a row another transaction holds)."""
    deadline = time.monotonic() + 30
    while True:
        row = holder.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND wait_event = %s",
            (event,),
        ).fetchone()
        if row is not None and row[0] >= count:
            return
        assert time.monotonic() < deadline, f"no session waits for {event}"
        time.sleep(0.02)


def _in_thread(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()))
    thread.start()
    return thread, answers


@pytest.fixture
def server(program_dir: Path, postgres_database: str) -> Iterator[Server]:
    with serving(Settings(programs=program_dir, db=postgres_database)) as running:
        running.keys["admin"] = running.add_key(["admin"])
        yield running


RACERS: dict[str, Callable[[httpx.Client], httpx.Response]] = {
    "event": lambda client: post(client, f"{P}/events", purchase(2, "gone")),
    "erasure": lambda client: client.delete(f"{P}/customers/gone"),
    "adjustment": lambda client: post(
        client, f"{P}/customers/gone/adjustments", {"id": "adj-1", "points": 100, "reason": "lost order"}
    ),
    "void": lambda client: post(
        client, f"{P}/customers/gone/voids", {"id": "void-1", "event": "evt-gone-1", "reason": "twice"}
    ),
}


@pytest.mark.parametrize("racer", sorted(RACERS))
def test_a_request_that_waited_for_its_customers_erasure_finds_them_gone(
    server: Server, postgres_database: str, racer: str
) -> None:
    with server.client(server.keys["admin"]) as admin:
        assert post(admin, f"{P}/events", purchase(1, "gone")).status_code == 200
        with _erasure_held(postgres_database) as holder:
            erasing, erased = _in_thread(lambda: admin.delete(f"{P}/customers/gone"))
            _until_waiting(holder, "advisory")  # the erasure holds the row, deleting it
            racing, raced = _in_thread(lambda: RACERS[racer](admin))
            _until_waiting(holder, "transactionid")  # the other request waits for the row
        erasing.join(30)
        racing.join(30)
        assert erased[0].status_code == 200, erased[0].text
        answer = raced[0]
        if racer == "event":  # a new customer's first purchase
            assert answer.status_code == 200, answer.text
            assert exact(answer)["duplicate"] is False
            state = exact(admin.get(f"{P}/customers/gone"))["state"]
            assert state["visits"] == 1 and state["processed"] == ["evt-gone-2"]
        else:
            assert (answer.status_code, answer.json()["code"]) == (404, "RE606"), answer.text
            assert admin.get(f"{P}/customers/gone").status_code == 404
        assert exact(admin.get(f"{P}/ledger/export"))["summary"]["reconciles"] is True
