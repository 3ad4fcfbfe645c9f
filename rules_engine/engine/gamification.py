"""Challenges, quests, badges and streaks: the gamification mechanics of one event.

Each is a function of the run (`mechanic(run)`), called by the engine after the earn rules. It
reads the event (`run.event`, `run.local`: its time in the program's timezone), the state
before the event (`run.state`) and the condition context (`run.context`); it gives rewards with
`run.give`, records its progress in `run.state` (`challenges`, `quests`, `streaks`) and traces
every decision (`kind` "challenge", "quest", "badge", "streak"; rule `<kind>:<id>`).

Only the event's time counts, never the clock: the same state and event give the same result.
The rules are in docs/engine.md, "Challenges, quests, badges and streaks".
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from rules_engine import periods
from rules_engine.dsl import values
from rules_engine.dsl.context import Context
from rules_engine.engine.events import Purchase, Return
from rules_engine.engine.schedule import within
from rules_engine.engine.trusted import replaced, rule_trace, trusted
from rules_engine.program.model import Quest, Reward
from rules_engine.program.types import Window
from rules_engine.state.customer import (
    ChallengeProgress,
    CountedLine,
    CountedPurchase,
    QuestProgress,
    StreakProgress,
)

if TYPE_CHECKING:
    from rules_engine.engine.evaluator import _Run

ZERO = Decimal(0)
_SECTIONS = frozenset({"challenges", "quests", "badges", "streaks"})


# -- challenges ----------------------------------------------------------------------------------


def challenges(run: _Run) -> None:
    """Count the event towards every challenge it qualifies for; reward a goal reached.

    An event counts when its type is in `on`, it is inside `active` and `when` holds; it adds
    `counts` (default 1) to the progress of the current window. A new window starts from 0.
    Reaching `goal` gives the reward once per window (`every_window`) or once ever (`once`).
    """
    program = run.program
    if not program.challenges:
        return
    context = run.mechanics_context(_SECTIONS)
    expression = run.engine.compiled.expression
    progress = dict(run.state.challenges)
    for index, challenge in enumerate(program.challenges):
        rule = f"challenge:{challenge.id}"
        if run.event.type not in challenge.on:
            if isinstance(run.event, Return) and any(t.rule == rule for t in run.trace):
                continue  # `take_back` said what the return did to it
            run.trace.append(
                rule_trace(rule, "challenge", False, "wrong_event", wrong_event(run, challenge.on))
            )
            continue
        before = progress.get(challenge.id)
        if challenge.repeat == "once" and before is not None and before.completed:
            run.trace.append(
                rule_trace(
                    rule, "challenge", False, "capped", f"already completed (in {before.completed[0]})"
                )
            )
            continue
        outside = within(challenge.active, run.local)
        if outside is not None:
            run.trace.append(rule_trace(rule, "challenge", False, "outside_schedule", outside))
            continue
        if not run.holds(expression("challenges", index, "when"), context):
            run.trace.append(rule_trace(rule, "challenge", False, "condition_false", "`when` is false"))
            continue
        current = _current_window(challenge.window, run.local, before)
        if current is None:  # an event older than the current window: it cannot count any more
            assert before is not None
            run.trace.append(
                rule_trace(
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
        added = _number(counts, challenge.counts, context)
        total = counted + added
        words = _window_words(challenge.window, current)
        status = f"{values.display(total)} of {values.display(challenge.goal)} {words}"
        if current in completed:
            progress[challenge.id] = _challenge_progress(current, total, completed, purchases)
            run.trace.append(
                rule_trace(rule, "challenge", False, "capped", f"{status}; already completed {words}")
            )
            continue
        purchases = _count_purchase(run, counts, added, context, purchases)
        if total >= challenge.goal:
            completed.append(current)
            progress[challenge.id] = _challenge_progress(current, total, completed, purchases)
            gives = run.give(challenge.reward, rule)
            run.trace.append(
                rule_trace(
                    rule,
                    "challenge",
                    True,
                    "fired",
                    f"{status}: goal reached; gives {', '.join(gives) or 'nothing new'}",
                    **_points(challenge.reward),
                )
            )
            continue
        progress[challenge.id] = _challenge_progress(current, total, completed, purchases)
        run.trace.append(
            rule_trace(
                rule,
                "challenge",
                False,
                "nothing_eligible",
                f"{status} (this event added {values.display(added)})",
                hint=f"{values.display(challenge.goal - total)} more to reach the goal",
            )
        )
    run.state = replaced(run.state, {"challenges": progress})


def _count_purchase(
    run: _Run, counts: Any, added: Decimal, context: Context, purchases: dict[str, CountedPurchase]
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
        for line, item in enumerate(basket["items"]):
            alone = Context(context)
            alone["basket"] = {
                **basket,
                "items": (item,),
                "total": run.amounts[line],
                "item_count": event.items[line].qty,
            }
            parts.append(_number(counts, None, alone))
    by_line = parts is not None and sum(parts, ZERO) == added
    lines = [
        trusted(
            CountedLine,
            {
                "line": i,
                "sku": item.sku,
                "qty": item.qty,
                "added": parts[i] if parts and by_line else ZERO,
                "returned": ZERO,
            },
            _COUNTED_LINE,
        )
        for i, item in enumerate(event.items)
    ]
    counted = trusted(
        CountedPurchase, {"added": added, "by_line": by_line, "lines": lines}, _COUNTED_PURCHASE
    )
    return {**purchases, event.id: counted}


def take_back(run: _Run, event: Return) -> None:
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
            run.trace.append(rule_trace(rule, "challenge", False, "capped", reason))
            continue
        if _current_window(challenge.window, run.local, before) != before.window:
            reason = f"the purchase counted {words}, which is over: nothing to take back"
            run.trace.append(rule_trace(rule, "challenge", False, "nothing_eligible", reason))
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
        run.trace.append(rule_trace(rule, "challenge", False, "nothing_eligible", reason, hint=hint))
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
    if before is not None and window.kind != "lifetime" and _older(key, before.window):
        return None
    return key


def _moment(key: str) -> dt.datetime | None:
    """The start of a stored rolling window (None if the key is a calendar one: the program changed)."""
    try:
        moment = dt.datetime.fromisoformat(key)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _older(key: str, than: str) -> bool:
    """Whether calendar key `key` is an earlier period than `than` (keys of one kind sort by time)."""
    return len(key) == len(than) and key < than


def _window_words(window: Window, key: str) -> str:
    if window.kind == "rolling":
        start = dt.datetime.fromisoformat(key)
        return f"in the {window} from {start.strftime('%Y-%m-%d %H:%M')}"
    if window.kind == "lifetime":
        return "in all"
    return f"{periods.label(periods.WINDOWS[window.kind])} ({key})"


# -- quests --------------------------------------------------------------------------------------


def quests(run: _Run) -> None:
    """Mark the steps of every quest this event does; reward a quest whose last step is done.

    The time limit `within` runs from the first step; an event at or after the deadline finds
    the attempt reset, and may start a new one. Ordered quests take their steps one per event,
    in order; in unordered quests one event does every open step it matches.
    """
    program = run.program
    if not program.quests:
        return
    context = run.mechanics_context(_SECTIONS)
    progress = dict(run.state.quests)
    event, moment = run.event, run.event.time
    for index, quest in enumerate(program.quests):
        rule = f"quest:{quest.id}"
        types = run.plan.quest_types[index]
        if event.type not in types:
            run.trace.append(rule_trace(rule, "quest", False, "wrong_event", wrong_event(run, types)))
            continue
        before = progress.get(quest.id) or _NO_PROGRESS
        if before.completed:
            run.trace.append(rule_trace(rule, "quest", False, "capped", "already completed"))
            continue
        notes: list[str] = []
        done, started = list(before.done), before.started_at
        if started is not None and quest.within is not None and moment >= started + quest.within:
            notes.append(
                f"the time limit of the attempt started {_local(run, started)} passed: progress reset"
            )
            done, started = [], None
        matched = _quest_steps(run, index, quest, done, context)
        if matched and started is None:
            started = moment
        done += matched
        count, total = len(done), len(quest.steps)
        status = f"{count} of {total} steps"
        if done:
            status += f" ({', '.join(_step_name(quest, i) for i in done)})"
        if count == total:
            progress[quest.id] = _quest_progress(started, done, True)
            gives = run.give(quest.reward, rule)
            reason = f"{status}: quest complete; gives {', '.join(gives) or 'nothing new'}"
            run.trace.append(
                rule_trace(rule, "quest", True, "fired", "; ".join([*notes, reason]), **_points(quest.reward))
            )
            continue
        progress[quest.id] = _quest_progress(started, done, False)
        if started is not None and quest.within is not None:
            status += f", until {_local(run, started + quest.within)}"
        if matched:
            reason = f"done {', '.join(_step_name(quest, i) for i in matched)}: {status}"
            code = "nothing_eligible"
        else:
            reason = f"no open step matched: {status}"
            code = "condition_false"
        run.trace.append(rule_trace(rule, "quest", False, code, "; ".join([*notes, reason])))
    run.state = replaced(run.state, {"quests": progress})


def _quest_steps(run: _Run, index: int, quest: Quest, done: list[int], context: Context) -> list[int]:
    """The steps this event does: the next one (ordered), or every open one it matches."""
    whens = run.plan.quest_steps[index]
    if quest.ordered:
        open_steps = [len(done)] if len(done) < len(quest.steps) else []
    else:
        open_steps = [i for i in range(len(quest.steps)) if i not in done]
    matched = []
    for i in open_steps:
        step = quest.steps[i]
        if step.on == run.event.type and run.holds(whens[i], context):
            matched.append(i)
    return matched


def _step_name(quest: Quest, index: int) -> str:
    return quest.steps[index].id or f"step {index + 1}"


# -- badges --------------------------------------------------------------------------------------


def badges(run: _Run) -> None:
    """Give every automatic badge (one with `on` or `when`) the event earns, once ever.

    A badge with `on` is earned by those event types; with only `when`, by any event for which
    it holds. Its `reward`, if any, comes with it. Badges without `on` and `when` are given only
    as other mechanics' rewards.
    """
    automatic = run.plan.automatic_badges
    if not automatic:
        return
    context = run.mechanics_context(_SECTIONS)
    for _, badge, when in automatic:
        rule = f"badge:{badge.id}"
        if badge.on and run.event.type not in badge.on:
            run.trace.append(rule_trace(rule, "badge", False, "wrong_event", wrong_event(run, badge.on)))
            continue
        held = badge.id in run.state.badges or any(b.badge == badge.id for b in run.badges)
        if held:
            run.trace.append(rule_trace(rule, "badge", False, "capped", "already earned"))
            continue
        if not run.holds(when, context):
            run.trace.append(rule_trace(rule, "badge", False, "condition_false", "`when` is false"))
            continue
        extra = badge.reward
        reward = Reward(
            badge=badge.id,
            points=extra.points if extra else None,
            coupon=extra.coupon if extra else None,
            entries=extra.entries if extra else None,
        )
        gives = run.give(reward, rule)
        if extra is not None and extra.badge is not None:
            gives += run.give(Reward(badge=extra.badge), rule)
        run.trace.append(
            rule_trace(rule, "badge", True, "fired", f"earned: gives {', '.join(gives)}", **_points(reward))
        )


# -- streaks -------------------------------------------------------------------------------------


def streaks(run: _Run) -> None:
    """Extend every streak the event keeps going; reward the milestones reached.

    Periods are local days or ISO weeks (Monday to Sunday) in the program's timezone. A second
    event in the same period changes nothing; the next period adds 1; a gap starts a new run at
    1. Each milestone is rewarded once per run; with `repeat`, the count towards the milestones
    starts again from 0 after the last (longest) one.
    """
    program = run.program
    if not program.streaks:
        return
    context = run.mechanics_context(_SECTIONS)
    expression = run.engine.compiled.expression
    progress = dict(run.state.streaks)
    day = run.local.date()
    for index, streak in enumerate(program.streaks):
        rule = f"streak:{streak.id}"
        if run.event.type != streak.on:
            run.trace.append(rule_trace(rule, "streak", False, "wrong_event", wrong_event(run, [streak.on])))
            continue
        if not run.holds(expression("streaks", index, "when"), context):
            run.trace.append(rule_trace(rule, "streak", False, "condition_false", "`when` is false"))
            continue
        unit = streak.unit
        key = periods.key(unit, day)
        before = progress.get(streak.id)
        if before is not None and (before.last == key or _older(key, before.last)):
            same = before.last == key
            words = f"already counted this {unit}" if same else f"before the last counted {unit}"
            run.trace.append(
                rule_trace(
                    rule, "streak", False, "nothing_eligible", f"{words}: {_length(before.length, unit)}"
                )
            )
            continue
        previous = periods.previous_key(unit, day)
        if before is not None and before.last == previous:
            length, given, note = before.length + 1, list(before.given), ""
        else:
            length, given = 1, []
            note = f" (a new run: the last {unit} counted was {before.last})" if before is not None else ""
        top = max(m.length for m in streak.milestones)
        # With `repeat`, the count towards the milestones restarts after the longest one.
        position = (length - 1) % top + 1 if streak.repeat else length
        if streak.repeat and position == 1:
            given = []
        reached = [m for m in streak.milestones if m.length == position and m.length not in given]
        status = _length(length, unit) + note
        if streak.repeat and length != position:
            status += f", {position} towards the milestones of this round"
        if not reached:
            progress[streak.id] = _streak_progress(key, length, given)
            upcoming = sorted(m.length for m in streak.milestones if m.length > position)
            hint = f"{upcoming[0] - position} more {unit}s to the next milestone" if upcoming else None
            run.trace.append(rule_trace(rule, "streak", False, "nothing_eligible", status, hint=hint))
            continue
        gives: list[str] = []
        points = ZERO
        for milestone in reached:
            gives += run.give(milestone.reward, rule)
            points += milestone.reward.points or ZERO
            given.append(milestone.length)
        progress[streak.id] = _streak_progress(key, length, given)
        amount: dict[str, Any] = {"amount": points, "unit": "points"} if points else {}
        run.trace.append(
            rule_trace(
                rule,
                "streak",
                True,
                "fired",
                f"{status}: milestone {position} reached; gives {', '.join(gives) or 'nothing new'}",
                **amount,
            )
        )
    run.state = replaced(run.state, {"streaks": progress})


def _length(length: int, unit: str) -> str:
    return f"{length} {unit}{'' if length == 1 else 's'} in a row"


# -- shared --------------------------------------------------------------------------------------
# Progress records are made from values of the right types already (trusted: not validated again).
_CHALLENGE_PROGRESS = {"window", "progress", "completed", "counted"}
_COUNTED_LINE = {"line", "sku", "qty", "added"}
_COUNTED_PURCHASE = {"added", "by_line", "lines"}
_QUEST_PROGRESS = {"started_at", "done", "completed"}
_STREAK_PROGRESS = {"last", "length", "given"}
_NO_PROGRESS = QuestProgress()


def _challenge_progress(
    window: str, progress: Decimal, completed: list[str], counted: dict[str, CountedPurchase]
) -> ChallengeProgress:
    values = {"window": window, "progress": progress, "completed": completed, "counted": counted}
    return trusted(ChallengeProgress, values, _CHALLENGE_PROGRESS)


def _quest_progress(started_at: dt.datetime | None, done: list[int], completed: bool) -> QuestProgress:
    values = {"started_at": started_at, "done": done, "completed": completed}
    return trusted(QuestProgress, values, _QUEST_PROGRESS)


def _streak_progress(last: str, length: int, given: list[int]) -> StreakProgress:
    return trusted(StreakProgress, {"last": last, "length": length, "given": given}, _STREAK_PROGRESS)


def _number(expression: Any, literal: Any, context: Context) -> Decimal:
    if expression is None:
        return Decimal(literal)
    value = expression.evaluate(context)
    return ZERO if value is None else Decimal(value)


def _points(reward: Reward) -> dict[str, Any]:
    return {"amount": reward.points, "unit": "points"} if reward.points else {}


def wrong_event(run: _Run, types: list[str]) -> str:
    """Why a mechanic ignored this event, in the words every mechanic uses."""
    return f"{run.event.type} is not one of: {', '.join(types)}"


def _local(run: _Run, moment: dt.datetime) -> str:
    return moment.astimezone(run.engine.zone).strftime("%Y-%m-%d %H:%M")
