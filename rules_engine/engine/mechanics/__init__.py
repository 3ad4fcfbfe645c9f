"""The stateful mechanics: one module each, behind one small protocol.

Each module is a `Mechanic`: `apply(run)` decides what the mechanic does for the run's event,
after the earn rules (it reads the run, gives rewards with `rewards.give`, records its progress
in `run.state` through `run.change_state`, which copies the state at the event's first change and
changes that copy in place after it, and traces every decision as a `Verdict`), and
`idle(program)` says whether it can do nothing for a program, whatever the event (then the
engine never calls it). Every mechanic decides whether
an item of its own considers the event through the one admission gate (`engine/admission.py`).

A mechanic imports the stage modules it uses (conditions, rewards, admission, run), never the
evaluator that calls it (an import contract, checked by `make lint`).
"""

from __future__ import annotations

from typing import Protocol

from rules_engine.engine.mechanics import (
    badges,
    birthday,
    challenges,
    notifications,
    offers,
    quests,
    referral,
    streaks,
    tiers,
)
from rules_engine.engine.run import Run
from rules_engine.program.model import Program


class Mechanic(Protocol):
    """What a mechanic's module provides (see the package docstring)."""

    def apply(self, run: Run) -> None: ...

    def idle(self, program: Program) -> bool: ...


# The mechanics in the order they run (the birthday after the gamification ones); tiers last,
# so the points the other mechanics give count towards a points-based tier.
MECHANICS: tuple[Mechanic, ...] = (
    badges,
    challenges,
    quests,
    streaks,
    birthday,
    referral,
    offers,
    notifications,
    tiers,
)
