"""The tier metric as running sums over `state.activity`, so that an event costs the same at any
history.

Input: a customer state and the start of the window an event is measured in. Output: the metric
from that start on, and the running sums to keep (`CustomerState.activity_sums`). The activity
is kept in time order (`add` puts a return's entry, dated at its purchase, in its place), so the
entries that leave the window as it moves are a run at the front of what the sums hold: each entry
is added once and taken off once. Where that run starts (the first entry at or after the sums'
start) is kept beside the activity list the engine made (`kept_from`, a memo on the list), so
that an event walks from it over just the entries that leave; without it (a list read from a
store, a state made by hand) it is found by bisection. Every entry is at or before the latest
event (events come in time order), so a window "ending at the event" is "from its start on".

A state written before the sums were kept (`activity_sums` null) is added up once, in full.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import operator
from collections.abc import Sequence
from decimal import Decimal

from rules_engine.engine.trusted import replaced, trusted
from rules_engine.state.customer import Activity, ActivitySums, CustomerState
from rules_engine.state.shared import Memo, appended, window

ZERO = Decimal(0)
_SUMS_GIVEN = {"start", "spend", "points", "visits"}


def _sums(start: dt.datetime | None, spend: Decimal, points: Decimal, visits: int) -> ActivitySums:
    """`ActivitySums(start=…, spend=…, points=…, visits=…)` of values already valid (trusted.py):
    made on every purchase, where validating them again cost more than the sums."""
    return trusted(
        ActivitySums, {"start": start, "spend": spend, "points": points, "visits": visits}, _SUMS_GIVEN
    )


# An entry's `at`, read in C: the bisections below call it a dozen times each, several times an
# event (a Python function's call cost more than the comparisons).
_at = operator.attrgetter("at")


def in_time_order(activity: list[Activity]) -> list[Activity]:
    """The entries by `at` (stable): as the engine keeps them; a state written before may not."""
    ordered = all(a.at <= b.at for a, b in itertools.pairwise(activity))
    return activity if ordered else sorted(activity, key=_at)


def summed(entries: list[Activity], start: dt.datetime | None) -> ActivitySums:
    spend, points, visits = ZERO, ZERO, 0
    for entry in entries:  # one pass (the entries that left the window since the latest event)
        spend += entry.spend
        points += entry.points
        visits += entry.visits
    return _sums(start, spend, points, visits)


def index_from(activity: Sequence[Activity], start: dt.datetime | None) -> int:
    """The index of the first entry at or after `start`: 0 at once when the first entry is, else
    looked for among the first `_NEAR` entries, then by bisection (a horizon or a window start
    moves forward a few entries an event). `start` is compared in the entries' own zone."""
    if start is None:
        return 0
    items, first, end = window(activity)  # a shared list's storage, bisected between its bounds
    if first == end:
        return 0
    head = items[first].at
    bound = _in_zone_of(head.tzinfo, start)  # for the comparisons below
    if head >= bound:  # the usual answer for a horizon, which the entries leave one at a time
        return 0
    low, high = first + 1, end
    near = first + _NEAR
    if near < end:  # the answer is at or before `near`, or after it
        if items[near].at >= bound:
            high = near
        else:
            low = near + 1
    return bisect.bisect_left(items, bound, low, high, key=_at) - first


_NEAR = 8
"""How many entries after the head `index_from` looks among first."""


def _in_zone_of(zone: dt.tzinfo | None, moment: dt.datetime) -> dt.datetime:
    """`moment`, the same instant, in `zone`, the timezone of the activity's times (the events'),
    to look for among them: two aware times with different timezones (a window's start is in the
    program's zone, `Europe/Moscow`; the events' times have a fixed offset) are compared by asking
    both for their UTC offset, microseconds each, a dozen times a bisection; with the same
    timezone object they compare as plain times. The order found is the same: an instant's place
    does not depend on how it is written."""
    if zone is None or moment.tzinfo is zone or moment.tzinfo is None:
        return moment  # nothing to gain (or times without a zone, compared as they were)
    return moment.astimezone(zone)


def moved(
    activity: Sequence[Activity],
    known: dt.datetime | None,
    start: dt.datetime,
    totals: tuple[Decimal, Decimal, int],
    found: int | None = None,
) -> tuple[tuple[Decimal, Decimal, int] | None, int]:
    """The running sums `totals` (spend, points, visits) of the activity from `known` on, moved
    forward to `start` (`known` is None or before it): less the entries in [known, start), walked
    over from the first entry at or after `known` (`found`, the index `kept_from` gives, else found
    by bisection), each entry leaving once. With them, the index of the first entry at or after
    `start` (`keep`). None for the sums when none left."""
    items, first, end = window(activity)
    index = first + (found if found is not None else index_from(activity, known))
    if index == end:
        return None, index - first
    bound = _in_zone_of(items[first].at.tzinfo, start)  # for the walk's comparisons
    entry = items[index]
    if entry.at >= bound:  # the usual answer: one comparison
        return None, index - first
    spend, points, visits = ZERO, ZERO, 0
    while True:  # the entries that left the window since the latest event, in order
        spend += entry.spend
        points += entry.points
        visits += entry.visits
        index += 1
        if index == end:
            break
        entry = items[index]
        if entry.at >= bound:
            break
    return (totals[0] - spend, totals[1] - points, totals[2] - visits), index - first


