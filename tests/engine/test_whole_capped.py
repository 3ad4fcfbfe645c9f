"""The points-expiring reminder suppressed by the frequency cap, remembered by the whole step.

While the cap holds, the whole step keeps the verdict it worked out (engine/whole/reminder.py,
`Notices._remember`) and gives it again at the customer's next purchases, until the first send
the cap counted leaves its period (or a send time ahead of the purchase joins it). Each event goes
through `Stream.step` and through `process` (test_whole_stream.py `decided`): the same result,
outcome, stored JSON and state, whatever the cap (a count per day, per week, for ever; with or
without `max_delay`), the quiet hours, the customer's zone and the gaps between purchases, and
from a stored state whose send times are in the past, inside the cap's period, or ahead of the
first purchase (a state written by hand).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

from rules_engine.engine.mechanics.notifications import notice
from rules_engine.engine.stream import Stream
from rules_engine.engine.whole import reminder
from rules_engine.state.customer import CustomerState, parse_state
from tests.engine.test_whole_reminder import QUIET, engine_of, purchase, told_by_whole, variant
from tests.engine.test_whole_stream import MSK, decided

START = dt.datetime(2026, 3, 2, 0, 5, tzinfo=MSK)
CAPS = [
    "frequency_cap: {count: 1, per: 2d}",
    "frequency_cap: {count: 2, per: 3d}",
    "frequency_cap: {count: 3, per: 7d}",
    "frequency_cap: {count: 1}",
]


@st.composite
def capped_variants(draw: st.DrawFn) -> str:
    """Coffee-club whose points expire within days, a cap that suppresses most reminders."""
    return variant(
        expire=draw(st.sampled_from(["4d", "6d", "10d"])),
        pending=draw(st.sampled_from(["1h", "12h"])),
        before=draw(st.sampled_from(["3d", "5d"])),
        cap=draw(st.sampled_from(CAPS)),
        quiet=draw(st.sampled_from([QUIET, 'quiet_hours: {start: "23:30", end: "00:30"}', None])),
        delay=draw(st.sampled_from([None, None, None, "1d"])),
    )


GAPS = st.one_of(
    st.integers(1, 300).map(lambda m: dt.timedelta(minutes=m)),
    st.integers(1, 30).map(lambda h: dt.timedelta(hours=h, minutes=13)),
    st.integers(1, 3).map(lambda d: dt.timedelta(days=d, minutes=-29)),
)


@st.composite
def capped_streams(draw: st.DrawFn) -> tuple[CustomerState | None, list[dict[str, Any]]]:
    """A stored state (or none) whose send times are drawn around the first purchase, then
    purchases minutes to days apart at any hour, now and then a sign-up naming a zone."""
    start = None
    if draw(st.booleans()):
        offsets = draw(st.lists(st.integers(-8 * 24, 2 * 24), max_size=4))
        sent = sorted(START + dt.timedelta(hours=h, minutes=7) for h in offsets)
        start = parse_state({"customer": "c", "notified": [t.isoformat() for t in sent]})
    time = START + dt.timedelta(hours=draw(st.integers(0, 23)))
    events: list[dict[str, Any]] = []
    zone = draw(st.sampled_from([None, None, "Asia/Tokyo"]))
    if zone is not None:
        events.append(
            {"id": "s", "type": "signup", "time": time.isoformat(), "customer": "c", "timezone": zone}
        )
    for number in range(draw(st.integers(12, 36))):
        time += draw(GAPS)
        events.append(purchase(number, time, "c", draw(st.integers(1, 3))))
    return start, events


@settings(max_examples=25, deadline=None)
@given(text=capped_variants(), drawn=capped_streams())
def test_drawn_capped_reminders_give_process_answers(
    text: str, drawn: tuple[CustomerState | None, list[dict[str, Any]]]
) -> None:
    start, events = drawn
    engine = engine_of(text)
    made = decided(Stream(engine), engine, events, start)
    capped = [reason for code, reason in told_by_whole(made) if "suppressed" in reason]
    target(float(len(capped)), label="reminders the cap suppressed in the whole step")
    purchases = [whole for (_, whole), event in zip(made, events, strict=True) if event["type"] == "purchase"]
    # nothing the reminder does keeps a purchase from the whole step (but the first on a state
    # written by hand, with no index of pending lots: `process` makes it)
    assert all(purchases[1:] if start is not None else purchases)


@pytest.fixture
def notices_worked_out(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """The moments the whole step asked `notice` about the reminder (not remembered)."""
    asked: list[dt.datetime] = []

    def counted(settings: Any, state: Any, moment: dt.datetime, *rest: Any) -> Any:
        asked.append(moment)
        return notice(settings, state, moment, *rest)

    monkeypatch.setattr(reminder, "notice", counted)
    return asked


def test_a_reminder_suppressed_all_period_is_remembered_then_sent_again(
    notices_worked_out: list[dt.datetime],
) -> None:
    """One reminder in two days at most; purchases every 3 hours for a week, some in the quiet
    hours: once a reminder went out, the next purchases are suppressed, the verdict remembered
    (`notice` not asked again) for those in the quiet hours and for the others, until the send
    leaves the cap's period; then the reminder is dropped (it could go out only after the lot
    expired), deferred past the quiet hours, and sent again."""
    engine = engine_of(
        variant(expire="3d", pending="1h", before="2d", cap="frequency_cap: {count: 1, per: 2d}")
    )
    events = [purchase(n, START + dt.timedelta(hours=3 * n, minutes=n % 7)) for n in range(56)]
    made = decided(Stream(engine), engine, events)
    assert all(whole for _, whole in made[1:])
    told = told_by_whole(made)
    suppressed = [
        reason
        for _, reason in told
        if "suppressed: " in reason and reason.endswith("1 sent, the cap is 1 per 2d")
    ]
    fired = [reason for code, reason in told if code == "fired"]
    assert len(suppressed) >= 30 and len(fired) >= 2
    assert any(reason.startswith("push beans_expiring suppressed: quiet hours") for reason in suppressed)
    assert len(notices_worked_out) < len(told) - len(suppressed) // 2  # most suppressions remembered


def test_a_send_time_ahead_of_the_purchases_ends_the_remembered_verdict(
    notices_worked_out: list[dt.datetime],
) -> None:
    """A stored state with a send two days ago and one two days ahead of the first purchase (a
    state written by hand), a cap of one a week: the reminder is suppressed with 1 sent, then 2
    once the send ahead is passed, then 1 again once the first left the week, as `process` says
    (a remembered verdict ends at either moment)."""
    engine = engine_of(
        variant(expire="3d", pending="1h", before="2d", cap="frequency_cap: {count: 1, per: 7d}")
    )
    sent = [START - dt.timedelta(days=2), START + dt.timedelta(days=2, hours=10)]
    start = parse_state({"customer": "c", "notified": [t.isoformat() for t in sent]})
    events = [purchase(n, START + dt.timedelta(hours=5 * n + 9)) for n in range(40)]
    made = decided(Stream(engine), engine, events, start)
    assert all(whole for _, whole in made[1:])  # the first: `process` makes the pending lots' index
    counts = [
        reason.split("sent, the cap")[0][-2] for _, reason in told_by_whole(made) if "suppressed" in reason
    ]
    changes = [count for n, count in enumerate(counts) if n == 0 or counts[n - 1] != count]
    assert changes == ["1", "2", "1"]  # how many sent, as the cap counts them
    assert len(notices_worked_out) < len(counts)
