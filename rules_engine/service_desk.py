"""The support desk's corrections through the service (`Loyalty.adjust`, `Loyalty.void`): each in
one store transaction of the customer's, exactly once by its own id, like an event, with time
passed first up to its moment; and the ledger entries an imported state brings (`Loyalty.put`).

Separate from service.py, which runs events: these are what a person asks for now and then, and a
void reads much (the voided event's outcome, the later ones, the ledger) that no event needs. The
tools decide (tools/adjustments.py, tools/voids.py); this module reads and writes the store around
them.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Generic, NamedTuple, TypeVar

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.errors import Diagnostic, EventError, StoreError
from rules_engine.state.customer import CustomerState, LedgerEntry
from rules_engine.store.base import Change, CustomerTransaction, Store
from rules_engine.tools.adjustments import Adjustment, apply_adjustment
from rules_engine.tools.voids import Void, apply_void, moved_a_quest

Correction = TypeVar("Correction", Adjustment, Void)


class Booked(NamedTuple, Generic[Correction]):
    """What a correction did, read in its own transaction: an answer built from a second read
    afterwards could meet the customer erased in between (a 500 for an applied correction)."""

    applied: Correction
    """The correction as applied (the first time, for a retry)."""
    duplicate: bool
    """Its id was applied before: nothing was applied again."""
    state: CustomerState
    """The customer's state it saved (for a retry: the state as it is now)."""


def adjust(engine: Engine, store: Store, adjustment: Adjustment) -> Booked[Adjustment]:
    """`Loyalty.adjust`: the adjustment as applied, whether it was applied before, the state."""
    digest = adjustment.digest()
    with store.transaction(adjustment.customer) as transaction:
        before, stored = _opened(transaction, store, "adjustment", adjustment, digest)
        if stored is not None:
            return Booked(stored, True, before)
        passed, _, expired = engine.advance(before, adjustment.at)
        program = engine.program
        asked = adjustment.model_copy(update={"version": program.version})
        after, applied = apply_adjustment(passed, asked, expire_after=program.points.expire_after)
        transaction.save(
            Change(
                state=after,
                ledger=[*expired, *applied.entries],
                event=adjustment.id,
                outcome=applied.model_dump_json(),
                digest=digest,
                at=adjustment.at,
            )
        )
    return Booked(applied, False, after)


def void(engine: Engine, store: Store, void: Void) -> Booked[Void]:
    """`Loyalty.void`: the void as applied, whether it was applied before, the state."""
    customer = void.customer
    digest = void.digest()
    with store.transaction(customer) as transaction:
        before, stored = _opened(transaction, store, "void", void, digest)
        if stored is not None:
            return Booked(stored, True, before)
        target = transaction.event(void.voided)
        data = json.loads(target.outcome) if target is not None else None
        if target is None or data is None or "effects" not in data:
            what = "an adjustment or a void" if data is not None else "no event"
            raise StoreError(
                [
                    Diagnostic(
                        "RE447",
                        f"void {void.id}: customer {customer!r} has {what} with id {void.voided!r} to void",
                        hint="name an event the customer's ledger or history shows; an adjustment is "
                        "undone by another adjustment",
                        path=("event",),
                    )
                ]
            )
        original = Outcome.model_validate({**data, "state": before})
        ids = before.processed
        if void.voided not in ids:  # the state remembers the latest 1,000 ids only
            message = (
                f"void {void.id}: event {void.voided} cannot be voided: too many events came after it "
                "to tell which of them depend on it"
            )
            raise EventError([Diagnostic("RE446", message, hint="adjust the points by hand instead")])
        position = ids.index(void.voided) + 1
        later = []
        for name in ids[position:]:
            row = transaction.event(name)
            if row is not None:
                later.append((name, json.loads(row.outcome)))
        earlier_change = None
        changes = original.effects.tier_changes
        if changes and changes[0].old is not None:
            for name in reversed(ids[: max(0, position - 1)]):
                row = transaction.event(name)
                if row is None:
                    continue
                kept = json.loads(row.outcome).get("effects", {}).get("tier_changes") or []
                if kept and kept[-1].get("new") == changes[0].old:
                    earlier_change = row.at
                    break
        alongside = []  # earlier events at its moment: whether it started a quest's attempt
        if moved_a_quest(original):
            for name in ids[: position - 1]:
                row = transaction.event(name)
                if row is not None and row.at is not None and row.at == target.at:
                    alongside.append(json.loads(row.outcome))
        ledger = [row.entry for row in store.ledger(customer=customer)]
        passed, _, expired = engine.advance(before, void.at)
        program = engine.program
        asked = void.model_copy(update={"version": program.version})
        after, applied = apply_void(
            passed,
            asked,
            original,
            later,
            ledger,
            program,
            event_at=target.at,
            tier_since=earlier_change,
            alongside=alongside,
        )
        restored = _items_redeemed(original)
        if restored:
            applied = applied.model_copy(update={"stock_restored": restored})
        transaction.save(
            Change(
                state=after,
                ledger=[*expired, *applied.entries],
                event=void.id,
                outcome=applied.model_dump_json(),
                digest=digest,
                at=void.at,
                taken=[(item, -1) for item in restored],
            )
        )
    return Booked(applied, False, after)


def _opened(
    transaction: CustomerTransaction, store: Store, kind: str, request: Correction, digest: str
) -> tuple[CustomerState, Correction | None]:
    """What a correction starts from in its transaction: the customer's state, and the correction
    as applied the first time when its id was (a redelivery: nothing is written), else None.

    Raises:
        EventError: RE443, the id was used before for something else.
        StoreError: RE606, the store has no such customer (a correction never creates one).
    """
    stored = transaction.event(request.id)
    if stored is not None and stored.digest != digest:
        message = f"{kind} {request.id}: the id was used before for something else"
        raise EventError([Diagnostic("RE443", message, hint=f"give every {kind} its own id")])
    before = transaction.state()
    if before is None:
        raise StoreError([Diagnostic("RE606", f"no customer {request.customer!r} in {store.url}")])
    return before, None if stored is None else type(request).model_validate_json(stored.outcome)


def _items_redeemed(outcome: Outcome) -> list[str]:
    """The catalog items a redemption's outcome took (its `catalog:<item>` trace): what voiding it
    gives back to their stock."""
    return [t.rule.removeprefix("catalog:") for t in outcome.trace if t.kind == "catalog" and t.fired]


IMPORT = "import"


def opening(before: CustomerState | None, after: CustomerState) -> list[LedgerEntry]:
    """The ledger entries that make the books agree with an imported state: for each lot whose
    points differ from the stored state's (all of a new customer's), an `adjust` entry of rule
    `import` for the difference, dated when the lot was earned (a lot the import drops: at the
    state's latest event). The state carries no history of its own."""
    held = {lot.id: lot for lot in before.lots} if before is not None else {}
    now = {lot.id: lot for lot in after.lots}
    entries: list[LedgerEntry] = []
    for lot_id in [*now, *(lot_id for lot_id in held if lot_id not in now)]:
        new, old = now.get(lot_id), held.get(lot_id)
        points = (new.points if new is not None else Decimal(0)) - (
            old.points if old is not None else Decimal(0)
        )
        if points:
            lot = new or old
            assert lot is not None
            at = lot.earned_at if new is not None else (after.last_event_at or lot.earned_at)
            entries.append(
                LedgerEntry(
                    event=f"{IMPORT}:{lot_id}", rule=IMPORT, kind="adjust", points=points, lot=lot_id, at=at
                )
            )
    return entries
