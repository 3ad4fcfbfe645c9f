"""The notifications of a purchase in the whole step (engine/whole/reminder.py) against `Engine.process`.

Coffee-club's points-expiring reminder, with its frequency cap and quiet hours, is due at nearly
every purchase of a long history: sent, suppressed by the cap, deferred past the quiet hours and
delivered before a later purchase, or dropped (it could only go out once the lot expired, or
later than `max_delay`). Hypothesis draws coffee-club variants whose points expire within weeks
(the reminder's reach, the cap, the quiet hours, `max_delay` drawn) and streams of purchases, with
an app open or a sign-up with a time zone now and then, whose gaps from minutes to weeks bring lots
into the reminder's reach, remind of them again after an expiry, and let lots expire between
purchases; each event goes through `Stream.step` with the whole step and through `process`, and
gives the same result, outcome, stored JSON and state (test_whole_stream.py `decided`). The
examples assert that the whole step decided the purchases whose reminder it words.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import given, settings, target
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.notifications import REMINDER
from rules_engine.engine.result import Result
from rules_engine.engine.stream import Stream
from rules_engine.engine.whole.covers import unsupported
from rules_engine.program.validate import load_program_text
from tests.engine.test_whole_stream import COFFEE_TEXT, MSK, decided
from tests.engine.two_paths import products

SOLD = products("coffee-club")
CAP = "frequency_cap: {count: 3, per: 7d}"
QUIET = 'quiet_hours: {start: "21:00", end: "08:00"}'
BEFORE = "points_expiring: {before: 14d,"


def variant(
    expire: str = "20d",
    pending: str = "1d",
    before: str = "7d",
    cap: str | None = CAP,
    quiet: str | None = QUIET,
    delay: str | None = None,
) -> str:
    """Coffee-club with points expiring within weeks, and its notifications' settings as given."""
    text = COFFEE_TEXT.replace("expire_after: 365d", f"expire_after: {expire}", 1)
    text = text.replace("pending: 14d", f"pending: {pending}", 1)
    text = text.replace(BEFORE, f"points_expiring: {{before: {before},", 1)
    text = text.replace(CAP, cap or "", 1).replace(QUIET, quiet or "", 1)
    if delay is not None:
        text = text.replace("notifications:\n", f"notifications:\n  max_delay: {delay}\n", 1)
    return text


def engine_of(text: str) -> Engine:
    engine = Engine(load_program_text(text, "variant.yaml"))
    assert unsupported(engine.plan) is None  # a program the whole step covers
    return engine


def purchase(number: int, time: dt.datetime, customer: str = "c", lines: int = 2) -> dict[str, Any]:
    items = [
        {"sku": sku, "category": category, "price": Decimal(f"{150 + 40 * n}.00"), "qty": 1}
        for n, (sku, category) in enumerate(SOLD[number % 4 : number % 4 + lines])
    ]
    return {
        "id": f"p{number}",
        "type": "purchase",
        "time": time.isoformat(),
        "customer": customer,
        "items": items,
    }


def notices(result: Result) -> list[tuple[str, str]]:
    """The notification verdicts of `result`: (code, reason)."""
    return [(v.code, str(v.reason)) for v in result.trace if v.kind == "notification"]


def told_by_whole(made: list[tuple[Result | None, bool]]) -> list[tuple[str, str]]:
    """The notification verdicts of the events the whole step decided."""
    return [notice for result, whole in made if result is not None and whole for notice in notices(result)]


# -- drawn programs and streams ---------------------------------------------------------------------


@st.composite
def reminder_variants(draw: st.DrawFn) -> str:
    """Coffee-club whose points expire within weeks, its notifications' settings drawn."""
    caps = [CAP, "frequency_cap: {count: 1, per: 1d}", "frequency_cap: {count: 2, per: 7d}", None]
    cap = draw(st.sampled_from(caps))
    quiet = draw(st.sampled_from([QUIET, 'quiet_hours: {start: "12:00", end: "14:00"}', None]))
    delays = [None, None, "2h", "2d"] if cap or quiet else [None]  # a wait for something to limit
    return variant(
        expire=draw(st.sampled_from(["10d", "20d", "45d"])),
        pending=draw(st.sampled_from(["12h", "1d", "3d"])),
        before=draw(st.sampled_from(["2d", "7d", "14d", "30d"])),
        cap=cap,
        quiet=quiet,
        delay=draw(st.sampled_from(delays)),
    )


