"""The stateful mechanics: one module each, behind one small protocol.

Each module is a `Mechanic`: `apply(run)` decides what the mechanic does for the run's event,
after the earn rules (it reads the run, gives rewards with `rewards.give`, records its progress
in `run.state` through `run.change_state`, which copies the state at the event's first change and
changes that copy in place after it, and traces every decision as a `Verdict`), and
`idle(program)` says whether it can do nothing for a program, whatever the event (then the
engine never calls it). Every mechanic decides whether
an item of its own considers the event through the one admission gate (`engine/admission.py`).

A mechanic may also provide `for_purchase(plan)`: itself specialised once per program for a
purchase the generated path takes (generated.py: explain off, no coupon, nothing paid with
points), or None where it has nothing to specialise, or `shared.nothing` where it does nothing
for any such purchase. `purchase_mechanics(plan)` is the list the engine runs for such a
purchase: each mechanic's specialised function, else its `apply`, and nothing for a mechanic
that does nothing. Both give the same trace, rewards and state (tests/engine/test_generated.py).

A mechanic imports the stage modules it uses (conditions, rewards, admission, run), never the
evaluator that calls it (an import contract, checked by `make lint`).
"""

from __future__ import annotations

from collections.abc import Callable
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
from rules_engine.engine.mechanics.shared import nothing
from rules_engine.engine.plan import Plan
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


def purchase_mechanics(plan: Plan) -> tuple[Callable[[Run], None], ...]:
    """The mechanics a purchase on the generated path runs, in their order: each one's
    `for_purchase(plan)` where it has one that specialises it, else its `apply`."""
    made: list[Callable[[Run], None]] = []
    for mechanic in MECHANICS:
        if mechanic.idle(plan.program):
            continue
        specialise = getattr(mechanic, "for_purchase", None)
        special = specialise(plan) if specialise is not None else None
        if special is not nothing:
            made.append(special if special is not None else mechanic.apply)
    return tuple(made)


def purchase_mechanics_words(plan: Plan) -> list[str]:
    """`purchase_mechanics(plan)` in words, one line each: the mechanic and whether it runs
    specialised for such a purchase or as its `apply` (what `loyalty compile --python` shows)."""
    words: list[str] = []
    for mechanic in MECHANICS:
        if mechanic.idle(plan.program):
            continue
        name = getattr(mechanic, "__name__", "").rsplit(".", 1)[-1]
        specialise = getattr(mechanic, "for_purchase", None)
        special = specialise(plan) if specialise is not None else None
        if special is nothing:
            how = "nothing to do for a purchase (left out)"
        elif special is not None:
            how = "specialised for a purchase (for_purchase)"
        else:
            how = "its apply"
        words.append(f"{name}: {how}")
    return words
