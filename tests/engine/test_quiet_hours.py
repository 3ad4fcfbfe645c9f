"""Quiet hours and deferral (issue 16, item 13): a message due in quiet hours, or over the
frequency cap with a `max_delay`, waits in the state for the next allowed moment and goes out at
that moment — the same whether the next event or `advance` comes first — or is dropped, traced.

Times are in the program's timezone (Europe/Moscow, +03:00) unless a profile says otherwise.
"""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Notification, Outcome, RuleTrace
from rules_engine.errors import EventError, StateError
from rules_engine.program.validate import load_program_text, validate_text
from tests.engine.scenario import Customer, event

IDENTITY = "program: t\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\n"
HEADER = IDENTITY + "points: {value: 0.01}\n"
OFFERS = """\
coupons:
  - {id: a, amount: 100, valid_for: 7d}
  - {id: b, amount: 200, valid_for: 7d}
offers:
  - {id: a, on: [app_open], when: "true", coupon: a, limit: {count: 99},
     notify: {channel: push, template: offer_a}}
  - {id: b, on: [app_open], when: "true", coupon: b, limit: {count: 99},
     notify: {channel: sms, template: offer_b}}
"""
ONE_OFFER = OFFERS.split("  - {id: b, on")[0]
MSK = dt.timezone(dt.timedelta(hours=3))


def engine(notifications: str, offers: str = OFFERS) -> Engine:
    text = (
        HEADER
        + textwrap.dedent(offers)
        + "notifications:\n"
        + textwrap.indent(textwrap.dedent(notifications), "  ")
    )
    return Engine(load_program_text(text, "t.yaml"))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=MSK)


def notes(outcome: Outcome) -> list[RuleTrace]:
    return [t for t in outcome.trace if t.kind == "notification"]


def test_a_message_due_in_quiet_hours_goes_out_when_they_end() -> None:
    c = Customer(engine('quiet_hours: {start: "21:00", end: "09:00"}\n', ONE_OFFER))
    late = c.send(event("app_open", "2026-12-05T23:10:00"))
    [t] = notes(late)
    assert (t.rule, t.fired, t.code, t.reason) == (
        "offer:a",
        False,
        "outside_schedule",
        "push offer_a deferred to 2026-12-06 09:00: quiet hours 21:00-09:00",
    )
    assert late.effects.notifications == []  # nothing at 23:10 …
    assert c.state is not None
    [waiting] = c.state.deferred
    assert (waiting.due_at, waiting.send_at) == (at("2026-12-05T23:10:00"), at("2026-12-06T09:00:00"))

    # … and the next event after 09:00 reports it, sent at 09:00 (before the event's own)
    morning = c.send(event("review", "2026-12-06T11:30:00"))
    assert morning.effects.notifications == [
        Notification(rule="offer:a", channel="push", template="offer_a", at=at("2026-12-06T09:00:00"))
    ]
    [t] = notes(morning)
    assert (t.fired, t.reason) == (True, "sends push offer_a at 2026-12-06 09:00 (it waited)")
    assert c.state.deferred == []
    assert c.state.notified == []  # without a frequency cap nothing counts sends: the state keeps none


def test_advance_sends_what_waited_at_its_own_moment() -> None:
    e = engine('quiet_hours: {start: "21:00", end: "09:00"}\n')
    out = e.process(event("app_open", "2026-12-05T23:10:00"), None)
    assert len(out.state.deferred) == 2
    early, changes, _ = e.advance(out.state, at("2026-12-06T08:59:00"))
    assert changes == [] and len(early.deferred) == 2
    after, changes, _ = e.advance(out.state, at("2026-12-06T10:00:00"))
    assert [(n.rule, n.at) for n in changes if isinstance(n, Notification)] == [
        ("offer:a", at("2026-12-06T09:00:00")),
        ("offer:b", at("2026-12-06T09:00:00")),
    ]
    assert after.deferred == []
    # the event after `advance` sends nothing again
    again = e.process(event("review", "2026-12-06T11:00:00"), after)
    assert again.effects.notifications == []


