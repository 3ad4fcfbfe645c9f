"""The notifications of a purchase in the whole step: the messages waiting, and the points-expiring reminder.

After a long history a customer has a fortnight's lots within the reminder's reach at every
purchase, and each purchase brings one more into it: the reminder has something to tell at nearly
every one, sent, suppressed by the frequency cap, or deferred past the quiet hours to go out
before the next event. The whole step does what `deferred.deliver` and `notifications._points_reminder`
do, on the whole state's ints, with the engine's own decisions and words (`delivery`, `notice`):

- `Notices.delivered(state, time)`: the waiting messages whose moment has come, sent before the
  event (`deliver`): those left, those sent, the send times the cap counts after them.
- `unreminded(state, lots, first, reach)`: the lots with points expiring by `reach` (epoch
  seconds: the event's moment plus `points_expiring.before`) not reminded of yet, in expiry order,
  with their ids; None, and the reach kept (`WholeState.reminded_until`), when every one was.
- `Notices.remind(...)`: what `notify` does with the reminder of them: sent now (the
  `Notification`, the lots recorded as reminded, the send counted for the cap), deferred (the
  message kept in `deferred`, the lots recorded), or neither (suppressed by the cap, or dropped:
  nothing recorded, the next purchase tries again); traced either way.

Input: a `WholeState`, its lots (a deque of `LotTuple`), the event's time. Output: `Delivered`,
`Told`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import filterfalse, islice
from operator import itemgetter
from typing import Any, NamedTuple

from rules_engine.engine.mechanics.deferred import (
    customer_zone,
    deferred_message,
    delivered_verdict,
    delivery,
    notice,
    quiet_until,
)
from rules_engine.engine.mechanics.notifications import REMINDER
from rules_engine.engine.mechanics.shared import recent
from rules_engine.engine.outcome import Notification
from rules_engine.engine.plan import Plan
from rules_engine.engine.verdicts import Verdict, simple_verdict
from rules_engine.state.compact import (
    LOT_EVENT,
    LOT_EXPIRES,
    LOT_POINTS,
    LOT_RULE,
    LOT_ZONE,
    head_right,
    moment,
)
from rules_engine.state.customer import DeferredMessage

_EXPIRES = itemgetter(LOT_EXPIRES)
_POINTS = itemgetter(LOT_POINTS)
_EVENT_RULE = itemgetter(LOT_EVENT, LOT_RULE)


def lot_ids(lots: Iterable[Any]) -> list[str]:
    """The ids of lot tuples (`Lot.id`: `event/rule`), made in C: a join of the two texts (the
    cheapest way to `f"{event}/{rule}"`, cheaper than a format string)."""
    return list(map("/".join, map(_EVENT_RULE, lots)))


class Delivered(NamedTuple):
    """The waiting messages sent before a purchase (`deliver`): their notifications and verdicts,
    the messages left waiting, the send times the cap counts (the state's own without a cap)."""

    sent: list[Notification]
    verdicts: list[Verdict]
    deferred: list[DeferredMessage]
    notified: list[dt.datetime]


class Told(NamedTuple):
    """What the reminder did at a purchase: `reminded`, the lots recorded as reminded of (sent or
    deferred); its verdict; the notification sent now (None: none); the customer's send times and
    waiting messages after it."""

    reminded: bool
    verdict: Verdict
    notification: Notification | None
    notified: list[dt.datetime]
    deferred: list[DeferredMessage]


class Notices:
    """A covered program's notifications on a purchase (module docstring), their words made once."""

    __slots__ = ("before", "channel", "fired", "notification", "settings", "template", "words", "zone")

    def __init__(self, plan: Plan) -> None:
        settings = plan.program.notifications
        self.settings = settings
        self.zone = plan.zone
        reminder = settings.points_expiring
        self.before = None if reminder is None else reminder.before
        self.channel = "" if reminder is None else reminder.channel
        self.template = "" if reminder is None else reminder.template
        words = self.words = f"{self.channel} {self.template}"
        # the same for every purchase that sends it now: made once (a verdict is a tuple, the
        # notification a frozen model)
        self.fired = simple_verdict(REMINDER, "notification", True, "fired", f"sends {words}")
        self.notification = Notification(rule=REMINDER, channel=self.channel, template=self.template)

    def delivered(self, state: Any, time: dt.datetime) -> Delivered | None:
        """The messages waiting on `state` (a `WholeState`) that go out before `time` (None: none)."""
        waiting = state.deferred
        if not waiting or waiting[0].send_at > time:  # as `deliver` looks
            return None
        left, sent, notified = delivery(self.settings, waiting, state.notified, time)
        zone = self._zone(state)
        verdicts = [delivered_verdict(message, zone) for message in sent]
        return Delivered(sent, verdicts, left, state.notified if notified is None else notified)

    def remind(
        self,
        state: Any,
        time: dt.datetime,
        first: Any,
        notified: list[dt.datetime],
        deferred: list[DeferredMessage],
        local: dt.datetime | None = None,
    ) -> Told | None:
        """What `notify` does with the reminder at `time` of the lots from `first` (the soonest to
        expire) on `state` whose send times and waiting messages are now `notified` and
        `deferred`; None for a lot whose time has no zone (a state made by hand: the engine's way).
        `local`: `time` in the program's zone, when the caller has it (the step does)."""
        if first[LOT_ZONE] is None:
            return None
        base = state.base
        zone = self.zone if base.profile.timezone is None else customer_zone(self.zone, base)
        if local is not None and zone is not self.zone:
            local = None  # the time of day is the customer's zone's
        if not deferred:
            sent = self._sent_now(time, zone, notified, local)
            if sent is not None:
                return Told(True, self.fired, self.notification, sent, deferred)
        if not deferred and state.capped is not None:  # suppressed by the cap a moment ago: still?
            verdict = self._still_capped(state.capped, time, zone, notified, local)
            if verdict is not None:
                return Told(False, verdict, None, notified, deferred)
        expires = moment(first[LOT_EXPIRES], first[LOT_ZONE])  # what it warns of: the first to expire
        view = _Sent(notified, deferred)
        when, code, reason = notice(self.settings, view, time, zone, self.words, expires)  # type: ignore[arg-type]
        if when is None:  # suppressed by the cap, or dropped
            verdict = simple_verdict(REMINDER, "notification", False, code, reason)
            if not deferred:
                self._remember(state, time, zone, notified, verdict, local)
            return Told(False, verdict, None, notified, deferred)
        if when > time:  # waits in `deferred`, sent before the first event at or after `when`
            waiting = [*deferred, deferred_message(REMINDER, self.channel, self.template, time, when)]
            return Told(
                True, simple_verdict(REMINDER, "notification", False, code, reason), None, notified, waiting
            )
        cap = self.settings.frequency_cap
        if cap is not None:  # the state keeps only what the cap counts (`notify`)
            notified = [*recent(cap, notified, time), time]
        return Told(True, self.fired, self.notification, notified, deferred)

    def _sent_now(
        self, time: dt.datetime, zone: dt.tzinfo, notified: list[dt.datetime], local: dt.datetime | None
    ) -> list[dt.datetime] | None:
        """The send times after the reminder when, with no message waiting, it goes out at `time`
        itself: not in the quiet hours and under the cap (what `notice` then decides, through
        `next_moment`'s first look: "fired", `time`); None otherwise (worked out in full). Most
        of a long history's purchases send it, each bringing a few lots into its reach.
        `local`: `time` in `zone`, when known: the quiet hours read from its time of day, as
        `quiet_until` reads them, without converting the time again (None: `quiet_until`)."""
        settings = self.settings
        quiet = settings.quiet_hours
        if quiet is not None:
            if local is None:
                if quiet_until(quiet, time, zone) is not None:
                    return None
            elif _quiet_at(quiet.start, quiet.end, local.time()):
                return None
        cap = settings.frequency_cap
        if cap is None:
            return notified
        per = cap.per
        if per is None:
            lately = list(notified)
        else:  # `recent`, the period's start worked out once
            since = time - per
            lately = [sent for sent in notified if since < sent <= time]
        if len(lately) >= cap.count:
            return None
        return [*lately, time]  # the state keeps only what the cap counts (`notify`)

    # -- a verdict of the cap, remembered until the cap's period ends -------------------------------
    # While the cap holds, the reminder is suppressed at every purchase with nothing recorded, and
    # `next_moment` would work out the same verdict again each time: the same send times, counted
    # at the moment the cap is checked (the purchase's, or the end of the quiet hours it falls
    # in). The count is the same at every moment from that one until the first counted send
    # leaves the cap's period (or a later send joins it), so the verdict is too: it is kept on the
    # whole state for those moments (`WholeState.capped`, one for a purchase in the quiet hours,
    # one for another), with the send times it counted, and used while nothing waits to be sent.

    def _checked_at(
        self, time: dt.datetime, zone: dt.tzinfo, local: dt.datetime | None
    ) -> tuple[dt.datetime, int] | None:
        """The moment `next_moment` checks the cap at for a message due at `time` with nothing
        waiting, and 1 when it is the end of the quiet hours `time` falls in (else 0); None when
        that end is quiet too (a clock change: worked out in full). `local`: `time` in `zone`,
        when known: a time of day outside the quiet hours is `time` itself, no end worked out
        (`_sent_now`'s look; a capped customer's purchases ask it at most events)."""
        quiet = self.settings.quiet_hours
        if quiet is None or (local is not None and not _quiet_at(quiet.start, quiet.end, local.time())):
            return time, 0
        ends = quiet_until(quiet, time, zone)
        if ends is None:
            return time, 0
        if quiet is not None and quiet_until(quiet, ends, zone) is not None:
            return None
        return ends, 1

    def _still_capped(
        self,
        capped: list[Any],
        time: dt.datetime,
        zone: dt.tzinfo,
        notified: list[dt.datetime],
        local: dt.datetime | None,
    ) -> Verdict | None:
        """The verdict remembered for a reminder at `time` (`_remember`), or None: work it out."""
        checked = self._checked_at(time, zone, local)
        if checked is None:
            return None
        at, quiet = checked
        kept = capped[quiet]
        if kept is None or kept[0] is not self or kept[1] is not notified:
            return None
        _, _, since, until, verdict = kept
        return verdict if since <= at and (until is None or at < until) else None

    def _remember(
        self,
        state: Any,
        time: dt.datetime,
        zone: dt.tzinfo,
        notified: list[dt.datetime],
        verdict: Verdict,
        local: dt.datetime | None,
    ) -> None:
        """Keep `verdict`, `notice`'s None at `time` with nothing waiting, when it is the cap's
        (not a drop): with the moments it holds for, [the moment checked, the first at which the
        count of `notified` changes)."""
        settings = self.settings
        cap = settings.frequency_cap
        if cap is None or (cap.per is not None and settings.max_delay is not None):
            return  # no cap, or one a message waits for: a None is a drop
        checked = self._checked_at(time, zone, local)
        if checked is None:
            return
        at, quiet = checked
        lately = recent(cap, notified, at)
        if len(lately) < cap.count:
            return  # the cap allowed it: dropped
        until = None if cap.per is None or not lately else min(lately) + cap.per
        later = [sent for sent in notified if sent > at]  # a send time ahead (a state by hand)
        if later:
            until = min(later) if until is None else min(until, *later)
        capped = state.capped
        if capped is None:
            capped = state.capped = [None, None]
        capped[quiet] = (self, notified, at, until, verdict)

    def _zone(self, state: Any) -> dt.tzinfo:
        """The customer's zone (`customer_zone`): the program's unless their profile names one."""
        base = state.base
        return self.zone if base.profile.timezone is None else customer_zone(self.zone, base)


def _quiet_at(start: dt.time, end: dt.time, now: dt.time) -> bool:
    """Whether the local time of day `now` is in the quiet hours [start, end) (over midnight when
    the end comes first; none when they are equal): `quiet_until`'s test, its end not worked out."""
    if start == end:
        return False
    if start < end:
        return start <= now < end
    return now >= start or now < end


class _Sent:
    """What `notice` reads of a state: the send times and the messages waiting."""

    __slots__ = ("deferred", "notified")

    def __init__(self, notified: list[dt.datetime], deferred: list[Any]) -> None:
        self.notified = notified
        self.deferred = deferred


def unreminded(state: Any, lots: Any, first: int, reach: Any) -> tuple[list[Any], list[str]] | None:
    """The lots from `first` on with points, expiring by `reach`, whose ids are not among
    `state.reminded` (the lots `_points_reminder` would remind of), in expiry order, and their ids.
    None when there are none: the reach is kept (`reminded_until`) and the next purchase looks only at the
    lots past it. The lots are in expiry order (as `lifecycle.expiring_by` reads them): those in
    reach are found by bisection, and their ids made and looked up in C, not lot by lot (a long
    history brings a dozen into the reach at each purchase)."""
    until = state.reminded_until
    reminded = state.reminded
    if first and reminded:  # as the engine looks, after expiry: less the ids of the lots due now
        going = set(lot_ids(islice(lots, first)))  # (the same as before it while ids are unique)
        if not going.isdisjoint(reminded):
            reminded = list(filterfalse(going.__contains__, reminded))
            until = 0  # an id a lot alive shares may leave with them: the memo not trusted
    if reach <= until:
        return None
    if until:  # the lots up to it were reminded of: a long history's fortnight of them, skipped
        first = head_right(lots, until, first, _EXPIRES)
    end = head_right(lots, reach, first, _EXPIRES)
    if first >= end:
        state.reminded_until = reach
        return None
    soon = list(map(lots.__getitem__, range(first, end)))  # a deque: not walked from its head
    if min(map(_POINTS, soon)) <= 0:  # a spent lot kept for returns: not reminded of
        soon = [lot for lot in soon if lot[LOT_POINTS] > 0]
    ids = lot_ids(soon)
    # A set of the few ids the reach brought, looked up by the fortnight's reminded ones (~50 in a
    # long history, nearly never among them): not a set of those at every purchase.
    if reminded and not set(ids).isdisjoint(reminded):
        known = set(reminded)
        soon = [lot for lot, lot_id in zip(soon, ids, strict=True) if lot_id not in known]
        ids = list(filterfalse(known.__contains__, ids))
    if not soon:
        state.reminded_until = reach
        return None
    return soon, ids
