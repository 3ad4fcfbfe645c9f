"""Quests: steps done in order or in any order, within a time limit from the first.

The time limit `within` runs from the first step; an event at or after the deadline finds the
attempt reset, and may start a new one. Ordered quests take their steps one per event, in order;
in unordered quests one event does every open step it matches. Progress is kept in
`state.quests`; every decision is traced (kind "quest", rule `quest:<id>`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import NamedTuple

from rules_engine.dsl.context import Context
from rules_engine.dsl.expression import Expression
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import holds, mechanics_context
from rules_engine.engine.mechanics.shared import GAMIFICATION as SECTIONS
from rules_engine.engine.mechanics.shared import context_reader, local_words, not_on, reward_points
from rules_engine.engine.plan import Plan
from rules_engine.engine.rewards import give
from rules_engine.engine.run import Run, change_state
from rules_engine.engine.trusted import Verdict, simple_verdict, trusted, verdict
from rules_engine.program.model import Program, Quest
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


class _Purchase(NamedTuple):
    """A quest as `for_purchase` runs it (see there)."""

    quest: Quest
    rule: str
    wrong: Verdict | None
    capped: Verdict
    steps: tuple[tuple[int, Expression | None, Callable[[Run], Context]], ...]
    names: tuple[str, ...]
    # the trace entry of an attempt the event leaves as it was, by the record's identity (the
    # record is kept, so its id is not reused while it is here): (the record, the entry)
    unchanged: dict[int, tuple[QuestProgress, Verdict]]


_KEPT = 4096  # the words of unchanged attempts remembered per quest


def for_purchase(plan: Plan) -> Callable[[Run], None]:
    """`apply` for a purchase the generated path takes (explain off), its questions answered once
    per program: a quest with no purchase step traces one entry made once, and so does a quest
    completed already; only the purchase steps are looked at, each `when` in the context it
    reads (`shared.context_reader`). An attempt the purchase leaves as it was (no step done, the
    time limit not passed) keeps its record: nothing is made, the quests' progress is not copied,
    and the trace's entry is the one made for that record before. The same trace, progress and
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
                tuple(_step_name(quest, i) for i in range(len(quest.steps))),
                {},
            )
        )

    def quests_of_purchase(run: Run) -> None:
        trace = run.trace
        known = run.state.quests
        progress: dict[str, QuestProgress] | None = None  # copied when an attempt changes
        for purchase in quests:
            if purchase.wrong is not None:
                trace.append(purchase.wrong)
                continue
            quest = purchase.quest
            before = known.get(quest.id)
            if before is not None and before.completed:
                trace.append(purchase.capped)
                continue
            done, started = (before.done, before.started_at) if before is not None else ([], None)
            within = quest.within
            expired = started is not None and within is not None and run.event.time >= started + within
            if expired:
                done = []
            if quest.ordered:  # the next step only
                following = len(done)
                matched = [i for i, when, read in purchase.steps if i == following and holds(when, read(run))]
            else:
                matched = [i for i, when, read in purchase.steps if i not in done and holds(when, read(run))]
            if before is not None and not matched and not expired and len(done) < len(quest.steps):
                trace.append(_as_was(run, purchase, before))
                continue
            if progress is None:
                progress = dict(known)
            _advance(run, quest, purchase.rule, before or _NO_PROGRESS, progress, _found(matched))
        if progress is not None:
            change_state(run, {"quests": progress})

    return quests_of_purchase


def _found(matched: list[int]) -> Callable[[list[int]], list[int]]:
    """`_advance`'s `match` of steps matched already."""
    return lambda _: matched


def _as_was(run: Run, purchase: _Purchase, before: QuestProgress) -> Verdict:
    """What `_advance` traces of an attempt an event leaves as it was: made once per record
    (trace entries are immutable, so the events that leave it so share one)."""
    kept = purchase.unchanged
    found = kept.get(id(before))
    if found is not None and found[0] is before:
        return found[1]
    quest, done, started = purchase.quest, before.done, before.started_at
    status = f"{len(done)} of {len(quest.steps)} steps"
    if done:
        status += f" ({', '.join(purchase.names[i] for i in done)})"
    if started is not None and quest.within is not None:
        status += f", until {local_words(run, started + quest.within)}"
    made = simple_verdict(purchase.rule, "quest", False, "condition_false", f"no open step matched: {status}")
    if len(kept) >= _KEPT:
        kept.clear()
    kept[id(before)] = (before, made)
    return made
