"""Coupon and referral codes: the same inputs and secret give the same code in every version.

Codes are stored (referral codes in the store, coupon codes on customers' phones) and replays
must issue the same ones, so these values are pinned: a change here invalidates codes in use.
"""

from __future__ import annotations

from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.engine.rewards import coupon_code
from rules_engine.engine.tokens import keyed_code

SECRET = b"s3cret"


def test_coupon_codes_are_pinned_and_differ_by_event_and_secret() -> None:
    assert coupon_code("coffee-club", "cust-1", "evt-1", "welcome-10", SECRET) == "WELCOM-NX7ACKXAUD"
    assert coupon_code("coffee-club", "cust-1", "evt-2", "welcome-10", SECRET) == "WELCOM-H4HQEHR626"
    assert coupon_code("coffee-club", "cust-1", "evt-1", "welcome-10", b"other") == "WELCOM-QKZYKIRQZS"
    assert coupon_code("p", "c", "e", "--", SECRET).startswith("CPN-")  # no letters in the id


def test_referral_codes_are_pinned_and_differ_by_customer() -> None:
    assert referral_code("coffee-club", "cust-1", SECRET) == "REF-RMXANE2V"
    assert referral_code("coffee-club", "cust-2", SECRET) == "REF-3EDPVOSC"


def test_parts_are_kept_apart_so_moving_a_character_between_them_changes_the_code() -> None:
    assert keyed_code(SECRET, ("ab", "c"), 10) != keyed_code(SECRET, ("a", "bc"), 10)
    assert len(keyed_code(SECRET, ("a",), 8)) == 8
