"""Returns reverse exactly what the returned lines earned, from the original awards."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState
from tests.engine.books import Booked

HEADER = "program: t\nversion: 1\ntimezone: UTC\ncurrency: EUR\n"


def engine(body: str, negative: str = "allow") -> Booked:
    points = f"points: {{pending: 14d, negative_balance: {negative}}}\n"
    return Booked(Engine(load_program_text(HEADER + points + textwrap.dedent(body), "t.yaml")))


def purchase(event_id: str, day: int, *lines: tuple[str, str, int]) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "purchase",
        "time": f"2026-12-{day:02d}T12:00:00Z",
        "customer": "c1",
        "items": [{"sku": s, "price": Decimal(p), "qty": q} for s, p, q in lines],
    }


def giving_back(event_id: str, day: int, of: str, *lines: tuple[str, int]) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "return",
        "time": f"2026-12-{day:02d}T12:00:00Z",
        "customer": "c1",
        "purchase": of,
        "items": [{"sku": s, "qty": q} for s, q in lines],
    }


def balance(state: CustomerState) -> Decimal:
    return sum((lot.points for lot in state.lots), Decimal(0))


SHOP = """\
earn:
  - {id: base, rate: 1 per 1}
  - {id: shoes, for_each_item: 'item.sku == "SHOE"', award: 7 * item.qty, cap: {per_day: 1000}}
