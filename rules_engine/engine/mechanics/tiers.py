"""Tiers over time: the qualifying metric, upgrades at once, downgrades only at review time.

Policy (docs/engine.md, "Tiers"):
- Every purchase adds an `Activity` to the state: the money paid for the goods after discounts
  (`spend`), the points the event gave (`points`), and one `visit`.
- The metric is the sum over the tier window: `rolling <length>` ending at the event, or the
  calendar period (program timezone) the event falls in, or the whole lifetime.
- **Upgrade** as soon as the metric reaches a higher level's threshold, at the end of the event
  that reached it; the new tier's benefits apply from the next event.
- **Downgrade** only at review time: the end of the hold (`tiers.hold`: the rest of the calendar
  period it was reached in, the whole period after it — the default of calendar windows —, a
  time; unset with a rolling window, one window length) plus `downgrade_grace`. At that moment
  the metric `reviewed_metric` names decides: keep the tier, or drop one level (`one_level`) or
  straight to the level the metric supports (`to_qualified`). The next hold starts then.
- Progress to the next tier (metric, next level, how much is missing) is in the outcome.

`apply` is the mechanic on the explaining path and for every event the generated path does not
take; `for_purchase(plan)` is the same mechanic specialised once per program for a purchase it
takes (mechanics/__init__.py). `reviews(tiers, zone)` keeps what the reviews decide once per
program, so that `elapse`, run before every event, costs one comparison when nothing is due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal

from rules_engine import periods
from rules_engine.engine import running
from rules_engine.engine.events import Purchase
from rules_engine.engine.later import Later
from rules_engine.engine.mechanics import tiers_working
from rules_engine.engine.mechanics.tiers_windows import (
    OFFSETS_APART,
    ZERO,
    calendar_of,
    metric,
    progress_of,
    qualified,
    surely_inside,
    window_bounds,
    window_horizon,
)
from rules_engine.engine.money import money_sum
from rules_engine.engine.outcome import TierChange
from rules_engine.engine.plan import Plan
from rules_engine.engine.run import Run, change_state
from rules_engine.engine.trusted import replaced, simple_verdict, trusted
from rules_engine.program.model import HoldFor, Program, Tiers
from rules_engine.state.customer import Activity, ActivitySums, CustomerState
from rules_engine.state.shared import appended, window

# The records below are made from values of the right types already (trusted: not validated again).
_ACTIVITY = {"event", "at", "spend", "points", "visits", "paid", "qty"}


def review_at(tiers: Tiers, since: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
    """When a tier reached (or last reviewed) at `since` is reviewed: the end of its hold plus the
    grace. `hold`: `{for: 365d}` after `since`; `rest_of_period`: the end of the calendar period
    `since` falls in; `next_period` (unset, calendar windows): the end of the period after it;
    unset with a rolling window: one window length after `since`; lifetime: never."""
    window = tiers.window
    grace = tiers.downgrade_grace or dt.timedelta(0)
    hold = tiers.hold
    if isinstance(hold, HoldFor):
        return since + hold.for_ + grace
    if window.kind == "lifetime":
        return None
    if window.kind == "rolling":
        assert window.length is not None
        return since + window.length + grace
    period = calendar_of(window)
    ends = periods.following(period, periods.start(period, since.astimezone(zone)))
    if hold == "rest_of_period":
        return ends + grace
    return periods.following(period, ends) + grace


def record_activity(run: Run) -> None:
    """Add this purchase's spend, points and visit to the state, for tiers and leaderboards;
    keep only what their windows can still need (a calendar review looks one period back)."""
    program = run.program
    windows = ([program.tiers.window] if program.tiers else []) + [
        board.window for board in program.leaderboards
    ]
    if not windows:
        return
    event = run.event
    added = False  # whether `add` made the activity list: the trim below is then done in place
    if isinstance(event, Purchase):
        added = True
        # in minor units, as the stages decide (their lines' units are looked up already: no cost)
        spend = money_sum(run.remaining, run.plan.quantum)
        points = sum((award.points for award in run.effects_points), ZERO)
        values = {
            "event": event.id,
            "at": event.time,
            "spend": spend,
            "points": points,
            "visits": 1,
            "paid": list(run.remaining),
            "qty": [line.qty for line in event.items],
        }
        change_state(run, running.add(run.state, trusted(Activity, values, _ACTIVITY)))
    horizons = [window_horizon(window, run.local) for window in windows]
    if None not in horizons:
        horizon = min(h for h in horizons if h is not None)
        update = running.trimmed(run.state, horizon, own=added)
        if update:  # usually nothing left the windows since the last event
            change_state(run, update)


def reviewed_metric(
    tiers: Tiers, state: CustomerState, due: dt.datetime, moment: dt.datetime, zone: dt.tzinfo
) -> Decimal:
    """The metric a review due at `due` decides on, as known at `moment`: the window ending at
    `moment` (rolling, lifetime), the calendar period that ends before the review (calendar, held
    for the next period), or the calendar period of the review up to it (calendar, held for the
    rest of a period or for a time)."""
    if tiers.window.kind == "rolling":  # the window ending at `moment`: every entry is before it
        start = periods.instant(moment - (tiers.window.length or dt.timedelta(0)))
        return running.value(tiers.qualify_on, running.sums(state, start))
    if tiers.window.kind == "lifetime":
        return running.value(tiers.qualify_on, running.sums(state, None))
    period = calendar_of(tiers.window)
    if tiers.hold is not None and tiers.hold != "next_period":
        # held for the rest of a period or for a time: the window as it stands at the review,
        # the calendar period the review falls in (a grace gives time to qualify again in it)
        start = periods.start(period, due.astimezone(zone))
        end = min(moment, due) + dt.timedelta(microseconds=1)
        return metric(tiers.qualify_on, running.between(state, start, end), start, end)
    grace = tiers.downgrade_grace or dt.timedelta(0)
    ended_end = periods.start(period, (due - grace).astimezone(zone))
    ended_start = periods.start(period, (ended_end - dt.timedelta(seconds=1)).astimezone(zone))
    return metric(tiers.qualify_on, running.between(state, ended_start, ended_end), ended_start, ended_end)


def at_risk(
    tiers: Tiers,
    state: CustomerState,
    moment: dt.datetime,
    zone: dt.tzinfo,
    before: dt.timedelta | None = None,
) -> dt.datetime | None:
    """The review date, when the customer's tier would drop at it on the metric as it stands at
    `moment`; else None. With `before`, only a review less than that ahead of `moment` is looked
    at (the metric is not worked out for a later one)."""
    if state.tier is None or state.tier_since is None:
        return None
    facts = reviews(tiers, zone)
    due = facts.due(state.tier_since)
    threshold = facts.thresholds.get(state.tier)
    if due is None or threshold is None:
        return None
    if before is not None and not moment < due <= moment + before:
        return None
    if reviewed_metric(tiers, state, due, moment, zone) >= threshold:
        return None
    return due


def review(
    tiers: Tiers, state: CustomerState, moment: dt.datetime, zone: dt.tzinfo
) -> tuple[str | None, dt.datetime | None, list[TierChange]]:
    """The tier after every review due at or before `moment`: (tier, tier_since, changes).

    Each review is done at its own moment, the due date, whatever comes later (an event, an
    `Engine.advance`, both or neither): the metric is the one at the due date, a new holding
    period starts at it (so rolling reviews do not drift with the events that happen to come),
    and the next review, if that one is due too, follows from it. Called before an event is
    decided (`elapse`), so the event is priced and earned with the reviewed tier.
    """
    levels = tiers.levels
    index = {level.id: i for i, level in enumerate(levels)}
    current, since = state.tier, state.tier_since
    changes: list[TierChange] = []
    while current is not None and since is not None and current in index:
        due = review_at(tiers, since, zone)
        if due is None or moment < due:
            break
        reviewed = reviewed_metric(tiers, state, due, due, zone)
        supports = qualified(tiers, reviewed)
        supported = index[supports.id] if supports else -1
        if supported < index[current]:
            target = index[current] - 1 if tiers.downgrade == "one_level" else supported
            new = levels[target].id if target >= 0 else None
            reason = (
                f"review on {due.astimezone(zone).date()}: "
                f"{tiers.qualify_on} {reviewed} is below {levels[index[current]].threshold}"
            )
            changes.append(TierChange(old=current, new=new, reason=reason))
            current = new
        since = due
    return current, since, changes


def elapse(
    tiers: Tiers | None, state: CustomerState, moment: dt.datetime, zone: dt.tzinfo
) -> tuple[CustomerState, list[TierChange]]:
    """The state after the tier reviews due up to `moment` (`review`), and their changes: what
    time does to the tier, before an event and for `Engine.advance`."""
    if tiers is None or state.tier is None:
        return state, []
    facts = reviews(tiers, zone)
    if state.tier in facts.thresholds:  # no tier removed: nothing to do unless a review is due
        since = state.tier_since
        if since is None:
            return state, []
        due = facts.due(since)
        if due is None or moment < due:  # the usual answer, for every event: one comparison
            return state, []
    moved = removed(tiers, state)
    if moved is not None:
        state = replaced(state, {"tier": moved.new, "tier_since": state.tier_since if moved.new else None})
    tier, since, changes = review(tiers, state, moment, zone)
    if moved is not None:
        changes = [moved, *changes]
    if tier == state.tier and since == state.tier_since:
        return state, changes
    return replaced(state, {"tier": tier, "tier_since": since}), changes


def removed(tiers: Tiers, state: CustomerState) -> TierChange | None:
    """The move of a customer whose tier this version of the program no longer has, by the rule
    it states (`removed_tiers.move_to`), before anything else is decided; None when their tier
    is one of the levels, or the program states no rule (a store refuses such a program, RE613).
    The holding period goes on from when they reached the removed tier."""
    if (
        tiers.removed_tiers is None
        or state.tier is None
        or any(level.id == state.tier for level in tiers.levels)
    ):
        return None
    target = tiers.removed_tiers.move_to
    reason = (
        f"tier {state.tier} is no longer in the program: its members move to "
        f"{target or 'no tier'} (tiers.removed_tiers)"
    )
    return TierChange(old=state.tier, new=target, reason=reason)


def reviewed(run: Run, changes: list[TierChange]) -> None:
    """Report the reviews done before the event (`elapse`) in its outcome and trace."""
    run.tier_changes += changes
    for change in changes:
        run.trace.append(simple_verdict(f"tier:{change.new or 'none'}", "tier", True, "fired", change.reason))


def idle(program: Program) -> bool:
    """Whether the mechanic can do nothing for `program`, whatever the event (it is not called):
    without tiers and leaderboards no activity is recorded."""
    return program.tiers is None and not program.leaderboards


def apply(run: Run) -> None:
    """The mechanic: the event's activity recorded, then the tier reviewed and upgraded."""
    record_activity(run)
    update_tier(run)


