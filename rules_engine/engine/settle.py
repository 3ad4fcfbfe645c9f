"""Settle: the outcome of one event and the customer's new state.

After every stage and mechanic, the run's totals and effects become the `Result` (result.py: the
pydantic `Outcome` is built from it only when a caller asks), and the state so far becomes the new
state: the awards' lots (and their ledger entries, the result's), the cap counters, the coupons
used and issued, the purchase history, the draw entries, the processed ids, the clock.

Input: a `Run` at its end. Output: the `Result` (with `state`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from rules_engine.engine import history, lifecycle, processed
from rules_engine.engine.earning import shipping_base
from rules_engine.engine.events import Purchase
from rules_engine.engine.outcome import Totals
from rules_engine.engine.result import Result, RuleTraces
from rules_engine.engine.run import ZERO, Run, change_state
from rules_engine.engine.trusted import awards_records, earn_entry, past_lines, points_lot, trusted
from rules_engine.state.customer import CustomerState, IssuedCoupon, Lot, PastLine
from rules_engine.state.shared import appended

PROCESSED_KEPT = 1000  # event ids remembered per customer for duplicate deliveries


def outcome(run: Run) -> Result:
    """The result of the run: its totals, its effects, its trace and the new state."""
    event = run.event
    points = sum((award.points for award in run.effects_points), ZERO)
    discount = sum((d.amount for d in run.effects_discounts), ZERO)
    shipping = ZERO
    if isinstance(event, Purchase):
        shipping = ZERO if run.free_shipping is not None else event.shipping
    basket = sum(run.amounts, ZERO)
    totals = trusted(
        Totals,
        {
            "basket": basket,
            "discount": discount,
            "shipping": shipping,
            "to_pay": basket - discount + shipping,
            "earning_base": sum(run.base, ZERO) + shipping_base(run),
            "points": points,
        },
        _TOTALS_GIVEN,
    )
    state = new_state(run)  # books the awards' earn entries in `run.ledger`
    return Result(
        program=run.program.program,
        version=run.program.version,
        event=event.id,
        customer=event.customer,
        awards=tuple(run.effects_points),
        discounts=tuple(run.effects_discounts),
        totals=totals,
        state=state,
        ledger=tuple(run.ledger),
        trace=RuleTraces(run.trace),
        tier_progress=run.tier_progress,
        free_shipping=run.free_shipping,
        coupons_issued=tuple(run.coupons_issued),
        coupons_redeemed=tuple(run.redeemed),
        badges=tuple(run.badges),
        tier_changes=tuple(run.tier_changes),
        notifications=tuple(run.notifications),
        draw_entries=tuple(run.draw_entries),
        points_changes=tuple(run.points_changes),
        budgets_released=tuple(run.budgets_released),
        referral_owed=run.referral_owed,
    )


_TOTALS_GIVEN = {"basket", "discount", "shipping", "to_pay", "earning_base", "points"}


def _entries(run: Run) -> dict[str, int]:
    """Draw entries after this event; entries for a draw after its closing day do not count."""
    if not run.draw_entries:
        return run.state.entries  # unchanged: shared, as every field the update leaves alone
    entries = dict(run.state.entries)
    closes = {draw.id: draw.closes for draw in run.program.draws}
    for entry in run.draw_entries:
        if entry.draw in closes and run.local.date() <= closes[entry.draw]:
            entries[entry.draw] = entries.get(entry.draw, 0) + entry.count
    return entries


def new_state(run: Run) -> CustomerState:
    event = run.event
    program = run.program.points
    time = event.time
    window = run.program.returns
    lots: Sequence[Lot] = run.state.lots
    if window is not None:
        lots = lifecycle.past_return_window(lots, time, window.within)
    available_at = time + program.pending if program.pending else time
    expires_at = time + program.expire_after if program.expire_after else None
    quantities = run.quantities
    pending = list(run.state.pending_lots or ())
    ledger = run.ledger
    version = run.program.version
    rule_hashes = run.plan.rule_hashes
    awards = run.effects_points
    if awards:  # a lot and one ledger entry per award, with its lines' parts (each line found once)
        records = awards_records([award.lines for award in awards], quantities)
        made = []
        waits = available_at > time
        for award, (lot_lines, parts) in zip(awards, records, strict=True):
            rule = award.rule
            made.append(points_lot(event.id, rule, award.points, time, available_at, expires_at, lot_lines))
            lot = f"{event.id}/{rule}"
            if waits:
                pending.append(lot)
            ledger.append(
                earn_entry(event.id, rule, award.points, lot, time, version, rule_hashes.get(rule), parts)
            )
        lots = lifecycle.with_lots(lots, made)  # at the end: shared with the state before, not copied
    coupons = run.state.coupons  # unchanged (usually): shared, as every field the update leaves alone
    if run.redeemed or run.coupons_issued:
        coupons = [
            c.model_copy(update={"used_in": event.id}) if c.code in run.redeemed else c
            for c in run.state.coupons
        ]
        coupons += [
            IssuedCoupon(code=c.code, coupon=c.coupon, issued_at=time, expires_at=c.expires_at)
            for c in run.coupons_issued
        ]
    bought: list[PastLine] = []
    visits = run.state.visits
    if isinstance(event, Purchase):
        visits += 1
        day = run.local.date()
        bought = past_lines(event.items, day, event.id)
    purchases, older = history.kept(
        run.state.purchases,
        bought,
        run.state.older_purchases,
        run.local.date(),
        run.plan.purchases_kept,
    )
    change_state(  # the run's own state, if a stage made one, changed in place: the new state
        run,
        {
            "customer": event.customer,
            "lots": lots,
            "pending_lots": pending,
            "counters": run.counters,
            "coupons": coupons,
            "purchases": purchases,
            "older_purchases": older,
            "visits": visits,
            "entries": _entries(run),
            "processed": kept(run.state.processed, event.id),
            "badges": [
                *run.state.badges,
                *(b.badge for b in run.badges if b.badge not in run.state.badges),
            ]
            if run.badges
            else run.state.badges,  # unchanged: shared, as every field the update leaves alone
            "last_event_at": later(run.state.last_event_at, time),
        },
    )
    return run.state


def kept(before: Sequence[str], event: str) -> Sequence[str]:
    """`[*before, event][-PROCESSED_KEPT:]`, sharing `before`'s storage (state/shared.py: the
    oldest id leaves the window, the event's is appended, nothing copied); the set of `before`'s
    ids the duplicate check kept goes with them (`processed.carried`)."""
    cut = max(0, len(before) - (PROCESSED_KEPT - 1))
    ids = appended(before, (event,), cut)
    processed.carried(before, ids, before[:cut], event)
    return ids


def later(a: dt.datetime | None, b: dt.datetime) -> dt.datetime:
    return b if a is None or b > a else a
