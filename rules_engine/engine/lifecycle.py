"""What time and spending do to points: pending → available, expiry, and burning for rewards.

Pure functions over a `CustomerState`: they return a new state, the transitions they made and
the ledger entries that book them, and never read the clock (the moment comes from an event, or
from `advance(…, to_time)`). The state keeps no ledger (the entries are the result's, and a store's
ledger table holds them all); the books balance: the points in the lots equal the sum of every
entry ever made.

Policies (docs/engine.md):
- A lot is *pending* until its `available_at`, *available* from then until its `expires_at`.
- Lots expire whole, oldest first, at `expires_at`; expiry is applied when the customer's next
  event arrives or by `advance`, and each expired lot is a ledger entry of kind `expire`. The
  state keeps its lots in expiry order and an index of the pending ones, so that what time does
  is found without reading every lot (docs/engine.md, "The bounded state").
- Spending burns available lots oldest first (by `earned_at`, then lot id); not enough available
  points refuses the whole spend and changes nothing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import operator
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from rules_engine.engine.trusted import expiry_entries, ledger_entry, replaced
from rules_engine.errors import Diagnostic, EventError
from rules_engine.state.customer import CustomerState, LedgerEntry, Lot
from rules_engine.state.shared import Memo, SharedList, appended, window

ZERO = Decimal(0)


class Transition(NamedTuple):
    """Something time or spending did to a lot. (A named tuple: made for every lot that becomes
    available or expires, where a frozen dataclass costs five times as much to make.)"""

    kind: str  # "available", "expire", "burn"
    lot: str
    points: Decimal
    at: dt.datetime


# `Transition(kind, lot, points, at)` without the named tuple's `__new__`, a Python function: made
# for every lot that expires or becomes available.
_transition = tuple.__new__


def instant(moment: dt.datetime) -> dt.datetime:
    """`moment` in UTC: a sort key. Two aware times with different tzinfo objects are compared by
    asking both for their UTC offset (about a microsecond); two UTC times compare as plain ones."""
    return moment.astimezone(dt.UTC)


def _oldest_first(lots: list[Lot]) -> list[Lot]:
    if len(lots) < 2:  # nothing to order (and no key to compute)
        return list(lots)
    zone = lots[0].earned_at.tzinfo
    if isinstance(zone, dt.timezone) and all(lot.earned_at.tzinfo is zone for lot in lots):
        # one fixed offset (the engine's times): the times compare as the instants they are,
        # without a conversion to UTC each (lots become available at most events)
        return sorted(lots, key=_earned)
    return sorted(lots, key=lambda lot: (instant(lot.earned_at), lot.id))


def _earned(lot: Lot) -> tuple[dt.datetime, str]:
    return lot.earned_at, f"{lot.event}/{lot.rule}"


def expiry_order(lot: Lot) -> tuple[bool, dt.datetime]:
    """Where a lot stands in `CustomerState.lots`: by `expires_at`, lots that never expire last
    (among equals, the order they were earned in: insertion keeps it)."""
    expires = lot.expires_at
    return (True, lot.earned_at) if expires is None else (False, expires)


_EXPIRES = operator.attrgetter("expires_at")


def expiring_by(lots: Sequence[Lot], moment: dt.datetime) -> int:
    """How many of `lots` (in expiry order) expire at or before `moment`: they are a prefix.
    `bisect_right(lots, (False, moment), key=expiry_order)`, with the key read in C when every
    lot expires (the last one does: those that never expire are last), as they do in a program
    that expires points, where this is looked up at every event. A lot that never expires may
    still stand before the last one (lots kept from a program version that did not expire points,
    tests/store/test_tables.py): its None does not compare, and the general key decides, as before."""
    items, start, end = window(lots)  # a shared list's storage, bisected between its bounds
    if items is lots and type(lots) is not list:  # the step's view of a working state's lots
        counted = getattr(lots, "expiring_by", None)  # (engine/step.py): by the tuples' seconds
        found = None if counted is None else counted(moment)
        if found is not None:
            return found  # type: ignore[no-any-return]
    if end > start and items[end - 1].expires_at is not None:
        try:
            return bisect.bisect_right(items, moment, start, end, key=_EXPIRES) - start
        except TypeError:
            pass
    return bisect.bisect_right(items, (False, moment), start, end, key=expiry_order) - start


def with_lot(lots: list[Lot], lot: Lot) -> None:
    """Put a new lot in its place in `lots` (in expiry order): at the end, unless a program version
    with a shorter `expire_after` made it expire before lots earned earlier."""
    if not lots or expiry_order(lots[-1]) <= expiry_order(lot):
        lots.append(lot)
    else:
        bisect.insort_right(lots, lot, key=expiry_order)


def with_lots(lots: Sequence[Lot], new: list[Lot]) -> Sequence[Lot]:
    """`lots` with each of `new` in its place (`with_lot`), lots of one event that expire together
    (one `expiry_order`): where the first goes decides for all, so the order is looked at once.
    `lots` is not changed: at the end (the usual place), the new lots are appended to the storage
    `lots` shares (state/shared.py), without a copy of the lots before them."""
    # A long list (a `SharedList`) read through its storage's bounds (`window`): its `len()` and `[]`
    # are Python calls; a short one directly (a list's, in C: `window` would be the Python call).
    items, start, end = window(lots) if type(lots) is SharedList else (lots, 0, len(lots))
    if start == end or expiry_order(items[end - 1]) <= expiry_order(new[0]):
        return appended(lots, new)
    placed = list(lots)
    for lot in new:
        bisect.insort_right(placed, lot, key=expiry_order)
    return placed


def in_order(state: CustomerState) -> CustomerState:
    """A state whose lots are in expiry order, with the index of its pending lots: as every state
    the engine writes is. A state written before (`pending_lots` is null) is put in order once, here:
    a full look at its lots, which later events never need."""
    if state.pending_lots is not None:
        return state
    lots = sorted(state.lots, key=expiry_order)  # stable: lots expiring together stay in earned order
    since = state.last_event_at
    waiting = [lot for lot in lots if since is None or lot.available_at > since]
    pending = [lot.id for lot in sorted(waiting, key=lambda lot: lot.available_at)]
    return state.model_copy(update={"lots": lots, "pending_lots": pending})


Expired = tuple[str, Decimal, str, dt.datetime]
"""A lot that expired, as its ledger entry needs it: (rule, points, lot id, expires_at)."""


class Gone:
    """The lots expiry took out (with points, in expiry order), kept as they were: their changes
    (`transitions`) and, iterated, each as its ledger entry needs it (`Expired`) are made from them
    only when read. A long history expires lots at most events (~9 an event at 1,000 earlier
    purchases in bench/instructions.py's row), and `Engine.process` reads them only when the
    result's `points_changes` or `ledger` is: made at once, an id, a change and an entry's tuple a
    lot were made and freed for nothing by a caller that keeps only the state.

    What expiry read of them is kept with them, not read again through the model's attribute hook
    (`slot_tp_getattr_hook`, a few hundred instructions a read): each lot's field dict (`fields`,
    its `__dict__`, one hooked read a lot; the fields then items of a dict), its points (`amounts`)
    and, when expiry made them (a state with reminders), the lots' ids."""

    __slots__ = ("_ids", "amounts", "fields")

    def __init__(
        self, fields: list[dict[str, Any]], amounts: list[Decimal], ids: list[str] | None = None
    ) -> None:
        self.fields = fields  # each lot's field dict (`Lot.__dict__`), in expiry order
        self.amounts = amounts  # each lot's points, in the same order
        self._ids = ids

    def __len__(self) -> int:
        return len(self.fields)

    def ids(self) -> list[str]:
        """Each lot's id (`Lot.id`: `"/".join` of its event and rule, in C), in expiry order."""
        if self._ids is None:
            self._ids = list(map(_ID, map(_EVENT_RULE, self.fields)))
        return self._ids

    def __iter__(self) -> Iterator[Expired]:
        """Each lot as its ledger entry needs it, in expiry order."""
        fields = self.fields
        return zip(
            map(_RULE_FIELD, fields), self.amounts, self.ids(), map(_EXPIRES_FIELD, fields), strict=True
        )

    def transitions(self) -> list[Transition]:
        """Each lot's change, in expiry order (made by maps and zips in C, no Python step a lot)."""
        expires = map(_EXPIRES_FIELD, self.fields)
        changes = zip(itertools.repeat("expire"), self.ids(), self.amounts, expires, strict=False)
        return list(map(_transition, itertools.repeat(Transition), changes))

    def points(self) -> Decimal:
        """The points that expired."""
        return sum(self.amounts, ZERO)


