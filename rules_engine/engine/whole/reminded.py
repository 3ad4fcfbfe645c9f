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

The count stands for the list exactly while no two lots the reminder has reached share an id: a
list's look-ups by id would treat two lots with one id as one (a lot coming into reach skipped
because another with its id was reminded of; both ids removed when one expires). Ids repeat only
through an event id reused after it left the ring of processed ids while its lots live, or a
state made by hand. Which lots matter: expiry and the reminder work on the head of the deque only
— the lots reminded of, those expiring, those in reach — and awards join at its tail, so two
lots with one id make the list and the count differ only once both are within the reach. The
state therefore keeps the ids of the lots at the head that the reminder has reached
(`WholeState.checked` of them, in `WholeState.reached`: a set, perhaps with ids of some lots
that left), known distinct, and the reach takes in the lots it comes to, a few at a purchase,
checking their ids against it (`_reached`): any id seen twice, and the state goes back to the
list (`listed`, with `reminded_lots` -1) for as long as it lives. The count is taken from a state
when its reminded ids are those of the lots at its head, in order, each once (`counted`): a look
at those few lots, not at the year of lots behind them, which a whole state made for a long
history's customer once walked twice (a set of the lots' events, a set of their (event, rule)
pairs: 2.2 million instructions at 1,325 lots, bench/README.md). A lot in reach with no points
(spent, kept for returns), which the reminder skips, sends it back to the list too.

Input: a `WholeState` and its deque of lot tuples. Output: the count, the first lot in reach, or
the list of ids.
"""

from __future__ import annotations

from collections import deque
from itertools import filterfalse, islice
from operator import itemgetter
from typing import Any

from rules_engine.engine.whole.reminder import lot_ids, unreminded
from rules_engine.state.compact import LOT_EXPIRES, LOT_POINTS, head_right

_EXPIRES = itemgetter(LOT_EXPIRES)
_POINTS = itemgetter(LOT_POINTS)


def counted(lots: deque[Any], reminded: list[str]) -> tuple[int, set[str] | None]:
    """The count that stands for `reminded` on `lots` (the ids of exactly that many lots at the
    head, in order, each once) and the set of those ids, the lots the reminder reached (`_reached`
    takes in more as it reaches them); (-1, None) when it cannot."""
    count = len(reminded)
    if count > len(lots):
        return -1, None
    if not count:
        return 0, set()
    if lot_ids(islice(lots, count)) != reminded:
        return -1, None
    reached = set(reminded)
    if len(reached) != count:  # an id twice at the head
        return -1, None
    return count, reached


def _reached(state: Any, lots: deque[Any], end: int) -> bool:
    """Take the lots up to `end` into those the reminder reached (`WholeState.checked`, `reached`):
    False when one's id is among them already (the module docstring: then the list)."""
    checked = state.checked
    ids = lot_ids(map(lots.__getitem__, range(checked, end)))
    reached = state.reached
    if len(reached) > 2 * checked + 64:  # ids of lots that left: let them go, now and then
        reached = state.reached = set(lot_ids(islice(lots, checked)))
    size = len(reached)
    reached.update(ids)
    if len(reached) != size + len(ids):
        return False
    state.checked = end
    return True


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
    if min(map(_POINTS, map(lots.__getitem__, range(start, end)))) <= 0 or (  # a spent lot: not reminded of
        end > state.checked and not _reached(state, lots, end)  # an id twice within the reach
    ):
        listed(state, True)
        return in_reach(state, lots, first, reach)
    return lots[start], end - first


def taken_off(state: Any, gone: list[Any]) -> None:
    """The lots `gone` left the head of the deque (expired): their ids leave those reminded of
    (`lifecycle.expire`), a number off the count, or the ids filtered out of the list."""
    if state.reminded_lots >= 0:
        state.popped += len(gone)
        checked = state.checked  # (their ids stay in `reached` until it is made again)
        state.checked = checked - len(gone) if checked > len(gone) else 0
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


def awarded(state: Any, awards: list[Any], expires: Any) -> None:
    """Before the lots of `awards`, expiring at `expires`, join the tail of the deque: the list's
    memo of the reach let go when they expire within it. (Counting, their ids are looked at when
    the reach comes to them: `_reached`.)"""
    if expires <= state.reminded_until:  # a lot within the reach kept: not reminded of
        state.reminded_until = 0


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
        state.reached = None
    return reminded
