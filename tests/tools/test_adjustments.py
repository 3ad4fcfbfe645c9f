"""Lots the support desk makes (tools/adjustments.py's credit, tools/voids.py's lots a voided
redemption opens again) take their place among the lots by expiry, as the engine's own lots do:
expiry and the expiry reminder read the lots as a list in expiry order, so a lot out of place
would be kept past its expiry, spendable, and never reminded of."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.tools.adjustments import Adjustment
from rules_engine.tools.voids import Void
from tests.conftest import ROOT
from tests.store.streams import PROGRAM

NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
MOSCOW = dt.timezone(dt.timedelta(hours=3))


@pytest.fixture(params=["memory", "sqlite", "sqlite-working"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return {
        "memory": "memory:",
        "sqlite": str(tmp_path / "desk.db"),
        "sqlite-working": f"sqlite:///{tmp_path / 'desk.db'}?working=1",
    }[request.param]


def purchase(name: str, at: dt.datetime, price: str, customer: str = "vic") -> dict[str, Any]:
    return {
        "id": name,
        "type": "purchase",
        "time": at.isoformat(),
        "customer": customer,
        "items": [{"sku": "BEANS", "category": "beans", "price": price, "qty": 1}],
    }


def points(loyalty: Loyalty) -> dict[str, Decimal]:
    state = loyalty.store.state("vic")
    assert state is not None
    return {lot.id: lot.points for lot in state.lots if lot.points}


def test_a_credit_booked_before_a_purchase_dated_ahead_expires_on_its_day(store_url: str) -> None:
    """A purchase may be dated up to the horizon (a day) ahead of the desk's clock: a credit booked
    now expires before its lots do, and expires then, not when theirs do (20 hours later)."""
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    loyalty = Loyalty(engine, open_store(store_url, "coffee-club"), now=NOW)
    loyalty.process(purchase("p1", NOW + dt.timedelta(hours=20), "1000"))
    credit = Adjustment(id="a1", customer="vic", points=Decimal(100), reason="lost", operator="olga", at=NOW)
    loyalty.adjust(credit)
    expiry = NOW + dt.timedelta(days=365)
    loyalty.now = expiry + dt.timedelta(hours=2)
    loyalty.advance("vic", expiry + dt.timedelta(hours=1))
    assert points(loyalty) == {"p1/base": Decimal(10)}
    expired = [row.entry for row in loyalty.store.ledger(customer="vic") if row.entry.kind == "expire"]
    assert [(e.lot, e.points) for e in expired] == [("a1/adjust:olga", Decimal(-100))]


def test_a_lot_a_voided_redemption_opens_again_expires_on_its_day(store_url: str) -> None:
    """The redemption emptied p1's base lot, which left the state when p1's return window closed;
    the void opens it again, expiring 20 days after p1 as it did, before the later purchases', in
    the void's offset in every store."""
    program = PROGRAM + "returns:\n  within: 10d\n"
    engine = Engine(load_program_text(program, "store-test.yaml"), secret=b"store tests")
    loyalty = Loyalty(engine, open_store(store_url, "store-test"), horizon=None)
    loyalty.process(purchase("p1", NOW, "25.00"))  # base 25, launch 10
    loyalty.process(purchase("p2", NOW + 5 * DAY, "5.00"))
    redeem = {"id": "d1", "type": "redeem", "item": "mug", "customer": "vic", "time": f"{NOW + 6 * DAY}"}
    loyalty.process(redeem)
    loyalty.process(purchase("p3", NOW + 12 * DAY, "5.00"))
    assert "p1/base" not in points(loyalty)
    at = (NOW + 13 * DAY).astimezone(MOSCOW)
    void = Void(id="x1", customer="vic", voided="d1", reason="no mug", operator="olga", at=at)
    loyalty.void(void)
    assert points(loyalty)["p1/base"] == 25
    state = loyalty.store.state("vic")
    assert state is not None  # its times in the void's offset, whatever offset the store reads back
    (opened,) = (lot for lot in state.lots if lot.id == "p1/base")
    assert opened.expires_at == NOW + 20 * DAY and opened.expires_at.utcoffset() == MOSCOW.utcoffset(None)
    loyalty.advance("vic", NOW + 21 * DAY)
    assert points(loyalty) == {"p2/base": Decimal(5), "p3/base": Decimal(5)}


