"""Settle: the outcome of one event and the customer's new state.

After every stage and mechanic, the run's totals and effects become the `Result` (result.py: the
pydantic `Outcome` is built from it only when a caller asks), and the state so far becomes the new
state: the awards' lots (and their ledger entries, the result's), the cap counters, the coupons
used and issued, the purchase history, the draw entries, the processed ids, the clock.

Input: a `Run` at its end. Output: the `Result` (with `state`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from rules_engine.engine import history, lifecycle, lot_memos, lot_points, processed, ripening
from rules_engine.engine.earning import shipping_base
from rules_engine.engine.events import Purchase
from rules_engine.engine.later import Later, LaterLedger, StreamResult, later_changes
from rules_engine.engine.outcome import PointsChange, Totals
from rules_engine.engine.result import Award, Result, RuleTraces, settled
from rules_engine.engine.run import ZERO, Run, change_state
from rules_engine.engine.trusted import (
    earn_entry,
    earned_lots,
    expiry_entries,
    points_changes,
    trusted,
)
from rules_engine.state.customer import (
    CustomerState,
    IssuedCoupon,
    LedgerEntry,
    Lot,
    PastLine,
)
from rules_engine.state.lot_lines import Split, lot_lines
from rules_engine.state.records import past_lines_of
from rules_engine.state.shared import appended, window

PROCESSED_KEPT = 1000  # event ids remembered per customer for duplicate deliveries


TimePassed = tuple[Iterable[lifecycle.Transition], Iterable[lifecycle.Expired], str, int]
"""What time did before an event, for `outcome` to put in front of the event's own changes and
entries: the changes as `points.time_passed` ordered them, the lots that expired, the cause their
entries name (the event's id) and the program's version (made once with them)."""


def outcome(run: Run, time_passed: TimePassed | None = None) -> Result:
    """The result of the run: its totals, its effects, its trace and the new state.

    What a caller may not read is made when first read (a `StreamResult`'s `Later`s): the totals,
    the tier progress and the awards' earn ledger entries (each a `LedgerEntry` with its lines').
    The new state is made now (it is what the next event reads); a caller that keeps it and reads
    the points, or `ledger_points()`, makes no ledger entry and no `Totals`. `time_passed`: the
    changes and entries of time before the event, in front of the event's own, made when read
    (made once with them) — given here, the result is made once with them (a long history has
    them at most events: a second result made from the first cost a copy of every field)."""
    state, split = new_state(run)
    awards = tuple(run.effects_points)
    booked = tuple(run.ledger)  # what the stages booked (time passing, a return, a redemption)
    ledger: Any = booked
    if split is not None:
        event = run.event
        ledger = LaterLedger(
            _earn_ledger,
            _earn_points,
            event.id,
            event.time,
            run.program.version,
            run.plan.rule_hashes,
            awards,
            split,
            booked,
        )
    if time_passed is None:
        return result_of(run, awards, Later(totals, run), state, ledger, StreamResult)  # type: ignore[arg-type]
    passed, gone, cause, version = time_passed
    ledger = LaterLedger(_time_ledger, _time_ledger_points, cause, version, gone, ledger)
    result = result_of(run, awards, Later(totals, run), state, ledger, StreamResult)  # type: ignore[arg-type]
    later_changes(result, Later(_time_changes, passed, result.points_changes))
    return result


def _earn_ledger(
    event: str,
    at: dt.datetime,
    version: int,
    hashes: Mapping[str, str],
    awards: tuple[Award, ...],
    split: Split,
    booked: tuple[LedgerEntry, ...],
) -> tuple[LedgerEntry, ...]:
    """The event's ledger: what the stages booked, then each award's earn entry, its lines the
    parts the event's `split` makes with the lots' lines (`earn_entry` each, the lot's id as
    `earned_lots` makes it)."""
    made = [
        earn_entry(
            event,
            award.rule,
            award.points,
            f"{event}/{award.rule}",
            at,
            version,
            hashes.get(award.rule),
            parts,
        )
        for award, (_, parts) in zip(awards, split.records(), strict=True)
    ]
    return (*booked, *made)


def _earn_points(
    event: str,
    at: dt.datetime,
    version: int,
    hashes: Mapping[str, str],
    awards: tuple[Award, ...],
    split: Split,
    booked: tuple[LedgerEntry, ...],
) -> list[tuple[str, Decimal]]:
    """`_earn_ledger`'s kinds and points, without its entries (an earn entry's points are its award's)."""
    return [*((entry.kind, entry.points) for entry in booked), *(("earn", award.points) for award in awards)]


def totals(run: Run) -> Totals:
    """The event's totals: the basket, its discounts and shipping, what is left to pay, the
    earning base and the points the awards gave."""
    event = run.event
    points = ZERO
    for award in run.effects_points:
        points += award.points
    discount = ZERO
    for given in run.effects_discounts:
        discount += given.amount
    shipping = ZERO
    if isinstance(event, Purchase):
        shipping = ZERO if run.free_shipping is not None else event.shipping
    basket = sum(run.amounts, ZERO)
    return trusted(
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


def result_of(
    run: Run,
    awards: tuple[Award, ...],
    made: Totals,
    state: CustomerState,
    ledger: tuple[LedgerEntry, ...],
    kind: type[Result] | None = None,
) -> Result:
    """The `Result` of the run with these awards, totals, state and ledger: what `outcome` gives,
    and what the step in place (step.py) gives with its state and ledger made when first read."""
    event = run.event
    progress: Any = run.tier_progress  # a `Later` where the tiers mechanic left it to be made
    if type(progress) is Later and kind is not StreamResult:  # made now (a step's result: when read)
        progress = progress.get()
    return settled(  # the rarer effects' lists are mostly empty: `()` without a call
        run.program.program,
        run.program.version,
        event.id,
        event.customer,
        awards,
        tuple(run.effects_discounts) if run.effects_discounts else (),
        made,
        state,
        ledger,
        RuleTraces(run.trace),
        progress,
        run.free_shipping,
        tuple(run.coupons_issued) if run.coupons_issued else (),
        tuple(run.redeemed) if run.redeemed else (),
        tuple(run.badges) if run.badges else (),
        tuple(run.tier_changes) if run.tier_changes else (),
        tuple(run.notifications) if run.notifications else (),
        tuple(run.draw_entries) if run.draw_entries else (),
        tuple(run.points_changes) if run.points_changes else (),
        tuple(run.budgets_released) if run.budgets_released else (),
        run.referral_owed,
        kind,
    )


def _time_changes(
    passed: Iterable[lifecycle.Transition], own: tuple[PointsChange, ...]
) -> tuple[PointsChange, ...]:
    return (*points_changes(passed), *own)


def _time_ledger(
    cause: str, version: int, gone: Iterable[lifecycle.Expired], own: tuple[LedgerEntry, ...] | Later
) -> tuple[LedgerEntry, ...]:
    """`own`: the event's ledger, or its `LaterLedger` (outcome's), made now."""
    entries: tuple[LedgerEntry, ...] = own.get() if isinstance(own, Later) else own
    return (*expiry_entries(cause, version, gone), *entries) if gone else entries


def _time_ledger_points(
    cause: str, version: int, gone: Iterable[lifecycle.Expired], own: tuple[LedgerEntry, ...] | Later
) -> list[tuple[str, Decimal]]:
    """`_time_ledger`'s kinds and points, without its entries (`Result.ledger_points`)."""
    expired: list[tuple[str, Decimal]] = [("expire", -points) for _, points, _, _ in gone]
    if type(own) is LaterLedger:
        return [*expired, *own.points()]
    entries: tuple[LedgerEntry, ...] = own.get() if isinstance(own, Later) else own
    return [*expired, *((entry.kind, entry.points) for entry in entries)]


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


def new_state(run: Run) -> tuple[CustomerState, Split | None]:
    """The state after the event: what settle keeps of the run (the module docstring), each field
    made with the least work — a field the event leaves alone is the state's own value, shared;
    the awards' lots and ids made in one loop (`trusted.earned_lots`); their line parts made when
    first read, once for all the awards (`lot_lines.Split`, returned with the state: the lots'
    `LotLines` and the earn ledger entries' lines, made when the result's ledger is read, read
    it); the long lists appended to in place (`appended`)."""
    event = run.event
    state = run.state
    plan = run.plan
    program = run.program
    time = event.time
    window = program.returns
    lots: Sequence[Lot] = state.lots
    if window is not None:
        lots = lot_memos.past_return_window(lots, time, window.within)
        lot_points.left_out(state.lots, lots)  # their points and times kept, empty lots left out
    pending: list[str] = state.pending_lots or []  # shared when no award waits: never changed
    awards = run.effects_points
    split = None
    if awards:  # a lot and one ledger entry per award, with its lines' parts (each line found once)
        points = program.points
        available_at = time + points.pending if points.pending else time
        expires_at = time + points.expire_after if points.expire_after else None
        split = Split([award.lines for award in awards], run.quantities)
        made, ids = earned_lots(
            event.id, awards, lot_lines(split, len(awards)), time, available_at, expires_at
        )
        before = lots
        lots = lifecycle.with_lots(lots, made)  # at the end: shared with the state before, not copied
        lot_points.added(before, lots, made)  # the lots' points kept for the balance (lot_points)
        if lot_memos.added_after(before, state.reminded, made):  # the expiry reminder's reach kept
            lot_memos.carry_reminded(before, state.reminded, lots, state.reminded)
        if window is not None:  # the next event's look at the return windows: one comparison
            lot_memos.carry_window(before, lots, time + window.within)
        if available_at > time:
            waiting = pending
            pending = [*pending, *ids]
            ripening.carry_tail(waiting, before, pending, lots, made)  # the next event's one look
    coupons = state.coupons  # unchanged (usually): shared, as every field the update leaves alone
    if run.redeemed or run.coupons_issued:
        coupons = [
            c.model_copy(update={"used_in": event.id}) if c.code in run.redeemed else c for c in state.coupons
        ]
        coupons += [
            IssuedCoupon(code=c.code, coupon=c.coupon, issued_at=time, expires_at=c.expires_at)
            for c in run.coupons_issued
        ]
    bought: list[PastLine] = []
    visits = state.visits
    day = run.local.date()
    if isinstance(event, Purchase):
        visits += 1
        bought = past_lines_of(run.fields, day, event.id)  # the lines' field dicts `open_run` read
    purchases, older = history.kept(state.purchases, bought, state.older_purchases, day, plan.purchases_kept)
    badges = state.badges  # unchanged (usually): shared
    if run.badges:
        badges = [*badges, *(b.badge for b in run.badges if b.badge not in state.badges)]
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
            "processed": kept(state.processed, event.id),
            "badges": badges,
            "last_event_at": later(state.last_event_at, time),
        },
    )
    return run.state, split


def kept(before: Sequence[str], event: str) -> Sequence[str]:
    """`[*before, event][-PROCESSED_KEPT:]`, sharing `before`'s storage (state/shared.py: the
    oldest id leaves the window, the event's is appended, nothing copied); the set of `before`'s
    ids the duplicate check kept goes with them (`processed.carried`)."""
    items, start, end = window(before)  # the ids left out sliced in C (a `SharedList`'s own
    cut = max(0, end - start - (PROCESSED_KEPT - 1))  # `len()` and slice are Python calls)
    ids = appended(before, (event,), cut)
    processed.carried(before, ids, items[start : start + cut], event)
    return ids


def later(a: dt.datetime | None, b: dt.datetime) -> dt.datetime:
    return b if a is None or b > a else a
