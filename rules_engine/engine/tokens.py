"""Codes customers see and type: unguessable without the deployment's secret, yet reproducible.

Coupon codes (`rewards.coupon_code`) and referral codes (`mechanics.referral.referral_code`) are both a
keyed digest of what the code stands for: the same parts and secret always give the same code
(replaying an event issues the same coupon code), and without the secret no one can make a valid
code or tell whose it is. One function makes them, so both stay equally strong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# Joins the parts: a character no id or event id contains, so ("ab", "c") and ("a", "bc") differ.
_SEPARATOR = "\x1f"


def keyed_code(secret: bytes, parts: tuple[str, ...], length: int) -> str:
    """The first `length` characters (A-Z, 2-7) of the base32 HMAC-SHA256 of `parts` under `secret`."""
    digest = hmac.new(secret, _SEPARATOR.join(parts).encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:length]
