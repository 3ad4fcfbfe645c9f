"""The step in place (engine/step.py): `Stream.step` decides a covered purchase on the working state,
and its result and the working state after it are those of `Engine.process`.

test_working.py holds `Stream.step` equal to `process` on random streams through every example
program and random programs (`same_stream`, which now returns how many events the step in place
took). Here: a long coffee-club customer whose purchases meet everything time does between events
(pending lots ending their wait, lots expiring, messages that waited through the quiet hours, tier
reviews), with returns, redemptions, app opens and redeliveries between them; the fast path must
have taken the purchases (`Stream.taken`), those with each kind of change among them. Then what
the laziness promises: a step's `result.state` read after the working state moved on is refused,
and an event that falls back after its lots expired leaves them as they were.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine import step
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.run import Run
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program
from rules_engine.state.customer import CustomerState
from tests.engine.test_working import COFFEE, same, same_stream
from tests.engine.two_paths import EXAMPLES, products

MSK = dt.timezone(dt.timedelta(hours=3))
_LINES = [
    {"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 2},
    {"sku": "CROISSANT", "category": "pastry", "price": "150.00", "qty": 1},
    {"sku": "BEANS-1KG", "category": "beans", "price": "1800.00", "qty": 1},
    {"sku": "GIFT-500", "category": "gift_card", "price": "500.00", "qty": 1},
    {"sku": "ESPRESSO", "category": "coffee", "price": "120.00", "qty": 3},
]


def _engine() -> Engine:
    return Engine(load_program(COFFEE), secret=b"s")


def _events(seed: int, count: int) -> list[dict[str, Any]]:
    """One customer's events over more than a year: purchases at any hour (the quiet hours make
    messages wait), one to three days apart, big and small; now and then a return, a redemption,
    an app open, a review or a redelivery."""
    rng = random.Random(seed)
    moment = dt.datetime(2025, 11, 3, 9, 0, tzinfo=MSK)
    events: list[dict[str, Any]] = []
    purchases: list[str] = []
    for number in range(count):
        moment += dt.timedelta(days=rng.choice([1, 1, 2, 3]), hours=rng.randrange(-6, 7))
        base = {"id": f"e{number}", "customer": "c1", "time": moment.isoformat()}
        roll = rng.random()
        if roll < 0.04 and purchases:
            events.append({**base, "type": "return", "purchase": rng.choice(purchases[-20:]),
                           "items": [{"sku": "LATTE-L", "qty": 1}]})  # fmt: skip
        elif roll < 0.07:
            events.append({**base, "type": "redeem", "item": "free-latte"})
        elif roll < 0.11:
            events.append({**base, "type": rng.choice(["app_open", "review"])})
        elif roll < 0.13 and events:
            events.append({**events[-1]})  # a redelivery
        else:
            lines = rng.sample(_LINES, rng.randint(1, len(_LINES)))
            events.append({**base, "type": "purchase", "items": lines})
            purchases.append(base["id"])
    return events


def _decided(engine: Engine, event: dict[str, Any], state: CustomerState | None) -> Any:
    try:
        return engine.process(event, state)
    except EventError as error:
        return [d.code for d in error.diagnostics]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_long_customer_is_decided_in_place_as_process_decides(seed: int) -> None:
    engine = _engine()
    streaming = Stream(engine, whole=False)
    working = streaming.working(None)
    state: CustomerState | None = None
    kinds: Counter[str] = Counter()
    for event in _events(seed, 320):
        expected = _decided(engine, event, state)
        taken = streaming.taken
        if isinstance(expected, list):
            with pytest.raises(EventError) as refused:
                streaming.step(event, working)
            assert [d.code for d in refused.value.diagnostics] == expected
            continue
        result = streaming.step(event, working)
        books = [(entry.kind, entry.points) for entry in expected.ledger]
        assert result.ledger_points() == books, event  # what `loyalty run`'s totals read, entries unmade
        assert result.outcome().model_dump_json() == expected.outcome().model_dump_json(), event
        assert result.ledger_points() == books  # and once the entries are made
        assert result.ledger == expected.ledger and tuple(result.trace) == tuple(expected.trace)
        assert result.totals == expected.totals and result.awards == expected.awards
        same(result.state, expected.state)
        same(working.public(), expected.state)
        state = expected.state
        if streaming.taken > taken:
            kinds["purchase"] += 1
            kinds.update({change.kind for change in result.points_changes})
            kinds["waited"] += any("(it waited)" in t.reason for t in result.trace)
            kinds["tier"] += bool(result.tier_changes)
        else:
            kinds[f"fell back: {event['type']}"] += 1
    purchases = sum(1 for e in _events(seed, 320) if e["type"] == "purchase")
    assert kinds["purchase"] >= purchases * 0.8, kinds  # the first and the redelivered go to process
    assert kinds["available"] and kinds["expire"] and kinds["waited"] and kinds["tier"], kinds
    same(working.public(fresh=True), state)  # every compact part, made from the values alone


_SLOW = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.stem != "fashion-house"], ids=lambda p: p.stem)
@_SLOW
@given(data=st.data())
def test_purchase_streams_take_the_step_in_place_and_decide_as_process(
    path: Any, data: st.DataObject
) -> None:
    """Streams of purchases (a few other events between) through every example program whose
    purchases the generated path takes: the same results and states as `process`, and the step in
    place took most purchases (fashion-house has a return window: every event goes to `process`)."""
    from tests.engine.random_programs import Drawn, streams

    engine = Engine(load_program(path), secret=b"s")
    program = engine.program
    drawn = Drawn(path.read_text(encoding="utf-8"), program.currency, 0 if program.currency == "JPY" else 2)
    stream = data.draw(streams(drawn, customers=1, events=20, products=products(path.stem)), label="stream")
    taken = same_stream(engine, stream)
    fresh = sum(1 for e in stream if e["type"] == "purchase" and e.get("items") and not e.get("coupons"))
    assert taken <= fresh


def test_every_example_program_but_one_with_a_return_window_takes_purchases_in_place() -> None:
    """The step in place runs for the example programs (a counter, not a timing: a silent fallback
    would pass the differential tests)."""
    for path in EXAMPLES:
        engine = Engine(load_program(path), secret=b"s")
        streaming = Stream(engine, whole=False)
        working = streaming.working(None)
        start = dt.datetime(2026, 3, 2, 12, 0, tzinfo=MSK)
        price = "40.00" if engine.quantum.as_tuple().exponent else "4000"
        for number in range(6):
            event = {
                "id": f"p{number}",
                "type": "purchase",
                "customer": "c1",
                "time": (start + dt.timedelta(days=number)).isoformat(),
                "items": [
                    {"sku": sku, "category": category, "price": price, "qty": 1}
                    for sku, category in products(path.stem)[:2]
                ],
            }
            expected = engine.process(event, working.public())
            result = streaming.step(event, working)
            assert result.outcome().model_dump_json() == expected.outcome().model_dump_json()
        returns = engine.program.returns is not None
        assert streaming.taken == (0 if returns else 5), path.stem  # the first: a new customer


def test_a_result_state_read_after_the_working_state_moved_on_is_refused() -> None:
    engine = _engine()
    streaming = Stream(engine, whole=False)
    events = [e for e in _events(7, 40) if e["type"] == "purchase"]
    working = streaming.working(None)
    streaming.step(events[0], working)  # a new customer: `process`
    first = streaming.step(events[1], working)
    second = streaming.step(events[2], working)
    assert streaming.taken == 2
    with pytest.raises(step.StateMovedOnError):
        first.state  # noqa: B018 (the read is what is tested)
    kept = second.state  # read before the next step: then kept, whatever the working state does
    streaming.step(events[3], working)
    assert second.state is kept
    assert first.totals.points >= 0 and first.ledger  # the rest of the result stays readable


def test_an_event_that_falls_back_after_its_lots_expired_leaves_them_as_they_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The step pops the lots due before the run; a stage that then reads what the step keeps
    compact sends the event to `process`, on the working state as it was."""
    engine = _engine()
    streaming = Stream(engine, whole=False)
    working = streaming.working(None)
    events = [e for e in _events(11, 400) if e["type"] == "purchase"]
    state: CustomerState | None = None
    fast = engine.generated
    assert fast is not None
    mechanics = fast.mechanics
    fell_back = 0
    for event in events:
        expected = engine.process(event, state)
        due = working.lots and working.lots[0][0] <= dt.datetime.fromisoformat(event["time"]).timestamp()

        def reads_the_ids(run: Run) -> None:
            len(run.state.processed)  # what no stage reads: `_NeedsLots`

        if due:
            monkeypatch.setattr(fast, "mechanics", (*mechanics, reads_the_ids))
        taken = streaming.taken
        result = streaming.step(event, working)
        monkeypatch.setattr(fast, "mechanics", mechanics)
        if due:
            assert streaming.taken == taken
            fell_back += 1
        assert result.outcome().model_dump_json() == expected.outcome().model_dump_json()
        same(working.public(fresh=True), expected.state)
        state = expected.state
    assert fell_back >= 10


