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
import functools
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from typing import Any, NamedTuple

from rules_engine import periods
from rules_engine.dsl import values
from rules_engine.dsl.context import Context
from rules_engine.dsl.expression import Expression
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import condition_trace, holds, mechanics_context
from rules_engine.engine.events import Purchase, Return
from rules_engine.engine.mechanics.challenge_progress import (
    _COUNTED_PURCHASE,
    _challenge_progress,
    _completed_in,
    _current_window,
    _progress,
    _window_words,
)
from rules_engine.engine.mechanics.lines import LineCount, line_count, lines_counted
from rules_engine.engine.mechanics.shared import GAMIFICATION as SECTIONS
from rules_engine.engine.mechanics.shared import (
    context_reader,
    hinted_verdict,
    not_on,
    number,
    older,
    reward_points,
    reward_verdict,
)
from rules_engine.engine.plan import Plan
from rules_engine.engine.rewards import give
from rules_engine.engine.run import ZERO, Run, change_state
from rules_engine.engine.schedule import within
from rules_engine.engine.trusted import (
    Text,
    counted_lines,
    counted_lines_shared,
    simple_verdict,
    trusted,
    verdict,
)
from rules_engine.program.model import Challenge, Program
from rules_engine.program.parts import Reward, Schedule
from rules_engine.program.types import Window
from rules_engine.state.compact import Counting
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
        counts = expression("challenges", index, "counts")
        _count(run, challenge, rule, before, progress, _measure(run, challenge, counts, context))
    change_state(run, {"challenges": progress})


Measure = Callable[[], tuple[Decimal, Callable[[], list[Decimal] | None]]]
"""What an event adds to a challenge, when asked: (added, its parts by basket line when asked)."""


def _count(
    run: Run,
    challenge: Challenge,
    rule: str,
    before: ChallengeProgress | None,
    progress: dict[str, ChallengeProgress],
    measure: Measure,
) -> None:
    """Count an admitted event towards `challenge` in its current window (`apply`): `measure`
    gives what it adds, and each basket line's part of it, only once they are needed."""
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
        return
    same = before is not None and before.window == current
    counted = before.progress if same and before is not None else ZERO
    completed = before.completed if before is not None else []
    purchases = dict(before.counted) if same and before is not None else {}
    added, parts = measure()
    total = counted + added
    words = _window_words(challenge.window, current)
    status = f"{values.display(total)} of {values.display(challenge.goal)} {words}"
    if current in completed:
        progress[challenge.id] = _challenge_progress(current, total, completed, purchases)
        run.trace.append(
            simple_verdict(rule, "challenge", False, "capped", f"{status}; already completed {words}")
        )
        return
    purchases = _count_purchase(run, added, parts, purchases)
    if total >= challenge.goal:
        completed = _completed_in(completed, current)
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
        return
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


def _measure(run: Run, challenge: Challenge, counts: Expression | None, context: Context) -> Measure:
    """`apply`'s `Measure`: `counts` (default: the literal count) on the whole basket, and each
    line's part evaluated on a basket of that line alone (`_line_parts`)."""

    def measure() -> tuple[Decimal, Callable[[], list[Decimal] | None]]:
        added = number(counts, challenge.counts, context)
        if counts is None:
            return added, _no_parts
        return added, lambda: _line_parts(run, counts, context)

    return measure


def _no_parts() -> None:
    return None


def _line_parts(run: Run, counts: Expression, context: Context) -> list[Decimal]:
    """What `counts` gives for a basket of each line alone (a purchase's)."""
    basket = context["basket"]
    parts: list[Decimal] = []
    # One context serves every line (its basket's lines replaced): each is read at once, by
    # one expression, and never kept (as `conditions.item_context`).
    alone = Context(context)
    single = alone["basket"] = dict(basket)
    evaluate = counts.evaluate  # `number(counts, None, alone)` of each line, spelt out
    for item, amount, line in zip(basket["items"], run.amounts, run.items, strict=True):
        single["items"] = (item,)
        single["total"] = amount
        single["item_count"] = line.qty
        value = evaluate(alone)
        parts.append(ZERO if value is None else Decimal(value))
    return parts


