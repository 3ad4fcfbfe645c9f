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
import difflib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rules_engine.dsl import values
from rules_engine.dsl.ast import format_duration
from rules_engine.dsl.context import Context, _Normalizer
from rules_engine.dsl.expression import Expression
from rules_engine.engine import clock, gamification, history, lifecycle, running, social, tiers
from rules_engine.engine import explain as why
from rules_engine.engine.events import (
    AnyEvent,
    Purchase,
    Redeem,
    Return,
    finer_than,
    fixed_offset,
    out_of_range,
    parse_event,
)
from rules_engine.engine.money import ONE, money_quantum, round_money, round_points, split
from rules_engine.engine.outcome import (
    BadgeAwarded,
    CouponIssued,
    DiscountEffect,
    DrawEntry,
    Effects,
    ExplainNode,
    FreeShipping,
    LineShare,
    Notification,
    Outcome,
    PointsAward,
    PointsChange,
    RuleTrace,
    TierChange,
    TierProgress,
    Totals,
)
from rules_engine.engine.plan import DiscountStep, EarnStep, Plan
from rules_engine.engine.schedule import within
from rules_engine.engine.tokens import keyed_code
from rules_engine.engine.trusted import (
    award_lines,
    earn_entry,
    ledger_lines,
    line_share,
    lot_line,
    past_line,
    points_award,
    points_lot,
    replaced,
    rule_trace,
    trusted,
)
from rules_engine.errors import ContextError, Diagnostic, EventError
from rules_engine.periods import BUDGET_PERIODS, cap_period_key, without_past
from rules_engine.program.compile import CompiledProgram, compile_program
from rules_engine.program.model import Cap, Coupon, EarnRule, Program, Reward, TierLevel
from rules_engine.program.validate import load_program
from rules_engine.state.customer import (
    Activity,
    CustomerState,
    IssuedCoupon,
    LedgerEntry,
    LedgerLine,
    Lot,
    LotLine,
    PastLine,
    parse_state,
)

ZERO = Decimal(0)
PROCESSED_KEPT = 1000  # event ids remembered per customer for duplicate deliveries
HUNDRED = Decimal(100)


# The cap period a budget's period is counted in (the same counter keys).
@dataclass(frozen=True)
class BudgetSnapshot:
    """Program-wide points given per rule and period, for budgets: {rule: {period: points}}."""

    spent: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)