def expire(
    state: CustomerState,
    moment: dt.datetime,
    *,
    event: str,
    version: int = 0,
    pending: list[str] | None = None,
) -> tuple[CustomerState, list[Transition], list[LedgerEntry]]:
    """Remove lots whose `expires_at` is at or before `moment`: the state after it, each change,
    and one ledger entry per lot (`expired`, the entries made). `pending`: the `pending_lots` of
    the state after it, when time passing changed them too (`points.time_passes`), set in the same
    copy of the state when lots expire (otherwise the caller sets them)."""
    state, gone = expired(state, moment, pending=pending)
    if not gone:
        return state, [], []
    return state, gone.transitions(), expiry_entries(event, version, gone)


def expired(
    state: CustomerState, moment: dt.datetime, *, pending: list[str] | None = None
) -> tuple[CustomerState, Gone | None]:
    """`expire` without its changes and ledger entries: the state after it and the lots that
    expired (`Gone`: their changes and entries made from them when read; None when none did).
    `Engine.process` makes them only when the result's changes or ledger are read.

    The lots are in expiry order: the due ones are a prefix, read until the first lot not due
    (lots at 0 or below in it stay, for returns)."""
    lots = state.lots
    if state.pending_lots is None:  # a state in the order of an earlier version: any lot may be due
        lots = sorted(lots, key=expiry_order)
    # a shared list's storage read between its bounds (state/shared.py's `window`): its `[]` is a
    # Python call
    items, start, stop = window(lots)
    if start == stop:
        return state, None
    expires_first = items[start].expires_at
    if expires_first is None or expires_first > moment:  # `expiry_order(lots[0]) > (False, moment)`
        return state, None  # the usual case: the first lot to expire is not due yet
    end = expiring_by(lots, moment)  # the lots due: a prefix
    head = items[start : start + end]
    fields = list(map(_FIELDS, head))  # each lot's fields, read once through the model's hook (`Gone`)
    amounts = list(map(_POINTS_FIELD, fields))
    # The lots with points are usually all of them (a spent lot at 0 stays, for returns), asked in C.
    if all(map(ZERO.__lt__, amounts)):
        kept: Sequence[Lot] = appended(lots, (), end)  # from the head: the storage shared, not copied
    else:
        worth = list(map(ZERO.__lt__, amounts))
        fields = list(itertools.compress(fields, worth))
        if not fields:  # the common case: nothing to do, nothing to sort
            return state, None
        amounts = list(itertools.compress(amounts, worth))
        kept = list(itertools.compress(head, map(operator.not_, worth))) + lots[end:]
    update: dict[str, object] = {"lots": kept}
    if pending is not None:
        update["pending_lots"] = pending
    reminded = state.reminded
    ids = None
    if reminded:  # reminders of lots no longer there (the ids made and filtered in C)
        ids = list(map(_ID, map(_EVENT_RULE, fields)))
        update_reminded = _reminded_after(reminded, ids)
        if update_reminded is not None:
            update["reminded"] = update_reminded
    return replaced(state, update), Gone(fields, amounts, ids)


