"""Pricing: what the event costs after program discounts, tier benefits and coupons.

Discounts by priority (the first of an exclusive group that applies wins), then the tier's
discount and free shipping, then the coupons presented. Each takes its cut from what is left of
the line prices (`run.remaining`) and records a `Discount` (docs/engine.md, step 1).

Input: a `Run` of a purchase. Output: `run.remaining`, `run.effects_discounts`,
`run.free_shipping`, `run.redeemed` and the trace.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from rules_engine.dsl import values
from rules_engine.dsl.expression import Expression
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import context_of, holding
from rules_engine.engine.events import Purchase
from rules_engine.engine.money import (
    exponent_of,
    half_up,
    largest_remainder,
    minor_units,
    money_of,
    ratio_of,
    round_money,
)
from rules_engine.engine.outcome import FreeShipping
from rules_engine.engine.plan import DiscountStep
from rules_engine.engine.result import discount_of
from rules_engine.engine.run import ZERO, Run
from rules_engine.engine.trusted import fired_verdict, simple_verdict, trusted, verdict
from rules_engine.program.model import Coupon

HUNDRED = Decimal(100)


def discounts(run: Run) -> None:
    event = run.event
    if not isinstance(event, Purchase):
        return
    winners: dict[str, str] = {}
    for step in run.plan.discounts:
        apply_discount(run, step, winners)
    if run.tier is not None:
        tier_benefits(run)
    for code in event.coupons:
        apply_coupon(run, code)


def apply_discount(run: Run, step: DiscountStep, winners: dict[str, str]) -> None:
    discount = step.discount
    rule = discount.id
    group = discount.group
    shadowed = None
    if group is not None and group in winners:
        shadowed = ("shadowed", f"`{winners[group]}` of exclusive group `{group}` applies instead")
    when, applies = step.when, step.applies_to
    if not admitted(
        run,
        rule,
        "discount",
        refused=shadowed,
        active=discount.active,
        when=when,
        false="condition is false",
        keep=True,
    ):
        return
    amount = take_off(run, rule, discount.percent, discount.amount, applies, discount.per)
    if discount.free_shipping:
        waive_shipping(run, rule)
    waived = discount.free_shipping and run.free_shipping is not None and run.free_shipping.rule == rule
    if amount == 0 and not waived:
        nothing = "no line it applies to" if not discount.free_shipping else "no shipping to waive"
        run.trace.append(simple_verdict(rule, "discount", False, "nothing_eligible", nothing))
        return
    if discount.group is not None:
        winners[discount.group] = rule
    gives = [f"{display_money(amount)} off"] if amount else []
    if waived:
        assert run.free_shipping is not None
        gives.append(f"free shipping ({display_money(run.free_shipping.amount)} waived)")
    condition = run.conditions.get(rule)
    run.trace.append(
        fired_verdict(rule, "discount", "fired", " and ".join(gives), amount, "money", condition)
    )


def tier_benefits(run: Run) -> None:
    tier = run.tier
    assert tier is not None
    benefits = tier.benefits
    rule = f"tier:{tier.id}"
    if benefits.discount_percent is not None:
        amount = take_off(run, rule, benefits.discount_percent, None, None)
        run.trace.append(
            verdict(
                rule,
                "tier",
                amount > 0,
                "fired" if amount else "nothing_eligible",
                f"{tier.id} members: {benefits.discount_percent}% off, {display_money(amount)}",
                amount=amount,
                unit="money",
            )
        )
    if benefits.free_shipping:
        waive_shipping(run, rule)


def apply_coupon(run: Run, presented: str) -> None:
    """Apply a coupon the customer presents: matched as typed at a till, without regard to
    case or surrounding spaces; once per event, however often it is presented."""
    wanted = presented.strip().upper()
    issued = next((c for c in run.state.coupons if c.code.upper() == wanted), None)
    code = issued.code if issued is not None else presented
    rule = f"coupon:{code}"
    definition: Coupon | None = run.plan.coupons.get(issued.coupon) if issued else None
    problem = None
    if issued is None or definition is None:
        problem = "this customer has no such coupon"
    elif code in run.redeemed:
        problem = "presented more than once in this event: applied once"
    elif issued.used_in is not None and definition.single_use:
        problem = f"already used in {issued.used_in}"
    elif run.event.time > issued.expires_at:
        problem = f"expired on {issued.expires_at.astimezone(run.plan.zone).date().isoformat()}"
    elif definition.min_spend is not None and context_of(run)["basket"]["total"] < definition.min_spend:
        short = definition.min_spend - context_of(run)["basket"]["total"]
        problem = (
            f"needs a basket of {display_money(definition.min_spend)} (spend {display_money(short)} more)"
        )
    if problem is not None or definition is None:
        run.trace.append(simple_verdict(rule, "coupon", False, "coupon_invalid", problem or "unknown coupon"))
        return
    index = run.plan.coupon_index[definition.id]
    applies = run.plan.compiled.expression("coupons", index, "applies_to")
    amount = take_off(run, rule, definition.percent, definition.amount, applies, definition.per)
    if definition.free_shipping:
        waive_shipping(run, rule)
    run.redeemed.append(code)
    run.trace.append(
        verdict(
            rule,
            "coupon",
            True,
            "fired",
            f"coupon {definition.id}: {display_money(amount)} off",
            amount=amount,
            unit="money",
        )
    )


def take_off(
    run: Run,
    rule: str,
    percent: Decimal | None,
    amount: Decimal | None,
    applies: Expression | None,
    per: str | None = None,
) -> Decimal:
    """Take a percent or an amount off the matching lines' remaining prices; record the effect.
    A fixed amount is given `per` line, unit or order (default: line with `applies`, else order).

    Decided in the currency's minor units (`money.minor_units`): each cut is an int, never more
    than what is left of its line. The decimals recorded are the ones the decimal stage made, value
    and exponent (the JSON): what is left of a line at the currency's exponent; a cut that is all
    that was left is that line's decimal, one that is the amount off is the amount as written
    (`5` EUR, not `5.00`), any other at the currency's exponent; their sum at the finest exponent
    of its terms (0 when no line matches)."""
    quantum = run.plan.quantum
    remaining = run.remaining
    left = minor_units(remaining, quantum)
    matching = [i for i, units in enumerate(left) if units > 0]
    if applies is not None:
        truths = holding(run, applies, matching)
        matching = [i for i, holds in zip(matching, truths, strict=True) if holds]
    if not matching or (percent is None and amount is None):  # nothing to cut (free shipping only)
        return ZERO
    # each matching line's cut: (line, minor units, its decimal); the exponent of the finest
    cuts: list[tuple[int, int, Decimal | None]]
    exponent = -exponent_of(quantum)
    if percent is not None:
        cuts = _percent_cuts(percent, matching, left, remaining, quantum)
    elif amount is not None and (per or ("line" if applies is not None else "order")) != "order":
        off = minor_units([amount], quantum)[0]
        if per == "unit":  # the amount times the quantity, half up to the minor unit
            quantities = run.quantities
            cuts = []
            for i in matching:
                qn, qd = ratio_of(quantities[i])
                cut = half_up(off * qn, qd)
                cuts.append((i, left[i], remaining[i]) if left[i] <= cut else (i, cut, None))
        else:  # a line with less left than the amount gives all it has (its decimal)
            cuts = [(i, left[i], remaining[i]) if left[i] <= off else (i, off, amount) for i in matching]
            if any(left[i] > off for i in matching):  # the amount as written is a term of the sum
                exponent = _finer(amount, exponent if any(left[i] <= off for i in matching) else 0)
    else:  # once for the order, split in proportion to what is left of the lines
        assert amount is not None
        off = minor_units([amount], quantum)[0]
        weights = [left[i] for i in matching]
        total = min(off, sum(weights))
        if len(matching) == 1:  # one line takes the whole amount: the total's own decimal
            cuts = [(matching[0], total, amount if off <= total else None)]
            if off <= total:
                exponent = _finer(amount, 0)
        else:
            cuts = [
                (i, part, None) for i, part in zip(matching, largest_remainder(total, weights), strict=True)
            ]
    taken = sum([units for _, units, _ in cuts])
    if taken <= 0:  # nothing cut: the sum of the zero cuts, at their exponent
        return money_of(0, quantum, exponent)
    skus = run.skus
    lines: list[tuple[int, str, Decimal]] = []
    for i, units, part in cuts:
        if units:  # a zero cut changes nothing (both are minor units)
            lines.append((i, skus[i], part if part is not None else units * quantum))
            remaining[i] = (left[i] - units) * quantum
    made = money_of(taken, quantum, exponent)
    run.effects_discounts.append(discount_of(rule, made, tuple(lines)))
    return made


def _finer(amount: Decimal, exponent: int) -> int:
    """The finer of an amount's exponent as written and `exponent` (a decimal sum's exponent)."""
    written = amount.as_tuple().exponent
    assert isinstance(written, int)
    return min(written, exponent)


def _percent_cuts(
    percent: Decimal, matching: list[int], left: list[int], remaining: list[Decimal], quantum: Decimal
) -> list[tuple[int, int, Decimal | None]]:
    """A percent off each matching line, half up to the minor unit, never more than is left.
    On integers where the decimal stage's product of the line and the percent was exact (at most
    28 digits, what decimals keep: any percent of up to 4 digits, `PERCENT_DIGITS`); beyond, the
    decimal formula, since its rounding, not the exact value, was then the result."""
    pn, pd, bound = _percent_terms(percent)
    cuts: list[tuple[int, int, Decimal | None]] = []
    for i in matching:
        units = left[i]
        if units < bound:
            cut = (2 * units * pn + 100 * pd) // (200 * pd)
        else:
            cut = minor_units([round_money(remaining[i] * percent / HUNDRED, quantum)], quantum)[0]
        cuts.append((i, units, remaining[i]) if units <= cut else (i, cut, None))
    return cuts


@functools.lru_cache(maxsize=256)
def _percent_terms(percent: Decimal) -> tuple[int, int, int]:
    """A percent as (numerator, denominator) in lowest terms, and the bound below which a line's
    minor units times its significant digits stay within the 28 digits of a decimal: then the
    decimal product was exact (trailing zeros only move its exponent)."""
    pn, pd = percent.as_integer_ratio()
    coefficient = int("".join(map(str, percent.as_tuple().digits)))
    while coefficient % 10 == 0:  # the digits that count (equal percents: the same terms)
        coefficient //= 10
    return pn, pd, 10**28 // coefficient


def waive_shipping(run: Run, rule: str) -> None:
    event = run.event
    if run.free_shipping is None and isinstance(event, Purchase) and event.shipping > 0:
        run.free_shipping = trusted(
            FreeShipping, {"rule": rule, "amount": event.shipping}, {"rule", "amount"}
        )


def display_money(amount: Decimal) -> str:
    return values.display(amount)
