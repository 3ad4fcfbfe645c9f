"""The stages' money arithmetic as it was on decimals, kept as the oracle of the integer stages
(test_integer_stages.py): pricing's `take_off` and earning's `earning_base`, as they were before
they decided in minor units, the points a returned part of a line gives back (`part_of`), and
the tier spend of a purchase, the decimal sum of what is left of its lines (`money_sum`).
Only what decides is here; the admission, the conditions and the effects they record are the
stages' own."""

from __future__ import annotations

from decimal import Decimal

from rules_engine.dsl.expression import Expression
from rules_engine.engine.conditions import holding
from rules_engine.engine.events import Purchase
from rules_engine.engine.money import round_money, round_points, split
from rules_engine.engine.result import discount_of
from rules_engine.engine.run import ZERO, Run

HUNDRED = Decimal(100)


def take_off(
    run: Run,
    rule: str,
    percent: Decimal | None,
    amount: Decimal | None,
    applies: Expression | None,
    per: str | None = None,
) -> Decimal:
    """pricing.take_off on decimals (before the minor units)."""
    quantum = run.plan.quantum
    remaining = run.remaining
    matching = [i for i in range(len(run.items)) if remaining[i] > 0]
    if applies is not None:
        truths = holding(run, applies, matching)
        matching = [i for i, holds in zip(matching, truths, strict=True) if holds]
    cuts = [ZERO] * len(run.items)
    if percent is not None:
        for i in matching:
            cuts[i] = min(remaining[i], round_money(remaining[i] * percent / HUNDRED, quantum))
    elif amount is not None and (per or ("line" if applies is not None else "order")) != "order":
        for i in matching:
            cuts[i] = min(
                remaining[i], round_money(amount * run.items[i].qty, quantum) if per == "unit" else amount
            )
    elif amount is not None and matching:
        total = min(amount, sum((remaining[i] for i in matching), ZERO))
        for i, part in zip(matching, split(total, [remaining[i] for i in matching], quantum), strict=True):
            cuts[i] = part
    taken = sum(cuts, ZERO)
    if taken > 0:
        for i, cut in enumerate(cuts):
            if cut:
                remaining[i] -= cut
        items = run.items
        lines = tuple([(i, items[i].sku, c) for i, c in enumerate(cuts) if c > 0])
        run.effects_discounts.append(discount_of(rule, taken, lines))
    return taken


def earning_base(run: Run) -> list[Decimal]:
    """earning.earning_base on decimals (before the minor units)."""
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


def part_of(points: Decimal, part: Decimal, whole: Decimal, rounding: str) -> int:
    """money.part_of on decimals: `round_points(points × part / whole)`, the quotient in 28 digits."""
    return int(round_points(points * part / whole, rounding))


def money_sum(amounts: list[Decimal], quantum: Decimal) -> Decimal:
    """money.money_sum on decimals: the tiers' `sum(run.remaining, ZERO)`."""
    return sum(amounts, ZERO)