def test_quiet_hours_in_the_customers_own_time_zone() -> None:
    c = Customer(engine('quiet_hours: {start: "21:00", end: "09:00"}\n'))
    c.send(event("signup", "2026-12-05T10:00:00", timezone="Asia/Vladivostok"))  # +10:00
    assert c.state is not None and c.state.profile.timezone == "Asia/Vladivostok"
    # 15:00 in Moscow is 22:00 in Vladivostok: quiet for this customer, until 09:00 there (02:00 MSK)
    out = c.send(event("app_open", "2026-12-05T15:00:00"))
    first = notes(out)[0]
    assert first.reason == "push offer_a deferred to 2026-12-06 09:00: quiet hours 21:00-09:00"
    assert c.state.deferred[0].send_at == at("2026-12-06T02:00:00")


def test_quiet_hours_that_do_not_cross_midnight() -> None:
    c = Customer(engine('quiet_hours: {start: "13:00", end: "15:00"}\n'))
    assert [t.code for t in notes(c.send(event("app_open", "2026-12-05T12:59:00")))] == ["fired", "fired"]
    out = c.send(event("app_open", "2026-12-05T13:00:00"))
    assert {t.code for t in notes(out)} == {"outside_schedule"}
    assert c.state is not None and {m.send_at for m in c.state.deferred} == {at("2026-12-05T15:00:00")}


def test_over_the_cap_with_max_delay_a_message_waits_for_room() -> None:
    c = Customer(engine("frequency_cap: {count: 1, per: 1d}\nmax_delay: 2d\n"))
    out = c.send(event("app_open", "2026-12-01T10:00:00"))
    [first, second] = notes(out)
    assert (first.rule, first.fired) == ("offer:a", True)
    assert (second.rule, second.fired, second.code, second.reason) == (
        "offer:b",
        False,
        "capped",
        "sms offer_b deferred to 2026-12-02 10:00: 1 sent, the cap is 1 per 1d",
    )
    # the next day's messages queue behind it, a day apart; the third would wait past max_delay
    out = c.send(event("app_open", "2026-12-01T12:00:00"))
    reasons = [t.reason for t in notes(out)]
    assert reasons == [
        "push offer_a deferred to 2026-12-03 10:00: behind 1 waiting; 1 sent, the cap is 1 per 1d",
        "sms offer_b dropped: the next allowed moment, 2026-12-04 10:00, is more than 2d away "
        "(behind 2 waiting; 1 sent, the cap is 1 per 1d)",
    ]
    assert c.state is not None and len(c.state.deferred) == 2
    later = c.send(event("review", "2026-12-03T10:00:00"))
    assert [(n.template, n.at) for n in later.effects.notifications] == [
        ("offer_b", at("2026-12-02T10:00:00")),
        ("offer_a", at("2026-12-03T10:00:00")),
    ]


def test_without_max_delay_a_message_over_the_cap_is_suppressed_as_before() -> None:
    c = Customer(engine("frequency_cap: {count: 1, per: 7d}\n"))
    out = c.send(event("app_open", "2026-12-01T10:00:00"))
    assert [t.reason for t in notes(out)] == [
        "sends push offer_a",
        "sms offer_b suppressed: 1 sent, the cap is 1 per 7d",
    ]
    assert c.state is not None and c.state.deferred == []


def test_quiet_hours_then_a_full_cap_without_max_delay_is_suppressed() -> None:
    c = Customer(engine('frequency_cap: {count: 1, per: 7d}\nquiet_hours: {start: "21:00", end: "09:00"}\n'))
    out = c.send(event("app_open", "2026-12-05T23:00:00"))
    assert [(t.code, t.reason) for t in notes(out)] == [
        ("outside_schedule", "push offer_a deferred to 2026-12-06 09:00: quiet hours 21:00-09:00"),
        (
            "capped",
            "sms offer_b suppressed: quiet hours 21:00-09:00; behind 1 waiting; 1 sent, the cap is 1 per 7d",
        ),
    ]


def test_the_waiting_messages_are_bounded() -> None:
    offers = "coupons:\n  - {id: a, amount: 100, valid_for: 7d}\noffers:\n" + "".join(
        f"  - {{id: o{n}, on: [app_open], when: 'true', coupon: a,\n"
        f"     notify: {{channel: push, template: t{n}}}}}\n"
        for n in range(12)
    )
    e = engine('quiet_hours: {start: "21:00", end: "09:00"}\n', offers)
    out = e.process(event("app_open", "2026-12-05T23:00:00"), None)
    assert len(out.state.deferred) == 10
    assert [t.reason for t in notes(out)][-1] == "push t11 dropped: 10 messages are already waiting"


