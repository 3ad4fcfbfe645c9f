"""Notifications: points about to expire, a tier about to drop, and the frequency cap.

Traced with kind "notification"; what was sent is in `Effects.notifications`, when in
`state.notified`, what was reminded of in `state.reminded`.
"""

from __future__ import annotations

import bisect

from rules_engine.engine.lifecycle import expiry_order
from rules_engine.engine.mechanics.shared import limit_words, recent
from rules_engine.engine.mechanics.tiers import at_risk
from rules_engine.engine.outcome import Notification
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import replaced, rule_trace
from rules_engine.program.model import Program


def idle(program: Program) -> bool:
    """Whether the mechanic can do nothing for `program`, whatever the event (it is not called)."""
    notifications = program.notifications
    return (
        notifications.tier_downgrade is None or program.tiers is None
    ) and notifications.points_expiring is None


REMINDER = "notifications:points_expiring"

TIER_REMINDER = "notifications:tier_downgrade"


def apply(run: Run) -> None:
    """Remind the customer of points about to expire: once per lot, when an event arrives less
    than `points_expiring.before` before the lot expires."""
    _tier_reminder(run)
    reminder = run.program.notifications.points_expiring
    if reminder is None:
        return
    moment = run.event.time
    done = set(run.state.reminded)
    lots = run.state.lots
    # The lots are in expiry order: those expiring in (moment, moment + before] are one run of them.
    first = bisect.bisect_right(lots, (False, moment), key=expiry_order)
    if first == len(lots) or lots[first].expires_at is None:
        return
    last = bisect.bisect_right(lots, (False, moment + reminder.before), key=expiry_order)
    soon = [lot for lot in lots[first:last] if lot.points > 0 and lot.id not in done]
    if not soon:
        return
    if notify(run, REMINDER, reminder.channel, reminder.template):
        reminded = [*run.state.reminded, *(lot.id for lot in soon)]
        run.state = replaced(run.state, {"reminded": reminded})


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
    if notify(run, TIER_REMINDER, reminder.channel, reminder.template):
        run.state = replaced(run.state, {"reminded": [*run.state.reminded, key]})


def notify(run: Run, rule: str, channel: str, template: str) -> bool:
    """Send a notification on behalf of `rule` unless the frequency cap suppresses it; traced
    either way (kind "notification"). Returns whether it was sent."""
    cap = run.program.notifications.frequency_cap
    moment = run.event.time
    sent = run.state.notified
    if cap is not None:
        lately = recent(cap, sent, moment)
        if len(lately) >= cap.count:
            run.trace.append(
                rule_trace(
                    rule,
                    "notification",
                    False,
                    "capped",
                    f"{channel} {template} suppressed: {len(lately)} sent, the cap is {limit_words(cap)}",
                )
            )
            return False
        sent = lately  # older sends no longer count: the state keeps only what the cap needs
    outbox = getattr(run, "notifications", None)
    if isinstance(outbox, list):
        outbox.append(Notification(rule=rule, channel=channel, template=template))
    run.state = replaced(run.state, {"notified": [*sent, moment]})
    run.trace.append(rule_trace(rule, "notification", True, "fired", f"sends {channel} {template}"))
    return True
