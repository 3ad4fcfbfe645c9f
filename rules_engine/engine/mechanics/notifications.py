"""Notifications: points about to expire, a tier about to drop, and the frequency cap.

Traced with kind "notification"; what was sent is in `Effects.notifications`, when in
`state.notified`, what was reminded of in `state.reminded`. A message due in quiet hours, or over
the frequency cap (with `max_delay`), waits in `state.deferred` for the next allowed moment, and
goes out at that moment (mechanics/deferred.py: when a message may go out, and the delivery of
those waiting); one that would wait longer than `max_delay` is dropped, traced.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from rules_engine.engine.lifecycle import expiring_by
from rules_engine.engine.lot_memos import keep_reminded, reached, reminded_until
from rules_engine.engine.mechanics.deferred import customer_zone, deferred_message, notice, quiet_at
from rules_engine.engine.mechanics.shared import limit_words, recent
from rules_engine.engine.mechanics.tiers import at_risk, reviews
from rules_engine.engine.outcome import Notification
from rules_engine.engine.plan import Plan
from rules_engine.engine.run import Run, change_state
from rules_engine.engine.step_views import Lots
from rules_engine.engine.trusted import simple_verdict, trusted
from rules_engine.engine.verdicts import Verdict
from rules_engine.program.model import Limit, Notifications, Program
from rules_engine.state.compact import LOT_EVENT, LOT_EXPIRES, LOT_POINTS, LOT_RULE, NEVER
from rules_engine.state.shared import window


def idle(program: Program) -> bool:
    """Whether the mechanic can do nothing for `program`, whatever the event (it is not called)."""
    notifications = program.notifications
    return (
        notifications.tier_downgrade is None or program.tiers is None
    ) and notifications.points_expiring is None


REMINDER = "notifications:points_expiring"

_EVENT = operator.attrgetter("event")
_RULE = operator.attrgetter("rule")
_ID = "/".join  # of (event, rule): `Lot.id`, made in C
_EXPIRES_AT = operator.attrgetter("expires_at")
_EXPIRES = operator.itemgetter(LOT_EXPIRES)

TIER_REMINDER = "notifications:tier_downgrade"


def apply(run: Run) -> None:
    """Remind the customer of points about to expire: once per lot, when an event arrives less
    than `points_expiring.before` before the lot expires."""
    _tier_reminder(run)
    _points_reminder(run)


def for_purchase(plan: Plan) -> Callable[[Run], None]:
    """`apply` for a purchase the generated path takes, what it asks of the program answered once:
    the reminders it has, and the tiers' review facts (`tiers.reviews`). A tier's review that is
    not within `tier_downgrade.before` of the purchase (the usual answer) is one comparison; a
    review within it runs `apply`'s reminder. On a step in place, the points reminder with no lot
    expiring within its reach is one comparison of seconds (`step_views.Lots.quiet_for`). The same
    trace, messages and state as `apply`."""
    settings = plan.program.notifications
    tiers = plan.program.tiers
    downgrade = settings.tier_downgrade if tiers is not None else None
    facts = reviews(tiers, plan.zone) if tiers is not None and downgrade is not None else None
    expiring = settings.points_expiring is not None
    span = _seconds_of(settings.points_expiring.before) if settings.points_expiring is not None else None

    def notifications_of_purchase(run: Run) -> None:
        if facts is not None:
            state = run.state
            since = state.tier_since
            if state.tier is not None and since is not None:
                due = facts.due(since)
                moment = run.event.time
                # else `at_risk` says None, and `_tier_reminder` does nothing
                if due is not None and moment < due <= moment + downgrade.before:  # type: ignore[union-attr]
                    _tier_reminder(run)
        if expiring:
            lots: Any = run.state.lots
            if span is not None and type(lots) is Lots:  # a step in place: the lots' tuples read
                quiet = lots.quiet_for(span)
                if quiet:
                    return  # no lot expiring within the reminder's reach: one comparison
                if quiet is not None:
                    _points_reminder_of_tuples(run, lots)
                    return
            _points_reminder(run)

    return notifications_of_purchase


def _seconds_of(span: dt.timedelta) -> int | None:
    """`span` in whole seconds, as the step's times compare (None: it has microseconds)."""
    return None if span.microseconds else span.days * 86_400 + span.seconds


