"""Where an event's points are rounded, on integers: the exact points of each award and each line.

`points.round` (docs/engine.md, "Order of decisions", step 5) says where: `per_rule`, `per_award`
(the default) or `per_line`. Rounding is exact whatever the inputs: a rate of 1 per 3 has no
exact decimal, so the points are rationals until they are rounded.

Why integers and one denominator: the earlier version kept every line's exact points as a
rational in lowest terms and reduced each sum and product (a gcd and a function call per line and
per operation, about a fifth of an event's time on a 10-line basket). Here an award's points on
its lines are a vector of whole numerators over **one common denominator** (`Parts`), computed in
one list comprehension, and never reduced: a value's rounding (`floor(n / d)`) does not depend on
its terms, and splitting by largest remainder does not depend on scaling every weight alike. A
denominator is the least common multiple of its inputs' (money's minor units, a rate's, a
multiplier's), so it stays small; `_aligned` reduces a vector when one grows past 64 bits.
"""

from __future__ import annotations

import math
from decimal import Decimal

from rules_engine.engine.money import ONE, SMALL, ratios_of, split, split_points

ZERO = Decimal(0)

Q = tuple[int, int]
"""An exact rational, (numerator, denominator > 0), not necessarily in lowest terms."""
_Q0: Q = (0, 1)

Parts = tuple[list[int], int]
"""Exact values per line (shipping last) as (numerators, their common denominator > 0)."""

_BIG = 1 << 64  # a denominator past this is reduced (`_aligned`)


def _q(value: Decimal) -> Q:
    return value.as_integer_ratio()


