"""Earning: the earning base of each line, the earn rules, caps and budgets.

The earning base is what each line is paid after discounts, less what `earning_base` leaves out;
then the earn rules by priority (rates, awards, per-line awards), the multipliers and the tier's
multiplier as additive bonuses, each through the admission gate, its exclusive group, its cap and
budget, rounded where `points.round` says: once for the event's award after multipliers by
default (`Rounding`; docs/engine.md, "Order of decisions", steps 3 to 5).

Input: a `Run` after pricing. Output: `run.base`, `run.effects_points` (each an `Award`, its
line shares as tuples), `run.counters` and the trace.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from rules_engine.dsl.context import Context
from rules_engine.dsl.expression import Expression
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import context_of, holding, holds, item_context
from rules_engine.engine.events import Purchase
from rules_engine.engine.money import ONE, largest_remainder, minor_units
from rules_engine.engine.plan import EarnStep
from rules_engine.engine.result import Share, award_of
from rules_engine.engine.rounding import Parts, Q, Rounding, scaled
from rules_engine.engine.run import ZERO, Run
from rules_engine.engine.schedule import within
from rules_engine.engine.trusted import fired_verdict, simple_verdict
from rules_engine.periods import BUDGET_PERIODS, of_kinds, without_past
from rules_engine.periods import cap_period_key as period_key
from rules_engine.program.model import Cap, EarnRule


def earning_base(run: Run) -> list[Decimal]:
    """What each line earns on: paid after discounts, less what `earning_base` leaves out.

    Tax and what was paid with points are taken off in the currency's minor units (ints): each
    split across the lines by largest remainder (`money.largest_remainder`, as `money.split`:
    tax in proportion to the lines' amounts, points to what is left of them; all-zero weights
    evenly), a line never below zero. The decimals are the decimal stage's: a line taken down to
    zero or below is `0`, any other at the currency's exponent."""
    event = run.event
    if not isinstance(event, Purchase):
        return []
    settings = run.program.earning_base
    base = list(run.remaining)
    exclude = run.plan.base_exclude
    if exclude is not None:
        excluded = holding(run, exclude, range(len(base)))
        base = [ZERO if out else b for out, b in zip(excluded, base, strict=True)]
    tax = not settings.include_tax and event.tax > 0
    paid = not settings.include_paid_with_points and event.paid_with_points > 0
    if not (tax or paid):
        return base
    quantum = run.plan.quantum
    units = minor_units(base, quantum)
    if tax:  # in proportion to the lines' amounts (before discounts)
        shares = _shares(minor_units([event.tax], quantum)[0], minor_units(run.amounts, quantum))
        units = [max(0, u - t) for u, t in zip(units, shares, strict=True)]
    if paid:  # in proportion to what is left of the lines
        weights = minor_units(run.remaining, quantum)
        shares = _shares(minor_units([event.paid_with_points], quantum)[0], weights)
        units = [max(0, u - p) for u, p in zip(units, shares, strict=True)]
    return [u * quantum if u > 0 else ZERO for u in units]


def _shares(total: int, weights: list[int]) -> list[int]:
    """`total` minor units split in proportion to `weights` (all zero: evenly), as `money.split`."""
    if not weights:
        return []
    return largest_remainder(total, weights if any(weights) else [1] * len(weights))


def shipping_base(run: Run) -> Decimal:
    event = run.event
    if not isinstance(event, Purchase) or not run.program.earning_base.include_shipping:
        return ZERO
    return ZERO if run.free_shipping is not None else event.shipping