"""


def test_a_returned_line_gives_back_what_it_earned_not_a_share_of_the_basket() -> None:
    e = engine(SHOP)
    bought = e.process(purchase("p1", 1, ("SHOE", "50.00", 2), ("SOCK", "10.00", 3)))
    # base: shoes 100 + socks 30 = 130; shoes award 7 × 2 = 14
    assert bought.totals.points == 144
    back = e.process(giving_back("r1", 3, "p1", ("SHOE", 1)), bought.state)
    # one shoe of two: base 100 × 1/2 = 50, award 14 × 1/2 = 7 — from the pending lots themselves
    assert balance(back.state) == 144 - 57
    assert sorted((c.lot, c.points) for c in back.effects.points_changes) == [
        ("p1/base", 50),
        ("p1/shoes", 7),
    ]
    assert e.balanced(back.state)


def test_returns_use_the_original_award_not_todays_rules() -> None:
    bought = engine(SHOP).process(purchase("p1", 1, ("SOCK", "10.00", 3)))
    richer = engine("earn: [{id: base, rate: 5 per 1}]\n")  # the program changed since
    back = richer.process(giving_back("r1", 3, "p1", ("SOCK", 3)), bought.state)
    assert balance(back.state) == 0


def test_partial_returns_add_up_to_exactly_what_was_earned() -> None:
    e = engine("earn: [{id: base, rate: 1 per 3}]\n")
    state = e.process(purchase("p1", 1, ("A", "10.00", 3))).state  # 30 / 3 = 10 points
    for n in range(3):
        state = e.process(giving_back(f"r{n}", 2 + n, "p1", ("A", 1)), state).state
    assert balance(state) == 0
    # floor rounding of what has been returned so far: floor(10/3) = 3, floor(20/3) = 6, 10
    assert [x.points for x in e.books(state) if x.kind == "reverse"] == [-3, -3, -4]
    with pytest.raises(EventError) as caught:
        e.process(giving_back("r9", 9, "p1", ("A", 1)), state)
    assert caught.value.code == "RE433"


def test_a_return_after_redemption_can_drive_the_balance_negative_when_allowed() -> None:
    body = SHOP + "catalog: [{id: mug, name: A mug, cost: 100}]\n"
    e = engine(body)
    state = e.process(purchase("p1", 1, ("SOCK", "10.00", 12))).state  # 120 points
    state = e.process(
        {"id": "m1", "type": "redeem", "time": "2026-12-20T12:00:00Z", "customer": "c1", "item": "mug"}, state
    ).state  # 20 left
    back = e.process(giving_back("r1", 21, "p1", ("SOCK", 12)), state)
    assert balance(back.state) == -100
    assert "balance goes negative" in next(t for t in back.trace if t.rule == "return:p1").reason
    assert e.balanced(back.state)
    forgiving = engine(body, negative="write_off")
    state = forgiving.process(purchase("p1", 1, ("SOCK", "10.00", 12))).state
    state = forgiving.process(
        {"id": "m1", "type": "redeem", "time": "2026-12-20T12:00:00Z", "customer": "c1", "item": "mug"}, state
    ).state
    back = forgiving.process(giving_back("r1", 21, "p1", ("SOCK", 12)), state)
    assert (
        balance(back.state) == 0
        and "written off" in next(t for t in back.trace if t.rule == "return:p1").reason
    )
    assert e.balanced(back.state)


def test_spent_points_come_back_from_pending_lots_first() -> None:
    e = engine(SHOP + "catalog: [{id: mug, name: A mug, cost: 30}]\n")
    state = e.process(purchase("p1", 1, ("SOCK", "10.00", 3))).state  # 30, available on the 15th
    state = e.process(
        {"id": "m1", "type": "redeem", "time": "2026-12-16T12:00:00Z", "customer": "c1", "item": "mug"}, state
    ).state  # all 30 spent
    state = e.process(purchase("p2", 17, ("SOCK", "10.00", 2)), state).state  # 20 pending
    back = e.process(giving_back("r1", 18, "p1", ("SOCK", 1)), state)
    assert [(c.lot, c.points) for c in back.effects.points_changes if c.kind == "reverse"] == [
        ("p2/base", 10)
    ]
    assert e.balanced(back.state)


def test_spent_points_come_back_from_the_purchases_own_bonus_lots_too() -> None:
    """Regression: "what was already spent comes out of the customer's other lots" (docs/engine.md)
    — a bonus the returned purchase itself gave (a challenge's: a lot with no basket lines, which
    no return reverses) is one of them; it used to be skipped, and its points kept while the spent
    ones were written off (programs/book-nook.tests.yaml found it)."""
    body = (
        SHOP
        + "catalog: [{id: mug, name: A mug, cost: 100}]\n"
        + "challenges: [{id: big, counts: basket.total, goal: 100, window: lifetime, reward: {points: 50}}]\n"
    )
    e = engine(body, negative="write_off")
    state = e.process(purchase("p1", 1, ("SOCK", "10.00", 12))).state  # base 120 + the challenge's 50
    state = e.process(
        {"id": "m1", "type": "redeem", "time": "2026-12-20T12:00:00Z", "customer": "c1", "item": "mug"}, state
    ).state  # oldest first, by id at the same moment: p1/base 120 → 20; p1/challenge:big 50
    back = e.process(giving_back("r1", 21, "p1", ("SOCK", 12)), state)
    # 120 to take back: 20 from p1/base, 50 of the 100 spent from p1/challenge:big, 50 written off
    assert [(c.lot, c.points) for c in back.effects.points_changes if c.kind == "reverse"] == [
        ("p1/base", 20),
        ("p1/challenge:big", 50),
    ]
    assert balance(back.state) == 0
    assert "50 already spent: written off" in next(t for t in back.trace if t.rule == "return:p1").reason
    assert e.balanced(back.state)


def test_ledger_entries_name_the_basket_lines_they_belong_to() -> None:
    """One entry per award (and per lot a return takes from), its line parts inside."""
    e = engine(SHOP)
    bought = e.process(purchase("p1", 1, ("SHOE", "50.00", 2), ("SOCK", "10.00", 3)))
    # base: 100 on the shoes (line 0) and 30 on the socks (line 1); shoes award: 14 on line 0
    earned = [(x.rule, x.points, [(p.line, p.points) for p in x.lines]) for x in bought.ledger]
    assert earned == [("base", 130, [(0, 100), (1, 30)]), ("shoes", 14, [(0, 14)])]
    back = e.process(giving_back("r1", 3, "p1", ("SHOE", 1)), bought.state)
    # one shoe of two: half of what line 0 earned, from each award's lot, named line 0
    reversed_ = [
        (x.rule, x.lot, x.points, [(p.line, p.points) for p in x.lines])
        for x in back.ledger
        if x.kind == "reverse"
    ]
    assert reversed_ == [("return:p1", "p1/base", -50, [(0, -50)]), ("return:p1", "p1/shoes", -7, [(0, -7)])]
    assert e.balanced(back.state)


def test_a_returns_entry_holds_every_returned_line_of_the_lot() -> None:
    e = engine(SHOP)
    bought = e.process(purchase("p1", 1, ("SHOE", "50.00", 2), ("SOCK", "10.00", 3)))
    back = e.process(giving_back("r1", 3, "p1", ("SHOE", 2), ("SOCK", 3)), bought.state)
    (base,) = [x for x in back.ledger if x.kind == "reverse" and x.lot == "p1/base"]
    assert base.points == -130 and [(p.line, p.points) for p in base.lines] == [(0, -100), (1, -30)]


WINDOW = SHOP + "returns: {within: 10d}\n"


def test_a_return_inside_the_window_takes_back_and_one_at_its_end_takes_nothing() -> None:
    e = engine(WINDOW)
    bought = e.process(purchase("p1", 1, ("SOCK", "10.00", 3)))  # 30 points, 2026-12-01 12:00 UTC
    inside = e.process(giving_back("r1", 10, "p1", ("SOCK", 1)), bought.state)  # day 9 of 10
    assert balance(inside.state) == 20
    closed = e.process(giving_back("r2", 11, "p1", ("SOCK", 1)), inside.state)  # exactly 10 days on
    (trace,) = [t for t in closed.trace if t.rule == "return:p1"]
    assert (trace.fired, trace.code) == (False, "outside_schedule")
    assert "within 10d of the purchase" in trace.reason and "2026-12-11 12:00" in trace.reason
    assert balance(closed.state) == 20
    assert closed.state.returned == inside.state.returned  # the line is not counted as returned
    assert closed.effects.points_changes == []


def test_past_the_window_emptied_lots_and_line_detail_leave_the_state() -> None:
    body = WINDOW + "catalog: [{id: mug, name: A mug, cost: 30}]\n"
    e = engine(body)
    state = e.process(purchase("p1", 1, ("SOCK", "10.00", 3))).state  # 30 points, pending 14 days
    state = e.process(
        {"id": "m1", "type": "redeem", "time": "2026-12-16T12:00:00Z", "customer": "c1", "item": "mug"}, state
    ).state
    # p1's lot is spent to 0, and its window closed on the 11th: no return can need it, it goes
    assert [lot.id for lot in state.lots] == []
    state = e.process(purchase("p2", 17, ("SHOE", "50.00", 1)), state).state
    assert [(lot.id, len(lot.lines)) for lot in state.lots] == [("p2/base", 1), ("p2/shoes", 1)]
    state = e.process(purchase("p3", 28, ("SOCK", "10.00", 1)), state).state
    # p2's window closed on the 27th: its lots keep their points, not their lines
    assert [(lot.id, lot.points, len(lot.lines)) for lot in state.lots] == [
        ("p2/base", 50, 0),
        ("p2/shoes", 7, 0),
        ("p3/base", 10, 1),
    ]
    assert e.balanced(state)


def test_without_a_window_a_state_keeps_every_lot_for_returns() -> None:
    e = engine(SHOP + "catalog: [{id: mug, name: A mug, cost: 30}]\n")
    state = e.process(purchase("p1", 1, ("SOCK", "10.00", 3))).state
    state = e.process(
        {"id": "m1", "type": "redeem", "time": "2026-12-16T12:00:00Z", "customer": "c1", "item": "mug"}, state
    ).state
    assert [(lot.id, lot.points) for lot in state.lots] == [("p1/base", 0)]
    back = e.process(giving_back("r1", 30, "p1", ("SOCK", 3)), state)  # a month later: still taken back
    assert balance(back.state) == -30


def test_a_return_dated_before_its_purchase_is_refused_and_changes_nothing() -> None:
    e = engine(SHOP)
    bought = e.process(purchase("p1", 5, ("SHOE", "50.00", 2)))
    with pytest.raises(EventError) as raised:
        e.process(giving_back("r1", 4, "p1", ("SHOE", 1)), bought.state)
    assert raised.value.code == "RE440"  # before the customer's latest event, the purchase itself
    # A state that does not know its latest event (imported) still cannot take a return back in time.
    unclocked = bought.state.model_copy(update={"last_event_at": None})
    with pytest.raises(EventError) as raised:
        e.process(giving_back("r1", 4, "p1", ("SHOE", 1)), unclocked)
    assert raised.value.code == "RE436"
    assert "the return (2026-12-04T12:00:00+00:00) is dated before its purchase p1" in str(raised.value)
    same_moment = e.process(giving_back("r2", 5, "p1", ("SHOE", 1)), bought.state)  # at once: fine
    assert balance(same_moment.state) == balance(bought.state) - 57


def test_a_return_of_a_purchase_the_customer_never_made_is_refused() -> None:
    # Issue 11: it was accepted as "no points"; a return sent for the wrong customer created them.
    e = engine(SHOP)
    bought = e.process(purchase("p1", 5, ("SHOE", "50.00", 2)))
    with pytest.raises(EventError) as refused:
        e.process(giving_back("r1", 6, "p0", ("SHOE", 1)), bought.state)
    [problem] = refused.value.diagnostics
    assert (problem.code, problem.path) == ("RE437", ("purchase",))
    assert "r1" in problem.message and "p0" in problem.message
    other = {**giving_back("r2", 6, "p1", ("SHOE", 1)), "customer": "c2"}
    with pytest.raises(EventError) as refused:
        e.process(other, None)  # another customer returning c1's purchase
    assert [d.code for d in refused.value.diagnostics] == ["RE437"]


def test_a_return_of_a_purchase_that_earned_nothing_is_accepted_and_says_so() -> None:
    e = engine("earn:\n  - {id: big, when: basket.total > 1000, award: 10}\n")
    bought = e.process(purchase("p1", 5, ("SHOE", "50.00", 2)))
    assert bought.effects.points == []
    back = e.process(giving_back("r1", 6, "p1", ("SHOE", 1)), bought.state)
    (trace,) = [t for t in back.trace if t.rule == "return:p1"]
    assert (trace.fired, trace.code) == (False, "nothing_eligible")
    assert back.state.returned == {"p1": {"0": 1}}


@pytest.mark.parametrize("earned", [True, False])
def test_a_return_of_a_sku_not_in_the_purchase_is_refused_like_too_many(earned: bool) -> None:
    # Issue 11: it was accepted as "no points". A gift card line earns nothing, so the lots alone
    # cannot tell it from a line never bought: the purchase lines the state keeps can.
    e = engine(
        SHOP if earned else 'earning_base: {exclude: item.sku == "GIFT"}\nearn:\n  - {id: b, rate: 1 per 1}\n'
    )
    bought = e.process(purchase("p1", 5, ("SHOE", "50.00", 2), ("GIFT", "20.00", 1)))
    with pytest.raises(EventError) as refused:
        e.process(giving_back("r1", 6, "p1", ("SHOE", 1), ("HAT", 1)), bought.state)
    [problem] = refused.value.diagnostics
    assert (problem.code, problem.path) == ("RE433", ("items", 1))
    assert "not in purchase p1" in problem.message
    gift = e.process(giving_back("r2", 6, "p1", ("GIFT", 1)), bought.state)  # bought, earned nothing
    assert gift.state.returned == {"p1": {"1": 1}}


CAPPED = """\
earn:
  - {id: base, rate: 1 per 1}
  - {id: welcome, award: 50, cap: {per_day: 50, lifetime: 50}, budget: {points: 50, period: month}}
