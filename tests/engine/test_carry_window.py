"""`lot_memos.carry_window` reads a `SharedList` through its storage (`shared.window`), not through
its Python `len()` and `[]`: the memo it hands on (the soonest return-window close and the head
left as it is) must be what the same rule gives on plain lists, for lists that are windows at
any offset of a storage, short lists and plain lists, and for every kind of change — lots added
at the end, lots taken from the head, and anything else (which hands on nothing).

A memo handed on wrongly is a return window judged from a close that is not the soonest: the
differential test against the rule written on plain lists is what guards it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine import lot_memos
from rules_engine.state.shared import SharedList, ShortList

DAY = dt.timedelta(days=1)
START = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)


def expected(
    before: list[Any], after: list[Any], closes: dt.datetime | None, known: tuple[Any, Any, int]
) -> tuple[Any, Any, int] | None:
    """The rule on plain lists (`carry_window`'s docstring), as it was written before."""
    if after is before or not after:
        return None
    within, soonest, stable = known
    if closes is not None:
        if len(after) < len(before) or (before and after[len(before) - 1] is not before[-1]):
            return None
        if soonest is None or closes < soonest:
            soonest = closes
    else:
        left = len(before) - len(after)
        if left < 0 or after[0] is not before[left] or after[-1] is not before[-1]:
            return None
        stable = max(0, stable - left)
    return within, soonest, stable


def _form(items: list[Any], start: int, end: int, kind: str) -> Sequence[Any]:
    if kind == "shared":
        return SharedList(items, start, end)
    if kind == "short":
        return ShortList(items[start:end])
    return items[start:end]


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(0, 12),
    offset=st.integers(0, 5),
    change=st.sampled_from(["added", "taken", "shuffled", "inserted", "emptied"]),
    count=st.integers(0, 4),
    kinds=st.tuples(*[st.sampled_from(["shared", "short", "plain"])] * 2),
    closes=st.one_of(st.none(), st.integers(0, 30).map(lambda d: START + d * DAY)),
    soonest=st.one_of(st.none(), st.integers(0, 30).map(lambda d: START + d * DAY)),
    stable=st.integers(0, 12),
)
def test_the_memo_handed_on_is_the_rule_on_plain_lists(
    size: int,
    offset: int,
    change: str,
    count: int,
    kinds: tuple[str, str],
    closes: dt.datetime | None,
    soonest: dt.datetime | None,
    stable: int,
) -> None:
    lots = [object() for _ in range(offset + size)]  # stand-ins: only identities are compared
    before = _form(lots, offset, offset + size, kinds[0])
    plain_before = lots[offset : offset + size]
    if change == "added":  # at the end (the storage extended, as `appended` does)
        grown = [*lots, *(object() for _ in range(count))]
        after = _form(grown, offset, len(grown), kinds[1])
    elif change == "taken":  # from the head
        after = _form(lots, min(offset + count, offset + size), offset + size, kinds[1])
    elif change == "shuffled":
        after = list(reversed(plain_before))
    elif change == "inserted":
        after = [*plain_before[: size // 2], object(), *plain_before[size // 2 :]]
    else:
        after = []
    known = (dt.timedelta(days=14), soonest, min(stable, size))
    lot_memos._keep_window(before, *known)
    lot_memos.carry_window(before, after, closes)
    want = expected(plain_before, list(after), closes, known)
    assert lot_memos._CLOSES.get(after) == want