def rate_ratio(points: Decimal, per: Decimal) -> Q:
    """A rate's points per unit of money, exactly (1 per 3 has no exact decimal)."""
    pn, pd = _q(points)
    qn, qd = _q(per)
    n, d = pn * qd, pd * qn
    g = math.gcd(n, d)
    return (n // g, d // g)


def scaled(weights: list[Decimal]) -> Parts:
    """Decimals as whole numerators over one denominator, exactly (money: over its minor unit)."""
    ratios = ratios_of(weights)
    denominators = {d for _, d in ratios}
    if len(denominators) == 1:
        return [n for n, _ in ratios], denominators.pop()
    common = math.lcm(*denominators)
    return [n * (common // d) for n, d in ratios], common


def scaled_fresh(weights: list[Decimal]) -> Parts:
    """`scaled`, each ratio computed rather than looked up (`money.ratios_of`): for decimals this
    event made (its amounts, what discounts left of them, a per-line award's points), whose hash —
    what the look-up costs first — is not computed yet and costs twice what the ratio does
    (measured). The same result as `scaled`. A zero's ratio is (0, 1) whatever its exponent: not
    asked of it (a per-line award's points are zero on most lines)."""
    ratios = [w.as_integer_ratio() if w else _ZERO_RATIO for w in weights]
    if not ratios:
        return [], 1
    numerators, denominators = zip(*ratios)  # noqa: B905 (pairs: strict would cost the keyword)
    if len(set(denominators)) == 1:
        return list(numerators), denominators[0]
    common = math.lcm(*denominators)
    return [n * (common // d) for n, d in ratios], common


_ZERO_RATIO = (0, 1)


def _aligned(a: Parts, b: Parts) -> tuple[list[int], list[int], int]:
    """Two vectors over one denominator: (a's numerators, b's numerators, the denominator)."""
    an, ad = a
    bn, bd = b
    if ad == bd:
        return an, bn, ad
    common = math.lcm(ad, bd)
    if common != ad:
        k = common // ad
        an = [n * k for n in an]
    if common != bd:
        k = common // bd
        bn = [n * k for n in bn]
    if common > _BIG:  # keep the numbers small: the same values in lower terms
        g = math.gcd(common, *an, *bn)
        if g > 1:
            an, bn, common = [n // g for n in an], [n // g for n in bn], common // g
    return an, bn, common


def _plus(a: Q, b: Q) -> Q:
    if a[1] == b[1]:
        return (a[0] + b[0], a[1])
    return (a[0] * b[1] + b[0] * a[1], a[1] * b[1])


def _round(n: int, d: int, rounding: str) -> int:
    """A non-negative exact value n / d to whole points as `points.rounding` says."""
    if rounding == "floor":
        return n // d
    if rounding == "ceil":
        return -(-n // d)
    return (2 * n + d) // (2 * d)  # half away from zero, for values >= 0


def _round_signed(n: int, d: int, rounding: str) -> int:
    """`_round` of a value of either sign: `round` is half away from zero (`round_points`)."""
    if n < 0 and rounding == "round":
        return -_round(-n, d, rounding)
    return _round(n, d, rounding)  # floor and ceil are right for either sign


def _whole(points: int) -> Decimal:
    """Whole points as a decimal, refused (InvalidOperation, RE416) past the 28 digits decimals
    keep, as rounding a decimal award refuses it."""
    if 0 <= points < 1024:
        return SMALL[points]  # the same decimal, made once
    return Decimal(points).quantize(ONE)


class Rounding:
    """Where an event's points are rounded (`points.round`), and what was rounded so far.

    `per_rule`: each rule's exact points rounded on their own, a multiplier's bonus computed on
    the rounded points of the rules before it (a ×2 on 15.6 points gives 15 + 15). `per_award`:
    the exact points of the whole event, multipliers included, rounded once: each rule gives the
    rounded running total after it less the rounded total before it (15 + 16 = floor(31.2)).
    `per_line`: the same, line by line (shipping as one more line). Exact arithmetic throughout
    (the module docstring). A rule a cap or budget cut gives what it was allowed, and the running
    total starts again from the points given.
    """

    def __init__(self, mode: str, rounding: str, slots: int, track: bool) -> None:
        """`track`: keep each line's exact points (for multipliers and `per_line`)."""
        self.mode = mode
        self.track = track or mode == "per_line"
        self.rounding = rounding
        self.x: Q = _Q0  # the award being decided: its exact points
        self.exact: Q = _Q0  # per_award: the exact points so far, and the points given
        self.given = 0
        self.line_exact: Parts = ([0] * slots, 1)  # per_line: the same per line
        self.line_given = [0] * slots
        self.base: Parts = ([0] * slots, 1)  # each line's exact points of the non-multiplier rules
        self.added: list[Parts] = []  # … less these, added to it when a multiplier reads it (`_base`)
        self.parts: Parts = ([0] * slots, 1)  # the award being decided: each line's exact points
        self.weights: list[int] | None = None  # the award being decided: its weights, scaled
        self.lines: list[int] = []  # per_line: each line's rounded points of it

    def total(
        self,
        weights: list[Decimal],
        exact: Decimal,
        ratio: Q | None,
        factor: Decimal | None,
        selected: list[bool] | None,
        units: Parts | None = None,
    ) -> Decimal:
        """The whole points of an award before caps: `exact` are its points (a multiplier's on the
        rounded points before it, `weights`), `ratio` a rate's points per unit of money, `factor`
        a multiplier's bonus per point and `selected` the lines it multiplies. `units`: the
        `weights` already `scaled` (the earning base, scaled once per event), or None."""
        rounding = self.rounding
        if self.mode == "per_rule":
            return self._rule_total(weights, exact, ratio, factor, selected, units)
        self.weights = None
        if not self.track:  # per_award, no multiplier to weigh lines: the award's total is enough
            if ratio is not None:
                n, d = (sum(units[0]), units[1]) if units is not None else _q(sum(weights, ZERO))
                x = (n * ratio[0], d * ratio[1])
            else:
                x = _q(exact)
            self.x = x
            n, d = _plus(self.exact, x)
            return _whole(_round(n, d, rounding) - self.given)
        nums: list[int]
        if selected is not None:  # a multiplier: its bonus on the exact points of the lines it selects
            fn, fd = _q(factor if factor is not None else ZERO)
            base, den = self._base()
            nums = [b * fn if keep else 0 for b, keep in zip(base, selected, strict=True)]
            den *= fd
        elif ratio is not None:  # a rate: each line's money times the rate
            money, den = units if units is not None else scaled(weights)
            self.weights = money
            rn, rd = ratio
            nums = money if rn == 1 else [w * rn for w in money]  # never changed in place
            den *= rd
        else:  # an award: exact × w / Σw on each line (the weights' scale makes no difference)
            points = units[0] if units is not None else scaled(weights)[0]
            self.weights = points
            weight_sum = sum(points)
            en, ed = _q(exact)
            if weight_sum:
                nums = [en * w for w in points]
                den = ed * weight_sum
            else:
                nums = [0] * len(points)
                den = ed
                if en:
                    nums[0] = en  # never happens for a purchase (no eligible line gives 0)
        self.parts = (nums, den)
        self.x = x = (sum(nums), den)
        if self.mode == "per_award":
            n, d = _plus(self.exact, x)
            return _whole(_round(n, d, rounding) - self.given)
        exact_lines, parts, d = _aligned(self.line_exact, self.parts)
        self.lines = [
            _round(e + p, d, rounding) - g
            for e, p, g in zip(exact_lines, parts, self.line_given, strict=True)
        ]
        return _whole(sum(self.lines))

    def _rule_total(
        self,
        weights: list[Decimal],
        exact: Decimal,
        ratio: Q | None,
        factor: Decimal | None,
        selected: list[bool] | None,
        units: Parts | None,
    ) -> Decimal:
        """`per_rule`: the rule's own exact points rounded, on integers. A rate's are its money's
        minor units times its ratio (1 per 3 has no exact decimal: the decimal stage divided in
        28 digits, which agrees with the exact value but for amounts past 10^15 points); a
        multiplier's its bonus per point times the whole points the lines it selects were given
        (`weights`); an award's its value as given (`exact`: the program's or an expression's)."""
        if ratio is not None:
            money, den = units if units is not None else scaled(weights)
            return _whole(_round_signed(sum(money) * ratio[0], den * ratio[1], self.rounding))
        if selected is not None:
            fn, fd = _q(factor if factor is not None else ZERO)
            points = sum([int(w) for w in weights])  # whole points (the shares given before it)
            return _whole(_round_signed(points * fn, fd, self.rounding))
        n, d = _q(exact)
        return _whole(_round_signed(n, d, self.rounding))

    def _base(self) -> Parts:
        """Each line's exact points of the non-multiplier rules so far: the awards given since it
        was last read, added now over their least common denominator (reduced past 64 bits), once
        for all of them rather than once per award."""
        added = self.added
        if not added:
            return self.base
        vectors = [self.base, *added]
        common = math.lcm(*[d for _, d in vectors])
        sums = [0] * len(self.base[0])
        for numerators, d in vectors:
            k = common // d
            if k == 1:
                sums = [s + n for s, n in zip(sums, numerators, strict=True)]
            else:
                sums = [s + n * k for s, n in zip(sums, numerators, strict=True)]
        if common > _BIG:  # keep the numbers small: the same values in lower terms
            g = math.gcd(common, *sums)
            if g > 1:
                sums, common = [n // g for n in sums], common // g
        self.base = (sums, common)
        self.added = []
        return self.base

    def shares(
        self, granted: Decimal, total: Decimal, weights: list[Decimal], factor: Decimal | None, bonus: bool
    ) -> list[Decimal]:
        """The award's `granted` points split across the lines it came from."""
        if self.mode == "per_line":
            if granted == total:
                return [Decimal(p) for p in self.lines]
            return split_points(granted, self.lines)
        if self.track:
            if bonus:
                parts = self.parts[0]
                if any(parts):  # a multiplier's bonus: by the exact points it multiplied on each line
                    return split_points(granted, parts)
            elif self.weights is not None:  # the same weights as `weights`, scaled to integers
                return split_points(granted, self.weights)
        return split(granted, weights, ONE, factor)

    def given_out(self, granted: Decimal, total: Decimal, shares: list[Decimal], multiplier: bool) -> None:
        """Record what the award gave: the running totals go on, or start again after a cut."""
        if self.mode == "per_rule":
            return
        cut = granted != total
        slots = len(self.line_given)
        if self.track and not multiplier:
            added = self.parts
            if cut:  # what the lines were given, not what they would have earned
                added = ([int(s) for s in shares] if shares else [0] * slots, 1)
            self.added.append(added)
        if self.mode == "per_award":
            self.given += int(granted)
            self.exact = (self.given, 1) if cut else _plus(self.exact, self.x)
            return
        if cut:
            whole = [g + int(s) for g, s in zip(self.line_given, shares or [ZERO] * slots, strict=True)]
            self.line_given = whole
            self.line_exact = (list(whole), 1)
            return
        self.line_given = [g + p for g, p in zip(self.line_given, self.lines, strict=True)]
        exact_lines, parts, d = _aligned(self.line_exact, self.parts)
        self.line_exact = ([e + p for e, p in zip(exact_lines, parts, strict=True)], d)
