"""A signup's profile is kept; the birthday reward (issue 16, item 2)."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.birthday import celebrated
from rules_engine.errors import ProgramError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState

HEADER = "program: t\nversion: 1\ntimezone: Europe/Moscow\ncurrency: EUR\n"


def engine(body: str) -> Engine:
    return Engine(load_program_text(HEADER + textwrap.dedent(body), "t.yaml"))


def event(event_id: str, kind: str, time: str, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "time": time, "customer": "c1", **fields}


def signed_up(e: Engine, birthday: str) -> CustomerState:
    return e.process(event("s1", "signup", "2026-01-10T10:00:00+03:00", birthday=birthday)).state


def test_a_signup_keeps_the_profile_it_gives() -> None:
    e = engine("earn: [{id: vip, award: 5, on: [signup], when: '\"vip\" in customer.tags'}]\n")
    first = e.process(
        event("s1", "signup", "2026-01-10T23:30:00+00:00", birthday="1990-03-15", tags=["vip", "news"])
    )
    profile = first.state.profile
    assert (profile.birthday, profile.tags) == (dt.date(1990, 3, 15), ["vip", "news"])
    assert profile.signup_date == dt.date(2026, 1, 11)  # the local date, in Moscow
    assert first.totals.points == 5  # the signup's own conditions see the profile it gives
    again = e.process(event("s2", "signup", "2026-02-01T10:00:00+03:00", tags=["news", "app"]), first.state)
    assert again.state.profile.tags == ["vip", "news", "app"]
    assert again.state.profile.signup_date == dt.date(2026, 1, 11)
    assert again.state.profile.birthday == dt.date(1990, 3, 15)


ON_THE_DAY = "birthday: {on: [purchase, app_open], reward: {points: 100}}\n"


def test_on_the_day_once_a_year_in_the_programs_timezone() -> None:
    e = engine(ON_THE_DAY)
    state = signed_up(e, "1990-03-15")
    early = e.process(event("a1", "app_open", "2026-03-14T20:59:00+00:00"), state)  # 23:59 in Moscow
    assert early.totals.points == 0 and early.trace[-1].code == "nothing_eligible"
    day = e.process(event("a2", "app_open", "2026-03-14T21:00:00+00:00"), early.state)  # 00:00, the 15th
    assert day.totals.points == 100 and day.state.birthday_rewarded == 2026
    again = e.process(event("a3", "app_open", "2026-03-15T12:00:00+03:00"), day.state)
    assert again.totals.points == 0 and again.trace[-1].code == "capped"
    next_year = e.process(event("a4", "app_open", "2027-03-15T12:00:00+03:00"), again.state)
    assert next_year.totals.points == 100


def test_a_window_around_the_birthday_across_the_new_year() -> None:
    e = engine("birthday: {window: around, days: 7, on: [app_open], reward: {points: 50}}\n")
    state = signed_up(e, "1985-12-30")
    january = e.process(event("a1", "app_open", "2027-01-05T12:00:00+03:00"), state)
    assert january.totals.points == 50 and january.state.birthday_rewarded == 2026
    later = e.process(event("a2", "app_open", "2027-01-06T12:00:00+03:00"), january.state)
    assert later.totals.points == 0 and later.trace[-1].code == "capped"  # the 2026 birthday: given


def test_the_birthday_month() -> None:
    e = engine("birthday: {window: month, on: [app_open], reward: {points: 30}}\n")
    state = signed_up(e, "1990-03-31")
    assert e.process(event("a1", "app_open", "2026-03-02T12:00:00+03:00"), state).totals.points == 30
    assert e.process(event("a1", "app_open", "2026-04-01T12:00:00+03:00"), state).totals.points == 0


def test_29_february_is_28_february_in_other_years() -> None:
    assert celebrated(dt.date(2000, 2, 29), 2027) == dt.date(2027, 2, 28)
    assert celebrated(dt.date(2000, 2, 29), 2028) == dt.date(2028, 2, 29)
    e = engine(ON_THE_DAY)
    state = signed_up(e, "2000-02-29")
    assert e.process(event("a1", "app_open", "2027-02-28T12:00:00+03:00"), state).totals.points == 100
    assert e.process(event("a1", "app_open", "2028-02-28T12:00:00+03:00"), state).totals.points == 0


@pytest.mark.parametrize("bad", ["{window: around, reward: {points: 1}}", "{days: 3, reward: {points: 1}}"])
def test_days_go_with_a_window_around_the_birthday(bad: str) -> None:
    with pytest.raises(ProgramError) as caught:
        load_program_text(HEADER + f"birthday: {bad}\n", "t.yaml")
    (problem,) = caught.value.diagnostics
    assert problem.code == "RE117" and problem.span is not None and problem.span.line == 5