def test_points_a_void_gives_back_to_a_lot_past_its_day_expire_with_the_void(store_url: str) -> None:
    """The redemption spent p1's lot (20 days); voided on day 25 it gives the points back to a lot
    past its day: they expire in the same operation, after the give-back and at the void's moment,
    so the balance is what the customer can spend (they stayed until the next event, expired then
    on day 20, before the give-back that brought them)."""
    engine = Engine(load_program_text(PROGRAM, "store-test.yaml"), secret=b"store tests")
    loyalty = Loyalty(engine, open_store(store_url, "store-test"), horizon=None)
    loyalty.process(purchase("p1", NOW, "25.00"))  # base 25, launch 10
    loyalty.process(purchase("p2", NOW + 15 * DAY, "5.00"))
    redeem = {"id": "d1", "type": "redeem", "item": "mug", "customer": "vic", "time": f"{NOW + 16 * DAY}"}
    loyalty.process(redeem)  # 25 of p1's 35 points, base first
    at = NOW + 25 * DAY
    void = Void(id="x1", customer="vic", voided="d1", reason="no mug", operator="olga", at=at)
    applied = loyalty.void(void).applied
    state = loyalty.store.state("vic")
    assert state is not None
    assert points(loyalty) == {"p2/base": Decimal(5)} and state.available(at) == 5
    assert [(e.kind, e.points, e.at) for e in applied.entries if e.lot.startswith("p1/")] == [
        ("burn", Decimal(25), at),
        ("expire", Decimal(-25), at),
    ]
    rows = [row.entry for row in loyalty.store.ledger(customer="vic")]
    assert [(e.kind, e.points) for e in rows if e.event == "x1"] == [("burn", 25), ("expire", -25)]
    assert sum(e.points for e in rows) == 5


@pytest.mark.parametrize(("asked", "near"), [("0.5", "1"), ("-2.5", "-3 or -2"), ("100.25", "100 or 101")])
def test_an_adjustment_of_a_fraction_of_a_point_is_refused(store_url: str, asked: str, near: str) -> None:
    """Every award is rounded to whole points: half a point credited stayed in the balance, more
    than a redemption's whole points could ever take. Refused (RE448), naming whole amounts near it;
    a whole amount written with decimals is whole."""
    engine = Engine(load_program_text(PROGRAM, "store-test.yaml"), secret=b"store tests")
    loyalty = Loyalty(engine, open_store(store_url, "store-test"), horizon=None)
    loyalty.process(purchase("p1", NOW, "25.00"))
    before = loyalty.store.state("vic")
    fraction = Adjustment(id="a1", customer="vic", points=Decimal(asked), reason="r", operator="olga", at=NOW)
    with pytest.raises(EventError) as refused:
        loyalty.adjust(fraction)
    (problem,) = refused.value.diagnostics
    assert problem.code == "RE448" and problem.hint is not None and problem.hint.endswith(f"{near} here")
    assert loyalty.store.state("vic") == before
    whole = fraction.model_copy(update={"id": "a2", "points": Decimal("2.00")})
    applied = loyalty.adjust(whole).applied
    assert [e.points for e in applied.entries] == [2]


def test_a_lot_a_void_opens_again_expires_by_the_version_running_at_the_void(tmp_path: Path) -> None:
    """Version 2 keeps points 30 days, version 1 kept them 20: the lot p1 earned under version 1
    left the state empty, and the store kept no expiry of it, nor version 1's text. The void is
    decided by the version running (its record names it, as every answer does): the lot reopens
    expiring 30 days after p1 (docs/service.md, voiding an event)."""
    program = PROGRAM + "returns:\n  within: 10d\n"
    first = Engine(load_program_text(program, "store-test.yaml"), secret=b"store tests")
    url = str(tmp_path / "desk.db")
    loyalty = Loyalty(first, open_store(url, "store-test"), horizon=None)
    loyalty.process(purchase("p1", NOW, "25.00"))
    redeem = {"id": "d1", "type": "redeem", "item": "mug", "customer": "vic", "time": f"{NOW + 6 * DAY}"}
    loyalty.process(redeem)
    loyalty.process(purchase("p2", NOW + 12 * DAY, "5.00"))
    loyalty.store.close()
    longer = program.replace("version: 2", "version: 3").replace("expire_after: 20d", "expire_after: 30d")
    second = Engine(load_program_text(longer, "store-test.yaml"), secret=b"store tests")
    loyalty = Loyalty(second, open_store(url, "store-test"), horizon=None)
    void = Void(id="x1", customer="vic", voided="d1", reason="no mug", operator="olga", at=NOW + 13 * DAY)
    applied = loyalty.void(void).applied
    state = loyalty.store.state("vic")
    assert applied.version == 3 and state is not None
    (opened,) = (lot for lot in state.lots if lot.id == "p1/base")
    assert opened.points == 25 and opened.expires_at == NOW + 30 * DAY
