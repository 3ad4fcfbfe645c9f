"""What time and spending do to points: pending → available, expiry, and burning for rewards.

Pure functions over a `CustomerState`: they return a new state and the transitions they made,
never read the clock (the moment comes from an event, or from `advance(…, to_time)`), and keep
the ledger invariant — the points in the lots equal the sum of the ledger entries.

Policies (docs/engine.md):
- A lot is *pending* until its `available_at`, *available* from then until its `expires_at`.
- Lots expire whole, oldest first, at `expires_at`; expiry is applied when the customer's next
  event arrives or by `advance`, and each expired lot is a ledger entry of kind `expire`.
- Spending burns available lots oldest first (by `earned_at`, then lot id); not enough available
  points refuses the whole spend and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from pydantic_core import TzInfo

from rules_engine.errors import Diagnostic, EventError
from rules_engine.state.customer import CustomerState, LedgerEntry, Lot

ZERO = Decimal(0)


@dataclass(frozen=True)
class Transition:
    """Something time or spending did to a lot."""

    kind: str  # "available", "expire", "burn"
    lot: str
    points: Decimal
    at: dt.datetime


# Lot scans compare times on every event, and comparing two aware times whose tzinfo objects differ
# asks each for its UTC offset: for the offsets pydantic parses, a call into Rust (~0.4 µs). Yet two
# aware times whose local dates are APART days or more apart are ordered by those dates alone: an
# offset is under 24 hours either way, so two offsets differ by under 48 hours. The scans below skip
# the comparison for such lots; only for tzinfo types whose offset is never None (so the time is
# aware, and comparing it with an aware one could not raise), and an aware moment.
FIXED_OFFSETS = frozenset({dt.timezone, TzInfo})
APART = 3


def day_number(moment: dt.datetime) -> int | None:
    """The ordinal of `moment`'s local date; None for a naive moment (no shortcut then).

    A time `t` is surely later than `moment` when `t.tzinfo.__class__ in FIXED_OFFSETS` and
    `t.toordinal() - day_number(moment) >= APART`; the scans inline that test (a call would cost
    about what it saves)."""
    return moment.toordinal() if moment.utcoffset() is not None else None


def _oldest_first(lots: list[Lot]) -> list[Lot]:
    return sorted(lots, key=lambda lot: (lot.earned_at, lot.id))


def expire(
    state: CustomerState, moment: dt.datetime, *, event: str, version: int = 0
) -> tuple[CustomerState, list[Transition]]:
    """Remove lots whose `expires_at` is at or before `moment`; one ledger entry per lot."""
    day = day_number(moment)
    fixed = FIXED_OFFSETS
    due = [
        lot
        for lot in state.lots
        if (expires := lot.expires_at) is not None
        # `expires` surely later than `moment` (see day_number): then `expires <= moment` is false
        and not (day is not None and expires.tzinfo.__class__ in fixed and expires.toordinal() - day >= APART)
        and expires <= moment
        and lot.points > 0
    ]
    if not due:  # the common case: nothing to do, nothing to sort
        return state, []
    gone = {id(lot) for lot in due}
    ledger = list(state.ledger)
    transitions: list[Transition] = []
    for lot in _oldest_first(due):
        assert lot.expires_at is not None
        transitions.append(Transition("expire", lot.id, lot.points, lot.expires_at))
        ledger.append(
            LedgerEntry(
                event=event,
                rule=lot.rule,
                kind="expire",
                points=-lot.points,
                lot=lot.id,
                at=lot.expires_at,
                version=version,
            )
        )
    kept = [lot for lot in state.lots if id(lot) not in gone]
    return state.model_copy(update={"lots": kept, "ledger": ledger}), transitions


def became_available(
    state: CustomerState, since: dt.datetime | None, moment: dt.datetime
) -> list[Transition]:
    """Lots whose pending period ended in (since, moment]: reported, nothing to change.

    Without `since` (a state that never saw an event here) there is nothing to compare with:
    nothing is reported rather than every lot ever earned.
    """
    if since is None:
        return []
    # `since` surely later than `available_at` (see day_number): then `available_at > since` is false
    since_day = since.toordinal() if since.tzinfo.__class__ in FIXED_OFFSETS else None
    aware = moment.utcoffset() is not None
    fixed = FIXED_OFFSETS
    ended = [
        lot
        for lot in state.lots
        if lot.points > 0
        and not (
            since_day is not None
            and aware
            and (available := lot.available_at).tzinfo.__class__ in fixed
            and since_day - available.toordinal() >= APART
        )
        and lot.available_at <= moment
        and lot.available_at > since
        and lot.available_at > lot.earned_at
    ]
    return [Transition("available", lot.id, lot.points, lot.available_at) for lot in _oldest_first(ended)]


def burn(
    state: CustomerState, points: Decimal, moment: dt.datetime, *, event: str, rule: str, version: int = 0
) -> tuple[CustomerState, list[Transition]]:
    """Spend `points` from available lots, oldest first.

    Raises:
        EventError: RE430 when fewer points are available; the state is unchanged.
    """
    available = state.available(moment)
    if points > available:
        pending = state.pending(moment)
        hint = f"{pending} more become available later" if pending else "earn more points first"
        raise EventError(
            [Diagnostic("RE430", f"not enough points: {available} available, {points} needed", hint=hint)]
        )
    remaining = points
    lots: list[Lot] = []
    ledger = list(state.ledger)
    transitions: list[Transition] = []
    for lot in _oldest_first(state.lots):
        spendable = lot.available_at <= moment and (lot.expires_at is None or moment < lot.expires_at)
        if remaining > 0 and spendable and lot.points > 0:
            taken = min(lot.points, remaining)
            remaining -= taken
            transitions.append(Transition("burn", lot.id, taken, moment))
            ledger.append(
                LedgerEntry(
                    event=event, rule=rule, kind="burn", points=-taken, lot=lot.id, at=moment, version=version
                )
            )
            # A spent lot stays, at 0: a later return still needs to know what its lines earned.
            lots.append(lot.model_copy(update={"points": lot.points - taken}))
        else:
            lots.append(lot)
    return state.model_copy(update={"lots": lots, "ledger": ledger}), transitions


def balance_matches_ledger(state: CustomerState) -> bool:
    """The invariant: points in the lots == sum of the ledger."""
    return sum((lot.points for lot in state.lots), ZERO) == sum((e.points for e in state.ledger), ZERO)


def closed_entries_left_out(ledger: list[LedgerEntry], lots: list[Lot], event: str) -> list[LedgerEntry]:
    """The ledger the state keeps: the entries of every lot that still holds points, and of every
    lot `event` changed; the entries of a lot that was closed earlier (spent, expired, reversed
    to 0 — they add up to 0) leave the state.

    The state would otherwise carry its whole history into every event. Nothing is lost: every
    entry is in the state of the outcome that made it (`Outcome.new_ledger_entries`), and a store
    keeps each one in its ledger table. The invariant holds as before: the points in the lots
    equal the sum of the state's ledger.
    """
    holding = {lot.id for lot in lots if lot.points}
    touched = {entry.lot for entry in ledger if entry.event == event}
    if all(entry.lot in holding or entry.lot in touched for entry in ledger):
        return ledger
    return [entry for entry in ledger if entry.lot in holding or entry.lot in touched]


def past_return_window(lots: list[Lot], moment: dt.datetime, within: dt.timedelta) -> list[Lot]:
    """The lots, less what no return can need any more: a lot whose purchase's return window has
    closed (`earned_at + within <= moment`) leaves the state when it is empty (spent, reversed),
    and keeps its points but not its line detail otherwise. Bounds a state's size by the return
    window instead of the customer's whole history."""
    kept: list[Lot] = []
    changed = False
    for lot in lots:
        if moment < lot.earned_at + within:
            kept.append(lot)
        elif lot.points:
            kept.append(lot.model_copy(update={"lines": []}) if lot.lines else lot)
            changed = changed or bool(lot.lines)
        else:
            changed = True
    return kept if changed else lots
