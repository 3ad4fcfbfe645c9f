"""Streaks: an event in consecutive periods (local days or ISO weeks), milestones rewarded.

Progress is kept in `state.streaks`; every decision is traced (kind "streak", rule `streak:<id>`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules_engine import periods
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import mechanics_context
from rules_engine.engine.mechanics.shared import GAMIFICATION as SECTIONS
from rules_engine.engine.mechanics.shared import not_on, older
from rules_engine.engine.plan import Plan
from rules_engine.engine.rewards import give
from rules_engine.engine.run import ZERO, Run, change_state
from rules_engine.engine.trusted import simple_verdict, trusted, verdict
from rules_engine.program.model import Program
from rules_engine.state.customer import StreakProgress


def idle(program: Program) -> bool:
    """Whether the mechanic can do nothing for `program`, whatever the event (it is not called)."""
    return not program.streaks


def apply(run: Run) -> None:
    """Extend every streak the event keeps going; reward the milestones reached.

    Periods are local days or ISO weeks (Monday to Sunday) in the program's timezone. A second
    event in the same period changes nothing; the next period adds 1; a gap starts a new run at
    1. Each milestone is rewarded once per run; with `repeat`, the count towards the milestones
    starts again from 0 after the last (longest) one.
    """
    program = run.program
    if not program.streaks:
        return
    context = mechanics_context(run, SECTIONS)
    expression = run.plan.compiled.expression
    progress = dict(run.state.streaks)
    counted = False  # whether any streak's progress changed (else the state is left as it is)
    day = run.local.date()
    for index, streak in enumerate(program.streaks):
        rule = f"streak:{streak.id}"
        when = expression("streaks", index, "when")
        if not admitted(run, rule, "streak", on=(streak.on,), when=when, context=context):
            continue
        unit = streak.unit
        key = periods.key(unit, day)
        before = progress.get(streak.id)
        if before is not None and (before.last == key or older(key, before.last)):
            same = before.last == key
            words = f"already counted this {unit}" if same else f"before the last counted {unit}"
            run.trace.append(
                simple_verdict(
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
        counted = True
        if not reached:
            progress[streak.id] = _streak_progress(key, length, given)
            upcoming = sorted(m.length for m in streak.milestones if m.length > position)
            missing = upcoming[0] - position if upcoming else 0
            plural = "" if missing == 1 else "s"
            hint = f"{missing} more {unit}{plural} to the next milestone" if upcoming else None
            run.trace.append(verdict(rule, "streak", False, "nothing_eligible", status, hint=hint))
            continue
        gives: list[str] = []
        points = ZERO
        for milestone in reached:
            gives += give(run, milestone.reward, rule)
            points += milestone.reward.points or ZERO
            given.append(milestone.length)
        progress[streak.id] = _streak_progress(key, length, given)
        amount: dict[str, Any] = {"amount": points, "unit": "points"} if points else {}
        run.trace.append(
            verdict(
                rule,
                "streak",
                True,
                "fired",
                f"{status}: milestone {position} reached; gives {', '.join(gives) or 'nothing new'}",
                **amount,
            )
        )
    if counted:
        change_state(run, {"streaks": progress})


def _length(length: int, unit: str) -> str:
    return f"{length} {unit}{'' if length == 1 else 's'} in a row"


_STREAK_PROGRESS = {"last", "length", "given"}


def _streak_progress(last: str, length: int, given: list[int]) -> StreakProgress:
    return trusted(StreakProgress, {"last": last, "length": length, "given": given}, _STREAK_PROGRESS)


def for_purchase(plan: Plan) -> Callable[[Run], None] | None:
    """`apply` for a purchase the generated path takes, when no streak is `on` purchases (the
    usual case: app opens, visits): one trace entry per streak, made once, and no change of the
    state. None when a streak counts purchases (`apply` runs)."""
    streaks = plan.program.streaks
    entries = [not_on(f"streak:{streak.id}", "streak", (streak.on,), "purchase") for streak in streaks]
    verdicts = tuple(entry for entry in entries if entry is not None)
    if len(verdicts) != len(streaks):
        return None

    def streaks_of_purchase(run: Run) -> None:
        run.trace.extend(verdicts)

    return streaks_of_purchase
