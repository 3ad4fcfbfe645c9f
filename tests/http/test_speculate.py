"""Several SQLite workers decide their events outside the database's gate (`Settings.speculate`,
routes/events.py `_speculate`): a group is decided on the lane's own connection without the write
lock, and checked and written under it. What a client relies on does not change: every answer is
byte for byte the answer of the same group decided under the gate, the database ends the same table
by table; when another worker changed what the group read (the customer, the same event, a
referral code) the group is decided again under the gate and answers as if decided after it —
nothing lost, nothing applied twice."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.errors import RulesEngineError
from rules_engine.http import Settings
from rules_engine.http.routes import events
from rules_engine.http.runtime import Runtime
from rules_engine.http.shortcut import Asked, decide_group
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.store import open_store
from rules_engine.store.sql_writing import OutdatedError, SqlWriting
from tests.conftest import ROOT
from tests.http.conftest import (
    BASE,
    add_key,
    counting_checks,
    decided_group,
    deliver_twice,
    other_worker,
    purchase,
    serve_process,
)
from tests.http.test_postgres import worker_events

PROGRAM = "coffee-club"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _settings(program_dir: Path, db: str, *, speculate: bool) -> Settings:
    return Settings(programs=program_dir, db=db, clock=lambda: NOW, docs=False, speculate=speculate)


@contextmanager
def _runtimes(program_dir: Path, folder: str) -> Iterator[tuple[Runtime, Runtime]]:
    """A runtime deciding groups outside the gate and one deciding them under it, each on its file."""
    speculated = Runtime.start(_settings(program_dir, f"{folder}/speculated.db", speculate=True))
    locked = Runtime.start(_settings(program_dir, f"{folder}/locked.db", speculate=False))
    try:
        yield speculated, locked
    finally:
        speculated.stores.close()
        locked.stores.close()


def _group(runtime: Runtime, bodies: list[bytes]) -> list[Any]:
    """`decide_group` on the bodies: each one's answer (body and version) or error, in order."""
    return [_seen(answer) for answer in decided_group(runtime, PROGRAM, bodies)]


def _seen(answer: Any) -> Any:
    if isinstance(answer, RulesEngineError):
        return type(answer).__name__, [d.code for d in answer.diagnostics]
    return answer


_VOLATILE = {"customers": {"revision"}, "program_versions": {"seen_at"}}
"""Columns that differ between two databases given the same events: a customer's first revision is
random (sql_writing.py), a version's first sighting is the wall clock's."""