def _points_reminder(run: Run) -> None:
    """`apply`'s reminder of points about to expire."""
    reminder = run.program.notifications.points_expiring
    if reminder is None:
        return
    moment = run.event.time
    lots = run.state.lots
    # a shared list's storage read between its bounds (state/shared.py's `window`): its `[]` and
    # `len()` are Python calls, half a dozen an event here after a long history
    items, start, stop = window(lots)
    if start == stop:
        return
    horizon = moment + reminder.before
    head = items[start].expires_at
    if head is None or head > horizon:  # as `expiry_order(lots[0]) > (False, horizon)`
        return  # the usual case: the first lot to expire is not due for a reminder
    reminded = run.state.reminded
    # Every lot with points expiring up to `until` is among `reminded`, when that is kept for these
    # lists (lot_memos.reached: what the previous event reached, carried): only the lots the
    # horizon reached since are looked at, a few, not the fortnight's (a long history's ~50).
    # `chained`: how many lots expire by `until` is kept too, confirmed on the two lots around it
    # (`_ends_at`), and where the lots in reach end is found among the next few (`_reach_of`): no
    # bisection of the year of lots (~11 probes, each an attribute read through pydantic's hook).
    kept = reached(lots, reminded)
    if kept is not None:
        until, reach = kept
        if horizon <= until:
            return  # every lot up to the horizon was reminded of already
        chained = reach >= 0 and type(items) is not Lots  # (the step's view: its own bisection)
        # the usual event: the count kept confirmed, no bisection
        first = reach if chained and _ends_at(items, start, stop, reach, until) else expiring_by(lots, until)
        if first == stop - start or items[start + first].expires_at is None:  # none in (until, horizon]
            keep_reminded(lots, reminded, horizon, first if chained else -1)
            return
    else:
        # The lots are in expiry order: those expiring in (moment, moment + before] are one run of
        # them. Usually none is due (expiry ran before the event): then no bisection for the first
        first = 0 if head > moment else expiring_by(lots, moment)
        if first == stop - start or items[start + first].expires_at is None:
            return
        chained = first == 0 and type(items) is not Lots
    last = _reach_of(items, start + first, stop, horizon) if chained else None
    if last is None:
        chained = False
        last = expiring_by(lots, horizon)
    else:
        last -= start
    # A long history has a fortnight's lots here at every event, nearly all reminded of already,
    # and a dozen new ones the horizon reached since the last: each lot's id made, its points read,
    # in C (`"/".join` of event and rule: `Lot.id`; maps of attribute getters), no Python step a
    # lot. Which of them are among the reminded (a fortnight's ids, ~50 in a long history): the
    # reminded looked up in the set of these ids (which `_one_lot_an_id` needs), not a set of the
    # reminded made at every event; usually none is (they are new).
    near = items[start + first : start + last]
    ids = list(map(_ID, zip(map(_EVENT, near), map(_RULE, near), strict=True)))
    distinct = set(ids)
    done = distinct.intersection(reminded)
    if done:
        new = list(map(operator.not_, map(done.__contains__, ids)))
        fresh: Sequence[Any] = list(itertools.compress(near, new))  # not reminded of yet, in expiry order
        fresh_ids: Iterable[str] = itertools.compress(ids, new)
    else:
        fresh, fresh_ids = near, ids
    if fresh:
        worth = list(map(_ZERO_BELOW, map(_POINTS_AT, fresh)))  # with points (a spent lot stays)
        soon = list(itertools.compress(fresh_ids, worth))  # their ids
        # when the first of them expires (the soonest): what the reminder warns of
        expires = next(itertools.compress(fresh, worth)).expires_at if soon else None
    else:
        soon, expires = [], None
    keep = _one_lot_an_id(ids, len(distinct), map(_EXPIRES_AT, near), kept is not None and bool(done))
    if expires is None:  # nothing new to remind of: every lot up to the horizon was
        if keep:
            keep_reminded(lots, reminded, horizon, last if chained else -1)
        return
    if notify(run, REMINDER, reminder.channel, reminder.template, before=expires):
        change_state(run, {"reminded": [*run.state.reminded, *soon]})
        if keep and run.state.lots is lots and reminded is not run.state.reminded:  # every one up to it
            keep_reminded(lots, run.state.reminded, horizon, last if chained else -1)


