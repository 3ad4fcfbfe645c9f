"""`shared.words_at` (a moment in a zone's local time, in the trace's words) against `strftime`.

The words are read from `isoformat`'s first 16 characters rather than `strftime("%Y-%m-%d %H:%M")`,
which costs ~18k instructions a call through the platform's: the same text for any moment and
zone, over clock changes and skipped or repeated wall times, and years before 1000 (where `%Y`
is not padded) too.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.engine.mechanics.shared import words_at

ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Pacific/Apia"]).map(
    ZoneInfo
)


@given(
    moment=st.datetimes(min_value=dt.datetime(2, 1, 1), timezones=st.just(dt.UTC)),
    zone=ZONES,
)
def test_words_at_read_as_strftime_writes_them(moment: dt.datetime, zone: ZoneInfo) -> None:
    assert words_at(moment, zone) == moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