"""


def test_a_full_return_gives_the_cap_back_so_a_same_day_rebuy_earns_again() -> None:
    """Issue 16, item 4: the capped award of a returned purchase no longer counts against the cap."""
    e = engine(CAPPED)
    bought = e.process(purchase("p1", 1, ("MUG", "20.00", 1)))
    assert [(a.rule, a.points) for a in bought.effects.points] == [("base", 20), ("welcome", 50)]
    back = e.process(giving_back("r1", 1, "p1", ("MUG", 1)), bought.state)
    assert back.state.counters["welcome"] == {"day:2026-12-01": 0, "lifetime": 0}
    limits = next(t for t in back.trace if t.rule == "return:p1:limits")
    assert "50 back to the cap of `welcome` (day:2026-12-01, lifetime)" in limits.reason
    # the budget is the store's: the outcome says what to give back, in the period it was spent
    assert [(r.rule, r.period, r.points) for r in back.effects.budgets_released] == [
        ("welcome", "month:2026-12", 50)
    ]
    rebuy = e.process(purchase("p2", 1, ("MUG", "20.00", 1)), back.state)
    assert [(a.rule, a.points) for a in rebuy.effects.points] == [("base", 20), ("welcome", 50)]
    assert e.balanced(rebuy.state)


def test_a_partial_return_gives_back_its_share_of_the_cap_only() -> None:
    e = engine(CAPPED)
    bought = e.process(purchase("p1", 1, ("MUG", "20.00", 1), ("CUP", "20.00", 1)))
    back = e.process(giving_back("r1", 1, "p1", ("MUG", 1)), bought.state)
    assert back.state.counters["welcome"]["lifetime"] == 25  # half the award came back
    rebuy = e.process(purchase("p2", 1, ("MUG", "20.00", 1)), back.state)
    assert [(a.rule, a.points) for a in rebuy.effects.points] == [("base", 20), ("welcome", 25)]


def test_a_return_in_a_later_period_gives_nothing_back_to_the_ended_one() -> None:
    e = engine("""\