def _ends_at(items: Sequence[Any], start: int, stop: int, reach: int, until: dt.datetime) -> bool:
    """Whether the lots expiring by `until` are the first `reach` of `items[start:stop]` (a list in
    expiry order whose first lots all expire): the last of them does by then, the next one later
    (the count kept, `lot_memos.reached`, is a hint: lots that left may have made it stale)."""
    at = start + reach
    if at >= stop:
        return False
    after = items[at].expires_at
    if after is None or after <= until:
        return False
    if reach == 0:
        return True
    before = items[at - 1].expires_at
    return before is not None and before <= until


_NEAR = 32  # lots past the reach kept: a long history's reminder reaches ~10 more an event


def _reach_of(items: Sequence[Any], first: int, stop: int, horizon: dt.datetime) -> int | None:
    """Where the lots expiring by `horizon` end in `items[:stop]` (in expiry order), `first` being
    the first lot after those reminded of: a bisection of the next `_NEAR` lots when the one after
    them expires later (the usual), of the rest otherwise, not of the year of lots before them.
    None when a lot that never expires is met (`lifecycle.expiring_by` then decides)."""
    end = first + _NEAR
    if end < stop:
        beyond = items[end].expires_at
        if beyond is None:
            return None
        if beyond > horizon:
            stop = end
    try:
        return bisect.bisect_right(items, horizon, first, stop, key=_EXPIRES_AT)
    except TypeError:  # a lot that never expires probed
        return None


_POINTS_AT = operator.attrgetter("points")
_ZERO_BELOW = Decimal(0).__lt__  # `0 < points`, in C


def _one_lot_an_id(ids: list[str], distinct: int, expires: Iterable[Any], shared: bool) -> bool:
    """Whether the reminder may keep that every lot up to its horizon is reminded of
    (`lot_memos.keep_reminded`), having looked at the lots whose ids are `ids` (`distinct` of them
    different), expiring at `expires` (those it reached since the moment kept, or all in its
    reach); `shared`: one of those reached since has an id among the reminded already, another
    lot's.

    Expiry carries the memo (`lot_memos.carry_reminded`), and takes the ids of the lots it
    removes out of `reminded`: the memo stays true only while no lot it covers shares its id with
    a lot that expires at another moment. Ids repeat only when an event id is reused after it
    left the processed ids while its lots live (or in a state made by hand); then the memo is not
    kept, and each look is the full one, as on a state read back with no memo: every path leaves
    the same `reminded`. Lots of one event sharing an id (an earn rule and a multiplier of one
    name) expire together, and leave together."""
    if shared:
        return False
    if distinct == len(ids):
        return True
    first: dict[str, Any] = {}
    return all(
        first.setdefault(lot_id, moment) == moment for lot_id, moment in zip(ids, expires, strict=True)
    )