def update_tier(run: Run) -> None:
    """Upgrade if the metric reached a level (after `record_activity`). A review that was due was
    done before the event was decided (`elapse`), at its own moment."""
    tiers = run.program.tiers
    if tiers is None:
        return
    event = run.event
    state: CustomerState = run.state
    levels = tiers.levels
    index = run.plan.tier_positions
    local = run.local
    start, _ = window_bounds(tiers.window, local)
    # Reviews were done at their own moments before the event was decided (`elapse`).
    current, since = state.tier, state.tier_since
    changes: list[TierChange] = []
    sums = running.sums(state, start)  # the window ends at the event: every entry is before it
    value = running.value(tiers.qualify_on, sums)
    reached = qualified(tiers, value)
    if reached is not None and (current not in index or index[reached.id] > index[current]):
        changes.append(tiers_working.reaching(tiers, value, reached, current))
        current, since = reached.id, event.time
    change_state(run, {"tier": current, "tier_since": since, "activity_sums": sums})
    run.tier_changes += changes
    for change in changes:
        run.trace.append(simple_verdict(f"tier:{change.new or 'none'}", "tier", True, "fired", change.reason))
    position = index.get(current, -1) if current else -1
    following = levels[position + 1] if position + 1 < len(levels) else None
    after = (following.id, following.threshold) if following else None
    run.tier_progress = progress_of(current, value, run.plan.tier_window, after)


