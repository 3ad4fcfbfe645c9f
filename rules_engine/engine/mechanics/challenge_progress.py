"""A challenge's progress as the state keeps it: the window an event falls in (its key: a calendar
period's, or a rolling window's start), the words that name it, the windows completed, and the
`ChallengeProgress` records, made from values already valid.

Apart from `challenges` (the mechanic's decisions, on both paths) because both of its paths, the
stage's `apply` and the generated path's `for_purchase`, read and write progress through these.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from rules_engine import periods
from rules_engine.engine.mechanics.shared import older
from rules_engine.engine.trusted import trusted
from rules_engine.program.types import Window
from rules_engine.state.compact import Counting
from rules_engine.state.customer import ChallengeProgress, CountedPurchase


def _current_window(window: Window, local: dt.datetime, before: ChallengeProgress | None) -> str | None:
    """The key of the window the event falls in; None if it falls before the stored window."""
    if window.kind == "rolling":
        assert window.length is not None
        start = _moment(before.window) if before is not None else None
        if before is not None and start is not None:
            if local < start:
                return None
            if local < start + window.length:
                return before.window
        return local.isoformat()
    key = _calendar_key(window.kind, local.date())
    if before is not None and window.kind != "lifetime" and older(key, before.window):
        return None
    return key


@functools.lru_cache(maxsize=1024)
def _calendar_key(kind: str, day: dt.date) -> str:
    """The key of the calendar window of `kind` a local date falls in (`periods.key`): remembered,
    as every event of a week asks for the same week's key (an ISO calendar a few µs each time)."""
    return periods.key(periods.WINDOWS.get(kind), day)


def _moment(key: str) -> dt.datetime | None:
    """The start of a stored rolling window (None if the key is a calendar one: the program changed)."""
    try:
        moment = dt.datetime.fromisoformat(key)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _window_words(window: Window, key: str) -> str:
    """The words of the window a key names. A return reads a key kept under an earlier program
    version, whose window may have been of another kind (a calendar month's `2026-02` for a
    rolling window now): that key is named as what it is."""
    kind = _kind_of(key)
    if kind == "rolling":
        start = dt.datetime.fromisoformat(key)
        named = window if window.kind == "rolling" else "rolling window"
        return f"in the {named} from {start.strftime('%Y-%m-%d %H:%M')}"
    if kind == "lifetime":
        return "in all"
    period = periods.WINDOWS.get(window.kind)
    if period != kind:
        return f"in the calendar {kind} {key}"
    return f"{periods.label(period)} ({key})"


def _kind_of(key: str) -> str:
    """What a stored window key is: `rolling` (its start), `lifetime`, or the calendar period whose
    key it is (`periods.key`: `2026-12-05`, `2026-W49`, `2026-12`, `2026-Q4`, `2026`)."""
    if key == periods.LIFETIME:
        return "lifetime"
    size = len(key)
    if size == 4:
        return "year"
    if size == 7:
        return "quarter" if key[5] == "Q" else "month"
    if size == 8:
        return "week"
    return "day" if size == 10 else "rolling"


# Progress records are made from values of the right types already (trusted: not validated again).
_CHALLENGE_PROGRESS = {"window", "progress", "completed", "counted"}


_COUNTED_PURCHASE = {"added", "by_line", "lines"}


def _completed_in(completed: list[str], window: str) -> list[str]:
    """The windows completed once `window` is: the first ever and the latest, nothing between.

    Only those two are ever read — the first says when a `once` challenge was done, the latest
    whether the current window's goal was reached — so a weekly challenge's state does not grow
    by a window a week for as long as the customer keeps completing it (docs/engine.md,
    "The bounded state"). A state written before, with every window, keeps its list until the
    next completion trims it."""
    return [completed[0], window] if completed else [window]


def _challenge_progress(
    window: str, progress: Decimal, completed: list[str], counted: dict[str, CountedPurchase]
) -> ChallengeProgress:
    values = {"window": window, "progress": progress, "completed": completed, "counted": counted}
    return trusted(ChallengeProgress, values, _CHALLENGE_PROGRESS)


def _progress(
    window: str, progress: Decimal, completed: list[str], counted: Any, lazy: bool = False, made: Any = None
) -> Any:
    """`_challenge_progress`, its values in a literal dict (made on every counted purchase); `lazy`
    (a step in place): a `Counting`, `counted` the progress it extends (or a dict) and `made` this
    purchase's record to be made when read."""
    if lazy:
        return Counting(window, progress, completed, counted, made)
    return trusted(
        ChallengeProgress,
        {"window": window, "progress": progress, "completed": completed, "counted": counted},
        _CHALLENGE_PROGRESS,
    )
