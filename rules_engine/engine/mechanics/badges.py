"""Badges: earned once ever, by events (`on`) or a condition (`when`), or given as a reward.

Traced with kind "badge", rule `badge:<id>`. `for_purchase(plan)` is the mechanic specialised for
a purchase the generated path takes (mechanics/__init__.py, `purchase_mechanics`).
"""

from __future__ import annotations

from collections.abc import Callable

from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import condition_trace, holds, mechanics_context
from rules_engine.engine.mechanics.shared import GAMIFICATION as SECTIONS
from rules_engine.engine.mechanics.shared import context_reader, not_on, reward_points
from rules_engine.engine.plan import Plan
from rules_engine.engine.rewards import give
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import simple_verdict, verdict
from rules_engine.program.model import Badge, Program, Reward


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
        _earned(run, badge, rule)


def _earned(run: Run, badge: Badge, rule: str) -> None:
    """Give a badge the event earned, with its `reward`, and trace it."""
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
        verdict(rule, "badge", True, "fired", f"earned: gives {', '.join(gives)}", **reward_points(reward))
    )


def for_purchase(plan: Plan) -> Callable[[Run], None]:
    """`apply` for a purchase the generated path takes (explain off), its questions answered once
    per program: each badge's trace entry when it is not `on` purchases and when it is held, and
    which context its `when` reads (built only when a `when` is asked: a badge held already asks
    nothing). The same trace, badges and rewards as `apply`, in the same order."""
    steps = [
        (
            badge,
            f"badge:{badge.id}",
            not_on(f"badge:{badge.id}", "badge", badge.on or None, "purchase"),
            simple_verdict(f"badge:{badge.id}", "badge", False, "capped", "already earned"),
            when,
            context_reader(plan, when),
        )
        for _, badge, when in plan.automatic_badges
    ]

    def badges_of_purchase(run: Run) -> None:
        trace = run.trace
        for badge, rule, wrong, capped, when, read in steps:
            if wrong is not None:
                trace.append(wrong)
                continue
            if badge.id in run.state.badges or (run.badges and _given(run, badge.id)):
                trace.append(capped)
                continue
            if when is not None:
                context = read(run)
                if not holds(when, context):
                    trace.append(condition_trace(run, rule, "badge", when, context, "`when` is false"))
                    continue
            _earned(run, badge, rule)

    return badges_of_purchase


def _given(run: Run, badge: str) -> bool:
    """Whether the event gave `badge` already (another mechanic's reward, before this one)."""
    return any(given.badge == badge for given in run.badges)