def test_a_copy_of_a_working_state_steps_on_its_own() -> None:
    """A copy's lots are its own deque, and so is the step's view of them: the copy and the
    original, stepped with different purchases, each decide as `process` on their own state."""
    engine = _engine()
    streaming = Stream(engine, whole=False)
    events = [e for e in _events(5, 60) if e["type"] == "purchase"]
    working = streaming.working(None)
    for event in events[:20]:
        streaming.step(event, working)
    other = working.copy()
    base = working.public()
    for event in events[20:30]:
        streaming.step(event, working)
    state = base
    for event in events[30:40]:
        moved = {**event, "id": f"copy-{event['id']}"}
        expected = engine.process(moved, state)
        result = streaming.step(moved, other)
        assert result.outcome().model_dump_json() == expected.outcome().model_dump_json()
        state = expected.state
    same(other.public(fresh=True), state)
    assert streaming.taken >= 25
    result = streaming.step({**events[40], "id": "copy-last"}, other)  # its state not read yet
    other.load(base)  # a load moves the working state on: an earlier step's state is refused
    with pytest.raises(step.StateMovedOnError):
        result.state  # noqa: B018


def test_the_customer_id_is_read_without_making_the_compact_parts() -> None:
    """A service asks every event whether its customer is new (`Working.customer_id`): after a
    step in place, after a fallback and for a new customer it is the public state's customer, and
    reading it leaves the parts a step left to be made from the cold state unmade (reading
    `customer` itself makes them all)."""
    engine = _engine()
    streaming = Stream(engine, whole=False)
    events = _events(3, 30)
    purchases = [e for e in events if e["type"] == "purchase"]
    working = streaming.working(None)
    assert working.customer_id is None
    streaming.step(purchases[0], working)  # a new customer: `process`, the working state deferred
    assert working._behind is not None
    assert working.customer_id == "c1" and working._behind is not None
    streaming.step(purchases[1], working)
    streaming.step(purchases[2], working)
    assert streaming.taken == 2
    assert working._cold_names  # the step left the compact parts to be made
    assert working.customer_id == "c1" and working._cold_names
    assert working.customer == working.public().customer == "c1"  # `customer` makes them
    assert not working._cold_names


