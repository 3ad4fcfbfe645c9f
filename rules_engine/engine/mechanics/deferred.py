"""Deferred notifications: when a message may go out — quiet hours (in the customer's zone),
the frequency cap, the messages already waiting — and the delivery of those waiting
(`state.deferred`) once their moment has come, before the next event (or by `advance`), like
expiry. What `notifications.notify` asks of a message it cannot send at once, and what the whole
step's reminder (engine/whole/reminder.py) asks of its own state.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from rules_engine.dsl.ast import format_duration
from rules_engine.engine.mechanics.shared import limit_words, recent, words_at
from rules_engine.engine.outcome import Notification
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import replaced, simple_verdict, trusted
from rules_engine.engine.verdicts import Verdict
from rules_engine.program.model import Hours, Notifications
from rules_engine.state.customer import CustomerState, DeferredMessage


def notice(
    settings: Notifications,
    state: CustomerState,
    moment: dt.datetime,
    zone: dt.tzinfo,
    words: str,
    before: dt.datetime | None,
) -> tuple[dt.datetime | None, str, str]:
    """What becomes of a message due at `moment` (`words`: its channel and template; `zone`: the
    customer's, `customer_zone`), as `notify` traces it: when it goes out (`moment`: now; later: it
    waits until then) with the verdict's code and reason, or None with them when it never goes
    out (the cap with no way to wait, or dropped). `state` is read for its `notified` and
    `deferred` only: the whole step (engine/whole/reminder.py) asks it of its own state."""
    when, why = next_moment(settings, state, moment, zone)
    if when is None:  # over the cap, and nothing says it may wait
        return None, "capped", f"{words} suppressed: {why}"
    if before is not None and when > moment and when >= before:
        reason = (
            f"{words} dropped: it could go out only at {words_at(when, zone)} ({why}), once what it "
            f"warns of has happened ({words_at(before, zone)})"
        )
        return None, "capped", reason
    delay = settings.max_delay
    if delay is not None and when - moment > delay:
        reason = (
            f"{words} dropped: the next allowed moment, {words_at(when, zone)}, is more than "
            f"{format_duration(delay)} away ({why})"
        )
        return None, "capped", reason
    if len(state.deferred) >= MAX_DEFERRED and when > moment:
        return None, "capped", f"{words} dropped: {MAX_DEFERRED} messages are already waiting"
    if when > moment:
        code = "capped" if "the cap is" in why else "outside_schedule"
        return when, code, f"{words} deferred to {words_at(when, zone)}: {why}"
    return when, "fired", f"sends {words}"


def deferred_message(
    rule: str, channel: str, template: str, due: dt.datetime, when: dt.datetime
) -> DeferredMessage:
    """The message `notice` defers to `when`, kept in `state.deferred` until then."""
    values = {"rule": rule, "channel": channel, "template": template, "due_at": due, "send_at": when}
    return trusted(DeferredMessage, values, _DEFERRED)


# The messages are made from values of the right types already (trusted: not validated again):
# a customer whose points expire every few days is reminded at most events.
_DEFERRED = {"rule", "channel", "template", "due_at", "send_at"}
_AT = {"rule", "channel", "template", "at"}
# A customer's waiting messages are bounded: past this many, a further one is dropped (traced).
MAX_DEFERRED = 10
# How many times the next allowed moment is moved on (quiet hours, the cap) before giving up.
_TRIES = 64


def customer_zone(program_zone: dt.tzinfo, state: CustomerState) -> dt.tzinfo:
    """The zone quiet hours are kept in: the customer's, when their profile has one."""
    name = state.profile.timezone
    return ZoneInfo(name) if name is not None else program_zone


