"""An award's line shares as the generated function gives them: split on integers, and split late.

`money.line_shares` splits whole points by integer weights; `money.LineShares` records what that
split needs and makes it when first read. Both must give exactly what the evaluator's
`money.split` gives on the same values as decimals (the largest-remainder method, ties to the
earlier line), and a `LineShares` must read, compare, hash and pickle as that tuple, so a `Result`
holding one equals the evaluator's `Result` holding the tuple.
"""

from __future__ import annotations

import math
import pickle
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.engine.code_writer import multiplied_base
from rules_engine.engine.money import ONE, LineShares, line_shares, split
from rules_engine.engine.result import award_of
from rules_engine.engine.rounding import scaled, scaled_fresh

_WEIGHTS = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12)
_UNITS = st.one_of(st.integers(min_value=1, max_value=2000), st.integers(min_value=1, max_value=10**12))


def _expected(units: int, weights: list[int]) -> tuple[tuple[int, str, Decimal], ...]:
    """The evaluator's split on the same values as decimals, lines given nothing left out."""
    parts = split(Decimal(units), [Decimal(w) for w in weights], ONE)
    return tuple((i, f"SKU{i}", part) for i, part in enumerate(parts) if part)


@given(_UNITS, _WEIGHTS)
def test_line_shares_on_integers_are_the_decimal_split(units: int, weights: list[int]) -> None:
    skus = [f"SKU{i}" for i in range(len(weights))]
    shares = line_shares(units, weights, skus)
    expected = _expected(units, weights)
    assert shares == expected
    # the same decimals, written alike (a lot's lines and the JSON show their text)
    assert [str(points) for _, _, points in shares] == [str(points) for _, _, points in expected]
    assert sum(points for _, _, points in shares) == units


@given(_UNITS, _WEIGHTS)
def test_line_shares_made_late_read_as_the_tuple(units: int, weights: list[int]) -> None:
    skus = [f"SKU{i}" for i in range(len(weights))]
    expected = line_shares(units, weights, skus)
    late = LineShares(units, weights, skus)
    assert late == expected and expected == late
    assert (late != expected) is False
    assert hash(late) == hash(expected)
    assert len(late) == len(expected)
    assert list(late) == list(expected)
    assert late[0] == expected[0] and late[-1] == expected[-1] and late[1:] == expected[1:]
    assert repr(late) == repr(expected)
    assert late == LineShares(units, list(weights), list(skus))
    copied = pickle.loads(pickle.dumps(late))
    assert type(copied) is tuple and copied == expected


def _as_tuple(shares: LineShares) -> tuple[tuple[int, str, Decimal], ...]:
    """What the generated function passes `award_of`: late shares standing for the tuple."""
    return cast("tuple[tuple[int, str, Decimal], ...]", shares)


def test_an_award_holding_late_shares_equals_the_same_award_holding_the_tuple() -> None:
    weights, skus = [300, 0, 150], ["A", "B", "C"]
    late = award_of("base", Decimal(7), _as_tuple(LineShares(7, weights, skus)), None)
    made = award_of("base", Decimal(7), line_shares(7, weights, skus), None)
    assert late == made and hash(late) == hash(made)
    assert made.lines == ((0, "A", Decimal(5)), (2, "C", Decimal(2)))
    assert [share.amount for share in late.model().lines] == [Decimal(5), Decimal(2)]
    assert late != award_of("base", Decimal(7), _as_tuple(LineShares(7, [150, 0, 300], skus)), None)


def test_late_shares_let_their_weights_go_once_split() -> None:
    weights = [1, 2, 3]
    late = LineShares(6, weights, ["A", "B", "C"])
    assert late.shares() == ((0, "A", Decimal(1)), (1, "B", Decimal(2)), (2, "C", Decimal(3)))
    weights[0] = 100  # the function never changes them after; once split, nothing reads them
    assert late.shares()[0] == (0, "A", Decimal(1))


_DECIMAL = st.one_of(
    st.just(Decimal(0)),
    st.sampled_from([Decimal("0.00"), Decimal("-0"), Decimal("0E+2")]),
    st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10**6).map(Decimal),
)


@given(st.lists(_DECIMAL, max_size=12))
def test_a_per_line_awards_points_scale_to_the_integers_they_always_did(weights: list[Decimal]) -> None:
    """`rounding.scaled_fresh` (the generated function's `_scaled`), which asks no zero its ratio,
    gives what `rounding.scaled` gives: the same numerators over the same denominator."""
    assert scaled_fresh(weights) == scaled(weights)


_ADDED = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),  # which list of numerators: rules share them
        st.integers(min_value=0, max_value=500),  # the factor
        st.integers(min_value=1, max_value=10**5),  # the denominator
    ),
    max_size=6,
)


@given(
    st.lists(
        st.lists(st.integers(min_value=0, max_value=10**6), min_size=4, max_size=4), min_size=4, max_size=4
    ),
    _ADDED,
)
def test_the_base_a_multiplier_weighs_is_each_lines_exact_points(
    lists: list[list[int]], drawn: list[Any]
) -> None:
    """`code_writer.multiplied_base`: each line's points of the rules before the multipliers, over
    one denominator, exactly the sum of each rule's numerators × factor / denominator — whether or
    not rules weigh the same list (their factors are added first)."""
    added = [(lists[which], factor, d) for which, factor, d in drawn]
    sums, common = multiplied_base(added, 4)
    expected = [sum((Fraction(n[i] * factor, d) for n, factor, d in added), Fraction(0)) for i in range(4)]
    assert [Fraction(s, common) for s in sums] == expected
    assert common == math.lcm(*[d for _, _, d in added]) if added else common == 1