def test_a_step_with_nothing_due_skips_time_passing_and_the_next_due_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Purchases an hour apart (no wait ends, no lot expires, no review or message is due) skip
    time passing (`Working.due_at`: one comparison); each moment that falls due after such a run —
    pending lots ripening a fortnight later, a message that waited through the quiet hours, lots
    expiring a year on, a gold member's tier review — is met by the full look, and the results and
    states stay `process`'s."""
    engine = _engine()
    streaming = Stream(engine, whole=False)
    working = streaming.working(None)
    looked: list[str] = []
    ripened = step._ripened

    def counted(working: Any, now: Any) -> Any:
        looked.append(event["id"])
        return ripened(working, now)

    monkeypatch.setattr(step, "_ripened", counted)
    start = dt.datetime(2026, 3, 2, 10, 0, tzinfo=MSK)
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    times = [start + n * hour for n in range(6)]  # p0 makes a gold member; p1 looks; p2-p5 quiet
    times += [start + 15 * day + n * hour for n in range(4)]  # p6: waits ended; p7-p9 quiet
    times += [start + 355 * day + 13 * hour]  # p10 at 23:00, a fortnight before expiry: a reminder waits
    times += [start + 356 * day - 3 * hour, start + 356 * day - hour]  # p11 quiet; p12 at 09:00: sent
    times += [start + 356 * day]  # p13 quiet
    times += [start + 366 * day, start + 366 * day + hour, start + 366 * day + 2 * hour]  # p14: expiry
    times += [start + 400 * day, start + 400 * day + hour]  # p17: the tier review; p18 quiet
    state: CustomerState | None = None
    kinds: Counter[str] = Counter()
    for number, moment in enumerate(times):
        lines = [{**_LINES[2], "qty": 20}] if number == 0 else _LINES[: 1 + number % len(_LINES)]
        event = {"id": f"p{number}", "type": "purchase", "customer": "c1", "time": moment.isoformat(),
                 "items": lines}  # fmt: skip
        expected = engine.process(event, state)
        result = streaming.step(event, working)
        assert result.points_changes == expected.points_changes  # made when read (step._Passed)
        assert result.ledger == expected.ledger
        assert result == expected
        assert result.outcome().model_dump_json() == expected.outcome().model_dump_json(), event
        same(result.state, expected.state)
        state = expected.state
        kinds.update({f"{change.kind} {event['id']}" for change in result.points_changes})
        kinds.update({f"waited {event['id']}" for t in result.trace if "(it waited)" in t.reason})
        kinds.update({f"tier {event['id']}" for _ in result.tier_changes})
    same(working.public(fresh=True), state)
    assert streaming.taken == len(times) - 1  # the first: a new customer
    assert {"available p6", "waited p12", "expire p14", "tier p17"} <= kinds.keys(), kinds
    assert {"p6", "p10", "p12", "p14", "p17"} <= set(looked), looked
    quiet = {f"p{n}" for n in (2, 3, 4, 5, 7, 8, 9, 11, 13, 15, 16, 18)}
    assert not quiet & set(looked), looked


