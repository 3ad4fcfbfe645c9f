"""A log line's time (logs.py `time_text`) is `datetime`'s own text for the record's timestamp.

`time_text` makes the date and the second once a second and the milliseconds itself; it must give
`datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")` for every timestamp:
those whose microseconds round up into the next second, on a second's boundary, half a
microsecond either side of one, and any other (hypothesis), in any order (its cache of the last
second must never give a stale one).
"""

from __future__ import annotations

import datetime as dt
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.http.logs import JsonFormatter, time_text


def _datetime_text(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")


_EDGES = [
    0.0,
    1.0,
    1765000000.0,
    1765000000.9995,
    1765000000.9999995,
    1765000000.9999994,
    1765000000.0000005,
    1765000000.0015,
    1765000000.0005,
    1765000000.999,
    1765000059.9999999,
    4102444799.9999995,
    1e-7,
    0.9999996,
]
_CREATED = st.one_of(
    st.sampled_from(_EDGES),
    st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
    st.integers(min_value=0, max_value=4_102_444_800).flatmap(
        lambda second: st.floats(min_value=second - 1e-5, max_value=second + 1e-5).filter(lambda x: x >= 0)
    ),
    st.floats(min_value=-1e9, max_value=0, allow_nan=False),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_CREATED, min_size=1, max_size=8))
def test_time_text_is_datetimes(created: list[float]) -> None:
    for one in created:
        assert time_text(one) == _datetime_text(one)


def test_the_edges_in_turn() -> None:
    for one in _EDGES + _EDGES[::-1]:
        assert time_text(one) == _datetime_text(one)


def test_a_line_carries_it() -> None:
    record = logging.LogRecord("rules_engine.http.access", logging.INFO, __file__, 1, "request", (), None)
    record.created = 1765000000.9999996
    assert JsonFormatter().format(record).startswith('{"time": "2025-12-06T05:46:41.000+00:00"')