def _count_purchase(
    run: Run,
    added: Decimal,
    line_parts: Callable[[], list[Decimal] | None],
    purchases: dict[str, CountedPurchase],
) -> dict[str, CountedPurchase]:
    """`purchases` and this purchase's part in the challenge, for a return to take back.

    Each line's part (`line_parts`, None when `counts` is not an expression) is what `counts`
    gives for a basket of that line alone. When the parts add up to what the purchase added (a
    count or a sum over the basket's lines: the usual case), a return takes back the returned
    lines' parts; otherwise (events counted as 1, a `max` …) the purchase's whole part comes back
    with its last line.
    """
    event = run.event
    if not isinstance(event, Purchase) or added == 0:
        return purchases
    parts = line_parts()
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


def still_added(record: CountedPurchase) -> Decimal:
    """What a counted purchase still adds to its window's progress: what it added, less what its
    returns took back (tools/voids.py sums them: progress beyond them was counted unrecorded)."""
    unreturned = [line.model_copy(update={"returned": ZERO}) for line in record.lines]
    return record.added - _taken(record.model_copy(update={"lines": unreturned}), record)


def _share(added: Decimal, returned: Decimal, qty: Decimal) -> Decimal:
    """The part of `added` that `returned` of `qty` account for, rounded down to its precision."""
    if returned >= qty:
        return added
    exponent = added.as_tuple().exponent
    quantum = Decimal(1).scaleb(min(exponent, 0) if isinstance(exponent, int) else 0)
    return (added * returned / qty).quantize(quantum, rounding=ROUND_FLOOR)


# -- a purchase on the generated path ------------------------------------------------------------


_KEPT = 1024  # keys and words remembered per challenge (a day's key, a window's words)


WindowKey = Callable[[dt.datetime, ChallengeProgress | None], str | None]
"""`_current_window` of one challenge's window: the key of the window an event falls in, None
when it falls before the stored one."""


def _window_key(window: Window) -> WindowKey:
    """`_current_window(window, …)` decided once per challenge: a calendar window's key worked out
    once per local day (kept by the day's ordinal), the stored window's compared as there."""
    if window.kind == "rolling":
        return functools.partial(_current_window, window)
    period = periods.WINDOWS.get(window.kind)
    lifetime = window.kind == "lifetime"
    keys: dict[int, str] = {}

    def window_key(local: dt.datetime, before: ChallengeProgress | None) -> str | None:
        day = local.toordinal()
        key = keys.get(day)
        if key is None:
            if len(keys) >= _KEPT:
                keys.clear()
            key = keys[day] = periods.key(period, local.date())
        if before is not None and not lifetime:
            stored = before.window
            if stored != key and older(key, stored):  # the usual event falls in the stored window
                return None
        return key

    return window_key


def _words_of(window: Window) -> Callable[[str], str]:
    """`_window_words(window, key)`, each window's words made once (every event of a week says
    them again)."""
    words: dict[str, str] = {}

    def words_of(key: str) -> str:
        found = words.get(key)
        if found is None:
            if len(words) >= _KEPT:
                words.clear()
            found = words[key] = _window_words(window, key)
        return found

    return words_of


class _Step(NamedTuple):
    """A challenge as `for_purchase` runs it (see there)."""

    challenge: Challenge
    rule: str
    id: str
    once: bool  # `repeat: once`
    active: Schedule | None
    wrong: Any
    when: Expression | None
    read_when: Callable[[Run], Context]
    counts: Expression | None
    read_counts: Callable[[Run], Context]
    fused: LineCount | None
    window_key: WindowKey
    words: Callable[[str], str]
    goal: str
    goal_value: Decimal
    counts_lines: bool  # `fused` counts the lines (else sums them)
    reward: Reward
    points: Decimal | int | None
    lines: dict[tuple[Any, ...], tuple[CountedLine, Decimal]]