def earn(run: Run) -> None:
    """The earning base, then the earn rules by priority, the multipliers and the tier's.

    Where the points are rounded is `points.round` (`Rounding`): each rule's points on their own
    (`per_rule`, a multiplier multiplying the rounded points), once for the whole award of the
    event after multipliers (`per_award`), or once per line (`per_line`)."""
    base = run.base = earning_base(run)
    groups: dict[str, str] = {}
    n = len(run.items)
    settings = run.program.points
    rounding = Rounding(settings.round, settings.rounding, n + 1, may_multiply(run))
    per_line_points = [ZERO] * (n + 1)  # last slot: shipping
    event_type = run.event.type
    pending = settings.pending
    available_at = run.event.time + pending if pending else None
    # The earning base and shipping as integers over one denominator, for the rates and the
    # basket-level awards to weigh their lines by: scaled once per event, when first needed.
    units: Parts | None = None
    # Only `per_rule` multiplies the rounded points each line was given (kept here, per line);
    # the other modes weigh the exact points `Rounding` keeps on integers. Every mode decides a
    # rate's points from its ratio and a multiplier's from its factor, on integers (`Rounding`).
    rounded = rounding.mode == "per_rule" or not run.plan.shortcuts
    scales = run.plan.shortcuts
    for step in run.plan.base_rules:
        # a rule without group, schedule or condition is admitted by its event types alone
        if not (step.plain and event_type in step.on) and not passes(run, step, groups):
            continue
        rule = step.rule
        if units is None and scales and rule.for_each_item is None:
            units = scaled([*base, shipping_base(run)])
        weights, exact, weighed = rule_points(run, step, base, units)
        # a per-line award's points are often given whole: then the shares are those points
        factor = ONE if rule.for_each_item is not None else None
        shares = award(
            run,
            rule.id,
            rule.cap,
            rule.budget,
            weights,
            exact,
            rule,
            factor=factor,
            rounding=rounding,
            available_at=available_at,
            ratio=step.ratio,
            units=weighed,
        )
        if shares and rule.group is not None:
            groups[rule.group] = rule.id  # a group's winner is the first rule that gives points
        if rounded:
            for line, points in enumerate(shares):
                if points:  # adding a zero share would change nothing, not even the exponent
                    per_line_points[line] += points
    for step in run.plan.multipliers:
        if not passes(run, step, groups):
            continue
        rule = step.rule
        assert rule.multiply is not None
        weights = per_line_points
        selected = [True] * (n + 1)
        exclude, matches = step.exclude, step.for_each_item
        if exclude is not None:
            excluded = [*holding(run, exclude, range(n)), False]  # shipping is not a line
            selected = [s and not out for s, out in zip(selected, excluded, strict=True)]
        if matches is not None:  # only the points of the matching lines; shipping is no line
            matching = [*holding(run, matches, range(n)), False]
            selected = [s and match for s, match in zip(selected, matching, strict=True)]
        if exclude is not None or matches is not None:
            weights = [p if keep else ZERO for keep, p in zip(selected, weights, strict=True)]
        shares = award(
            run,
            rule.id,
            rule.cap,
            rule.budget,
            weights,
            ZERO,  # `Rounding` weighs the points before it by the factor, on integers
            rule,
            multiplier=rule.multiply,
            factor=rule.multiply - 1,
            rounding=rounding,
            available_at=available_at,
            selected=selected,
        )
        if shares and rule.group is not None:
            groups[rule.group] = rule.id
    if run.tier is not None and run.tier.benefits.earn_multiplier is not None:
        multiplier = run.tier.benefits.earn_multiplier
        award(
            run,
            f"tier:{run.tier.id}",
            None,
            None,
            per_line_points,
            ZERO,
            None,
            multiplier=multiplier,
            factor=multiplier - 1,
            rounding=rounding,
            available_at=available_at,
            selected=[True] * (n + 1),
        )


def may_multiply(run: Run) -> bool:
    """Whether a multiplier may apply to this event: the tier's, or a multiplier rule of the event's
    type, inside its schedule, whose condition holds (or fails to evaluate: then it may).

    `Rounding` keeps each line's exact points only for a multiplier to weigh (it decides the same
    without them, at a third of the cost), so it is told whether one may come. A look without
    the trace, which the admission gate writes when the multiplier's turn comes; the exclusive
    groups, decided by then, are left to it."""
    if run.tier is not None and run.tier.benefits.earn_multiplier is not None:
        return True
    for step in run.plan.multipliers:
        rule = step.rule
        if rule.on is not None and run.event.type not in rule.on:
            continue
        if within(rule.active, run.local) is not None:
            continue
        if step.when is None:
            return True
        try:
            if holds(step.when, context_of(run)):
                return True
        except Exception:  # the gate will say what is wrong, in its turn; until then it may apply
            return True
    return False


def passes(run: Run, step: EarnStep, groups: dict[str, str]) -> bool:
    """Event type, exclusive group, schedule and condition (the admission gate)."""
    rule = step.rule
    group = rule.group
    shadowed = None
    if group is not None and group in groups:
        shadowed = (
            "shadowed",
            f"`{groups[group]}` of exclusive group `{group}` applies instead (higher priority)",
        )
    return admitted(
        run,
        rule.id,
        "earn",
        on=rule.on,
        refused=shadowed,
        active=rule.active,
        when=step.when,
        false="condition is false",
        keep=True,
    )


