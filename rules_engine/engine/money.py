"""Exact money and points: rounding to minor units and splitting an amount across lines.

Splits use the largest-remainder method, so the parts always add up to the whole exactly —
what a line's share of a discount or an award is must never depend on float noise or order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

# ISO 4217 minor units for currencies that do not use 2; everything else uses 2.
_MINOR_UNITS = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "JOD": 3,
}
_ROUNDING = {"floor": ROUND_FLOOR, "round": ROUND_HALF_UP, "ceil": ROUND_CEILING}


def money_quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency, 2))


def round_money(amount: Decimal, quantum: Decimal) -> Decimal:
    """To the currency's minor unit, half away from zero."""
    return amount.quantize(quantum, rounding=ROUND_HALF_UP)


def round_points(points: Decimal, rounding: str) -> Decimal:
    """Whole points, as the program's `points.rounding` says (floor, round half up, ceil)."""
    return points.quantize(Decimal(1), rounding=_ROUNDING[rounding])


def split(total: Decimal, weights: Sequence[Decimal], quantum: Decimal) -> list[Decimal]:
    """Split `total` (a multiple of `quantum`) in proportion to `weights`; parts add up exactly.

    Each part is floored to the quantum, then the leftover units go to the largest remainders
    (ties to the earlier line). All-zero weights split evenly. Integer arithmetic throughout:
    the weights are exact decimals, scaled to a common denominator.
    """
    count = len(weights)
    if not count:
        return []
    nonzero = [i for i, w in enumerate(weights) if w]
    if len(nonzero) == 1:  # the common case of one line: nothing to share
        parts = [Decimal(0)] * count
        parts[nonzero[0]] = total
        return parts
    ratios = [w.as_integer_ratio() for w in weights] if nonzero else [(1, 1)] * count
    denominator = math.lcm(*(d for _, d in ratios))
    scaled = [n * (denominator // d) for n, d in ratios]
    weight_sum = sum(scaled)
    sign = -1 if total < 0 else 1
    units = int(abs(total) / quantum)
    floors = [units * w // weight_sum for w in scaled]
    remainders = [units * w % weight_sum for w in scaled]
    leftover = units - sum(floors)
    if leftover:
        for i in sorted(range(count), key=lambda i: (-remainders[i], i))[:leftover]:
            floors[i] += 1
    return [sign * f * quantum for f in floors]
