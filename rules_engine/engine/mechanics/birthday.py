"""The birthday reward: once a year, on the customer's birthday or within a window around it.

Policy (docs/engine.md, "Birthdays"): the birthday is `state.profile.birthday` (recorded from a
`signup` event, or in an imported state). The event's date in the program's timezone decides:
`window: day` the birthday itself, `month` any day of its month, `around` within `days` days
before or after it (across the turn of the year too). Someone born on 29 February celebrates on
28 February in a year without a 29th. The first event of a type in `on` inside the window gives
the reward; the state records the birthday's year (`state.birthday_rewarded`), so each birthday
is rewarded once, whichever window it was reached in.

Input: a `Run`. Output: the reward given (rule `birthday`), the trace, the state's year.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable

from rules_engine.engine.admission import admitted
from rules_engine.engine.mechanics.shared import reward_points
from rules_engine.engine.plan import Plan
from rules_engine.engine.rewards import give
from rules_engine.engine.run import Run, change_state
from rules_engine.engine.trusted import simple_verdict, verdict
from rules_engine.program.model import Birthday, Program

RULE = "birthday"


def idle(program: Program) -> bool:
    """Without a `birthday` section there is nothing to give."""
    return program.birthday is None


def celebrated(born: dt.date, year: int) -> dt.date:
    """The day a birthday is celebrated in `year`: 29 February is 28 February in other years."""
    if born.month == 2 and born.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return born.replace(year=year)


def occurrence(settings: Birthday, born: dt.date, today: dt.date) -> int | None:
    """The year of the birthday whose window `today` is in, or None when it is in none."""
    if settings.window == "month":
        return today.year if today.month == born.month else None
    days = settings.days or 0
    for year in (today.year - 1, today.year, today.year + 1):
        if dt.MINYEAR <= year <= dt.MAXYEAR and abs((today - celebrated(born, year)).days) <= days:
            return year
    return None


def _window_words(settings: Birthday) -> str:
    if settings.window == "month":
        return "in the birthday's month"
    if settings.window == "around":
        return f"within {settings.days} days of the birthday"
    return "on the birthday"


def apply(run: Run) -> None:
    """The mechanic: give the birthday reward when the event is in this year's window."""
    settings = run.program.birthday
    if settings is None:
        return
    born = run.state.profile.birthday
    today = run.local.date()
    year = occurrence(settings, born, today) if born is not None else None
    refused: tuple[str, str] | None = None
    if born is None:
        refused = ("nothing_eligible", "no birthday on file")
    elif year is None:
        refused = ("nothing_eligible", f"{today} is not {_window_words(settings)} ({born:%d %B})")
    elif run.state.birthday_rewarded is not None and run.state.birthday_rewarded >= year:
        refused = ("capped", f"already given for the {year} birthday")
    if not admitted(run, RULE, "birthday", on=settings.on, refused=refused):
        return
    assert year is not None and born is not None
    gives = give(run, settings.reward, RULE)
    change_state(run, {"birthday_rewarded": year})
    on_day = celebrated(born, year)
    run.trace.append(
        verdict(
            RULE,
            "birthday",
            True,
            "fired",
            f"birthday on {on_day} ({_window_words(settings)}); gives {', '.join(gives)}",
            **reward_points(settings.reward),
        )
    )


def for_purchase(plan: Plan) -> Callable[[Run], None] | None:
    """`apply` for a purchase the generated path takes, its usual answer made once per program: a
    customer with no birthday on file is refused with one trace entry, made once and shared (a
    purchase is in `on`); the other customers run `apply`. None when purchases are not `on`."""
    settings = plan.program.birthday
    if settings is None or "purchase" not in settings.on:
        return None
    unknown = simple_verdict(RULE, "birthday", False, "nothing_eligible", "no birthday on file")

    def birthday_of_purchase(run: Run) -> None:
        if run.state.profile.birthday is None:
            run.trace.append(unknown)
            return
        apply(run)

    return birthday_of_purchase
