"""A customer's state kept under one program version, decided on by the next: the cases
tests/engine/test_versions_property.py found, each as its own example.

Each is coffee-club as version 4, then as version 5 with one parameter changed, and an event of
the customer's under version 5 on the state version 4 left: decided as the new version decides
on that state alone, on every path (`Engine.process`, the evaluator path, `Stream.step` on the
working state version 4's stream carried).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState
from tests.engine.two_paths import PROGRAMS

COFFEE = (PROGRAMS / "coffee-club.yaml").read_text(encoding="utf-8")


def version(number: int, *changes: tuple[str, str], generated: bool = True) -> Engine:
    """Coffee-club as version `number`, each (old, new) text of `changes` replaced (once, and it
    must be there)."""
    text = re.sub(r"^version: \d+$", f"version: {number}", COFFEE, count=1, flags=re.MULTILINE)
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    return Engine(load_program_text(text, "coffee-club.yaml"), secret=b"v", generated=generated)


def purchase(number: int, day: str, qty: int = 1, hour: int = 12) -> dict[str, Any]:
    return {
        "id": f"p{number}",
        "type": "purchase",
        "time": f"{day}T{hour:02d}:00:00+03:00",
        "customer": "c",
        "items": [{"sku": "LATTE-L", "category": "coffee", "price": "300.00", "qty": qty}],
    }


def challenge_trace(result: Any) -> list[str]:
    return [v.reason for v in result.trace if v.rule == "challenge:five-coffees-a-week"]


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "evaluator"])
@pytest.mark.parametrize(
    ("before", "after", "key"),
    [
        ("lifetime", "calendar_week", "2027-W18"),  # `lifetime` sorted after every week of the year
        ("calendar_quarter", "calendar_month", "2027-05"),  # `2027-Q2` after every month of the year
        ("calendar_month", "calendar_quarter", "2027-Q2"),
        ("calendar_week", "lifetime", "lifetime"),
    ],
)
def test_a_challenge_whose_window_changed_kind_counts_in_the_new_window(
    generated: bool, before: str, after: str, key: str
) -> None:
    """A challenge's window changed kind between versions: the stored key is not of the new kind,
    so it names no window before the event's, and the event counts in a new one. (Compared as
    keys of one kind, `lifetime` sorted after `2027-W18` and `2027-Q2` after `2027-05`: every
    purchase was taken for one before the stored window and counted nowhere — for ever, or for
    the rest of the year.)"""
    old = version(4, ("    window: calendar_week", f"    window: {before}"), generated=generated)
    new = version(5, ("    window: calendar_week", f"    window: {after}"), generated=generated)
    state = old.process(purchase(1, "2027-05-04"), None).state
    result = new.process(purchase(2, "2027-05-05"), state)
    progress = result.state.challenges["five-coffees-a-week"]
    assert (progress.window, progress.progress) == (key, 1)
    assert "(this event added 1)" in challenge_trace(result)[0]


@pytest.mark.parametrize("generated", [True, False], ids=["generated", "evaluator"])
@pytest.mark.parametrize(
    ("before", "words"),
    [
        ("calendar_month", "in the calendar month 2027-05"),
        ("calendar_year", "in the calendar year 2027"),
        ("calendar_week", "in the calendar week 2027-W18"),
        ("lifetime", "in all"),
    ],
)
def test_a_return_names_a_window_of_an_earlier_kind(generated: bool, before: str, words: str) -> None:
    """A return of a purchase counted in a calendar window, under a version whose window is rolling:
    the trace names the window the purchase counted in, as what it was. (The rolling window's words
    read the key as a moment: `2027-05` raised a ValueError out of `process`, `2027-W18` was read
    as an ISO week date and named a rolling window.)"""
    old = version(4, ("    window: calendar_week", f"    window: {before}"), generated=generated)
    new = version(5, ("    window: calendar_week", "    window: rolling 7d"), generated=generated)
    state = old.process(purchase(1, "2027-05-04", qty=2), None).state
    back = {
        "id": "r1",
        "type": "return",
        "time": "2027-05-05T12:00:00+03:00",
        "customer": "c",
        "purchase": "p1",
        "items": [{"sku": "LATTE-L", "qty": 1}],
    }
    result = new.process(back, state)
    assert challenge_trace(result) == [f"the purchase counted {words}, which is over: nothing to take back"]
    assert result.state.challenges == state.challenges | result.state.challenges  # the record kept


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "in place"])
def test_a_step_after_a_reload_reviews_the_tier_when_the_new_version_has_it_due(whole: bool) -> None:
    """The working state knows when its next review is due, worked out at the step before by that
    step's version (`Working.due_at`). A version with a shorter grace has the review sooner: its
    step must not take the old moment for its own. (It did: time passing was skipped, and the
    tier held since its old date, where `process` reviewed it and started a new holding period.)"""
    tiers = ("  window: rolling 365d", "  window: rolling 3d")
    no_wait = ("  pending: 14d\n", "")  # (a lot ending its wait would be due sooner)
    old = version(4, tiers, no_wait, ("downgrade_grace: 30d", "downgrade_grace: 60d"))
    new = version(5, tiers, no_wait)
    events = [
        purchase(1, "2027-05-03", hour=9),
        purchase(2, "2027-05-04", hour=9),
        purchase(3, "2027-06-10", hour=9),
    ]
    versions = [old, old, new]
    working = Stream(old, whole=whole).working(None)
    state: CustomerState | None = None
    for event, engine in zip(events, versions, strict=True):
        expected = engine.process(event, state)
        got = Stream(engine, whole=whole).step(event, working)
        assert got.outcome().model_dump_json() == expected.outcome().model_dump_json()
        assert working.public().model_dump_json() == expected.state.model_dump_json()
        state = expected.state
    assert state is not None and state.tier_since is not None
    assert (
        state.tier_since.date().isoformat() == "2027-06-05"
    )  # 3 days' window and 30 days' grace after the 3rd


@pytest.mark.parametrize("way", ["generated", "evaluator", "whole", "in place"])
def test_a_cap_whose_period_changed_counts_only_its_new_period(way: str) -> None:
    """A per-week cap made per-day by the next version: the rule's counters hold the new period's
    count only, the old week's leaving at the rule's first count (the whole step, which keeps a
    per-day cap's day alone, dropped it; `process` kept it for ever, one key per kind)."""
    old = version(4, ("cap: {per_day: 50}", "cap: {per_week: 50}"), generated=way != "evaluator")
    new = version(5, generated=way != "evaluator")
    pastry = {"sku": "CROISSANT", "category": "pastry", "price": "100.00", "qty": 1}
    first, second = purchase(1, "2027-05-04"), purchase(2, "2027-05-05")
    first["items"].append(pastry)
    second["items"] = [pastry]
    state = old.process(first, None).state
    assert state.counters["pastry-bonus"] == {"week:2027-W18": 5}
    if way in ("whole", "in place"):
        stream = Stream(new, whole=way == "whole")
        working = stream.working(state)
        stream.step(second, working)
        after = working.public()
        assert after == new.process(second, state).state
    else:
        after = new.process(second, state).state
    assert after.counters["pastry-bonus"] == {"day:2027-05-05": 5}


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "in place"])
def test_a_lot_earned_under_a_shorter_expiry_goes_before_the_older_lots(whole: bool) -> None:
    """A working state made from a state version 4 left (after a store's `advance`, a `put`, a
    reload) and stepped by version 5, whose points live 20 days where version 4's lived a year: the
    new lot expires first, so it goes first in the state's lots, as `Engine.process` puts it
    (`lifecycle.with_lot`). The whole step appended it after the year-long lots, so points due to
    expire in 20 days stood behind lots of next year, and expiry (which takes the lots' head) would
    not have reached them."""
    no_wait = ("  pending: 14d\n", "")
    old = version(4, no_wait)
    new = version(5, no_wait, ("  expire_after: 365d", "  expire_after: 20d"))
    state = old.process(purchase(1, "2027-05-03"), None).state
    stream = Stream(new, whole=whole)
    working = stream.working(state)
    got = stream.step(purchase(2, "2027-05-04"), working)
    expected = new.process(purchase(2, "2027-05-04"), state)
    assert [lot.event for lot in got.state.lots] == ["p2", "p1"]
    assert working.public().model_dump_json() == expected.state.model_dump_json()
    assert got.outcome().model_dump_json() == expected.outcome().model_dump_json()
