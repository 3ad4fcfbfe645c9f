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

import math
from decimal import Decimal
from typing import Any

from rules_engine.dsl.context import Context
from rules_engine.dsl.expression import Expression
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import context_of, holding, item_context
from rules_engine.engine.events import Purchase
from rules_engine.engine.money import ONE, round_money, round_points, split
from rules_engine.engine.plan import EarnStep
from rules_engine.engine.result import Award, Share
from rules_engine.engine.run import ZERO, Run
from rules_engine.engine.trusted import rule_trace
from rules_engine.periods import BUDGET_PERIODS, without_past
from rules_engine.periods import cap_period_key as period_key
from rules_engine.program.model import Cap, EarnRule


def earning_base(run: Run) -> list[Decimal]:
    """What each line earns on: paid after discounts, less what `earning_base` leaves out."""
    event = run.event
    if not isinstance(event, Purchase):
        return []
    settings = run.program.earning_base
    quantum = run.plan.quantum
    base = list(run.remaining)
    exclude = run.plan.base_exclude
    if exclude is not None:
        excluded = holding(run, exclude, range(len(base)))
        base = [ZERO if out else b for out, b in zip(excluded, base, strict=True)]
    if not settings.include_tax and event.tax > 0:
        tax = split(round_money(event.tax, quantum), run.amounts, quantum)
        base = [max(ZERO, b - t) for b, t in zip(base, tax, strict=True)]
    if not settings.include_paid_with_points and event.paid_with_points > 0:
        paid = split(round_money(event.paid_with_points, quantum), run.remaining, quantum)
        base = [max(ZERO, b - p) for b, p in zip(base, paid, strict=True)]
    return base


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
    multiplied = bool(run.plan.multipliers) or (
        run.tier is not None and run.tier.benefits.earn_multiplier is not None
    )
    rounding = Rounding(settings.round, settings.rounding, n + 1, multiplied)
    per_line_points = [ZERO] * (n + 1)  # last slot: shipping
    for step in run.plan.base_rules:
        computed = rule_points(run, step, base, groups)
        if computed is None:
            continue
        rule = step.rule
        weights, exact = computed
        # a per-line award's points are often given whole: then the shares are those points
        factor = ONE if rule.for_each_item is not None else None
        ratio = rate_ratio(rule.rate.points, rule.rate.per) if rule.rate is not None else None
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
            ratio=ratio,
        )
        if shares and rule.group is not None:
            groups[rule.group] = rule.id  # a group's winner is the first rule that gives points
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
        exact = sum(weights, ZERO) * (rule.multiply - 1)
        shares = award(
            run,
            rule.id,
            rule.cap,
            rule.budget,
            weights,
            exact,
            rule,
            multiplier=rule.multiply,
            factor=rule.multiply - 1,
            rounding=rounding,
            selected=selected,
        )
        if shares and rule.group is not None:
            groups[rule.group] = rule.id
    if run.tier is not None and run.tier.benefits.earn_multiplier is not None:
        multiplier = run.tier.benefits.earn_multiplier
        exact = sum(per_line_points, ZERO) * (multiplier - 1)
        award(
            run,
            f"tier:{run.tier.id}",
            None,
            None,
            per_line_points,
            exact,
            None,
            multiplier=multiplier,
            factor=multiplier - 1,
            rounding=rounding,
            selected=[True] * (n + 1),
        )


Q = tuple[int, int]
"""An exact rational, (numerator, denominator > 0), in lowest terms: the running totals of
`Rounding` (the standard library's `Fraction` costs several times as much per operation)."""
_Q0: Q = (0, 1)


def _q(value: Decimal) -> Q:
    return value.as_integer_ratio()


