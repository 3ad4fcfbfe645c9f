"""Exact money and points: rounding to minor units and splitting an amount across lines.

Splits use the largest-remainder method, so the parts always add up to the whole exactly —
what a line's share of a discount or an award is must never depend on float noise or order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, cast, overload

from rules_engine.program.currencies import MINOR_UNITS

_ROUNDING = {"floor": ROUND_FLOOR, "round": ROUND_HALF_UP, "ceil": ROUND_CEILING}
ONE = Decimal(1)  # the quantum of points: pass this very object to `split` for its shortcuts


def money_quantum(currency: str) -> Decimal:
    """The currency's minor unit (ISO 4217): 0.01 for most, 1 for the yen, 0.001 for the dinar."""
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


def round_money(amount: Decimal, quantum: Decimal) -> Decimal:
    """To the currency's minor unit, half away from zero."""
    return amount.quantize(quantum, rounding=ROUND_HALF_UP)


def exponent_of(quantum: Decimal) -> int:
    """The currency's exponent, from its minor unit: 2 for 0.01, 0 for the yen, 3 for the dinar."""
    exponent = quantum.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


# Each amount's minor units by the currency's quantum, then by value: a catalogue's amounts and
# what common discounts leave of them come back at every purchase, and a look-up costs a quarter
# of working them out (a decimal's hash is kept in it). Equal amounts have the same minor units,
# whatever their exponent. Each quantum's table is emptied when full.
_UNITS: dict[Decimal, dict[Decimal, int]] = {}
_UNITS_KEPT = 4096


def minor_units(amounts: Sequence[Decimal], quantum: Decimal) -> list[int]:
    """Amounts of whole minor units (a line's amount, what the discounts left of it, a tax) as
    ints of those units: where the stages decide on money, they decide on these."""
    known = _UNITS.get(quantum)
    if known is None:
        known = _UNITS[quantum] = {}
    units = [*map(known.get, amounts)]
    if None in units:  # compares None with ints only: cheap
        scale = Decimal(10 ** exponent_of(quantum))
        if len(known) >= _UNITS_KEPT:
            known.clear()
        for i, (amount, unit) in enumerate(zip(amounts, units, strict=True)):
            if unit is None:
                unit = units[i] = known[amount] = int(amount * scale)
    return cast("list[int]", units)  # every None replaced above


def money_sum(amounts: Sequence[Decimal], quantum: Decimal) -> Decimal:
    """`sum(amounts, Decimal(0))` of amounts of whole minor units at the currency's exponent (what
    is left of a purchase's lines, `run.remaining`: at least one line, each at that exponent, as
    the stages and the generated path keep it): added as ints, one decimal made of the total —
    the same value and exponent as the decimal sum (an empty list: `0`, as `sum` gives it)."""
    if not amounts:
        return _ZERO
    return sum(minor_units(amounts, quantum)) * quantum


def money_of(units: int, quantum: Decimal, exponent: int | None = None) -> Decimal:
    """Minor units as the decimal the stages keep: at the quantum's exponent (units × quantum:
    exact), or at `exponent` (≥ the quantum's; e.g. 0 for a sum of amounts off written `5`) where a
    decimal sum of the stage's operands would have that one. Exact: the value is a multiple of
    10^exponent whenever the operands it stands for were."""
    if exponent is None or exponent == -exponent_of(quantum):
        return units * quantum
    return (units * quantum).quantize(Decimal(1).scaleb(exponent))


