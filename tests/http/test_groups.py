"""Events stored in groups (shortcut.py `decide_group`): on SQLite, the events requests of a worker
run on one thread (threads.py `Lane`), and those that wait together are stored in one transaction.
What a client relies on does not change: each event is answered as if it had been stored alone
(the same bytes as FastAPI's route, which stores each in its own transaction), once and in the
order each customer sent them; a refused event changes nothing and does not stop the others; a
group the store fails to commit is stored again one event at a time; the other routes are not held
up by a slow event."""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.errors import Diagnostic, RulesEngineError, StoreError
from rules_engine.http import Settings
from rules_engine.http.routes import events
from rules_engine.http.runtime import Runtime
from rules_engine.http.shortcut import Asked, _decide, decide_group
from rules_engine.http.threads import Lane
from rules_engine.store.sqlite import SqliteStore
from tests.http.conftest import Server, decided_group, purchase, serving

EVENTS = "/v1/programs/coffee-club/events"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _settings(program_dir: Path, db: str, *, shortcut: bool = True) -> Settings:
    return Settings(programs=program_dir, db=db, clock=lambda: NOW, shortcut=shortcut, docs=False)


def _send(server: Server, token: str, body: Any) -> httpx.Response:
    with server.client(token) as client:
        return client.post(EVENTS, content=jsonio.dumps(body), headers={"Content-Type": "application/json"})


def _lane(server: Server) -> Lane[Any]:
    lane = server.runtime.lane
    assert lane is not None  # SQLite: the events go through the lane
    return lane


