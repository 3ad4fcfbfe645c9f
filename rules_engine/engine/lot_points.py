"""The points of a state's lots, kept beside the lots list: a balance without a walk over every lot.

The service answers every event with the customer's balance (http/models.py `points_of`): the
points in their lots, those available and those pending at the latest event. Walking every lot
for it cost 146 µs an answer at 300 lots (a café regular's year of lots): a fifth of a request,
growing with the history, for numbers that an event changes by a few lots.

So each lots list the engine makes keeps beside it (`_SUMS`, a `Memo` by identity, as
`lot_memos` keeps its memos) a `(total, head, ripe)`: the points of all its lots, and how many of
its first lots (`head`) are in expiry order and available by `ripe` (the latest `available_at`
among them). At a moment from `ripe` on, none of the head is pending and the head's lots expired
by then are a prefix, found by bisection (`lifecycle.expiring_by`'s key): only the lots after the
head are looked at one by one — those still pending (a pending period's lots at most) and what
follows them — and the head grows over those found available, for the next answer. Without a
memo (a list read from a store or JSON, or one a redemption, a return or an adjustment made) the
balance walks every lot once, as before, and keeps what it found.

Carried, never worked out again, to the lists made from a list that has one:
- settle's lots added at the end (`added`): the total grows by their points, the head stays;
- the return window's look (`lot_memos.past_return_window`), which keeps every lot's points and
  times (a lot past its window loses its lines, not its points) and leaves out only empty lots
  (`left_out`): the total stays, the head shrinks by as many lots as left (those that left before
  it moved it; those after it, keeping less is still true);
- expiry (`points.time_passed`), which takes due lots out and keeps the others in their order
  (`left_out` with the points that left).

The same numbers as the walk, whatever a list holds (tests/engine/test_lot_points.py compares the
two after every event of drawn streams, at hundreds of lots, with expiries, returns, redemptions
and adjustments); a decimal's trailing zeros may differ (`available` is the total less the rest),
which no writer of a balance shows (they write digits without trailing zeros) and `==` ignores.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from rules_engine.engine.lifecycle import expiry_order
from rules_engine.engine.ripening import _TAILS_KEPT
from rules_engine.state.customer import Lot
from rules_engine.state.shared import Memo, SharedList, window

ZERO = Decimal(0)

Sums = tuple[Decimal, int, dt.datetime | None]
"""What is kept of a lots list: (the points of all its lots, how many of its first lots are in
expiry order and available by the moment that follows, that moment: None with no such lot)."""

_SUMS: Memo[Sums] = Memo("memo_points", _TAILS_KEPT)


def balance(lots: Sequence[Lot], at: dt.datetime | None) -> tuple[Decimal, Decimal, Decimal]:
    """(total, available, pending) of `lots` at `at`: every lot's points; those available at `at`
    and not expired; those not available yet. Without a moment, every point is available (what
    a new customer's balance says). The same as walking every lot (module docstring)."""
    known = _SUMS.get(lots)
    if known is None and type(lots) is not SharedList and len(lots) < SHORT:
        return _walked(lots, at)  # a few lots: walked at once, cheaper than keeping a memo
    items, start, end = window(lots)
    if known is not None:
        total: Decimal | None = known[0]
        head, ripe = known[1], known[2]
        if at is None:
            return known[0], known[0], ZERO
        if head and ripe is not None and at < ripe:  # some of the head may be pending then
            head, ripe = 0, None
    else:
        total, head, ripe = None, 0, None
    expired = ZERO
    last: tuple[bool, dt.datetime] | None = None
    if head:  # available by `ripe` <= `at`, in expiry order: those expired by `at` are a prefix
        last = expiry_order(items[start + head - 1])
        due = bisect.bisect_right(items, (False, at), start, start + head, key=expiry_order)
        for index in range(start, due):
            expired += items[index].points
    rest = pending = ZERO
    growing = at is not None
    for index in range(start + head, end):
        lot = items[index]
        points = lot.points
        rest += points
        if at is None:
            continue
        available_at = lot.available_at
        if available_at > at:
            pending += points
            growing = False
            continue
        expires = lot.expires_at
        if expires is not None and at >= expires:
            expired += points
        if growing:  # the head grows over a lot available now that keeps the expiry order
            order = (True, lot.earned_at) if expires is None else (False, expires)
            if last is None or order >= last:
                head += 1
                last = order
                ripe = available_at if ripe is None or available_at > ripe else ripe
            else:
                growing = False
    if total is None:
        total = rest
    _SUMS.put(lots, (total, head, ripe))
    if at is None:
        return total, total, ZERO
    return total, total - pending - expired, pending


SHORT = 32
"""A lots list shorter than this, without a memo, is walked and gets none: a customer's first
months cost less walked than kept (a memo looked up and bisected: ~7 µs against ~0.5 at 2 lots,
timeit at load ~20); the first answer at this many lots keeps one, carried from then on."""


def _walked(lots: Sequence[Lot], at: dt.datetime | None) -> tuple[Decimal, Decimal, Decimal]:
    """`balance` by a look at every lot (what `points_of` did before the memo)."""
    total = available = pending = ZERO
    for lot in lots:
        points = lot.points
        total += points
        if at is not None:
            if lot.available_at > at:
                pending += points
            elif lot.expires_at is None or at < lot.expires_at:
                available += points
    return total, available if at is not None else total, pending


def added(before: Sequence[Lot], after: Sequence[Lot], new: Sequence[Lot]) -> None:
    """`after` is `before` with the lots `new` added at its end (settle, when `lifecycle.with_lots`
    appended them): what is kept for `before`, if anything, holds for `after` with their points
    added. Lots put in among the others (`after[len(before) - 1]` is not `before`'s last) keep
    nothing for `after`."""
    known = _SUMS.get(before)
    if known is None or after is before or not new:
        return
    # the lengths and the lots compared read through the storages' bounds: a `SharedList`'s `len()`
    # and `[]` are Python calls
    items, start, end = window(before)
    after_items, after_start, after_end = window(after)
    count = end - start
    if after_end - after_start != count + len(new) or (
        count and after_items[after_start + count - 1] is not items[end - 1]
    ):
        return
    total = known[0]
    for lot in new:
        total += lot.points
    _SUMS.put(after, (total, known[1], known[2]))


def left_out(before: Sequence[Lot], after: Sequence[Lot], points: Decimal = ZERO) -> None:
    """`after` is `before` without some of its lots, the others in their order with their points
    and times (copies or themselves), and the lots that left held `points` in all (none: the
    return window's empty lots): what is kept for `before`, if anything, holds for `after`, the
    total less `points` and the head shorter by as many lots as left."""
    if after is before:
        return
    known = _SUMS.get(before)
    if known is None:
        return
    _, start, end = window(before)  # (`window`: a shared list's `len()` is a Python call)
    _, after_start, after_end = window(after)
    gone = (end - start) - (after_end - after_start)
    if gone < 0:
        return
    head = max(0, known[1] - gone)
    _SUMS.put(after, (known[0] - points, head, known[2] if head else None))
