"""The whole step's lots reminded of as a count (engine/whole/reminded.py) against the list it replaces.

Hypothesis drives a customer's lots through random purchases — lots expiring off the head, the
reminder reaching lots (some spent: not reminded of), sent or not, awards joining at the tail with
event ids drawn from a small pool (so ids are reused while lots with them live, and an event's
awards may name one rule twice) — on the whole step's functions, and on a plain model of the
list semantics in the engine's order (`lifecycle.expire`, then `_points_reminder`): ids filtered
out when their lots expire, then the lots in reach with points whose ids are not listed reminded
of, in expiry order. After every
purchase the ids the state stands for (`listed`, what `WholeState.public()` gives) equal the
model's, and the lot the reminder warns of is the model's first.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.whole.reminded import awarded, counted, in_reach, listed, recorded, taken_off
from rules_engine.state.compact import LOT_EVENT, LOT_EXPIRES, LOT_POINTS, LOT_RULE, head_right


class _State:
    """The attributes of a `WholeState` that whole/reminded.py reads and writes."""

    def __init__(self, lots: deque[Any], reminded: list[str]) -> None:
        self.lots = lots
        self.reminded: list[str] | None = reminded
        self.reminded_lots, self.reached = counted(lots, reminded)
        self.checked = max(self.reminded_lots, 0)
        self.reminded_made: tuple[int, list[str]] | None = None
        self.popped = 0
        self.reminded_until: Any = 0


def _id(lot: Any) -> str:
    return f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}"


def _lot(expires: int, points: int, event: str, rule: str) -> tuple[Any, ...]:
    return (expires, 0, 0, points, event, rule, [], None, None)


_EPOCH = 1_700_000_000
_EVENTS = st.sampled_from(["e1", "e2", "e3", "e4", "e5", "e6"])
_RULES = st.sampled_from(["base", "bonus", "tier"])
_LOTS = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), _EVENTS, _RULES), max_size=12)
_PURCHASES = st.lists(
    st.tuples(
        st.integers(0, 3),  # time passing
        st.integers(0, 6),  # the reminder's reach past the moment
        st.booleans(),  # the reminder recorded (sent or deferred) or not (capped, dropped)
        st.lists(st.tuples(_RULES, st.integers(0, 3)), max_size=3),  # the awards
        st.integers(4, 9),  # how long after the moment they expire
        _EVENTS,
        st.booleans(),  # the public state read after the purchase
    ),
    max_size=25,
)


def _start(
    gaps: list[tuple[int, int, str, str]], reminded_head: int, extra: list[str]
) -> tuple[deque[Any], list[str]]:
    lots: deque[Any] = deque()
    at = _EPOCH
    for gap, points, event, rule in gaps:
        at += gap
        lots.append(_lot(at, points, event, rule))
    head = [_id(lot) for lot in list(lots)[:reminded_head] if lot[LOT_POINTS] > 0]
    return lots, [*head, *extra]


@settings(max_examples=300, deadline=None)
@given(
    _LOTS,
    st.integers(0, 12),
    st.lists(st.sampled_from(["e1/base", "e2/bonus", "e9/base"]), max_size=2),
    _PURCHASES,
)
def test_the_count_stands_for_the_list(
    start: list[tuple[int, int, str, str]], reminded_head: int, extra: list[str], purchases: list[Any]
) -> None:
    lots, reminded = _start(start, reminded_head, extra)
    state = _State(lots, list(reminded))
    model = list(reminded)
    now = _EPOCH - 1  # epoch seconds: the list's memo takes 0 for none
    for gap, ahead, recording, awards, lasting, event, read in purchases:
        now += gap
        reach = now + ahead
        expired = head_right(lots, now, 0, lambda lot: lot[LOT_EXPIRES])
        found = in_reach(state, lots, expired, reach)
        gone = [lots.popleft() for _ in range(expired)]
        if gone:  # as the engine does: expiry first, then the reminder
            taken_off(state, gone)
            ids = {_id(lot) for lot in gone}
            model = [lot_id for lot_id in model if lot_id not in ids]
        known = set(model)
        soon = [
            lot for lot in lots if lot[LOT_EXPIRES] <= reach and lot[LOT_POINTS] > 0 and _id(lot) not in known
        ]
        assert (found is None) == (not soon)
        if found is not None:
            assert found[0] is soon[0]  # the lot the reminder warns of: the first to expire
        if found is not None and recording:
            recorded(state, found[1], reach)
            model = [*model, *map(_id, soon)]
        expires = now + lasting
        if lots and lots[-1][LOT_EXPIRES] > expires:
            expires = lots[-1][LOT_EXPIRES]  # the step only appends in expiry order
        if awards:
            awarded(state, awards, expires)
            lots.extend(_lot(expires, points, event, rule) for rule, points in awards)
        if read:
            assert listed(state) == model
    assert listed(state) == model


def test_a_reused_event_id_goes_back_to_the_list_when_the_reach_comes_to_it() -> None:
    """An award whose event has lots alive (an id reused after it left the ring of processed ids)
    leaves the count once the reminder's reach comes to both lots: two lots with one id are one to
    the list's look-ups. Before, the lots behind the reach are not looked at."""
    lots: deque[Any] = deque([_lot(5, 10, "e1", "base"), _lot(6, 10, "e2", "base")])  # by the count
    state = _State(lots, ["e1/base"])
    assert state.reminded_lots == 1
    awarded(state, [("base", 5, None, 0)], 8)
    lots.append(_lot(8, 5, "e2", "base"))
    assert in_reach(state, lots, 0, 6) == (lots[1], 2)  # "e2/base" once within the reach: counted
    recorded(state, 2, 6)
    assert state.reminded_lots == 2 and state.checked == 2
    assert in_reach(state, lots, 0, 8) is None  # twice: the list's answer (its id was reminded of)
    assert state.reminded_lots == -1
    assert listed(state) == ["e1/base", "e2/base"]


def test_lots_reminded_of_not_at_the_head_or_twice_are_not_counted() -> None:
    """The count is taken when the ids reminded of are those of the lots at the head, in order,
    each once; the lots behind them are not looked at (the reach takes them in)."""
    twice = deque([_lot(5, 10, "e1", "base"), _lot(6, 10, "e1", "base")])
    assert counted(twice, []) == (0, set())
    assert counted(twice, ["e1/base", "e1/base"]) == (-1, None)
    lots = deque([_lot(5, 10, "e1", "base"), _lot(6, 10, "e2", "base")])
    assert counted(lots, ["e2/base"])[0] == -1
    assert counted(lots, ["e1/base", "e2/base"]) == (2, {"e1/base", "e2/base"})
    assert counted(lots, ["e1/base", "e2/base", "e3/base"])[0] == -1
    split = deque([_lot(5, 10, "a/b", "c"), _lot(6, 10, "a", "b/c")])  # one id, two pairs
    state = _State(split, [])
    assert in_reach(state, split, 0, 6) == (split[0], ["a/b/c", "a/b/c"])  # the list's answer
    assert state.reminded_lots == -1