def _points_reminder_of_tuples(run: Run, lots: Lots) -> None:
    """`_points_reminder` on a step's view of the lots (`step_views.Lots`, its times aware): the
    same lots looked at, each read from its tuple — its id, its points, the seconds it expires at —
    and only the model of the first lot reminded of made (its `expires_at` is the message's
    deadline). A long history has a fortnight's lots within the reminder's reach at every event:
    their models are not made for it."""
    reminder = run.program.notifications.points_expiring
    assert reminder is not None
    moment = run.event.time
    tuples = lots.tuples
    horizon = moment + reminder.before
    reminded = run.state.reminded
    until = reminded_until(lots, reminded)
    if until is not None:
        if horizon <= until:
            return  # every lot up to the horizon was reminded of already
        first = lots.expiring_by(until)
        if first is None:  # a naive time kept: the models' way
            _points_reminder(run)
            return
        if first == len(tuples) or tuples[first][LOT_EXPIRES] == NEVER:  # none expires in (until, horizon]
            keep_reminded(lots, reminded, horizon)
            return
        # a set, even for the few lots the horizon reached since: they are new, not among the
        # reminded (a fortnight's ids, ~50 in a long history), and a list's `in` compares each
        done: set[str] = set(reminded)
    else:
        done = set(reminded)
        first = 0 if tuples[0][LOT_EXPIRES] > lots.now else lots.expiring_by(moment)
        if first is None:
            _points_reminder(run)
            return
        if first == len(tuples) or tuples[first][LOT_EXPIRES] == NEVER:
            return
    last = lots.expiring_by(horizon)
    assert last is not None
    soon: list[str] = []  # the ids of the lots not reminded of yet, in expiry order
    at: int | None = None  # where the first of them is (the soonest to expire)
    ids: list[str] = []  # of every lot looked at (`_one_lot_an_id`)
    shared = False  # a lot reached since the moment kept whose id is among the reminded
    for index, lot in enumerate(itertools.islice(tuples, first, last), first):
        lot_id = f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}"
        ids.append(lot_id)
        if lot_id in done:
            shared = True
        elif lot[LOT_POINTS] > 0:
            if at is None:
                at = index
            soon.append(lot_id)
    near = itertools.islice(tuples, first, last)
    keep = _one_lot_an_id(ids, len(set(ids)), map(_EXPIRES, near), until is not None and shared)
    if at is None:  # nothing new to remind of: every lot up to the horizon was
        if keep:
            keep_reminded(lots, reminded, horizon)
        return
    if notify(run, REMINDER, reminder.channel, reminder.template, before=lots[at].expires_at):
        change_state(run, {"reminded": [*run.state.reminded, *soon]})
        read: Any = run.state.lots
        if keep and read is lots and reminded is not run.state.reminded:  # now every one up to it
            keep_reminded(lots, run.state.reminded, horizon)


def _tier_reminder(run: Run) -> None:
    """Warn a customer whose tier would drop at its coming review: once per review, when an event
    arrives less than `tier_downgrade.before` before it and the metric would not keep the tier."""
    reminder = run.program.notifications.tier_downgrade
    tiers = run.program.tiers
    if reminder is None or tiers is None:
        return
    moment = run.event.time
    due = at_risk(tiers, run.state, moment, run.plan.zone, before=reminder.before)
    if due is None or not moment < due <= moment + reminder.before:
        return
    key = f"tier:{run.state.tier}:{due.date().isoformat()}"
    if key in run.state.reminded:
        return
    if notify(run, TIER_REMINDER, reminder.channel, reminder.template, before=due):
        change_state(run, {"reminded": [*run.state.reminded, key]})


def notify(run: Run, rule: str, channel: str, template: str, before: dt.datetime | None = None) -> bool:
    """Send a notification on behalf of `rule` now, or defer it to the next allowed moment
    (quiet hours, the frequency cap), or drop it (`notice`); traced either way (kind
    "notification"). `before`: a reminder is pointless from this moment on (what it warns of has
    happened), so one that could only go out then is dropped. Returns whether it was sent or will be."""
    settings = run.program.notifications
    moment = run.event.time
    state = run.state
    program_zone = run.plan.zone
    zone = customer_zone(program_zone, state)
    if not state.deferred:  # nothing waiting: the usual case, and the reminder's of a long history
        local = run.local if zone is program_zone else None  # the event's time there, made once
        counted = sent_now(settings, state.notified, moment, zone, local)
        if isinstance(counted, int):  # suppressed by the cap, `notice`'s answer known from two looks
            cap = settings.frequency_cap
            assert cap is not None
            run.trace.append(_suppressed(rule, f"{channel} {template}", counted, cap))
            return False
        if counted is not None:  # it goes out now: `notice`'s answer, known from two looks
            _sent(run, rule, channel, template, counted, settings.frequency_cap is not None)
            return True
    when, code, reason = notice(settings, state, moment, zone, f"{channel} {template}", before)
    if when is None:
        run.trace.append(simple_verdict(rule, "notification", False, code, reason))
        return False
    if when > moment:
        change_state(
            run, {"deferred": [*state.deferred, deferred_message(rule, channel, template, moment, when)]}
        )
        run.trace.append(simple_verdict(rule, "notification", False, code, reason))
        return True
    cap = settings.frequency_cap
    counted = [*recent(cap, state.notified, moment), moment] if cap is not None else state.notified
    _sent(run, rule, channel, template, counted, cap is not None)
    return True