def _reminded_after(reminded: Sequence[str], ids: list[str]) -> list[str] | None:
    """`reminded` without the `ids` of the lots that expired, in its order (None: none of them is
    there). The reminder names lots in expiry order and expiry takes the first lots: usually the
    reminded begin with exactly these ids, and the rest is a slice once they are known to hold none
    of them (a look in C at each, not a Python call to `__contains__` an id to filter them all)."""
    gone = set(ids)
    count = len(ids)
    if reminded[:count] == ids:
        rest = reminded[count:]
        if gone.isdisjoint(rest):
            return list(rest)
    if gone.isdisjoint(reminded):
        return None
    return list(itertools.filterfalse(gone.__contains__, reminded))


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


_EVENT = operator.attrgetter("event")
_RULE = operator.attrgetter("rule")
_AVAILABLE = operator.attrgetter("available_at")
_ID = "/".join  # of (event, rule): `Lot.id`, made in C
# A lot's fields as items of its field dict (`_FIELDS`: `Lot.__dict__`, one read through the model's hook)
_FIELDS = operator.attrgetter("__dict__")
_EVENT_RULE = operator.itemgetter("event", "rule")
_RULE_FIELD = operator.itemgetter("rule")
_POINTS_FIELD = operator.itemgetter("points")
_EXPIRES_FIELD = operator.itemgetter("expires_at")


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


