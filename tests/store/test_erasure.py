"""Customer erasure on every store: the customer's id is in no row afterwards, the liability is
unchanged and the books still reconcile (an anonymised ledger and the open lots, under a
pseudonym)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.errors import StoreError
from rules_engine.service import Loyalty
from rules_engine.store import Store, open_store
from rules_engine.store.outcomes import unpack
from rules_engine.tools import coupon_codes
from rules_engine.tools.accounting import books
from rules_engine.tools.adjustments import Adjustment
from rules_engine.tools.voids import Void
from tests.conftest import ROOT
from tests.http.conftest import purchase

WHO = "zoe-gdpr"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def liability(store: Store, program: Engine) -> tuple[Decimal, bool]:
    balances = sum((lot.points for _, state in store.states() for lot in state.lots), Decimal(0))
    kept = books(program.program, store.ledger(), balances=balances)
    return kept.closing, kept.reconciles


def test_an_erased_customer_is_gone_and_the_books_are_unchanged(store_url: str) -> None:
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    store = open_store(store_url, "coffee-club")
    try:
        loyalty = Loyalty(engine, store, horizon=None)
        for number in range(1, 4):
            loyalty.process(purchase(number, WHO, at=T0 + dt.timedelta(days=number)))
            loyalty.process(purchase(number, "other", at=T0 + dt.timedelta(days=number)))
        at = T0 + dt.timedelta(days=30)
        loyalty.adjust(
            Adjustment(id=f"adj-{WHO}", customer=WHO, points=Decimal(7), reason="x", operator="o", at=at)
        )
        loyalty.void(
            Void(id=f"void-{WHO}", customer=WHO, voided=f"evt-{WHO}-3", reason="x", operator="o", at=at)
        )
        before, reconciled = liability(store, engine)
        assert reconciled and before > 0
        balance = sum(lot.points for lot in store.state(WHO).lots)  # type: ignore[union-attr]

        erased = loyalty.erase(WHO, operator="dpo", at=at)

        assert erased.points == balance and erased.pseudonym.startswith("erased-")
        assert liability(store, engine) == (before, True)
        assert store.state(WHO) is None and WHO not in store.customers()
        assert store.state(erased.pseudonym) is not None
        for row in store.ledger():
            assert WHO not in f"{row.customer} {row.entry.event} {row.entry.lot} {row.entry.rule}"
        assert store.state("other") is not None and store.state("other").profile is not None  # type: ignore[union-attr]
        with pytest.raises(StoreError) as again:
            loyalty.erase(WHO, operator="dpo", at=at)
        assert again.value.diagnostics[0].code == "RE606"
        if store_url.endswith(".db"):  # the whole database, every table: the id is nowhere
            store.close()
            with sqlite3.connect(store_url) as db:
                dump = "\n".join(db.iterdump())
                # outcomes are kept compressed (store/outcomes.py): read them as the store does
                dump += "\n".join(
                    unpack(text, packed) for text, packed in db.execute("SELECT outcome, packed FROM events")
                )
            assert WHO not in dump and "other" in dump
        # an event for the erased id afterwards is a new customer
        store = open_store(store_url, "coffee-club") if store_url.endswith(".db") else store
        loyalty = Loyalty(engine, store, horizon=None)
        assert not loyalty.handle(purchase(1, WHO, at=at)).duplicate
    finally:
        store.close()


def test_a_flyer_code_the_erased_customer_claimed_stays_claimed_and_names_them_nowhere(
    store_url: str,
) -> None:
    """A bulk code is theirs once presented; after the erasure it is the pseudonym's: the id is in
    no row of the codes either, and a new customer under the same id cannot use the code again (it
    was honoured a second time by the SQL stores: another free latte)."""
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    store = open_store(store_url, "coffee-club")
    try:
        (code,) = coupon_codes.generate(store, engine.program, "free-latte", 1, batch="flyer", at=T0)
        loyalty = Loyalty(engine, store, horizon=None)
        first = loyalty.process({**purchase(1, WHO, at=T0), "coupons": [code]})
        assert first.effects.coupons_redeemed == [code]
        loyalty.erase(WHO, operator="dpo", at=T0 + dt.timedelta(hours=1))
        again = loyalty.process({**purchase(2, WHO, at=T0 + dt.timedelta(hours=2)), "coupons": [code]})
        assert again.effects.coupons_redeemed == []
        (kept,) = store.coupon_codes()
        assert kept.claimed_at is not None
        if store_url.endswith(".db"):
            store.close()
            with sqlite3.connect(store_url) as db:
                assert [who for (who,) in db.execute("SELECT customer FROM coupon_codes")] != [WHO]
    finally:
        store.close()


def test_an_erased_referrers_code_is_retired_and_owes_no_second_reward(store_url: str) -> None:
    """ann refers bob, whose first purchase rewards her; ann is erased, and a new customer comes
    under her id. Her code, made from the id, stays retired, kept by the pseudonym: the new ann is
    not its referrer, and bob's purchase delivered again rewards no one (it paid the 1,000 points
    a second time, to the new customer, on every store)."""
    engine = Engine.from_file(ROOT / "programs" / "fashion-house.yaml")
    store = open_store(store_url, "fashion-house")

    def bought(event: str, customer: str, hours: int) -> dict[str, Any]:
        return {
            "id": event,
            "type": "purchase",
            "time": (T0 + dt.timedelta(hours=hours)).isoformat(),
            "customer": customer,
            "items": [{"sku": "DRESS", "category": "dress", "price": "100.00", "qty": 1}],
        }

    try:
        loyalty = Loyalty(engine, store, horizon=None)
        loyalty.process(bought("a1", "ann", 0))
        code = referral_code("fashion-house", "ann", engine.secret)
        signup = {"id": "s1", "type": "signup", "time": (T0 + dt.timedelta(hours=1)).isoformat()}
        loyalty.process({**signup, "customer": "bob", "referral_code": code})
        qualifying = bought("b1", "bob", 2)
        first = loyalty.handle(qualifying)
        assert first.referrer_applied and first.referred is not None
        erased = loyalty.erase("ann", operator="dpo", at=T0 + dt.timedelta(hours=3))
        before, reconciled = liability(store, engine)
        assert reconciled

        loyalty.process(bought("a2", "ann", 4))  # a new customer under the erased id
        loyalty.process(bought("c1", "cy", 4))  # and one who never referred anyone
        again = loyalty.handle(qualifying)

        assert again.duplicate and not again.referrer_applied and again.referred is None
        assert again.unknown_referrer is None  # owed to no one, not to a referrer still unknown
        assert store.referrer(code) == erased.pseudonym
        points = [sum(lot.points for lot in store.state(who).lots) for who in ("ann", "cy")]  # type: ignore[union-attr]
        assert points[0] == points[1] > 0
        after, reconciled = liability(store, engine)
        assert reconciled and after == before + points[0] + points[1]
    finally:
        store.close()
