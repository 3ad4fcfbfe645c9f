"""What time and spending do to points: expiry, and burning for rewards (pending → available is
ripening.py's).

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
from rules_engine.state.shared import SharedList, appended, window

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


_ID = "/".join  # of (event, rule): `Lot.id`, made in C
# A lot's fields as items of its field dict (`_FIELDS`: `Lot.__dict__`, one read through the model's hook)
_FIELDS = operator.attrgetter("__dict__")
_EVENT_RULE = operator.itemgetter("event", "rule")
_RULE_FIELD = operator.itemgetter("rule")
_POINTS_FIELD = operator.itemgetter("points")
_EXPIRES_FIELD = operator.itemgetter("expires_at")


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