def test_quiet_hours_that_start_when_they_end_are_refused() -> None:
    result = validate_text(
        HEADER + OFFERS + 'notifications:\n  quiet_hours: {start: "09:00", end: "09:00"}\n'
    )
    assert [(d.code, d.span.line if d.span else 0) for d in result.errors] == [("RE131", 15)]
    result = validate_text(HEADER + "notifications:\n  max_delay: 2d\n")
    assert [d.code for d in result.errors] == ["RE132"]


MOMENTS = st.integers(min_value=0, max_value=4 * 24 * 60).map(
    lambda minutes: at("2026-12-05T00:00:00") + dt.timedelta(minutes=minutes)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(MOMENTS, st.booleans()), min_size=1, max_size=6))
def test_what_goes_out_does_not_depend_on_advance(steps: list[tuple[dt.datetime, bool]]) -> None:
    """Events at random moments, with and without `advance` before each: the same messages go out
    at the same moments, never in quiet hours, and the states agree."""
    e = engine(
        'frequency_cap: {count: 2, per: 1d}\nquiet_hours: {start: "21:00", end: "09:00"}\nmax_delay: 3d\n'
    )
    plain, housekept = None, None
    sent_plain: list[tuple[str, dt.datetime | None]] = []
    sent_housekept: list[tuple[str, dt.datetime | None]] = []
    for n, (moment, advance_first) in enumerate(sorted(steps)):
        data = event("app_open", moment.isoformat(), id=f"e{n}")
        out = e.process(data, plain)
        plain = out.state
        sent_plain += [(x.template, x.at or moment) for x in out.effects.notifications]
        if advance_first and housekept is not None:
            housekept, changes, _ = e.advance(housekept, moment - dt.timedelta(minutes=1))
            sent_housekept += [(x.template, x.at) for x in changes if isinstance(x, Notification)]
        out = e.process(data, housekept)
        housekept = out.state
        sent_housekept += [(x.template, x.at or moment) for x in out.effects.notifications]
    assert sorted(sent_plain, key=str) == sorted(sent_housekept, key=str)
    assert plain is not None and housekept is not None
    assert plain.deferred == housekept.deferred
    for _, moment in sent_plain:
        assert moment is not None
        assert dt.time(9) <= moment.astimezone(MSK).time() < dt.time(21)


def test_a_reminder_that_could_go_out_only_after_what_it_warns_of_is_dropped() -> None:
    program = load_program_text(
        IDENTITY
        + textwrap.dedent(
            """\
            points: {value: 0.01, expire_after: 10d}
            earn:
              - {id: base, rate: 1 per 100}
            notifications:
              quiet_hours: {start: "21:00", end: "09:00"}
              points_expiring: {before: 2d, channel: push, template: expiring}
            """
        ),
        "t.yaml",
    )
    c = Customer(Engine(program))
    c.send(event("purchase", "2026-12-01T23:30:00", ("A", "x", "1000")))  # expires 11 December 23:30
    out = c.send(event("app_open", "2026-12-11T22:00:00"))
    [t] = notes(out)
    assert (t.rule, t.code, t.reason) == (
        "notifications:points_expiring",
        "capped",
        "push expiring dropped: it could go out only at 2026-12-12 09:00 (quiet hours 21:00-09:00), "
        "once what it warns of has happened (2026-12-11 23:30)",
    )
    assert c.state is not None and c.state.deferred == [] and c.state.reminded == []
    # a day earlier it is still in time: it waits until 09:00
    early = Customer(Engine(program))
    early.send(event("purchase", "2026-12-01T23:30:00", ("A", "x", "1000")))
    [t] = notes(early.send(event("app_open", "2026-12-10T22:00:00")))
    assert t.reason == "push expiring deferred to 2026-12-11 09:00: quiet hours 21:00-09:00"


def test_a_time_zone_nobody_knows_is_refused_on_the_way_in() -> None:
    e = engine('quiet_hours: {start: "21:00", end: "09:00"}\n')
    with pytest.raises(EventError) as signup:
        e.process(event("signup", "2026-12-05T10:00:00", timezone="Mars/Olympus"), None)
    assert signup.value.diagnostics[0].code == "RE410"
    with pytest.raises(StateError) as state:
        e.process(event("app_open", "2026-12-05T10:00:00"), {"profile": {"timezone": "Mars/Olympus"}})
    assert state.value.diagnostics[0].code == "RE420"
