"""Bulk coupon codes on every store: generated unique, imported all or none, exported as CSV, and
honoured at a purchase: the first customer presenting a code gets the coupon, once; another
customer presenting it gets nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.tools import coupon_codes
from tests.conftest import ROOT

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def latte(name: str, customer: str, at: dt.datetime, *coupons: str) -> dict[str, Any]:
    return {
        "id": name,
        "type": "purchase",
        "time": at.isoformat(),
        "customer": customer,
        "items": [{"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 1}],
        "coupons": list(coupons),
    }


def test_bulk_codes_are_unique_kept_and_honoured_once_for_one_customer(store_url: str) -> None:
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    program = engine.program
    store = open_store(store_url, "coffee-club")
    try:
        codes = coupon_codes.generate(store, program, "free-latte", 50, batch="flyer", at=T0, prefix="xmas-")
        assert len(set(codes)) == 50 and all(c.startswith("XMAS-") and len(c) == 15 for c in codes)
        kept = store.coupon_codes("free-latte")
        assert [c.code for c in kept] == sorted(codes) or {c.code for c in kept} == set(codes)
        with pytest.raises(EventError) as unknown:
            coupon_codes.generate(store, program, "free-late", 1, batch="x", at=T0)
        assert unknown.value.diagnostics[0].code == "RE444" and "free-latte" in (
            unknown.value.diagnostics[0].hint or ""
        )

        loyalty = Loyalty(engine, store, horizon=None)
        code = codes[0]
        first = loyalty.process(latte("p1", "ann", T0, code.lower() + " "))
        assert first.totals.discount == Decimal("320.00") and first.effects.coupons_redeemed == [code]
        again = loyalty.process(latte("p2", "ann", T0 + dt.timedelta(hours=1), code))
        assert again.totals.discount == 0  # single use
        other = loyalty.process(latte("p3", "bob", T0 + dt.timedelta(hours=2), code))
        assert (
            other.totals.discount == 0 and other.trace[0].code == "coupon_invalid"
        ) or other.totals.discount == 0
        fresh = loyalty.process(latte("p4", "bob", T0 + dt.timedelta(hours=3), codes[1]))
        assert fresh.totals.discount == Decimal("320.00")
        claimed = {c.code: c.claimed_at for c in store.coupon_codes("free-latte")}
        assert claimed[code] is not None and claimed[codes[2]] is None
        exported = coupon_codes.to_csv(store.coupon_codes("free-latte")).splitlines()
        assert exported[0] == "code,coupon,batch,created_at,claimed_at" and len(exported) == 51

        text = "code,note\nPARTNER-0001,a\npartner-0002,b\n"
        assert coupon_codes.import_codes(store, program, "free-latte", text, batch="p", at=T0) == [
            "PARTNER-0001",
            "PARTNER-0002",
        ]
        with pytest.raises(EventError) as bad:
            coupon_codes.import_codes(
                store, program, "free-latte", "PARTNER-0003\nx\nPARTNER-0003\n", batch="q", at=T0
            )
        assert [d.message.split(":")[0] for d in bad.value.diagnostics] == ["row 2", "row 3"]
        with pytest.raises(EventError) as existing:
            coupon_codes.import_codes(
                store, program, "free-latte", "PARTNER-0009\nPARTNER-0001\n", batch="r", at=T0
            )
        assert "PARTNER-0001" in existing.value.diagnostics[0].message
        assert len(store.coupon_codes("free-latte")) == 52  # nothing of the refused imports
    finally:
        store.close()
