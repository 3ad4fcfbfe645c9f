"""The points reminder's kept reach — how many of the first lots expire by the moment it reminded up
to (`lot_memos.reached`) — against a fresh look at the lots.

The reminder keeps, beside the lots list, the moment up to which every lot with points was reminded
of and how many lots expire by then; settle carries both to the lots it appends, expiry to the lots
it leaves (less as many lots as left). The next event confirms the count on the two lots around it
(`notifications._ends_at`) and reads only the lots after it (`_reach_of`), with no bisection of
the year of lots. A count carried wrong must never skip a lot: here hypothesis draws purchases
(several at one moment: lots that expire together), redemptions that spend lots, returns that take
points back, and gaps from minutes to a year (time jumping past many expiries), on coffee-club
variants whose points expire within weeks; an engine keeping the reach and one that keeps nothing
(every event's full look, the plain definition) decide each event alike — outcome and state JSON —
and every count kept is at most the fresh one, and equal to it when confirmed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine import lot_memos
from rules_engine.engine.lifecycle import expiring_by
from rules_engine.engine.mechanics import notifications
from rules_engine.state.customer import CustomerState
from rules_engine.state.shared import window
from tests.engine.test_whole_reminder import engine_of, purchase, reminder_variants, variant
from tests.engine.test_whole_stream import MSK
from tests.engine.two_paths import decide


class _Nothing:
    """A `lot_memos._REMINDED` that keeps nothing: the reminder looks at every lot in its reach."""

    def get(self, values: Any) -> Any:
        return None

    def put(self, values: Any, memo: Any) -> None:
        pass


@contextlib.contextmanager
def _full_look() -> Iterator[None]:
    saved = lot_memos._REMINDED
    lot_memos._REMINDED = _Nothing()  # type: ignore[assignment]
    try:
        yield
    finally:
        lot_memos._REMINDED = saved


def _redeem(number: int, time: dt.datetime) -> dict[str, Any]:
    return {
        "id": f"x{number}",
        "type": "redeem",
        "time": time.isoformat(),
        "customer": "c",
        "item": "free-latte",
    }


def _return(number: int, time: dt.datetime, of: dict[str, Any]) -> dict[str, Any]:
    items = [{"sku": of["items"][0]["sku"], "qty": 1}]
    return {"id": f"r{number}", "type": "return", "time": time.isoformat(), "customer": "c",
            "purchase": of["id"], "items": items}  # fmt: skip


GAPS = st.one_of(
    st.just(dt.timedelta(0)),  # lots of two events that expire together
    st.integers(1, 600).map(lambda m: dt.timedelta(minutes=m)),
    st.integers(1, 72).map(lambda h: dt.timedelta(hours=h, minutes=17)),
    st.integers(1, 25).map(lambda d: dt.timedelta(days=d, minutes=-31)),
    st.integers(30, 400).map(lambda d: dt.timedelta(days=d)),  # past many expiries
)


@st.composite
def _streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One customer's purchases, redemptions and returns of earlier purchases, gaps drawn."""
    time = dt.datetime(2026, 3, 2, draw(st.integers(0, 23)), 5, tzinfo=MSK)
    events: list[dict[str, Any]] = []
    bought: list[dict[str, Any]] = []
    for number in range(draw(st.integers(10, 60))):
        time += draw(GAPS)
        kind = draw(st.sampled_from(["purchase"] * 6 + ["redeem", "return"]))
        if kind == "redeem":
            events.append(_redeem(number, time))
        elif kind == "return" and bought:
            events.append(_return(number, time, draw(st.sampled_from(bought))))
        else:
            made = purchase(number, time, "c", draw(st.integers(1, 3)))
            bought.append(made)
            events.append(made)
    return events


def _reach_checked(state: CustomerState) -> None:
    """The count kept for the state's lists, if any, is at most the fresh one, and equal to it when
    the reminder would take it; the moment kept holds: every lot with points up to it reminded of."""
    known = lot_memos.reached(state.lots, state.reminded)
    if known is None:
        return
    until, reach = known
    lots = state.lots
    fresh = expiring_by(lots, until)
    reminded = set(state.reminded)
    assert all(lot.id in reminded for lot in lots[:fresh] if lot.points > 0)
    if reach < 0:
        return
    assert reach <= fresh
    items, start, stop = window(lots)
    if notifications._ends_at(list(items), start, stop, reach, until):
        assert reach == fresh


@settings(max_examples=60, deadline=None)
@given(text=reminder_variants(), events=_streams())
def test_a_kept_reach_reminds_as_a_full_look_does(text: str, events: list[dict[str, Any]]) -> None:
    kept, plain = engine_of(text), engine_of(text)
    mine: CustomerState | None = None
    theirs: CustomerState | None = None
    for event in events:
        a = decide(kept, event, mine)
        with _full_look():
            b = decide(plain, event, theirs)
        assert a[:2] == b[:2], event
        if a[0] != "refused":
            mine, theirs = a[2], b[2]
            assert mine is not None
            _reach_checked(mine)


def test_a_daily_buyer_is_reminded_without_a_bisection_once_the_reach_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Purchases a day apart, points expiring in 20 days, the reminder reaching a week: from the
    second reminder on, each purchase reads the lots its horizon reached since, not a bisection of
    the lots (`lifecycle.expiring_by` not called by the reminder)."""
    engine = engine_of(variant(cap=None, quiet=None))
    bisected: list[int] = []

    def counted(lots: Any, moment: dt.datetime) -> int:
        bisected.append(1)
        return expiring_by(lots, moment)

    monkeypatch.setattr(notifications, "expiring_by", counted)
    time = dt.datetime(2026, 3, 2, 12, 5, tzinfo=MSK)
    state = None
    told = 0
    for day in range(60):
        result = engine.process(purchase(day, time + dt.timedelta(days=day)), state)
        told += sum(1 for v in result.trace if v.rule == notifications.REMINDER and v.code == "fired")
        state = result.state
        _reach_checked(state)
    assert told > 30  # reminded at most purchases
    assert bisected == []
