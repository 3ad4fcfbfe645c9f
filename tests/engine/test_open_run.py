"""`run.open_run` sets each slot of its `Run` directly (`run._opened`), not through the dataclass's
`__init__`, and reads each line's fields from its field dict: the run it opens must be the one the
dataclass would make from the same values, every field (the defaults included, each an empty list
or dict of its own), on purchases of every example program and on the other events."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from rules_engine.engine import conditions
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import AppOpen, Line, Purchase
from rules_engine.engine.run import BudgetSnapshot, Run, open_run
from rules_engine.errors import EventError
from rules_engine.state.customer import CustomerState

PROGRAMS = sorted((Path(__file__).parents[2] / "programs").glob("*.yaml"))
PROGRAMS = [p for p in PROGRAMS if not p.name.endswith(".tests.yaml")]
TIME = dt.datetime(2026, 12, 8, 8, 30, tzinfo=dt.UTC)
_GIVEN = ("points_changes", "fields")  # fields with a default that open_run is given or works out


def _lines() -> list[Line]:
    return [
        Line(sku="LATTE-L", category="coffee", price=Decimal("320.00"), qty=Decimal(2)),
        Line(sku="CROISSANT", category="pastry", price=Decimal("190"), qty=Decimal("1.5")),
        Line(sku="GIFT-500", category="gift_card", price=Decimal("0.10"), qty=Decimal(3)),
    ]


def _reference(run: Run) -> Run:
    """The dataclass's own `Run` of the values `open_run` was given or worked out."""
    required = [
        f.name
        for f in dataclasses.fields(Run)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    given = {name: getattr(run, name) for name in required}
    return Run(**given, points_changes=run.points_changes, fields=run.fields)


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
@pytest.mark.parametrize(
    "event",
    [
        Purchase(id="p1", time=TIME, customer="c1", items=_lines(), shipping=Decimal(150)),
        AppOpen(id="a1", time=TIME, customer="c1"),
    ],
    ids=["purchase", "app-open"],
)
def test_the_run_opened_is_the_dataclass_run(path: Path, event: object) -> None:
    engine = Engine.from_file(path)
    state = CustomerState(customer="c1", tier=None, counters={"r": {"day:2026-12-08": Decimal(5)}})
    changes: list = []
    try:
        run = open_run(engine.plan, b"k", event, state, False, BudgetSnapshot(), changes)  # type: ignore[arg-type]
    except EventError:  # another currency's quantum refuses the 0.10 price: refused alike below
        pytest.skip("the program's currency refuses the purchase")
    reference = _reference(run)
    for field in dataclasses.fields(Run):
        assert getattr(run, field.name) == getattr(reference, field.name), field.name
        if field.default_factory is not dataclasses.MISSING and field.name not in _GIVEN:
            assert getattr(run, field.name) is not getattr(reference, field.name)  # its own
    assert run.before is state and run.points_changes is changes
    assert run.counters == state.counters and run.counters is not state.counters
    if isinstance(event, Purchase) and event.items:
        assert run.skus == ["LATTE-L", "CROISSANT", "GIFT-500", "(shipping)"]
        assert run.quantities == [Decimal(2), Decimal("1.5"), Decimal(3), Decimal(1)]
        assert run.amounts == [Decimal("640.00"), Decimal("285.00"), Decimal("0.30")]
        assert run.remaining == run.amounts and run.remaining is not run.amounts
        assert [{**d} for d in run.fields] == [{**line.__dict__} for line in event.items]
        assert run.fields[0]["category"] == "coffee" and run.fields[1]["qty"] == Decimal("1.5")


def test_two_runs_share_no_list() -> None:
    """Each run's lists and dicts are its own: what one event appends is not another's."""
    engine = Engine.from_file(PROGRAMS[0])
    event = Purchase(id="p1", time=TIME, customer="c1", items=_lines()[:1])
    first = open_run(engine.plan, b"", event, CustomerState(), False, BudgetSnapshot(), [])
    second = open_run(engine.plan, b"", event, CustomerState(), False, BudgetSnapshot(), [])
    for field in dataclasses.fields(Run):
        if field.default_factory is not dataclasses.MISSING and field.name not in _GIVEN:
            assert getattr(first, field.name) is not getattr(second, field.name), field.name


def test_line_attributes_are_still_checked() -> None:
    """A line's custom attributes are found (read in C now) and checked: an undeclared one is RE413."""
    engine = Engine.from_file(PROGRAMS[0])
    line = Line(sku="X", price=Decimal(100), qty=Decimal(1), attributes={"no_such_attribute": 1})
    event = Purchase(id="p1", time=TIME, customer="c1", items=[_lines()[0], line])
    run = open_run(engine.plan, b"", event, CustomerState(), False, BudgetSnapshot(), [])
    with pytest.raises(EventError) as raised:
        conditions.check_attributes(run)
    assert raised.value.diagnostics[0].code == "RE413"
