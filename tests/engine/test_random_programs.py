"""Random programs, random streams: the engine's two paths agree and its invariants hold.

For each drawn program (tests/engine/random_programs.py) and stream of purchases, returns and
redemptions by a few customers, event by event:
- **explain off and on agree** on everything but the explanation: the new state, awards,
  discounts, totals, effects, ledger entries, and each rule's verdict in the trace (the explaining
  path only adds the false parts, hints and condition trees);
- **a state decides the same after its JSON** (what a store or a service keeps) as in memory;
- **the books balance**: every customer's lots hold the sum of the ledger entries their events made;
- **a refusal is an `EventError`** with a registered code, and changes nothing; no other exception.
The compiler of whole programs (issue 13) is to be held to the same streams.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tempfile
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.codes import CODES
from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text, validate_text
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState, LedgerEntry, parse_state
from rules_engine.store import open_store
from tests.engine.books import balanced
from tests.engine.random_programs import Drawn, programs, streams


def _engine(drawn: Drawn) -> Engine:
    checked = validate_text(drawn.text, "random.yaml")
    assert checked.ok(), "a drawn program does not validate:\n" + drawn.text + "\n" + repr(checked.errors)
    return Engine(load_program_text(drawn.text, "random.yaml"), secret=b"random")


def _verdicts(result: Any) -> list[tuple[Any, ...]]:
    """Each trace entry without what only the explaining path records."""
    return [(t.rule, t.kind, t.fired, t.code, t.reason, t.amount, t.unit) for t in result.trace]


def _decided(result: Any) -> dict[str, Any]:
    outcome = result.outcome().model_dump(mode="json")
    outcome.pop("trace")
    return outcome


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_random_programs_decide_the_same_explained_after_json_and_keep_the_books(data: st.DataObject) -> None:
    drawn = data.draw(programs(), label="program")
    engine = _engine(drawn)
    stream = data.draw(streams(drawn), label="stream")
    states: dict[str, CustomerState | None] = {}
    books: dict[str, list[LedgerEntry]] = {}
    for event in stream:
        customer = event["customer"]
        state = states.get(customer)
        try:
            fast = engine.process(event, state)
        except EventError as error:
            assert all(d.code in CODES for d in error.diagnostics), error.diagnostics
            with_explain = None
            try:
                engine.process(event, state, explain=True)
            except EventError as same:
                with_explain = [d.code for d in same.diagnostics]
            assert with_explain == [d.code for d in error.diagnostics]  # refused the same way
            continue
        explained = engine.process(event, state, explain=True)
        assert _decided(explained) == _decided(fast)
        assert _verdicts(explained) == _verdicts(fast)
        if state is not None:
            stored = parse_state(json.loads(state.model_dump_json()))
            again = engine.process(event, stored)
            assert again.outcome().model_dump_json() == fast.outcome().model_dump_json()
        books.setdefault(customer, []).extend(fast.ledger)
        assert balanced(fast.state, books[customer])
        assert all(isinstance(entry.points, Decimal) for entry in fast.ledger)
        states[customer] = fast.state


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_random_programs_through_an_sqlite_store_end_as_the_engine_alone(data: st.DataObject) -> None:
    """The store path (a transaction per event, the state written and read back, the ledger
    booked) ends every customer where the engine alone does, its ledger balancing every state."""
    _through_sqlite(data, batch=0)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_random_programs_through_sqlite_in_batches_end_as_the_engine_alone(data: st.DataObject) -> None:
    """The same through `Store.group()` batches (a replay's, written behind: store/batch.py) of a
    drawn size, the events refused inside them changing nothing."""
    _through_sqlite(data, batch=data.draw(st.sampled_from([1, 3, 7, 500]), label="batch"))


def _through_sqlite(data: st.DataObject, *, batch: int) -> None:
    drawn = data.draw(programs(), label="program")
    engine = _engine(drawn)
    stream = data.draw(streams(drawn), label="stream")
    alone: dict[str, CustomerState | None] = {}
    for event in stream:
        try:
            alone[event["customer"]] = engine.process(event, alone.get(event["customer"])).state
        except EventError:
            continue
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/shop.db"
        with open_store(url, "random-shop") as store:
            service = Loyalty(engine, store, horizon=None)
            for start in range(0, len(stream), batch or 1):
                with store.group() if batch else contextlib.nullcontext():
                    for event in stream[start : start + (batch or 1)]:
                        try:
                            service.process(event)
                        except EventError:
                            continue
        with open_store(url, "random-shop", cache=0) as fresh:  # read from the rows, nothing held
            stored = {customer: fresh.state(customer) for customer in alone}
            rows = list(fresh.ledger())
    assert {c: s.model_dump(mode="json") for c, s in stored.items() if s is not None} == {
        c: s.model_dump(mode="json") for c, s in alone.items() if s is not None
    }
    for customer, state in stored.items():
        if state is not None:
            assert balanced(state, [row.entry for row in rows if row.customer == customer])


def _decisions(result: Any) -> dict[str, Any]:
    """What an event decided, whether or not `advance` ran before it: everything but what time
    did before it (reported by whichever came first) and the names of expiry's ledger entries."""
    state = result.state
    return {
        "awards": [(a.rule, a.points, a.lines) for a in result.awards],
        "discounts": [(d.rule, d.amount, d.lines) for d in result.discounts],
        "totals": result.totals,
        "tier": (state.tier, state.tier_since),
        "lots": [(lot.id, lot.points) for lot in state.lots],
        "challenges": state.challenges,
        "quests": state.quests,
        "streaks": state.streaks,
        "badges": state.badges,
        "coupons": state.coupons,
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_random_programs_decide_the_same_with_advance_between_events(data: st.DataObject) -> None:
    """`Engine.advance` (housekeeping without an event) at any moment before a customer's next
    event changes no decision of that event: time does the same either way."""
    drawn = data.draw(programs(), label="program")
    engine = _engine(drawn)
    latest: dict[str, str] = {}
    stream = []
    for event in data.draw(
        streams(drawn), label="stream"
    ):  # in time order per customer: advance moves the clock
        if event["time"] >= latest.get(event["customer"], ""):
            latest[event["customer"]] = event["time"]
            stream.append(event)
    plain: dict[str, CustomerState | None] = {}
    housekept: dict[str, CustomerState | None] = {}
    for event in stream:
        customer = event["customer"]
        before = housekept.get(customer)
        if before is not None and before.last_event_at is not None and data.draw(st.booleans()):
            moment = dt.datetime.fromisoformat(event["time"])
            gap = moment - before.last_event_at
            before = engine.advance(
                before, before.last_event_at + gap * data.draw(st.integers(0, 100)) / 100
            ).state
        try:
            one = engine.process(event, plain.get(customer))
        except EventError as error:
            with pytest.raises(EventError) as also:
                engine.process(event, before)
            assert [d.code for d in also.value.diagnostics] == [d.code for d in error.diagnostics]
            continue
        two = engine.process(event, before)
        assert _decisions(two) == _decisions(one)
        plain[customer], housekept[customer] = one.state, two.state