def rule_points(
    run: Run, step: EarnStep, base: list[Decimal], units: Parts | None
) -> tuple[list[Decimal], Decimal, Parts | None]:
    """(weights per line and shipping, exact unrounded points, the weights scaled to integers or
    None) of a rate or award rule the admission gate let through.

    The total is computed once from exact inputs — never as a sum of per-line shares, whose
    rounding could lose a point — and split by the weights. `units`: the earning base and
    shipping, `scaled` (or None): a rate's or a basket-level award's weights are these, less the
    lines the rule leaves out, without scaling them again. A rate's exact points are left 0:
    `Rounding` decides them from its ratio, on integers.
    """
    rule = step.rule
    n = len(run.items)
    exclude, award, matches = step.exclude, step.award, step.for_each_item
    kept = None if units is None else units[0]  # the weights' numerators, shipping last
    if exclude is None:
        eligible = base
    else:
        excluded = holding(run, exclude, range(n))
        eligible = [ZERO if out else b for out, b in zip(excluded, base, strict=True)]
        if kept is not None:
            kept = [*(0 if out else u for out, u in zip(excluded, kept, strict=False)), kept[n]]
    if rule.rate is not None:
        weights = [*eligible, shipping_base(run)]
        weighed = None if kept is None or units is None else (kept, units[1])
        return weights, ZERO, weighed  # `Rounding` weighs the money by the rate's ratio, on integers
    if rule.for_each_item is not None:
        points = [ZERO] * (n + 1)
        amounts = run.amounts
        # the lines that earn: not left out by the earning base, not excluded, matching
        lines = [i for i in range(n) if not (eligible[i] == 0 and base[i] == 0 and amounts[i] > 0)]
        if exclude is not None:
            lines = [i for i, out in zip(lines, holding(run, exclude, lines), strict=True) if not out]
        if matches is not None:
            lines = [i for i, match in zip(lines, holding(run, matches, lines), strict=True) if match]
        if award is None:  # a fixed award per line: the same value on each
            fixed = step.fixed if lines and step.fixed is not None else ZERO
            for i in lines:
                points[i] = _not_negative(run, rule.id, fixed)
        else:
            for i in lines:
                value = _award_value(award, rule.award, item_context(run, i))
                points[i] = _not_negative(run, rule.id, value)
        return points, sum(points, ZERO), None
    if award is None:  # a fixed award: no context needed (nor built, without conditions)
        literal: Any = rule.award
        value = _not_negative(run, rule.id, step.fixed if step.fixed is not None else Decimal(literal))
    else:
        value = _not_negative(run, rule.id, _award_value(award, rule.award, context_of(run)))
    if n == 0:
        return [ONE], value, None  # not a purchase: nothing to attribute to
    if not any(eligible):
        value = ZERO  # only lines the earning base leaves out: they earn nothing
    weighed = None if kept is None or units is None else ([*kept[:n], 0], units[1])  # shipping: none
    return [*eligible, ZERO], value, weighed


def _not_negative(run: Run, rule: str, value: Decimal) -> Decimal:
    """An award below zero gives nothing (earn rules never take points away); remembered for
    the trace, which says so rather than "no eligible amount"."""
    if value < 0:
        run.negative_awards.setdefault(rule, value)
        return ZERO
    return value


def _award_value(expression: Expression | None, literal: Any, context: Context) -> Decimal:
    if expression is None:
        return Decimal(literal)
    value = expression.evaluate(context)
    return ZERO if value is None else Decimal(value)


