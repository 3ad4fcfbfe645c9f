"""What the engine decides once per program, not once per event: a compiled program's plan.

A program never changes after it is compiled, so everything about it that `Engine.process` would
otherwise work out on every event is worked out here, when the engine is made: the earn rules and
discounts in the order they are decided, with their expressions looked up; what each cap limits;
the custom attributes each record declares; which `customer.*` attributes the expressions of each
part of the program read (the balance and the purchase history are built only when read); the
expressions and static facts the mechanics read; the digest of every rule, for the ledger.

Input: a `CompiledProgram`. Output: a `Plan`, immutable in use, shared by every thread.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rules_engine import periods
from rules_engine.dsl.context import STANDARD_ATTRIBUTES
from rules_engine.dsl.expression import Expression
from rules_engine.dsl.types import Kind
from rules_engine.engine import history
from rules_engine.engine.money import money_quantum
from rules_engine.engine.rounding import rate_ratio
from rules_engine.program.compile import CompiledProgram
from rules_engine.program.model import Badge, Cap, Coupon, Discount, EarnRule, Program, Reward, TierLevel

# The parts of a program whose expressions the run itself evaluates (earn rules, discounts, coupons,
# the earning base); the mechanics ask for their own parts' reads.
EVALUATED = frozenset({"earn", "discounts", "coupons", "earning_base"})
_CUSTOM_RECORDS = ("event", "item", "basket", "customer")
_COSTLY = frozenset({"points", "purchases"})  # customer attributes built only when read


@dataclass(frozen=True)
class EarnStep:
    """An earn rule as the engine runs it: its position in the program, its expressions, and the
    facts of it that every event would otherwise work out again (`earn_step`)."""

    index: int
    rule: EarnRule
    when: Expression | None
    exclude: Expression | None
    award: Expression | None
    for_each_item: Expression | None
    on: frozenset[str] = frozenset()
    """The event types it takes."""
    plain: bool = False
    """No exclusive group, schedule or condition: the admission gate has nothing to ask but the
    event's type, and traces nothing when the type is one of `on` (earning.earn skips it)."""
    ratio: tuple[int, int] | None = None
    """A rate's points per unit of money, exactly (`rate_ratio`)."""
    fixed: Decimal | None = None
    """A fixed award (a number, not an expression), as a decimal."""


@dataclass(frozen=True)
class DiscountStep:
    index: int
    discount: Discount
    when: Expression | None
    applies_to: Expression | None