def for_purchase(plan: Plan) -> Callable[[Run], None]:
    """`apply` for a purchase the generated path takes (explain off), its questions answered once
    per program: a challenge not `on` purchases traces one entry made once; which context its
    `when` and `counts` read (`shared.context_reader`: the purchase history only when read); a
    `counts` that counts or sums the basket's lines (`lines.line_count`) evaluated as one list of each
    line's part, the whole their sum (`_count_lines`); a calendar window's key once per day and
    its words once per window. The same trace, progress and rewards as `apply`; the challenges'
    progress copied only when one of them counts the event."""
    expression = plan.compiled.expression
    steps: list[_Step] = []
    for index, challenge in enumerate(plan.program.challenges):
        rule = f"challenge:{challenge.id}"
        when = expression("challenges", index, "when")
        counts = expression("challenges", index, "counts")
        fused = line_count(counts)
        steps.append(
            _Step(
                challenge,
                rule,
                challenge.id,
                challenge.repeat == "once",
                challenge.active,
                not_on(rule, "challenge", challenge.on, "purchase"),
                when,
                context_reader(plan, when),
                counts,
                context_reader(plan, counts),
                fused,
                _window_key(challenge.window),
                _words_of(challenge.window),
                values.display(challenge.goal),
                challenge.goal,
                fused is not None and fused.func == "count",
                challenge.reward,
                challenge.reward.points,
                {},
            )
        )

    def challenges_of_purchase(run: Run) -> None:
        trace = run.trace
        known = run.state.challenges
        progress: dict[str, ChallengeProgress] | None = None  # copied when a challenge counts
        for step in steps:
            if step.wrong is not None:
                trace.append(step.wrong)
                continue
            rule = step.rule
            before = known.get(step.id)
            if step.once and before is not None and before.completed:
                reason = f"already completed (in {before.completed[0]})"
                trace.append(simple_verdict(rule, "challenge", False, "capped", reason))
                continue
            if step.active is not None:
                where = within(step.active, run.local)
                if where is not None:
                    trace.append(simple_verdict(rule, "challenge", False, "outside_schedule", where))
                    continue
            when = step.when
            if when is not None:
                context = step.read_when(run)
                if not holds(when, context):
                    trace.append(condition_trace(run, rule, "challenge", when, context, "`when` is false"))
                    continue
            if progress is None:
                progress = dict(known)
            if step.fused is not None:
                _count_lines(run, step, before, progress)
            else:
                measure = _measure(run, step.challenge, step.counts, step.read_counts(run))
                _count(run, step.challenge, rule, before, progress, measure)
        if progress is not None:
            change_state(run, {"challenges": progress})

    return challenges_of_purchase


