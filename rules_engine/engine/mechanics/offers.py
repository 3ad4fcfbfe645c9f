"""Personalized offers: a coupon issued to the customers it is meant for, within its limit.

Traced with kind "offer", rule `offer:<id>`; the issued times are kept in `state.offers`. With
`next_best_offer`, of the offers eligible for one event only the best are issued (by priority or
by a declared expected value), at most `at_most` per customer and period over all offers, and
the trace says why each other one lost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rules_engine.dsl.context import Context
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import holds, line_holds, mechanics_context
from rules_engine.engine.mechanics.notifications import notify
from rules_engine.engine.mechanics.shared import SOCIAL as SECTIONS
from rules_engine.engine.mechanics.shared import ZERO, busiest, limit_words, local_words, recent
from rules_engine.engine.outcome import RuleTrace
from rules_engine.engine.rewards import give
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import replaced, rule_trace
from rules_engine.program.model import Limit, NextBestOffer, Offer, Program, Reward


def idle(program: Program) -> bool:
    """Whether the mechanic can do nothing for `program`, whatever the event (it is not called)."""
    return not program.offers


_ONCE = Limit(count=1)


def apply(run: Run) -> None:
    """Issue every offer's coupon to a customer it is meant for, within its limit.

    An offer is eligible after an event whose type is in `on`, inside `active`, when `when` holds
    and the customer received it fewer than `limit` times (default: once ever). With
    `skip_bought`, it is not when the coupon's `applies_to` matches a line the customer already
    bought (an earlier purchase or this one). Without `next_best_offer`, every eligible offer is
    issued; with it, only the best (`_choose`). `notify` sends a notification.
    """
    program = run.program
    if not program.offers:
        return
    context = mechanics_context(run, SECTIONS)
    expression = run.plan.compiled.expression
    eligible: list[tuple[int, Offer]] = []
    for index, offer in enumerate(program.offers):
        rule = f"offer:{offer.id}"
        limit = offer.limit or _ONCE
        times = run.state.offers.get(offer.id, [])
        capped = None
        issued = busiest(limit, times, run.event.time)  # a late event's period holds later times too
        if issued >= limit.count:
            last = recent(limit, times, run.event.time)[-1:] or [t for t in times if t > run.event.time][:1]
            capped = (
                "capped",
                f"already issued {issued} time{'' if issued == 1 else 's'} "
                f"(last {local_words(run, last[-1])}); limit {limit_words(limit)}",
            )
        if not admitted(
            run,
            rule,
            "offer",
            on=offer.on,
            active=offer.active,
            refused_late=capped,
            when=expression("offers", index, "when"),
            context=context,
        ):
            continue
        bought = _bought(run, offer, context) if offer.skip_bought else None
        if bought is not None:
            run.trace.append(
                rule_trace(
                    rule,
                    "offer",
                    False,
                    "nothing_eligible",
                    f"already bought {bought}, which coupon {offer.coupon} applies to",
                )
            )
            continue
        eligible.append((index, offer))
    choice = program.next_best_offer
    chosen, lost = (eligible, []) if choice is None else _choose(run, choice, eligible, context)
    for _, offer in chosen:
        _issue(run, offer)
    run.trace += lost


def _issue(run: Run, offer: Offer) -> None:
    rule = f"offer:{offer.id}"
    gives = give(run, Reward(coupon=offer.coupon), rule)
    issued = dict(run.state.offers)
    issued[offer.id] = [*issued.get(offer.id, []), run.event.time]
    run.state = replaced(run.state, {"offers": issued})
    run.trace.append(rule_trace(rule, "offer", True, "fired", f"issued: {', '.join(gives)}"))
    if offer.notify is not None:
        notify(run, rule, offer.notify.channel, offer.notify.template)


def _choose(
    run: Run, choice: NextBestOffer, eligible: list[tuple[int, Offer]], context: Context
) -> tuple[list[tuple[int, Offer]], list[RuleTrace]]:
    """The next best offers: the eligible ones ranked by priority or expected value (ties: the
    higher priority, then the earlier in the file), as many as `at_most` still allows; and for
    each other one a trace of why it lost (`shadowed` by a better one, or `capped`)."""
    if not eligible:
        return [], []
    values: dict[int, Decimal | None] = {}
    if choice.by == "expected_value":
        for index, offer in eligible:
            values[index] = _expected(run, index, offer, context)

    def rank(entry: tuple[int, Offer]) -> tuple[int, Decimal, int, int]:
        index, offer = entry
        value = values.get(index)
        return (value is None, -(value or ZERO), -offer.priority, index)

    ranked = sorted(eligible, key=rank)
    limit = choice.at_most
    times = [moment for issued in run.state.offers.values() for moment in issued]
    issued = busiest(limit, times, run.event.time)  # a late event's period holds later times too
    room = max(0, limit.count - issued)
    chosen, traces = ranked[:room], []
    for index, offer in ranked[room:]:
        rule = f"offer:{offer.id}"
        if not chosen:
            last = recent(limit, times, run.event.time) or [t for t in times if t > run.event.time]
            reason = (
                f"{issued} offer{'' if issued == 1 else 's'} issued already (last "
                f"{local_words(run, max(last))}); next best offer: at most {limit_words(limit)}"
            )
            traces.append(rule_trace(rule, "offer", False, "capped", reason))
            continue
        best_index, best = chosen[-1]
        if choice.by == "expected_value":
            why = f"expected value {_words(values[index])} against {_words(values[best_index])}"
        else:
            why = f"priority {offer.priority} against {best.priority}"
        reason = f"`{best.id}` is the better offer ({why}); at most {limit_words(limit)}"
        traces.append(rule_trace(rule, "offer", False, "shadowed", reason))
    return chosen, traces


def _expected(run: Run, index: int, offer: Offer, context: Context) -> Decimal | None:
    """The offer's expected value for this customer and event; None when it has none (null)."""
    compiled = run.plan.compiled.expression("offers", index, "expected_value")
    if compiled is None:
        return None if offer.expected_value is None else Decimal(offer.expected_value)
    value = compiled.evaluate(context)
    return None if value is None else Decimal(value)


def _words(value: Decimal | None) -> str:
    return "none" if value is None else format(value.normalize(), "f")


def _bought(run: Run, offer: Offer, context: Context) -> str | None:
    """The sku of the first line bought (before, or in this purchase) that the offer's coupon
    applies to; None if none (or the coupon applies to the whole basket)."""
    index = run.plan.coupon_index.get(offer.coupon)
    if index is None:
        return None
    applies = run.plan.compiled.expression("coupons", index, "applies_to")
    if applies is None:
        return None
    item_names = run.plan.custom_names["item"]
    for past in run.state.purchases:
        record: dict[str, Any] = {
            "sku": past.sku,
            "name": None,
            "category": past.category,
            "price": past.price,
            "qty": past.qty,
        }
        for name in item_names:
            record[name] = None
        if holds(applies, Context(context, item=record)):
            return past.sku
    for line in range(len(run.items)):
        if line_holds(run, applies, line):
            return run.items[line].sku
    return None
