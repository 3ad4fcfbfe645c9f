"""The shortcuts of an event's first and last steps decide exactly what the plain definitions do.

Before an event, `points.time_passes` returns the state as it is when nothing is due (no pending
lot ends its wait, the first lot in expiry order is not due, nothing tendered waits; for a state
the engine made, known at a look: `ripening.quiet`), and `ripening.ripen` confirms the pending
lots are the lots' tail in C (or knows it, for a state the engine made: `ripening._TAILS`) and,
when their times are in order, takes those that ended their wait as a prefix.
`lot_memos.past_return_window` answers from the soonest close of a return window kept beside the
lots (one comparison) when it can, and the expiry reminder reads only the lots its horizon reached
since the latest event (`lot_memos.reminded_until`). `run.open_run` remembers each line's amount
by (price, quantity, quantum) and skips the loop over the prices for RE410 when every one is
known. Here an engine with them and one without (the pending lots looked for by id, expiry and
ripening always run, every lot looked at for its return window and by the reminder, every amount
worked out and every price checked) decide the same streams, outcome JSON and state JSON event by
event: purchases hours to months apart (pending periods ending, lots expiring, return windows
closing, reminders deferred by quiet hours and the frequency cap and sent later), returns and
redemptions (lots changed or added that are not pending), late events (pending lots out of their
order), each state also carried as JSON (a state loaded, not the engine's own).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine import lifecycle, lot_memos, ripening, run
from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.jsonio import loads
from rules_engine.program.validate import load_program
from rules_engine.state.customer import CustomerState, parse_state
from tests.conftest import ROOT
from tests.engine.random_programs import Drawn, streams
from tests.engine.two_paths import EXAMPLES, decide, products

PROGRAMS = ROOT / "programs"
# Pending points, expiry, quiet hours and a frequency cap (coffee-club); returns and a return
# window (volt-electronics); the others for what else they set.


class _Unknown(dict[Any, Any]):
    """An `_AMOUNTS` that knows no amount and keeps none: every line worked out, every price checked."""

    def get(self, key: Any, default: Any = None) -> Any:
        return default

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


class _Forgetful:
    """A `lot_memos._CLOSES` (a `Memo`) that keeps nothing: `past_return_window` looks at every lot."""

    def get(self, values: Any) -> Any:
        return None

    def put(self, values: Any, memo: Any) -> None:
        pass

    def take(self, values: Any) -> Any:
        return None


@contextlib.contextmanager
def _without_shortcuts() -> Iterator[None]:
    """The plain definitions: pending lots looked for by id (`_pending_lots`), expiry and ripening
    always run to the end, each line's amount worked out and each price checked (`finer_than`)."""
    saved = (
        ripening._ripe_in_tail,
        lifecycle.nothing_due,
        run._AMOUNTS,
        lot_memos._CLOSES,
        ripening.quiet,
        lot_memos._REMINDED,
    )
    ripening._ripe_in_tail = lambda state, moment, zone: None  # type: ignore[assignment]
    lifecycle.nothing_due = lambda state, moment: False  # type: ignore[assignment]
    ripening.quiet = lambda state, moment: False  # type: ignore[assignment]
    run._AMOUNTS = _Unknown()
    lot_memos._CLOSES = _Forgetful()  # every lot looked at for its return window
    lot_memos._REMINDED = _Forgetful()  # the reminder reads every lot of its fortnight
    try:
        yield
    finally:
        (
            ripening._ripe_in_tail,
            lifecycle.nothing_due,
            run._AMOUNTS,
            lot_memos._CLOSES,
            ripening.quiet,
            lot_memos._REMINDED,
        ) = saved


