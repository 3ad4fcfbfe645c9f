"""Returns: the points the returned lines earned, taken back as they were given.

`apply` takes back the points (`take_back`: from the original awards' own lots first, then the
customer's other lots; docs/engine.md, Returns), the tier metric the lines gave, and, unless the
return window has closed, the challenge progress they counted for.

Input: a `Run` of a return. Output: `run.state` (lots, returned quantities, activity), `run.ledger`,
`run.points_changes` and the trace.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from rules_engine.dsl.ast import format_duration
from rules_engine.engine import running
from rules_engine.engine.events import Return
from rules_engine.engine.mechanics import challenges
from rules_engine.engine.money import exponent_of, half_up, part_of
from rules_engine.engine.outcome import BudgetRelease, PointsChange
from rules_engine.engine.points import TENDER, refund
from rules_engine.engine.run import ZERO, Run
from rules_engine.engine.trusted import replaced, rule_trace
from rules_engine.errors import Diagnostic, EventError
from rules_engine.periods import BUDGET_PERIODS, cap_period_key
from rules_engine.state.customer import Activity, LedgerEntry, LedgerLine, Lot


def apply(run: Run, event: Return) -> None:
    """The return: the points back, then the points that paid for the lines, then the challenge
    progress the lines gave."""
    before = run.state.returned.get(event.purchase, {})
    take_back(run, event)
    if not run.return_closed:
        refund(run, event, before)
        challenges.take_back(run, event)


def take_back(run: Run, event: Return) -> None:
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
    lots = [lot for lot in run.state.lots if lot.event == purchase]
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
    bought, complete = _bought_lines(run, purchase, earned)
    # a return's own lots, named after it (the points given back for lines paid with points,
    # `<return>/paid_with_points`; a debt, `<return>/return:<purchase>`), are no purchase made
    own = any(lot.rule != TENDER and not lot.rule.startswith("return:") for lot in lots)
    if not bought and not complete and not own and not _made(run, purchase):
        raise EventError([_not_their_purchase(run, event)])
    if _return_window_closed(run, event, lots):
        return
    before = dict(run.state.returned.get(purchase, {}))
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
    rounding = run.program.points.rounding
    reverse: dict[str, dict[int, Decimal]] = {}  # lot → line → points the line gives back
    for lot in earned:
        for part in lot.lines:
            old, new = before.get(str(part.line), ZERO), now.get(str(part.line), ZERO)
            if new > old and part.qty > 0:
                owed = part_of(part.points, new, part.qty, rounding) - part_of(
                    part.points, old, part.qty, rounding
                )
                if owed > 0:  # whole points (an int): the decimal below is at exponent 0
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
        run.trace.append(rule_trace(rule, "return", False, "nothing_eligible", reason))
        run.state = replaced(run.state, {"returned": {**run.state.returned, purchase: now}})
        _take_back_progress(run, event, before, now, ZERO)
        return
    _reverse(run, event, reverse, rule)
    _release(run, rule, {lot.id: lot for lot in earned}, reverse)
    run.state = replaced(run.state, {"returned": {**run.state.returned, purchase: now}})
    _take_back_progress(run, event, before, now, total)


def _bought_lines(run: Run, purchase: str, earned: list[Lot]) -> tuple[dict[int, tuple[str, Decimal]], bool]:
    """The lines of `purchase` (line → sku, quantity) and whether they are all of them.

    From the purchase lines the state keeps, which include lines that earned nothing (a gift
    card); a state written before they carried their purchase's id has only the lines of its
    lots, which cannot tell "not bought" from "earned nothing" (then not complete)."""
    lines = [past for past in run.state.purchases if past.event == purchase]
    if lines:
        return {line: (past.sku, past.qty) for line, past in enumerate(lines)}, True
    bought: dict[int, tuple[str, Decimal]] = {}
    for lot in earned:
        for part in lot.lines:
            bought.setdefault(part.line, (part.sku, part.qty))
    return bought, False


def _made(run: Run, purchase: str) -> bool:
    """Whether anything in the state says this customer made `purchase` (for a state whose
    purchase lines do not carry their purchase's id: it is not refused on their account). A
    return's activity (no visit, what it took back) names the return: not a purchase made."""
    state = run.state
    return (
        purchase in state.returned
        or any(activity.event == purchase and activity.visits for activity in state.activity)
        or any(past.event is None for past in state.purchases)
        or any(purchase in progress.counted for progress in state.challenges.values())
    )


def _not_their_purchase(run: Run, event: Return) -> Diagnostic:
    older = run.state.older_purchases
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
    run: Run, event: Return, before: dict[str, Decimal], now: dict[str, Decimal], points: Decimal
) -> None:
    """The tier metrics the returned lines gave: counted back in the purchase's own window.

    The tier itself is not lowered at once: like any fall of the metric, it counts at the
    next review (docs/engine.md, Tiers)."""
    original = next((a for a in run.state.activity if a.event == event.purchase), None)
    if original is None or not original.paid:
        return
    spend = Fraction(0)  # exact: the returned part of each line's price, in money
    for key, returned in now.items():
        line = int(key)
        if line < len(original.paid) and original.qty[line] > 0:
            part = Fraction(returned) - Fraction(before.get(key, ZERO))
            spend += Fraction(original.paid[line]) * part / Fraction(original.qty[line])
    quantum = run.plan.quantum
    units = half_up(spend.numerator * 10 ** exponent_of(quantum), spend.denominator)  # spend >= 0
    back = Activity(
        event=event.id,
        at=original.at,
        spend=-(units * quantum),
        points=-points,
        visits=0,
    )
    run.state = replaced(run.state, running.add(run.state, back))