def _tables(path: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows but the API keys', sorted, without the volatile columns."""
    with sqlite3.connect(path) as database:
        names = [
            row[0]
            for row in database.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        found = {}
        for name in sorted(set(names) - {"api_keys"}):
            columns = [
                row[1]
                for row in database.execute(f"PRAGMA table_info({name})")
                if row[1] not in _VOLATILE.get(name, set())
            ]
            rows = database.execute(f"SELECT {', '.join(columns)} FROM {name}").fetchall()
            found[name] = sorted(rows, key=repr)
    return found


# -- groups decided outside the gate against the same groups under it ----------------------------

_BODIES = st.one_of(
    st.tuples(st.sampled_from(["ann", "ben"]), st.integers(0, 5), st.sampled_from(["320.00", "180.50"])).map(
        lambda drawn: jsonio.dumps(purchase(drawn[1], drawn[0], price=drawn[2])).encode()
    ),
    st.sampled_from([b"not json", b'{"id": "x", "type": "purchase"}']),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=st.lists(st.lists(_BODIES, min_size=1, max_size=8), min_size=1, max_size=4))
def test_groups_decided_outside_the_gate_answer_and_store_as_under_it(
    program_dir: Path, groups: list[list[bytes]]
) -> None:
    """Redeliveries, ids reused with another payload, events older than the customer's latest,
    bodies that are no event, groups of one: every answer (bytes, version, or the error's codes) is
    the one the group decided under the gate gives, and the two databases hold the same rows."""
    with tempfile.TemporaryDirectory(prefix="speculate-") as folder, pytest.MonkeyPatch.context() as patch:
        with counting_checks(patch) as checks, _runtimes(program_dir, folder) as (speculated, locked):
            for bodies in groups:
                assert _group(speculated, bodies) == _group(locked, bodies)
        # decided outside the gate (each group with an event), nothing changed meanwhile
        assert checks == ["same"] * sum(any(b"evt-" in body for body in bodies) for bodies in groups)
        assert _tables(f"{folder}/speculated.db") == _tables(f"{folder}/locked.db")


def test_one_worker_decides_under_the_gate(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `speculate` (one worker) no group is optimistic and the lane opens no store of its own."""
    with counting_checks(monkeypatch) as checks, _runtimes(program_dir, str(tmp_path)) as (_, locked):
        _group(locked, [jsonio.dumps(purchase(n, "ann")).encode() for n in range(3)])
        assert checks == [] and locked.stores._lanes == {}


def test_a_group_written_out_early_takes_the_gate_then(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group whose batch outgrows its budget writes it out early (store/batch.py): an optimistic
    group takes the gate and the lock there, checks, and decides the rest under them; the answers
    and the rows are still those of the group decided under the gate."""
    bodies = [
        jsonio.dumps(purchase(n, customer)).encode() for n in range(3) for customer in ("ann", "ben", "cy")
    ]
    speculated = Runtime.start(
        _settings(program_dir, f"sqlite:///{tmp_path}/speculated.db?batch_elements=1", speculate=True)
    )
    locked = Runtime.start(
        _settings(program_dir, f"sqlite:///{tmp_path}/locked.db?batch_elements=1", speculate=False)
    )
    entered: list[bool] = []
    enter = speculated.stores.enter_gate
    monkeypatch.setattr(speculated.stores, "enter_gate", lambda: (entered.append(True), enter())[1])
    try:
        with counting_checks(monkeypatch) as checks:
            assert _group(speculated, bodies) == _group(locked, bodies)
        assert checks == ["same"] and entered == [True]  # the first early write took it, once
    finally:
        speculated.stores.close()
        locked.stores.close()
    assert _tables(f"{tmp_path}/speculated.db") == _tables(f"{tmp_path}/locked.db")


def test_no_turn_at_the_gate_answers_every_event_503_and_writes_nothing(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate not come in time (RE810) for a group decided outside it: each of its events is
    answered 503 as when no connection came, and nothing of them is stored."""
    bodies = [jsonio.dumps(purchase(n, "ann")).encode() for n in range(3)]
    with _runtimes(program_dir, str(tmp_path)) as (speculated, _):

        def late() -> None:
            raise speculated.stores.late()

        monkeypatch.setattr(speculated.stores, "enter_gate", late)
        assert _group(speculated, bodies) == [("ServiceError", ["RE810"])] * 3
        with speculated.stores.borrow(PROGRAM) as store:
            assert store.state("ann") is None and store.processed() == 0


def test_an_event_that_joins_with_bulk_codes_keeps_the_group_under_the_gate(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The requests queued when the group starts join it (`more`); one of them presents coupon
    codes (a claim of a bulk code writes): the whole group is decided under the gate, no optimistic
    check, and answered as the group decided under the gate is."""
    first = jsonio.dumps(purchase(1, "ann")).encode()
    joining = jsonio.dumps({**purchase(1, "ben"), "coupons": ["BULK-0001"]}).encode()

    def decided(runtime: Runtime) -> list[Any]:
        answers: dict[int, Any] = {}
        decide_group(
            runtime,
            PROGRAM,
            [Asked(events.parse_text(first), {}, False)],
            answers.__setitem__,
            lambda: [Asked(events.parse_text(joining), {}, False)],
        )
        return [_seen(answers[index]) for index in range(2)]

    with (
        counting_checks(monkeypatch) as checks,
        _runtimes(program_dir, str(tmp_path)) as (speculated, locked),
    ):
        assert decided(speculated) == decided(locked)
        assert checks == []
    assert _tables(str(tmp_path / "speculated.db")) == _tables(str(tmp_path / "locked.db"))


# -- another worker writes between the group's reads and its check --------------------------------


def _meanwhile(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, write: Callable[[], None]) -> None:
    """`write` runs once, right before the group takes the gate to check and write: as another
    worker would, between this one's reads and its turn."""
    enter = runtime.stores.enter_gate
    done: list[bool] = []

    def entering() -> None:
        if not done:
            done.append(True)
            write()
        enter()

    monkeypatch.setattr(runtime.stores, "enter_gate", entering)


@pytest.mark.parametrize("same_event", [False, True], ids=["another-event", "the-same-event"])
def test_a_customer_changed_meanwhile_is_decided_again(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_event: bool
) -> None:
    """Another worker applies an event of ann's (another one, or the very one of the group: a
    redelivery that reached both workers) after the group read her state: the check finds her
    revision changed, and the group is decided again under the gate. Its answers are those of the
    other worker's event first, then the group, decided under the gate; the balances exact, the
    event applied once."""
    group = [purchase(2, "ann", price="180.50"), purchase(1, "ben"), purchase(3, "ann")]
    other = group[0] if same_event else purchase(1, "ann")
    bodies = [jsonio.dumps(event).encode() for event in group]
    with (
        counting_checks(monkeypatch) as checks,
        _runtimes(program_dir, str(tmp_path)) as (speculated, locked),
    ):
        _group(speculated, [jsonio.dumps(purchase(0, "ann")).encode()])
        _group(locked, [jsonio.dumps(purchase(0, "ann")).encode()])
        _meanwhile(
            speculated, monkeypatch, other_worker(str(tmp_path / "speculated.db"), program_dir, other, NOW)
        )
        _group(locked, [jsonio.dumps(other).encode()])
        answered, expected = _group(speculated, bodies), _group(locked, bodies)
        assert answered == expected
        assert b'"duplicate":true' in answered[0][0] if same_event else b'"duplicate":false' in answered[0][0]
        assert checks == ["same", "changed"]  # the first group's, then this one's: decided again
    assert _tables(str(tmp_path / "speculated.db")) == _tables(str(tmp_path / "locked.db"))
    with open_store(str(tmp_path / "speculated.db"), PROGRAM) as store:
        ann = store.state("ann")
        assert ann is not None and ann.visits == (3 if same_event else 4)


def test_a_customer_unchanged_meanwhile_is_written_as_decided(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker's event for another customer changes nothing the group read: written as
    decided, at its first check."""
    group = [jsonio.dumps(purchase(1, "ann")).encode(), jsonio.dumps(purchase(2, "ann")).encode()]
    with (
        counting_checks(monkeypatch) as checks,
        _runtimes(program_dir, str(tmp_path)) as (speculated, locked),
    ):
        _meanwhile(
            speculated,
            monkeypatch,
            other_worker(str(tmp_path / "speculated.db"), program_dir, purchase(1, "cy"), NOW),
        )
        _group(locked, [jsonio.dumps(purchase(1, "cy")).encode()])
        assert _group(speculated, group) == _group(locked, group)
        assert checks == ["same"]
    assert _tables(str(tmp_path / "speculated.db")) == _tables(str(tmp_path / "locked.db"))


# -- what an optimistic group reads besides its customers (store level) ---------------------------


def _optimistic(path: Path, program: str) -> SqlWriting:
    store = open_store(str(path), program)
    assert isinstance(store, SqlWriting)
    store.optimistic = True
    return store


def test_a_referral_code_that_appears_meanwhile_is_a_change(tmp_path: Path) -> None:
    """A group that looked a referral code up and found nobody (the referrer's reward left owed)
    is outdated once another worker stores a customer with that code."""
    program = "fashion-house"
    engine = Engine.from_file(ROOT / "programs" / f"{program}.yaml")
    db = tmp_path / "codes.db"
    code = referral_code(program, "rita", engine.secret)
    with _optimistic(db, program) as store, open_store(str(db), program) as other:
        with pytest.raises(OutdatedError, match=code), store.group():
            assert store.referrer(code) is None
            Loyalty(engine, other).put("rita", CustomerState(customer="rita"))
        with store.group():  # nothing changed since this group's reads: written
            assert store.referrer(code) == "rita"


def test_a_state_read_in_a_group_is_checked_unchanged(tmp_path: Path) -> None:
    """A state the group read without locking it (a referrer's, for the fraud checks) is checked
    unchanged when the group writes, as its own customers are."""
    program = "fashion-house"
    engine = Engine.from_file(ROOT / "programs" / f"{program}.yaml")
    db = tmp_path / "read.db"
    with open_store(str(db), program) as other:
        Loyalty(engine, other).put("rita", CustomerState(customer="rita"))
    with _optimistic(db, program) as store, open_store(str(db), program) as other:
        with pytest.raises(OutdatedError, match="rita"), store.group():
            assert store.state("rita") is not None
            Loyalty(engine, other).put("rita", CustomerState(customer="rita", visits=2))
        with store.group():
            state = store.state("rita")
            assert state is not None and state.visits == 2


# -- two `serve` workers on one SQLite file ----------------------------------------------------------

WORKERS = 2
CLIENTS = 8
CUSTOMERS = ["sq-a", "sq-b"]
EVENTS = [purchase(n, customer, at=BASE) for n in range(1, 31) for customer in CUSTOMERS]


def test_two_sqlite_workers_apply_every_event_once(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As tests/http/test_postgres.py races four PostgreSQL workers: every event sent twice at once,
    on new connections so that both workers take them, both customers raced by both: every event
    applied exactly once, each state and ledger exactly the engine's alone."""
    db = str(tmp_path / "two.db")
    token = add_key(db, ["events:write", "customers:read"])
    counts = tmp_path / "metrics"
    counts.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(counts))

    with serve_process(program_dir, db, workers=WORKERS, cwd=tmp_path) as served:
        served.wait_workers(WORKERS)
        answers = deliver_twice(served, token, PROGRAM, EVENTS, CLIENTS)

    assert sorted(status for _, status, _ in answers) == [200] * 2 * len(EVENTS)
    applied = [event for event, _, duplicate in answers if not duplicate]
    assert sorted(applied) == sorted(event["id"] for event in EVENTS)  # each applied exactly once
    assert len(worker_events(counts)) == WORKERS  # both took part

    alone = Loyalty.in_memory(Engine.from_file(ROOT / "programs" / f"{PROGRAM}.yaml"))
    for event in EVENTS:
        alone.handle(event)
    with open_store(db, PROGRAM) as store:
        assert store.processed() == len(EVENTS)
        for customer in CUSTOMERS:
            state, wanted = store.state(customer), alone.store.state(customer)
            assert state is not None and wanted is not None
            assert state.visits == wanted.visits == len(EVENTS) // len(CUSTOMERS)
            assert sum(lot.points for lot in state.lots) == sum(lot.points for lot in wanted.lots)
            stored = sorted(
                (r.entry.rule, r.entry.kind, r.entry.points) for r in store.ledger(customer=customer)
            )
            expected = sorted(
                (r.entry.rule, r.entry.kind, r.entry.points) for r in alone.store.ledger(customer=customer)
            )
            assert stored == expected
