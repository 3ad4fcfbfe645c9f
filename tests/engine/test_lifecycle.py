"""Points over time: pending, available, expiry oldest first, spending oldest first, the ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rules_engine.engine.lifecycle import burn, expire
from rules_engine.engine.ripening import became_available
from rules_engine.errors import EventError
from rules_engine.state.customer import CustomerState, LedgerEntry, Lot
from tests.engine.books import balanced

UTC = dt.UTC


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, tzinfo=UTC)


def lot(event: str, points: int, earned: int, pending_days: int = 0, expires: int | None = None) -> Lot:
    return Lot(
        event=event,
        rule="base",
        points=Decimal(points),
        earned_at=at(earned),
        available_at=at(earned) + dt.timedelta(days=pending_days),
        expires_at=at(expires) if expires else None,
    )


def state(*lots: Lot) -> CustomerState:
    return CustomerState(customer="c1", lots=list(lots))


def earned(s: CustomerState) -> list[LedgerEntry]:
    """The earn entries of `s`'s lots, as the events that made them booked them."""
    return [
        LedgerEntry(event=x.event, rule=x.rule, kind="earn", points=x.points, lot=x.id, at=x.earned_at)
        for x in s.lots
    ]


def test_pending_then_available() -> None:
    s = state(lot("e1", 10, 1, pending_days=14))
    assert s.available(at(14)) == 0 and s.pending(at(14)) == 10
    assert s.available(at(15)) == 10 and s.pending(at(15)) == 0
    assert became_available(s, since=None, moment=at(16)) == []
    (change,) = became_available(s, since=at(10), moment=at(16))
    assert (change.kind, change.lot, change.points) == ("available", "e1/base", 10)
    assert became_available(s, since=at(16), moment=at(20)) == []


def test_expiry_is_oldest_first_and_exact_at_the_moment() -> None:
    s = state(lot("e1", 10, 1, expires=10), lot("e2", 5, 2, expires=11), lot("e3", 7, 3))
    same, nothing, none = expire(s, at(10) - dt.timedelta(seconds=1), event="x")
    assert nothing == [] == none and same is s
    after, changes, entries = expire(s, at(10), event="e9")
    assert [(c.lot, c.points) for c in changes] == [("e1/base", 10)]
    assert [x.id for x in after.lots] == ["e2/base", "e3/base"]
    assert [(e.kind, e.points, e.event, e.lot) for e in entries] == [("expire", -10, "e9", "e1/base")]
    assert balanced(after, [*earned(s), *entries])


def test_an_expiry_on_the_same_day_as_a_purchase() -> None:
    """Expiry happens at its moment: a purchase an hour earlier can still spend the points."""
    s = state(lot("e1", 10, 1, expires=20))
    before = at(20) - dt.timedelta(hours=1)
    spent, _, burnt = burn(s, Decimal(4), before, event="p1", rule="catalog:latte")
    assert spent.available(before) == 6
    gone, changes, expired = expire(spent, at(20), event="p2")
    assert [(c.kind, c.points) for c in changes] == [("expire", 6)]
    assert balanced(gone, [*earned(s), *burnt, *expired])


def test_spending_burns_the_oldest_available_lots_first() -> None:
    s = state(lot("e1", 10, 1), lot("e2", 10, 2), lot("e3", 10, 3, pending_days=30))
    after, changes, entries = burn(s, Decimal(15), at(5), event="r1", rule="catalog:latte")
    assert [(c.lot, c.points) for c in changes] == [("e1/base", 10), ("e2/base", 5)]
    assert [(x.id, x.points) for x in after.lots] == [("e1/base", 0), ("e2/base", 5), ("e3/base", 10)]
    assert [(e.kind, e.points) for e in entries] == [("burn", -10), ("burn", -5)]
    assert balanced(after, [*earned(s), *entries])


def test_spending_keeps_the_lots_in_expiry_order_when_it_differs_from_the_earned_order() -> None:
    """A program version with a shorter `expire_after` puts a lot earned later before one earned
    earlier (`with_lot`). Spending takes the oldest earned first, and leaves the lots in their
    places: expiry (and the working state's step) read them from the head, in expiry order."""
    s = state(lot("e2", 10, 2, expires=8), lot("e1", 10, 1, expires=25))  # e2: the shorter version
    after, changes, _ = burn(s, Decimal(15), at(5), event="r1", rule="catalog:latte")
    assert [(c.lot, c.points) for c in changes] == [("e1/base", 10), ("e2/base", 5)]
    assert [(x.id, x.points) for x in after.lots] == [("e2/base", 5), ("e1/base", 0)]
    gone, expired, _ = expire(after, at(8), event="x")
    assert [(c.lot, c.points) for c in expired] == [("e2/base", 5)] and gone.available(at(8)) == 0


def test_not_enough_available_points_is_refused_and_changes_nothing() -> None:
    s = state(lot("e1", 10, 1), lot("e2", 10, 2, pending_days=30))
    with pytest.raises(EventError) as caught:
        burn(s, Decimal(15), at(5), event="r1", rule="catalog:latte")
    assert caught.value.code == "RE430"
    assert "10 more become available later" in (caught.value.diagnostics[0].hint or "")
    assert [x.points for x in s.lots] == [10, 10]


def test_lots_at_zero_expired_at_the_head_leave_nothing_due_and_stop_no_expiry() -> None:
    """A lot at 0 (spent, or taken back) stays past its expiry, for returns: at the head of the
    lots it makes nothing due (time passing gives back the very state), and a lot with points
    behind it still expires at its own moment, as `expire` finds it."""
    from rules_engine.engine.lifecycle import in_order, nothing_due
    from rules_engine.engine.points import time_passes
    from rules_engine.program.model import Program

    spent = [lot(f"s{day}", 0, day, expires=day + 2) for day in (1, 2)]
    kept = lot("k", 10, 3, expires=9)
    s = in_order(CustomerState(customer="c1", lots=[*spent, kept], pending_lots=[], last_event_at=at(3)))
    program = Program.model_validate({"program": "p", "currency": "EUR", "version": 1, "timezone": "UTC"})
    for day in (5, 8):  # the spent lots are past their expiry, the kept one not yet
        assert nothing_due(s, at(day))
        after, changes, entries = time_passes(program, s, at(day), "e")
        assert after is s and changes == [] and entries == []
    assert not nothing_due(s, at(9))
    after, changes, entries = time_passes(program, s, at(9), "e")
    assert [(c.kind, c.lot) for c in changes] == [("expire", "k/base")]
    assert after.lots == spent and after.lots == expire(s, at(9), event="e")[0].lots
    assert nothing_due(after, at(20))
