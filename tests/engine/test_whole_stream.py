"""`Stream.step` with the whole step (engine/whole/path.py) against `Engine.process`, event by event.

Coffee-club is the program the whole step covers. Over hypothesis-generated streams of every kind
of event a customer makes (sign-ups with a birthday, purchases, returns, redemptions, app opens,
reviews; gaps from a minute to 200 days across pending periods, expiry, the tier's window and
review; now and then a late event, a redelivery, a coupon), a `Stream` with the whole step on and
one with it off each carry every customer's `Working`, and for every event: the same refusal
(codes) and the working state left as it was, or the same result as `process` on the public state
before — the outcome's JSON, the stored JSON, the points and the ledger's points read first, the
state's JSON — and the working state standing for that state. The example suite's purchases run
through both streams; drawn coffee-club variants (rates, awards, caps, percents, thresholds) take
the whole step, and the other example programs never do.
"""

from __future__ import annotations

import datetime as dt
import gc
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.later import LaterResult
from rules_engine.engine.result import Result
from rules_engine.engine.step import StateMovedOnError
from rules_engine.engine.stream import Stream
from rules_engine.engine.whole.covers import covers, unsupported
from rules_engine.engine.whole.path import WholePath
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState, parse_state
from rules_engine.state.working import Working
from rules_engine.tools.expectations.loading import load_suite
from tests.engine.random_programs import Drawn, programs, streams
from tests.engine.two_paths import EXAMPLES, PROGRAMS, products

COFFEE = PROGRAMS / "coffee-club.yaml"
MSK = dt.timezone(dt.timedelta(hours=3))
FIELDS = [name for name in Result.__dataclass_fields__ if name != "_outcome"]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_file(COFFEE)


def decided(
    stream: Stream, engine: Engine, events: list[dict[str, Any]], start: CustomerState | None = None
) -> list[tuple[Result | None, bool]]:
    """Each event through `stream` on its working states and through `process` on public states:
    the same answers, event by event (the module docstring). Returns each event's result (None:
    refused) and whether the whole step decided it."""
    made: list[tuple[Result | None, bool]] = []
    states: dict[str, CustomerState | None] = {}
    workings: dict[str, Working] = {}
    for number, data in enumerate(events):
        customer = data["customer"]
        state = states.get(customer, start)
        working = workings.get(customer)
        if working is None:
            working = workings[customer] = stream.working(state)
        try:
            expected = engine.process(data, state)
        except EventError as error:
            kept = working.public().model_dump_json()
            with pytest.raises(EventError) as raised:
                stream.step(data, working)
            assert [d.code for d in raised.value.diagnostics] == [d.code for d in error.diagnostics]
            assert working.public().model_dump_json() == kept
            made.append((None, False))
            continue
        wholes = stream.wholes
        got = stream.step(data, working)
        made.append((got, stream.wholes > wholes))
        if number % 3 == 0:  # what a tally reads first, before anything else is made
            assert got.points == expected.points
            assert got.ledger_points() == expected.ledger_points()
            assert [(a.rule, a.points) for a in got.awards] == [(a.rule, a.points) for a in expected.awards]
        if number % 2 == 0:
            assert got.stored_json() == expected.stored_json()
        for name in FIELDS:
            mine, theirs = getattr(got, name), getattr(expected, name)
            assert (list(mine) if name == "trace" else mine) == (
                list(theirs) if name == "trace" else theirs
            ), name
        assert got.outcome().model_dump_json() == expected.outcome().model_dump_json()
        assert got.state.model_dump_json() == expected.state.model_dump_json()
        assert working.public().model_dump_json() == expected.state.model_dump_json()
        assert working.public().model_fields_set == expected.state.model_fields_set
        states[customer] = expected.state
    return made


COFFEE_DRAWN = Drawn(COFFEE.read_text(encoding="utf-8"), "RUB", 2)


