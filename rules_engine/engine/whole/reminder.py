"""The points-expiring reminder in the whole step: what `notifications._points_reminder` does on a purchase.

After a long history a customer has a fortnight's lots within the reminder's reach at every
purchase, and each purchase brings one more into it: the reminder has something to tell at nearly
every one. The whole step words it as the engine does, on the whole state's ints:

- `unreminded(state, lots, first, reach)`: the ids of the lots with points expiring by `reach`
  (epoch seconds: the event's moment plus `points_expiring.before`) not reminded of yet, in expiry
  order; none, and the reach kept (`WholeState.reminded_until`), when every one was.
- `Reminder.tell(state, time)`: what `notifications.notify` decides for them, from the same
  `next_moment` (quiet hours, the frequency cap): sent now (the `Notification`, a fired verdict,
  the lots recorded as reminded, the send counted for the cap), or suppressed by the cap with no
  way to wait (a verdict `capped`, nothing recorded: the next purchase tries again). A message that
  would wait (quiet hours, a cap with `max_delay`) or be dropped is the engine's way: None.

Input: a `WholeState`, its lots (a deque of `LotTuple`), the event's time. Output: the lot ids,
and a `Told`, or None.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from rules_engine.engine.mechanics.notifications import REMINDER, customer_zone, next_moment
from rules_engine.engine.mechanics.shared import recent
from rules_engine.engine.outcome import Notification
from rules_engine.engine.plan import Plan
from rules_engine.engine.verdicts import simple_verdict
from rules_engine.state.compact import LOT_EVENT, LOT_EXPIRES, LOT_POINTS, LOT_RULE

SUPPRESSED = 50
"""The trace entry `(SUPPRESSED, reason)` of a reminder the cap suppressed (whole/result.py words it)."""


class Told(NamedTuple):
    """What the reminder did at a purchase: `sent` (else suppressed by the cap); the trace entry
    (a constant verdict, or `(SUPPRESSED, reason)`); the customer's send times after it."""

    sent: bool
    entry: Any
    notified: list[dt.datetime]


class Reminder:
    """A covered program's points-expiring reminder (module docstring), its words made once."""

    __slots__ = ("before", "cap", "fired", "notification", "settings", "words", "zone")

    def __init__(self, plan: Plan) -> None:
        settings = plan.program.notifications
        reminder = settings.points_expiring
        assert reminder is not None
        self.settings = settings
        self.before = reminder.before
        self.cap = settings.frequency_cap
        self.zone = plan.zone
        words = self.words = f"{reminder.channel} {reminder.template}"
        # the same for every purchase that sends it: made once (a verdict is a tuple, the
        # notification a frozen model)
        self.fired = simple_verdict(REMINDER, "notification", True, "fired", f"sends {words}")
        self.notification = Notification(
            rule=REMINDER, channel=reminder.channel, template=reminder.template, at=None
        )

    def tell(self, state: Any, time: dt.datetime) -> Told | None:
        """What `notify` does with the reminder at `time` on `state` (a `WholeState`, no message
        waiting: `WholeStep.covers`); None for a message that would wait or be dropped."""
        base = state.base
        view = _Sent(state.notified, base.deferred)
        zone = self.zone if base.profile.timezone is None else customer_zone(self.zone, base)
        when, why = next_moment(self.settings, view, time, zone)  # type: ignore[arg-type]
        if when is None:  # over the cap, and nothing says it may wait
            return Told(False, (SUPPRESSED, f"{self.words} suppressed: {why}"), state.notified)
        if when != time:  # deferred, or dropped: the engine's way
            return None
        cap = self.cap
        notified = state.notified if cap is None else [*recent(cap, state.notified, time), time]
        return Told(True, self.fired, notified)


class _Sent:
    """What `next_moment` reads of a state: the send times and the messages waiting."""

    __slots__ = ("deferred", "notified")

    def __init__(self, notified: list[dt.datetime], deferred: list[Any]) -> None:
        self.notified = notified
        self.deferred = deferred


def unreminded(state: Any, lots: Any, first: int, reach: Any) -> list[str]:
    """The ids of the lots from `first` on with points, expiring by `reach`, not among
    `state.reminded` (the lots `_points_reminder` would remind of), in expiry order. None of them:
    the reach is kept (`reminded_until`) and the next purchase looks only at the lots past it."""
    until = state.reminded_until
    if reach <= until:
        return []
    known: set[str] | None = None
    soon: list[str] = []
    for index in range(first, len(lots)):
        lot = lots[index]
        if lot[LOT_EXPIRES] > reach:
            break
        if lot[LOT_EXPIRES] <= until or not lot[LOT_POINTS] > 0:
            continue
        if known is None:
            known = set(state.reminded)
        lot_id = f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}"
        if lot_id not in known:
            soon.append(lot_id)
    if not soon:
        state.reminded_until = reach
    return soon
