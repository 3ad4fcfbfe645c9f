"""Rewards the mechanics give: points, badges, coupons and draw entries, on behalf of a rule.

A challenge reached, a quest done, a badge earned, a streak's milestone, the referral, an offer
and the catalog give their rewards through `give`; issued coupons get their codes from
`coupon_code`.

Input: a `Run` and a `Reward`. Output: `run.effects_points`, `run.badges`, `run.coupons_issued`,
`run.draw_entries`; what was given, in words, for the trace.
"""

from __future__ import annotations

from rules_engine.engine.outcome import BadgeAwarded, CouponIssued, DrawEntry
from rules_engine.engine.result import Award
from rules_engine.engine.run import Run
from rules_engine.engine.tokens import keyed_code
from rules_engine.program.model import Reward


def give(run: Run, reward: Reward, rule: str) -> list[str]:
    """Give a `Reward` (points, a badge, a coupon, draw entries) on behalf of `rule`.

    Points become a lot like any award (no basket lines: no line earned them); a badge
    already held is not given twice, and comes with its own `reward` (given on behalf of the
    badge: `badge:<id>`); a coupon gets a code from `coupon_code`. Returns what was given, in
    words, for the trace.
    """
    event = run.event
    given: list[str] = []
    if reward.points:
        pending = run.program.points.pending
        run.effects_points.append(Award(rule, reward.points, (), event.time + pending if pending else None))
        given.append(f"{reward.points} points")
    held = set(run.state.badges) | {b.badge for b in run.badges}
    if reward.badge is not None and reward.badge not in held:
        run.badges.append(BadgeAwarded(rule=rule, badge=reward.badge))
        given.append(f"badge {reward.badge}")
        extra = run.plan.badge_rewards.get(reward.badge)
        by_badge = f"badge:{reward.badge}"
        if extra is not None and rule != by_badge:  # an automatic badge gives its own extra
            given += give(run, extra, by_badge)
    if reward.coupon is not None:
        definition = run.plan.coupons[reward.coupon]
        code = coupon_code(
            run.program.program, event.customer, f"{event.id}/{rule}", definition.id, run.secret
        )
        run.coupons_issued.append(
            CouponIssued(
                rule=rule, coupon=definition.id, code=code, expires_at=event.time + definition.valid_for
            )
        )
        given.append(f"coupon {definition.id} ({code})")
    if reward.entries is not None:
        run.draw_entries.append(DrawEntry(rule=rule, draw=reward.entries.draw, count=reward.entries.count))
        given.append(f"{reward.entries.count} entries in {reward.entries.draw}")
    return given


def coupon_code(program: str, customer: str, event: str, coupon: str, secret: bytes) -> str:
    """A coupon code: unguessable without the deployment's secret, the same for the same
    program, customer, event and coupon (so replaying an event issues the same code)."""
    letters = keyed_code(secret, (program, customer, event, coupon), 10)
    prefix = "".join(ch for ch in coupon.upper() if ch.isalnum())[:6] or "CPN"
    return f"{prefix}-{letters}"
