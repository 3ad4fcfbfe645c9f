"""Tiers on a customer's working state: a purchase's activity and tier decided on ints and tuples.

Why. On the step in place (engine/step.py) the tiers mechanic was a quarter of a purchase's cost:
an `Activity` model with its lists appended to the state's activity, an `ActivitySums` model, and
a copy of the state for the change. A step's run carries the customer's `Working` (`run.working`),
whose activity is a deque of tuples and whose running sums are a tuple of ints (state/compact.py):
`for_working(plan)` is `tiers.for_purchase`'s mechanic on those, deciding the same tier, change,
trace and progress from the same sums.

What it changes: nothing, while the step can still fall back to `process`. It leaves what it
decided in `working.tier_update` — the activity's new tuple, how many tuples leave the head, the
new sums' tuple, the tier and since when — and the step applies it once the event is decided
(`step._settled`): the cold state the next step reads then holds the tier, and the activity as a
view over the deque (`compact.ActivityView`, each model made when read), its sums made when a
reader needs them (a tier review, the downgrade reminder: `step.purchase`).

Input: the run of a purchase on the step's path and its working state. Output: True when decided
here; False when the general way must decide it (`tiers.for_purchase`'s models): a purchase dated
before the latest activity, a state written before the sums were kept, times without a timezone.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

from rules_engine import periods
from rules_engine.engine.later import Later
from rules_engine.engine.outcome import TierChange
from rules_engine.engine.plan import Plan
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import simple_verdict
from rules_engine.program.model import TierLevel, Tiers
from rules_engine.state.compact import (
    ACT_AT,
    ACT_POINTS,
    ACT_SPEND,
    ACT_VISITS,
    ACT_ZONE,
    ActivityTuple,
    Units,
    decimal_of,
    exponent,
    minor_of,
    minus_money,
    money_of,
    plus_money,
    seconds,
    units_of,
)

ZERO = Decimal(0)
_AT = itemgetter(ACT_AT)

Totals = tuple[Units, Units, int]


def reaching(tiers: Tiers, value: Decimal | int, level: TierLevel, current: str | None) -> TierChange:
    """The change of a customer reaching `level` from `current` on the metric's `value`: one
    wording wherever a tier is reached by activity (here, and `tiers.py`'s general way)."""
    reason = f"{tiers.qualify_on} {value} in {tiers.window} reaches {level.id} (from {level.threshold})"
    return TierChange(old=current, new=level.id, reason=reason)


def reach(run: Run, tiers: Tiers, value: Decimal | int, level: TierLevel, current: str | None) -> None:
    """`reaching`'s change recorded in the run: the outcome's tier changes and the trace."""
    change = reaching(tiers, value, level, current)
    run.tier_changes.append(change)
    run.trace.append(simple_verdict(f"tier:{level.id}", "tier", True, "fired", change.reason))


def for_working(
    plan: Plan,
    progress: Callable[..., Any],
    following: dict[str | None, tuple[str, Decimal] | None],
) -> Callable[[Run, Any], bool]:
    """The mechanic on a working state for the program `plan` describes (the module docstring);
    `progress` and `following` are `tiers.for_purchase`'s (what `tier_progress` names)."""
    program = plan.program
    tiers = program.tiers
    assert tiers is not None
    decimals = -exponent(plan.quantum)
    windows = [tiers.window, *(board.window for board in program.leaderboards)]
    window_kind, length = tiers.window.kind, tiers.window.length
    calendar = periods.WINDOWS[window_kind] if window_kind not in ("rolling", "lifetime") else None
    lifetime = any(w.kind == "lifetime" for w in windows)
    rolling_only = all(w.kind == "rolling" for w in windows)
    twice = max((2 * w.length for w in windows if w.length is not None), default=dt.timedelta(0))
    within = int(twice.total_seconds()) - 2 * 86_400  # seconds before an event surely inside it
    qualify_on = tiers.qualify_on
    metric_at = ("spend", "points", "visits").index(qualify_on)
    # the highest first, each threshold also as the metric's tuple value compares with it (money
    # in minor units: an int of them compares exactly with the threshold moved by the decimals)
    levels = [
        (level.threshold.scaleb(decimals) if metric_at == 0 else level.threshold, level.threshold, level)
        for level in reversed(tiers.levels)
    ]
    index = plan.tier_positions
    tier_window = plan.tier_window
    first = following[None]

    def horizon_of(local: dt.datetime) -> dt.datetime:
        """The oldest moment a window still needs (`tiers_windows.window_horizon`, the earliest of them)."""
        if rolling_only:
            return periods.instant(local - twice)
        made = []
        for window in windows:
            if window.kind == "rolling":
                assert window.length is not None
                made.append(periods.instant(local - 2 * window.length))
            elif window.kind != "lifetime":
                period = periods.WINDOWS[window.kind]
                start = periods.start(period, periods.start(period, local) - dt.timedelta(seconds=1))
                made.append(periods.instant(start))
        return min(made)

    def tiers_on_working(run: Run, working: Any) -> bool:
        activity = working.activity
        known = working.sums
        event = run.event
        at = event.time
        zone = at.tzinfo
        if zone is None:
            return False
        view = working.lots_view  # the step's moment in seconds, worked out once (step_views.Lots)
        now = view.now if view is not None else None
        if now is None:
            now = seconds(at)
        if activity:
            last = activity[-1]
            if known is None or last[ACT_AT] > now or last[ACT_ZONE] is None or activity[0][ACT_ZONE] is None:
                return False  # a state from before the sums, a late purchase, naive times
        if known is not None and known[0] is not None and known[4] is None:
            return False
        remaining = run.remaining
        spend_paid = sum(remaining, ZERO)
        points_given = ZERO
        for award in run.effects_points:
            points_given += award.points
        spend = minor_of(spend_paid, decimals)
        points = units_of(points_given)
        qty = run.quantities[:-1]  # each line's (the run's list ends with the shipping's 1)
        entry: ActivityTuple = (now, spend, points, 1, event.id, list(remaining), qty, zone, None)
        local = run.local
        # the tier window's start at the event (`tiers_windows.window_bounds`)
        if window_kind == "rolling":
            start_at: dt.datetime | None = periods.instant(local - length)  # type: ignore[operator]
        elif calendar is not None:
            start_at = periods.instant(periods.start(calendar, local))
        else:
            start_at = None
        start = None if start_at is None else _instant(start_at)
        start_zone = None if start_at is None else start_at.tzinfo
        cut = 0
        if known is None:  # a new customer's first activity: the sums start with it
            totals: Totals = (spend, points, 1)
            sums = (start, spend, points, 1, start_zone, None)
        else:
            since, since_zone = known[0], known[4]
            totals = (known[1], known[2], known[3])
            changed = False
            if since is None or now >= since:
                totals = (plus_money(totals[0], spend, decimals), totals[1] + points, totals[2] + 1)
                changed = True
            moved = False
            # the activity no window needs any more leaves (`tiers.record_activity`); not looked for
            # while the oldest entry is two days inside the longest rolling window's twice (a zone's
            # offsets differ by less than a day: the horizon is before it)
            if not lifetime and activity and not (rolling_only and activity[0][ACT_AT] >= now - within):
                horizon_at = horizon_of(local)
                horizon = _instant(horizon_at)
                if activity[0][ACT_AT] < horizon:
                    cut = bisect.bisect_left(activity, horizon, key=_AT)
                    if since is None or since < horizon:
                        left = moved_sums(activity, 0, since, horizon, totals, decimals)
                        if left is not None:
                            totals, changed = left, True
                        since, since_zone, moved = horizon, horizon_at.tzinfo, True
            if since != start:  # the sums moved to the window's start (`running.sums`)
                if start is None or (since is not None and start < since):  # moved back: add up again
                    totals = _summed(activity, cut, start, entry, decimals)
                else:
                    left = moved_sums(activity, cut, since, start, totals, decimals)
                    if left is not None:
                        totals = left
                changed = moved = True
                since, since_zone = start, start_zone
            elif since_zone is not start_zone and start is not None:
                since_zone, moved = start_zone, True  # the same instant, written as the start is
            sums = (since, *totals, since_zone, None) if changed or moved else known
        metric = totals[metric_at]
        plain = type(metric) is not int or metric_at != 0  # else minor units: the bounds compare
        state = run.state
        current, held = state.tier, state.tier_since
        reached = None
        for bound, threshold, level in levels:  # the highest level reached
            if (threshold if plain else bound) <= metric:
                reached = level
                break
        if reached is not None and (current not in index or index[reached.id] > index[current]):
            value = _value(metric, metric_at, decimals)
            reach(run, tiers, value, reached, current)
            current, held = reached.id, at
        working.tier_update = (entry, cut, sums, current, held)
        after = following.get(current, first) if current else first
        later = Later(_progress, progress, current, metric, metric_at, decimals, tier_window, after)
        run.tier_progress = later  # type: ignore[assignment]
        return True

    return tiers_on_working


def _instant(moment: dt.datetime) -> Any:
    """`seconds(moment)` of an aware time in the program's zone (a `ZoneInfo`, which `seconds` reads
    by subtraction): in C by `timestamp()` when it has no microseconds (a float, exact for whole
    seconds in any year a state holds), else `seconds`."""
    if moment.microsecond or moment.tzinfo is None:
        return seconds(moment)
    return int(moment.timestamp())


def _value(metric: Units, metric_at: int, decimals: int) -> Decimal:
    """The metric's `Decimal` (as the models' sums hold it) of its tuple value."""
    if metric_at == 0:
        return money_of(metric, decimals)
    return decimal_of(metric) if metric_at == 1 else Decimal(metric)


def _progress(
    progress: Callable[..., Any], tier: str | None, metric: Units, metric_at: int, decimals: int, *rest: Any
) -> Any:
    """`progress` (`tiers_windows.progress_of`) with the metric's `Decimal`, made when read."""
    return progress(tier, _value(metric, metric_at, decimals), *rest)


def moved_sums(
    activity: Sequence[ActivityTuple], first: int, since: Any, start: Any, totals: Totals, decimals: int
) -> Totals | None:
    """`running.moved` on the tuples from `first` on: the sums from `since` on (None: all), less the
    entries in [since, start). None when none left."""
    end = len(activity)
    index = first
    if since is not None and first < end and activity[first][ACT_AT] < since:
        index = bisect.bisect_left(activity, since, first, end, key=_AT)
    if index == end or activity[index][ACT_AT] >= start:  # the usual answer: one comparison
        return None
    spend: Units | None = None  # the first entry's as `ZERO + spend` gives it: the same exponent
    points: Units = 0
    visits = 0
    while index < end:
        made = activity[index]
        if made[ACT_AT] >= start:
            break
        paid = made[ACT_SPEND]
        if spend is not None:
            spend = plus_money(spend, paid, decimals)
        else:
            spend = paid if type(paid) is int else minor_of(ZERO + money_of(paid, decimals), decimals)
        points += made[ACT_POINTS]
        visits += made[ACT_VISITS]
        index += 1
    assert spend is not None
    return minus_money(totals[0], spend, decimals), totals[1] - points, totals[2] - visits


def returned_sums(
    activity: Sequence[ActivityTuple], start: Any, since: Any, totals: Totals, decimals: int
) -> tuple[Totals, int]:
    """The running sums `totals` from `since` on, moved back to `start` (before it: a wall time in
    a daylight-saving fold or gap, `periods.instant`): plus the entries in [start, since), which
    are still held (the horizon is a window before `start`); with the index of the first entry at
    or after `start`."""
    low = bisect.bisect_left(activity, start, key=_AT)
    high = bisect.bisect_left(activity, since, low, key=_AT)
    spend, points, visits = totals
    for index in range(low, high):
        made = activity[index]
        spend = plus_money(spend, made[ACT_SPEND], decimals)
        points += made[ACT_POINTS]
        visits += made[ACT_VISITS]
    return (spend, points, visits), low


def _summed(
    activity: Sequence[ActivityTuple], first: int, start: Any, entry: ActivityTuple, decimals: int
) -> Totals:
    """`running.summed` of the tuples from `first` on and the event's, those at or after `start`."""
    spend: Units = minor_of(ZERO, decimals)
    points: Units = 0
    visits = 0
    for made in [*(activity[i] for i in range(first, len(activity))), entry]:
        if start is None or made[ACT_AT] >= start:
            spend = plus_money(spend, made[ACT_SPEND], decimals)
            points += made[ACT_POINTS]
            visits += made[ACT_VISITS]
    return spend, points, visits