def _count_lines(run: Run, step: _Step, before: ChallengeProgress | None, progress: dict[str, Any]) -> None:
    """`_count` of an admitted purchase for a challenge whose `counts` is a `LineCount`, spelt out:
    each line's part from one list comprehension, what the purchase adds their sum; the record a
    return reads (`_count_purchase`) made only when the purchase adds something to a window not
    completed, its lines found by their decimals (`trusted.counted_lines_shared`). On a step in
    place (`run.working`) the progress is a `Counting` (state/compact.py), that record made only
    when the window's `counted` is read (`_record_of`)."""
    rule, key = step.rule, step.id
    current = step.window_key(run.local, before)
    if current is None:  # an event older than the current window: it cannot count any more
        assert before is not None
        late = f"the event is before the current window ({before.window})"
        run.trace.append(simple_verdict(rule, "challenge", False, "nothing_eligible", late))
        return
    lazy = run.working is not None  # a step in place: the records made when read (`Counting`)
    purchases: Any  # the window's records (never changed in place), or on a step the progress they extend
    if before is not None:
        same = before.window == current
        counted = before.progress if same else ZERO
        prior: Any = before  # a `Counting` on a step, else the model
        purchases = (prior if type(prior) is Counting else before.counted) if same else {}
        completed = before.completed
    else:
        counted, purchases, completed = ZERO, {}, []
    made = None  # on a step: this purchase's record, made when read
    fused = step.fused
    assert fused is not None
    raw = fused.parts(step.read_counts(run))
    added = Decimal(sum(raw))
    total = counted + added
    words = step.words(current)
    if current in completed:
        progress[key] = _progress(current, total, completed, purchases, lazy)
        reason = Text(capped_words, total, step.goal, words)
        run.trace.append(simple_verdict(rule, "challenge", False, "capped", reason))
        return
    if added != 0 and lazy:
        lines_of = (run.items, run.skus, run.quantities) if step.counts_lines else run.event.items  # type: ignore[union-attr]
        made = (run.event.id, _record_of, (fused.func, lines_of, raw, step.lines, added))
    elif added != 0:
        event = run.event
        if step.counts_lines:
            lines = lines_counted(run.items, raw, step.lines, run.skus, run.quantities)
            by_line = True  # the parts' sum is the count
        else:
            parts = [Decimal(part) for part in raw]
            by_line = sum(parts, ZERO) == added
            lines = counted_lines_shared(event.items, parts if by_line else [ZERO] * len(parts))  # type: ignore[union-attr]
        record = {"added": added, "by_line": by_line, "lines": lines}
        purchases = {**purchases, event.id: trusted(CountedPurchase, record, _COUNTED_PURCHASE)}
    goal = step.goal_value
    if total >= goal:
        reached = _completed_in(completed, current)
        progress[key] = _progress(current, total, reached, purchases, lazy, made)
        gives = give(run, step.reward, rule)
        reason = Text(reached_words, total, step.goal, words, gives)
        run.trace.append(reward_verdict(rule, "challenge", reason, step.points))
        return
    progress[key] = _progress(current, total, completed, purchases, lazy, made)
    reason = Text(added_words, total, step.goal, words, added)
    hint = Text(hint_words, goal - total)
    run.trace.append(hinted_verdict(rule, "challenge", "nothing_eligible", reason, hint))


def _record_of(func: str, lines_of: Any, raw: list[Any], kept: Any, added: Decimal) -> CountedPurchase:
    """The record `_count_lines` keeps of a purchase it counted (what a return takes back), made
    from the purchase's lines (`lines_of`: the run's items, SKUs and quantities for a count, the
    event's items for a sum) and each line's part when the progress's `counted` is first read."""
    if func == "count":
        lines = lines_counted(lines_of[0], raw, kept, lines_of[1], lines_of[2])
        by_line = True  # the parts' sum is the count
    else:
        parts = [Decimal(part) for part in raw]
        by_line = sum(parts, ZERO) == added
        lines = counted_lines_shared(lines_of, parts if by_line else [ZERO] * len(parts))
    return trusted(CountedPurchase, {"added": added, "by_line": by_line, "lines": lines}, _COUNTED_PURCHASE)


# The words of `_count_lines`' trace entries, made when the trace is read (`verdicts.Text`): the same
# as `_count`'s (the progress and what was added in full, `format(…, "f")`, as `values.display`
# gives a decimal that is a whole number or has a fraction; the goal as `values.display` gave it).


def _status(total: Decimal, goal: str, words: str) -> str:
    return f"{format(total, 'f')} of {goal} {words}"


def capped_words(total: Decimal, goal: str, words: str) -> str:
    return f"{_status(total, goal, words)}; already completed {words}"


def reached_words(total: Decimal, goal: str, words: str, gives: list[str]) -> str:
    return f"{_status(total, goal, words)}: goal reached; gives {', '.join(gives) or 'nothing new'}"


def added_words(total: Decimal, goal: str, words: str, added: Decimal) -> str:
    return f"{_status(total, goal, words)} (this event added {format(added, 'f')})"


def hint_words(missing: Decimal) -> str:
    return f"{values.display(missing)} more to reach the goal"