def _applied(server: Server) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith('loyalty_events_total{program="coffee-club",result="applied",type="purchase"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _groups(server: Server) -> tuple[float, float]:
    """`loyalty_event_group_size`'s count (transactions) and sum (events) for coffee-club."""
    found = {}
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        for part in ("count", "sum"):
            if line.startswith(f'loyalty_event_group_size_{part}{{program="coffee-club"}}'):
                found[part] = float(line.rsplit(" ", 1)[1])
    return found.get("count", 0.0), found.get("sum", 0.0)


@contextmanager
def _held(monkeypatch: pytest.MonkeyPatch, hold: str) -> Iterator[tuple[threading.Event, Callable[[], None]]]:
    """The lane held on the event whose id is `hold` (set: it is held) until the caller calls what
    is yielded: the events sent meanwhile queue up behind it, and go as one group."""
    holding, release = threading.Event(), threading.Event()
    ready = events.ready

    def reading(
        service: Any, program: str, parsed: Any, state: dict[str, Any], running: Any = None
    ) -> events.Ready:
        if getattr(parsed, "id", None) == hold:
            holding.set()
            assert release.wait(30)
        return ready(service, program, parsed, state, running)

    monkeypatch.setattr(events, "ready", reading)
    try:
        yield holding, release.set
    finally:
        release.set()


def _queued(lane: Lane[Any], count: int) -> None:
    deadline = time.monotonic() + 30
    while lane._calls.qsize() < count:
        assert time.monotonic() < deadline, "the requests did not reach the lane"
        time.sleep(0.005)


def _counted(lane: Lane[Any], calls: int) -> None:
    """Wait until the lane has counted `calls` calls: it counts a group once its function has
    returned, after the group's answers went out (a client may read them first)."""
    deadline = time.monotonic() + 30
    while lane.calls < calls and time.monotonic() < deadline:
        time.sleep(0.005)


def test_concurrent_customers_are_answered_as_events_stored_one_by_one(
    program_dir: Path, tmp_path: Path
) -> None:
    """Twelve customers, each sending ten purchases one after another, all at once: every answer is
    byte for byte what a server storing each event alone (FastAPI's route) gives for the same
    events in each customer's order; each event is counted once; some went in groups."""
    customers = [f"c{n}" for n in range(12)]
    sent = {
        customer: [purchase(n, customer, price=f"{100 + 7 * n}.50") for n in range(10)]
        for customer in customers
    }
    with (
        serving(_settings(program_dir, str(tmp_path / "grouped.db"))) as grouped,
        serving(_settings(program_dir, str(tmp_path / "alone.db"), shortcut=False)) as alone,
    ):
        tokens = {server.url: server.add_key(["events:write"]) for server in (grouped, alone)}

        def customer_sends(server: Server, customer: str) -> list[bytes]:
            answers = []
            for body in sent[customer]:
                answer = _send(server, tokens[server.url], body)
                assert answer.status_code == 200, answer.text
                answers.append(answer.content)
            return answers

        with ThreadPoolExecutor(len(customers)) as pool:
            at_once = dict(
                zip(customers, pool.map(lambda c: customer_sends(grouped, c), customers), strict=True)
            )
        one_by_one = {customer: customer_sends(alone, customer) for customer in customers}
        lane = _lane(grouped)
        _counted(lane, 120)
        assert at_once == one_by_one
        assert _applied(grouped) == _applied(alone) == 120
        assert lane.calls == 120
        assert lane.groups < lane.calls  # twelve clients at once: some events waited together
        transactions, stored = _groups(grouped)
        assert stored == 120
        assert transactions < 120  # the metric says so too
        assert _groups(alone) == (0, 0)  # FastAPI's route: a transaction each, not in the histogram


def test_in_one_group_a_refused_event_changes_nothing_and_stops_no_other(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One group (the lane held while they queue): a new event, its redelivery, its id with another
    payload (409), an event without its fields (422), another customer's event and one of theirs dated
    before it (422): each is answered as alone, and only the two new events are applied."""
    anna, bob = purchase(1, "anna"), purchase(5, "bob")
    bodies: list[Any] = [
        anna,
        anna,
        {**anna, "items": [{**anna["items"][0], "qty": 3}]},
        {"id": "x", "type": "purchase"},
        bob,
        purchase(2, "bob"),
    ]
    with serving(_settings(program_dir, str(tmp_path / "loyalty.db"))) as server:
        token = server.add_key(["events:write", "customers:read"])
        lane = _lane(server)
        with _held(monkeypatch, "evt-hold-0") as (held, release), ThreadPoolExecutor(len(bodies) + 1) as pool:
            holding = pool.submit(_send, server, token, purchase(0, "hold"))
            assert held.wait(30)
            answers = []
            for number, body in enumerate(bodies, start=1):
                answers.append(pool.submit(_send, server, token, body))
                _queued(lane, number)  # each queued before the next: the group keeps this order
            release()
            assert holding.result(30).status_code == 200
            results = [answer.result(30) for answer in answers]
        # the six queued while the first was read join its group once the lane has the store
        _counted(lane, 7)
        assert (lane.groups, lane.calls) == (1, 7)
        assert [r.status_code for r in results] == [200, 200, 409, 422, 200, 422]
        first, again = results[0].json(), results[1].json()
        assert (first["duplicate"], again["duplicate"]) == (False, True)
        assert again["outcome"] == first["outcome"]
        assert [r.json()["code"] for r in results[2:4]] + [results[5].json()["code"]] == [
            "RE443",
            "RE410",
            "RE440",
        ]
        assert _applied(server) == 3  # hold, anna, bob
        assert _groups(server) == (1, 6)  # the held event and the five read, in one transaction
        with server.client(token) as client:
            assert client.get("/v1/programs/coffee-club/customers/anna").json()["balance"] == first["balance"]
            assert (
                client.get("/v1/programs/coffee-club/customers/bob").json()["balance"]
                == results[4].json()["balance"]
            )


def test_a_group_the_store_fails_to_commit_is_stored_again_one_event_at_a_time(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group's write fails once (the database failed: RE605): nothing of it was applied, each
    of its events is decided again in a transaction of its own, answered once, counted once."""
    flush = SqliteStore._flush
    failures = []

    def failing_once(self: SqliteStore, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("final") and not failures:
            failures.append(True)
            raise StoreError([Diagnostic("RE605", "the disk said no")])
        flush(self, *args, **kwargs)

    monkeypatch.setattr(SqliteStore, "_flush", failing_once)
    bodies = [purchase(n, f"d{n % 3}") for n in range(1, 7)]
    with serving(_settings(program_dir, str(tmp_path / "loyalty.db"))) as server:
        token = server.add_key(["events:write"])
        lane = _lane(server)
        with _held(monkeypatch, "evt-hold-0") as (held, release), ThreadPoolExecutor(len(bodies) + 1) as pool:
            holding = pool.submit(_send, server, token, purchase(0, "hold"))
            assert held.wait(30)
            answers = []
            for number, body in enumerate(bodies, start=1):
                answers.append(pool.submit(_send, server, token, body))
                _queued(lane, number)
            release()
            assert holding.result(30).status_code == 200
            results = [answer.result(30) for answer in answers]
        assert failures == [True]
        assert [r.status_code for r in results] == [200] * 6
        assert not any(r.json()["duplicate"] for r in results)  # the rolled back group applied none
        assert _applied(server) == 7
        again = [_send(server, token, body) for body in bodies]  # and each is stored exactly once
        assert all(r.json()["duplicate"] for r in again)


def test_a_slow_event_does_not_hold_up_the_health_check(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(_settings(program_dir, str(tmp_path / "loyalty.db"))) as server:
        token = server.add_key(["events:write"])
        with _held(monkeypatch, "evt-slow-0") as (held, release), ThreadPoolExecutor(1) as pool:
            slow = pool.submit(_send, server, token, purchase(0, "slow"))
            assert held.wait(30)
            began = time.monotonic()
            assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
            assert time.monotonic() - began < 5
            assert not slow.done()
            release()
            assert slow.result(30).status_code == 200


# -- a group against its events one by one, drawn by hypothesis (no server: the functions) ---------

_BODIES = st.one_of(
    st.tuples(st.sampled_from(["ann", "ben"]), st.integers(0, 5), st.sampled_from(["320.00", "180.50"])).map(
        lambda drawn: jsonio.dumps(purchase(drawn[1], drawn[0], price=drawn[2])).encode()
    ),
    st.sampled_from([b"", b"not json", b'{"id": "x", "type": "purchase"}', b'{"a": 1, "a": 2}']),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(_BODIES, min_size=2, max_size=10))
def test_a_group_answers_and_stores_as_its_events_one_by_one(program_dir: Path, bodies: list[bytes]) -> None:
    """Redeliveries, ids reused with another payload, events older than the customer's latest,
    bodies that are no event, in any order: `decide_group` answers each (bytes, version, or the
    error's codes) and leaves every state as `_decide` does event by event, in its own transaction."""
    with tempfile.TemporaryDirectory(prefix="groups-") as folder:
        grouped = Runtime.start(_settings(program_dir, f"{folder}/grouped.db"))
        alone = Runtime.start(_settings(program_dir, f"{folder}/alone.db"))
        try:
            answers = decided_group(grouped, "coffee-club", bodies)
            expected = []
            for body in bodies:
                try:
                    expected.append(_decide(alone, "coffee-club", body, {}, False))
                except RulesEngineError as error:
                    expected.append(error)
            assert [_seen(answer) for answer in answers] == [_seen(one) for one in expected]
            for customer in ("ann", "ben"):
                with grouped.stores.borrow("coffee-club") as one, alone.stores.borrow("coffee-club") as other:
                    assert one.state(customer) == other.state(customer)
        finally:
            grouped.stores.close()
            alone.stores.close()


def _seen(answer: Any) -> Any:
    if isinstance(answer, RulesEngineError):
        return type(answer).__name__, [d.code for d in answer.diagnostics]
    return answer


def test_an_event_alone_in_its_group_is_stored_and_refused_as_alone(
    program_dir: Path, tmp_path: Path
) -> None:
    """When nothing joins it, the lane's one event is stored in a transaction of its own (cheaper
    than a group of one): answered, refused (409 for its id with another payload) and counted as
    `_decide` answers and counts it."""
    first = purchase(1, "ann")
    conflicting = {**first, "items": [{**first["items"][0], "qty": 3}]}
    grouped = Runtime.start(_settings(program_dir, str(tmp_path / "grouped.db")))
    alone = Runtime.start(_settings(program_dir, str(tmp_path / "alone.db")))
    try:
        for body in (first, first, conflicting):
            text = jsonio.dumps(body).encode()
            answers: dict[int, Any] = {}
            decide_group(
                grouped, "coffee-club", [Asked(events.parse_text(text), {}, False)], answers.__setitem__
            )
            try:
                expected: Any = _decide(alone, "coffee-club", text, {}, False)
            except RulesEngineError as error:
                expected = error
            assert _seen(answers[0]) == _seen(expected)
        assert _seen(answers[0])[1] == ["RE443"]  # the last: its id with another payload
        assert (
            grouped.metrics.render().count(b'loyalty_event_group_size_count{program="coffee-club"} 3.0') == 1
        )
        with grouped.stores.borrow("coffee-club") as one, alone.stores.borrow("coffee-club") as other:
            assert one.state("ann") == other.state("ann")
    finally:
        grouped.stores.close()
        alone.stores.close()


def test_a_groups_events_are_read_against_one_look_at_the_program(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lane's events read together find their program's running version once (its file's
    `stat` a group, not an event), and are answered as each alone: applied, refused for its body
    (RE410, the program found first), refused all for a program that does not run (RE803)."""
    runtime = Runtime.start(_settings(program_dir, str(tmp_path / "grouped.db")))
    looked: list[str] = []
    get = runtime.programs.get

    def counted(program: str) -> Any:
        looked.append(program)
        return get(program)

    monkeypatch.setattr(runtime.programs, "get", counted)
    refused = {**purchase(3, "ann"), "items": "none"}
    bodies = [jsonio.dumps(body).encode() for body in (purchase(1, "ann"), purchase(2, "ben"), refused)]
    try:
        answers = decided_group(runtime, "coffee-club", bodies)
        assert [_seen(answer) if isinstance(answer, Exception) else None for answer in answers] == [
            None,
            None,
            ("EventError", ["RE410"]),
        ]
        assert looked == ["coffee-club", "coffee-club"]  # the group's, and the refused event's own
        looked.clear()
        unknown = decided_group(runtime, "no-such-program", bodies[:2])
        assert [_seen(answer) for answer in unknown] == [("ServiceError", ["RE803"])] * 2
    finally:
        runtime.stores.close()