def quiet_until(hours: Hours, moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
    """The end of the quiet hours `moment` falls in (in `zone`), or None when it is not quiet."""
    local = moment.astimezone(zone)
    start, end, now = hours.start, hours.end, local.time()  # `time()`: naive already
    if not quiet_at(hours, now):
        return None
    if start < end:
        day = local.date()
    else:  # over midnight: 21:00-09:00
        day = local.date() + dt.timedelta(days=1) if now >= start else local.date()
    ends = dt.datetime.combine(day, end, tzinfo=zone)
    # A wall time skipped by a clock change is read as the moment after it, never before `moment`.
    return max(ends.astimezone(dt.UTC), moment).astimezone(moment.tzinfo)


def quiet_at(hours: Hours, now: dt.time) -> bool:
    """Whether the local time of day `now` is in the quiet hours [start, end) (over midnight when
    the end comes first; none when they are equal): `quiet_until`'s test, its end not worked out."""
    start, end = hours.start, hours.end
    if start == end:
        return False
    if start < end:
        return start <= now < end
    return now >= start or now < end


def next_moment(
    settings: Notifications, state: CustomerState, due: dt.datetime, zone: dt.tzinfo
) -> tuple[dt.datetime | None, str]:
    """The first moment at or after `due` (and after the messages already waiting) when a
    message may go out, with why it cannot go at `due`; None when the cap never allows it (no
    `max_delay`, or a cap for ever)."""
    cap, quiet = settings.frequency_cap, settings.quiet_hours
    deferred = state.deferred  # usually none: no generator made for them
    moment = max([due, *(waiting.send_at for waiting in deferred)]) if deferred else due
    quiet_ends = quiet_until(quiet, due, zone) if quiet is not None else None
    reasons = [quiet_words(quiet)] if quiet is not None and quiet_ends else []
    if moment > due:
        reasons.append(f"behind {len(state.deferred)} waiting")
    known = moment is due  # the quiet hours at `moment` are the ones just worked out: not again

    def because(reason: str) -> None:
        if reason not in reasons:
            reasons.append(reason)

    planned = [*state.notified, *(waiting.send_at for waiting in deferred)] if deferred else state.notified
    for _ in range(_TRIES):
        if quiet is not None:
            until = quiet_ends if known else quiet_until(quiet, moment, zone)
            known = False
            if until is not None:
                moment = until
                because(quiet_words(quiet))
                continue
        if cap is None:
            return moment, "; ".join(reasons)
        lately = sorted(recent(cap, planned, moment))
        if len(lately) < cap.count:
            return moment, "; ".join(reasons)
        because(f"{len(lately)} sent, the cap is {limit_words(cap)}")
        if cap.per is None or settings.max_delay is None:
            return None, "; ".join(reasons)
        moment = lately[len(lately) - cap.count] + cap.per
    return None, "; ".join(reasons)


def quiet_words(quiet: Hours) -> str:
    return _quiet_words(quiet.start, quiet.end)


@functools.lru_cache(maxsize=64)
def _quiet_words(start: dt.time, end: dt.time) -> str:
    """`quiet hours 21:00-08:00`, made once per pair of times: a `time`'s `strftime` costs
    microseconds, and a reminder deferred or sent at night says it at most events."""
    return f"quiet hours {start:%H:%M}-{end:%H:%M}"


def deliver(
    settings: Notifications, state: CustomerState, moment: dt.datetime
) -> tuple[CustomerState, list[Notification]]:
    """Send the waiting messages whose moment has come, each at its own `send_at`: what time does
    before the next event (or by `advance`), whether or not `advance` ran."""
    waiting = state.deferred
    if not waiting or waiting[0].send_at > moment:
        return state, []
    left, sent, notified = delivery(settings, waiting, state.notified, moment)
    update: dict[str, object] = {"deferred": left}
    if notified is not None:
        update["notified"] = notified
    return replaced(state, update), sent


def delivery(
    settings: Notifications, waiting: list[DeferredMessage], notified: list[dt.datetime], moment: dt.datetime
) -> tuple[list[DeferredMessage], list[Notification], list[dt.datetime] | None]:
    """`deliver` on a state's parts: the messages left waiting, those sent, and the send times the
    cap counts after them (None: no cap, nothing kept). The whole step (engine/whole/reminder.py)
    asks it of its own state."""
    due = [message for message in waiting if message.send_at <= moment]
    left = [message for message in waiting if message.send_at > moment]
    sent = [
        trusted(
            Notification, {"rule": m.rule, "channel": m.channel, "template": m.template, "at": m.send_at}, _AT
        )
        for m in due
    ]
    cap = settings.frequency_cap
    if cap is None:  # what the cap counts (without one, nothing reads it)
        return left, sent, None
    return left, sent, recent(cap, [*notified, *(m.send_at for m in due)], moment)


def delivered(run: Run, sent: list[Notification]) -> None:
    """The messages that went out before the event (`deliver`): effects of the event, traced."""
    zone = customer_zone(run.plan.zone, run.state)
    for message in sent:
        run.notifications.append(message)
        run.trace.append(delivered_verdict(message, zone))


def delivered_verdict(message: Notification, zone: dt.tzinfo) -> Verdict:
    """The verdict of a message that waited and went out before the event (`zone`: the customer's)."""
    assert message.at is not None
    reason = f"sends {message.channel} {message.template} at {words_at(message.at, zone)} (it waited)"
    return simple_verdict(message.rule, "notification", True, "fired", reason)
