"""Points over time and spent: time passing before an event, and redemptions.

`time_passes` applies what time does up to a moment (pending points becoming available, expiry)
before an event is decided, and for `Engine.advance`; `redeem` spends points on a catalog item
and gives its reward (engine/lifecycle.py has the lots' rules).

Input: a state and a moment, or a `Run` of a redemption. Output: the new state and its changes.
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import operator
from collections.abc import Iterator
from decimal import Decimal

from rules_engine.engine import lifecycle, lot_memos, lot_points, ripening
from rules_engine.engine.events import Purchase, Redeem, Return
from rules_engine.engine.money import ONE, part_of, ratio_of, split
from rules_engine.engine.outcome import CouponIssued, DrawEntry, PointsChange
from rules_engine.engine.rewards import coupon_code, give
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import expiry_entries, points_changes, replaced, rule_trace
from rules_engine.errors import Diagnostic, EventError
from rules_engine.program.model import Program, Reward
from rules_engine.state.customer import CustomerState, LedgerEntry, Lot, Tendered, TenderedLine

ZERO = Decimal(0)


def time_passes(
    program: Program, state: CustomerState, moment: dt.datetime, cause: str
) -> tuple[CustomerState, list[PointsChange], list[LedgerEntry]]:
    """What time did to the points up to `moment` (pending lots becoming available, expiry), as
    the state after it, each change, and the ledger entries of expiry (`cause` names them)."""
    state, changes, gone = time_passed(program, state, moment)
    if not changes:
        return state, [], []
    return state, points_changes(changes), expiry_entries(cause, program.version, gone) if gone else []


class Changes:
    """What time did to the lots, as `Transition`s in the order `time_passes` reports them (by
    time, then kind, then lot), made when first iterated from the lots that ended their wait
    (`ripening.Ripe`) and those that expired (`lifecycle.Gone`). A long history's event expires
    lots and ends the wait of others; a caller that keeps only the state never reads their changes."""

    __slots__ = ("gone", "ripe")

    def __init__(self, ripe: ripening.Ripe, gone: lifecycle.Gone | None) -> None:
        self.ripe = ripe
        self.gone = gone

    def __len__(self) -> int:
        # the expired lots counted by their list's C `len()`, not `Gone.__len__` (a Python call)
        return len(self.ripe) + (len(self.gone.fields) if self.gone is not None else 0)

    def __iter__(self) -> Iterator[lifecycle.Transition]:
        return iter(self.ordered())

    def ordered(self) -> list[lifecycle.Transition]:
        """The changes, in time order."""
        changes = ripening.available(self.ripe)
        return _by_time(changes if self.gone is None else [*changes, *self.gone.transitions()])


def _by_time(changes: list[lifecycle.Transition]) -> list[lifecycle.Transition]:
    """`changes` sorted in place by (time, kind, lot), as `time_passes` reports them."""
    if len(changes) > 1:
        zone = changes[0].at.tzinfo
        if isinstance(zone, dt.timezone) and _one_zone(changes, zone):
            # one fixed offset (the engine's times: events.fixed_offset): the times compare as the
            # instants they are, without a conversion to UTC each; the key (at, kind, lot) read by
            # one C call per change
            changes.sort(key=_BY_TIME)
        else:
            changes.sort(key=lambda c: (lifecycle.instant(c.at), c.kind, c.lot))
    return changes


Passed = tuple[CustomerState, Changes | list[lifecycle.Transition], lifecycle.Gone | None]
"""What `time_passed` did: the state after it, its changes (in order when iterated) and the lots
that expired (None: none did)."""


def time_passed(program: Program, state: CustomerState, moment: dt.datetime) -> Passed:
    """`time_passes` without its models: the state after it, its changes (`Changes`: iterated as
    `Transition`s in the order `time_passes` reports them) and the lots that expired
    (`lifecycle.Gone`: iterated as their ledger entries need them). When lots expired,
    `Engine.process` makes the changes, the `PointsChange`s and the entries only when the result's
    are read (settle.outcome's `time_passed`): a long history expires lots at most events, a
    change and an entry each that a caller reading the state or the points never looks at."""
    if not state.tendered and ripening.quiet(state, moment):  # the usual event: known at a look
        return state, [], None
    state = lifecycle.in_order(state)
    ripe, pending = ripening.ripened(state, moment)
    if (
        not ripe
        and pending is state.pending_lots
        and not state.tendered
        and lifecycle.nothing_due(state, moment)
    ):  # nothing is due (no lot ends its wait or expires): the state as it is, nothing built
        return state, [], None
    lots, reminded = state.lots, state.reminded
    # the pending lots that changed, set in the copy of the state expiry makes, if it makes one
    changed = pending if pending is not state.pending_lots and pending != state.pending_lots else None
    state, gone = lifecycle.expired(state, moment, pending=changed)
    ripening.tail_after_expiry(pending, lots, state.lots)  # the pending lots' reading kept (ripening)
    lot_memos.carry_window(lots, state.lots, None)  # and the soonest return window's close
    lot_memos.carry_reminded(lots, reminded, state.lots, state.reminded)  # and the reminder's reach
    if gone is not None:  # and the lots' points, less those that expired (lot_points)
        lot_points.left_out(lots, state.lots, gone.points())  # in C
    if changed is not None and state.pending_lots is not changed:
        state = replaced(state, {"pending_lots": changed})
    if state.tendered:
        state = _tendered_kept(program, state, moment)
    if gone is None:
        return state, _by_time(ripening.available(ripe)), None
    return state, Changes(ripe, gone), gone


_BY_TIME = operator.itemgetter(3, 0, 1)  # a Transition's (at, kind, lot)


def _one_zone(changes: list[lifecycle.Transition], zone: dt.tzinfo) -> bool:
    """Whether every change's time has `zone`: each change's zone read and compared by identity in
    C (`map`s of an item getter, an attribute getter and `operator.is_`), no Python step a change
    (a long history expires a dozen lots at most events)."""
    return all(map(operator.is_, map(_TZINFO, map(_AT, changes)), itertools.repeat(zone)))


_AT = operator.itemgetter(3)  # a Transition's `at`
_TZINFO = operator.attrgetter("tzinfo")


def _tendered_kept(program: Program, state: CustomerState, moment: dt.datetime) -> CustomerState:
    """Forget what a purchase paid with points once no return can give it back: after the return
    window (`returns.within`) or, without one, after points live (`points.expire_after`) and a
    day, as the purchase lines are kept (docs/engine.md, "The bounded state")."""
    within = program.returns.within if program.returns is not None else None
    if within is None and program.points.expire_after is not None:
        within = program.points.expire_after + dt.timedelta(days=1)
    if within is None:
        return state
    kept = {key: record for key, record in state.tendered.items() if moment < record.at + within}
    return state if len(kept) == len(state.tendered) else replaced(state, {"tendered": kept})


def redeem(run: Run, event: Redeem) -> None:
    """Spend points on a catalog item: burn the oldest available lots, give the item's reward.

    Not enough available points refuses the event (RE430) and changes nothing.
    """
    catalog = {item.id: item for item in run.program.catalog}
    item = catalog.get(event.item)
    if item is None:
        close = difflib.get_close_matches(event.item, list(catalog), n=1)
        hint = (
            f"did you mean `{close[0]}`?" if close else f"the catalog has: {', '.join(catalog) or 'nothing'}"
        )
        raise EventError(
            [Diagnostic("RE431", f"item: no catalog item `{event.item}`", hint=hint, path=("item",))]
        )
    rule = f"catalog:{item.id}"
    if item.stock is not None and (taken := run.budgets.redeemed.get(item.id, 0)) >= item.stock:
        raise EventError([_out_of_stock(event, item.id, item.stock, taken)])
    version = run.program.version
    run.state, burned, entries = lifecycle.burn(
        run.state, item.cost, event.time, event=event.id, rule=rule, version=version
    )
    run.ledger += entries
    run.points_changes += [PointsChange(kind="burn", lot=c.lot, points=c.points, at=c.at) for c in burned]
    gives = [f"spent {item.cost} points"]
    reward = item.reward
    if reward is not None and reward.badge is not None:
        gives += give(run, Reward(badge=reward.badge), rule)
    if reward is not None and reward.coupon is not None:
        definition = run.plan.coupons[reward.coupon]
        code = coupon_code(run.program.program, event.customer, event.id, definition.id, run.secret)
        run.coupons_issued.append(
            CouponIssued(
                rule=rule, coupon=definition.id, code=code, expires_at=event.time + definition.valid_for
            )
        )
        gives.append(f"coupon {definition.id} ({code})")
    if reward is not None and reward.entries is not None:
        run.draw_entries.append(DrawEntry(rule=rule, draw=reward.entries.draw, count=reward.entries.count))
        gives.append(f"{reward.entries.count} entries in {reward.entries.draw}")
    run.trace.append(
        rule_trace(rule, "catalog", True, "fired", ", ".join(gives), amount=item.cost, unit="points")
    )


def _out_of_stock(event: Redeem, item: str, stock: int, taken: int) -> Diagnostic:
    """RE456: every one of the item's `stock` was redeemed."""
    return Diagnostic(
        "RE456",
        f"event {event.id}: catalog item `{item}` is out of stock: "
        f"{taken} of {stock} redeemed, none left; refused, nothing applied",
        hint="offer the customer another item; to restock, raise the item's `stock` in a new "
        "version of the program (it counts every redemption so far)",
        path=("item",),
    )


TENDER = "paid_with_points"


def tender(run: Run, event: Purchase) -> None:
    """Points as tender: burn what `paid_with_points` is worth at the program's `points.value`,
    oldest lots first, and remember it line by line for returns (`state.tendered`).

    Raises:
        EventError: RE438 when the amount is more than the purchase costs (after discounts, with
            shipping), is not a whole number of points, or the program values no point; RE439
            when the customer has fewer points available. Nothing is applied either way.
    """
    paid = event.paid_with_points
    program = run.program
    value = program.points.value
    to_pay = sum(run.remaining, ZERO) + (ZERO if run.free_shipping is not None else event.shipping)
    problem = None
    if value is None or value <= 0:
        problem = (
            f"paid_with_points: {paid} {program.currency} cannot be paid with points: "
            "the program sets no `points.value`"
        )
        hint = "set `points.value` (the money one point is worth), or send paid_with_points: 0"
    elif paid > to_pay:
        problem = f"paid_with_points: {paid} {program.currency} is more than the {to_pay} to pay"
        hint = "points can pay for at most what the purchase costs after discounts, with shipping"
    elif _points_for(paid, value) is None:
        problem = (
            f"paid_with_points: {paid} {program.currency} is not a whole number of points "
            f"at {value} {program.currency} a point ({paid / value:.4f})"
        )
        hint = f"send a multiple of {value}"
    if problem is not None:
        raise EventError([Diagnostic("RE438", problem, hint=hint, path=("paid_with_points",))])
    assert value is not None
    whole = _points_for(paid, value)
    assert whole is not None  # checked above
    needed = Decimal(whole)  # at exponent 0, as the points are
    available = run.state.available(event.time)
    if needed > available:
        pending = run.state.pending(event.time)
        raise EventError(
            [
                Diagnostic(
                    "RE439",
                    f"paid_with_points: {paid} {program.currency} is {needed} points, "
                    f"and the customer has {available} available",
                    hint=f"{pending} more become available later" if pending else "pay the rest otherwise",
                    path=("paid_with_points",),
                )
            ]
        )
    run.state, burned, entries = lifecycle.burn(
        run.state, needed, event.time, event=event.id, rule=TENDER, version=program.version
    )
    run.ledger += entries
    run.points_changes += [PointsChange(kind="burn", lot=c.lot, points=c.points, at=c.at) for c in burned]
    parts = split(needed, run.remaining, ONE) if run.remaining else []
    lines = [
        TenderedLine(line=index, qty=line.qty, points=part)
        for index, (line, part) in enumerate(zip(event.items, parts, strict=True))
    ]
    record = Tendered(at=event.time, points=needed, lines=lines)
    run.state = replaced(run.state, {"tendered": {**run.state.tendered, event.id: record}})
    run.trace.append(
        rule_trace(
            TENDER,
            "tender",
            True,
            "fired",
            f"{paid} {program.currency} paid with {needed} {program.points.name} "
            f"({value} {program.currency} a point)",
            amount=needed,
            unit="points",
        )
    )


def _points_for(paid: Decimal, value: Decimal) -> int | None:
    """The whole points `paid` is worth at `value` (> 0) a point, on integers; None if not whole."""
    pn, pd = ratio_of(paid)
    vn, vd = ratio_of(value)
    points, rest = divmod(pn * vd, pd * vn)
    return None if rest else points


def refund(run: Run, event: Return, before: dict[str, Decimal]) -> None:
    """Give back the points that paid for the returned lines of a purchase (`tender`): each line's
    share in proportion to the quantity returned, rounded down and cumulatively, so a whole
    return gives back exactly what was burnt. A new lot, available at once."""
    record = run.state.tendered.get(event.purchase)
    if record is None:
        return
    now = run.state.returned.get(event.purchase, {})
    back = ZERO
    for part in record.lines:
        old, new = before.get(str(part.line), ZERO), now.get(str(part.line), ZERO)
        if new > old and part.qty > 0:
            back += part_of(part.points, new, part.qty, "floor") - part_of(
                part.points, old, part.qty, "floor"
            )
    if back <= 0:
        return
    expire_after = run.program.points.expire_after
    moment = event.time
    lot = Lot(
        event=event.id,
        rule=TENDER,
        points=back,
        earned_at=moment,
        available_at=moment,
        expires_at=moment + expire_after if expire_after else None,
    )
    # The burn undone: a positive `burn` entry (the books take it back from redemptions).
    entry = LedgerEntry(
        event=event.id,
        rule=TENDER,
        kind="burn",
        points=back,
        lot=lot.id,
        at=moment,
        version=run.program.version,
    )
    lots = list(run.state.lots)
    lifecycle.with_lot(lots, lot)  # available at once: never pending, so not in `pending_lots`
    run.state = replaced(run.state, {"lots": lots})
    run.ledger.append(entry)
    run.points_changes.append(PointsChange(kind="refund", lot=lot.id, points=back, at=moment))
    run.trace.append(
        rule_trace(
            f"{TENDER}:{event.purchase}",
            "tender",
            True,
            "fired",
            f"gave back {back} of the {record.points} points that paid for purchase {event.purchase}",
            amount=back,
            unit="points",
        )
    )
