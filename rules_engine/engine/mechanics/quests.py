"""Quests: steps done in order or in any order, within a time limit from the first.

The time limit `within` runs from the first step; an event at or after the deadline finds the
attempt reset, and may start a new one. Ordered quests take their steps one per event, in order;
in unordered quests one event does every open step it matches. Progress is kept in
`state.quests`; every decision is traced (kind "quest", rule `quest:<id>`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

from rules_engine.dsl.context import Context
from rules_engine.dsl.expression import Expression
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import holds, mechanics_context
from rules_engine.engine.mechanics.shared import GAMIFICATION as SECTIONS
from rules_engine.engine.mechanics.shared import (
    context_reader,
    local_words,
    not_on,
    reward_points,
    reward_verdict,
    words_at,
)
from rules_engine.engine.plan import Plan
from rules_engine.engine.rewards import give
from rules_engine.engine.run import Run, change_state
from rules_engine.engine.trusted import Text, Verdict, simple_verdict, trusted, verdict
from rules_engine.program.model import Program, Quest
from rules_engine.state.compact import Questing
from rules_engine.state.customer import QuestProgress


def idle(program: Program) -> bool:
    """Whether the mechanic can do nothing for `program`, whatever the event (it is not called)."""
    return not program.quests


def apply(run: Run) -> None:
    """Mark the steps of every quest this event does; reward a quest whose last step is done.

    The time limit `within` runs from the first step; an event at or after the deadline finds
    the attempt reset, and may start a new one. Ordered quests take their steps one per event,
    in order; in unordered quests one event does every open step it matches.
    """
    program = run.program
    if not program.quests:
        return
    context = mechanics_context(run, SECTIONS)
    progress = dict(run.state.quests)
    for index, quest in enumerate(program.quests):
        rule = f"quest:{quest.id}"
        types = run.plan.quest_types[index]
        before = progress.get(quest.id) or _NO_PROGRESS
        done_before = ("capped", "already completed") if before.completed else None
        if not admitted(run, rule, "quest", on=types, refused=done_before):
            continue

        def match(done: list[int], index: int = index, quest: Quest = quest) -> list[int]:
            return _quest_steps(run, index, quest, done, context)

        _advance(run, quest, rule, before, progress, match)
    change_state(run, {"quests": progress})


def _advance(
    run: Run,
    quest: Quest,
    rule: str,
    before: QuestProgress,
    progress: dict[str, QuestProgress],
    match: Callable[[list[int]], list[int]],
) -> None:
    """Do the steps `match` finds for an admitted event (`apply`), given the steps done."""
    moment = run.event.time
    notes: list[str] = []
    done, started = list(before.done), before.started_at
    if started is not None and quest.within is not None and moment >= started + quest.within:
        notes.append(
            f"the time limit of the attempt started {local_words(run, started)} passed: progress reset"
        )
        done, started = [], None
    matched = match(done)
    if matched and started is None:
        started = moment
    done += matched
    count, total = len(done), len(quest.steps)
    status = f"{count} of {total} steps"
    if done:
        status += f" ({', '.join(_step_name(quest, i) for i in done)})"
    if count == total:
        progress[quest.id] = _quest_progress(started, done, True)
        gives = give(run, quest.reward, rule)
        reason = f"{status}: quest complete; gives {', '.join(gives) or 'nothing new'}"
        run.trace.append(
            verdict(rule, "quest", True, "fired", "; ".join([*notes, reason]), **reward_points(quest.reward))
        )
        return
    progress[quest.id] = _quest_progress(started, done, False)
    if started is not None and quest.within is not None:
        status += f", until {local_words(run, started + quest.within)}"
    if matched:
        reason = f"done {', '.join(_step_name(quest, i) for i in matched)}: {status}"
        code = "nothing_eligible"
    else:
        reason = f"no open step matched: {status}"
        code = "condition_false"
    run.trace.append(simple_verdict(rule, "quest", False, code, "; ".join([*notes, reason])))


def _quest_steps(run: Run, index: int, quest: Quest, done: list[int], context: Context) -> list[int]:
    """The steps this event does: the next one (ordered), or every open one it matches."""
    whens = run.plan.quest_steps[index]
    if quest.ordered:
        open_steps = [len(done)] if len(done) < len(quest.steps) else []
    else:
        open_steps = [i for i in range(len(quest.steps)) if i not in done]
    matched = []
    for i in open_steps:
        step = quest.steps[i]
        if step.on == run.event.type and holds(whens[i], context):
            matched.append(i)
    return matched


def _step_name(quest: Quest, index: int) -> str:
    return quest.steps[index].id or f"step {index + 1}"


_QUEST_PROGRESS = {"started_at", "done", "completed"}

_NO_PROGRESS = QuestProgress()


def _quest_progress(started_at: dt.datetime | None, done: list[int], completed: bool) -> QuestProgress:
    values = {"started_at": started_at, "done": done, "completed": completed}
    return trusted(QuestProgress, values, _QUEST_PROGRESS)


_Step = tuple[int, Expression | None, Callable[[Run], Context]]
"""A purchase step: its index, its `when`, and how that reads its context."""


class _Purchase(NamedTuple):
    """A quest as `for_purchase` runs it (see there)."""

    quest: Quest
    rule: str
    wrong: Verdict | None
    capped: Verdict
    steps: tuple[_Step, ...]
    # the purchase steps open in a new attempt: the first (ordered, when it is one), or every one
    fresh: tuple[_Step, ...]
    names: tuple[str, ...]
    # what is known of an attempt by the record's identity (the record is kept, so its id is not
    # reused while it is here): `_Known`
    known: dict[int, _Known]


class _Known(NamedTuple):
    """What a purchase asks of one attempt's record, worked out once (`_known`): the trace entry of
    a purchase that leaves it as it was, when its time limit passes (None: never), and the purchase
    steps still open in it. An attempt with no open purchase step (the usual one: its purchase
    steps done, another kind of step left) is one comparison at every purchase until its limit."""

    record: Any
    as_was: Verdict | None  # None: every step done (not completed yet: `_advance` completes it)
    deadline: dt.datetime | None
    open: tuple[_Step, ...]


_KEPT = 4096  # the attempts remembered per quest


def for_purchase(plan: Plan) -> Callable[[Run], None]:
    """`apply` for a purchase the generated path takes (explain off), its questions answered once
    per program: a quest with no purchase step traces one entry made once, and so does a quest
    completed already; only the purchase steps still open are looked at, each `when` in the context
    it reads (`shared.context_reader`). What a purchase asks of an attempt (its deadline, its open
    steps, the entry of a purchase that leaves it as it was) is worked out once per record
    (`_known`): an attempt the purchase leaves as it was keeps its record — nothing is made, the
    quests' progress is not copied, the trace's entry is shared. An attempt that moves on is traced
    in words made when read (`verdicts.Text`) and, on a step in place (`run.working`), kept as a
    `compact.Questing`, its model made when the public state is. The same trace, progress and
    rewards as `apply`."""
    quests: list[_Purchase] = []
    for index, quest in enumerate(plan.program.quests):
        rule = f"quest:{quest.id}"
        whens = plan.quest_steps[index]
        steps = tuple(
            (i, whens[i], context_reader(plan, whens[i]))
            for i, step in enumerate(quest.steps)
            if step.on == "purchase"
        )
        quests.append(
            _Purchase(
                quest,
                rule,
                not_on(rule, "quest", plan.quest_types[index], "purchase"),
                simple_verdict(rule, "quest", False, "capped", "already completed"),
                steps,
                _open(quest, steps, []),
                tuple(_step_name(quest, i) for i in range(len(quest.steps))),
                {},
            )
        )
    zone = plan.zone

    def quests_of_purchase(run: Run) -> None:
        trace = run.trace
        attempts = run.state.quests
        moment = run.event.time
        progress: dict[str, Any] | None = None  # copied when an attempt moves on
        for purchase in quests:
            if purchase.wrong is not None:
                trace.append(purchase.wrong)
                continue
            quest = purchase.quest
            before = attempts.get(quest.id)
            as_was = None  # the entry of a purchase that leaves the attempt as it was
            if before is None:
                steps = purchase.fresh
            elif before.completed:
                trace.append(purchase.capped)
                continue
            else:
                known = purchase.known.get(id(before))
                if known is None or known.record is not before:
                    known = _known(purchase, before, zone)
                deadline = known.deadline
                if deadline is not None and moment >= deadline:
                    steps = purchase.fresh  # the attempt is reset (`_moved_on` says so)
                else:
                    as_was, steps = known.as_was, known.open
                    if not steps and as_was is not None:
                        trace.append(as_was)  # nothing a purchase can do before the deadline
                        continue
            matched = [i for i, when, read in steps if holds(when, read(run))]
            if not matched and as_was is not None:
                trace.append(as_was)
                continue
            if progress is None:
                progress = dict(attempts)
            _moved_on(run, purchase, before, progress, matched, zone)
        if progress is not None:
            change_state(run, {"quests": progress})

    return quests_of_purchase


def _open(quest: Quest, steps: tuple[_Step, ...], done: list[int]) -> tuple[_Step, ...]:
    """The purchase steps an event can do in an attempt with `done` steps (`_quest_steps`)."""
    if quest.ordered:  # the next step only
        return tuple(step for step in steps if step[0] == len(done))
    return tuple(step for step in steps if step[0] not in done)


def _known(purchase: _Purchase, before: Any, zone: dt.tzinfo) -> _Known:
    """What a purchase asks of the attempt `before` (`_Known`), remembered by its identity."""
    quest, done, started = purchase.quest, before.done, before.started_at
    deadline = started + quest.within if started is not None and quest.within is not None else None
    as_was = None
    if len(done) < len(quest.steps):  # what `_advance` traces of a purchase that does nothing
        reason = Text(_step_words, purchase.names, len(quest.steps), None, done, [], deadline, zone)
        as_was = simple_verdict(purchase.rule, "quest", False, "condition_false", reason)
    made = _Known(before, as_was, deadline, _open(quest, purchase.steps, done))
    kept = purchase.known
    if len(kept) >= _KEPT:
        kept.clear()
    kept[id(before)] = made
    return made


def _moved_on(
    run: Run, purchase: _Purchase, before: Any, progress: dict[str, Any], matched: list[int], zone: dt.tzinfo
) -> None:
    """`_advance` of a purchase whose steps `matched` (or whose attempt's time limit passed), its
    words made when read; the attempt a `compact.Questing` on a step in place."""
    quest, rule = purchase.quest, purchase.rule
    moment = run.event.time
    lazy = run.working is not None
    passed = None  # the start of an attempt whose time limit passed
    done: list[int] = list(before.done) if before is not None else []
    started = before.started_at if before is not None else None
    if started is not None and quest.within is not None and moment >= started + quest.within:
        passed, done, started = started, [], None
    if matched and started is None:
        started = moment
    done += matched
    completed = len(done) == len(quest.steps)
    progress[quest.id] = (
        Questing(started, done, completed) if lazy else _quest_progress(started, done, completed)
    )
    if completed:
        gives = give(run, quest.reward, rule)
        reason = Text(_complete_words, purchase.names, passed, done, gives, zone)
        run.trace.append(reward_verdict(rule, "quest", reason, quest.reward.points))
        return
    until = started + quest.within if started is not None and quest.within is not None else None
    reason = Text(_step_words, purchase.names, len(quest.steps), passed, done, matched, until, zone)
    code = "nothing_eligible" if matched else "condition_false"
    run.trace.append(simple_verdict(rule, "quest", False, code, reason))


# The words of `_moved_on`'s trace entries, made when the trace is read (`verdicts.Text`): the same
# as `_advance`'s.


def _status(names: tuple[str, ...], total: int, done: list[int]) -> str:
    status = f"{len(done)} of {total} steps"
    if done:
        status += f" ({', '.join(names[i] for i in done)})"
    return status


def _reset(passed: dt.datetime | None, zone: dt.tzinfo) -> str:
    if passed is None:
        return ""
    return f"the time limit of the attempt started {words_at(passed, zone)} passed: progress reset; "


def _complete_words(
    names: tuple[str, ...], passed: dt.datetime | None, done: list[int], gives: list[str], zone: dt.tzinfo
) -> str:
    status = _status(names, len(names), done)
    return f"{_reset(passed, zone)}{status}: quest complete; gives {', '.join(gives) or 'nothing new'}"


def _step_words(
    names: tuple[str, ...],
    total: int,
    passed: dt.datetime | None,
    done: list[int],
    matched: list[int],
    until: dt.datetime | None,
    zone: dt.tzinfo,
) -> str:
    status = _status(names, total, done)
    if until is not None:
        status += f", until {words_at(until, zone)}"
    if matched:
        reason = f"done {', '.join(names[i] for i in matched)}: {status}"
    else:
        reason = f"no open step matched: {status}"
    return f"{_reset(passed, zone)}{reason}"
