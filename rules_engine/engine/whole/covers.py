"""Which programs the whole step takes: those whose every part it implements, nothing more.

The whole step implements what coffee-club uses on a purchase (whole/__init__.py); a program with
any other part keeps the engine's path. `unsupported(plan)` names the first part it does not
implement (None: covered); `covers(plan)` is its answer as a bool.

Input: a `Plan`. Output: a reason, or None.
"""

from __future__ import annotations

from decimal import Decimal

from rules_engine.engine.plan import Plan
from rules_engine.engine.whole.conditions import UnsupportedError
from rules_engine.engine.whole.generate import generate


def covers(plan: Plan) -> bool:
    return unsupported(plan) is None


def unsupported(plan: Plan) -> str | None:
    program = plan.program
    if program.returns is not None or program.late_events is not None:
        return "returns or late events"
    if program.referral is not None or program.offers or program.next_best_offer is not None:
        return "referrals or offers"
    if program.draws or program.leaderboards:
        return "draws or leaderboards"
    points = program.points
    if points.round != "per_award" or points.rounding != "floor":
        return "points rounding"
    base = program.earning_base
    if not base.include_tax or base.include_shipping:
        return "the earning base's tax or shipping"
    tiers = program.tiers
    if tiers is None:
        return "no tiers"
    if tiers.qualify_on != "spend" or tiers.window.kind != "rolling":
        return "a tier other than by spend over a rolling window"
    if tiers.hold is not None or tiers.removed_tiers is not None:
        return "tier holds"
    for discount in program.discounts:
        if discount.percent is None or discount.percent != int(discount.percent):
            return f"discount {discount.id}: not a whole percent"
        if discount.amount is not None or discount.free_shipping or discount.group or discount.active:
            return f"discount {discount.id}: amount, free shipping, group or schedule"
    rates = 0
    for rule in program.earn:
        if rule.on != ["purchase"] or rule.budget is not None or rule.exclude is not None:
            return f"earn {rule.id}: events, budget or exclude"
        cap = rule.cap
        if cap is not None and any(
            getattr(cap, name, None) is not None for name in ("per_week", "per_month", "per_year", "lifetime")
        ):
            return f"earn {rule.id}: a cap other than per day or per event"
        if rule.multiply is not None:
            if rule.for_each_item is not None or rule.group is not None or isinstance(rule.active, list):
                return f"earn {rule.id}: a multiplier per line, in a group or on several schedules"
            if rule.active is not None and (rule.active.weekdays or rule.active.hours):
                return f"earn {rule.id}: a schedule of weekdays or hours"
            if cap is not None and cap.per_day is not None:
                return f"earn {rule.id}: a multiplier capped per day"
            continue
        if rule.active is not None or (cap is not None and cap.per_event is not None):
            return f"earn {rule.id}: a schedule or per-event cap"
        if rule.rate is not None:
            rates += 1
            if rule.rate.points != 1 or rule.when is not None or rule.group is not None or cap is not None:
                return f"earn {rule.id}: a rate other than 1 per N, or with a condition, group or cap"
        elif rule.for_each_item is not None:
            if rule.group is not None:
                return f"earn {rule.id}: a per-line award in a group"
        elif not isinstance(rule.award, int | Decimal) or rule.award != int(rule.award):
            return f"earn {rule.id}: an award that is not a whole number"
    if rates > 1:
        return "more than one rate rule"
    for challenge in program.challenges:
        if challenge.on != ["purchase"] or challenge.when is not None or challenge.active is not None:
            return f"challenge {challenge.id}: events, condition or schedule"
        if challenge.window.kind != "calendar_week" or challenge.repeat != "every_window":
            return f"challenge {challenge.id}: a window other than every calendar week"
        reward = challenge.reward
        if reward.coupon is not None or reward.entries is not None:
            return f"challenge {challenge.id}: a coupon or entries"
        if reward.badge is not None and plan.badge_rewards.get(reward.badge) is not None:
            return f"challenge {challenge.id}: a badge with a reward of its own"
    if len(program.quests) > 1 or any(q.ordered for q in program.quests):
        return "several or ordered quests"
    for badge in program.badges:
        if "purchase" in badge.on and badge.reward is not None:
            return f"badge {badge.id}: a reward on a purchase"
    for streak in program.streaks:
        if "purchase" in (streak.on if isinstance(streak.on, list) else [streak.on]):
            return f"streak {streak.id}: on purchases"
    birthday = program.birthday
    if birthday is not None and "purchase" not in birthday.on:
        return "a birthday not on purchases"
    try:
        generate(plan)
    except (UnsupportedError, AssertionError, AttributeError, TypeError) as error:
        return f"a condition or an award the generator does not translate ({error})"
    return None