@st.composite
def coffee_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Every kind of event by three customers (random_programs.streams) on coffee-club's products,
    now and then redelivered, or a purchase with a coupon code."""
    events = draw(streams(COFFEE_DRAWN, customers=3, events=24, products=products("coffee-club")))
    made: list[dict[str, Any]] = []
    for event in events:
        if event["type"] == "purchase" and draw(st.integers(0, 12)) == 0:
            event = {**event, "coupons": ["NOPE-1"]}
        made.append(event)
        if draw(st.integers(0, 10)) == 0:
            made.append(dict(event))  # redelivered
    return made


def _long() -> list[dict[str, Any]]:
    """A customer buying most days for over a year (expiry, its reminders, the tier's review), a
    return and an app open now and then."""
    events: list[dict[str, Any]] = []
    time = dt.datetime(2025, 10, 1, 8, 0, tzinfo=MSK)
    sold = products("coffee-club")
    for number in range(420):
        time += dt.timedelta(hours=23 + number % 5)
        items = [
            {"sku": sku, "category": category, "price": Decimal(f"{120 + 35 * n}.50"), "qty": 1 + n % 2}
            for n, (sku, category) in enumerate(sold[number % 3 : number % 3 + 4])
        ]
        events.append(
            {
                "id": f"d{number}",
                "type": "purchase",
                "time": time.isoformat(),
                "customer": "c",
                "items": items,
            }
        )
        if number % 40 == 7:
            events.append(
                {
                    "id": f"r{number}",
                    "type": "return",
                    "time": (time + dt.timedelta(hours=1)).isoformat(),
                    "customer": "c",
                    "purchase": f"d{number}",
                    "items": [{"sku": items[0]["sku"], "qty": 1}],
                }
            )
        if number % 25 == 3:
            events.append(
                {
                    "id": f"a{number}",
                    "type": "app_open",
                    "time": (time + dt.timedelta(hours=2)).isoformat(),
                    "customer": "c",
                }
            )
    return events


LONG = _long()


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "in place"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=coffee_streams())
def test_streams_of_every_event_give_process_answers(
    engine: Engine, whole: bool, events: list[dict[str, Any]]
) -> None:
    decided(Stream(engine, whole=whole), engine, events)


def test_a_long_run_of_purchases_takes_the_whole_step(engine: Engine) -> None:
    """A customer buying most days for a year and a half, a return and an app open now and then: the
    whole step decides most purchases, and hands the others to the other paths."""
    events = LONG
    stream = Stream(engine)
    decided(stream, engine, events)
    assert stream.wholes >= 300  # after a year too: the lots expiring reminded of already
    off = Stream(engine, whole=False)
    decided(off, engine, events[:60])
    assert off.wholes == 0 and off.taken > 0


@pytest.mark.parametrize("suite", sorted(PROGRAMS.glob("*.tests.yaml")), ids=lambda p: p.name)
def test_every_case_of_the_example_suites_through_both_streams(suite: Any) -> None:
    """Every case of every example suite (its earlier events, then its event) through a stream with
    the whole step and one without, against `process`: coffee-club's purchases take the whole step."""
    loaded_suite = load_suite(suite)
    engine = Engine.from_file(PROGRAMS / suite.name.replace(".tests.yaml", ".yaml"))
    wholes = 0
    for loaded in loaded_suite.cases:
        state = None if loaded.state is None else parse_state(loaded.state)
        for whole in (True, False):
            stream = Stream(engine, whole=whole)
            decided(stream, engine, [*loaded.before, loaded.event], state)
            wholes += stream.wholes
    assert (wholes >= 2) if suite.name == "coffee-club.tests.yaml" else (wholes == 0)


def test_a_result_read_after_the_working_state_moved_on_refuses_its_state(engine: Engine) -> None:
    stream = Stream(engine)
    working = stream.working(None)
    first, second = (
        {
            "id": f"m{n}",
            "type": "purchase",
            "time": f"2026-12-0{n + 1}T08:15:00+03:00",
            "customer": "c",
            "items": [{"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 2}],
        }
        for n in range(2)
    )
    kept = stream.step(first, working)
    assert isinstance(kept, LaterResult) and stream.wholes == 1
    assert kept.points == engine.process(first).points  # the ints: read at any time
    stream.step(second, working)
    assert stream.wholes == 2
    with pytest.raises(StateMovedOnError):
        kept.state  # noqa: B018
    read = stream.step({**second, "id": "m9", "time": "2026-12-04T08:00:00+03:00"}, working)
    assert read.state == working.public()  # read before the next step: the state after it


def test_a_working_state_held_by_the_whole_step_reads_as_its_state(engine: Engine) -> None:
    """What the stores and `loyalty run` read of a working state the whole step holds — its ids,
    customer, public state, a copy, a load — reads the state the step left."""
    stream = Stream(engine)
    working = stream.working(None)
    event = {
        "id": "h0",
        "type": "purchase",
        "time": "2026-12-08T08:15:00+03:00",
        "customer": "c",
        "items": [{"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 2}],
    }
    result = stream.step(event, working)
    assert stream.wholes == 1 and working.whole is not None
    assert working.customer_id == "c" and "h0" in working.seen and working.whole is not None
    state = result.state
    assert working.public() is state
    copied = working.copy()
    assert copied.public() == state and copied.whole is None
    assert working.whole is None  # a copy made the compact parts: the whole state let go
    assert working.lots and working.public() == state
    again = stream.step({**event, "id": "h1", "time": "2026-12-09T08:15:00+03:00"}, working)
    assert stream.wholes == 2 and working.whole is not None
    assert (
        working.public()
        == engine.process({**event, "id": "h1", "time": "2026-12-09T08:15:00+03:00"}, state).state
        == again.state
    )


def test_the_other_example_programs_never_take_the_whole_step() -> None:
    for path in EXAMPLES:
        engine = Engine.from_file(path)
        stream = Stream(engine)
        assert covers(engine.plan) == (path == COFFEE)
        if path == COFFEE:
            continue
        working = stream.working(None)
        item = {"sku": "X-1", "category": "book", "price": Decimal("10.00"), "qty": 1}
        stream.step(
            {
                "id": "o1",
                "type": "purchase",
                "time": "2026-12-08T08:15:00+03:00",
                "customer": "c",
                "items": [item],
            },
            working,
        )
        assert stream.wholes == 0 and working.whole is None


COFFEE_TEXT = COFFEE.read_text(encoding="utf-8")
VARIED = (  # (what coffee-club says, what a variant may say instead): each a part the whole step covers
    ("rate: 1 per 100", ("rate: 1 per 10", "rate: 1 per 250")),
    ("award: 10\n", ("award: 1\n", "award: 25\n")),
    ("award: 50\n", ("award: 7\n", "award: 120\n")),
    ("award: 5 * item.qty", ("award: 2 * item.qty", "award: 3 * item.qty")),
    ("cap: {per_day: 50}", ("cap: {per_day: 12}", "cap: {per_day: 500}")),
    ("percent: 20\n", ("percent: 5\n", "percent: 50\n")),
    ("threshold: 30000", ("threshold: 900", "threshold: 4000")),
    ("earn_multiplier: 1.5", ("earn_multiplier: 2", "earn_multiplier: 1.25")),
    ("goal: 5", ("goal: 1", "goal: 3")),
    ("pending: 14d", ("pending: 1d", "pending: 3d")),
    ("expire_after: 365d", ("expire_after: 30d", "expire_after: 90d")),
    ("multiply: 2", ("multiply: 3",)),
    ("big_order: 1500", ("big_order: 400",)),
)


@st.composite
def coffee_variants(draw: st.DrawFn) -> str:
    """Coffee-club with some of its numbers drawn anew (`VARIED`): programs the whole step covers."""
    text = COFFEE_TEXT
    for said, instead in VARIED:
        if draw(st.booleans()):
            text = text.replace(said, draw(st.sampled_from(instead)), 1)
    return text


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_drawn_coffee_club_variants_take_the_whole_step_and_give_process_answers(data: st.DataObject) -> None:
    text = data.draw(coffee_variants(), label="program")
    engine = Engine(load_program_text(text, "variant.yaml"))
    assert unsupported(engine.plan) is None
    drawn = Drawn(text, "RUB", 2)
    events = data.draw(
        streams(drawn, customers=2, events=20, products=products("coffee-club")), label="stream"
    )
    stream = Stream(engine)
    decided(stream, engine, events)
    assert stream.wholes <= stream.taken
    purchases = [e for e in events if e["type"] == "purchase"]
    if len({e["customer"] for e in purchases}) < len(purchases):  # a customer's second purchase
        assert isinstance(stream._whole, WholePath)


def test_variants_decide_most_purchases_with_the_whole_step() -> None:
    """Each variant over the long run of purchases: the whole step decides most of them."""
    for said, instead in VARIED:
        engine = Engine(load_program_text(COFFEE_TEXT.replace(said, instead[-1], 1), "variant.yaml"))
        stream = Stream(engine)
        decided(stream, engine, LONG[:80])
        assert stream.wholes >= 40, said


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_programs_take_the_whole_step_only_when_covered(data: st.DataObject) -> None:
    """tests/engine/random_programs.py's programs: those `covers` refuses never take the whole step
    (they are nearly all of them: the whole step covers coffee-club's shape), and every stream
    gives `process`'s answers."""
    drawn = data.draw(programs(), label="program")
    engine = Engine(load_program_text(drawn.text, "random.yaml"), secret=b"random")
    stream = Stream(engine)
    decided(stream, engine, data.draw(streams(drawn), label="stream"))
    if not covers(engine.plan):
        assert stream.wholes == 0 and not isinstance(stream._whole, WholePath)


def test_a_multipliers_bonus_on_a_free_basket_goes_to_the_lines_of_the_per_item_points() -> None:
    """A free pastry on a Tuesday: `pastry-bonus` gives 5 points for the item, `double-tuesday`
    doubles them. The basket's earning base is 0, and the bonus must still be shared out over the
    pastry's line as `process` shares it, not left with no line."""
    engine = Engine.from_file(COFFEE)
    events = [
        {
            "id": f"e{n}",
            "time": time,
            "customer": "c1",
            "type": "purchase",
            "items": [{"sku": sku, "category": category, "price": Decimal(price), "qty": 1}],
        }
        for n, (time, sku, category, price) in enumerate(
            [
                ("2026-12-01T10:05:00+00:00", "COFFEE-1", "coffee", "3.20"),
                ("2026-12-08T10:05:00+00:00", "PASTRY-2", "pastry", "0.00"),  # a Tuesday
            ]
        )
    ]
    made = decided(Stream(engine), engine, events)
    result, whole = made[1]
    assert whole  # the whole step decided it, and `decided` held it equal to `process`
    assert result is not None
    bonus = next(award for award in result.awards if award.rule == "double-tuesday")
    assert list(bonus.lines) == [(0, "PASTRY-2", Decimal(5))]


@pytest.mark.parametrize("path", ["process", "in place", "whole"])
def test_events_leave_no_reference_cycle(engine: Engine, path: str) -> None:
    """An event's result and what it is made from are freed by their reference counts, read or
    not, on each of the engine's paths: no cycle that only the collector's passes would free
    (docs/engine.md, "The garbage collector"; the whole step's result and its record were one,
    ~120 objects a purchase, each a pass's work in a replay)."""
    stream = Stream(engine, whole=path == "whole")
    working = stream.working(None)
    state: CustomerState | None = None
    events = [e for e in LONG if e["customer"] == LONG[0]["customer"]]

    def decide(event: dict[str, Any]) -> Result:
        nonlocal state
        if path == "process":
            result = engine.process(event, state)
            state = result.state
            return result
        return stream.step(event, working)

    enabled = gc.isenabled()
    gc.disable()
    try:
        for event in events[:20]:  # what a first event makes once (caches) left behind
            decide(event).outcome()
        gc.collect()
        wholes = stream.wholes
        for number, event in enumerate(events[20:120]):
            got = decide(event)
            if number % 2:  # read in full, as `loyalty run` without -q does
                got.outcome()
        assert {e["type"] for e in events[20:120]} >= {"purchase", "return", "app_open"}
        assert (stream.wholes - wholes >= 80) if path == "whole" else stream.wholes == 0
        del got
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def test_lots_that_come_due_or_expire_keep_the_offset_they_were_earned_in() -> None:
    """A lot earned at 10:00+03:00 becomes available 14 days later at 10:00+03:00 and expires
    30 days after it was earned at 10:00+03:00, whatever offset the purchase that finds it so is
    sent in (a till in UTC). The whole step once wrote those times in the later purchase's offset
    (07:00Z): the outcome's points changes and expiry entries another text than `process`'s."""
    engine = Engine(
        load_program_text(COFFEE_TEXT.replace("expire_after: 365d", "expire_after: 30d", 1), "v.yaml")
    )
    line = {"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 2}
    times = ["2026-12-01T10:00:00+03:00", "2026-12-20T09:00:00Z", "2027-01-05T09:00:00Z"]
    events = [
        {"id": f"p{n}", "type": "purchase", "time": at, "customer": "c", "items": [line]}
        for n, at in enumerate(times)
    ]
    made = decided(Stream(engine), engine, events)
    assert [whole for _, whole in made] == [True, True, True]
    _, due, gone = (result.outcome() for result, _ in made if result is not None)
    assert {(c.kind, c.at.isoformat()) for c in due.effects.points_changes} == {
        ("available", "2026-12-15T10:00:00+03:00")
    }
    assert ("expire", "2026-12-31T10:00:00+03:00") in [
        (c.kind, c.at.isoformat()) for c in gone.effects.points_changes
    ]
