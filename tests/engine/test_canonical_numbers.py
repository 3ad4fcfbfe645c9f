"""An int's digits in an event's digest (engine/canonical.py): exact at any size, and the same
digits as before wherever the old way was exact.

Until 2026-12-06 `_number_text` (and `_canonical`, the path of events holding a value the fast
writer does not know) wrote an int through a float, `format(value, "f")`: exact up to 2**53, the
float's digits past it, and OverflowError past a float's range. Digests are kept in databases, so
every number the old way wrote exactly — every int up to 2**53 in size, every float — must be
written byte for byte as it was: `_old_number_text` is the old function, verbatim.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from rules_engine.engine import canonical
from rules_engine.engine.canonical import event_digest
from rules_engine.engine.event_text import parse_event_text
from rules_engine.engine.reader import parse_event
from tests.engine.test_reader import Count

EXACT_FLOAT = 2**53


def _old_number_text(value: int | float) -> str:
    """`canonical._number_text` before 2026-12-06."""
    if type(value) is float:
        return canonical._decimal_text(Decimal(repr(value)))
    if not value:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _old_canonical_number(value: Any) -> str:
    """`canonical._canonical`'s numbers before 2026-12-06 (an int, an int subclass, a float)."""
    if isinstance(value, float):
        value = Decimal(repr(value))
    if not value:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@given(st.integers(-EXACT_FLOAT, EXACT_FLOAT))
@example(EXACT_FLOAT)
@example(-EXACT_FLOAT)
@example(0)
def test_an_int_up_to_2_53_is_written_as_before(value: int) -> None:
    assert canonical._number_text(value) == _old_number_text(value)
    assert canonical._canonical(value) == _old_canonical_number(value)


@given(st.floats(allow_nan=True, allow_infinity=True))
@example(-0.0)
@example(1e300)
@example(5e-324)
def test_a_float_is_written_as_before(value: float) -> None:
    assert canonical._number_text(value) == _old_number_text(value)
    assert canonical._canonical(value) == _old_canonical_number(value)


@given(st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**400).map(lambda n: -n)))
@example(EXACT_FLOAT + 1)
@example(10**400)
def test_an_int_of_any_size_is_written_as_its_own_digits(value: int) -> None:
    """Both writers (the fast one and `_canonical`, which an event with an unknown value takes)."""
    assert canonical._number_text(value) == str(value)
    assert canonical._canonical(value) == str(value)


def test_an_int_enum_is_written_as_its_value() -> None:
    """An int subclass goes through `_canonical` (the fast writer knows exact types only)."""
    assert canonical._canonical(Count.ONE) == _old_canonical_number(Count.ONE) == "1"


APP_OPEN = (
    '{"id":"a","type":"app_open","time":"2026-12-08T09:00:00+03:00","customer":"ann","attributes":{"n":%s}}'
)


def test_two_events_with_ints_past_2_53_that_differ_have_different_digests() -> None:
    """JSON text gives an attribute's long int as an int: 12345678901234567891 and …892 were one
    float, so one digest (a redelivery with the other payload was taken for a duplicate)."""
    first = event_digest(parse_event_text(APP_OPEN % "12345678901234567891"))
    second = event_digest(parse_event_text(APP_OPEN % "12345678901234567892"))
    assert first != second


def test_an_int_up_to_2_53_in_an_event_keeps_its_stored_digest() -> None:
    """A digest computed before 2026-12-06 (this one, by hand) still matches."""
    event = parse_event_text(APP_OPEN % str(EXACT_FLOAT))
    text = (
        '{"attributes":{"n":9007199254740992},"channel":null,"customer":"ann","device":null,'
        '"household":null,"id":"a","payment":null,"store":null,"time":"2026-12-08T06:00:00+00:00",'
        '"type":"app_open"}'
    )
    assert event_digest(event) == hashlib.sha256(text.encode()).hexdigest()


def test_a_python_int_beyond_a_floats_range_has_a_digest() -> None:
    """It raised OverflowError (a Python caller's event; JSON numbers have at most 40 digits)."""
    data = {"id": "a", "type": "app_open", "time": "2026-12-08T09:00:00+03:00", "customer": "ann"}
    huge = parse_event({**data, "attributes": {"n": 10**400}})
    odd = parse_event({**data, "attributes": {"n": 10**400, "f": frozenset()}})  # through `_canonical`
    assert event_digest(huge) != event_digest(parse_event({**data, "attributes": {"n": 10**400 + 1}}))
    assert event_digest(odd)
