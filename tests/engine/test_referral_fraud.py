"""Referral fraud checks (issue 16, item 15): the same device, card or household as the referrer,
or a referrer rewarded too often (velocity), refuses both sides' rewards with the reason in the
trace; a clean referral still rewards both. Through a store-backed `Loyalty`, which reads the
referrer's record for the engine, on every store."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.referral import REFEREE, REFERRER, referral_code
from rules_engine.engine.outcome import Outcome
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.store import open_store

PROGRAM = """program: shop
version: 1
timezone: UTC
currency: EUR
points: {value: 0.01}
earn:
  - {id: base, rate: 1 per 1}
referral:
  qualifying: basket.total >= 10
  referrer: {points: 100}
  referee: {points: 50}
  fraud:
    same_device: true
    same_payment: true
    same_household: true
    velocity: {count: 2, per: 1d}
"""
SECRET = b"fraud"
ENGINE = Engine(load_program_text(PROGRAM, "shop.yaml"), secret=SECRET)
START = dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC)
CODE = referral_code("shop", "rita", SECRET)


def at(minutes: int) -> str:
    return (START + dt.timedelta(minutes=minutes)).isoformat()


def buy(customer: str, n: int, **prints: str) -> dict[str, Any]:
    return {
        "id": f"buy-{customer}-{n}",
        "type": "purchase",
        "customer": customer,
        "time": at(n),
        "items": [{"sku": "scarf", "price": 20, "qty": 1}],
        **prints,
    }


def signup(customer: str, n: int, **prints: str) -> dict[str, Any]:
    return {
        "id": f"join-{customer}",
        "type": "signup",
        "customer": customer,
        "time": at(n),
        "referral_code": CODE,
        **prints,
    }


@pytest.fixture(params=["memory", "sqlite"])
def shop(request: pytest.FixtureRequest, tmp_path: Any) -> Loyalty:
    url = "memory:" if request.param == "memory" else str(tmp_path / "shop.db")
    loyalty = Loyalty(ENGINE, open_store(url, "shop"), horizon=None)
    loyalty.process(buy("rita", 0, device="d-rita", payment="p-rita", household="h-rita"))
    return loyalty


def referral_traces(outcome: Outcome) -> dict[str, tuple[str, str]]:
    return {t.rule: (t.code, t.reason) for t in outcome.trace if t.rule in (REFEREE, REFERRER)}


def balance(loyalty: Loyalty, customer: str) -> int:
    state = loyalty.store.state(customer)
    assert state is not None
    return int(sum(lot.points for lot in state.lots))


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("device", "the same device"),
        ("payment", "the same card or wallet"),
        ("household", "the same household"),
    ],
)
def test_a_friend_sharing_a_fingerprint_with_the_referrer_gets_nothing_and_nor_does_the_referrer(
    shop: Loyalty, kind: str, words: str
) -> None:
    shop.process(signup("fred", 1, **{kind: f"{kind[0]}-rita"}))
    handled = shop.handle(buy("fred", 2))  # the fingerprint of the signup is remembered
    traces = referral_traces(handled.outcome)
    assert traces[REFEREE][0] == traces[REFERRER][0] == "fraud_check"
    assert f"same_{kind}: the friend used {words} as the referrer rita" in traces[REFEREE][1]
    assert handled.referrer is None and handled.outcome.effects.referral_owed is None
    assert balance(shop, "fred") == 20 and balance(shop, "rita") == 20  # base points only


def test_a_clean_referral_rewards_both_sides(shop: Loyalty) -> None:
    shop.process(signup("gina", 1, device="d-gina"))
    handled = shop.handle(buy("gina", 2, payment="p-gina", household="h-gina"))
    assert referral_traces(handled.outcome)[REFEREE][0] == "fired"
    assert handled.referrer is not None and handled.referrer_applied
    assert balance(shop, "gina") == 20 + 50 and balance(shop, "rita") == 20 + 100


def test_more_referrals_a_day_than_the_velocity_allows_are_refused(shop: Loyalty) -> None:
    for n, friend in enumerate(["ann", "bob", "cat"]):
        shop.process(signup(friend, 10 * n + 1, device=f"d-{friend}"))
    rewarded = [shop.handle(buy(friend, 30 + n)) for n, friend in enumerate(["ann", "bob"])]
    assert all(h.referrer is not None for h in rewarded)
    third = shop.handle(buy("cat", 40))
    code, reason = referral_traces(third.outcome)[REFEREE]
    assert code == "fraud_check" and reason.startswith("velocity: the referrer rita had 2 referrals")
    assert third.referrer is None and balance(shop, "rita") == 20 + 200
    # a day later the referrer may be rewarded again: the same friend's next purchase qualifies
    later = buy("cat", 24 * 60 + 40)
    assert shop.handle(later).referrer is not None and balance(shop, "rita") == 20 + 300


def test_the_referrer_side_checks_velocity_again_under_its_own_lock() -> None:
    """Two friends qualifying at once both passed the referee-side check on a record read before
    either reward: the referrer's own transaction refuses the reward past the velocity."""
    state = None
    for n in range(3):
        event = {
            "id": f"reward-{n}",
            "type": "referral_reward",
            "customer": "rita",
            "time": at(n),
            "referee": f"friend-{n}",
            "qualifying_event": f"buy-{n}",
        }
        outcome = ENGINE.process(event, state)
        state = outcome.state
    assert [t.code for t in outcome.trace if t.rule == REFERRER] == ["fraud_check"]
    assert len(outcome.state.referrals_rewarded) == 2


def test_fingerprints_are_kept_only_when_checks_read_them() -> None:
    state = ENGINE.process(buy("rita", 0, device="d1", payment="p1")).state
    assert state.fingerprints == {"device": ["d1"], "payment": ["p1"]}
    plain = Engine(load_program_text(PROGRAM.split("  fraud:")[0], "shop.yaml"), secret=SECRET)
    assert plain.process(buy("rita", 0, device="d1")).state.fingerprints == {}


def test_loyalty_customer_shows_the_referral_code(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from rules_engine.cli import app

    program = tmp_path / "shop.yaml"
    program.write_text(PROGRAM)
    db = str(tmp_path / "shop.db")
    loyalty = Loyalty(ENGINE, open_store(db, "shop"), horizon=None)
    loyalty.process(buy("rita", 0))
    loyalty.store.close()
    env = {"LOYALTY_SECRET": SECRET.decode()}
    result = CliRunner().invoke(app, ["customer", str(program), "rita", "--db", db], env=env)
    assert result.exit_code == 0, result.stderr
    assert f"  referral code {CODE} (a friend signs up with it)\n" in result.stdout
    result = CliRunner().invoke(app, ["customer", str(program), "rita", "--db", db, "--json"], env=env)
    assert json.loads(result.stdout)["referral_code"] == CODE


def test_validate_warns_of_a_referral_without_bound() -> None:
    from rules_engine.program.validate import validate_text

    assert validate_text(PROGRAM, "shop.yaml").ok(strict=True)
    unbounded = PROGRAM.replace("    velocity: {count: 2, per: 1d}\n", "")
    warnings = validate_text(unbounded, "shop.yaml").warnings
    assert [(w.code, w.span.line if w.span else 0) for w in warnings] == [("RE511", 10)]
