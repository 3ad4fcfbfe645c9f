"""The working state (state/working.py) gives its `CustomerState` back exactly, and the streaming API
(engine/stream.py) decides what `Engine.process` decides.

A working state is what the streaming callers will carry between events in place of the frozen
state, the public state made from it only when read (docs/engine.md, "The working state and the
streaming API"). So: `Working.of(s, plan).public()` equals `s` with the same JSON (each decimal's
exponent, each time's UTC offset) for every state the engine makes on random streams through every
example program and random programs, for states written by older code (the example programs'
state files, a database of 2026-12-02) and for states made by hand at the edges; and
`Stream.step` gives the same results and states as `Engine.process` chained, event by event, a
refused event leaving the working state as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine import settle
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.plan import Plan
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError
from rules_engine.jsonio import loads
from rules_engine.program.validate import load_program, load_program_text
from rules_engine.state.compact import LOT_LINES, LOT_MODEL, LOT_ZONE, NEVER
from rules_engine.state.customer import CustomerState, parse_state
from rules_engine.state.working import KEPT_IDS, Working
from rules_engine.store import open_store
from rules_engine.store.upgrade import upgrade
from tests.conftest import ROOT
from tests.engine.random_programs import Drawn, programs, streams
from tests.engine.two_paths import EXAMPLES, PROGRAMS, products

COFFEE = PROGRAMS / "coffee-club.yaml"
_ENGINES: dict[Path, Engine] = {}


def _engine(path: Path) -> Engine:
    if path not in _ENGINES:
        _ENGINES[path] = Engine(load_program(path), secret=b"s")
    return _ENGINES[path]


def same(a: CustomerState, b: CustomerState) -> None:
    """Equal models, the same JSON and the same fields set."""
    assert a == b
    assert a.model_dump_json() == b.model_dump_json()
    assert a.model_fields_set == b.model_fields_set


def round_trip(state: CustomerState, plan: Any) -> Working:
    """`state` through a working state and back, every way `public()` makes it."""
    working = Working.of(state, plan)
    assert working.public() is state  # nothing changed: the state it was made from
    same(working.public(fresh=True), state)  # every model made from the compact values alone
    working.changed()
    again = working.public()  # built again, the unchanged lots' and activities' models reused
    same(again, state)
    assert all(a is b for a, b in zip(again.lots, state.lots, strict=True))
    assert working.public() is again
    moment = state.last_event_at
    if moment is not None:
        assert working.balance == state.available(moment)
        assert working.pending == state.pending(moment)
    read = CustomerState.model_validate_json(state.model_dump_json())  # its times in pydantic's zones
    same(Working.of(read, plan).public(fresh=True), read)
    return working


def _decide(engine: Engine, event: Any, state: Any) -> tuple[Any, ...]:
    try:
        result = engine.process(event, state)
    except EventError as error:
        return "refused", [d.code for d in error.diagnostics], state
    return result.outcome().model_dump_json(), result.state.model_dump_json(), result.state


def same_stream(engine: Engine, stream: list[dict[str, Any]], whole: bool = True) -> int:
    """`stream` through `Engine.process`, each customer's state chained, and through `Stream.step`
    on each customer's working state: the same outcome and state JSON, or the same refusal, event by
    event; a refused event leaves the working state as it was; every state round-trips. `whole`:
    the whole step on (engine/whole/), or only the step in place."""
    streaming = Stream(engine, whole=whole)
    states: dict[str, CustomerState | None] = {}
    workings: dict[str, Working] = {}
    for event in stream:
        customer = event["customer"]
        expected = _decide(engine, event, states.get(customer))
        working = workings.setdefault(customer, streaming.working(states.get(customer)))
        before = working.public()
        try:
            result = streaming.step(event, working)
        except EventError as error:
            assert expected[:2] == ("refused", [d.code for d in error.diagnostics]), event
            assert working.public() is before
            continue
        assert (result.outcome().model_dump_json(), result.state.model_dump_json()) == expected[:2], event
        assert working.public() is result.state
        same(working.public(fresh=True), result.state)
        states[customer] = expected[2]
        round_trip(result.state, engine.plan)
    return streaming.taken


_SLOW = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
@_SLOW
@given(data=st.data())
def test_streams_through_each_example_program_step_as_process_and_round_trip(
    path: Path, data: st.DataObject
) -> None:
    engine = _engine(path)
    program = engine.program
    drawn = Drawn(path.read_text(encoding="utf-8"), program.currency, 0 if program.currency == "JPY" else 2)
    stream = data.draw(streams(drawn, customers=2, events=16, products=products(path.stem)), label="stream")
    same_stream(engine, stream)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_streams_through_random_programs_step_as_process_and_round_trip(data: st.DataObject) -> None:
    drawn = data.draw(programs(), label="program")
    engine = Engine(load_program_text(drawn.text, "random.yaml"), secret=b"s")
    same_stream(engine, data.draw(streams(drawn, customers=2, events=16), label="stream"))


# -- states written by older code -----------------------------------------------------------------


def _state_files() -> list[Any]:
    return [
        pytest.param(path, id=f"{path.parent.name}/{path.stem}")
        for path in sorted((PROGRAMS / "states").glob("*/*.json"))
    ]


@pytest.mark.parametrize("path", _state_files())
def test_the_example_programs_state_files_round_trip_and_step_as_process(path: Path) -> None:
    engine = _engine(PROGRAMS / f"{path.parent.name}.yaml")
    state = parse_state(loads(path.read_text(encoding="utf-8")))
    round_trip(state, engine.plan)
    latest = state.last_event_at or dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
    sku, category = products(path.parent.name)[0]
    event = {
        "id": "next",
        "type": "purchase",
        "customer": state.customer,
        "time": (latest + dt.timedelta(days=1)).isoformat(),
        "items": [{"sku": sku, "category": category, "price": "500.00", "qty": 2}],
    }
    working = Working.of(state, engine.plan)
    expected = engine.process(event, state)
    result = Stream(engine).step(event, working)
    assert result.outcome().model_dump_json() == expected.outcome().model_dump_json()
    same(working.public(fresh=True), expected.state)


def test_the_gold_fixture_state_round_trips() -> None:
    data = json.loads((ROOT / "tests" / "fixtures" / "states" / "gold.json").read_text(encoding="utf-8"))
    round_trip(parse_state(data), _engine(COFFEE).plan)


def test_the_states_of_a_database_of_2026_12_02_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(ROOT / "tests" / "fixtures" / "stores" / "coffee-club-schema-9.db", path)
    upgrade(str(path))
    plan = _engine(COFFEE).plan
    with open_store(str(path), "coffee-club") as store:
        held = list(store.states())
    assert len(held) > 5
    for _, state in held:
        round_trip(state, plan)


# -- states made by hand at the edges --------------------------------------------------------------


def test_a_new_customer_and_an_empty_state() -> None:
    plan = _engine(COFFEE).plan
    same(Working.of(None, plan).public(), CustomerState())
    same(Working.of(None, plan).public(fresh=True), CustomerState())
    round_trip(CustomerState(), plan)
    round_trip(CustomerState(lots=[], processed=[]), plan)  # given at their defaults: fields set kept


_EVERYTHING: dict[str, Any] = {
    "customer": "c1",
    "tier": "gold",
    "profile": {
        "tags": ["vip"],
        "signup_date": "2025-03-14",
        "birthday": "1990-02-28",
        "attributes": {"city": "Tver"},
        "timezone": "Asia/Kathmandu",
    },
    "lots": [
        {
            "event": "p1",
            "rule": "base",
            "points": "1.50",
            "earned_at": "2026-12-01T10:00:00.250000+05:45",
            "available_at": "2026-12-15T10:00:00.250000+05:45",
            "expires_at": "2027-12-01T10:00:00Z",
            "lines": [{"line": 0, "sku": "A", "qty": "2", "points": "1.50"}],
        },
        {
            "event": "p2",
            "rule": "base",
            "points": "-0",
            "earned_at": "2026-12-02T10:00:00-05:30",
            "available_at": "2026-12-02T10:00:00-05:30",
            "expires_at": "2027-12-02T10:00:00-05:30",
        },
        {
            "event": "p3",
            "rule": "bonus",
            "points": "1E+2",
            "earned_at": "2026-12-03T10:00:00+14:00",
            "available_at": "2027-01-03T10:00:00+14:00",
        },
        {
            "event": "p4",
            "rule": "base",
            "points": 7,
            "earned_at": "1901-01-01T00:00:00-12:00",
            "available_at": "1901-01-01T00:00:00-12:00",
        },
    ],
    "pending_lots": ["p3/bonus"],
    "counters": {"base": {"day:2026-12-03": "15", "week:2026-W49": "7.5", "lifetime": "0.0"}},
    "coupons": [
        {
            "code": "FREE-1",
            "coupon": "free-latte",
            "issued_at": "2026-12-01T10:00:00+03:00",
            "expires_at": "2026-12-31T10:00:00+03:00",
            "used_in": "p2",
        }
    ],
    "purchases": [
        {"sku": "A", "category": "coffee", "price": "3.20", "qty": "2", "date": "2026-12-01", "event": "p1"}
    ],
    "older_purchases": {"lines": 3, "until": "2026-11-30"},
    "visits": 4,
    "badges": ["first-cup", "regular"],
    "tier_since": "2026-06-01T00:00:00-03:00",
    "activity": [
        {
            "event": "p1",
            "at": "2026-12-01T10:00:00+05:45",
            "spend": "12.30",
            "points": 15,
            "visits": 1,
            "paid": ["12.30"],
            "qty": ["2"],
        },
        {"event": "r1", "at": "2026-12-02T10:00:00.5Z", "spend": "-0.1", "points": "-1.0"},
        {"event": "adj", "at": "2026-12-03T10:00:00Z", "spend": "0", "points": "0"},
    ],
    "activity_sums": {"start": "2025-12-03T10:00:00+05:45", "spend": "12.20", "points": 14, "visits": 1},
    "returned": {"p1": {"0": "1"}},
    "last_event_at": "2026-12-03T10:00:00+14:00",
    "challenges": {
        "five": {
            "window": "2026-W49",
            "progress": "3",
            "completed": ["2026-W40"],
            "counted": {
                "p1": {
                    "added": "1",
                    "lines": [{"line": 0, "sku": "A", "qty": "2", "added": "1", "returned": "0.5"}],
                }
            },
        }
    },
    "quests": {"q": {"started_at": "2026-12-01T10:00:00+03:00", "done": [0], "completed": False}},
    "streaks": {"s": {"last": "2026-12-01", "length": 2, "given": [2]}},
    "tendered": {
        "p1": {
            "at": "2026-12-01T10:00:00+03:00",
            "points": "40",
            "lines": [{"line": 0, "qty": "2", "points": "40"}],
        }
    },
    "birthday_rewarded": 2025,
    "signed_up_at": "2025-03-14T09:00:00+03:00",
    "referred_with": "REF-ABCDEFGH",
    "referral_qualified_at": "2025-03-20T09:00:00+03:00",
    "offers": {"lens": ["2026-12-01T10:00:00+03:00"]},
    "notified": ["2026-12-01T10:00:00+03:00"],
    "deferred": [
        {
            "rule": "offer:lens",
            "channel": "push",
            "template": "lens",
            "due_at": "2026-12-01T23:00:00+03:00",
            "send_at": "2026-12-02T09:00:00+03:00",
        }
    ],
    "reminded": ["p1/base"],
    "entries": {"draw": 2},
    "processed": ["p1", "r1", "p2", "p3"],
    "referrals_rewarded": ["2026-11-01T10:00:00+03:00"],
    "fingerprints": {"device": ["d1"]},
}


def test_a_state_with_every_field_set_round_trips() -> None:
    state = parse_state(loads(json.dumps(_EVERYTHING)))
    assert not (set(CustomerState.model_fields) - state.model_fields_set)  # every field given
    working = round_trip(state, _engine(COFFEE).plan)
    same(Working.of(loads(json.dumps(_EVERYTHING)), _engine(COFFEE).plan).public(), state)  # JSON-like data
    # the decimals kept as decimals where an int would lose their exponent; the rest ints
    assert [lot[3] for lot in working.lots] == [Decimal("1.50"), Decimal("-0"), Decimal("1E+2"), 7]
    assert str(working.lots[1][3]) == "-0"
    assert working.lots[2][0] == NEVER
    assert working.counters == {
        "base": {"day:2026-12-03": 15, "week:2026-W49": Decimal("7.5"), "lifetime": Decimal("0.0")}
    }
    assert [a[1] for a in working.activity] == [1230, Decimal("-0.1"), Decimal("0")]  # kopecks where exact
    assert working.balance == 7 and working.pending == Decimal("101.50")  # p1 and p3 wait
    # JSON as written: the exponents and offsets survive
    text = working.public(fresh=True).model_dump_json()
    for written in (
        '"1.50"',
        '"1E+2"',
        '"7.5"',
        '"12.30"',
        "10:00:00.250000+05:45",
        "-05:30",
        "+14:00",
        "-12:00",
    ):
        assert written in text or written.strip('"') in text, written


def test_times_keep_their_offsets_zones_and_microseconds() -> None:
    plan = _engine(COFFEE).plan
    berlin = ZoneInfo("Europe/Berlin")
    winter = dt.datetime(2026, 1, 10, 9, 30, tzinfo=berlin)
    summer = dt.datetime(2026, 7, 10, 9, 30, 0, 17, tzinfo=berlin)  # +02:00, and microseconds
    state = CustomerState(
        customer="c1",
        lots=[
            {
                "event": "e1",
                "rule": "r",
                "points": 5,
                "earned_at": winter,
                "available_at": winter,
                "expires_at": summer,
            },
            {
                "event": "e2",
                "rule": "r",
                "points": 5,
                "earned_at": winter,  # a named zone beside a fixed offset: each time its own
                "available_at": winter.astimezone(dt.timezone(dt.timedelta(hours=-3))),
                "expires_at": dt.datetime(2027, 1, 1, 0, 0, tzinfo=dt.UTC),
            },
        ],
        last_event_at=summer,
        tier_since=dt.datetime(2026, 3, 29, 1, 59, 59, tzinfo=berlin),  # the second before the change
    )
    working = round_trip(state, plan)
    rebuilt = working.public(fresh=True)
    assert rebuilt.lots[0].expires_at is not None and rebuilt.lots[0].expires_at.utcoffset() == dt.timedelta(
        hours=2
    )
    assert rebuilt.lots[0].earned_at.utcoffset() == dt.timedelta(hours=1)
    assert rebuilt.lots[1].available_at.isoformat() == "2026-01-10T05:30:00-03:00"
    assert rebuilt.lots[1].expires_at.isoformat() == "2027-01-01T00:00:00+00:00"  # type: ignore[union-attr]
    assert rebuilt.last_event_at.microsecond == 17  # type: ignore[union-attr]
    assert isinstance(working.last_event_at, Decimal)
    naive = dt.datetime(2027, 1, 1, 0, 0, 0, 5)  # a naive time, as a state made by hand may hold
    lot = {"event": "e3", "rule": "r", "points": 1, "earned_at": naive, "available_at": naive}
    round_trip(CustomerState(lots=[lot], signed_up_at=naive, tier_since=naive.replace(microsecond=0)), plan)


def test_a_working_state_of_a_japanese_and_a_bahraini_program_keeps_their_money() -> None:
    base = (ROOT / "programs" / "coffee-club.yaml").read_text(encoding="utf-8")
    for currency, spend, units in (("JPY", "500", 500), ("BHD", "1.250", 1250)):
        text = base.replace("currency: RUB", f"currency: {currency}")
        plan = Plan(load_program_text(text, "shop.yaml"))
        state = parse_state(
            {
                "activity": [
                    {"event": "p", "at": "2026-12-01T10:00:00+03:00", "spend": Decimal(spend), "points": 5}
                ]
            }
        )
        assert round_trip(state, plan).activity[0][1] == units


def test_the_ids_are_a_ring_of_the_engines_bound_and_a_set() -> None:
    assert KEPT_IDS == settle.PROCESSED_KEPT
    plan = _engine(COFFEE).plan
    working = round_trip(CustomerState(processed=[f"e{i}" for i in range(1000)]), plan)
    assert working.ids.maxlen == KEPT_IDS and len(working.seen) == 1000 and "e999" in working.seen
    working.ids.append("e1000")  # as a step would: the oldest leaves the ring
    assert working.ids[0] == "e1" and len(working.ids) == KEPT_IDS
    longer = CustomerState(processed=[f"e{i}" for i in range(1200)] + ["e5"])  # by hand: kept whole
    round_trip(longer, plan)


# -- changes in place, copies, equality ------------------------------------------------------------


def _coffee_state(events: int) -> CustomerState:
    engine = _engine(COFFEE)
    state: CustomerState | None = None
    start = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    for number in range(events):
        event = {
            "id": f"e{number}",
            "type": "purchase",
            "customer": "c1",
            "time": (start + dt.timedelta(days=number)).isoformat(),
            "items": [
                {"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 2},
                {"sku": "CROISSANT", "category": "pastry", "price": "150.00", "qty": 1},
            ],
        }
        state = engine.process(event, state).state
    assert state is not None
    return state


def test_a_change_in_place_shows_in_public_and_reuses_what_did_not_change() -> None:
    state = _coffee_state(6)
    working = Working.of(state, _engine(COFFEE).plan)
    working.visits += 1
    working.badges.append("regular")
    first = working.lots[0]
    working.lots[0] = (*first[:LOT_MODEL], None)  # a lot a step made again: no model
    working.changed()
    changed = working.public()
    assert changed.visits == state.visits + 1 and changed.badges == [*state.badges, "regular"]
    assert changed.lots[0] == state.lots[0] and changed.lots[0] is not state.lots[0]
    assert working.lots[0][LOT_MODEL] is changed.lots[0]  # kept in its tuple for the next time
    assert all(a is b for a, b in zip(changed.lots[1:], state.lots[1:], strict=True))
    assert changed.model_copy(update={"visits": state.visits, "badges": state.badges}) == state
    assert working != Working.of(state, _engine(COFFEE).plan)


def test_a_copy_is_independent_and_equal_until_changed() -> None:
    state = _coffee_state(4)
    working = Working.of(state, _engine(COFFEE).plan)
    other = working.copy()
    assert other == working and other is not working
    other.lots.popleft()
    other.ids.append("x")
    other.seen.add("x")
    other.counters.setdefault("base", {})["day:2099-01-01"] = 1
    other.changed()
    assert other != working
    same(working.public(), state)
    same(working.public(fresh=True), state)
    assert len(other.public().lots) == len(state.lots) - 1


# -- the stream: refusals, duplicates ---------------------------------------------------------------


def test_a_refused_event_leaves_the_working_state_as_it_was_and_the_stream_goes_on() -> None:
    engine = _engine(COFFEE)
    streaming = Stream(engine)
    working = streaming.working(_coffee_state(3))
    before = working.public()
    text = before.model_dump_json()
    good = {
        "id": "next",
        "type": "purchase",
        "customer": "c1",
        "time": "2026-12-10T09:00:00+03:00",
        "items": [{"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 1}],
    }
    bad = [
        {**good, "items": [{"sku": "LATTE", "category": "coffee", "price": "-1", "qty": 1}]},  # RE410
        {**good, "customer": "someone-else"},  # RE412
        {**good, "time": "2026-12-01T09:00:00+03:00"},  # before the customer's latest: RE440
        {
            "id": "r",
            "type": "return",
            "customer": "c1",
            "time": good["time"],
            "purchase": "nope",
            "items": [],
        },
    ]
    for event in bad:
        with pytest.raises(EventError):
            streaming.step(event, working)
        assert working.public() is before and working.public(fresh=True).model_dump_json() == text
    expected = engine.process(good, before)
    result = streaming.step(good, working)
    assert result.outcome().model_dump_json() == expected.outcome().model_dump_json()
    same(working.public(fresh=True), expected.state)
    again = streaming.step(good, working)  # a duplicate: nothing applied, the state as it was
    assert [t.code for t in again.trace] == ["duplicate"]
    assert working.public() is result.state


def test_a_long_stream_moves_the_deques_with_the_shared_lists_and_decides_as_process() -> None:
    """Past `SHARED_FROM` elements a state's lists are windows on a storage shared with the state
    before (state/shared.py): `load` then pops and appends what moved, in the same deques. Returns,
    redemptions, duplicates and refusals between the purchases take the other paths."""
    engine = _engine(COFFEE)
    streaming = Stream(engine)
    working = streaming.working(None)
    state: CustomerState | None = None
    moved = 0
    start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    for number in range(150):
        moment = (start + dt.timedelta(days=number * 3)).isoformat()
        event: dict[str, Any] = {
            "id": f"p{number}",
            "type": "purchase",
            "customer": "c1",
            "time": moment,
            "items": [
                {"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 2},
                {"sku": "CROISSANT", "category": "pastry", "price": "150.00", "qty": 1},
            ],
        }
        if number % 37 == 36:
            event = {"id": f"r{number}", "type": "return", "customer": "c1", "time": moment,
                     "purchase": f"p{number - 1}", "items": [{"sku": "LATTE", "qty": 1}]}  # fmt: skip
        elif number % 41 == 40:
            event = {
                "id": f"g{number}",
                "type": "redeem",
                "customer": "c1",
                "time": moment,
                "item": "free-latte",
            }
        elif number % 29 == 28:
            event = {**event, "id": f"p{number - 1}"}  # a redelivery
        lots, ids = working.lots, working.ids
        try:
            expected = engine.process(event, state)
        except EventError:
            with pytest.raises(EventError):
                streaming.step(event, working)
            continue
        result = streaming.step(event, working)
        assert result.outcome().model_dump_json() == expected.outcome().model_dump_json()
        same(working.public(fresh=True), expected.state)
        moved += working.lots is lots and working.ids is ids and len(expected.state.lots) >= 128
        state = expected.state
    assert state is not None and len(state.lots) >= 128 and len(state.processed) >= 128
    assert moved >= 10  # the deques moved in place (the rest: returns, redemptions, compactions)


def test_a_step_defers_the_load_until_a_compact_part_is_read() -> None:
    """`Stream.step` leaves the result's state to be loaded when first read (`Working.defer`): the
    public state is the result's at once, and reading any compact part — after one step or after
    several — gives what `Working.of(result.state)` gives, the deques moved in place over every step
    deferred since (their windows on the shared storage moved on by several events at once). The
    steps in place (engine/step.py): the whole step, which coffee-club's purchases would take,
    is off (tests/engine/test_whole_stream.py)."""
    engine = _engine(COFFEE)
    streaming = Stream(engine, whole=False)
    working = streaming.working(None)
    state: CustomerState | None = None
    start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    caught_up = moved = 0
    lots = working.lots
    for number in range(400):
        event = {
            "id": f"p{number}",
            "type": "purchase",
            "customer": "c1",
            "time": (start + dt.timedelta(days=number)).isoformat(),
            "items": [
                {"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 2},
                {"sku": "CROISSANT", "category": "pastry", "price": "150.00", "qty": 1},
            ],
        }
        expected = engine.process(event, state)
        state = expected.state
        if number % 7 == 0:
            lots = working.lots  # read now and then: caught up here, then six steps deferred
        result = streaming.step(event, working)
        assert working.public() is result.state  # a pointer, nothing made
        assert result.outcome().model_dump_json() == expected.outcome().model_dump_json()
        if number % 7 != 6:
            continue  # six steps deferred, then the compact parts read
        caught_up += 1
        read = Working.of(state, engine.plan)
        assert (working.visits, working.tier, working.badges) == (read.visits, read.tier, read.badges)
        assert working.balance == read.balance == state.available(event_time(event))
        assert working.pending == read.pending
        assert list(map(_values, working.lots)) == list(map(_values, read.lots))
        assert list(working.ids) == list(read.ids)
        assert working.seen == read.seen and list(working.activity) == list(read.activity)
        same(working.public(fresh=True), state)
        moved += working.lots is lots and len(state.lots) >= 128
    assert caught_up == 57 and moved >= 20  # the deques moved in place across six deferred steps


def _values(lot: tuple[Any, ...]) -> tuple[Any, ...]:
    """A lot tuple's values, without its lines (made lazily by a step) and its model."""
    return (*lot[:LOT_LINES], lot[LOT_ZONE])


def event_time(event: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(event["time"])


def test_a_copy_or_a_change_of_a_deferred_working_state_catches_up_first() -> None:
    engine = _engine(COFFEE)
    streaming = Stream(engine)
    working = streaming.working(None)
    event = {"id": "p1", "type": "purchase", "customer": "c1", "time": "2026-12-08T08:15:00+03:00",
             "items": [{"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 2}]}  # fmt: skip
    result = streaming.step(event, working)
    other = working.copy()  # caught up, then copied: both stand for the result's state
    same(other.public(), result.state)
    same(other.public(fresh=True), result.state)
    again = streaming.step({**event, "id": "p2", "time": "2026-12-09T08:15:00+03:00"}, working)
    same(working.public(fresh=True), again.state)
    same(other.public(fresh=True), result.state)  # the copy did not move with it
    working.changed()  # a step in place would say so: the state built again from the compact parts
    same(working.public(), again.state)
    assert repr(working) == f"Working('c1', {len(again.state.lots)} lots, balance 0)"