def sent_now(
    settings: Notifications,
    notified: list[dt.datetime],
    moment: dt.datetime,
    zone: dt.tzinfo,
    local: dt.datetime | None = None,
) -> list[dt.datetime] | int | None:
    """The send times the frequency cap counts after a message due at `moment` goes out at once,
    when, with no message waiting, it does: not in the quiet hours (in `zone`, the customer's) and
    under the cap (what `notice` decides through `next_moment`'s first look: "fired", `moment`
    itself). Not in the quiet hours, over the cap, and with no way to wait for it (no `max_delay`,
    or a cap for ever): how many sends the cap counts (`notice` says None, "capped": suppressed,
    `_suppressed`'s words). None otherwise (then `notice` works it out in full). After a long
    history the points reminder goes out, or is suppressed, at most events: this is its answer
    without `next_moment`'s reasons. Without a cap the send times are not kept (`notify`):
    `notified` is returned as it is. `local`: `moment` in `zone`, when the caller has it (the
    run's time of the event in the program's zone): a time's `astimezone` is ~4k instructions."""
    quiet = settings.quiet_hours
    if quiet is not None:
        if local is None:
            local = moment.astimezone(zone)
        if quiet_at(quiet, local.time()):
            return None
    delay = settings.max_delay
    if delay is not None and delay < _NO_TIME:  # `notice`: waiting 0 would be more than it allows
        return None
    cap = settings.frequency_cap
    if cap is None:
        return notified
    lately = recent(cap, notified, moment)
    if len(lately) >= cap.count:
        return len(lately) if cap.per is None or delay is None else None
    return [*lately, moment]  # the state keeps only what the cap counts (`notify`)


_NO_TIME = dt.timedelta(0)


def _sent(run: Run, rule: str, channel: str, template: str, counted: list[dt.datetime], capped: bool) -> None:
    """`notify` of a message that goes out now: in the outbox, the send counted for the cap
    (`counted`, when the program has one), traced "fired"."""
    message, verdict = _fired(rule, channel, template)
    outbox = getattr(run, "notifications", None)
    if isinstance(outbox, list):
        outbox.append(message)
    if capped:
        change_state(run, {"notified": counted})
    run.trace.append(verdict)


@functools.lru_cache(maxsize=64)
def _fired(rule: str, channel: str, template: str) -> tuple[Notification, Verdict]:
    """The message a rule sends now and its verdict ("fired"), the same at every event that sends
    it: made once (a frozen model, a tuple), not a model and a text an event; the outcome's writer
    knows a verdict it wrote before by identity (outcome_json.py)."""
    values = {"rule": rule, "channel": channel, "template": template, "at": None}
    return trusted(Notification, values, _SENT), simple_verdict(
        rule, "notification", True, "fired", f"sends {channel} {template}"
    )


@functools.lru_cache(maxsize=64)
def _suppressed(rule: str, words: str, sent: int, cap: Limit) -> Verdict:
    """The verdict of a message the frequency cap suppresses with nothing waiting, outside the
    quiet hours (`sent_now`'s count `sent`): `notice`'s words, made once for the count (a capped
    customer's reminder is suppressed at purchase after purchase)."""
    return simple_verdict(
        rule,
        "notification",
        False,
        "capped",
        f"{words} suppressed: {sent} sent, the cap is {limit_words(cap)}",
    )


# The message a rule sends now is made from values of the right types already (trusted).
_SENT = {"rule", "channel", "template"}