# -- decided once per program ---------------------------------------------------------------------


class Reviews:
    """What a program's tiers decide once for their reviews (`reviews(tiers, zone)`): each level's
    threshold, and when a tier held since a moment is reviewed (`due`, as `review_at`), so that
    `elapse`, which runs before every event, answers "nothing is due" with one comparison."""

    __slots__ = ("_after", "_calendar", "_dues", "thresholds", "tiers", "zone")

    def __init__(self, tiers: Tiers, zone: dt.tzinfo) -> None:
        self.tiers = tiers
        self.zone = zone
        self.thresholds = {level.id: level.threshold for level in tiers.levels}
        grace = tiers.downgrade_grace or dt.timedelta(0)
        hold, window = tiers.hold, tiers.window
        # `since + first + grace` (a hold for a time, a rolling window), else None: never (lifetime)
        # or by the calendar (`_calendar`); the same sums as `review_at`, in its order.
        self._after: tuple[dt.timedelta, dt.timedelta] | None = None
        self._calendar = False
        if isinstance(hold, HoldFor):
            self._after = (hold.for_, grace)
        elif window.kind == "rolling":
            assert window.length is not None
            self._after = (window.length, grace)
        elif window.kind != "lifetime":
            self._calendar = True
        # A calendar review date depends on the instant of `since` alone (read in the program's
        # zone): worked out once per tier reached (keyed with the fold, which `==` leaves out).
        self._dues: dict[tuple[dt.datetime, int], dt.datetime | None] = {}

    def due(self, since: dt.datetime) -> dt.datetime | None:
        """`review_at(tiers, since, zone)`."""
        after = self._after
        if after is not None:
            return since + after[0] + after[1]
        if not self._calendar:
            return None
        key = (since, since.fold)
        dues = self._dues
        due = dues.get(key, _UNKNOWN)
        if due is _UNKNOWN:
            if len(dues) >= _DUES_KEPT:
                dues.clear()
            due = dues[key] = review_at(self.tiers, since, self.zone)
        return due  # type: ignore[return-value]


