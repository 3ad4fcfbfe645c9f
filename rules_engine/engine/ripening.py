"""Pending → available: which of a customer's pending lots ended their wait by a moment.

A lot earned with a pending period (`points.pending_days`) waits until its `available_at`; the state
names the waiting lots (`pending_lots`, in the order they were earned), and an event asks what time
did to them since the customer's last event (`ripened`, `ripen`), or whether time did anything to
the lots at all (`quiet`, with expiry's `nothing_due`). Usually the pending lots are the lots' tail
and nothing is due: that is known at a look, from a reading of the tail kept beside the state's
lists and carried to the next state's by settle and time passing (`_TAILS`, `carry_tail`,
`tail_after_expiry`). Expiry and spending are lifecycle.py's; the policies are docs/engine.md's.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import operator
from collections.abc import Sequence
from typing import NamedTuple

from rules_engine.engine.lifecycle import _ID, Transition, _oldest_first, _transition, nothing_due
from rules_engine.state.customer import CustomerState, Lot
from rules_engine.state.shared import Memo, SharedList, window

_EVENT = operator.attrgetter("event")
_RULE = operator.attrgetter("rule")
_AVAILABLE = operator.attrgetter("available_at")


def _pending_lots(state: CustomerState) -> list[tuple[str, Lot]]:
    """The lots `state.pending_lots` names, in its order, each with its id: looked for from the
    newest end of the lots, where lots earned lately are, until all are found.

    Usually the pending lots are exactly the newest ones, in the same order (lots are earned in
    time order and each waits as long as the others): then they are the lots' tail, which one
    comparison of ids confirms (a lot's id is unique: one award per rule and event)."""
    pending = state.pending_lots
    if not pending:
        return []
    lots = state.lots
    tail = lots[len(lots) - len(pending) :] if len(pending) <= len(lots) else []
    if [f"{lot.event}/{lot.rule}" for lot in tail] == pending:
        return list(zip(pending, tail, strict=True))
    wanted = set(pending)
    found: dict[str, Lot] = {}
    for lot in reversed(state.lots):
        if not wanted:
            break
        lot_id = f"{lot.event}/{lot.rule}"  # Lot.id, without a property call per lot
        if lot_id in wanted:
            wanted.discard(lot_id)
            found[lot_id] = lot
    return [(lot_id, found[lot_id]) for lot_id in state.pending_lots or () if lot_id in found]


def became_available(
    state: CustomerState, since: dt.datetime | None, moment: dt.datetime
) -> list[Transition]:
    """Lots whose pending period ended in (since, moment]: reported, nothing to change.

    Without `since` (a state that never saw an event here) there is nothing to compare with:
    nothing is reported rather than every lot ever earned.
    """
    if since is None:
        return []
    if state.pending_lots is not None and since == state.last_event_at:
        return ripen(state, moment)[0]
    ended = [
        lot
        for lot in state.lots
        if lot.points > 0
        and lot.available_at <= moment
        and lot.available_at > since
        and lot.available_at > lot.earned_at
    ]
    return [Transition("available", lot.id, lot.points, lot.available_at) for lot in _oldest_first(ended)]


def _tail_is(pending: Sequence[str], tail: Sequence[Lot]) -> bool:
    """Whether the ids of `tail` (as many lots as `pending` names) are `pending`, in its order:
    compared in C, each id made by `"/".join` of the lot's event and rule (`Lot.id`), without a
    Python loop or an f-string per lot (every event of a customer with points pending asks)."""
    return all(map(operator.eq, pending, map(_ID, zip(map(_EVENT, tail), map(_RULE, tail), strict=True))))


class _Tail(NamedTuple):
    """What `_ripe_in_tail` read of a state's pending lots, kept for its (pending ids, lots) pair
    on the lots list (which it does not hold: no cycle, the memo dies with the list)."""

    pending: Sequence[str]
    times: list[dt.datetime]  # each pending lot's `available_at`, in the order of `pending`
    in_order: bool  # `times` never decreases
    soonest: dt.datetime  # min(times)


# The pending lots' reading, kept beside the state's lists as `processed.py` keeps its set: keyed by the
# identity of the lots list (state/shared.py's `Memo`: on the list itself when it is a `SharedList`, dying
# with it; else in a bounded table that holds the list, so that its id cannot be reused while the entry
# lives), valid for as long as that list and the `pending_lots` list are the very objects it was made for
# (`is`: a state's lists are never changed). An event confirms the pending lots are the lots' tail once
# (`_tail_is`, a look at every pending lot); settle carries the reading over to the next state's lists when
# its new lots are appended as pending ones (`carry_tail`), and time passing when it only ripened a prefix or
# expired lots at the head: the next event's "is anything due?" is then one comparison, nothing read of the
# lots. The table of plain lists is bounded (`_TAILS_KEPT`): the oldest entry is forgotten first. Each write
# and read is one attribute or C call, atomic for threads sharing a state; an entry is a tuple never changed.
_TAILS_KEPT = 256
_TAILS: Memo[_Tail] = Memo("memo_tail", _TAILS_KEPT)


def _keep_tail(lots: Sequence[Lot], tail: _Tail) -> None:
    _TAILS.put(lots, tail)


def _known_tail(pending: Sequence[str], lots: Sequence[Lot]) -> _Tail | None:
    """The reading kept for this very pair of lists, if any."""
    known = _TAILS.get(lots)
    if known is not None and known.pending is pending:
        return known
    return None


def carry_tail(
    pending: Sequence[str],
    lots: Sequence[Lot],
    new_pending: Sequence[str],
    new_lots: Sequence[Lot],
    made: list[Lot],
) -> None:
    """Settle's new lists: `new_pending` is `pending` plus the ids of `made`, the event's lots, all
    waiting until one moment, and `new_lots` is `with_lots(lots, made)`. When the reading of
    (`pending`, `lots`) is kept (or nothing was pending) and the new lots went to the end, the
    pending lots are still the lots' tail: the reading of the new pair is the old one, the new
    lots' time added. `with_lots` appends them, or inserts them together, by `insort_right`, before
    the first lot that expires later: they are at the end exactly when the last lot is the last
    of them and the length adds up (the lots before them are then `lots`, in order)."""
    if pending:
        known = _known_tail(pending, lots)
        if known is None:
            return
    else:
        known = None
    if not made:
        return
    _, start, end = window(lots) if type(lots) is SharedList else (lots, 0, len(lots))  # (`with_lots`)
    new_items, new_start, new_end = (
        window(new_lots) if type(new_lots) is SharedList else (new_lots, 0, len(new_lots))
    )
    if new_end - new_start != end - start + len(made) or new_items[new_end - 1] is not made[-1]:
        return
    available_at = made[0].available_at
    if known is None:
        _keep_tail(new_lots, _Tail(new_pending, [available_at] * len(made), True, available_at))
        return
    times = known.times
    in_order = known.in_order and times[-1] <= available_at
    soonest = known.soonest if known.soonest <= available_at else available_at
    _keep_tail(new_lots, _Tail(new_pending, [*times, *[available_at] * len(made)], in_order, soonest))


def _tail_moved(tail: _Tail, before: Sequence[Lot], lots: Sequence[Lot]) -> None:
    """Time passing left `tail.pending` as it is (or a suffix: `ripen`) and expired lots at the head
    of `before` (the lots `tail` was kept for): `lots` is what is left. When its last lots are
    still the pending ones, the same reading holds for `lots`."""
    count = len(tail.pending)
    items, start, end = window(lots)
    if end - start < count:
        return
    before_items, _, before_end = window(before)
    if all(
        map(
            operator.is_,
            items[end - count : end],  # slices, not `islice`: that walks the storage from its start
            before_items[before_end - count : before_end],
        )
    ):
        _keep_tail(lots, tail)


def tail_after_expiry(pending: Sequence[str], before: Sequence[Lot], after: Sequence[Lot]) -> None:
    """`points.time_passes`: expiry made `after` of `before` (lots left the head); the reading of
    (`pending`, `before`), if kept, is carried over to `after`."""
    if after is before or not pending:
        return
    known = _known_tail(pending, before)
    if known is not None:
        _tail_moved(known, before, after)


def _ripe_in_tail(
    state: CustomerState, moment: dt.datetime, zone: dt.tzinfo | None
) -> tuple[list[tuple[dt.datetime, str, int, Lot]], list[str], bool] | None:
    """`ripen`'s reading of the pending lots when they are the lots' tail, in the same order (as
    `_pending_lots` finds them usually), confirmed by their ids (`_tail_is`): the lots that ended
    their wait (with their earned time, id and place), the ids still waiting, and whether every
    ended lot's time has `zone`. None when the tail is not the pending lots (then `ripen` reads
    them as `_pending_lots` finds them).

    Whether anything is due is one comparison: the soonest `available_at` of the tail with
    `moment`. The reading (the tail confirmed, its times) is kept for the state's pair of lists
    (`_TAILS`), and carried to the next state's by settle: an event of a state the engine made
    reads no lot to know that nothing is due. When nothing ended its wait, the ids still waiting
    are the state's own list, returned as it is (the usual event: nothing made, nothing copied)."""
    pending = state.pending_lots
    lots: Sequence[Lot] = state.lots
    items, start, end = window(lots) if type(lots) is SharedList else (lots, 0, len(lots))  # (`with_lots`)
    if not pending or len(pending) > end - start:
        return None
    known = _known_tail(pending, lots)
    if known is None:
        tail = items[end - len(pending) : end]
        if not _tail_is(pending, tail):
            return None
        times = list(map(_AVAILABLE, tail))
        known = _Tail(
            pending, times, all(map(operator.le, times, itertools.islice(times, 1, None))), min(times)
        )
        _keep_tail(lots, known)
        if known.soonest > moment:  # nothing ended its wait
            return [], pending, True
    elif known.soonest > moment:  # nothing ended its wait: one comparison
        return [], pending, True
    else:
        times = known.times
        tail = items[end - len(pending) : end]
    ended: list[tuple[dt.datetime, str, int, Lot]] = []
    one_zone = isinstance(zone, dt.timezone)
    if known.in_order:
        # in the order of their time (the usual: lots earned in time order wait alike): those that
        # ended their wait are a prefix, found by bisection; the rest wait, a slice of the ids
        due = bisect.bisect_right(times, moment)
        for lot_id, lot, available in zip(pending, tail, times[:due], strict=False):  # the first `due`
            if lot.points > 0 and available > (earned := lot.earned_at):
                one_zone = one_zone and earned.tzinfo is zone
                ended.append((earned, lot_id, len(ended), lot))
        waiting = pending[due:]
        if waiting:  # the rest are still the tail, in order: the next event reads them as known
            rest = times[due:]
            _keep_tail(lots, _Tail(waiting, rest, True, rest[0]))
        return ended, waiting, one_zone
    waiting = []
    for lot_id, lot, available in zip(pending, tail, times, strict=True):
        if available > moment:
            waiting.append(lot_id)
        elif lot.points > 0 and available > (earned := lot.earned_at):
            one_zone = one_zone and earned.tzinfo is zone
            ended.append((earned, lot_id, len(ended), lot))
    return ended, waiting, one_zone


def ripen(state: CustomerState, moment: dt.datetime) -> tuple[list[Transition], list[str]]:
    """What time does to the pending lots of a state in order (`in_order`) from its latest event
    to `moment`: the lots that became available (as `became_available` reports them), and the
    `pending_lots` index after it (`ripened`, each lot's change made)."""
    ripe, waiting = ripened(state, moment)
    return available(ripe), waiting


Ripe = list[tuple[str, Lot]]
"""The lots whose wait ended, each with its id, in the order `became_available` reports them."""


def available(ripe: Ripe) -> list[Transition]:
    """The change of each lot of `ripe`: it became available."""
    return [
        _transition(Transition, ("available", lot_id, lot.points, lot.available_at)) for lot_id, lot in ripe
    ]


def ripened(state: CustomerState, moment: dt.datetime) -> tuple[Ripe, list[str]]:
    """`ripen` without the changes (`available` makes them: `Engine.process` when the result's
    are read): the lots that became available, and the `pending_lots` index after it. Reads only
    the lots the index names; when none of them is due, the index returned is the state's own
    list (`time_passes` then knows nothing changed)."""
    if state.last_event_at is None:  # a new customer: nothing was pending before
        return [], [lot_id for lot_id, lot in _pending_lots(state) if lot.available_at > moment]
    zone = moment.tzinfo
    read = _ripe_in_tail(state, moment, zone)
    if read is not None:  # the usual case: the pending lots are the lots' tail
        ended, waiting, one_zone = read
        if not ended:
            return [], waiting
    else:
        ended, waiting = [], []
        one_zone = isinstance(zone, dt.timezone)
        for lot_id, lot in _pending_lots(state):
            if lot.available_at > moment:
                waiting.append(lot_id)
            elif lot.points > 0 and lot.available_at > lot.earned_at:
                earned = lot.earned_at
                one_zone = one_zone and earned.tzinfo is zone
                ended.append((earned, lot_id, len(ended), lot))
    if one_zone:
        # the engine's own times (one fixed offset): in earned order as `_oldest_first` puts them,
        # by (earned_at, id) with the ids already at hand, then as found (lots are never compared)
        ended.sort()
        ripe = [(lot_id, lot) for _, lot_id, _, lot in ended]
    else:
        ripe = [(f"{lot.event}/{lot.rule}", lot) for lot in _oldest_first([e[3] for e in ended])]
    return ripe, waiting


def quiet(state: CustomerState, moment: dt.datetime) -> bool:
    """Whether time up to `moment` does nothing to the lots of `state`, known at a look: a state
    in order (`in_order`) whose pending lots' reading is kept (`_TAILS`: a state the engine made)
    and whose soonest `available_at` is later, or that has none pending, and whose first lot in
    expiry order is not due (lots at 0 at the head: `nothing_due`). The usual event's question,
    asked in one call: a few comparisons, nothing made. False when it cannot tell at a look
    (`ripen` and `expire` then decide, as they always may)."""
    pending = state.pending_lots
    if pending is None or state.last_event_at is None:
        return False
    lots: Sequence[Lot] = state.lots
    if pending:
        known = _TAILS.get(lots)
        if known is None or known.pending is not pending or known.soonest <= moment:
            return False
    items, start, end = window(lots) if type(lots) is SharedList else (lots, 0, len(lots))  # (`with_lots`)
    if start == end:
        return True
    expires = items[start].expires_at
    return expires is None or expires > moment or nothing_due(state, moment)