def award(
    run: Run,
    rule_id: str,
    cap: Cap | None,
    budget: Any,
    raw: list[Decimal],
    exact: Decimal,
    rule: EarnRule | None,
    multiplier: Decimal | None = None,
    factor: Decimal | None = None,
    *,
    rounding: Rounding,
    ratio: Q | None = None,
    selected: list[bool] | None = None,
    units: Parts | None = None,
    available_at: dt.datetime | None = None,
) -> list[Decimal]:
    """Round the points (where `rounding` says), cap them, split them by the weights `raw`,
    record them; returns each line's share.

    `exact`: the rule's exact points (a multiplier's on the rounded points before it); `ratio`:
    a rate's points per unit of money; `factor`: `exact` is the weights times it (a hint for
    `split`'s shortcut, and a multiplier's bonus per point); `selected`: a multiplier's lines; `units`:
    `raw` scaled to integers (`Rounding.total`), or None; `available_at`: when the points become
    available (`points.pending` after the event; None: at once)."""
    total = rounding.total(raw, exact, ratio, factor, selected, units)
    kind = "earn" if rule else "tier"
    bonus = selected is not None
    if total <= 0:
        rounding.given_out(ZERO, total, [], bonus)
        if multiplier is not None and rule is not None and rule.for_each_item is not None:
            reason = "no points on the lines for_each_item matches: nothing to multiply"
        elif multiplier is not None:
            reason = "nothing to multiply"
        elif rule_id in run.negative_awards:
            reason = (
                f"the award came to {run.negative_awards[rule_id]}, below zero: "
                "an earn rule never takes points away"
            )
        elif rule is not None and rule.for_each_item is not None:
            reason = "no line matches for_each_item"
        else:
            reason = "no eligible amount"
        run.trace.append(
            simple_verdict(rule_id, "tier" if rule is None else "earn", False, "nothing_eligible", reason)
        )
        return []
    code = "fired"
    granted = total
    limit = ""
    if cap is not None or budget is not None:
        allowed, limit = allowance(run, rule_id, cap, budget)
        if allowed is not None and allowed < total:
            granted = allowed
            code = (
                "capped"
                if granted > 0 and limit != "budget"
                else ("budget_exhausted" if limit == "budget" else "capped")
            )
    if granted <= 0:
        rounding.given_out(ZERO, total, [], bonus)
        run.trace.append(
            simple_verdict(rule_id, kind, False, code, f"{limit} reached: would have given {total}")
        )
        return []
    shares = rounding.shares(granted, total, raw, factor, bonus)
    rounding.given_out(granted, total, shares, bonus)
    lines: tuple[Share, ...] = ()
    if run.items:
        skus = run.skus
        lines = tuple([(i, skus[i], share) for i, share in enumerate(shares) if share])
    run.effects_points.append(award_of(rule_id, granted, lines, available_at))
    if cap is not None:
        count(run, rule_id, granted, cap, budget)
    reason = f"{granted} points"
    if multiplier is not None and rule is not None and rule.for_each_item is not None:
        reason += f" (×{multiplier} on the points of the lines for_each_item matches)"
    elif multiplier is not None:
        reason += f" (×{multiplier} on this event's points)"
    if code != "fired":
        reason += f"; {limit} reached, would have given {total}"
    run.trace.append(
        fired_verdict(rule_id, kind, code, reason, granted, "points", run.conditions.get(rule_id))
    )
    return shares


def cap_period_key(run: Run, period: str) -> str:
    """The counter key of the period (`per_day` …, `lifetime`) the event falls in, locally."""
    key = run.period_keys.get(period)
    if key is None:
        key = run.period_keys[period] = period_key(period, run.local.date())
    return key


def allowance(run: Run, rule_id: str, cap: Cap | None, budget: Any) -> tuple[Decimal | None, str]:
    allowed: Decimal | None = None
    limit = ""
    if cap is not None:
        if cap.per_event is not None:
            allowed, limit = cap.per_event, "per-event cap"
        used = run.counters.get(rule_id, {})
        for period, value, words in run.plan.cap_periods(cap):
            left = max(ZERO, value - used.get(cap_period_key(run, period), ZERO))
            if allowed is None or left < allowed:
                allowed, limit = left, words
    if budget is not None:
        key = cap_period_key(run, BUDGET_PERIODS[budget.period])
        left = max(ZERO, budget.points - run.budgets.spent.get(rule_id, {}).get(key, ZERO))
        if allowed is None or left < allowed:
            allowed, limit = left, "budget"
    return allowed, limit


def kept_from(run: Run, period: str, key: str) -> str:
    """The oldest period of `period`'s kind whose count the cap counters keep after this event
    (of key `key`): its own, or, in a program that takes late events, the one the earliest late
    event may still fall in (this event's moment less `late_events.accept_within`). A late event
    counts against its own period's cap: a later period's start must not forget that count."""
    late = run.program.late_events
    if late is None:
        return key
    return min(key, period_key(period, (run.local - late.accept_within).date()))


def count(run: Run, rule_id: str, points: Decimal, cap: Cap | None, budget: Any) -> None:
    if cap is None:
        return
    periods = run.plan.cap_periods(cap)
    if not periods:
        return
    mine = dict(run.counters.get(rule_id, {}))
    keys = []
    for period, _, _ in periods:
        key = cap_period_key(run, period)
        mine = without_past(mine, kept_from(run, period, key))  # an ended period counts for nothing
        mine[key] = mine.get(key, ZERO) + points
        keys.append(key)
    run.counters[rule_id] = of_kinds(mine, keys)  # an earlier version's period kind leaves
