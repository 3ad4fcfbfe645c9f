"""Whether a moment falls inside a rule's schedule, in the program's timezone."""

from __future__ import annotations

import datetime as dt

from rules_engine.dsl.values import WEEKDAYS
from rules_engine.program.model import Schedule


def within(schedule: Schedule | list[Schedule] | None, local: dt.datetime) -> str | None:
    """None when `local` (already in the program's timezone) is inside; else why not, in words."""
    if schedule is None:
        return None
    schedules = schedule if isinstance(schedule, list) else [schedule]
    reasons = [_outside(one, local) for one in schedules]
    if any(reason is None for reason in reasons):
        return None
    return "; ".join(r for r in reasons if r)


def _outside(schedule: Schedule, local: dt.datetime) -> str | None:
    day = local.date()
    if schedule.start is not None and day < schedule.start:
        return f"starts on {schedule.start.isoformat()}"
    if schedule.end is not None and day > schedule.end:
        return f"ended on {schedule.end.isoformat()}"
    if schedule.weekdays is not None and WEEKDAYS[local.weekday()] not in schedule.weekdays:
        return f"only on {', '.join(schedule.weekdays)} (this is {WEEKDAYS[local.weekday()]})"
    if schedule.hours is not None:
        now = local.time().replace(tzinfo=None)
        start, end = schedule.hours.start, schedule.hours.end
        inside = start <= now < end if start <= end else (now >= start or now < end)
        if not inside:
            return f"only {start.strftime('%H:%M')}–{end.strftime('%H:%M')} (this is {now.strftime('%H:%M')})"
    return None