def _return_window_closed(run: Run, event: Return, lots: list[Lot]) -> bool:
    """Whether the program's return window of the purchase has closed (traced if so). A
    purchase the state no longer knows the time of is not judged here: nothing of it is left."""
    window = run.program.returns
    if window is None:
        return False
    bought = min((lot.earned_at for lot in lots), default=None)
    if bought is None:
        bought = next((a.at for a in run.state.activity if a.event == event.purchase), None)
    if bought is None or event.time < bought + window.within:
        return False
    closed = (bought + window.within).astimezone(run.plan.zone)
    run.return_closed = True
    run.trace.append(
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


def _release(run: Run, rule: str, lots: dict[str, Lot], reverse: dict[str, dict[int, Decimal]]) -> None:
    """Give the reversed awards' points back to their rules' caps and budgets.

    What a returned line earned no longer counts against the per-customer cap of the rule that
    gave it, in the cap period it was counted in, while that period is still current (a cap's
    counter keeps only its current period: an ended one counts for nothing anyway); nor against
    the rule's program-wide budget, in the budget period it was spent from
    (`effects.budgets_released`, which a store subtracts in the return's own transaction). The
    whole award's share comes back, even the part the customer had already spent and that came
    out of other lots or was written off: the award is undone. A `per_event` cap has nothing to
    give back. A rule the program no longer has, or that lost its cap or budget, gives back
    nothing.
    """
    rules = {r.id: r for r in run.program.earn}
    zone = run.plan.zone
    said: list[str] = []
    for lot_id, lines in reverse.items():
        lot = lots.get(lot_id)
        earn = rules.get(lot.rule) if lot is not None else None
        if lot is None or earn is None or (earn.cap is None and earn.budget is None):
            continue
        points = sum(lines.values(), ZERO)
        day = lot.earned_at.astimezone(zone).date()
        if earn.cap is not None:
            counted = dict(run.counters.get(earn.id, {}))
            released = []
            for period, _, _ in run.plan.cap_periods(earn.cap):
                key = cap_period_key(period, day)
                if key in counted and key == cap_period_key(period, run.local.date()):
                    back = min(points, counted[key])
                    counted[key] -= back
                    released.append(key)
            if released:
                run.counters[earn.id] = counted
                said.append(f"{points} back to the cap of `{earn.id}` ({', '.join(released)})")
        if earn.budget is not None:
            key = cap_period_key(BUDGET_PERIODS[earn.budget.period], day)
            run.budgets_released.append(BudgetRelease(rule=earn.id, period=key, points=points))
            said.append(f"{points} back to the budget of `{earn.id}` ({key})")
    if said:
        run.trace.append(rule_trace(f"{rule}:limits", "return", True, "fired", "; ".join(said)))


def _reverse(run: Run, event: Return, reverse: dict[str, dict[int, Decimal]], rule: str) -> None:
    moment = event.time
    version = run.program.version
    lots = {lot.id: lot for lot in run.state.lots}
    ledger = run.ledger
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
    if missing > 0 and run.program.points.negative_balance == "allow":
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
    run.state = replaced(run.state, {"lots": list(lots.values())})
    run.points_changes += changes
    run.trace.append(
        rule_trace(
            rule,
            "return",
            True,
            "fired",
            reason,
            amount=total - (missing if run.program.points.negative_balance == "write_off" else ZERO),
            unit="points",
        )
    )
