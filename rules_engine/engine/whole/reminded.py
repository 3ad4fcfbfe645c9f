"""The lots reminded of, in the whole step: a count of the lots at the head of the deque, not a list of ids.

In a long history the points-expiring reminder has a fortnight of lots within its reach at every
purchase, all but the few the purchase's time brought in reminded of already: the ids it records
(`CustomerState.reminded`) are then exactly the ids of the lots at the head of the deque, in
expiry order — the reminder records those it reaches in expiry order, and expiry takes lots, and
their ids, off the same head. Kept as a list, each purchase made ~30 ids (`"/".join`) and hashed
them: those of the lots expiring, to take them out of the list, and those coming into reach, to
look them up in it and add them (bench/README.md, `due` and `lotid`). Kept as a count
(`WholeState.reminded_lots`), expiry takes a number off, the reminder sets one, and the ids are
made only when the public state is (`listed`), from the list made last moved on as the lots
were (only the ids new since).

The count stands for the list exactly while no two lots share an id: a list's look-ups by id
would treat two lots with one id as one (a lot coming into reach skipped because another with
its id was reminded of; both ids removed when one expires). Ids repeat only through an event id
reused after it left the ring of processed ids while its lots live, or a state made by hand, so
the count is taken only when the state's lots have distinct ids (`counted`), and each purchase's
award checks its event against the events of the lots alive (`WholeState.lot_events`, a superset
made again when it grows to twice the lots): any doubt, and the state goes back to the list
(`listed`, with `reminded_lots` -1) for as long as it lives. A lot in reach with no points (spent,
kept for returns), which the reminder skips, sends it back to the list too.

Input: a `WholeState` and its deque of lot tuples. Output: the count, the first lot in reach, or
the list of ids.
"""

from __future__ import annotations

from collections import deque
from itertools import filterfalse, islice
from operator import itemgetter
from typing import Any

from rules_engine.engine.whole.reminder import lot_ids, unreminded
from rules_engine.state.compact import LOT_EVENT, LOT_EXPIRES, LOT_POINTS, LOT_RULE, head_right

_EVENT = itemgetter(LOT_EVENT)
_RULE = itemgetter(LOT_RULE)
_EXPIRES = itemgetter(LOT_EXPIRES)
_POINTS = itemgetter(LOT_POINTS)
_RULE_OF_AWARD = itemgetter(0)  # an award: (rule, points, weights, kind)


def counted(lots: deque[Any], reminded: list[str]) -> tuple[int, set[str] | None]:
    """The count that stands for `reminded` on `lots` (the ids of exactly that many lots at the
    head, in order, every lot's id its own) and the events of the lots; (-1, None) when it cannot."""
    count = len(reminded)
    if count > len(lots):
        return -1, None
    if count and lot_ids(islice(lots, count)) != reminded:
        return -1, None
    rules = set(map(_RULE, lots))
    if any("/" in rule for rule in rules):  # `event/rule` not one id per pair (a state made by hand)
        return -1, None
    if len(set(zip(map(_EVENT, lots), map(_RULE, lots), strict=True))) != len(lots):
        return -1, None
    return count, set(map(_EVENT, lots))


def in_reach(state: Any, lots: deque[Any], first: int, reach: Any) -> tuple[Any, Any] | None:
    """The lot the reminder warns of (the first to expire of those it reminds of now) and what to
    record when it does: the count of lots at the head reminded of after the `first` due now
    leave (counting), or the ids of the lots (`unreminded`, the list); None when every lot with
    points expiring by `reach` (epoch seconds) was reminded of."""
    count = state.reminded_lots
    if count < 0:
        found = unreminded(state, lots, first, reach)
        return None if found is None else (found[0][0], found[1])
    start = count if count > first else first
    if start >= len(lots) or lots[start][LOT_EXPIRES] > reach:
        return None
    end = head_right(lots, reach, start, _EXPIRES)
    if min(map(_POINTS, map(lots.__getitem__, range(start, end)))) <= 0:  # a spent lot: not reminded of
        listed(state, True)
        return in_reach(state, lots, first, reach)
    return lots[start], end - first


def taken_off(state: Any, gone: list[Any]) -> None:
    """The lots `gone` left the head of the deque (expired): their ids leave those reminded of
    (`lifecycle.expire`), a number off the count, or the ids filtered out of the list."""
    if state.reminded_lots >= 0:
        state.popped += len(gone)
        count = state.reminded_lots
        if count > 0:
            state.reminded_lots = count - len(gone) if count > len(gone) else 0
            state.reminded = None  # changed: made when read (`listed`)
    elif state.reminded:
        ids = set(lot_ids(gone))
        if not ids.isdisjoint(state.reminded):
            state.reminded = list(filterfalse(ids.__contains__, state.reminded))
            state.reminded_until = 0  # an id a lot alive shares may have left with them


def recorded(state: Any, record: Any, reach: Any) -> None:
    """The reminder recorded the lots `in_reach` found (`record`: a count, or ids)."""
    if state.reminded_lots >= 0:
        state.reminded_lots = record
        state.reminded = None
    else:
        state.reminded = [*state.reminded, *record]
        state.reminded_until = reach


def awarded(state: Any, event: str, awards: list[Any], expires: Any) -> None:
    """Before the lots of `event`'s `awards`, expiring at `expires`, join the deque: back to the list
    when one of them could share its id with a lot alive (the module docstring); the list's memo
    of the reach let go when they expire within it."""
    if expires <= state.reminded_until:  # a lot within the reach kept: not reminded of
        state.reminded_until = 0
    if state.reminded_lots < 0:
        return
    events = state.lot_events
    if event in events or (len(awards) > 1 and len(set(map(_RULE_OF_AWARD, awards))) != len(awards)):
        listed(state, True)
        return
    events.add(event)
    if len(events) > 2 * len(state.lots) + 64:  # events whose lots left: let them go, now and then
        state.lot_events = {*map(_EVENT, state.lots), event}


def listed(state: Any, leave: bool = False) -> list[str]:
    """The ids of the lots reminded of: made from the count when it changed since they were last
    made (the list made last, less the ids of the lots that left the head since, and the ids of
    the lots counted since); `leave`: the state keeps the list from now on."""
    reminded: list[str] | None = state.reminded
    if reminded is None:
        count, lots = state.reminded_lots, state.lots
        kept: list[str] = []
        made = state.reminded_made
        if made is not None:
            at, ids = made
            kept = ids[state.popped - at : state.popped - at + count]
        reminded = state.reminded = [*kept, *lot_ids(islice(lots, len(kept), count))]
        state.reminded_made = (state.popped, reminded)
    if leave:
        state.reminded_lots = -1
        state.reminded_until = 0  # the list's own memo, not kept while counting
        state.lot_events = None
    return reminded
