"""`notifications.sent_now` (sent at once, or suppressed, known from two looks) against `notice`.

`notify` asks `sent_now` first when no message is waiting: after a long history the points
reminder goes out at most purchases, and `notice` (through `next_moment`) works out reasons that
a message sent at once never shows. The two must agree: for any settings (a frequency cap or none,
quiet hours within a day, over midnight or none, a `max_delay` or none), any earlier send times
and any moment and time zone, `sent_now` answers exactly when `notice` says "fired" at the moment
itself, and its send times are what `notify` keeps for the cap after it; and it answers with a
count only when `notice` suppresses the message with nothing waiting, in the words `notify` traces
then (`_suppressed`).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.mechanics.deferred import notice
from rules_engine.engine.mechanics.notifications import _suppressed, sent_now
from rules_engine.engine.mechanics.shared import recent
from rules_engine.program.mechanics import Notifications
from rules_engine.program.parts import Hours, Limit
from rules_engine.state.customer import CustomerState

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
TIMES = st.times().map(lambda t: t.replace(second=0, microsecond=0))
SPANS = st.sampled_from([dt.timedelta(hours=2), dt.timedelta(days=1), dt.timedelta(days=7)])


@st.composite
def notification_settings(draw: st.DrawFn) -> Notifications:
    cap = draw(
        st.one_of(st.none(), st.builds(Limit, count=st.integers(1, 4), per=st.one_of(st.none(), SPANS)))
    )
    quiet = draw(st.one_of(st.none(), st.builds(Hours, start=TIMES, end=TIMES)))
    delay = draw(st.one_of(st.none(), SPANS))
    return Notifications(frequency_cap=cap, quiet_hours=quiet, max_delay=delay)


@settings(max_examples=400, deadline=None)
@given(
    config=notification_settings(),
    offsets=st.lists(st.integers(0, 20 * 24 * 60), max_size=6),
    at=st.integers(0, 21 * 24 * 60),
    zone=st.sampled_from(["Europe/Moscow", "America/New_York", "Asia/Kathmandu", "UTC"]),
    before=st.one_of(st.none(), st.integers(1, 10 * 24 * 60)),
)
def test_sent_now_answers_exactly_when_notice_fires_at_once(
    config: Notifications, offsets: list[int], at: int, zone: str, before: int | None
) -> None:
    moment = START + dt.timedelta(minutes=at)
    notified = sorted(START + dt.timedelta(minutes=m) for m in offsets if m <= at)
    place = ZoneInfo(zone)
    state = CustomerState(customer="c", notified=notified)
    warns = None if before is None else moment + dt.timedelta(minutes=before)
    when, code, reason = notice(config, state, moment, place, "push beans_expiring", warns)
    counted = sent_now(config, notified, moment, place)
    assert sent_now(config, notified, moment, place, moment.astimezone(place)) == counted  # `local` given
    fires = when == moment and code == "fired"
    assert (isinstance(counted, list)) == fires, (when, code, reason)
    if isinstance(counted, int):
        cap = config.frequency_cap
        assert cap is not None
        assert when is None and code == "capped", (when, code, reason)
        assert _suppressed("r", "push beans_expiring", counted, cap).reason == reason
    elif counted is not None:
        cap = config.frequency_cap
        assert reason == "sends push beans_expiring"
        assert counted == (notified if cap is None else [*recent(cap, notified, moment), moment])
