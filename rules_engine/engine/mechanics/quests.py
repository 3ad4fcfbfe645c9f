"""Quests: steps done in order or in any order, within a time limit from the first.

The time limit `within` runs from the first step; an event at or after the deadline finds the
attempt reset, and may start a new one. Ordered quests take their steps one per event, in order;
in unordered quests one event does every open step it matches. Progress is kept in
`state.quests`; every decision is traced (kind "quest", rule `quest:<id>`).
"""

from __future__ import annotations

import datetime as dt

from rules_engine.dsl.context import Context
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import holds, mechanics_context
from rules_engine.engine.mechanics.shared import GAMIFICATION as SECTIONS
from rules_engine.engine.mechanics.shared import local_words, reward_points
from rules_engine.engine.rewards import give
from rules_engine.engine.run import Run, change_state
from rules_engine.engine.trusted import simple_verdict, trusted, verdict
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
    moment = run.event.time
    for index, quest in enumerate(program.quests):
        rule = f"quest:{quest.id}"
        types = run.plan.quest_types[index]
        before = progress.get(quest.id) or _NO_PROGRESS
        done_before = ("capped", "already completed") if before.completed else None
        if not admitted(run, rule, "quest", on=types, refused=done_before):
            continue
        notes: list[str] = []
        done, started = list(before.done), before.started_at
        if started is not None and quest.within is not None and moment >= started + quest.within:
            notes.append(
                f"the time limit of the attempt started {local_words(run, started)} passed: progress reset"
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
            gives = give(run, quest.reward, rule)
            reason = f"{status}: quest complete; gives {', '.join(gives) or 'nothing new'}"
            run.trace.append(
                verdict(
                    rule, "quest", True, "fired", "; ".join([*notes, reason]), **reward_points(quest.reward)
                )
            )
            continue
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
    change_state(run, {"quests": progress})


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
