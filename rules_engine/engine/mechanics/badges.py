"""Badges: earned once ever, by events (`on`) or a condition (`when`), or given as a reward.

Traced with kind "badge", rule `badge:<id>`.
"""

from __future__ import annotations

from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import mechanics_context
from rules_engine.engine.mechanics.shared import GAMIFICATION as SECTIONS
from rules_engine.engine.mechanics.shared import reward_points
from rules_engine.engine.rewards import give
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import verdict
from rules_engine.program.model import Program, Reward


def idle(program: Program) -> bool:
    """Whether the mechanic can do nothing for `program`, whatever the event (it is not called)."""
    return not any(badge.on or badge.when is not None for badge in program.badges)


def apply(run: Run) -> None:
    """Give every automatic badge (one with `on` or `when`) the event earns, once ever.

    A badge with `on` is earned by those event types; with only `when`, by any event for which
    it holds. Its `reward`, if any, comes with it. Badges without `on` and `when` are given only
    as other mechanics' rewards.
    """
    automatic = run.plan.automatic_badges
    if not automatic:
        return
    context = mechanics_context(run, SECTIONS)
    for _, badge, when in automatic:
        rule = f"badge:{badge.id}"
        held = badge.id in run.state.badges or any(b.badge == badge.id for b in run.badges)
        if not admitted(
            run,
            rule,
            "badge",
            on=badge.on or None,
            refused=("capped", "already earned") if held else None,
            when=when,
            context=context,
        ):
            continue
        extra = badge.reward
        reward = Reward(
            badge=badge.id,
            points=extra.points if extra else None,
            coupon=extra.coupon if extra else None,
            entries=extra.entries if extra else None,
        )
        gives = give(run, reward, rule)
        if extra is not None and extra.badge is not None:
            gives += give(run, Reward(badge=extra.badge), rule)
        run.trace.append(
            verdict(
                rule, "badge", True, "fired", f"earned: gives {', '.join(gives)}", **reward_points(reward)
            )
        )
