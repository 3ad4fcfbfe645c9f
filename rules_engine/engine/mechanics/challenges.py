"""Challenges: a goal reached within a window (a week's coffees, a month's spend).

An event counts when its type is in `on`, it is inside `active` and `when` holds (the admission
gate); it adds `counts` (default 1) to the progress of the current window. A new window starts
from 0. Reaching `goal` gives the reward once per window (`every_window`) or once ever (`once`).
A return takes back what its lines added (`take_back`). Progress is kept in `state.challenges`;
every decision is traced (kind "challenge", rule `challenge:<id>`). docs/engine.md, "Challenges,
quests, badges and streaks".
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from rules_engine import periods
from rules_engine.dsl import values
from rules_engine.dsl.context import Context
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import mechanics_context
from rules_engine.engine.events import Purchase, Return
from rules_engine.engine.mechanics.shared import GAMIFICATION as SECTIONS
from rules_engine.engine.mechanics.shared import number, older, reward_points
from rules_engine.engine.rewards import give
from rules_engine.engine.run import ZERO, Run, change_state
from rules_engine.engine.trusted import counted_lines, simple_verdict, trusted, verdict
from rules_engine.program.model import Program
from rules_engine.program.types import Window
from rules_engine.state.customer import ChallengeProgress, CountedLine, CountedPurchase


def idle(program: Program) -> bool:
    """Whether the mechanic can do nothing for `program`, whatever the event (it is not called)."""
    return not program.challenges


def apply(run: Run) -> None:
    """Count the event towards every challenge it qualifies for; reward a goal reached.

    An event counts when its type is in `on`, it is inside `active` and `when` holds; it adds
    `counts` (default 1) to the progress of the current window. A new window starts from 0.
    Reaching `goal` gives the reward once per window (`every_window`) or once ever (`once`).
    """
    program = run.program
    if not program.challenges:
        return
    context = mechanics_context(run, SECTIONS)
    expression = run.plan.compiled.expression
    progress = dict(run.state.challenges)
    for index, challenge in enumerate(program.challenges):
        rule = f"challenge:{challenge.id}"
        wrong = run.event.type not in challenge.on
        if wrong and isinstance(run.event, Return) and any(t.rule == rule for t in run.trace):
            continue  # `take_back` said what the return did to it
        before = progress.get(challenge.id)
        done = None
        if challenge.repeat == "once" and before is not None and before.completed:
            done = ("capped", f"already completed (in {before.completed[0]})")
        if not admitted(
            run,
            rule,
            "challenge",
            on=challenge.on,
            refused=done,
            active=challenge.active,
            outside="",
            when=expression("challenges", index, "when"),
            context=context,
        ):
            continue
        current = _current_window(challenge.window, run.local, before)
        if current is None:  # an event older than the current window: it cannot count any more
            assert before is not None
            run.trace.append(
                simple_verdict(
                    rule,
                    "challenge",
                    False,
                    "nothing_eligible",
                    f"the event is before the current window ({before.window})",
                )
            )
            continue
        same = before is not None and before.window == current
        counted = before.progress if same and before is not None else ZERO
        completed = list(before.completed) if before is not None else []
        purchases = dict(before.counted) if same and before is not None else {}
        counts = expression("challenges", index, "counts")
        added = number(counts, challenge.counts, context)
        total = counted + added
        words = _window_words(challenge.window, current)
        status = f"{values.display(total)} of {values.display(challenge.goal)} {words}"
        if current in completed:
            progress[challenge.id] = _challenge_progress(current, total, completed, purchases)
            run.trace.append(
                simple_verdict(rule, "challenge", False, "capped", f"{status}; already completed {words}")
            )
            continue
        purchases = _count_purchase(run, counts, added, context, purchases)
        if total >= challenge.goal:
            completed.append(current)
            progress[challenge.id] = _challenge_progress(current, total, completed, purchases)
            gives = give(run, challenge.reward, rule)
            run.trace.append(
                verdict(
                    rule,
                    "challenge",
                    True,
                    "fired",
                    f"{status}: goal reached; gives {', '.join(gives) or 'nothing new'}",
                    **reward_points(challenge.reward),
                )
            )
            continue
        progress[challenge.id] = _challenge_progress(current, total, completed, purchases)
        run.trace.append(
            verdict(
                rule,
                "challenge",
                False,
                "nothing_eligible",
                f"{status} (this event added {values.display(added)})",
                hint=f"{values.display(challenge.goal - total)} more to reach the goal",
            )
        )
    change_state(run, {"challenges": progress})


def _count_purchase(
    run: Run, counts: Any, added: Decimal, context: Context, purchases: dict[str, CountedPurchase]
) -> dict[str, CountedPurchase]:
    """`purchases` and this purchase's part in the challenge, for a return to take back.

    Each line's part is what `counts` gives for a basket of that line alone. When the parts add
    up to what the purchase added (a count or a sum over the basket's lines: the usual case), a
    return takes back the returned lines' parts; otherwise (events counted as 1, a `max` …) the
    purchase's whole part comes back with its last line.
    """
    event = run.event
    if not isinstance(event, Purchase) or added == 0:
        return purchases
    parts: list[Decimal] | None = None
    if counts is not None:
        basket = context["basket"]
        parts = []
        # One context serves every line (its basket's lines replaced): each is read at once, by
        # one expression, and never kept (as `conditions.item_context`).
        alone = Context(context)
        single = alone["basket"] = dict(basket)
        evaluate = counts.evaluate  # `number(counts, None, alone)` of each line, spelt out
        for item, amount, line in zip(basket["items"], run.amounts, event.items, strict=True):
            single["items"] = (item,)
            single["total"] = amount
            single["item_count"] = line.qty
            value = evaluate(alone)
            parts.append(ZERO if value is None else Decimal(value))
    by_line = parts is not None and sum(parts, ZERO) == added
    lines = counted_lines(event.items, parts if parts and by_line else None)
    counted = trusted(
        CountedPurchase, {"added": added, "by_line": by_line, "lines": lines}, _COUNTED_PURCHASE
    )
    return {**purchases, event.id: counted}


def take_back(run: Run, event: Return) -> None:
    """Take back, from every challenge the returned purchase counted in, what its returned lines
    added (`_count_purchase`).

    Only while the window it counted in is the current one and its goal is not reached: a goal
    reached stays reached and its reward is kept (traced `capped`); a window that is over is left
    as it was. A line returned in part gives back its share of what it added, in proportion to
    the quantity, rounded down to the precision of what it added and cumulatively — a coffee line
    of 2 counted as 1 comes back with its second cup —, so a full return gives back exactly what
    was added. `when` is not asked again.
    """
    program = run.program
    if not program.challenges:
        return
    progress = dict(run.state.challenges)
    for challenge in program.challenges:
        before = progress.get(challenge.id)
        record = before.counted.get(event.purchase) if before is not None else None
        if before is None or record is None:
            continue
        rule = f"challenge:{challenge.id}"
        after = record.model_copy(update={"lines": _returned(record.lines, event)})
        words = _window_words(challenge.window, before.window)
        counted = {**before.counted, event.purchase: after}
        if before.window in before.completed:
            progress[challenge.id] = before.model_copy(update={"counted": counted})
            reason = f"the goal was reached {words}: nothing is taken back, the reward is kept"
            run.trace.append(simple_verdict(rule, "challenge", False, "capped", reason))
            continue
        if _current_window(challenge.window, run.local, before) != before.window:
            reason = f"the purchase counted {words}, which is over: nothing to take back"
            run.trace.append(simple_verdict(rule, "challenge", False, "nothing_eligible", reason))
            continue
        taken = _taken(record, after)
        total = before.progress - taken
        progress[challenge.id] = before.model_copy(update={"progress": total, "counted": counted})
        status = f"{values.display(total)} of {values.display(challenge.goal)} {words}"
        if taken:
            reason = f"the return took back {values.display(taken)}: {status}"
        elif not record.by_line:
            reason = f"the purchase counts whole until all of it is returned: {status}"
        else:
            reason = f"the returned lines added nothing: {status}"
        hint = f"{values.display(challenge.goal - total)} more to reach the goal"
        run.trace.append(verdict(rule, "challenge", False, "nothing_eligible", reason, hint=hint))
    run.state = run.state.model_copy(update={"challenges": progress})


def _returned(lines: list[CountedLine], event: Return) -> list[CountedLine]:
    """The lines with the return's quantities added, matched by sku in line order (at most what
    was bought: the points' return refuses more, RE433)."""
    returned = [line.returned for line in lines]
    for item in event.items:
        left = item.qty
        for position, line in enumerate(lines):
            if line.sku == item.sku and left > 0:
                taken = min(left, line.qty - returned[position])
                returned[position] += taken
                left -= taken
    return [
        line.model_copy(update={"returned": back}) if back != line.returned else line
        for line, back in zip(lines, returned, strict=True)
    ]


def _taken(before: CountedPurchase, after: CountedPurchase) -> Decimal:
    """What the return gives back of what the purchase added (the difference of two states)."""
    if not before.by_line:
        whole = all(line.returned >= line.qty for line in after.lines)
        was = all(line.returned >= line.qty for line in before.lines)
        return before.added if whole and not was else ZERO
    return sum(
        (
            _share(line.added, new.returned, line.qty) - _share(line.added, line.returned, line.qty)
            for line, new in zip(before.lines, after.lines, strict=True)
        ),
        ZERO,
    )


def _share(added: Decimal, returned: Decimal, qty: Decimal) -> Decimal:
    """The part of `added` that `returned` of `qty` account for, rounded down to its precision."""
    if returned >= qty:
        return added
    exponent = added.as_tuple().exponent
    quantum = Decimal(1).scaleb(min(exponent, 0) if isinstance(exponent, int) else 0)
    return (added * returned / qty).quantize(quantum, rounding=ROUND_FLOOR)


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
    key = periods.key(periods.WINDOWS.get(window.kind), local.date())
    if before is not None and window.kind != "lifetime" and older(key, before.window):
        return None
    return key


def _moment(key: str) -> dt.datetime | None:
    """The start of a stored rolling window (None if the key is a calendar one: the program changed)."""
    try:
        moment = dt.datetime.fromisoformat(key)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _window_words(window: Window, key: str) -> str:
    if window.kind == "rolling":
        start = dt.datetime.fromisoformat(key)
        return f"in the {window} from {start.strftime('%Y-%m-%d %H:%M')}"
    if window.kind == "lifetime":
        return "in all"
    return f"{periods.label(periods.WINDOWS[window.kind])} ({key})"


# Progress records are made from values of the right types already (trusted: not validated again).
_CHALLENGE_PROGRESS = {"window", "progress", "completed", "counted"}


_COUNTED_PURCHASE = {"added", "by_line", "lines"}


def _challenge_progress(
    window: str, progress: Decimal, completed: list[str], counted: dict[str, CountedPurchase]
) -> ChallengeProgress:
    values = {"window": window, "progress": progress, "completed": completed, "counted": counted}
    return trusted(ChallengeProgress, values, _CHALLENGE_PROGRESS)
