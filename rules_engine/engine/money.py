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


def split(
    total: Decimal, weights: Sequence[Decimal], quantum: Decimal, factor: Decimal | None = None
) -> list[Decimal]:
    """Split `total` (a multiple of `quantum`) in proportion to `weights`; parts add up exactly.

    Each part is floored to the quantum, then the leftover units go to the largest remainders
    (ties to the earlier line). All-zero weights split evenly. Integer arithmetic throughout:
    the weights are exact decimals, scaled to a common denominator.

    `factor` (with a quantum of 1) is a hint for totals that are often the weights times a factor,
    such as a multiplier's bonus on each line's points: when every weight × factor is a whole
    number and they add up to `total`, those products are the parts — exactly what the method
    above gives (no remainders, nothing left over), without computing it.
    """
    count = len(weights)
    if not count:
        return []
    nonzero = [i for i, w in enumerate(weights) if w]
    if len(nonzero) == 1:  # the common case of one line: nothing to share
        parts = [Decimal(0)] * count
        parts[nonzero[0]] = total
        return parts
    if factor is not None and nonzero and quantum == 1 and total > 0:
        exact = _exact_parts(total, weights, factor)
        if exact is not None:
            return [1 * p * quantum for p in exact]  # as below, with sign 1 and no leftover
    if nonzero:
        ratios = [w.as_integer_ratio() for w in weights]
        denominators = {d for _, d in ratios}
        if len(denominators) == 1:  # e.g. whole points: the numerators are the weights
            scaled = [n for n, _ in ratios]
        else:
            denominator = math.lcm(*denominators)
            scaled = [n * (denominator // d) for n, d in ratios]
    else:
        scaled = [1] * count
    weight_sum = sum(scaled)
    sign = -1 if total < 0 else 1
    units = int(abs(total) / quantum)
    floors = []
    remainders = []
    for w in scaled:
        part, remainder = divmod(units * w, weight_sum)
        floors.append(part)
        remainders.append(remainder)
    leftover = units - sum(floors)
    if leftover:  # a stable sort, largest remainder first: ties keep the earlier line first
        for i in sorted(range(count), key=remainders.__getitem__, reverse=True)[:leftover]:
            floors[i] += 1
    return [sign * f * quantum for f in floors]


def _exact_parts(total: Decimal, weights: Sequence[Decimal], factor: Decimal) -> list[int] | None:
    """Each weight × factor as a whole number, if every one is and they add up to `total` (whole).

    Then each part is also what the largest-remainder split gives: the units of `total` times a
    weight over the weights' sum is factor × weight, a whole number, with nothing left over.
    """
    numerator, denominator = factor.as_integer_ratio()
    parts = []
    for weight in weights:
        n, d = weight.as_integer_ratio()
        part, rest = divmod(n * numerator, d * denominator)
        if rest:
            return None
        parts.append(part)
    return parts if sum(parts) == total else None