GAPS = st.one_of(
    st.integers(1, 600).map(lambda m: dt.timedelta(minutes=m)),
    st.integers(1, 72).map(lambda h: dt.timedelta(hours=h, minutes=17)),
    st.integers(1, 25).map(lambda d: dt.timedelta(days=d, minutes=-31)),
)


@st.composite
def reminder_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One or two customers' purchases, gaps from minutes to weeks at any hour; an app open now and
    then (the engine's way, the reminder too); a sign-up with a time zone, whose quiet hours are
    kept in it."""
    customers = draw(st.sampled_from([["c"], ["c", "d"]]))
    time = dt.datetime(2026, 3, 2, draw(st.integers(0, 23)), 5, tzinfo=MSK)
    events: list[dict[str, Any]] = []
    for customer in customers:
        zone = draw(st.sampled_from([None, None, "Asia/Tokyo", "America/New_York"]))
        if zone is not None:
            events.append(
                {
                    "id": f"s-{customer}",
                    "type": "signup",
                    "time": time.isoformat(),
                    "customer": customer,
                    "timezone": zone,
                }
            )
    for number in range(draw(st.integers(8, 40))):
        time += draw(GAPS)
        customer = draw(st.sampled_from(customers))
        if draw(st.integers(0, 9)) == 0:
            events.append(
                {"id": f"a{number}", "type": "app_open", "time": time.isoformat(), "customer": customer}
            )
        else:
            events.append(purchase(number, time, customer, draw(st.integers(1, 3))))
    return events


@settings(max_examples=40, deadline=None)
@given(text=reminder_variants(), events=reminder_streams())
def test_drawn_reminders_through_the_whole_step_give_process_answers(
    text: str, events: list[dict[str, Any]]
) -> None:
    engine = engine_of(text)
    made = decided(Stream(engine), engine, events)
    told = told_by_whole(made)
    target(float(len(told)), label="notifications the whole step worded")
    # nothing the notifications do keeps a purchase from the whole step (nor a state an app open
    # or a sign-up made: its sums' 0 spend at a coarser exponent is the step's too)
    for (_, whole), event in zip(made, events, strict=True):
        assert whole or event["type"] != "purchase", event["id"]


# -- each thing the reminder does, in the whole step ------------------------------------------------


def _daily(days: int, hours: list[int], start: dt.datetime | None = None) -> list[dict[str, Any]]:
    """A purchase a day for `days` days, at the hours given in turn (minutes past them)."""
    first = start or dt.datetime(2026, 3, 2, tzinfo=MSK)
    return [
        purchase(n, first + dt.timedelta(days=n, hours=hours[n % len(hours)], minutes=10 + n % 40))
        for n in range(days)
    ]


def test_a_daily_buyer_is_reminded_suppressed_deferred_and_delivered_by_the_whole_step() -> None:
    """Coffee-club's settings (cap 3 a week, quiet 21:00-08:00), points expiring after 20 days, the
    reminder 7 days before: after three weeks each purchase brings a lot into its reach. The
    whole step decides every purchase, and words each thing the reminder does."""
    engine = engine_of(variant())
    events = _daily(60, [9, 13, 22, 7, 18])
    made = decided(Stream(engine), engine, events)
    assert all(whole for _, whole in made[1:])  # the first makes the customer: `process`'s
    told = told_by_whole(made)
    codes = {code for code, _ in told}
    assert {"fired", "capped", "outside_schedule"} <= codes
    assert any("suppressed: 3 sent, the cap is 3 per 7d" in reason for _, reason in told)
    assert any("deferred to" in reason for _, reason in told)
    assert any("(it waited)" in reason for _, reason in told)  # delivered before a later purchase
    sent = [n for result, whole in made if whole and result is not None for n in result.notifications]
    assert any(n.rule == REMINDER and n.at is None for n in sent)
    assert any(n.rule == REMINDER and n.at is not None for n in sent)


def test_a_reminder_that_could_go_out_only_after_the_lot_expired_is_dropped_by_the_whole_step() -> None:
    """A lot earned at 22:59 expires 20 days later at 22:59; a purchase at 21:30 that day is the
    first within the reminder's reach: in the quiet hours, it could go out only at 08:00, after
    the lot expired: dropped, nothing recorded."""
    engine = engine_of(variant(before="7d"))
    start = dt.datetime(2026, 3, 2, 22, 59, tzinfo=MSK)
    events = [purchase(0, start), purchase(1, start + dt.timedelta(days=1, hours=-12))]
    events.append(purchase(2, start + dt.timedelta(days=20, minutes=-89)))
    made = decided(Stream(engine), engine, events)
    assert made[2][1]
    dropped = notices(made[2][0])  # type: ignore[arg-type]
    assert (
        len(dropped) == 1
        and dropped[0][0] == "capped"
        and "dropped: it could go out only at" in dropped[0][1]
    )
    assert made[2][0].state.reminded == [] and made[2][0].notifications == ()  # type: ignore[union-attr]


def test_a_reminder_that_would_wait_longer_than_max_delay_is_dropped_by_the_whole_step() -> None:
    engine = engine_of(variant(delay="2h"))
    events = _daily(40, [10, 22])
    made = decided(Stream(engine), engine, events)
    told = told_by_whole(made)
    assert any(
        "dropped: the next allowed moment" in reason and "more than 2h away" in reason for _, reason in told
    )
    assert any(code == "fired" for code, _ in told)
    assert all(whole for _, whole in made[1:])


def test_reminded_again_after_an_expiry_and_lots_expiring_between_purchases() -> None:
    """Purchases a week or more apart: lots expire between them (their reminders leave with them),
    and each purchase's reminder tells of the lots the reach took in since; no cap, no quiet hours:
    each is sent."""
    engine = engine_of(variant(expire="10d", pending="12h", before="7d", cap=None, quiet=None))
    first = dt.datetime(2026, 3, 2, 11, tzinfo=MSK)
    events = [purchase(n, first + dt.timedelta(days=5 * n + n % 3, hours=n % 5)) for n in range(20)]
    made = decided(Stream(engine), engine, events)
    assert all(whole for _, whole in made[1:])
    fired = [
        result
        for result, whole in made
        if whole and result is not None and notices(result) == [("fired", "sends push beans_expiring")]
    ]
    assert len(fired) >= 5
    assert any(r.points_changes and any(c.kind == "expire" for c in r.points_changes) for r in fired)


def test_a_customer_with_a_time_zone_is_reminded_in_its_quiet_hours() -> None:
    """A sign-up in Tokyo: 09:00 in Moscow is 15:00 there, 16:00 in Moscow is 22:00 (quiet)."""
    engine = engine_of(variant())
    first = dt.datetime(2026, 3, 2, tzinfo=MSK)
    signup = {
        "id": "s",
        "type": "signup",
        "time": first.isoformat(),
        "customer": "c",
        "timezone": "Asia/Tokyo",
    }
    events = [signup, *_daily(45, [9, 16], first + dt.timedelta(hours=1))]
    made = decided(Stream(engine), engine, events)
    assert all(whole for _, whole in made[2:])
    deferred = [reason for code, reason in told_by_whole(made) if code == "outside_schedule"]
    assert deferred and all("deferred to" in reason and " 08:00:" in reason for reason in deferred)


# -- the quiet hours read from the step's local time ---------------------------------------------------

TIMES = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@settings(max_examples=300, deadline=None)
@given(
    start=TIMES,
    end=TIMES,
    moment=st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2028, 1, 1), timezones=st.just(dt.UTC)),
    zone=st.sampled_from(["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Kathmandu"]),
)
def test_the_quiet_hours_read_from_the_local_time_agree_with_quiet_until(
    start: dt.time, end: dt.time, moment: dt.datetime, zone: str
) -> None:
    """`Notices._sent_now` reads the quiet hours from the time of day of the step's local time
    (`_quiet_at`) instead of `quiet_until`: the same answer, quiet or not, for any hours (over
    midnight, within a day, equal: never quiet) and any moment, summer time included."""
    from zoneinfo import ZoneInfo

    from rules_engine.engine.mechanics.deferred import quiet_until
    from rules_engine.engine.whole.reminder import _quiet_at
    from rules_engine.program.parts import Hours

    place = ZoneInfo(zone)
    hours = Hours(start=start, end=end)
    local = moment.astimezone(place)
    assert _quiet_at(hours.start, hours.end, local.time()) == (quiet_until(hours, moment, place) is not None)
