"""Manual adjustments: a support desk credits or debits a customer's points, with a reason and
the operator who did it, booked in the ledger as kind `adjust`.

A credit is a lot of its own (spendable at once, expiring as the program's points do, in its place
among the lots by expiry); a debit takes points from the spendable lots, oldest first, and is
refused (RE432) when the customer has fewer. Either way every change is a ledger entry — `event`
the adjustment's id, `rule` `adjust:<operator>` — so the points in the lots still equal the
ledger, and the books show it (docs/stores.md, Accounting: adjusted). `Loyalty.adjust` stores it
in one transaction, exactly once by its id; the reason is kept with it in the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from rules_engine.engine.lifecycle import with_lot
from rules_engine.errors import Diagnostic, EventError
from rules_engine.state.customer import CustomerState, LedgerEntry, Lot

Amount = Annotated[Decimal, WithJsonSchema({"type": "number"})]

POINTS_DIGITS = 15
"""The most whole digits an adjustment has, as many as an event's amount (engine/events.py): a
desk types a few, and a longer number is a slip of the keyboard or an attack, not a credit."""


class Adjustment(BaseModel):
    """One adjustment as it is asked for and, once applied, kept (with its ledger entries)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    id: str = Field(min_length=1, max_length=200, examples=["adj-2026-12-02-0001"])
    """Its id: a retry with the same id is answered with the original, nothing applied twice."""
    customer: str = Field(min_length=1)
    points: Amount
    """Positive: a credit; negative: a debit. Never zero."""
    reason: str = Field(min_length=1, max_length=500, examples=["coffee machine broken, order lost"])
    """Why, in words: kept with the adjustment for the books and the desk."""
    operator: str = Field(min_length=1, max_length=200)
    """Who did it: the API key's id, or the person at the command line."""
    at: dt.datetime
    """When it was booked."""
    version: int = 0
    """The program version running then."""
    entries: list[LedgerEntry] = Field(default_factory=list)
    """The ledger entries it made (empty until applied)."""

    def digest(self) -> str:
        """What makes a retry the same adjustment: customer, points, reason and operator (not the
        time it was booked, which a retry cannot repeat)."""
        text = "\x1f".join([self.customer, format(self.points.normalize(), "f"), self.reason, self.operator])
        return "adjust:" + hashlib.sha256(text.encode()).hexdigest()


def apply_adjustment(
    state: CustomerState, adjustment: Adjustment, *, expire_after: dt.timedelta | None
) -> tuple[CustomerState, Adjustment]:
    """The state after the adjustment, and the adjustment with its ledger entries.

    Raises:
        EventError: RE432, a debit of more points than are spendable at `adjustment.at`; RE410, zero
            points; RE449, more than `POINTS_DIGITS` whole digits; RE448, a fraction of a point.
    """
    at, points, rule = adjustment.at, adjustment.points, f"adjust:{adjustment.operator}"
    if not points:
        raise EventError([Diagnostic("RE410", "an adjustment of 0 points changes nothing", path=("points",))])
    if points.copy_abs() >= 10**POINTS_DIGITS:
        # unbounded, a credit of 5,000 digits was booked, and Decimal arithmetic, exact to 28
        # digits only, rounded a debit's amount in the refusal's message
        digits = points.adjusted() + 1
        message = f"an adjustment of {digits} whole digits, but points have at most {POINTS_DIGITS}"
        hint = f"adjust by at most {10**POINTS_DIGITS - 1:,} points: check the amount typed"
        raise EventError([Diagnostic("RE449", message, hint=hint, path=("points",))])
    if points != points.to_integral_value():
        # every award is rounded to whole points (`points.rounding`): a fraction no rule can make
        # would stay in the balance for ever, unspendable in full; floor and ceiling stay Decimal
        # (an int's text is limited to 4,300 digits)
        wholes = (points.to_integral_value(rounding) for rounding in (ROUND_FLOOR, ROUND_CEILING))
        near = " or ".join(str(whole) for whole in wholes if whole)
        message = f"an adjustment of {points} points, but the program's points are whole"
        hint = f"adjust by a whole number of points: {near} here"
        raise EventError([Diagnostic("RE448", message, hint=hint, path=("points",))])

    def entry(points: Decimal, lot: str) -> LedgerEntry:
        return LedgerEntry(
            event=adjustment.id,
            rule=rule,
            kind="adjust",
            points=points,
            lot=lot,
            at=at,
            version=adjustment.version,
        )

    entries: list[LedgerEntry] = []
    lots: list[Lot] = []
    if points > 0:
        expires = None if expire_after is None else at + expire_after
        lot = Lot(
            event=adjustment.id, rule=rule, points=points, earned_at=at, available_at=at, expires_at=expires
        )
        entries.append(entry(points, lot.id))
        # in its place by expiry, which is not always the end: an event dated ahead of the desk's
        # clock, or a program version that shortened `expire_after`, earned lots expiring after it,
        # and expiry and the reminder read the lots as a list in expiry order
        lots += state.lots
        with_lot(lots, lot)
    else:
        available = state.available(at)
        if -points > available:
            raise EventError(
                [
                    Diagnostic(
                        "RE432",
                        f"a debit of {-points} points, but {available} are spendable now",
                        hint="debit at most the available points; pending points cannot be debited yet",
                        path=("points",),
                    )
                ]
            )
        remaining = -points
        for lot in state.lots:
            spendable = lot.available_at <= at and (lot.expires_at is None or at < lot.expires_at)
            if remaining > 0 and spendable and lot.points > 0:
                taken = min(lot.points, remaining)
                remaining -= taken
                entries.append(entry(-taken, lot.id))
                lot = lot.model_copy(update={"points": lot.points - taken})
            lots.append(lot)
    after = state.model_copy(update={"lots": lots})
    return after, adjustment.model_copy(update={"entries": entries})