class Plan:
    """The per-program facts `Engine.process` reads on every event (see the module docstring)."""

    def __init__(self, compiled: CompiledProgram, *, shortcuts: bool = True) -> None:
        """`shortcuts=False`: the earn stage takes its general paths only — every earn rule goes
        through the admission gate (`EarnStep.plain`), every award's weights are scaled on their
        own (`earning.earn`) — so that tests can hold the shortcuts to them."""
        program = compiled.program
        self.shortcuts = shortcuts
        expression = compiled.expression
        self.compiled = compiled
        self.program = program
        self.zone = program.zone
        self.quantum = money_quantum(program.currency)
        self.rule_hashes = _rule_hashes(program)
        # Earn rules by priority (higher first), then id; multipliers after the others.
        steps = [
            earn_step(
                index,
                rule,
                expression("earn", index, "when"),
                expression("earn", index, "exclude"),
                expression("earn", index, "award"),
                expression("earn", index, "for_each_item"),
                shortcuts,
            )
            for index, rule in enumerate(program.earn)
        ]
        steps.sort(key=lambda step: (-step.rule.priority, step.rule.id))
        self.base_rules = [step for step in steps if step.rule.multiply is None]
        self.multipliers = [step for step in steps if step.rule.multiply is not None]
        discounts = [
            DiscountStep(
                index,
                discount,
                expression("discounts", index, "when"),
                expression("discounts", index, "applies_to"),
            )
            for index, discount in enumerate(program.discounts)
        ]
        self.discounts = sorted(discounts, key=lambda step: (-step.discount.priority, step.discount.id))
        self.base_exclude = expression("earning_base", "exclude")
        self.coupons: dict[str, Coupon] = {c.id: c for c in program.coupons}
        self.coupon_index: dict[str, int] = {}
        for position, coupon in enumerate(program.coupons):
            self.coupon_index.setdefault(coupon.id, position)
        levels = program.tiers.levels if program.tiers else []
        self.tiers: dict[str, TierLevel] = {level.id: level for level in levels}
        self.tier_positions: dict[str, int] = {level.id: i for i, level in enumerate(levels)}
        self.tier_window = str(program.tiers.window) if program.tiers else ""
        # Custom attributes each record declares (beyond the standard ones the engine fills in),
        # and those of type text: a text value sent for one is taken as it is.
        attributes = compiled.schema.attributes
        self.custom_names = {
            record: tuple(name for name in attributes[record] if name not in STANDARD_ATTRIBUTES[record])
            for record in _CUSTOM_RECORDS
        }
        self.custom_attributes = {
            record: tuple((name, attributes[record][name]) for name in self.custom_names[record])
            for record in _CUSTOM_RECORDS
        }
        self.text_attributes = {
            record: frozenset(name for name, a in attributes[record].items() if a.type.kind is Kind.TEXT)
            for record in _CUSTOM_RECORDS
        }
        # `customer.*` attributes the run's own expressions read; the mechanics' are asked below.
        self.customer_reads = compiled.reads("customer", EVALUATED)
        self._costly: dict[frozenset[str], frozenset[str]] = {}
        # What each earn rule's cap limits (by the cap's identity: caps are frozen program parts).
        self._caps = {id(r.cap): (r.cap, cap_periods(r.cap)) for r in program.earn if r.cap is not None}
        # The rules with a budget and the cap period their budget is counted in.
        self.budgeted: list[tuple[str, str]] = [
            (r.id, periods.BUDGET_PERIODS[r.budget.period]) for r in program.earn if r.budget is not None
        ]
        # The mechanics' expressions and facts.
        self.automatic_badges: list[tuple[int, Badge, Expression | None]] = [
            (i, badge, expression("badges", i, "when"))
            for i, badge in enumerate(program.badges)
            if badge.on or badge.when is not None
        ]
        # What a badge gives besides itself, for a badge another mechanic's reward gives.
        self.badge_rewards: dict[str, Reward] = {
            b.id: b.reward for b in program.badges if b.reward is not None
        }
        self.quest_types = [sorted({step.on for step in quest.steps}) for quest in program.quests]
        self.quest_steps = [
            [expression("quests", i, "steps", s, "when") for s in range(len(quest.steps))]
            for i, quest in enumerate(program.quests)
        ]
        # What the program reads of the purchase history, and how long the state keeps its lines.
        self.purchases_use = history.purchases_use(compiled)
        self.purchases_kept = history.kept_for(compiled, self.purchases_use)

    def cap_periods(self, cap: Cap) -> tuple[tuple[str, Decimal, str], ...]:
        """What `cap` limits besides `per_event` (see `cap_periods`), worked out once per cap."""
        known = self._caps.get(id(cap))
        return known[1] if known is not None and known[0] is cap else cap_periods(cap)

    def costly_reads(self, sections: frozenset[str]) -> frozenset[str]:
        """The costly `customer.*` attributes (the balance, the history) that the expressions of
        the program's `sections` read and the run's own expressions do not."""
        wanted = self._costly.get(sections)
        if wanted is None:  # the same answer every time: computing it twice is harmless
            wanted = (self.compiled.reads("customer", sections) - self.customer_reads) & _COSTLY
            self._costly[sections] = wanted
        return wanted


def earn_step(
    index: int,
    rule: EarnRule,
    when: Expression | None,
    exclude: Expression | None,
    award: Expression | None,
    for_each_item: Expression | None,
    shortcuts: bool = True,
) -> EarnStep:
    """An `EarnStep` with its facts worked out once (see the fields)."""
    literal: Any = rule.award
    return EarnStep(
        index,
        rule,
        when,
        exclude,
        award,
        for_each_item,
        on=frozenset(rule.on),
        plain=shortcuts and rule.group is None and rule.active is None and when is None,
        ratio=rate_ratio(rule.rate.points, rule.rate.per) if rule.rate is not None else None,
        fixed=Decimal(literal) if award is None and literal is not None else None,
    )


def cap_periods(cap: Cap) -> tuple[tuple[str, Decimal, str], ...]:
    """The periods a cap limits (not `per_event`): (period, points, how a trace names the cap)."""
    return tuple(
        (period, value, f"{period.replace('per_', 'per-').replace('_', ' ')} cap")
        for period in periods.CAPS
        if (value := getattr(cap, period)) is not None
    )


def _rule_hashes(program: Program) -> dict[str, str]:
    """rule id as awards name it → the first 16 hex digits of the SHA-256 of the rule's definition:
    the fields its author wrote, as validated, in canonical JSON. Not the defaults: a release of
    the engine that adds an option would otherwise change the hash of every rule, and the books
    would show every rule as changed at the upgrade (as they did before 2026-12-02's evening)."""

    def digest(model: Any) -> str:
        text = json.dumps(
            model.model_dump(mode="json", exclude_unset=True), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    hashes = {rule.id: digest(rule) for rule in program.earn}
    if program.tiers is not None:
        hashes |= {f"tier:{level.id}": digest(level) for level in program.tiers.levels}
    for section in ("challenges", "quests", "badges", "streaks", "offers", "catalog"):
        prefix = section.rstrip("s") if section != "catalog" else "catalog"
        hashes |= {f"{prefix}:{item.id}": digest(item) for item in getattr(program, section)}
    if program.birthday is not None:
        hashes["birthday"] = digest(program.birthday)
    if program.referral is not None:
        hashes |= {
            "referral:referee": digest(program.referral),
            "referral:referrer": digest(program.referral),
        }
    return hashes
