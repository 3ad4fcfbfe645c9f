"""The support desk racing other requests on PostgreSQL, where each request has a connection of
its own and waits for another's row lock: what the docs promise holds once the wait is over.

- A request for a customer that waited for their erasure's lock finds the row gone: an event then
  starts a new customer, and a desk operation for a customer the store no longer has is 404
  (RE606). Until 2026-12-07 each was answered 500 (RE809): the store's lock for one customer
  (store/postgres.py `_lock_customer`) inserts the row if missing and then locks it, and the
  insert had found the erasure's row, gone once the lock was granted.
- Two imports of the same bulk codes at once: one imports them, the other is refused naming them
  (422, RE445). Until 2026-12-07 both found none stored, and the second failed on the first's
  rows: 503 (RE810).
- A code import or generation waits for the database off the event loop: the worker answers
  other requests meanwhile (until 2026-12-07 the route did the store's work on the loop).

Found by a hunt that raced events, redemptions, adjustments, voids, code imports and an erasure
for a few customers through 2 and 4 workers. Each race is held at the point where it was lost: a
trigger waits for an advisory lock the test holds until the other request waits too.
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
"""The advisory lock the held statements wait for (`_held`)."""


@contextmanager
def _held(db: str, what: str) -> Iterator[psycopg.Connection[Any]]:
    """Every `what` (a trigger's event and table: "DELETE ON customers") waits, before it changes
    its row, until the block ends; the connection that holds them, to watch the server with."""
    with psycopg.connect(db, autocommit=True) as holder:
        holder.execute(
            "CREATE FUNCTION held() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" PERFORM pg_advisory_xact_lock_shared({_HELD}); RETURN COALESCE(NEW, OLD); END $$"
        )
        holder.execute(f"CREATE TRIGGER held BEFORE {what} FOR EACH ROW EXECUTE FUNCTION held()")
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
        with _held(postgres_database, "DELETE ON customers") as holder:
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


def test_two_imports_of_the_same_codes_at_once_import_them_once(
    server: Server, postgres_database: str
) -> None:
    codes = "code\n" + "".join(f"FLYER-{n:04d}\n" for n in range(20))
    path = f"{P}/coupons/free-latte/codes"
    with server.client(server.keys["admin"]) as admin:

        def imported(batch: str) -> httpx.Response:
            return admin.post(f"{path}?batch={batch}", content=codes, headers={"Content-Type": "text/csv"})

        with _held(postgres_database, "INSERT ON coupon_codes") as holder:
            first, firsts = _in_thread(lambda: imported("first"))
            _until_waiting(holder, "advisory")  # inserting its codes
            second, seconds = _in_thread(lambda: imported("second"))
            _until_waiting(holder, "advisory", 2)  # the second waits as well
        first.join(30)
        second.join(30)
        assert firsts[0].status_code == 200, firsts[0].text
        refused = seconds[0]
        assert (refused.status_code, refused.json()["code"]) == (422, "RE445"), refused.text
        assert "FLYER-0000" in refused.text
        listed = exact(admin.get(f"{path}?format=json"))["codes"]
        assert sorted(code["code"] for code in listed) == [f"FLYER-{n:04d}" for n in range(20)]
        assert {code["batch"] for code in listed} == {"first"}


def test_the_service_answers_other_requests_while_an_import_waits_for_the_database(
    server: Server, postgres_database: str
) -> None:
    with server.client(server.keys["admin"]) as admin:
        with _held(postgres_database, "INSERT ON coupon_codes") as holder:
            importing, imported = _in_thread(
                lambda: admin.post(
                    f"{P}/coupons/free-latte/codes",
                    content="code\nFLYER-0001\n",
                    headers={"Content-Type": "text/csv"},
                )
            )
            _until_waiting(holder, "advisory")  # the import waits for the database
            bearer = {"Authorization": f"Bearer {server.keys['admin']}"}
            with httpx.Client(base_url=server.url, headers=bearer, timeout=5.0) as other:
                assert other.get("/healthz").status_code == 200
                assert post(other, f"{P}/events", purchase(1, "meanwhile")).status_code == 200
        importing.join(30)
        assert imported[0].status_code == 200, imported[0].text