def half_up(numerator: int, denominator: int) -> int:
    """A value ≥ 0, numerator / denominator (> 0), to the nearest whole, half up (away from zero):
    `round_money` on integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def round_ratio(numerator: int, denominator: int, rounding: str) -> int:
    """numerator / denominator (> 0) to a whole, as `points.rounding` says: floor, ceil, or round
    (half away from zero, as `round_points`)."""
    if rounding == "floor":
        return numerator // denominator
    if rounding == "ceil":
        return -(-numerator // denominator)
    if numerator < 0:
        return -half_up(-numerator, denominator)
    return half_up(numerator, denominator)


def part_of(points: Decimal, part: Decimal, whole: Decimal, rounding: str) -> int:
    """The whole points `part` of `whole` (> 0) accounts for, `points × part / whole` rounded as
    `rounding` says — exactly, on the three values' ratios (a decimal quotient of 1 of 3 lines
    would be cut to 28 digits before it is rounded)."""
    pn, pd = ratio_of(points)
    an, ad = ratio_of(part)
    wn, wd = ratio_of(whole)
    return round_ratio(pn * an * wd, pd * ad * wn, rounding)


def round_points(points: Decimal, rounding: str) -> Decimal:
    """Whole points, as the program's `points.rounding` says (floor, round half up, ceil)."""
    return points.quantize(ONE, rounding=_ROUNDING[rounding])


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
    ratios = ratios_of(weights)  # exact: (numerator, denominator)
    nonzero = [i for i, (n, _) in enumerate(ratios) if n]
    if len(nonzero) == 1:  # the common case of one line: nothing to share
        parts = [_ZERO] * count
        parts[nonzero[0]] = total
        return parts
    # parts are Decimal(units): the same value and exponent as units × quantum
    whole = quantum is ONE or (quantum == 1 and quantum.as_tuple().exponent == 0)
    if factor is not None and nonzero and quantum == 1 and total > 0:
        exact = _exact_parts(total, ratios, factor)
        if exact is not None:  # as below, with sign 1 and no leftover
            if not whole:
                return [1 * p * quantum for p in exact]
            small = SMALL
            return [small[p] if 0 <= p < 1024 else Decimal(p) for p in exact]
    if nonzero:
        first = ratios[0][1]
        for _, d in ratios:
            if d != first:  # e.g. money: scale to a common denominator
                denominator = math.lcm(*{d for _, d in ratios})
                scaled = [n * (denominator // d) for n, d in ratios]
                break
        else:  # e.g. whole points: the numerators are the weights
            scaled = [n for n, _ in ratios]
    else:
        scaled = [1] * count
    sign = -1 if total < 0 else 1
    units = int(abs(total)) if whole else int(abs(total) / quantum)
    floors = _largest_remainder(units, scaled)
    if whole and sign == 1:
        small = SMALL
        return [small[f] if 0 <= f < 1024 else Decimal(f) for f in floors]
    return [sign * f * quantum for f in floors]


def split_points(total: Decimal, weights: Sequence[int]) -> list[Decimal]:
    """`split(total, [Decimal(w) for w in weights], ONE)`: whole points split in proportion to
    whole weights (which may be any common multiple of the values they stand for: the split
    does not depend on scaling every weight alike), without converting them to decimals and back."""
    count = len(weights)
    if not count:
        return []
    zeros = weights.count(0)
    if zeros == count - 1:  # as `split`: one line, nothing to share
        parts = [_ZERO] * count
        parts[next(i for i, w in enumerate(weights) if w)] = total
        return parts
    floors = _largest_remainder(int(abs(total)), weights if zeros < count else [1] * count)
    if total < 0:
        return [-f * ONE for f in floors]
    if min(floors) >= 0 and max(floors) < 1024:  # the common case: small whole points
        return list(map(SMALL.__getitem__, floors))
    small = SMALL
    return [small[f] if 0 <= f < 1024 else Decimal(f) for f in floors]


def line_shares(
    units: int, weights: Sequence[int], skus: Sequence[str]
) -> tuple[tuple[int, str, Decimal], ...]:
    """An award's line shares, `(line, sku, points)` of each line given any: `units` whole points
    (an int > 0) split in proportion to whole `weights` (≥ 0) as `split_points` splits them
    (`_largest_remainder`; all-zero weights evenly), for the generated function, which decides on
    integers and makes decimals only of what it records. One line of weight: it has them all, as
    `split_points` gives it (the floors say the same)."""
    weight_sum = sum(weights)
    if not weight_sum:
        weights = [1] * len(weights)
        weight_sum = len(weights)
    floors = _largest_remainder(units, weights, weight_sum)
    if units < 1024:  # every part is at most `units`: each one's decimal from the table
        small = SMALL
        return tuple([(i, sku, small[f]) for i, sku, f in zip(_INDEXES, skus, floors) if f])  # noqa: B905 (a keyword costs the call twice)
    return tuple([(i, sku, _whole(f)) for i, sku, f in zip(_INDEXES, skus, floors) if f])  # noqa: B905 (a keyword costs the call twice)


class LineShares(Sequence[tuple[int, str, Decimal]]):
    """An award's line shares (`line_shares(units, weights, skus)`), split when first read.

    The generated function gives most awards whole, and a step in place (engine/step.py) keeps
    their shares unread: a lot's lines and the earn entries are made from them only when the
    customer's public state or the event's ledger is read (often never). So the function records
    what the split needs — the whole points and the lines' integer weights, lists it never changes
    afterwards — and the split is made on the first read, then kept. Read, compared and hashed as
    the tuple of `(line, sku, points)` it stands for (equal to that tuple, and pickled as it)."""

    __slots__ = ("_made", "_skus", "_units", "_weights")

    def __init__(self, units: int, weights: Sequence[int], skus: Sequence[str]) -> None:
        self._units = units
        self._weights = weights
        self._skus = skus
        self._made: tuple[tuple[int, str, Decimal], ...] | None = None

    def shares(self) -> tuple[tuple[int, str, Decimal], ...]:
        """The shares as a tuple (split on the first call, then kept; the weights let go)."""
        made = self._made
        if made is None:
            made = self._made = line_shares(self._units, self._weights, self._skus)
            self._weights = self._skus = ()
        return made

    def __len__(self) -> int:
        return len(self.shares())

    def __bool__(self) -> bool:
        """Whether any line has a share, without the split when it is not made yet: whole points
        (> 0) split over some lines give at least one of them some (a lot's lines read for their
        truth, `lot_lines.LotLines`). The weights are read before the split: `shares()` lets them
        go only after the split is kept."""
        weights = self._weights
        made = self._made
        if made is not None:
            return bool(made)
        return self._units > 0 and len(weights) > 0

    @overload
    def __getitem__(self, index: int) -> tuple[int, str, Decimal]: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[int, str, Decimal], ...]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[int, str, Decimal] | tuple[tuple[int, str, Decimal], ...]:
        return self.shares()[index]

    def __iter__(self) -> Iterator[tuple[int, str, Decimal]]:
        return iter(self.shares())

    def __eq__(self, other: object) -> bool:
        if other.__class__ is LineShares:
            return self.shares() == other.shares()
        if isinstance(other, tuple):
            return self.shares() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.shares())

    def __repr__(self) -> str:
        return repr(self.shares())

    def __reduce__(self) -> tuple[type[tuple[Any, ...]], tuple[tuple[tuple[int, str, Decimal], ...]]]:
        return tuple, (self.shares(),)