class Engine:
    """Evaluates events for one program. Compile once; `process` is safe to call from many threads."""

    def __init__(self, program: Program | CompiledProgram, *, secret: bytes = b"") -> None:
        """Args:
        program: the program, validated (or compiled).
        secret: mixed into issued coupon codes so they cannot be guessed; set one per
            deployment (the same secret gives the same codes for the same events).
        """
        self.secret = secret
        self.compiled = program if isinstance(program, CompiledProgram) else compile_program(program)
        self.rule_hashes = _rule_hashes(self.compiled.program)
        self.program = self.compiled.program
        self.zone = self.program.zone
        self.quantum = money_quantum(self.program.currency)
        self.plan = Plan(self.compiled)

    @classmethod
    def from_file(cls, path: str | Path, *, secret: bytes = b"") -> Engine:
        return cls(load_program(path), secret=secret)

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
            EventError: the event is malformed or does not fit the program, or it is older than
                the customer's latest event (RE440, engine/clock.py); nothing is applied.
        """
        parsed = parse_event(event)
        current = parse_state(state)
        if parsed.id in current.processed:
            return self._duplicate(parsed, current)
        latest = current.last_event_at
        if latest is not None and clock.event_order(self.program, current, parsed) == "refused":
            raise EventError([clock.out_of_order(parsed, latest)])
        try:
            before, changes = self._time_passes(current, parsed.time, parsed.id)
            run = _Run(self, parsed, before, explain, budgets or BudgetSnapshot())
            run.points_changes = changes
            return run.outcome()
        except InvalidOperation:  # a rounding whose result has more digits than decimals keep
            raise EventError([_not_exact(parsed.id)]) from None
        except OverflowError:  # a date past year 9999: a state's time, or a program's long window
            raise EventError([out_of_range(parsed.id)]) from None

    def _duplicate(self, event: AnyEvent, state: CustomerState) -> Outcome:
        """A redelivered event: nothing is applied again, the state comes back unchanged.

        The original outcome is not kept in the state (it would grow without bound); a store
        that must answer with it keeps outcomes by event id.
        """
        trace = [
            rule_trace(
                f"event:{event.id}",
                "event",
                False,
                "duplicate",
                "this event was already processed: nothing is applied again",
            )
        ]
        return Outcome(
            program=self.program.program,
            version=self.program.version,
            event=event.id,
            customer=event.customer,
            effects=Effects(),
            totals=Totals(),
            state=state,
            trace=trace,
        )

    def advance(
        self, state: CustomerState | Mapping[str, Any] | None, to_time: dt.datetime
    ) -> tuple[CustomerState, list[PointsChange | TierChange]]:
        """Housekeeping without an event: apply what time does up to `to_time` (expiry, points
        becoming available, a tier review that is due) and return the new state with each change
        (`PointsChange` or `TierChange`). Pure, like `process`. The customer's clock never moves
        backwards: a moment before their latest event (or advance) changes nothing."""
        if to_time.tzinfo is None or to_time.utcoffset() is None:
            raise EventError([Diagnostic("RE410", "advance: the time needs a timezone offset")])
        to_time = fixed_offset(to_time)
        current = parse_state(state)
        if current.last_event_at is not None and to_time < current.last_event_at:
            return current, []
        cause = f"advance:{to_time.isoformat()}"
        after, changes = self._time_passes(current, to_time, cause)
        after = replaced(
            after, {"ledger": lifecycle.closed_entries_left_out(after.ledger, after.lots, cause)}
        )
        update: dict[str, Any] = {"last_event_at": _later(after.last_event_at, to_time)}
        if self.program.tiers is not None:
            tier, since, moves = tiers.review(self.program.tiers, after, to_time, self.zone)
            update |= {"tier": tier, "tier_since": since}
            transitions: list[PointsChange | TierChange] = [*changes, *moves]
            return after.model_copy(update=update), transitions
        return after.model_copy(update=update), list(changes)

    def _time_passes(
        self, state: CustomerState, moment: dt.datetime, cause: str
    ) -> tuple[CustomerState, list[PointsChange]]:
        state = lifecycle.in_order(state)
        changes, pending = lifecycle.ripen(state, moment)
        state, expired = lifecycle.expire(state, moment, event=cause, version=self.program.version)
        state = replaced(state, {"pending_lots": pending})
        ordered = sorted([*changes, *expired], key=lambda c: (lifecycle.instant(c.at), c.kind, c.lot))
        given = {"kind", "lot", "points", "at"}
        return state, [
            trusted(PointsChange, {"kind": c.kind, "lot": c.lot, "points": c.points, "at": c.at}, given)
            for c in ordered
        ]


class _Run:
    """One call of `process`: the working state of a single event."""

    def __init__(
        self, engine: Engine, event: AnyEvent, state: CustomerState, explain: bool, budgets: BudgetSnapshot
    ) -> None:
        self.engine = engine
        self.plan = engine.plan
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
        self.tier: TierLevel | None = engine.plan.tiers.get(state.tier or "")
        self.counters = dict(state.counters)  # a rule's counts are copied when counted
        self._check_event()
        self.items = event.items if isinstance(event, Purchase) else []
        # Whom each share of an award is attributed to: the lines, then shipping (quantity 1).
        self.skus = [line.sku for line in self.items] + ["(shipping)"]
        self.quantities = [line.qty for line in self.items] + [ONE]
        self.lot_lines: dict[int, list[LotLine]] = {}  # made with an award's shares, by id(award)
        quantum = engine.quantum
        self.amounts = [round_money(line.price * line.qty, quantum) for line in self.items]
        # The context of the conditions: built when first read (a program without conditions never
        # needs it), from the state as it is now; at once if custom attributes were sent, so that
        # undeclared or bad ones are refused before anything else, as always.
        self._before = state
        self._points = state.available(event.time) if "points" in self.plan.customer_reads else ZERO
        self._context: Context | None = None
        if _attributes_sent(event, state):
            self._context = self._build_context()
        self.remaining = list(self.amounts)  # after discounts so far
        self._item_context: Context | None = None
        # A per-line condition's truth on each line, once computed: the context never changes
        # during a run, so neither does the answer ({id(expression): [None | bool per line]}).
        self._line_truths: dict[int, list[bool | None]] = {}
        self._period_keys: dict[str, str] = {}
        self._mechanics_contexts: dict[frozenset[str], Context] = {}
        self.conditions: dict[str, ExplainNode] = {}  # trees of conditions that held (explain only)
        self.points_changes: list[PointsChange] = []
        self.return_closed = False  # a return after the program's return window: nothing comes back
        self.coupons_issued: list[CouponIssued] = []
        self.badges: list[BadgeAwarded] = []
        self.tier_changes: list[TierChange] = []
        self.notifications: list[Notification] = []
        self.tier_progress: TierProgress | None = None
        self.draw_entries: list[DrawEntry] = []
        self.negative_awards: dict[str, Decimal] = {}  # rule → an award below zero it came to

    # -- input ---------------------------------------------------------------------------------
    def _check_event(self) -> None:
        event = self.event
        if too_fine := finer_than(event, self.engine.quantum):
            raise EventError(too_fine)
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

    @property
    def context(self) -> Context:
        """What conditions read: the event, the basket, the customer (as before the event)."""
        context = self._context
        if context is None:
            context = self._context = self._build_context()
        return context

    def _build_context(self) -> Context:
        event, state = self.event, self._before
        problems: list[Diagnostic] = []
        custom = self._custom
        event_record: dict[str, Any] = {
            "id": event.id,
            "type": event.type,
            "time": self.local,
            "date": self.local.date(),
            "channel": event.channel,
            "store": event.store,
        }
        custom(problems, "event", event.attributes, event_record, "event.attributes")
        context = Context(event=event_record)
        if isinstance(event, Purchase):
            items = []
            item_names = self.plan.custom_names["item"]
            for index, line in enumerate(event.items):
                record: dict[str, Any] = {
                    "sku": line.sku,
                    "name": line.name,
                    "category": line.category,
                    "price": line.price,
                    "qty": line.qty,
                }
                if line.attributes:
                    custom(problems, "item", line.attributes, record, "items[{}].attributes", index)
                else:  # nothing sent: every declared attribute is null
                    for name in item_names:
                        record[name] = None
                items.append(record)
            basket: dict[str, Any] = {
                "total": sum(self.amounts, ZERO),
                "items": tuple(items),
                "item_count": sum([line.qty for line in event.items], ZERO),
                "shipping": event.shipping,
                "tax": event.tax,
                "currency": self.program.currency,
                "coupons": tuple(event.coupons),
            }
            custom(problems, "basket", event.basket_attributes, basket, "basket_attributes")
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
        reads = self.plan.customer_reads
        customer: dict[str, Any] = {
            "id": event.customer,
            "tier": state.tier,
            "points": self._points,
            "tags": tuple(profile.tags),
            "visits": state.visits,
            "signup_date": profile.signup_date,
            "birthday": profile.birthday,
            "purchases": self._purchases(state) if "purchases" in reads else (),
        }
        custom(problems, "customer", profile.attributes, customer, "state.profile.attributes")
        context["customer"] = customer
        if problems:
            raise EventError([Diagnostic("RE413", d.message, hint=d.hint) for d in problems])
        return context

    def _purchases(self, state: CustomerState) -> tuple[dict[str, Any], ...]:
        return history.customer_purchases(state, self.plan.purchases_use, purchase_records, self.explain)

    def _custom(
        self,
        problems: list[Diagnostic],
        record: str,
        data: Mapping[str, Any],
        out: dict[str, Any],
        path: str,
        index: int | None = None,
    ) -> None:
        """Declared custom attributes, normalized; undeclared ones are refused (a typo costs money).

        `out` holds the record's standard attributes already. `path` names `data` in errors (with
        `index` for the `{}` in it: formatted only for an error)."""
        plan = self.plan
        if not data:  # nothing sent: every declared attribute is null
            for name in plan.custom_names[record]:
                out[name] = None
            return
        engine = self.engine
        normalizer: _Normalizer | None = None
        attributes = engine.compiled.schema.attributes[record]
        for name in data:
            if name not in attributes or name in out:
                normalizer = normalizer or _Normalizer(engine.compiled.schema, engine.zone, problems)
                normalizer.fail(
                    f"{_where(path, index)}.{name}",
                    f"`{name}` is not declared",
                    hint=f"declare it under attributes.{record} in the program",
                )
        texts = plan.text_attributes[record]
        for name, attribute in plan.custom_attributes[record]:
            raw = data.get(name)
            if raw is None:
                out[name] = None
            elif raw.__class__ is str and name in texts:  # what the normalizer gives text
                out[name] = raw
            else:
                normalizer = normalizer or _Normalizer(engine.compiled.schema, engine.zone, problems)
                out[name] = normalizer.value(raw, attribute.type, f"{_where(path, index)}.{name}")

    def item_context(self, index: int) -> Context:
        """The context of line `index`: the run's context with `item`. One context serves every
        line (its `item` replaced): it is used at once, by one expression, and never kept."""
        context = self._item_context
        if context is None:
            context = self._item_context = Context(self.context)
        context["item"] = self.context["basket"]["items"][index]
        return context

    # -- conditions ----------------------------------------------------------------------------
    def passed(self, rule: str, expression: Expression | None) -> None:
        """With explain, keep the tree of a condition that held, to show why the rule fired."""
        if self.explain and expression is not None:
            self.conditions[rule] = why.explain_tree(expression.explain(self.context), expression)

    @staticmethod
    def holds(expression: Expression | None, context: Context) -> bool:
        if expression is None:
            return True
        try:  # the generated function itself: `context` is always a `Context` here
            return expression._function(context) is True
        except (KeyError, ContextError):  # the expression reads `item` outside a line: counts as false
            return False

    def holding(self, expression: Expression, lines: Iterable[int]) -> list[bool]:
        """`line_holds` on each of `lines`, in order (each evaluated at most once per run)."""
        truths = self._line_truths.get(id(expression))
        if truths is None:
            truths = self._line_truths[id(expression)] = [None] * len(self.items)
        function = expression._function
        items = self.context["basket"]["items"]
        context = self._item_context
        if context is None:
            context = self._item_context = Context(self.context)
        out = []
        for index in lines:
            truth = truths[index]
            if truth is None:
                context["item"] = items[index]
                try:  # as `holds`
                    truth = function(context) is True
                except (KeyError, ContextError):
                    truth = False
                truths[index] = truth
            out.append(truth)
        return out

    def line_holds(self, expression: Expression, index: int) -> bool:
        """Whether a per-line condition holds on line `index`, evaluated at most once per run."""
        truths = self._line_truths.get(id(expression))
        if truths is None:
            truths = self._line_truths[id(expression)] = [None] * len(self.items)
        truth = truths[index]
        if truth is None:
            truth = truths[index] = self.holds(expression, self.item_context(index))
        return truth

    def condition_trace(
        self, rule: str, kind: Any, expression: Expression, context: Context, reason: str
    ) -> RuleTrace:
        failing: list[str] = []
        hint = None
        condition = None
        if self.explain:
            trace = expression.explain(context)
            failing = why.failing_parts(trace, expression)
            hint = why.near_miss(trace, expression)
            condition = why.explain_tree(trace, expression)
        return rule_trace(
            rule,
            kind,
            False,
            "condition_false",
            reason,
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
        for step in self.plan.discounts:
            self.apply_discount(step, winners)
        if self.tier is not None:
            self.tier_benefits()
        for code in event.coupons:
            self.apply_coupon(code)

    def apply_discount(self, step: DiscountStep, winners: dict[str, str]) -> None:
        discount = step.discount
        rule = discount.id
        if discount.group is not None and discount.group in winners:
            self.trace.append(
                rule_trace(
                    rule,
                    "discount",
                    False,
                    "shadowed",
                    f"`{winners[discount.group]}` of exclusive group `{discount.group}` applies instead",
                )
            )
            return
        outside = within(discount.active, self.local)
        if outside is not None:
            self.trace.append(
                rule_trace(rule, "discount", False, "outside_schedule", f"not active: {outside}")
            )
            return
        when, applies = step.when, step.applies_to
        if when is not None and not self.holds(when, self.context):
            self.trace.append(
                self.condition_trace(rule, "discount", when, self.context, "condition is false")
            )
            return
        self.passed(rule, when)
        amount = self.take_off(rule, discount.percent, discount.amount, applies)
        if discount.free_shipping:
            self.waive_shipping(rule)
        waived = discount.free_shipping and self.free_shipping is not None and self.free_shipping.rule == rule
        if amount == 0 and not waived:
            nothing = "no line it applies to" if not discount.free_shipping else "no shipping to waive"
            self.trace.append(rule_trace(rule, "discount", False, "nothing_eligible", nothing))
            return
        if discount.group is not None:
            winners[discount.group] = rule
        gives = [f"{display_money(amount)} off"] if amount else []
        if waived:
            assert self.free_shipping is not None
            gives.append(f"free shipping ({display_money(self.free_shipping.amount)} waived)")
        self.trace.append(
            rule_trace(
                rule,
                "discount",
                True,
                "fired",
                " and ".join(gives),
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
                rule_trace(
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
            self.waive_shipping(rule)

    def apply_coupon(self, presented: str) -> None:
        """Apply a coupon the customer presents: matched as typed at a till, without regard to
        case or surrounding spaces; once per event, however often it is presented."""
        wanted = presented.strip().upper()
        issued = next((c for c in self.state.coupons if c.code.upper() == wanted), None)
        code = issued.code if issued is not None else presented
        rule = f"coupon:{code}"
        definition: Coupon | None = self.plan.coupons.get(issued.coupon) if issued else None
        problem = None
        if issued is None or definition is None:
            problem = "this customer has no such coupon"
        elif code in self.redeemed:
            problem = "presented more than once in this event: applied once"
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
                rule_trace(rule, "coupon", False, "coupon_invalid", problem or "unknown coupon")
            )
            return
        index = self.plan.coupon_index[definition.id]
        applies = self.engine.compiled.expression("coupons", index, "applies_to")
        amount = self.take_off(rule, definition.percent, definition.amount, applies)
        if definition.free_shipping:
            self.waive_shipping(rule)
        self.redeemed.append(code)
        self.trace.append(
            rule_trace(
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
        self, rule: str, percent: Decimal | None, amount: Decimal | None, applies: Expression | None
    ) -> Decimal:
        """Take a percent or an amount off the matching lines' remaining prices; record the effect."""
        quantum = self.engine.quantum
        remaining = self.remaining
        matching = [i for i in range(len(self.items)) if remaining[i] > 0]
        if applies is not None:
            holding = self.holding(applies, matching)
            matching = [i for i, holds in zip(matching, holding, strict=True) if holds]
        cuts = [ZERO] * len(self.items)
        if percent is not None:
            for i in matching:
                cuts[i] = min(remaining[i], round_money(remaining[i] * percent / HUNDRED, quantum))
        elif amount is not None and applies is not None:
            for i in matching:
                cuts[i] = min(remaining[i], round_money(amount * self.items[i].qty, quantum))
        elif amount is not None and matching:
            total = min(amount, sum((remaining[i] for i in matching), ZERO))
            for i, part in zip(
                matching, split(total, [remaining[i] for i in matching], quantum), strict=True
            ):
                cuts[i] = part
        taken = sum(cuts, ZERO)
        if taken > 0:
            for i, cut in enumerate(cuts):
                if cut:  # a zero cut changes nothing, not even the exponent (both are minor units)
                    remaining[i] -= cut
            items = self.items
            lines = [line_share(i, items[i].sku, c) for i, c in enumerate(cuts) if c > 0]
            self.effects_discounts.append(
                trusted(
                    DiscountEffect,
                    {"rule": rule, "amount": taken, "lines": lines},
                    {"rule", "amount", "lines"},
                )
            )
        return taken

    def waive_shipping(self, rule: str) -> None:
        event = self.event
        if self.free_shipping is None and isinstance(event, Purchase) and event.shipping > 0:
            self.free_shipping = trusted(
                FreeShipping, {"rule": rule, "amount": event.shipping}, {"rule", "amount"}
            )

    # -- stage 3: earning base -----------------------------------------------------------------
    def earning_base(self) -> list[Decimal]:
        """What each line earns on: paid after discounts, less what `earning_base` leaves out."""
        event = self.event
        if not isinstance(event, Purchase):
            return []
        settings = self.program.earning_base
        quantum = self.engine.quantum
        base = list(self.remaining)
        exclude = self.plan.base_exclude
        if exclude is not None:
            excluded = self.holding(exclude, range(len(base)))
            base = [ZERO if out else b for out, b in zip(excluded, base, strict=True)]
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
        n = len(self.items)
        per_line_points = [ZERO] * (n + 1)  # last slot: shipping
        for step in self.plan.base_rules:
            computed = self.rule_points(step, base, groups)
            if computed is None:
                continue
            rule = step.rule
            weights, exact = computed
            # a per-line award's points are often given whole: then the shares are those points
            factor = ONE if rule.for_each_item is not None else None
            shares = self.award(rule.id, rule.cap, rule.budget, weights, exact, rule, factor=factor)
            if shares and rule.group is not None:
                groups[rule.group] = rule.id  # a group's winner is the first rule that gives points
            for line, points in enumerate(shares):
                if points:  # adding a zero share would change nothing, not even the exponent
                    per_line_points[line] += points
        for step in self.plan.multipliers:
            if not self.passes(step, groups):
                continue
            rule = step.rule
            assert rule.multiply is not None
            weights = per_line_points
            exclude, matches = step.exclude, step.for_each_item
            if exclude is not None:
                excluded = [*self.holding(exclude, range(n)), False]  # shipping is not a line
                weights = [ZERO if out else p for out, p in zip(excluded, weights, strict=True)]
            if matches is not None:  # only the points of the matching lines; shipping is no line
                matching = [*self.holding(matches, range(n)), False]
                weights = [p if match else ZERO for match, p in zip(matching, weights, strict=True)]
            exact = sum(weights, ZERO) * (rule.multiply - 1)
            shares = self.award(
                rule.id,
                rule.cap,
                rule.budget,
                weights,
                exact,
                rule,
                multiplier=rule.multiply,
                factor=rule.multiply - 1,
            )
            if shares and rule.group is not None:
                groups[rule.group] = rule.id
        if self.tier is not None and self.tier.benefits.earn_multiplier is not None:
            multiplier = self.tier.benefits.earn_multiplier
            exact = sum(per_line_points, ZERO) * (multiplier - 1)
            self.award(
                f"tier:{self.tier.id}",
                None,
                None,
                per_line_points,
                exact,
                None,
                multiplier=multiplier,
                factor=multiplier - 1,
            )

    def passes(self, step: EarnStep, groups: dict[str, str]) -> bool:
        """Event type, exclusive group, schedule and condition; records the trace when it fails."""
        rule = step.rule
        if self.event.type not in rule.on:
            self.trace.append(
                rule_trace(
                    rule.id,
                    "earn",
                    False,
                    "wrong_event",
                    f"applies to {', '.join(rule.on)}, not {self.event.type}",
                )
            )
            return False
        if rule.group is not None and rule.group in groups:
            self.trace.append(
                rule_trace(
                    rule.id,
                    "earn",
                    False,
                    "shadowed",
                    f"`{groups[rule.group]}` of exclusive group `{rule.group}` applies instead "
                    "(higher priority)",
                )
            )
            return False
        outside = within(rule.active, self.local)
        if outside is not None:
            self.trace.append(
                rule_trace(rule.id, "earn", False, "outside_schedule", f"not active: {outside}")
            )
            return False
        when = step.when
        if when is not None and not self.holds(when, self.context):
            self.trace.append(self.condition_trace(rule.id, "earn", when, self.context, "condition is false"))
            return False
        self.passed(rule.id, when)
        return True

    def rule_points(
        self, step: EarnStep, base: list[Decimal], groups: dict[str, str]
    ) -> tuple[list[Decimal], Decimal] | None:
        """(weights per line and shipping, exact unrounded points) of a rate or award rule.

        None if the rule does not apply. The total is computed once from exact inputs — never as
        a sum of per-line shares, whose rounding could lose a point — and split by the weights.
        """
        if not self.passes(step, groups):
            return None
        rule = step.rule
        n = len(self.items)
        exclude, award, matches = step.exclude, step.award, step.for_each_item
        line_holds = self.line_holds
        if exclude is None:
            eligible = base
        else:
            excluded = self.holding(exclude, range(n))
            eligible = [ZERO if out else b for out, b in zip(excluded, base, strict=True)]
        if rule.rate is not None:
            weights = [*eligible, self.shipping_base()]
            return weights, sum(weights, ZERO) * rule.rate.points / rule.rate.per
        if rule.for_each_item is not None:
            points = [ZERO] * (n + 1)
            amounts = self.amounts
            for i in range(n):
                if eligible[i] == 0 and base[i] == 0 and amounts[i] > 0:
                    continue  # a line the earning base leaves out earns nothing
                if exclude is not None and line_holds(exclude, i):
                    continue
                if matches is None or line_holds(matches, i):
                    value = self._award_value(award, rule.award, self.item_context(i))
                    points[i] = self._not_negative(rule.id, value)
            return points, sum(points, ZERO)
        if award is None:  # a fixed award: no context needed (nor built, without conditions)
            literal: Any = rule.award
            value = self._not_negative(rule.id, Decimal(literal))
        else:
            value = self._not_negative(rule.id, self._award_value(award, rule.award, self.context))
        if n == 0:
            return [ONE], value  # not a purchase: nothing to attribute to
        if not any(eligible):
            value = ZERO  # only lines the earning base leaves out: they earn nothing
        return [*eligible, ZERO], value

    def _not_negative(self, rule: str, value: Decimal) -> Decimal:
        """An award below zero gives nothing (earn rules never take points away); remembered for
        the trace, which says so rather than "no eligible amount"."""
        if value < 0:
            self.negative_awards.setdefault(rule, value)
            return ZERO
        return value

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
        factor: Decimal | None = None,
    ) -> list[Decimal]:
        """Round `exact`, cap it, split it by the weights `raw`, record it; returns each line's share.

        `factor`: `exact` is the weights times it (a hint for `split`'s shortcut)."""
        total = round_points(exact, self.program.points.rounding)
        kind = "earn" if rule else "tier"
        if total <= 0:
            if multiplier is not None and rule is not None and rule.for_each_item is not None:
                reason = "no points on the lines for_each_item matches: nothing to multiply"
            elif multiplier is not None:
                reason = "nothing to multiply"
            elif rule_id in self.negative_awards:
                reason = (
                    f"the award came to {self.negative_awards[rule_id]}, below zero: "
                    "an earn rule never takes points away"
                )
            elif rule is not None and rule.for_each_item is not None:
                reason = "no line matches for_each_item"
            else:
                reason = "no eligible amount"
            self.trace.append(
                rule_trace(rule_id, "tier" if rule is None else "earn", False, "nothing_eligible", reason)
            )
            return []
        allowed, limit = (
            (None, "") if cap is None and budget is None else self.allowance(rule_id, cap, budget)
        )
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
                rule_trace(rule_id, kind, False, code, f"{limit} reached: would have given {total}")
            )
            return []
        shares = split(granted, raw, ONE, factor)
        lines: list[LineShare] = []
        lot_lines: list[LotLine] = []  # the same shares, as the new lot will keep them
        if self.items:
            lines, lot_lines = award_lines(shares, self.skus, self.quantities)
        pending = self.program.points.pending
        available_at = self.event.time + pending if pending else None
        made = points_award(rule_id, granted, lines, available_at)
        self.effects_points.append(made)
        self.lot_lines[id(made)] = lot_lines
        self.count(rule_id, granted, cap, budget)
        reason = f"{granted} points"
        if multiplier is not None and rule is not None and rule.for_each_item is not None:
            reason += f" (×{multiplier} on the points of the lines for_each_item matches)"
        elif multiplier is not None:
            reason += f" (×{multiplier} on this event's points)"
        if code != "fired":
            reason += f"; {limit} reached, would have given {total}"
        self.trace.append(
            rule_trace(
                rule_id,
                kind,
                True,
                code,
                reason,
                amount=granted,
                unit="points",
                condition=self.conditions.get(rule_id),
            )
        )
        return shares

    def cap_period_key(self, period: str) -> str:
        """The counter key of the period (`per_day` …, `lifetime`) the event falls in, locally."""
        key = self._period_keys.get(period)
        if key is None:
            key = self._period_keys[period] = cap_period_key(period, self.local.date())
        return key

    def allowance(self, rule_id: str, cap: Cap | None, budget: Any) -> tuple[Decimal | None, str]:
        allowed: Decimal | None = None
        limit = ""
        if cap is not None:
            if cap.per_event is not None:
                allowed, limit = cap.per_event, "per-event cap"
            used = self.counters.get(rule_id, {})
            for period, value, words in self.plan.cap_periods(cap):
                left = max(ZERO, value - used.get(self.cap_period_key(period), ZERO))
                if allowed is None or left < allowed:
                    allowed, limit = left, words
        if budget is not None:
            key = self.cap_period_key(BUDGET_PERIODS[budget.period])
            left = max(ZERO, budget.points - self.budgets.spent.get(rule_id, {}).get(key, ZERO))
            if allowed is None or left < allowed:
                allowed, limit = left, "budget"
        return allowed, limit

    def count(self, rule_id: str, points: Decimal, cap: Cap | None, budget: Any) -> None:
        if cap is None:
            return
        periods = self.plan.cap_periods(cap)
        if not periods:
            return
        mine = dict(self.counters.get(rule_id, {}))
        for period, _, _ in periods:
            key = self.cap_period_key(period)
            mine = without_past(mine, key)  # a period that ended counts for nothing any more
            mine[key] = mine.get(key, ZERO) + points
        self.counters[rule_id] = mine

    # -- what the stateful mechanics read and give ----------------------------------------------
    def mechanics_context(self, sections: frozenset[str]) -> Context:
        """The context for the conditions of the program `sections` named (challenges, offers …),
        with the costly `customer.points` and `customer.purchases` filled in when those conditions
        read them (the run builds them only for the earn rules and discounts). Built once per event."""
        wanted = self.plan.costly_reads(sections)
        if not wanted:
            return self.context
        key = wanted
        cached = self._mechanics_contexts.get(key)
        if cached is not None:
            return cached
        state = self.state
        customer: dict[str, Any] = dict(self.context["customer"])
        if "points" in wanted:
            customer["points"] = state.available(self.event.time)
        if "purchases" in wanted:
            customer["purchases"] = self._purchases(state)
        context = Context(self.context)
        context["customer"] = customer
        self._mechanics_contexts[key] = context
        return context

    # -- rewards of the stateful mechanics -----------------------------------------------------
    def give(self, reward: Reward, rule: str) -> list[str]:
        """Give a `Reward` (points, a badge, a coupon, draw entries) on behalf of `rule`.

        Points become a lot like any award (no basket lines: no line earned them); a badge
        already held is not given twice, and comes with its own `reward` (given on behalf of the
        badge: `badge:<id>`); a coupon gets a code from `coupon_code`. Returns what was given, in
        words, for the trace.
        """
        event = self.event
        given: list[str] = []
        if reward.points:
            pending = self.program.points.pending
            self.effects_points.append(
                PointsAward(
                    rule=rule,
                    points=reward.points,
                    lines=[],
                    available_at=event.time + pending if pending else None,
                )
            )
            given.append(f"{reward.points} points")
        held = set(self.state.badges) | {b.badge for b in self.badges}
        if reward.badge is not None and reward.badge not in held:
            self.badges.append(BadgeAwarded(rule=rule, badge=reward.badge))
            given.append(f"badge {reward.badge}")
            extra = self.plan.badge_rewards.get(reward.badge)
            by_badge = f"badge:{reward.badge}"
            if extra is not None and rule != by_badge:  # an automatic badge gives its own extra
                given += self.give(extra, by_badge)
        if reward.coupon is not None:
            definition = self.plan.coupons[reward.coupon]
            code = coupon_code(
                self.program.program, event.customer, f"{event.id}/{rule}", definition.id, self.engine.secret
            )
            self.coupons_issued.append(
                CouponIssued(
                    rule=rule, coupon=definition.id, code=code, expires_at=event.time + definition.valid_for
                )
            )
            given.append(f"coupon {definition.id} ({code})")
        if reward.entries is not None:
            self.draw_entries.append(
                DrawEntry(rule=rule, draw=reward.entries.draw, count=reward.entries.count)
            )
            given.append(f"{reward.entries.count} entries in {reward.entries.draw}")
        return given

    # -- redemptions ---------------------------------------------------------------------------
    def redeem(self, event: Redeem) -> None:
        """Spend points on a catalog item: burn the oldest available lots, give the item's reward.

        Not enough available points refuses the event (RE430) and changes nothing.
        """
        catalog = {item.id: item for item in self.program.catalog}
        item = catalog.get(event.item)
        if item is None:
            close = difflib.get_close_matches(event.item, list(catalog), n=1)
            hint = (
                f"did you mean `{close[0]}`?"
                if close
                else f"the catalog has: {', '.join(catalog) or 'nothing'}"
            )
            raise EventError(
                [Diagnostic("RE431", f"item: no catalog item `{event.item}`", hint=hint, path=("item",))]
            )
        rule = f"catalog:{item.id}"
        version = self.program.version
        self.state, burned = lifecycle.burn(
            self.state, item.cost, event.time, event=event.id, rule=rule, version=version
        )
        self.points_changes += [
            PointsChange(kind="burn", lot=c.lot, points=c.points, at=c.at) for c in burned
        ]
        gives = [f"spent {item.cost} points"]
        reward = item.reward
        if reward is not None and reward.badge is not None:
            gives += self.give(Reward(badge=reward.badge), rule)
        if reward is not None and reward.coupon is not None:
            definition = self.plan.coupons[reward.coupon]
            code = coupon_code(
                self.program.program, event.customer, event.id, definition.id, self.engine.secret
            )
            self.coupons_issued.append(
                CouponIssued(
                    rule=rule, coupon=definition.id, code=code, expires_at=event.time + definition.valid_for
                )
            )
            gives.append(f"coupon {definition.id} ({code})")
        if reward is not None and reward.entries is not None:
            self.draw_entries.append(
                DrawEntry(rule=rule, draw=reward.entries.draw, count=reward.entries.count)
            )
            gives.append(f"{reward.entries.count} entries in {reward.entries.draw}")
        self.trace.append(
            rule_trace(rule, "catalog", True, "fired", ", ".join(gives), amount=item.cost, unit="points")
        )

    # -- returns -------------------------------------------------------------------------------
    def take_back(self, event: Return) -> None:
        """Reverse exactly what the returned lines earned, from the original awards.

        Never today's rules, never pro-rata of the basket: each award of the purchase remembers
        what each line earned (`Lot.lines`); a line returned in part gives back its share,
        rounded so that returning everything gives back exactly everything. The points come out
        of the award's own lot first; what was already spent comes out of the customer's other
        lots, pending ones first, then available ones oldest first; what is still missing follows
        `points.negative_balance`: `allow` keeps a negative lot (a debt the next awards do not
        offset automatically), `write_off` forgives it (traced).
        """
        purchase = event.purchase
        lots = [lot for lot in self.state.lots if lot.event == purchase]
        bought_at = min((lot.earned_at for lot in lots), default=None)
        if bought_at is not None and event.time < bought_at:
            raise EventError(
                [
                    Diagnostic(
                        "RE436",
                        f"time: the return ({event.time.isoformat()}) is dated before its purchase "
                        f"{purchase} ({bought_at.isoformat()})",
                        hint="check the return's time and the purchase it names",
                        path=("time",),
                    )
                ]
            )
        earned = [lot for lot in lots if lot.lines]
        bought, complete = self._bought_lines(purchase, earned)
        if not bought and not complete and not lots and not self._made(purchase):
            raise EventError([self._not_their_purchase(event)])
        if self._return_window_closed(event, lots):
            return
        before = dict(self.state.returned.get(purchase, {}))
        now = dict(before)
        for index, returned in enumerate(event.items):
            left = returned.qty
            for line, (sku, qty) in sorted(bought.items()):
                if sku != returned.sku or left <= 0:
                    continue
                room = qty - now.get(str(line), ZERO)
                taken = min(room, left)
                if taken > 0:
                    now[str(line)] = now.get(str(line), ZERO) + taken
                    left -= taken
            in_purchase = any(sku == returned.sku for sku, _ in bought.values())
            if left > 0 and (in_purchase or complete):
                problem = (
                    "more returned than bought, or returned already"
                    if in_purchase
                    else f"not in purchase {purchase}"
                )
                raise EventError(
                    [
                        Diagnostic(
                            "RE433",
                            f"items[{index}]: {returned.sku}: {problem}",
                            hint="check the quantities against the purchase and earlier returns"
                            if in_purchase
                            else f"check the sku against the lines of {purchase}",
                            path=("items", index),
                        )
                    ]
                )
        rounding = self.program.points.rounding
        reverse: dict[str, dict[int, Decimal]] = {}  # lot → line → points the line gives back
        for lot in earned:
            for part in lot.lines:
                old, new = before.get(str(part.line), ZERO), now.get(str(part.line), ZERO)
                if new > old and part.qty > 0:
                    owed = round_points(part.points * new / part.qty, rounding) - round_points(
                        part.points * old / part.qty, rounding
                    )
                    if owed > 0:
                        lines = reverse.setdefault(lot.id, {})
                        lines[part.line] = lines.get(part.line, ZERO) + owed
        total = sum((sum(lines.values(), ZERO) for lines in reverse.values()), ZERO)
        rule = f"return:{purchase}"
        if total == 0:
            reason = (
                "the returned lines earned no points"
                if lots
                else f"purchase {purchase} has no points in the customer's state (it earned none, or "
                "the engine never saw it): nothing to take back"
            )
            self.trace.append(rule_trace(rule, "return", False, "nothing_eligible", reason))
            self.state = replaced(self.state, {"returned": {**self.state.returned, purchase: now}})
            self._take_back_progress(event, before, now, ZERO)
            return
        self._reverse(event, reverse, rule)
        self.state = replaced(self.state, {"returned": {**self.state.returned, purchase: now}})
        self._take_back_progress(event, before, now, total)

    def _bought_lines(self, purchase: str, earned: list[Lot]) -> tuple[dict[int, tuple[str, Decimal]], bool]:
        """The lines of `purchase` (line → sku, quantity) and whether they are all of them.

        From the purchase lines the state keeps, which include lines that earned nothing (a gift
        card); a state written before they carried their purchase's id has only the lines of its
        lots, which cannot tell "not bought" from "earned nothing" (then not complete)."""
        lines = [past for past in self.state.purchases if past.event == purchase]
        if lines:
            return {line: (past.sku, past.qty) for line, past in enumerate(lines)}, True
        bought: dict[int, tuple[str, Decimal]] = {}
        for lot in earned:
            for part in lot.lines:
                bought.setdefault(part.line, (part.sku, part.qty))
        return bought, False

    def _made(self, purchase: str) -> bool:
        """Whether anything in the state says this customer made `purchase` (for a state whose
        purchase lines do not carry their purchase's id: it is not refused on their account)."""
        state = self.state
        return (
            purchase in state.returned
            or any(activity.event == purchase for activity in state.activity)
            or any(past.event is None for past in state.purchases)
            or any(purchase in progress.counted for progress in state.challenges.values())
        )

    def _not_their_purchase(self, event: Return) -> Diagnostic:
        older = self.state.older_purchases
        if older is not None:  # the state no longer holds the oldest purchases: it may be one of them
            return Diagnostic(
                "RE437",
                f"purchase: return {event.id} names purchase {event.purchase}, which customer "
                f"{event.customer} never made, or made on or before {older.until.isoformat()}: "
                "older than any purchase the customer's state still holds",
                hint="a return is taken within the program's return window (or while the purchase's "
                "points last); check the return's customer and purchase id",
                path=("purchase",),
            )
        return Diagnostic(
            "RE437",
            f"purchase: return {event.id} names purchase {event.purchase}, which customer "
            f"{event.customer} never made",
            hint="check the return's customer and purchase id: a return is sent for the customer who bought",
            path=("purchase",),
        )

    def _take_back_progress(
        self, event: Return, before: dict[str, Decimal], now: dict[str, Decimal], points: Decimal
    ) -> None:
        """The tier metrics the returned lines gave: counted back in the purchase's own window.

        The tier itself is not lowered at once: like any fall of the metric, it counts at the
        next review (docs/engine.md, Tiers)."""
        original = next((a for a in self.state.activity if a.event == event.purchase), None)
        if original is None or not original.paid:
            return
        spend = ZERO
        for key, returned in now.items():
            line = int(key)
            if line < len(original.paid) and original.qty[line] > 0:
                spend += original.paid[line] * (returned - before.get(key, ZERO)) / original.qty[line]
        back = Activity(
            event=event.id,
            at=original.at,
            spend=-round_money(spend, self.engine.quantum),
            points=-points,
            visits=0,
        )
        self.state = replaced(self.state, running.add(self.state, back))

    def _return_window_closed(self, event: Return, lots: list[Lot]) -> bool:
        """Whether the program's return window of the purchase has closed (traced if so). A
        purchase the state no longer knows the time of is not judged here: nothing of it is left."""
        window = self.program.returns
        if window is None:
            return False
        bought = min((lot.earned_at for lot in lots), default=None)
        if bought is None:
            bought = next((a.at for a in self.state.activity if a.event == event.purchase), None)
        if bought is None or event.time < bought + window.within:
            return False
        closed = (bought + window.within).astimezone(self.engine.zone)
        self.return_closed = True
        self.trace.append(
            rule_trace(
                f"return:{event.purchase}",
                "return",
                False,
                "outside_schedule",
                f"returns are taken within {format_duration(window.within)} of the purchase: the window "
                f"closed {closed.strftime('%Y-%m-%d %H:%M')}; nothing is taken back",
            )
        )
        return True

    def _reverse(self, event: Return, reverse: dict[str, dict[int, Decimal]], rule: str) -> None:
        moment = event.time
        version = self.program.version
        lots = {lot.id: lot for lot in self.state.lots}
        ledger = list(self.state.ledger)
        changes: list[PointsChange] = []

        def take(lot_id: str, points: Decimal, lines: list[LedgerLine] | None = None) -> None:
            lots[lot_id] = lots[lot_id].model_copy(update={"points": lots[lot_id].points - points})
            ledger.append(
                LedgerEntry(
                    event=event.id,
                    rule=rule,
                    kind="reverse",
                    points=-points,
                    lot=lot_id,
                    at=moment,
                    version=version,
                    lines=lines or [],
                )
            )

        missing = ZERO
        for lot_id, lines in reverse.items():
            owed = sum(lines.values(), ZERO)
            own = min(owed, max(ZERO, lots[lot_id].points))
            taken = own
            parts: list[LedgerLine] = []  # what is left in the lot, line by line: one entry
            for line, points in sorted(lines.items()):
                part = min(points, taken)
                if part > 0:
                    parts.append(LedgerLine(line=line, points=-part))
                taken -= part
            if own > 0:
                take(lot_id, own, parts)
            if own > 0:
                changes.append(PointsChange(kind="reverse", lot=lot_id, points=own, at=moment))
            missing += owed - own
        # Every other lot of the customer's, pending first — the returned purchase's own bonus lots
        # (a challenge's, a badge's: no basket lines) included; not the awards being reversed.
        others = sorted(
            (lot for lot in lots.values() if lot.points > 0 and lot.id not in reverse),
            key=lambda lot: (lot.available_at <= moment, lot.earned_at, lot.id),
        )  # pending first
        for lot in others:
            if missing <= 0:
                break
            part = min(missing, lots[lot.id].points)
            take(lot.id, part)
            changes.append(PointsChange(kind="reverse", lot=lot.id, points=part, at=moment))
            missing -= part
        total = sum((sum(lines.values(), ZERO) for lines in reverse.values()), ZERO)
        reason = f"took back {total} points earned by the returned lines"
        if missing > 0 and self.program.points.negative_balance == "allow":
            debt = Lot(event=event.id, rule=rule, points=-missing, earned_at=moment, available_at=moment)
            lots[debt.id] = debt
            ledger.append(
                LedgerEntry(
                    event=event.id,
                    rule=rule,
                    kind="reverse",
                    points=-missing,
                    lot=debt.id,
                    at=moment,
                    version=version,
                )
            )
            changes.append(PointsChange(kind="reverse", lot=debt.id, points=missing, at=moment))
            reason += f"; {missing} already spent: the balance goes negative"
        elif missing > 0:
            reason += f"; {missing} already spent: written off"
        # Lots emptied by the return stay, at 0, for later partial returns of the same purchase.
        self.state = replaced(self.state, {"lots": list(lots.values()), "ledger": ledger})
        self.points_changes += changes
        self.trace.append(
            rule_trace(
                rule,
                "return",
                True,
                "fired",
                reason,
                amount=total - (missing if self.program.points.negative_balance == "write_off" else ZERO),
                unit="points",
            )
        )

    # -- stage 5: the outcome ------------------------------------------------------------------
    def outcome(self) -> Outcome:
        if isinstance(self.event, Redeem):
            self.redeem(self.event)
        if isinstance(self.event, Return):
            self.take_back(self.event)
            if not self.return_closed:
                gamification.take_back(self, self.event)  # the challenge progress the lines gave
        self.discounts()
        base = self.earning_base()
        self.earn(base)
        idle = self.plan.idle
        for mechanic in MECHANICS:
            if mechanic not in idle:
                mechanic(self)
        event = self.event
        points = sum((award.points for award in self.effects_points), ZERO)
        discount = sum((d.amount for d in self.effects_discounts), ZERO)
        shipping = ZERO
        if isinstance(event, Purchase):
            shipping = ZERO if self.free_shipping is not None else event.shipping
        basket = sum(self.amounts, ZERO)
        totals = trusted(
            Totals,
            {
                "basket": basket,
                "discount": discount,
                "shipping": shipping,
                "to_pay": basket - discount + shipping,
                "earning_base": sum(base, ZERO) + self.shipping_base(),
                "points": points,
            },
            {"basket", "discount", "shipping", "to_pay", "earning_base", "points"},
        )
        effects = trusted(
            Effects,
            {
                "points": self.effects_points,
                "discounts": self.effects_discounts,
                "free_shipping": self.free_shipping,
                "coupons_issued": self.coupons_issued,
                "coupons_redeemed": self.redeemed,
                "badges": self.badges,
                "tier_changes": self.tier_changes,
                "notifications": self.notifications,
                "draw_entries": self.draw_entries,
                "points_changes": self.points_changes,
            },
            {
                "points",
                "discounts",
                "free_shipping",
                "coupons_redeemed",
                "coupons_issued",
                "draw_entries",
                "points_changes",
                "badges",
                "tier_changes",
                "notifications",
            },
        )
        return trusted(
            Outcome,
            {
                "program": self.program.program,
                "version": self.program.version,
                "event": event.id,
                "customer": event.customer,
                "effects": effects,
                "totals": totals,
                "state": self.new_state(),
                "trace": self.trace,
                "tier_progress": self.tier_progress,
            },
            {
                "program",
                "version",
                "event",
                "customer",
                "effects",
                "totals",
                "state",
                "trace",
                "tier_progress",
            },
        )

    def _entries(self) -> dict[str, int]:
        """Draw entries after this event; entries for a draw after its closing day do not count."""
        entries = dict(self.state.entries)
        closes = {draw.id: draw.closes for draw in self.program.draws}
        for entry in self.draw_entries:
            if entry.draw in closes and self.local.date() <= closes[entry.draw]:
                entries[entry.draw] = entries.get(entry.draw, 0) + entry.count
        return entries

    def new_state(self) -> CustomerState:
        event = self.event
        program = self.program.points
        time = event.time
        window = self.program.returns
        lots = list(
            self.state.lots
            if window is None
            else lifecycle.past_return_window(self.state.lots, time, window.within)
        )
        available_at = time + program.pending if program.pending else time
        expires_at = time + program.expire_after if program.expire_after else None
        quantities = self.quantities
        made = self.lot_lines
        for award in self.effects_points:
            lines = made.get(id(award))
            if lines is None:
                lines = [
                    lot_line(share.line, share.sku, quantities[share.line], share.amount)
                    for share in award.lines
                ]
            lifecycle.with_lot(
                lots, points_lot(event.id, award.rule, award.points, time, available_at, expires_at, lines)
            )
        pending = list(self.state.pending_lots or ())
        if available_at > time:
            pending += [f"{event.id}/{award.rule}" for award in self.effects_points]
        ledger = list(self.state.ledger)
        version = self.program.version
        rule_hashes = self.engine.rule_hashes
        for award in self.effects_points:  # one entry per award, with what each line earned
            lot, rule_hash = f"{event.id}/{award.rule}", rule_hashes.get(award.rule)
            parts = ledger_lines(award.lines)
            entry = earn_entry(event.id, award.rule, award.points, lot, time, version, rule_hash, parts)
            ledger.append(entry)
        coupons = [
            c.model_copy(update={"used_in": event.id}) if c.code in self.redeemed else c
            for c in self.state.coupons
        ]
        coupons += [
            IssuedCoupon(code=c.code, coupon=c.coupon, issued_at=time, expires_at=c.expires_at)
            for c in self.coupons_issued
        ]
        bought: list[PastLine] = []
        visits = self.state.visits
        if isinstance(event, Purchase):
            visits += 1
            day = self.local.date()
            bought = [
                past_line(line.sku, line.category, line.price, line.qty, day, event.id)
                for line in event.items
            ]
        purchases, older = history.kept(
            self.state.purchases,
            bought,
            self.state.older_purchases,
            self.local.date(),
            self.plan.purchases_kept,
        )
        return replaced(
            self.state,
            {
                "customer": event.customer,
                "lots": lots,
                "pending_lots": pending,
                "counters": self.counters,
                "coupons": coupons,
                "purchases": purchases,
                "older_purchases": older,
                "visits": visits,
                "entries": self._entries(),
                "processed": _kept(self.state.processed, event.id),
                "ledger": lifecycle.closed_entries_left_out(ledger, lots, event.id),
                "badges": [
                    *self.state.badges,
                    *(b.badge for b in self.badges if b.badge not in self.state.badges),
                ],
                "last_event_at": _later(self.state.last_event_at, time),
            },
        )