# Where the running sums' window starts in an activity list the engine made: (the sums' `start`,
# the index of the first entry at or after it). Kept on the list itself (a state's lists never
# change), keyed by the very `start` object the state's sums hold.
_SINCE: Memo[tuple[dt.datetime | None, int]] = Memo("memo_since")


def kept_from(activity: Sequence[Activity], since: dt.datetime | None, dropped: int = 0) -> int | None:
    """The index of the first entry of `activity` at or after `since`, when `keep` kept it for this
    very list and this very start, less `dropped` (entries that left the head since: it is one of
    a list appended to or cut from `activity`); else None (`index_from` finds it)."""
    kept = _SINCE.get(activity)
    if kept is not None and kept[0] is since and kept[1] >= dropped:
        return kept[1] - dropped
    return None


def keep(activity: Sequence[Activity], since: dt.datetime | None, index: int) -> None:
    """Keep beside `activity` that its first entry at or after `since` is at `index` (`kept_from`)."""
    _SINCE.put(activity, (since, index))


def sums(state: CustomerState, start: dt.datetime | None) -> ActivitySums:
    """The activity at or after `start` (None: all of it), added up; from the state's running sums
    when the window only moved forward, else from the entries."""
    known = state.activity_sums
    activity = state.activity
    if known is None:
        activity = in_time_order(activity)
        return summed(activity[index_from(activity, start) :], start)
    if known.start == start:  # the same instant: written as `start` is (its offset), as every path writes it
        written = known.start
        if (
            written is None
            or start is None
            or written.tzinfo is start.tzinfo
            or written.utcoffset() == start.utcoffset()
        ):
            return known
        return replaced(known, {"start": start})
    if start is None or (known.start is not None and start < known.start):  # moved back: add up again
        return summed(activity[index_from(activity, start) :], start)
    left, _ = moved(activity, known.start, start, (known.spend, known.points, known.visits))
    if left is None:  # nothing left the window
        return replaced(known, {"start": start})
    return _sums(start, *left)


def value(kind: str, totals: ActivitySums) -> Decimal:
    """One metric (spend, points, visits) of the sums."""
    return Decimal(totals.visits) if kind == "visits" else totals.spend if kind == "spend" else totals.points


def add(state: CustomerState, entry: Activity) -> dict[str, object]:
    """The state's update for a new activity entry: put in its place in time order, and counted in
    the running sums if it falls in their window."""
    activity: Sequence[Activity] = state.activity
    if not activity or activity[-1].at <= entry.at:  # appended, sharing the storage (state/shared.py)
        activity = appended(activity, (entry,))
    else:  # a return's entry, dated at its purchase
        activity = list(activity)
        bisect.insort_right(activity, entry, key=_at)
    update: dict[str, object] = {"activity": activity}
    known = state.activity_sums
    if known is not None and (known.start is None or entry.at >= known.start):
        update["activity_sums"] = _sums(
            known.start, known.spend + entry.spend, known.points + entry.points, known.visits + entry.visits
        )
    return update


def trimmed(state: CustomerState, horizon: dt.datetime, *, own: bool = False) -> dict[str, object]:
    """The state's update that leaves out the activity before `horizon` (no window needs it), the
    running sums moved past it first if they still count some of it. The entries leave the head of
    the storage the activity shares (state/shared.py), not a copy of a long history's activity;
    `own`: the state's activity is a plain list the caller just made (`add`) and nothing else
    holds, changed in place."""
    activity = state.activity
    cut = index_from(activity, horizon)
    if not cut:
        return {}
    known = state.activity_sums
    moves = known is not None and (known.start is None or known.start < horizon)
    moved = sums(state, horizon) if moves else None  # read before the entries leave
    kept: Sequence[Activity]
    if own and isinstance(activity, list):
        del activity[:cut]
        kept = activity
    else:
        kept = appended(activity, (), cut)
    update: dict[str, object] = {"activity": kept}
    if moved is not None:
        update["activity_sums"] = moved
    return update


def between(state: CustomerState, start: dt.datetime, end: dt.datetime) -> list[Activity]:
    """The entries in [start, end): found by bisection in a state the engine wrote (in time
    order), else every entry (`tiers_windows.metric` picks them)."""
    activity = state.activity
    if state.activity_sums is None:
        return activity
    items, first, last = window(activity)
    zone = items[first].at.tzinfo if first < last else None
    ends = bisect.bisect_left(items, _in_zone_of(zone, end), first, last, key=_at) - first
    return activity[index_from(activity, start) : ends]