def test_pending_lots_whose_waits_end_out_of_order_are_looked_at_whole() -> None:
    """A state earned under a longer `pending` (14 days), then stepped under a program version
    that waits 2 days: the new lots' waits end before the older ones', so the pending lots are no
    longer in the order their waits end; the step then looks at all of them (not only the first)
    until they are, and decides as `process`."""
    from rules_engine.program.validate import load_program_text

    text = COFFEE.read_text(encoding="utf-8")
    assert "pending: 14d" in text and "version: 3" in text
    shorter = Engine(
        load_program_text(text.replace("pending: 14d", "pending: 2d").replace("version: 3", "version: 4")),
        secret=b"s",
    )
    before = _engine()
    start = dt.datetime(2026, 3, 2, 10, 0, tzinfo=MSK)
    state: CustomerState | None = None
    for number in range(4):  # lots waiting a fortnight
        moment = start + dt.timedelta(hours=number)
        event = {"id": f"a{number}", "type": "purchase", "customer": "c1", "time": moment.isoformat(),
                 "items": _LINES[:2]}  # fmt: skip
        state = before.process(event, state).state
    streaming = Stream(shorter, whole=False)
    working = streaming.working(state)
    kinds: Counter[str] = Counter()
    for number in range(24):  # every 12 hours: the 2-day lots ripen while the older ones wait
        moment = start + dt.timedelta(days=1, hours=12 * number)
        event = {"id": f"b{number}", "type": "purchase", "customer": "c1", "time": moment.isoformat(),
                 "items": _LINES[: 1 + number % len(_LINES)]}  # fmt: skip
        expected = shorter.process(event, state)
        result = streaming.step(event, working)
        books = [(entry.kind, entry.points) for entry in expected.ledger]
        assert result.ledger_points() == books, event  # what `loyalty run`'s totals read, entries unmade
        assert result.outcome().model_dump_json() == expected.outcome().model_dump_json(), event
        assert result.ledger_points() == books  # and once the entries are made
        same(result.state, expected.state)
        state = expected.state
        kinds.update(change.kind for change in result.points_changes)
    same(working.public(fresh=True), state)
    assert streaming.taken == 24 and kinds["available"] >= 20, kinds


