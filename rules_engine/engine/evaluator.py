"""`Engine(program).process(event, state) -> Outcome`: one event, every reward, and why.

A pure function of (program, customer state, event): time comes from the event, nothing is
read from the clock or the environment, and the same input gives the same outcome byte for byte.
The order of decisions is fixed and documented (docs/engine.md):

  1. the event is validated; a bad event raises `EventError` and changes nothing
  2. discounts, tier discounts and presented coupons, by priority; exclusive groups
  3. the earning base of every line: what is paid after discounts, as `earning_base` says
  4. earn rules by priority (rates, awards, per-line awards), then multipliers and the tier
     multiplier as additive bonuses; exclusive groups; caps and budgets; rounding per rule
  5. the new state: points lots, cap counters, used coupons, purchase history
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from rules_engine.dsl import values
from rules_engine.dsl.context import Context, _Normalizer
from rules_engine.dsl.expression import Expression
from rules_engine.engine import explain as why
from rules_engine.engine.compiled import CompiledProgram, compile_program, load_compiled
from rules_engine.engine.events import AnyEvent, Purchase, parse_event
from rules_engine.engine.money import money_quantum, round_money, round_points, split
from rules_engine.engine.outcome import (
    DiscountEffect,
    Effects,
    ExplainNode,
    FreeShipping,
    LineShare,
    Outcome,
    PointsAward,
    RuleTrace,
    Totals,
)
from rules_engine.engine.schedule import within
from rules_engine.errors import ContextError, Diagnostic, EventError
from rules_engine.program.model import Cap, Coupon, Discount, EarnRule, Program, TierLevel
from rules_engine.state.customer import CustomerState, Lot, PastLine, parse_state

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_PERIODS = ("per_day", "per_week", "per_month", "per_year", "lifetime")


@dataclass(frozen=True)
class BudgetSnapshot:
    """Program-wide points given per rule and period, for budgets: {rule: {period: points}}."""

    spent: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)


class Engine:
    """Evaluates events for one program. Compile once; `process` is safe to call from many threads."""

    def __init__(self, program: Program | CompiledProgram) -> None:
        self.compiled = program if isinstance(program, CompiledProgram) else compile_program(program)
        self.program = self.compiled.program
        self.zone = self.program.zone
        self.quantum = money_quantum(self.program.currency)
        rules = sorted(self.program.earn, key=lambda r: (-r.priority, r.id))
        self._base_rules = [(i, r) for i, r in _indexed(self.program.earn, rules) if r.multiply is None]
        self._multipliers = [(i, r) for i, r in _indexed(self.program.earn, rules) if r.multiply is not None]
        self._discounts = _indexed(
            self.program.discounts, sorted(self.program.discounts, key=lambda d: (-d.priority, d.id))
        )
        self._coupons = {c.id: c for c in self.program.coupons}
        self._tiers = {level.id: level for level in self.program.tiers.levels} if self.program.tiers else {}

    @classmethod
    def from_file(cls, path: str | Path) -> Engine:
        return cls(load_compiled(path))

    def process(
        self,
        event: AnyEvent | Mapping[str, Any],
        state: CustomerState | Mapping[str, Any] | None = None,
        *,
        explain: bool = False,
        budgets: BudgetSnapshot | None = None,
    ) -> Outcome:
        """Decide every reward for one event.

        Args:
            event: an event model, or its JSON-like data (validated here).
            state: the customer's state before the event; None for a new customer.
            explain: also record, for every condition that failed, its false parts with their
                values, a near-miss hint, and the whole condition tree (slower).
            budgets: program-wide points already given per rule, for rules with a budget.

        Raises:
            EventError: the event is malformed or does not fit the program; nothing is applied.
        """
        parsed = parse_event(event)
        before = parse_state(state)
        run = _Run(self, parsed, before, explain, budgets or BudgetSnapshot())
        return run.outcome()


def _indexed(original: list[Any], ordered: list[Any]) -> list[tuple[int, Any]]:
    position = {id(rule): index for index, rule in enumerate(original)}
    return [(position[id(rule)], rule) for rule in ordered]


class _Run:
    """One call of `process`: the working state of a single event."""

    def __init__(
        self, engine: Engine, event: AnyEvent, state: CustomerState, explain: bool, budgets: BudgetSnapshot
    ) -> None:
        self.engine = engine
        self.program = engine.program
        self.event = event
        self.state = state
        self.explain = explain
        self.budgets = budgets
        self.local = event.time.astimezone(engine.zone)
        self.trace: list[RuleTrace] = []
        self.effects_points: list[PointsAward] = []
        self.effects_discounts: list[DiscountEffect] = []
        self.free_shipping: FreeShipping | None = None
        self.redeemed: list[str] = []
        self.tier: TierLevel | None = engine._tiers.get(state.tier or "")
        self.counters = {rule: dict(periods) for rule, periods in state.counters.items()}
        self._check_event()
        self.context = self._context()
        self.items = event.items if isinstance(event, Purchase) else []
        self.amounts = [round_money(line.price * line.qty, engine.quantum) for line in self.items]
        self.remaining = list(self.amounts)  # after discounts so far
        self._item_contexts: list[Context] | None = None
        self._period_keys: dict[str, str] | None = None
        self.conditions: dict[str, ExplainNode] = {}  # trees of conditions that held (explain only)

    # -- input ---------------------------------------------------------------------------------
    def _check_event(self) -> None:
        event = self.event
        if isinstance(event, Purchase) and event.currency and event.currency != self.program.currency:
            raise EventError(
                [
                    Diagnostic(
                        "RE411",
                        f"currency: the purchase is in {event.currency}, the program in "
                        f"{self.program.currency}",
                        hint="convert amounts to the program's currency before sending",
                    )
                ]
            )
        if self.state.customer is not None and self.state.customer != event.customer:
            raise EventError(
                [
                    Diagnostic(
                        "RE412",
                        f"customer: the event is for {event.customer}, the state for {self.state.customer}",
                        hint="send the state of the same customer",
                    )
                ]
            )

    def _context(self) -> Context:
        event, state, schema = self.event, self.state, self.engine.compiled.schema
        problems: list[Diagnostic] = []
        normalizer = _Normalizer(schema, self.engine.zone, problems)
        event_record: dict[str, Any] = {
            "id": event.id,
            "type": event.type,
            "time": self.local,
            "date": self.local.date(),
            "channel": event.channel,
            "store": event.store,
        }
        self._custom(normalizer, "event", event.attributes, event_record, "event.attributes")
        context = Context(event=event_record)
        if isinstance(event, Purchase):
            items = []
            for index, line in enumerate(event.items):
                record: dict[str, Any] = {
                    "sku": line.sku,
                    "name": line.name,
                    "category": line.category,
                    "price": line.price,
                    "qty": line.qty,
                }
                self._custom(normalizer, "item", line.attributes, record, f"items[{index}].attributes")
                items.append(record)
            basket: dict[str, Any] = {
                "total": sum(
                    (round_money(line.price * line.qty, self.engine.quantum) for line in event.items), ZERO
                ),
                "items": tuple(items),
                "item_count": sum((line.qty for line in event.items), ZERO),
                "shipping": event.shipping,
                "tax": event.tax,
                "currency": self.program.currency,
                "coupons": tuple(event.coupons),
            }
            self._custom(normalizer, "basket", event.basket_attributes, basket, "basket_attributes")
            context["basket"] = basket
        else:
            context["basket"] = {
                "total": ZERO,
                "items": (),
                "item_count": ZERO,
                "shipping": None,
                "tax": None,
                "currency": self.program.currency,
                "coupons": (),
            }
        profile = state.profile
        reads = self.engine.compiled.customer_reads
        customer: dict[str, Any] = {
            "id": event.customer,
            "tier": state.tier,
            "points": state.available(event.time) if "points" in reads else ZERO,
            "tags": tuple(profile.tags),
            "visits": state.visits,
            "signup_date": profile.signup_date,
            "birthday": profile.birthday,
            "purchases": tuple(
                {"sku": p.sku, "category": p.category, "price": p.price, "qty": p.qty, "date": p.date}
                for p in state.purchases
            )
            if "purchases" in reads
            else (),
        }
        self._custom(normalizer, "customer", profile.attributes, customer, "state.profile.attributes")
        context["customer"] = customer
        if problems:
            raise EventError([Diagnostic("RE413", d.message, hint=d.hint) for d in problems])
        return context

    @staticmethod
    def _custom(
        normalizer: _Normalizer, record: str, data: Mapping[str, Any], out: dict[str, Any], path: str
    ) -> None:
        """Declared custom attributes, normalized; undeclared ones are refused (a typo costs money)."""
        attributes = normalizer.schema.attributes[record]
        for name in data:
            if name not in attributes or name in out:
                normalizer.fail(
                    f"{path}.{name}",
                    f"`{name}` is not declared",
                    hint=f"declare it under attributes.{record} in the program",
                )
        for name, attribute in attributes.items():
            if name not in out:
                raw = data.get(name)
                out[name] = None if raw is None else normalizer.value(raw, attribute.type, f"{path}.{name}")

    def item_context(self, index: int) -> Context:
        if self._item_contexts is None:
            items = self.context["basket"]["items"]
            self._item_contexts = [Context(self.context, item=item) for item in items]
        return self._item_contexts[index]

    # -- conditions ----------------------------------------------------------------------------
    def passed(self, rule: str, expression: Expression | None) -> None:
        """With explain, keep the tree of a condition that held, to show why the rule fired."""
        if self.explain and expression is not None:
            self.conditions[rule] = why.explain_tree(expression.explain(self.context), expression.origin)

    def holds(self, expression: Expression | None, context: Context) -> bool:
        if expression is None:
            return True
        try:
            return expression.evaluate(context) is True
        except ContextError:  # the expression reads `item` outside a line: counts as false
            return False

    def condition_trace(
        self, rule: str, kind: Any, expression: Expression, context: Context, reason: str
    ) -> RuleTrace:
        failing: list[str] = []
        hint = None
        condition = None
        if self.explain:
            trace = expression.explain(context)
            failing = why.failing_parts(trace, expression.origin)
            hint = why.near_miss(trace, expression.origin)
            condition = why.explain_tree(trace, expression.origin)
        return RuleTrace(
            rule=rule,
            kind=kind,
            fired=False,
            code="condition_false",
            reason=reason,
            failing=failing,
            hint=hint,
            condition=condition,
        )

    # -- stage 2: discounts --------------------------------------------------------------------
    def discounts(self) -> None:
        event = self.event
        if not isinstance(event, Purchase):
            return
        winners: dict[str, str] = {}
        for index, discount in self.engine._discounts:
            self.apply_discount(("discounts", index), discount, winners)
        if self.tier is not None:
            self.tier_benefits()
        for code in event.coupons:
            self.apply_coupon(code)

    def apply_discount(
        self, path: tuple[str | int, ...], discount: Discount, winners: dict[str, str]
    ) -> None:
        rule = discount.id
        if discount.group is not None and discount.group in winners:
            self.trace.append(
                RuleTrace(
                    rule=rule,
                    kind="discount",
                    fired=False,
                    code="shadowed",
                    reason=f"`{winners[discount.group]}` of exclusive group `{discount.group}` "
                    "applies instead",
                )
            )
            return
        outside = within(discount.active, self.local)
        if outside is not None:
            self.trace.append(
                RuleTrace(
                    rule=rule,
                    kind="discount",
                    fired=False,
                    code="outside_schedule",
                    reason=f"not active: {outside}",
                )
            )
            return
        when = self.engine.compiled.expression(*path, "when")
        if not self.holds(when, self.context):
            assert when is not None
            self.trace.append(
                self.condition_trace(rule, "discount", when, self.context, "condition is false")
            )
            return
        self.passed(rule, when)
        applies = self.engine.compiled.expression(*path, "applies_to")
        amount = self.take_off(rule, discount.percent, discount.amount, applies)
        if discount.free_shipping:
            self.waive_shipping(rule)
        waived = discount.free_shipping and self.free_shipping is not None and self.free_shipping.rule == rule
        if amount == 0 and not waived:
            nothing = "no line it applies to" if not discount.free_shipping else "no shipping to waive"
            self.trace.append(
                RuleTrace(rule=rule, kind="discount", fired=False, code="nothing_eligible", reason=nothing)
            )
            return
        if discount.group is not None:
            winners[discount.group] = rule
        gives = [f"{display_money(amount)} off"] if amount else []
        if waived:
            assert self.free_shipping is not None
            gives.append(f"free shipping ({display_money(self.free_shipping.amount)} waived)")
        self.trace.append(
            RuleTrace(
                rule=rule,
                kind="discount",
                fired=True,
                code="fired",
                reason=" and ".join(gives),
                amount=amount,
                unit="money",
                condition=self.conditions.get(rule),
            )
        )

    def tier_benefits(self) -> None:
        tier = self.tier
        assert tier is not None
        benefits = tier.benefits
        rule = f"tier:{tier.id}"
        if benefits.discount_percent is not None:
            amount = self.take_off(rule, benefits.discount_percent, None, None)
            self.trace.append(
                RuleTrace(
                    rule=rule,
                    kind="tier",
                    fired=amount > 0,
                    code="fired" if amount else "nothing_eligible",
                    reason=f"{tier.id} members: {benefits.discount_percent}% off, {display_money(amount)}",
                    amount=amount,
                    unit="money",
                )
            )
        if benefits.free_shipping:
            self.waive_shipping(rule)

    def apply_coupon(self, code: str) -> None:
        rule = f"coupon:{code}"
        issued = next((c for c in self.state.coupons if c.code == code), None)
        definition: Coupon | None = self.engine._coupons.get(issued.coupon) if issued else None
        problem = None
        if issued is None or definition is None:
            problem = "this customer has no such coupon"
        elif issued.used_in is not None and definition.single_use:
            problem = f"already used in {issued.used_in}"
        elif self.event.time > issued.expires_at:
            problem = f"expired on {issued.expires_at.astimezone(self.engine.zone).date().isoformat()}"
        elif definition.min_spend is not None and self.context["basket"]["total"] < definition.min_spend:
            short = definition.min_spend - self.context["basket"]["total"]
            problem = (
                f"needs a basket of {display_money(definition.min_spend)} (spend {display_money(short)} more)"
            )
        if problem is not None or definition is None:
            self.trace.append(
                RuleTrace(
                    rule=rule,
                    kind="coupon",
                    fired=False,
                    code="coupon_invalid",
                    reason=problem or "unknown coupon",
                )
            )
            return
        index = next(i for i, c in enumerate(self.program.coupons) if c.id == definition.id)
        applies = self.engine.compiled.expression("coupons", index, "applies_to")
        amount = self.take_off(rule, definition.percent, definition.amount, applies)
        if definition.free_shipping:
            self.waive_shipping(rule)
        self.redeemed.append(code)
        self.trace.append(
            RuleTrace(
                rule=rule,
                kind="coupon",
                fired=True,
                code="fired",
                reason=f"coupon {definition.id}: {display_money(amount)} off",
                amount=amount,
                unit="money",
            )
        )

    def take_off(
        self, rule: str, percent: Decimal | None, amount: Decimal | None, applies: Expression | None
    ) -> Decimal:
        """Take a percent or an amount off the matching lines' remaining prices; record the effect."""
        quantum = self.engine.quantum
        matching = [
            i
            for i in range(len(self.items))
            if self.remaining[i] > 0 and (applies is None or self.holds(applies, self.item_context(i)))
        ]
        cuts = [ZERO] * len(self.items)
        if percent is not None:
            for i in matching:
                cuts[i] = min(self.remaining[i], round_money(self.remaining[i] * percent / HUNDRED, quantum))
        elif amount is not None and applies is not None:
            for i in matching:
                cuts[i] = min(self.remaining[i], round_money(amount * self.items[i].qty, quantum))
        elif amount is not None and matching:
            total = min(amount, sum((self.remaining[i] for i in matching), ZERO))
            for i, part in zip(
                matching, split(total, [self.remaining[i] for i in matching], quantum), strict=True
            ):
                cuts[i] = part
        taken = sum(cuts, ZERO)
        if taken > 0:
            for i, cut in enumerate(cuts):
                self.remaining[i] -= cut
            self.effects_discounts.append(
                DiscountEffect(
                    rule=rule,
                    amount=taken,
                    lines=[
                        LineShare(line=i, sku=self.items[i].sku, amount=c)
                        for i, c in enumerate(cuts)
                        if c > 0
                    ],
                )
            )
        return taken

    def waive_shipping(self, rule: str) -> None:
        event = self.event
        if self.free_shipping is None and isinstance(event, Purchase) and event.shipping > 0:
            self.free_shipping = FreeShipping(rule=rule, amount=event.shipping)

    # -- stage 3: earning base -----------------------------------------------------------------
    def earning_base(self) -> list[Decimal]:
        """What each line earns on: paid after discounts, less what `earning_base` leaves out."""
        event = self.event
        if not isinstance(event, Purchase):
            return []
        settings = self.program.earning_base
        quantum = self.engine.quantum
        base = list(self.remaining)
        exclude = self.engine.compiled.expression("earning_base", "exclude")
        if exclude is not None:
            base = [ZERO if self.holds(exclude, self.item_context(i)) else b for i, b in enumerate(base)]
        if not settings.include_tax and event.tax > 0:
            tax = split(round_money(event.tax, quantum), self.amounts, quantum)
            base = [max(ZERO, b - t) for b, t in zip(base, tax, strict=True)]
        if not settings.include_paid_with_points and event.paid_with_points > 0:
            paid = split(round_money(event.paid_with_points, quantum), self.remaining, quantum)
            base = [max(ZERO, b - p) for b, p in zip(base, paid, strict=True)]
        return base

    def shipping_base(self) -> Decimal:
        event = self.event
        if not isinstance(event, Purchase) or not self.program.earning_base.include_shipping:
            return ZERO
        return ZERO if self.free_shipping is not None else event.shipping

    # -- stage 4: earn rules -------------------------------------------------------------------
    def earn(self, base: list[Decimal]) -> None:
        groups: dict[str, str] = {}
        per_line_points = [ZERO] * (len(self.items) + 1)  # last slot: shipping
        for index, rule in self.engine._base_rules:
            computed = self.rule_points(index, rule, base, groups)
            if computed is None:
                continue
            weights, exact = computed
            awarded = self.award(rule.id, rule.cap, rule.budget, weights, exact, rule)
            if awarded and rule.group is not None:
                groups[rule.group] = rule.id  # a group's winner is the first rule that gives points
            for line, points in awarded:
                per_line_points[line] += points
        for index, rule in self.engine._multipliers:
            if not self.passes(index, rule, groups):
                continue
            assert rule.multiply is not None
            exclude = self.engine.compiled.expression("earn", index, "exclude")
            weights = [
                ZERO
                if exclude is not None and i < len(self.items) and self.holds(exclude, self.item_context(i))
                else p
                for i, p in enumerate(per_line_points)
            ]
            exact = sum(weights, ZERO) * (rule.multiply - 1)
            awarded = self.award(
                rule.id, rule.cap, rule.budget, weights, exact, rule, multiplier=rule.multiply
            )
            if awarded and rule.group is not None:
                groups[rule.group] = rule.id
        if self.tier is not None and self.tier.benefits.earn_multiplier is not None:
            multiplier = self.tier.benefits.earn_multiplier
            exact = sum(per_line_points, ZERO) * (multiplier - 1)
            self.award(
                f"tier:{self.tier.id}", None, None, per_line_points, exact, None, multiplier=multiplier
            )

    def passes(self, index: int, rule: EarnRule, groups: dict[str, str]) -> bool:
        """Event type, exclusive group, schedule and condition; records the trace when it fails."""
        if self.event.type not in rule.on:
            self.trace.append(
                RuleTrace(
                    rule=rule.id,
                    kind="earn",
                    fired=False,
                    code="wrong_event",
                    reason=f"applies to {', '.join(rule.on)}, not {self.event.type}",
                )
            )
            return False
        if rule.group is not None and rule.group in groups:
            self.trace.append(
                RuleTrace(
                    rule=rule.id,
                    kind="earn",
                    fired=False,
                    code="shadowed",
                    reason=f"`{groups[rule.group]}` of exclusive group `{rule.group}` applies "
                    "instead (higher priority)",
                )
            )
            return False
        outside = within(rule.active, self.local)
        if outside is not None:
            self.trace.append(
                RuleTrace(
                    rule=rule.id,
                    kind="earn",
                    fired=False,
                    code="outside_schedule",
                    reason=f"not active: {outside}",
                )
            )
            return False
        when = self.engine.compiled.expression("earn", index, "when")
        if not self.holds(when, self.context):
            assert when is not None
            self.trace.append(self.condition_trace(rule.id, "earn", when, self.context, "condition is false"))
            return False
        self.passed(rule.id, when)
        return True

    def rule_points(
        self, index: int, rule: EarnRule, base: list[Decimal], groups: dict[str, str]
    ) -> tuple[list[Decimal], Decimal] | None:
        """(weights per line and shipping, exact unrounded points) of a rate or award rule.

        None if the rule does not apply. The total is computed once from exact inputs — never as
        a sum of per-line shares, whose rounding could lose a point — and split by the weights.
        """
        if not self.passes(index, rule, groups):
            return None
        n = len(self.items)
        exclude = self.engine.compiled.expression("earn", index, "exclude")
        eligible = [
            b if exclude is None or not self.holds(exclude, self.item_context(i)) else ZERO
            for i, b in enumerate(base)
        ]
        if rule.rate is not None:
            weights = [*eligible, self.shipping_base()]
            return weights, sum(weights, ZERO) * rule.rate.points / rule.rate.per
        award = self.engine.compiled.expression("earn", index, "award")
        if rule.for_each_item is not None:
            matches = self.engine.compiled.expression("earn", index, "for_each_item")
            points = [ZERO] * (n + 1)
            for i in range(n):
                if eligible[i] == 0 and base[i] == 0 and self.amounts[i] > 0:
                    continue  # a line the earning base leaves out earns nothing
                if exclude is not None and self.holds(exclude, self.item_context(i)):
                    continue
                if self.holds(matches, self.item_context(i)):
                    value = self._award_value(award, rule.award, self.item_context(i))
                    points[i] = max(ZERO, value)
            return points, sum(points, ZERO)
        value = max(ZERO, self._award_value(award, rule.award, self.context))
        if n == 0:
            return [Decimal(1)], value  # not a purchase: nothing to attribute to
        if not any(eligible):
            value = ZERO  # only lines the earning base leaves out: they earn nothing
        return [*eligible, ZERO], value

    @staticmethod
    def _award_value(expression: Expression | None, literal: Any, context: Context) -> Decimal:
        if expression is None:
            return Decimal(literal)
        value = expression.evaluate(context)
        return ZERO if value is None else Decimal(value)

    def award(
        self,
        rule_id: str,
        cap: Cap | None,
        budget: Any,
        raw: list[Decimal],
        exact: Decimal,
        rule: EarnRule | None,
        multiplier: Decimal | None = None,
    ) -> list[tuple[int, Decimal]]:
        """Round `exact`, cap it, split it by the weights `raw`, record it; returns (line, points) shares."""
        total = round_points(exact, self.program.points.rounding)
        if total <= 0:
            if multiplier is not None:
                reason = "nothing to multiply"
            elif rule is not None and rule.for_each_item is not None:
                reason = "no line matches for_each_item"
            else:
                reason = "no eligible amount"
            kind = "tier" if rule is None else "earn"
            self.trace.append(
                RuleTrace(rule=rule_id, kind=kind, fired=False, code="nothing_eligible", reason=reason)
            )
            return []
        allowed, limit = self.allowance(rule_id, cap, budget)
        code = "fired"
        granted = total if allowed is None else min(total, allowed)
        if granted < total:
            code = (
                "capped"
                if granted > 0 and limit != "budget"
                else ("budget_exhausted" if limit == "budget" else "capped")
            )
        if granted <= 0:
            self.trace.append(
                RuleTrace(
                    rule=rule_id,
                    kind="earn" if rule else "tier",
                    fired=False,
                    code=code,
                    reason=f"{limit} reached: would have given {total}",
                )
            )
            return []
        shares = split(granted, raw, Decimal(1))
        lines = (
            [
                LineShare(line=i, sku=self.items[i].sku if i < len(self.items) else "(shipping)", amount=s)
                for i, s in enumerate(shares)
                if s != 0
            ]
            if self.items
            else []
        )
        pending = self.program.points.pending
        available_at = self.event.time + pending if pending else None
        self.effects_points.append(
            PointsAward(rule=rule_id, points=granted, lines=lines, available_at=available_at)
        )
        self.count(rule_id, granted, cap, budget)
        how = f"×{multiplier} on this event's points" if multiplier is not None else ""
        reason = f"{granted} points" + (f" ({how})" if how else "")
        if code != "fired":
            reason += f"; {limit} reached, would have given {total}"
        self.trace.append(
            RuleTrace(
                rule=rule_id,
                kind="earn" if rule else "tier",
                fired=True,
                code=code,
                reason=reason,
                amount=granted,
                unit="points",
                condition=self.conditions.get(rule_id),
            )
        )
        return [(i, s) for i, s in enumerate(shares)]

    def period_keys(self) -> dict[str, str]:
        if self._period_keys is not None:
            return self._period_keys
        day = self.local.date()
        iso = day.isocalendar()
        self._period_keys = {
            "per_day": f"day:{day.isoformat()}",
            "per_week": f"week:{iso.year}-W{iso.week:02d}",
            "per_month": f"month:{day.year}-{day.month:02d}",
            "per_year": f"year:{day.year}",
            "lifetime": "lifetime",
        }
        return self._period_keys

    def allowance(self, rule_id: str, cap: Cap | None, budget: Any) -> tuple[Decimal | None, str]:
        allowed: Decimal | None = None
        limit = ""
        keys = self.period_keys()
        if cap is not None:
            if cap.per_event is not None:
                allowed, limit = cap.per_event, "per-event cap"
            used = self.counters.get(rule_id, {})
            for period in _PERIODS:
                value = getattr(cap, period)
                if value is not None:
                    left = max(ZERO, value - used.get(keys[period], ZERO))
                    if allowed is None or left < allowed:
                        allowed, limit = left, f"{period.replace('per_', 'per-').replace('_', ' ')} cap"
        if budget is not None:
            key = {
                "day": keys["per_day"],
                "week": keys["per_week"],
                "month": keys["per_month"],
                "year": keys["per_year"],
                "program": "lifetime",
            }[budget.period]
            left = max(ZERO, budget.points - self.budgets.spent.get(rule_id, {}).get(key, ZERO))
            if allowed is None or left < allowed:
                allowed, limit = left, "budget"
        return allowed, limit

    def count(self, rule_id: str, points: Decimal, cap: Cap | None, budget: Any) -> None:
        if cap is None:
            return
        periods = [period for period in _PERIODS if getattr(cap, period) is not None]
        if not periods:
            return
        keys = self.period_keys()
        mine = self.counters.setdefault(rule_id, {})
        for period in periods:
            mine[keys[period]] = mine.get(keys[period], ZERO) + points

    # -- stage 5: the outcome ------------------------------------------------------------------
    def outcome(self) -> Outcome:
        self.discounts()
        base = self.earning_base()
        self.earn(base)
        event = self.event
        points = sum((award.points for award in self.effects_points), ZERO)
        discount = sum((d.amount for d in self.effects_discounts), ZERO)
        shipping = ZERO
        if isinstance(event, Purchase):
            shipping = ZERO if self.free_shipping is not None else event.shipping
        basket = sum(self.amounts, ZERO)
        totals = Totals(
            basket=basket,
            discount=discount,
            shipping=shipping,
            to_pay=basket - discount + shipping,
            earning_base=sum(base, ZERO) + self.shipping_base(),
            points=points,
        )
        return Outcome(
            program=self.program.program,
            version=self.program.version,
            event=event.id,
            customer=event.customer,
            effects=Effects(
                points=self.effects_points,
                discounts=self.effects_discounts,
                free_shipping=self.free_shipping,
                coupons_redeemed=self.redeemed,
            ),
            totals=totals,
            state=self.new_state(),
            trace=self.trace,
        )

    def new_state(self) -> CustomerState:
        event = self.event
        program = self.program.points
        lots = list(self.state.lots)
        for award in self.effects_points:
            lots.append(
                Lot(
                    event=event.id,
                    rule=award.rule,
                    points=award.points,
                    earned_at=event.time,
                    available_at=event.time + program.pending if program.pending else event.time,
                    expires_at=event.time + program.expire_after if program.expire_after else None,
                )
            )
        coupons = [
            c.model_copy(update={"used_in": event.id}) if c.code in self.redeemed else c
            for c in self.state.coupons
        ]
        purchases = list(self.state.purchases)
        visits = self.state.visits
        if isinstance(event, Purchase):
            visits += 1
            day = self.local.date()
            purchases += [
                PastLine(sku=line.sku, category=line.category, price=line.price, qty=line.qty, date=day)
                for line in event.items
            ]
        return self.state.model_copy(
            update={
                "customer": event.customer,
                "lots": lots,
                "counters": self.counters,
                "coupons": coupons,
                "purchases": purchases,
                "visits": visits,
            }
        )


def display_money(amount: Decimal) -> str:
    return values.display(amount)


def local_date(moment: dt.datetime, program: Program) -> dt.date:
    return moment.astimezone(program.zone).date()
