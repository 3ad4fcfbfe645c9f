"""Voids at the seams with other mechanics (tools/voids.py through `Loyalty.void`), found by the
random streams of tests/store/test_mechanics_streams.py: a return that took back no points is
still a return, and a signup's referral is what a void of the signup undoes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.errors import EventError
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.tools.voids import Void
from tests.conftest import ROOT

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def at(hours: int) -> str:
    return (T0 + dt.timedelta(hours=hours)).isoformat()


def void(name: str, event: str, hours: int) -> Void:
    return Void(
        id=name, customer="vic", voided=event, reason="r", operator="olga", at=T0 + dt.timedelta(hours=hours)
    )


def service(tmp_path: Path, program: str) -> Loyalty:
    engine = Engine.from_file(ROOT / "programs" / f"{program}.yaml", secret=b"seams")
    return Loyalty(engine, open_store(str(tmp_path / "seams.db"), engine.program.program), horizon=None)


def test_a_return_that_took_back_no_points_is_not_voided(tmp_path: Path) -> None:
    # It was voided as an event that earned nothing: its tier activity left, so the 20,000 RUB
    # gift card the customer had returned counted for the tier again, while it stayed returned.
    loyalty = service(tmp_path, "coffee-club")
    lines = [
        {"sku": "LATTE-L", "category": "coffee", "price": 300, "qty": 1},
        {"sku": "GIFT", "category": "gift_card", "price": 20000, "qty": 1},
    ]
    loyalty.process({"id": "p1", "type": "purchase", "time": at(0), "customer": "vic", "items": lines})
    back = {"id": "r1", "type": "return", "time": at(1), "customer": "vic", "purchase": "p1"}
    returned = loyalty.process({**back, "items": [{"sku": "GIFT", "qty": 1}]})
    assert returned.ledger == [] and returned.state.activity_sums is not None
    assert returned.state.activity_sums.spend == 300
    before = loyalty.store.state("vic")
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v1", "r1", 2))
    [problem] = refused.value.diagnostics
    assert problem.code == "RE446" and "it is a return" in problem.message
    assert loyalty.store.state("vic") == before


def signup(loyalty: Loyalty, hours: int = 1) -> str:
    loyalty.process({"id": "o1", "type": "app_open", "time": at(0), "customer": "ref"})
    code = referral_code("fashion-house", "ref", b"seams")
    signed = {"id": "s1", "type": "signup", "time": at(hours), "customer": "vic"}
    loyalty.process({**signed, "referral_code": code})
    return code


def coat(name: str, hours: int) -> dict[str, Any]:
    line = {"sku": "COAT", "category": "apparel", "price": 200, "qty": 1}
    return {"id": name, "type": "purchase", "time": at(hours), "customer": "vic", "items": [line]}


def test_voiding_a_signup_withdraws_the_referral_it_recorded(tmp_path: Path) -> None:
    # The referral stayed recorded: the next qualifying purchase paid the referrer 1,000 points
    # (and the referee a coupon) for a signup the desk had voided.
    loyalty = service(tmp_path, "fashion-house")
    code = signup(loyalty)
    applied, _, state = loyalty.void(void("v1", "s1", 2))
    assert applied.referral_withdrawn == code and state.referred_with is None
    handled = loyalty.handle(coat("p1", 3))
    assert handled.referrer is None and handled.outcome.effects.coupons_issued == []
    referrer = loyalty.store.state("ref")
    assert referrer is not None and referrer.lots == []


def test_a_signup_whose_referral_a_later_purchase_qualified_is_not_voided(tmp_path: Path) -> None:
    loyalty = service(tmp_path, "fashion-house")
    signup(loyalty)
    assert loyalty.handle(coat("p1", 3)).referrer is not None
    before = loyalty.store.state("vic")
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v1", "s1", 4))
    assert {d.code for d in refused.value.diagnostics} == {"RE446"}
    assert any("the referral it recorded" in d.message for d in refused.value.diagnostics)
    assert loyalty.store.state("vic") == before


def test_the_command_line_says_which_referral_a_void_withdrew(tmp_path: Path) -> None:
    # the desk command voids at the wall clock: the signup is dated an hour before it
    program = ROOT / "programs" / "fashion-house.yaml"
    db = str(tmp_path / "cli.db")
    engine = Engine.from_file(program)
    code = referral_code("fashion-house", "ref", engine.secret)
    hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    with open_store(db, "fashion-house") as store:
        loyalty = Loyalty(engine, store, horizon=None)
        loyalty.process({"id": "o1", "type": "app_open", "time": hour_ago, "customer": "ref"})
        signed = {"id": "s1", "type": "signup", "time": hour_ago, "customer": "vic"}
        loyalty.process({**signed, "referral_code": code})
    command = ["void", str(program), "vic", "s1", "--db", db, "--reason", "fake friend", "--id", "v1"]
    done = CliRunner().invoke(app, [*command, "--operator", "olga"])
    assert done.exit_code == 0, done.output
    assert f"referral withdrawn: {code}" in done.stdout


def test_voiding_the_event_that_gave_the_birthday_reward_gives_the_year_s_reward_back(tmp_path: Path) -> None:
    # The coupon was withdrawn but the year stayed rewarded: no birthday latte at all that year.
    loyalty = service(tmp_path, "coffee-club")
    loyalty.process(
        {"id": "s1", "type": "signup", "time": at(0), "customer": "vic", "birthday": "1990-12-02"}
    )
    pastry = [{"sku": "CROISSANT", "category": "pastry", "price": 100, "qty": 1}]
    first = loyalty.process(
        {"id": "p1", "type": "purchase", "time": at(1), "customer": "vic", "items": pastry}
    )
    assert [c.coupon for c in first.effects.coupons_issued] == ["free-latte"]
    applied, _, state = loyalty.void(void("v1", "p1", 2))
    assert applied.coupons_withdrawn == [first.effects.coupons_issued[0].code] and state.coupons == []
    again = loyalty.process(
        {"id": "p2", "type": "purchase", "time": at(3), "customer": "vic", "items": pastry}
    )
    assert [c.coupon for c in again.effects.coupons_issued] == ["free-latte"]
    assert again.state.birthday_rewarded == 2026


def test_a_void_of_last_year_s_birthday_reward_leaves_this_year_s_given(tmp_path: Path) -> None:
    loyalty = service(tmp_path, "coffee-club")
    loyalty.process(
        {"id": "s1", "type": "signup", "time": at(0), "customer": "vic", "birthday": "1990-12-02"}
    )
    beans = [{"sku": "BEANS-1KG", "category": "beans", "price": 900, "qty": 1}]
    for name, hours in (("p1", 1), ("p2", 24 * 363 + 1)):  # the 2026 and the 2027 birthday
        bought = {"id": name, "type": "purchase", "time": at(hours), "customer": "vic", "items": beans}
        assert [c.coupon for c in loyalty.process(bought).effects.coupons_issued] == ["free-latte"]
    _, _, state = loyalty.void(void("v1", "p1", 24 * 363 + 2))
    assert state.birthday_rewarded == 2027
    again = {"id": "p3", "type": "purchase", "time": at(24 * 363 + 3), "customer": "vic", "items": beans}
    assert loyalty.process(again).effects.coupons_issued == []