# The stateful mechanics, each called as `mechanic(run)` in this order after the earn rules;
# tiers last, so the points the other mechanics give count towards a points-based tier.
MECHANICS: list[Any] = [
    gamification.badges,
    gamification.challenges,
    gamification.quests,
    gamification.streaks,
    social.referral,
    social.offers,
    social.notifications,
    tiers.record_activity,
    tiers.apply,
]


def _rule_hashes(program: Program) -> dict[str, str]:
    """rule id as awards name it → the first 16 hex digits of the SHA-256 of the rule's definition."""

    def digest(model: Any) -> str:
        return hashlib.sha256(model.model_dump_json().encode()).hexdigest()[:16]

    hashes = {rule.id: digest(rule) for rule in program.earn}
    if program.tiers is not None:
        hashes |= {f"tier:{level.id}": digest(level) for level in program.tiers.levels}
    for section in ("challenges", "quests", "badges", "streaks", "offers", "catalog"):
        prefix = section.rstrip("s") if section != "catalog" else "catalog"
        hashes |= {f"{prefix}:{item.id}": digest(item) for item in getattr(program, section)}
    if program.referral is not None:
        hashes |= {
            "referral:referee": digest(program.referral),
            "referral:referrer": digest(program.referral),
        }
    return hashes


# `customer.purchases` holds a record per past line with exactly a `PastLine`'s fields, in order.
_PAST_LINE_RECORD = tuple(PastLine.model_fields) == ("sku", "category", "price", "qty", "date", "event")