def _stretched(data: st.DataObject, stream: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`stream` with longer gaps drawn between its events (a shift that never decreases: the
    order, and the late events, stay): a fortnight's pending period ends, a year's points expire."""
    shift = dt.timedelta(0)
    stretched = []
    for event in stream:
        shift += dt.timedelta(
            days=data.draw(st.sampled_from([0, 0, 0, 1, 13, 15, 120, 364, 366]), label="gap")
        )
        moment = dt.datetime.fromisoformat(event["time"]) + shift
        stretched.append({**event, "time": moment.isoformat()})
    return stretched


_COMPILED: dict[Path, Any] = {}


def _engines(path: Path) -> tuple[Engine, Engine]:
    if path not in _COMPILED:
        _COMPILED[path] = load_program(path)
    compiled = _COMPILED[path]
    return Engine(compiled, secret=b"s"), Engine(compiled, secret=b"s")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_streams_through_pending_periods_expiry_and_waiting_messages_decide_the_same(
    path: Path, data: st.DataObject
) -> None:
    program = _engines(path)[0].program
    decimals = 0 if program.currency == "JPY" else 2
    drawn = Drawn(path.read_text(encoding="utf-8"), program.currency, decimals)
    stream = data.draw(streams(drawn, customers=2, events=24, products=products(path.stem)))
    stream = _stretched(data, stream)
    as_json = data.draw(st.booleans(), label="states carried as JSON")
    fast, plain = _engines(path)
    mine: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    for event in stream:
        customer = event["customer"]
        a = decide(fast, event, mine.get(customer))
        with _without_shortcuts():
            b = decide(plain, event, theirs.get(customer))
        assert a[:2] == b[:2], event
        if a[0] != "refused":
            mine[customer] = loads(a[1]) if as_json else a[2]
            theirs[customer] = loads(b[1]) if as_json else b[2]


def test_an_event_with_nothing_due_leaves_the_state_as_it_is() -> None:
    """Nothing ends its wait, nothing expires: time passing gives back the very state, and the
    event's points changes are none (what the shortcut is for: no list built)."""
    from rules_engine.engine import points

    engine = Engine(load_program(PROGRAMS / "coffee-club.yaml"))
    start = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    state: CustomerState | None = None
    for day in range(3):
        event = {
            "id": f"p{day}",
            "type": "purchase",
            "customer": "c1",
            "time": (start + dt.timedelta(days=day)).isoformat(),
            "items": [{"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 2}],
        }
        result = engine.process(event, state)
        assert result.points_changes == ()  # 14 days pending: nothing ended its wait yet
        state = result.state
    assert state is not None and state.pending_lots == [lot.id for lot in state.lots]  # all wait
    later = start + dt.timedelta(days=5)
    after, changes, expired = points.time_passes(engine.program, state, later, "e")
    assert after is state and changes == [] and expired == []
    ripe = start + dt.timedelta(days=15, hours=1)  # the first two lots' wait ended, not the third's
    after, changes, expired = points.time_passes(engine.program, state, ripe, "e")
    assert [(c.kind, c.lot) for c in changes] == [("available", lot.id) for lot in state.lots[:-1]]
    assert after.pending_lots == [lot.id for lot in state.lots if lot.event == "p2"]
    loaded = parse_state(loads(state.model_dump_json()))  # the same from JSON
    again, changes_again, _ = points.time_passes(engine.program, loaded, ripe, "e")
    assert changes_again == changes and again.pending_lots == after.pending_lots


def test_a_state_the_engine_made_is_known_to_have_nothing_due_without_reading_its_lots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Settle carries the reading of the pending lots (the lots' tail, their times) to the state it
    makes (`ripening.carry_tail`), and time passing to the state it leaves: the next event asks
    one comparison, no lot's id is made (`_tail_is` is not called). A state read from JSON, whose
    lists the engine never saw, is read once, then known."""
    engine = Engine(load_program(PROGRAMS / "coffee-club.yaml"))
    start = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    looked: list[int] = []
    tail_is = ripening._tail_is

    def counted(pending: Any, tail: Any) -> bool:
        looked.append(len(pending))
        return tail_is(pending, tail)

    monkeypatch.setattr(ripening, "_tail_is", counted)

    def purchase(day: int, hours: int = 0) -> dict[str, Any]:
        return {
            "id": f"p{day}-{hours}",
            "type": "purchase",
            "customer": "c1",
            "time": (start + dt.timedelta(days=day, hours=hours)).isoformat(),
            "items": [{"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 2}],
        }

    state = None
    for day in (0, 1, 2, 16, 17, 40):  # pending lots waiting, then ending their wait at day 16, 17, 40
        state = engine.process(purchase(day), state).state
    assert looked == []
    loaded = parse_state(loads(state.model_dump_json()))
    state = engine.process(purchase(41), loaded).state
    assert looked == [len(loaded.pending_lots or [])]
    engine.process(purchase(42), state)
    assert len(looked) == 1


def test_a_line_amount_remembered_is_the_one_worked_out_whatever_its_digits() -> None:
    """Amounts are remembered by value: a price and a quantity sent with other digits (320 and
    320.00, 2 and 2.0) give the amount rounded to the currency, the same decimal either way, and a
    price finer than the currency is refused (RE410) though its line's twin was remembered."""
    engine = Engine(load_program(PROGRAMS / "coffee-club.yaml"))
    time = "2026-12-01T12:00:00+03:00"
    for number, (price, qty) in enumerate([("320.00", "2"), ("320", "2.0"), ("320.0", 2), ("320.00", "2")]):
        event = {
            "id": f"p{number}",
            "type": "purchase",
            "customer": "c1",
            "time": time,
            "items": [{"sku": "LATTE", "category": "coffee", "price": price, "qty": qty}],
        }
        result = engine.process(event, None)
        assert str(result.totals.basket) == "640.00"
    fine = {"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 1}
    too_fine = {"sku": "LATTE", "category": "coffee", "price": "320.001", "qty": 1}
    event = {"id": "x", "type": "purchase", "customer": "c1", "time": time, "items": [fine, too_fine]}
    with pytest.raises(EventError) as refused:
        engine.process(event, None)
    assert [d.code for d in refused.value.diagnostics] == ["RE410"]
    shipping = {"id": "y", "type": "purchase", "customer": "c1", "time": time, "items": [fine]}
    with pytest.raises(EventError) as refused:
        engine.process({**shipping, "shipping": Decimal("0.005")}, None)
    assert [d.code for d in refused.value.diagnostics] == ["RE410"]
