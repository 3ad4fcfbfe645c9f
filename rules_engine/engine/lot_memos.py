"""What is known of a state's lots list, kept beside it so that an event need not read every lot: the
return window's soonest close (`past_return_window`, `carry_window`) and how far the expiry reminder
has reached, with how many lots that covers (`reminded_until`, `reached`, `keep_reminded`,
`carry_reminded`, `added_after`).

Each is kept by the list's identity (a state's lists never change), on the list itself when it is a
`SharedList` (dying with it: state/shared.py's `Memo`), else in a table bounded as `lifecycle`'s
pending tails are, and carried by settle and expiry to the lists they make from it. Apart from
`lifecycle` (the rules of the points lots over time) because these are memos of the lots, not rules:
without them every answer is the same, only slower (tests/engine/test_nothing_due.py runs both
ways).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from rules_engine.engine.ripening import _TAILS_KEPT
from rules_engine.state.customer import Lot
from rules_engine.state.shared import Memo, window


def past_return_window(lots: Sequence[Lot], moment: dt.datetime, within: dt.timedelta) -> Sequence[Lot]:
    """The lots, less what no return can need any more: a lot whose purchase's return window has
    closed (`earned_at + within <= moment`) leaves the state when it is empty (spent, reversed),
    and keeps its points but not its line detail otherwise. Bounds a state's size by the return
    window instead of the customer's whole history.

    Looking at every lot at every event would make the event's cost grow with the history. A lot
    with points and no lines is left as it is at any moment: once the head of the lots is such
    lots (the oldest, past their window, in the usual expiry order), they need no look again. So
    the lots list the engine made keeps beside it (`_CLOSES`, by identity, as `ripening._TAILS`) how many
    of its first lots are such, and the soonest moment a window closes on one of the others that
    this would change (one with lines, or empty): an event before it is one comparison, and
    otherwise only the lots after that head are looked at. Settle carries both to its new lots
    (`carry_window`: lots added at the end), expiry to the lots it leaves (lots left the head)."""
    known = _CLOSES.get(lots)
    if known is not None and known[0] == within:
        closes, stable = known[1], known[2]
        if closes is None or moment < closes:  # no window closes on a lot this would change
            return lots
    else:
        stable = 0
    kept: list[Lot] = []
    changed = False
    soonest: dt.datetime | None = None  # of the lots kept that a later window's close changes
    settled = stable  # how many of the first lots kept are left as they are at any moment
    counting = True
    for lot in lots[stable:] if stable else lots:  # a slice of the storage (`islice` walks its head)
        closes = lot.earned_at + within
        if moment < closes:
            kept.append(lot)
            if lot.lines or not lot.points:  # its lines go, or it goes, when its window closes
                if soonest is None or closes < soonest:
                    soonest = closes
                counting = False
            elif counting:
                settled += 1
        elif lot.points:
            kept.append(lot.model_copy(update={"lines": []}) if lot.lines else lot)
            changed = changed or bool(lot.lines)
            if counting:
                settled += 1
        else:  # empty, its window closed: it leaves
            changed = True
    if changed:
        result: Sequence[Lot] = [*lots[:stable], *kept] if stable else kept
    else:
        result = lots
    _keep_window(result, within, soonest, settled)
    return result


# What `past_return_window` knows of a lots list (by identity: a state's lists never change; `Memo`: on the
# list, or in a bounded table that holds the list), for the window it was worked out for: the soonest moment a
# return window closes on a lot it would change, and how many of the first lots it leaves as they are at any
# moment. A list made from another by adding lots at the end that close no sooner, or by taking lots from the
# head, keeps what holds of it: it is carried, never worked out again.
_CLOSES: Memo[tuple[dt.timedelta, dt.datetime | None, int]] = Memo("memo_window", _TAILS_KEPT)


def _keep_window(lots: Sequence[Lot], within: dt.timedelta, soonest: dt.datetime | None, stable: int) -> None:
    _CLOSES.put(lots, (within, soonest, stable))


def carry_window(before: Sequence[Lot], after: Sequence[Lot], closes: dt.datetime | None) -> None:
    """`after` is `before` with lots added at the end whose window closes at `closes` at the
    soonest (settle; None: none added), or with lots taken from the head (expiry): what is kept
    for `before`, if anything, holds for `after` too, the soonest close moved to `closes` when that
    is sooner, the head left as it is counted less the lots that left it. Anything else (lots
    inserted before others, lots at 0 kept at the head) keeps nothing for `after`."""
    if after is before:
        return
    known = _CLOSES.get(before)
    if known is None:
        return
    # the lengths and the lots compared read through a shared list's storage: a `SharedList`'s
    # `len()` and `[]` are Python calls, half a dozen an event here
    items, start, end = window(before)
    after_items, after_start, after_end = window(after)
    count = end - start
    if after_end == after_start:
        return
    within, soonest, stable = known
    if closes is not None:  # added at the end: the lots before them are `before`'s
        if after_end - after_start < count or (
            count and after_items[after_start + count - 1] is not items[end - 1]
        ):
            return
        if soonest is None or closes < soonest:
            soonest = closes
    else:  # taken from the head: `after` is the end of `before`
        left = count - (after_end - after_start)
        if (
            left < 0
            or after_items[after_start] is not items[start + left]
            or after_items[after_end - 1] is not items[end - 1]
        ):
            return
        stable = max(0, stable - left)
    _keep_window(after, within, soonest, stable)


# How far the expiry reminder has reminded the customer, kept per (lots, reminded) pair of lists (by identity,
# on the lots list as `ripening._TAILS`): every lot with points that expires at or before this moment is
# among the reminded ids. The reminder reads a fortnight of lots at every event of a long history, nearly all
# reminded of already; with this, an event whose horizon is no later asks one comparison
# (mechanics/notifications.py). Lots added at the end that expire later, and lots leaving with their ids,
# leave it true: settle and expiry carry it (`carry_reminded`). With it, where the lots after that moment
# begin (`reached`: how many of the first lots expire by it, -1 unknown), a hint the reminder confirms.
_REMINDED: Memo[tuple[Sequence[str], dt.datetime, int]] = Memo("memo_reminded", _TAILS_KEPT)


def reminded_until(lots: Sequence[Lot], reminded: Sequence[str]) -> dt.datetime | None:
    """The moment up to which every lot of `lots` with points is among `reminded`, if kept."""
    known = _REMINDED.get(lots)
    if known is not None and known[0] is reminded:
        return known[1]
    return None


def reached(lots: Sequence[Lot], reminded: Sequence[str]) -> tuple[dt.datetime, int] | None:
    """`reminded_until` with where the lots after it likely begin: how many of the first lots of
    `lots` expire by then, as kept or carried (-1: not known). A hint, not a fact: lots that left
    the head may make it too small, and the reader confirms it on the two lots around it
    (mechanics/notifications.py) before it skips the bisection."""
    known = _REMINDED.get(lots)
    if known is not None and known[0] is reminded:
        return known[1], known[2]
    return None


def keep_reminded(lots: Sequence[Lot], reminded: Sequence[str], until: dt.datetime, reach: int = -1) -> None:
    """Every lot of `lots` with points that expires at or before `until` is among `reminded`;
    `reach`: how many of the first lots expire by `until`, when known (`reached`)."""
    _REMINDED.put(lots, (reminded, until, reach))


def carry_reminded(
    lots: Sequence[Lot], reminded: Sequence[str], new_lots: Sequence[Lot], new_reminded: Sequence[str]
) -> None:
    """`new_lots` is `lots` less lots that left (expiry), whose ids alone left `reminded` for
    `new_reminded`, or `lots` with lots added that expire after the moment kept (settle: the
    caller checks it, `added_after`): what is kept for the old pair holds for the new one, the
    count of lots reached less as many lots as left (lots added come after it)."""
    if new_lots is lots and new_reminded is reminded:
        return
    known = _REMINDED.get(lots)
    if known is None or known[0] is not reminded:
        return
    reach = known[2]
    if reach > 0 and new_lots is not lots:  # (`window`: a shared list's `len()` is a Python call)
        _, start, end = window(lots)
        _, new_start, new_end = window(new_lots)
        left = (end - start) - (new_end - new_start)
        if left > 0:
            reach = reach - left if reach >= left else -1
    _REMINDED.put(new_lots, (new_reminded, known[1], reach))


def added_after(lots: Sequence[Lot], reminded: Sequence[str], made: list[Lot]) -> bool:
    """Whether the lots `made` (of one event, expiring together) expire after the moment kept for
    (`lots`, `reminded`), if one is."""
    until = reminded_until(lots, reminded)
    if until is None or not made:
        return False
    expires = made[0].expires_at
    return expires is None or expires > until