_UNKNOWN = object()
_DUES_KEPT = 4096
# Each program's review facts, by the identity of its `tiers` (an `Engine` keeps its program, so
# the entry is found again at every event; emptied when it holds that many programs' facts).
_REVIEWS: dict[int, Reviews] = {}
_REVIEWS_KEPT = 256


def reviews(tiers: Tiers, zone: dt.tzinfo) -> Reviews:
    """The review facts of `tiers` in the program's `zone`, made at the first call."""
    facts = _REVIEWS.get(id(tiers))
    if facts is None or facts.tiers is not tiers or facts.zone is not zone:
        if len(_REVIEWS) >= _REVIEWS_KEPT:
            _REVIEWS.clear()
        facts = _REVIEWS[id(tiers)] = Reviews(tiers, zone)
    return facts


_SUMS = {"start", "spend", "points", "visits"}


def for_purchase(plan: Plan) -> Callable[[Run], None] | None:
    """`apply` for a purchase the generated path takes, specialised once per program: the activity
    appended and the running sums moved with the program's windows known (the tier window's start
    and the horizon worked out once per event, the sums kept as three numbers until the one
    `ActivitySums` of the event is made, each list and record made once), the levels and what
    `tier_progress` names after each worked out once. The same trace, tier changes, progress and
    state as `apply` (tests/engine/test_generated_tiers.py). A purchase dated before the latest
    activity (a late event), a state written before the sums were kept, and a program with
    leaderboards but no tiers run `apply`. None when the program has no tiers. On a step in place
    (`run.working` set) the same decisions are made on the working state's tuples
    (mechanics/tiers_working.py)."""
    program = plan.program
    tiers = program.tiers
    if tiers is None:
        return None
    windows = [tiers.window, *(board.window for board in program.leaderboards)]
    window_kind, length = tiers.window.kind, tiers.window.length
    calendar = calendar_of(tiers.window) if window_kind not in ("rolling", "lifetime") else None
    lifetime = any(w.kind == "lifetime" for w in windows)  # nothing ever leaves the activity
    rolling_only = all(w.kind == "rolling" for w in windows)
    twice = max((2 * w.length for w in windows if w.length is not None), default=dt.timedelta(0))
    # An entry at or after `at - inside` is surely in the tier window, one at or after `at - kept`
    # surely inside every window's horizon (None: not known that way), read by comparing it with
    # the event's time in the event's own fixed-offset zone, where two times compare as plain
    # times: the window's start and the horizon are in the program's zone, and each comparison of
    # two times with different zones asks both for their UTC offset (`surely_inside`).
    rolling = length if window_kind == "rolling" else None
    inside = rolling - OFFSETS_APART if rolling is not None and rolling > OFFSETS_APART else None
    kept = twice - OFFSETS_APART if rolling_only and twice > OFFSETS_APART else None
    qualify_on = tiers.qualify_on
    metric_at = ("spend", "points", "visits").index(qualify_on)  # its place in the sums
    levels = [(level.threshold, level) for level in reversed(tiers.levels)]  # the highest first
    index = plan.tier_positions
    tier_window = plan.tier_window
    # What `tier_progress` names after each tier (after no tier, or one not in the program: the
    # first level): the next level's id and threshold, or None at the top.
    following: dict[str | None, tuple[str, Decimal] | None] = {}
    for position, level in enumerate([None, *tiers.levels]):
        after = tiers.levels[position] if position < len(tiers.levels) else None
        following[level.id if level is not None else None] = (after.id, after.threshold) if after else None
    first = following[None]
    on_working = tiers_working.for_working(plan, progress_of, following)

    def tiers_of_purchase(run: Run) -> None:
        working = run.working  # a step in place: decided on the working state's tuples
        if working is not None and on_working(run, working):
            return
        state = run.state
        known = state.activity_sums
        event = run.event
        at = event.time
        activity: Sequence[Activity] = state.activity
        items, head, end = window(activity)
        if head < end and (known is None or items[end - 1].at > at):
            apply(run)  # a state from before the sums, or a late purchase: the general way
            return
        remaining = run.remaining
        # a decimal sum, not `money_sum`: these lines are new decimals the generated code made, and
        # their minor units by look-up cost a hash of each (+1.5 % instructions per event)
        spend = sum(remaining, ZERO)
        points = ZERO
        for award in run.effects_points:  # as `sum(…, ZERO)`, without a generator
            points += award.points
        entry = trusted(
            Activity,
            {
                "event": event.id,
                "at": at,
                "spend": spend,
                "points": points,
                "visits": 1,
                "paid": list(remaining),
                "qty": run.quantities[:-1],  # each line's (the run's list ends with the shipping's 1)
            },
            _ACTIVITY,
        )
        # the oldest entry, if it is surely in the window and inside the horizon (`surely_inside`)
        oldest = items[head].at if head < end else at
        fixed = type(at.tzinfo) is dt.timezone
        in_window = fixed and inside is not None and surely_inside(oldest, at, inside)
        activity = appended(activity, (entry,))
        local = run.local
        # the tier window's start at the event (`window_bounds`)
        if window_kind == "rolling":
            start: dt.datetime | None = periods.instant(local - length)  # type: ignore[operator]
        elif calendar is not None:
            start = periods.instant(periods.start(calendar, local))
        else:
            start = None
        if known is None:  # a new customer's first activity: the sums start with it (`running.sums`)
            found: int | None = running.index_from(activity, start)
            sums = running.summed(activity[found:], start)
            totals = (sums.spend, sums.points, sums.visits)
        else:
            since = known.start
            totals = (known.spend, known.points, known.visits)
            found = None  # the index of the first entry at or after the window's start, when known
            cut = 0  # how many entries left the head (no window needs them)
            changed = False  # whether the totals differ from `known`'s
            # `at >= since`, known without asking the zones when the sums start at or before the
            # window's start (`OFFSETS_APART`: a rolling window longer than it)
            earlier = (
                fixed
                and inside is not None
                and since is not None
                and start is not None
                and since.tzinfo is start.tzinfo
                and since <= start
            )
            if since is None or earlier or at >= since:
                totals = (totals[0] + spend, totals[1] + points, totals[2] + 1)
                changed = True
            if not lifetime and not (fixed and kept is not None and surely_inside(oldest, at, kept)):
                # the activity no window needs any more leaves (`record_activity`)
                if rolling_only:
                    horizon = periods.instant(local - twice)
                else:
                    horizon = min(h for h in (window_horizon(w, local) for w in windows) if h is not None)
                cut = running.index_from(activity, horizon)
                if cut:
                    if since is None or since < horizon:  # the sums move past it first
                        left, _ = running.moved(activity, since, horizon, totals)
                        if left is not None:
                            totals, changed = left, True
                        since = horizon
                    if type(activity) is list:  # made just now (short): nothing else holds it
                        del activity[:cut]
                    else:
                        activity = appended(activity, (), cut)
            # the sums moved to the window's start (`running.sums`)
            if (
                since is not None
                and since == start
                and since.tzinfo is not start.tzinfo
                and since.utcoffset() != start.utcoffset()
            ):
                since = start  # the same instant, written as the start is (the horizon's, in a gap)
            elif since != start:
                if start is None or (since is not None and start < since):  # moved back: add up again
                    found = running.index_from(activity, start)
                    again = running.summed(activity[found:], start)
                    totals, changed = (again.spend, again.points, again.visits), True
                elif not in_window:  # else no entry is before the start: none leaves
                    # the first entry at or after `since`, as kept beside the state's list (the
                    # same index in the list appended to, less the entries cut)
                    found = running.kept_from(state.activity, since, cut)
                    left, found = running.moved(activity, since, start, totals, found)
                    if left is not None:
                        totals, changed = left, True
                since = start
            if changed or since is not known.start:
                sums = trusted(
                    ActivitySums,
                    {"start": since, "spend": totals[0], "points": totals[1], "visits": totals[2]},
                    _SUMS,
                )
            else:
                sums = known
        if found:  # where the sums' window starts, for the next event (`running.kept_from`)
            running.keep(activity, sums.start, found)
        value = totals[metric_at] if metric_at < 2 else Decimal(totals[2])
        current, held = state.tier, state.tier_since
        reached = None
        for threshold, level in levels:  # the highest level reached
            if threshold <= value:
                reached = level
                break
        if reached is not None and (current not in index or index[reached.id] > index[current]):
            tiers_working.reach(run, tiers, value, reached, current)
            current, held = reached.id, at
        change_state(run, {"activity": activity, "activity_sums": sums, "tier": current, "tier_since": held})
        after = following.get(current, first) if current else first
        # the outcome's `TierProgress`, made when the result's is read (`later.Later`: settle makes
        # it for `process`'s result, a step's result when its `tier_progress` is read)
        run.tier_progress = Later(progress_of, current, value, tier_window, after)  # type: ignore[assignment]

    return tiers_of_purchase
