"""Points as tender: `paid_with_points` burns points and a return gives them back (issue 16, item 6)."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState, LedgerEntry
from tests.engine.books import balanced

PROGRAM = """\
program: t
version: 1
timezone: Europe/Paris
currency: EUR
points: {value: 0.01, expire_after: 365d}
earn: [{id: base, rate: 1 per 1}]
"""


def engine(extra: str = "") -> Engine:
    return Engine(load_program_text(PROGRAM + textwrap.dedent(extra), "t.yaml"))


def purchase(event_id: str, day: str, lines: list[tuple[str, str, int]], paid: str = "0") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "purchase",
        "time": f"2026-12-{day}T12:00:00+01:00",
        "customer": "c1",
        "items": [{"sku": sku, "price": Decimal(price), "qty": qty} for sku, price, qty in lines],
        "paid_with_points": Decimal(paid),
    }


def with_points(e: Engine, books: list[LedgerEntry] | None = None) -> CustomerState:
    """30 points from 1 December, 25 from the 2nd: 55 available (their entries added to `books`)."""
    first = e.process(purchase("p1", "01", [("A", "30.00", 1)]))
    second = e.process(purchase("p2", "02", [("A", "25.00", 1)]), first.state)
    if books is not None:
        books += [*first.ledger, *second.ledger]
    return second.state


def test_points_paid_are_burnt_oldest_first_at_the_point_value() -> None:
    e = engine()
    books: list[LedgerEntry] = []
    state = with_points(e, books)
    paid = e.process(purchase("p3", "03", [("B", "10.00", 1)], paid="0.40"), state)
    burnt = [(c.kind, c.lot, c.points) for c in paid.effects.points_changes]
    assert burnt == [("burn", "p1/base", 30), ("burn", "p2/base", 10)]
    assert paid.state.available(paid.state.last_event_at) == 55 - 40 + 9  # 9.60 earns 9
    assert balanced(paid.state, [*books, *paid.ledger])
    more = e.process(purchase("p4", "04", [("B", "10.00", 1)], paid="0.10"), paid.state)
    assert [(c.lot, c.points) for c in more.effects.points_changes] == [("p2/base", 10)]


@pytest.mark.parametrize(
    ("paid", "code"),
    [
        ("0.56", "RE439"),  # 56 points, 55 available
        ("10.01", "RE438"),  # more than the 10.00 to pay
    ],
)
def test_more_than_the_balance_or_the_basket_is_refused(paid: str, code: str) -> None:
    e = engine()
    state = with_points(e)
    with pytest.raises(EventError) as caught:
        e.process(purchase("p3", "03", [("B", "10.00", 1)], paid=paid), state)
    assert [d.code for d in caught.value.diagnostics] == [code]
    assert caught.value.diagnostics[0].path == ("paid_with_points",)


def test_a_program_without_a_point_value_cannot_take_points() -> None:
    e = Engine(load_program_text(PROGRAM.replace("value: 0.01, ", ""), "t.yaml"))
    with pytest.raises(EventError) as caught:
        e.process(purchase("p3", "03", [("B", "10.00", 1)], paid="1.00"))
    assert [d.code for d in caught.value.diagnostics] == ["RE438"]


def test_a_return_gives_back_the_points_that_paid_for_its_lines() -> None:
    e = engine()
    books: list[LedgerEntry] = []
    state = with_points(e, books)
    # 0.50 paid with 50 points on 10.00 + 15.00: 20 points for line 0, 30 for line 1 (2 units)
    paid = e.process(purchase("p3", "03", [("B", "10.00", 1), ("C", "7.50", 2)], paid="0.50"), state)
    assert paid.state.tendered["p3"].points == 50

    def back(event_id: str, day: str, sku: str, qty: int, state: CustomerState) -> Any:
        return e.process(
            {
                "id": event_id,
                "type": "return",
                "time": f"2026-12-{day}T12:00:00+01:00",
                "customer": "c1",
                "purchase": "p3",
                "items": [{"sku": sku, "qty": qty}],
            },
            state,
        )

    one = back("r1", "05", "C", 1, paid.state)
    assert [(c.kind, c.points) for c in one.effects.points_changes if c.kind == "refund"] == [("refund", 15)]
    rest = back("r2", "06", "C", 1, one.state)
    assert [c.points for c in rest.effects.points_changes if c.kind == "refund"] == [15]
    whole = back("r3", "07", "B", 1, rest.state)
    assert [c.points for c in whole.effects.points_changes if c.kind == "refund"] == [20]
    assert balanced(whole.state, [*books, *paid.ledger, *one.ledger, *rest.ledger, *whole.ledger])