def nothing_due(state: CustomerState, moment: dt.datetime) -> bool:
    """Whether no lot of `state` (in order, `in_order`) with points expires at or before `moment`:
    its first lot in expiry order is not due (one comparison; `expire` does the rest when it is).

    A lot at 0 (spent, or taken back by a return) stays in the lots past its expiry, for returns
    (`expire` never removes it): at the head, it would make every later event take `expire`'s
    path for nothing. So when the first lot is due and holds no points, the lots due (a prefix,
    by bisection) are asked whether any holds points, in C."""
    lots = state.lots
    items, start, end = window(lots)  # a shared list's `len()` and `[]` are Python calls
    if start == end:
        return True
    first = items[start]
    if expiry_order(first) > (False, moment):
        return True
    if first.points > 0:
        return False
    due = items[start : start + expiring_by(lots, moment)]  # a slice: `islice` walks from the start
    return not any(map(ZERO.__lt__, map(_POINTS, due)))


_POINTS = operator.attrgetter("points")


def burn(
    state: CustomerState, points: Decimal, moment: dt.datetime, *, event: str, rule: str, version: int = 0
) -> tuple[CustomerState, list[Transition], list[LedgerEntry]]:
    """Spend `points` from available lots, oldest first: the state after it, each change, and one
    ledger entry per lot it took from.

    Raises:
        EventError: RE430 when fewer points are available; the state is unchanged.
    """
    available = state.available(moment)
    if points > available:
        pending = state.pending(moment)
        hint = f"{pending} more become available later" if pending else "earn more points first"
        raise EventError(
            [Diagnostic("RE430", f"not enough points: {available} available, {points} needed", hint=hint)]
        )
    remaining = points
    spent: dict[int, Lot] = {}
    ledger: list[LedgerEntry] = []
    transitions: list[Transition] = []
    for lot in _oldest_first(state.lots):
        if remaining <= 0:
            break
        spendable = lot.available_at <= moment and (lot.expires_at is None or moment < lot.expires_at)
        if spendable and lot.points > 0:
            taken = min(lot.points, remaining)
            remaining -= taken
            transitions.append(Transition("burn", lot.id, taken, moment))
            ledger.append(ledger_entry(event, rule, "burn", -taken, lot.id, moment, version))
            # A spent lot stays, at 0: a later return still needs to know what its lines earned.
            spent[id(lot)] = lot.model_copy(update={"points": lot.points - taken})
    # The lots keep their places (expiry order, `with_lot`): spent oldest first, they are not
    # reordered by it (a version with a shorter `expire_after` makes the two orders differ).
    lots = [spent.get(id(lot), lot) for lot in state.lots]
    return state.model_copy(update={"lots": lots}), transitions, ledger
