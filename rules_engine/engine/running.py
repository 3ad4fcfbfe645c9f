"""The tier metric as running sums over `state.activity`, so that an event costs the same at any
history.

Input: a customer state and the start of the window an event is measured in. Output: the metric
from that start on, and the running sums to keep (`CustomerState.activity_sums`). The activity
is kept in time order (`add` puts a return's entry, dated at its purchase, in its place), so the
entries that leave the window as it moves are a run at the front of what the sums hold, found by
bisection: each entry is added once and taken off once. Every entry is at or before the latest
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
from rules_engine.state.shared import appended, window

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


def _summed(entries: list[Activity], start: dt.datetime | None) -> ActivitySums:
    spend, points, visits = ZERO, ZERO, 0
    for entry in entries:  # one pass (the entries that left the window since the latest event)
        spend += entry.spend
        points += entry.points
        visits += entry.visits
    return _sums(start, spend, points, visits)


def _from(activity: Sequence[Activity], start: dt.datetime | None) -> int:
    """The index of the first entry at or after `start`."""
    if start is None:
        return 0
    items, first, end = window(activity)  # a shared list's storage, bisected between its bounds
    return bisect.bisect_left(items, _in_zone_of(activity, start), first, end, key=_at) - first


def _in_zone_of(activity: Sequence[Activity], moment: dt.datetime) -> dt.datetime:
    """`moment`, the same instant, in the timezone of the activity's times (the events'), to look
    for among them: two aware times with different timezones (a window's start is in the program's
    zone, `Europe/Moscow`; the events' times have a fixed offset) are compared by asking both for
    their UTC offset, microseconds each, a dozen times a bisection; with the same timezone object
    they compare as plain times. The order found is the same: an instant's place does not depend
    on how it is written."""
    zone = activity[0].at.tzinfo if activity else None
    if zone is None or moment.tzinfo is zone or moment.tzinfo is None:
        return moment  # nothing to gain (or times without a zone, compared as they were)
    return moment.astimezone(zone)


def sums(state: CustomerState, start: dt.datetime | None) -> ActivitySums:
    """The activity at or after `start` (None: all of it), added up; from the state's running sums
    when the window only moved forward, else from the entries."""
    known = state.activity_sums
    activity = state.activity
    if known is None:
        activity = in_time_order(activity)
        return _summed(activity[_from(activity, start) :], start)
    if known.start == start:
        return known
    if start is None or (known.start is not None and start < known.start):  # moved back: add up again
        return _summed(activity[_from(activity, start) :], start)
    left = activity[_from(activity, known.start) : _from(activity, start)]  # what left the window
    if not left:
        return replaced(known, {"start": start})
    gone = _summed(left, start)
    return _sums(start, known.spend - gone.spend, known.points - gone.points, known.visits - gone.visits)


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
    cut = _from(activity, horizon)
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
    order), else every entry (`tiers.metric` picks them)."""
    activity = state.activity
    if state.activity_sums is None:
        return activity
    items, first, last = window(activity)
    ends = bisect.bisect_left(items, _in_zone_of(activity, end), first, last, key=_at) - first
    return activity[_from(activity, start) : ends]