def test_a_history_no_one_reads_is_kept_as_process_keeps_it() -> None:
    """The step keeps a purchase's lines as the event has them (`history.Bought`), made and cut to
    the program's window when the public state is read, or when that many purchases were chained
    (`history.CHAINED`): read only at the end, after more than a year of purchases (lines left the
    window) and several chains, the purchase history is `process`'s — the lines kept, the count of
    those left out and their latest day. So are the lots' lines, which the models the expiry
    reminder read were made without (`compact.read_lot`)."""
    from rules_engine.engine import history

    engine = _engine()
    streaming = Stream(engine, whole=False)
    working = streaming.working(None)
    start = dt.datetime(2026, 3, 2, 10, 0, tzinfo=MSK)
    state: CustomerState | None = None
    count = 3 * history.CHAINED + 200
    for number in range(count):  # about one purchase a day, 1 to 5 lines each
        moment = start + dt.timedelta(hours=26 * number)
        event = {"id": f"p{number}", "type": "purchase", "customer": "c1", "time": moment.isoformat(),
                 "items": _LINES[: 1 + number % len(_LINES)]}  # fmt: skip
        state = engine.process(event, state).state
        streaming.step(event, working)
        if number == count // 2:
            assert working.cold.purchases.__class__ is history.Bought  # not made yet
    assert streaming.taken == count - 1
    assert state is not None and state.older_purchases is not None and state.older_purchases.lines > 0
    assert working._unfilled  # lots the reminder read near their expiry: their lines not made yet
    same(working.public(), state)  # ... made with the public state, as `process` has them
    assert not working._unfilled
    same(working.public(fresh=True), state)


def test_the_step_view_finds_the_lots_expiring_by_a_moment_as_the_models_do() -> None:
    """The points-expiring reminder bisects the lots by expiry (`lifecycle.expiring_by`); on the
    step's view it bisects the tuples' seconds without making a model: the same count as over
    the models, at every moment around each lot's expiry, with lots that never expire last, and
    with one standing before others (a state kept from a version that did not expire points)."""
    from rules_engine.engine import lifecycle

    engine = _engine()
    state: CustomerState | None = None
    start = dt.datetime(2026, 3, 2, 10, 0, tzinfo=MSK)
    for number in range(12):
        event = {"id": f"p{number}", "type": "purchase", "customer": "c1",
                 "time": (start + dt.timedelta(days=number)).isoformat(), "items": _LINES[:3]}  # fmt: skip
        state = engine.process(event, state).state
    assert state is not None
    lots = list(state.lots)
    never = [lot.model_copy(update={"expires_at": None}) for lot in lots[-3:]]
    mixed = [*lots[:4], never[0], *lots[4:-3]]
    for kept in (lots, [*lots[:-3], *never], mixed):
        working = Stream(engine, whole=False).working(state.model_copy(update={"lots": kept}))
        view = step._Lots(working)
        moments = [start - dt.timedelta(days=1), start + dt.timedelta(days=900)]
        for lot in kept:
            if lot.expires_at is not None:
                moments += [lot.expires_at + dt.timedelta(seconds=d) for d in (-1, 0, 1)]
                moments.append(lot.expires_at.astimezone(dt.UTC))
        for moment in moments:
            assert view.expiring_by(moment) is not None
            assert lifecycle.expiring_by(view, moment) == lifecycle.expiring_by(kept, moment), moment