def later_shares(units: int, weights: Sequence[int], skus: Sequence[str]) -> LineShares:
    """`LineShares(units, weights, skus)`, its slots set directly: the class's `__init__` called
    through the type costs about twice this (the generated code makes a few per event)."""
    made: LineShares = _new(LineShares)
    made._units = units
    made._weights = weights
    made._skus = skus
    made._made = None
    return made


_new = object.__new__


def _whole(points: int) -> Decimal:
    return SMALL[points] if points < 1024 else Decimal(points)


# 0, 1, 2 … : the line indexes a share is zipped with (a basket has at most this many lines).
_INDEXES = range(1 << 30)


def _largest_remainder(units: int, weights: Sequence[int], weight_sum: int | None = None) -> list[int]:
    """`units` in proportion to whole `weights` (their sum `weight_sum`, when the caller has it):
    each part floored, then the leftover units to the largest remainders (ties to the earlier
    line: the first of them, or a stable sort)."""
    if weight_sum is None:
        weight_sum = sum(weights)
    if units == weight_sum:  # each part is its weight, nothing left over (a per-line award's points)
        return list(weights)
    floors = [units * w // weight_sum for w in weights]
    leftover = units - sum(floors)
    if leftover:
        if leftover == 1:  # the first of the largest remainders
            remainders = [units * w % weight_sum for w in weights]
            floors[remainders.index(max(remainders))] += 1
        else:  # each line's remainder and place as one int: sorted without a key function
            m = len(weights)
            keys = [
                units * w % weight_sum * m + place
                for w, place in zip(weights, range(m - 1, -1, -1))  # noqa: B905 (as above)
            ]
            keys.sort(reverse=True)
            for key in keys[:leftover]:
                floors[m - 1 - key % m] += 1
    return floors


largest_remainder = _largest_remainder  # the stages' name for it (pricing.take_off)

_ZERO = Decimal(0)
# Decimal(n) for the small whole numbers most parts are (the same value and exponent as n × 1).
SMALL = tuple(Decimal(n) for n in range(1024))

# Each amount's exact ratio, by value: a decimal's `as_integer_ratio` costs five dict look-ups, and
# the same amounts (a catalogue's prices, a line's base in every rule's weights) come back on every
# event. Equal decimals have the same ratio, whatever their exponent. Emptied when full.
_RATIOS: dict[Decimal, tuple[int, int]] = {}
_RATIOS_KEPT = 4096


def ratio_of(value: Decimal) -> tuple[int, int]:
    """`value.as_integer_ratio()`: (numerator, denominator > 0) in lowest terms, remembered."""
    found = _RATIOS.get(value)
    if found is None:
        found = value.as_integer_ratio()
        if len(_RATIOS) >= _RATIOS_KEPT:
            _RATIOS.clear()
        _RATIOS[value] = found
    return found


def ratios_of(values: Sequence[Decimal]) -> list[tuple[int, int]]:
    """`ratio_of` of each value (the look-up spelt out: no call for the amounts seen before)."""
    get = _RATIOS.get
    return [get(value) or ratio_of(value) for value in values]


def _exact_parts(total: Decimal, ratios: list[tuple[int, int]], factor: Decimal) -> list[int] | None:
    """Each weight × factor as a whole number, if every one is and they add up to `total` (whole).

    Then each part is also what the largest-remainder split gives: the units of `total` times a
    weight over the weights' sum is factor × weight, a whole number, with nothing left over.
    """
    numerator, denominator = factor.as_integer_ratio()
    parts = []
    for n, d in ratios:
        if d == 1 and denominator == 1:
            parts.append(n * numerator)
            continue
        part, rest = divmod(n * numerator, d * denominator)
        if rest:
            return None
        parts.append(part)
    return parts if sum(parts) == total else None
