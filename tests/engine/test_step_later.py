"""What a step in place leaves to be made when read, and the shortcuts of its hot path, against the
values made the old way: a trace entry's words (`trusted.Text`), the tier progress (a `Later` the
tiers mechanic leaves), a challenge's counted lines looked up in C (`lines.lines_counted`), and the
lots whose wait ended found by bisection (`step._ripened`). Each read equals what `Engine.process`
gives (test_working.py's `same_stream` runs whole streams both ways)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.later import Later
from rules_engine.engine.mechanics.lines import lines_counted
from rules_engine.engine.outcome import TierProgress
from rules_engine.engine.result import Result
from rules_engine.engine.stream import Stream
from rules_engine.engine.trusted import Text, verdict
from rules_engine.program.validate import load_program
from rules_engine.state.compact import seconds, seconds_after
from tests.engine.test_working import COFFEE, same_stream

MSK = dt.timezone(dt.timedelta(hours=3))
_COFFEE_LINE = {"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 2}
_PASTRY_LINE = {"sku": "CROISSANT", "category": "pastry", "price": "150.00", "qty": 1}


def _engine() -> Engine:
    return Engine(load_program(COFFEE), secret=b"s")


def _purchase(number: int, moment: dt.datetime, lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": f"p{number}",
        "type": "purchase",
        "customer": "c1",
        "time": moment.isoformat(),
        "items": lines or [_COFFEE_LINE, _PASTRY_LINE],
    }


def test_a_text_reads_as_the_string_it_formats_once() -> None:
    made: list[str] = []

    def words(total: Decimal, goal: str) -> str:
        made.append("once")
        return f"{format(total, 'f')} of {goal}"

    text = Text(words, Decimal("4.0"), "5")
    assert made == []  # nothing formatted until read
    entry = verdict("challenge:c", "challenge", False, "nothing_eligible", text, hint=Text(str, 1))
    plain = verdict("challenge:c", "challenge", False, "nothing_eligible", "4.0 of 5", hint="1")
    assert entry == plain  # a verdict holding it equals one holding the text
    assert hash(text) == hash("4.0 of 5")
    model = entry.model()
    assert type(model.reason) is str and model.reason == "4.0 of 5" and model.hint == "1"
    assert model.model_dump_json() == plain.model().model_dump_json()
    assert str(text) == "4.0 of 5" and made == ["once"]


def test_a_step_result_makes_its_tier_progress_when_read_as_process_gives_it() -> None:
    engine = _engine()
    streaming = Stream(engine, whole=False)  # the step in place (engine/step.py)
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
    state = engine.process(_purchase(0, start)).state
    working = streaming.working(state)
    event = _purchase(1, start + dt.timedelta(days=1))
    expected = engine.process(event, state)
    slot = Result.__dict__["tier_progress"]
    assert type(slot.__get__(expected, Result)) is Later  # process's too (settle.outcome): made when read
    result = streaming.step(event, working)
    assert streaming.taken == 1
    assert type(slot.__get__(result, Result)) is Later  # a step's: made when read
    assert type(result.tier_progress) is TierProgress
    assert result.tier_progress == expected.tier_progress
    assert result.outcome().model_dump_json() == expected.outcome().model_dump_json()


def test_counted_lines_found_in_c_are_the_ones_made_line_by_line() -> None:
    class Line:
        def __init__(self, sku: str, qty: Decimal) -> None:
            self.sku, self.qty = sku, qty

    two, one = Decimal(2), Decimal(1)
    items: list[Any] = [Line("A", two), Line("B", one), Line("A", two)]
    skus, quantities = ["A", "B", "A", "(shipping)"], [two, one, two, Decimal(1)]
    raw = [1, 0, 1]
    kept: dict[tuple[Any, ...], Any] = {}
    first = lines_counted(items, raw, kept)  # made, and kept
    again = lines_counted(items, raw, kept, skus, quantities)  # every line found for its quantity
    assert again == first and all(a is b for a, b in zip(again, first, strict=True))
    # an equal quantity of another exponent is another text in the state: not taken from the C path
    other = Decimal("2.0")
    items[0] = Line("A", other)
    changed = lines_counted(items, raw, kept, ["A", "B", "A"], [other, one, two])
    assert changed == lines_counted(items, raw, {})
    assert str(changed[0].qty) == "2.0" and str(changed[2].qty) == "2"


def test_lots_ripening_together_are_found_as_process_finds_them() -> None:
    """Several purchases a day (many lots pending together), then purchases as their waits end:
    none yet, some, all of a day's at once; the step's result and state those of `process`."""
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=MSK)
    events: list[dict[str, Any]] = []
    number = 0
    for day in range(3):
        for hour in (0, 2, 5, 9):
            events.append(_purchase(number, start + dt.timedelta(days=day, hours=hour)))
            number += 1
    for days, hours in ((13, 23), (14, 1), (14, 6), (15, 12), (17, 0), (40, 0)):
        events.append(_purchase(number, start + dt.timedelta(days=days, hours=hours), [_COFFEE_LINE]))
        number += 1
    taken = same_stream(_engine(), events)
    assert taken >= len(events) - 1  # all but the first went in place


_ZONES = [MSK, dt.UTC, dt.timezone(dt.timedelta(hours=-5, minutes=-30)), ZoneInfo("Europe/Berlin")]


@given(
    moment=st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 1, 1)),
    zone=st.sampled_from(_ZONES),
    delta=st.timedeltas(min_value=dt.timedelta(days=-400), max_value=dt.timedelta(days=400)),
)
def test_a_lot_s_times_in_seconds_are_those_of_the_times_moved(
    moment: dt.datetime, zone: dt.tzinfo, delta: dt.timedelta
) -> None:
    """The step's seconds of an award's `available_at` and `expires_at` (the event's seconds moved
    by the wait and the expiry) are `seconds` of those times, in a zone with summer time too."""
    for at in (moment.replace(tzinfo=zone), moment.replace(tzinfo=zone, microsecond=0)):
        assert seconds_after(seconds(at), at, delta) == seconds(at + delta)
        assert seconds_after(seconds(at), at, None) == seconds(at)
