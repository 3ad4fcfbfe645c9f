"""Expiry's reminders left (`lifecycle._reminded_after`) against the plain definition: the reminded
ids less those of the lots that expired, in their order.

The reminder names lots in expiry order and expiry takes the first lots, so the reminded usually
begin with exactly the expired lots' ids: `_reminded_after` then keeps the rest as a slice, once it
holds none of them, instead of filtering every id. A slice one off would drop a reminder (the lot
is reminded of again) or keep one of a lot gone. Hypothesis draws reminded lists that begin with
the expired ids or not, with ids repeated (an event id reused), and whole streams — purchases,
redemptions that spend lots, returns, gaps past many expiries — decided by an engine with the
shortcut and one with the plain definition, outcome and state JSON alike at every event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine import lifecycle
from rules_engine.state.customer import CustomerState
from tests.engine.test_reminder_reach import _streams
from tests.engine.test_whole_reminder import engine_of, purchase, reminder_variants, variant
from tests.engine.test_whole_stream import MSK
from tests.engine.two_paths import decide


def _plain(reminded: Sequence[str], ids: list[str]) -> list[str] | None:
    """The definition: every reminded id not among `ids`, in order; None when none is."""
    kept = [lot_id for lot_id in reminded if lot_id not in set(ids)]
    return None if len(kept) == len(reminded) else kept


IDS = st.sampled_from([f"e{n}/earn" for n in range(8)])


@st.composite
def _reminded_and_gone(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Reminded ids and the ids of the lots that expired: usually the reminded's first ones (the
    shortcut's case), else a prefix with ids changed or added, or ids drawn anywhere."""
    reminded = draw(st.lists(IDS, max_size=12))
    count = draw(st.integers(0, len(reminded)))
    ids = reminded[:count]
    how = draw(st.sampled_from(["prefix", "prefix", "changed", "more", "any"]))
    if how == "changed" and ids:
        ids[draw(st.integers(0, len(ids) - 1))] = draw(IDS)
    elif how == "more":
        ids += draw(st.lists(IDS, min_size=1, max_size=3))
    elif how == "any":
        ids = draw(st.lists(IDS, min_size=1, max_size=6))
    return reminded, ids or [draw(IDS)]


@settings(max_examples=400, deadline=None)
@given(drawn=_reminded_and_gone())
def test_the_reminders_left_are_the_plain_definitions(drawn: tuple[list[str], list[str]]) -> None:
    reminded, ids = drawn
    assert lifecycle._reminded_after(reminded, ids) == _plain(reminded, ids)


def test_the_usual_expiry_keeps_the_rest_of_the_reminders_as_they_were() -> None:
    """The expired lots' ids first (the usual): the rest, in order; a later id among them too
    (an event id reused) is filtered out as the definition says."""
    reminded = ["a/earn", "b/earn", "c/earn", "d/earn"]
    assert lifecycle._reminded_after(reminded, ["a/earn", "b/earn"]) == ["c/earn", "d/earn"]
    assert lifecycle._reminded_after([*reminded, "a/earn"], ["a/earn"]) == ["b/earn", "c/earn", "d/earn"]
    assert lifecycle._reminded_after(reminded, ["x/earn"]) is None


@contextlib.contextmanager
def _plain_reminders() -> Iterator[None]:
    """Expiry filters the reminders by the definition (no slice) while it lasts."""
    saved = lifecycle._reminded_after
    lifecycle._reminded_after = _plain
    try:
        yield
    finally:
        lifecycle._reminded_after = saved


@settings(max_examples=50, deadline=None)
@given(text=reminder_variants(), events=_streams())
def test_streams_expire_and_remind_as_the_plain_definition_does(
    text: str, events: list[dict[str, Any]]
) -> None:
    shortcut, plain = engine_of(text), engine_of(text)
    mine: CustomerState | None = None
    theirs: CustomerState | None = None
    for event in events:
        a = decide(shortcut, event, mine)
        with _plain_reminders():
            b = decide(plain, event, theirs)
        assert a[:2] == b[:2], event
        if a[0] != "refused":
            mine, theirs = a[2], b[2]


def test_a_daily_buyers_expiry_leaves_the_reminders_a_slice() -> None:
    """Purchases a day apart, points expiring in 20 days, the reminder reaching a week: the lots
    that expire were reminded of first, and most expiries take the shortcut (the streams above meet
    its case, so a slice one off fails them, not only the drawn lists)."""
    engine = engine_of(variant(cap=None, quiet=None))
    time = dt.datetime(2026, 3, 2, 12, 5, tzinfo=MSK)
    shortcut = lifecycle._reminded_after
    sliced: list[int] = []

    def counted(reminded: list[str], ids: list[str]) -> list[str] | None:
        if reminded[: len(ids)] == ids:
            sliced.append(len(ids))
        return shortcut(reminded, ids)

    state = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lifecycle, "_reminded_after", counted)
        for day in range(60):
            state = engine.process(purchase(day, time + dt.timedelta(days=day)), state).state
    assert len(sliced) > 20
