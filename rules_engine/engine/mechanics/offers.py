"""Personalized offers: a coupon issued to the customers it is meant for, within its limit.

Traced with kind "offer", rule `offer:<id>`; the issued times are kept in `state.offers`.
"""

from __future__ import annotations

from typing import Any

from rules_engine.dsl.context import Context
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import holds, line_holds, mechanics_context
from rules_engine.engine.mechanics.notifications import notify
from rules_engine.engine.mechanics.shared import SOCIAL as SECTIONS
from rules_engine.engine.mechanics.shared import limit_words, local_words, recent
from rules_engine.engine.rewards import give
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import replaced, rule_trace
from rules_engine.program.model import Limit, Offer, Program, Reward


def idle(program: Program) -> bool:
    """Whether the mechanic can do nothing for `program`, whatever the event (it is not called)."""
    return not program.offers


_ONCE = Limit(count=1)


def apply(run: Run) -> None:
    """Issue every offer's coupon to a customer it is meant for, within its limit.

    An offer is considered after an event whose type is in `on`, inside `active`; it is issued
    when `when` holds and the customer received it fewer than `limit` times (default: once ever).
    With `skip_bought`, it is not issued when the coupon's `applies_to` matches a line the
    customer already bought (an earlier purchase or this one). `notify` sends a notification.
    """
    program = run.program
    if not program.offers:
        return
    context = mechanics_context(run, SECTIONS)
    expression = run.plan.compiled.expression
    issued = dict(run.state.offers)
    for index, offer in enumerate(program.offers):
        rule = f"offer:{offer.id}"
        limit = offer.limit or _ONCE
        before = issued.get(offer.id, [])
        lately = recent(limit, before, run.event.time)
        capped = None
        if len(lately) >= limit.count:
            capped = (
                "capped",
                f"already issued {len(lately)} time{'' if len(lately) == 1 else 's'} "
                f"(last {local_words(run, lately[-1])}); limit {limit_words(limit)}",
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
        gives = give(run, Reward(coupon=offer.coupon), rule)
        issued[offer.id] = [*before, run.event.time]
        run.state = replaced(run.state, {"offers": issued})
        run.trace.append(rule_trace(rule, "offer", True, "fired", f"issued: {', '.join(gives)}"))
        if offer.notify is not None:
            notify(run, rule, offer.notify.channel, offer.notify.template)


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