earn:
  - {id: welcome, award: 50, cap: {per_day: 50}}
""")
    bought = e.process(purchase("p1", 1, ("MUG", "20.00", 1)))
    back = e.process(giving_back("r1", 2, "p1", ("MUG", 1)), bought.state)
    assert back.state.counters["welcome"] == {"day:2026-12-01": 50}  # the ended day is not today's
    assert not any(t.rule == "return:p1:limits" for t in back.trace)


def test_a_return_naming_a_return_is_refused_not_taken_as_a_purchase() -> None:
    # A return's id was taken for a purchase the customer made (its tier activity names it):
    # accepted as "nothing to take back", it kept the return's id among the returned purchases.
    e = engine(
        SHOP + "tiers:\n  qualify_on: spend\n  window: lifetime\n  levels:\n    - {id: base, threshold: 0}\n"
    )
    bought = e.process(purchase("p1", 5, ("SHOE", "50.00", 2)))
    back = e.process(giving_back("r1", 6, "p1", ("SHOE", 1)), bought.state)
    assert [a.event for a in back.state.activity] == ["p1", "r1"]
    with pytest.raises(EventError) as refused:
        e.process(giving_back("r2", 7, "r1", ("SHOE", 1)), back.state)
    [problem] = refused.value.diagnostics
    assert (problem.code, problem.path) == ("RE437", ("purchase",))
    assert "r2 names purchase r1" in problem.message


def test_a_return_naming_a_return_that_left_a_debt_is_refused() -> None:
    # A return of points already spent, in a program that allows a negative balance, leaves a debt
    # lot named after the return (`<return>/return:<purchase>`): taken for a purchase's lot too.
    body = "points: {negative_balance: allow}\nearn:\n  - {id: base, rate: 1 per 1}\n"
    e = Booked(
        Engine(
            load_program_text(HEADER + body + "catalog:\n  - {id: mug, name: A mug, cost: 100}\n", "t.yaml")
        )
    )
    bought = e.process(purchase("p1", 5, ("SHOE", "50.00", 2)))
    redeem = {"id": "m1", "type": "redeem", "time": "2026-12-05T13:00:00Z", "customer": "c1", "item": "mug"}
    spent = e.process(redeem, bought.state)
    back = e.process(giving_back("r1", 6, "p1", ("SHOE", 1)), spent.state)
    assert [(lot.id, lot.points) for lot in back.state.lots if lot.event == "r1"] == [("r1/return:p1", -50)]
    with pytest.raises(EventError) as refused:
        e.process(giving_back("r2", 7, "r1", ("SHOE", 1)), back.state)
    assert [d.code for d in refused.value.diagnostics] == ["RE437"]


def test_a_return_naming_a_return_that_gave_points_back_is_refused() -> None:
    # The points a return gives back for lines paid with points are a lot named after the return
    # (`<return>/paid_with_points`): that lot was taken for one of a purchase the customer made.
    e = Booked(
        Engine(
            load_program_text(
                HEADER + "points: {value: 0.01}\nearn:\n  - {id: base, rate: 1 per 1}\n", "t.yaml"
            )
        )
    )
    bought = e.process(purchase("p0", 4, ("HAT", "30.00", 1)))
    paid = e.process({**purchase("p1", 5, ("SHOE", "50.00", 2)), "paid_with_points": "0.20"}, bought.state)
    back = e.process(giving_back("r1", 6, "p1", ("SHOE", 1)), paid.state)
    assert [lot.id for lot in back.state.lots if lot.event == "r1"] == ["r1/paid_with_points"]
    with pytest.raises(EventError) as refused:
        e.process(giving_back("r2", 7, "r1", ("SHOE", 1)), back.state)
    assert [d.code for d in refused.value.diagnostics] == ["RE437"]
