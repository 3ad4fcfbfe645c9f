"""A new customer's first event: decided from one shared empty state, and a first-purchase badge's
condition read from the history alone.

`Engine.process` starts every new customer (no state given) from one `CustomerState` made once and
never changed (evaluator.py `_NEW_CUSTOMER`), not a new validated state and its copy in expiry
order each time; and a mechanic's condition that reads nothing but the costly `customer.*`
attributes (coffee-club's `first-cup`: `len(customer.purchases) == 0`) gets a context of those
alone (mechanics/shared.py `_customer_context`), not the whole context. Here both decide what the
plain way decides: the same outcome and state as an explicit `CustomerState()` and as the
explaining path, the shared state unchanged after many first events, and the classification of
expressions that may read the customer's history alone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.dsl.expression import compile_expression
from rules_engine.engine import conditions, evaluator
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.shared import reads_only_customer
from rules_engine.program.validate import load_program
from rules_engine.state.customer import CustomerState
from tests.conftest import ROOT
from tests.engine.random_programs import Drawn, streams
from tests.engine.two_paths import EXAMPLES, decide, products

START = dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=3)))
_COMPILED: dict[Any, Any] = {}


def _engine(path: Any, **options: Any) -> Engine:
    if path not in _COMPILED:
        _COMPILED[path] = load_program(path)
    return Engine(_COMPILED[path], secret=b"s", **options)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_first_event_decides_as_from_an_explicit_empty_state(path: Any, data: st.DataObject) -> None:
    """Every drawn stream's events, each customer's first from no state (the shared one) and from
    `CustomerState()`, on the generated path and the explaining one: the same outcome and state
    JSON, event by event; the shared state is as it was made."""
    program = _engine(path).program
    drawn = Drawn(path.read_text(encoding="utf-8"), program.currency, 0 if program.currency == "JPY" else 2)
    stream = data.draw(streams(drawn, customers=3, events=12, products=products(path.stem)))
    shared = evaluator._NEW_CUSTOMER.model_dump_json()
    fast, plain = _engine(path), _engine(path, generated=False)
    mine: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    for event in stream:
        customer = event["customer"]
        a = decide(fast, event, mine.get(customer))
        b = decide(plain, event, theirs.get(customer, CustomerState()))
        assert a[:2] == b[:2], event
        if a[0] != "refused":
            mine[customer], theirs[customer] = a[2], b[2]
    assert evaluator._NEW_CUSTOMER.model_dump_json() == shared


def test_a_first_purchase_badge_reads_the_history_without_the_whole_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """coffee-club's `first-cup` (`len(customer.purchases) == 0`) on a customer's first purchase:
    earned, as the explaining path earns it, without the whole context (the event, the basket's
    lines) being built; on their second purchase, held, nothing built either."""
    path = ROOT / "programs" / "coffee-club.yaml"
    built: list[int] = []
    original = conditions.build_context

    def counted(run: Any) -> Any:
        built.append(1)
        return original(run)

    monkeypatch.setattr(conditions, "build_context", counted)
    fast, plain = _engine(path), _engine(path, generated=False)
    state: CustomerState | None = None
    for day in (0, 1):
        event = {
            "id": f"p{day}",
            "type": "purchase",
            "customer": "c1",
            "time": (START + dt.timedelta(days=day)).isoformat(),
            "items": [{"sku": "LATTE", "category": "coffee", "price": Decimal("320.00"), "qty": 2}],
        }
        built.clear()
        result = fast.process(event, state)
        assert built == []
        expected = plain.process(event, state)
        assert result.model_dump_json() == expected.model_dump_json()
        badges = [b.badge for b in result.badges]
        assert badges == (["first-cup"] if day == 0 else [])
        state = result.state


@pytest.mark.parametrize(
    ("text", "only"),
    [
        ("len(customer.purchases) == 0", True),
        ('count(p.category == "coffee" for p in customer.purchases) >= 3', True),
        ("customer.points > 100", True),
        ('len(customer.purchases) == 0 and customer.tier == "gold"', False),  # the tier: not costly
        ("len(customer.purchases) == 0 and basket.total > 10", False),
        ("any(any(p.sku == item.sku for item in basket.items) for p in customer.purchases)", False),
        ("count(p.qty > 1 for p in customer.purchases) > event.time.hour", False),
    ],
)
def test_which_expressions_read_only_the_customers_costly_attributes(text: str, only: bool) -> None:
    expression = compile_expression(text)
    assert reads_only_customer(expression, frozenset({"purchases", "points"})) is only