def purchase_records(purchases: list[PastLine]) -> tuple[dict[str, Any], ...]:
    """The records of `customer.purchases`: each past line's own field dict when it has exactly the
    record's keys (the context is only read, never written, by expressions), else a new dict."""
    if _PAST_LINE_RECORD:
        return tuple(p.__dict__ for p in purchases)
    return tuple(
        {
            "sku": p.sku,
            "category": p.category,
            "price": p.price,
            "qty": p.qty,
            "date": p.date,
            "event": p.event,
        }
        for p in purchases
    )


def _attributes_sent(event: AnyEvent, state: CustomerState) -> bool:
    """Whether the event or the customer's profile carries custom attributes (to be checked)."""
    if event.attributes or state.profile.attributes:
        return True
    return isinstance(event, Purchase) and (
        bool(event.basket_attributes) or any(line.attributes for line in event.items)
    )


def _not_exact(event: str) -> Diagnostic:
    return Diagnostic(
        "RE416",
        f"event {event}: an amount cannot be computed exactly (a result of more than 28 digits)",
        hint="an event's amounts are bounded (15 digits, quantities 9), so look for a very large "
        "number in the program: a rate, an award or a multiplier expression",
    )


def _kept(processed: list[str], event: str) -> list[str]:
    """`[*processed, event][-PROCESSED_KEPT:]`, copying the ids once rather than twice."""
    return [*processed[max(0, len(processed) - (PROCESSED_KEPT - 1)) :], event]


def _where(path: str, index: int | None) -> str:
    return path if index is None else path.format(index)


def _later(a: dt.datetime | None, b: dt.datetime) -> dt.datetime:
    return b if a is None or b > a else a


def coupon_code(program: str, customer: str, event: str, coupon: str, secret: bytes) -> str:
    """A coupon code: unguessable without the deployment's secret, the same for the same
    program, customer, event and coupon (so replaying an event issues the same code)."""
    letters = keyed_code(secret, (program, customer, event, coupon), 10)
    prefix = "".join(ch for ch in coupon.upper() if ch.isalnum())[:6] or "CPN"
    return f"{prefix}-{letters}"


def display_money(amount: Decimal) -> str:
    return values.display(amount)


def local_date(moment: dt.datetime, program: Program) -> dt.date:
    return moment.astimezone(program.zone).date()