def _reduced(n: int, d: int) -> Q:
    g = math.gcd(n, d)
    return (n // g, d // g) if g > 1 else (n, d)


def _add(a: Q, b: Q) -> Q:
    if a[1] == b[1]:
        return _reduced(a[0] + b[0], a[1])
    return _reduced(a[0] * b[1] + b[0] * a[1], a[1] * b[1])


def _mul(a: Q, b: Q) -> Q:
    return _reduced(a[0] * b[0], a[1] * b[1])


def _total(values: list[Q]) -> Q:
    total = _Q0
    for value in values:
        if value[0]:
            total = _add(total, value)
    return total


def rate_ratio(points: Decimal, per: Decimal) -> Q:
    """A rate's points per unit of money, exactly (1 per 3 has no exact decimal)."""
    pn, pd = _q(points)
    qn, qd = _q(per)
    return _reduced(pn * qd, pd * qn)


class Rounding:
    """Where an event's points are rounded (`points.round`), and what was rounded so far.

    `per_rule`: each rule's exact points rounded on their own, a multiplier's bonus computed on
    the rounded points of the rules before it (a ×2 on 15.6 points gives 15 + 15). `per_award`:
    the exact points of the whole event, multipliers included, rounded once: each rule gives the
    rounded running total after it less the rounded total before it (15 + 16 = floor(31.2)).
    `per_line`: the same, line by line (shipping as one more line). Exact arithmetic throughout
    (rationals: a rate of 1 per 3 has no exact decimal). A rule a cap or budget cut gives what it
    was allowed, and the running total starts again from the points given.
    """

    def __init__(self, mode: str, rounding: str, slots: int, track: bool) -> None:
        """`track`: keep each line's exact points (for multipliers and `per_line`)."""
        self.mode = mode
        self.track = track or mode == "per_line"
        self.x: Q = _Q0  # the award being decided: its exact points
        self.rounding = rounding
        self.exact: Q = _Q0  # per_award: the exact points so far, and the points given
        self.given = 0
        self.line_exact: list[Q] = [_Q0] * slots  # per_line: the same per line
        self.line_given = [0] * slots
        self.base: list[Q] = [_Q0] * slots  # each line's exact points of the non-multiplier rules
        self.parts: list[Q] = []  # the award being decided: each line's exact points
        self.lines: list[int] = []  # per_line: each line's rounded points of it

    def total(
        self,
        weights: list[Decimal],
        exact: Decimal,
        ratio: Q | None,
        factor: Decimal | None,
        selected: list[bool] | None,
    ) -> Decimal:
        """The whole points of an award before caps: `exact` are its points (a multiplier's on the
        rounded points before it, `weights`), `ratio` a rate's points per unit of money, `factor`
        a multiplier's bonus per point and `selected` the lines it multiplies."""
        if self.mode == "per_rule":
            return round_points(exact, self.rounding)
        if not self.track:  # per_award, no multiplier to weigh lines: the award's total is enough
            self.x = x = _mul(_q(sum(weights, ZERO)), ratio) if ratio is not None else _q(exact)
            return _whole(_round(_add(self.exact, x), self.rounding) - self.given)
        parts: list[Q]
        if selected is not None:
            bonus = _q(factor if factor is not None else ZERO)
            parts = [_mul(b, bonus) if keep else _Q0 for b, keep in zip(self.base, selected, strict=True)]
        elif ratio is not None:
            parts = [_mul(_q(w), ratio) for w in weights]
        else:
            ratios = [_q(w) for w in weights]
            weight_sum = _total(ratios)
            whole = _q(exact)
            if weight_sum[0]:
                # exact × w / Σw: one product over one product, in lowest terms
                scale = (whole[0] * weight_sum[1], whole[1] * weight_sum[0])
                parts = [_mul(scale, w) for w in ratios]
            else:
                parts = [_Q0] * len(weights)
                if whole[0]:
                    parts[0] = whole  # never happens for a purchase (no eligible line gives 0)
        self.parts = parts
        self.x = x = _total(parts)
        if self.mode == "per_award":
            return _whole(_round(_add(self.exact, x), self.rounding) - self.given)
        self.lines = [
            _round(_add(e, x), self.rounding) - g
            for e, x, g in zip(self.line_exact, parts, self.line_given, strict=True)
        ]
        return _whole(sum(self.lines))

    def shares(
        self, granted: Decimal, total: Decimal, weights: list[Decimal], factor: Decimal | None, bonus: bool
    ) -> list[Decimal]:
        """The award's `granted` points split across the lines it came from."""
        if self.mode == "per_line":
            if granted == total:
                return [Decimal(p) for p in self.lines]
            return split(granted, [Decimal(p) for p in self.lines], ONE)
        if self.track and bonus and any(p[0] for p in self.parts):
            # a multiplier's bonus: by the exact points it multiplied on each line
            common = math.lcm(*(p[1] for p in self.parts))  # exact: whole weights
            weights = [Decimal(p[0] * (common // p[1])) for p in self.parts]
            factor = None
        return split(granted, weights, ONE, factor)

    def given_out(self, granted: Decimal, total: Decimal, shares: list[Decimal], multiplier: bool) -> None:
        """Record what the award gave: the running totals go on, or start again after a cut."""
        if self.mode == "per_rule":
            return
        parts = self.parts
        cut = granted != total
        if self.track and not multiplier:
            base = self.base
            if cut:
                parts = [(int(s), 1) for s in shares] if shares else [_Q0] * len(base)
            self.base = [_add(b, x) if x[0] else b for b, x in zip(base, parts, strict=True)]
        if self.mode == "per_award":
            self.given += int(granted)
            self.exact = (self.given, 1) if cut else _add(self.exact, self.x)
            return
        if cut:
            given = [
                g + int(sh) for g, sh in zip(self.line_given, shares or [ZERO] * len(parts), strict=True)
            ]
            self.line_given = given
            self.line_exact = [(g, 1) for g in given]
            return
        self.line_given = [g + p for g, p in zip(self.line_given, self.lines, strict=True)]
        self.line_exact = [_add(e, x) for e, x in zip(self.line_exact, self.parts, strict=True)]


def _whole(points: int) -> Decimal:
    """Whole points as a decimal, refused (InvalidOperation, RE416) past the 28 digits decimals
    keep, as rounding a decimal award refuses it."""
    return Decimal(points).quantize(ONE)


def _round(value: Q, rounding: str) -> int:
    """A non-negative exact value to whole points as `points.rounding` says."""
    n, d = value
    if rounding == "floor":
        return n // d
    if rounding == "ceil":
        return -(-n // d)
    return (2 * n + d) // (2 * d)  # half away from zero, for values >= 0


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
    run: Run, step: EarnStep, base: list[Decimal], groups: dict[str, str]
) -> tuple[list[Decimal], Decimal] | None:
    """(weights per line and shipping, exact unrounded points) of a rate or award rule.

    None if the rule does not apply. The total is computed once from exact inputs — never as
    a sum of per-line shares, whose rounding could lose a point — and split by the weights.
    """
    if not passes(run, step, groups):
        return None
    rule = step.rule
    n = len(run.items)
    exclude, award, matches = step.exclude, step.award, step.for_each_item
    if exclude is None:
        eligible = base
    else:
        excluded = holding(run, exclude, range(n))
        eligible = [ZERO if out else b for out, b in zip(excluded, base, strict=True)]
    if rule.rate is not None:
        weights = [*eligible, shipping_base(run)]
        return weights, sum(weights, ZERO) * rule.rate.points / rule.rate.per
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
            literal: Any = rule.award
            fixed = Decimal(literal) if lines else ZERO
            for i in lines:
                points[i] = _not_negative(run, rule.id, fixed)
        else:
            for i in lines:
                value = _award_value(award, rule.award, item_context(run, i))
                points[i] = _not_negative(run, rule.id, value)
        return points, sum(points, ZERO)
    if award is None:  # a fixed award: no context needed (nor built, without conditions)
        literal = rule.award
        value = _not_negative(run, rule.id, Decimal(literal))
    else:
        value = _not_negative(run, rule.id, _award_value(award, rule.award, context_of(run)))
    if n == 0:
        return [ONE], value  # not a purchase: nothing to attribute to
    if not any(eligible):
        value = ZERO  # only lines the earning base leaves out: they earn nothing
    return [*eligible, ZERO], value


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
) -> list[Decimal]:
    """Round the points (where `rounding` says), cap them, split them by the weights `raw`,
    record them; returns each line's share.

    `exact`: the rule's exact points (a multiplier's on the rounded points before it); `ratio`:
    a rate's points per unit of money; `factor`: `exact` is the weights times it (a hint for
    `split`'s shortcut, and a multiplier's bonus per point); `selected`: a multiplier's lines."""
    total = rounding.total(raw, exact, ratio, factor, selected)
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
            rule_trace(rule_id, "tier" if rule is None else "earn", False, "nothing_eligible", reason)
        )
        return []
    allowed, limit = (None, "") if cap is None and budget is None else allowance(run, rule_id, cap, budget)
    code = "fired"
    granted = total if allowed is None else min(total, allowed)
    if granted < total:
        code = (
            "capped"
            if granted > 0 and limit != "budget"
            else ("budget_exhausted" if limit == "budget" else "capped")
        )
    if granted <= 0:
        rounding.given_out(ZERO, total, [], bonus)
        run.trace.append(rule_trace(rule_id, kind, False, code, f"{limit} reached: would have given {total}"))
        return []
    shares = rounding.shares(granted, total, raw, factor, bonus)
    rounding.given_out(granted, total, shares, bonus)
    lines: tuple[Share, ...] = ()
    if run.items:
        skus = run.skus
        lines = tuple([(i, skus[i], share) for i, share in enumerate(shares) if share])
    pending = run.program.points.pending
    run.effects_points.append(Award(rule_id, granted, lines, run.event.time + pending if pending else None))
    count(run, rule_id, granted, cap, budget)
    reason = f"{granted} points"
    if multiplier is not None and rule is not None and rule.for_each_item is not None:
        reason += f" (×{multiplier} on the points of the lines for_each_item matches)"
    elif multiplier is not None:
        reason += f" (×{multiplier} on this event's points)"
    if code != "fired":
        reason += f"; {limit} reached, would have given {total}"
    run.trace.append(
        rule_trace(
            rule_id,
            kind,
            True,
            code,
            reason,
            amount=granted,
            unit="points",
            condition=run.conditions.get(rule_id),
        )
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


def count(run: Run, rule_id: str, points: Decimal, cap: Cap | None, budget: Any) -> None:
    if cap is None:
        return
    periods = run.plan.cap_periods(cap)
    if not periods:
        return
    mine = dict(run.counters.get(rule_id, {}))
    for period, _, _ in periods:
        key = cap_period_key(run, period)
        mine = without_past(mine, key)  # a period that ended counts for nothing any more
        mine[key] = mine.get(key, ZERO) + points
    run.counters[rule_id] = mine
