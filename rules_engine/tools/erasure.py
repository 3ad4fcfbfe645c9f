"""Customer erasure (GDPR-style): a customer's personal data deleted, the books kept.

What is deleted: the profile (tags, dates, attributes), the purchase history and every trace of
behaviour the state holds (activity, coupons, badges, challenge, quest and streak progress,
offers, notifications, draw entries, processed event ids), the stored outcomes of their events.
What is kept, under a random pseudonym (`erased-<32 hex>`, drawn once, never derived from the
customer id, so it cannot be recomputed from it): the ledger rows and the points lots that are
still open, every event id in them renamed (`<pseudonym>:<digest>`), so that the liability is
unchanged and the books still reconcile, and the open points still expire or are written off as
the program says. Their referral code is retired, kept by the pseudonym: a code is made from the
customer's id, so a new customer under the erased id would have had the same one; no customer
gets it again, and a referee's purchase delivered again owes no one a reward (`is_pseudonym`).
A prize draw they won stays won, by the pseudonym, its ticket's hash (made from their id) dropped.
The erased customer's id is then in no row of the program's store; an event for that id
afterwards starts a new customer.

`Loyalty.erase` runs it in one store transaction (`Store.erase`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from rules_engine.engine.events import PSEUDONYM
from rules_engine.state.customer import CustomerState
from rules_engine.store.base import rename_lot
from rules_engine.tools.adjustments import Amount


class Erasure(BaseModel):
    """What an erasure did."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    pseudonym: str
    """The id the anonymised ledger and open lots are kept under."""
    points: Amount = Decimal(0)
    """The points still outstanding, kept under the pseudonym (the liability is unchanged)."""
    lots: int = 0
    """The open lots kept."""
    operator: str = Field(min_length=1, max_length=200)
    """Who did it: the API key's id, or the person at the command line."""
    at: dt.datetime
    """When."""


def new_pseudonym() -> str:
    return "erased-" + secrets.token_hex(16)


def is_pseudonym(customer: str) -> bool:
    """Whether `customer` is an erasure's pseudonym (`new_pseudonym`): the books of an erased
    customer, who is owed nothing more (a referral reward their retired code would name)."""
    return PSEUDONYM.fullmatch(customer) is not None


def renamer(pseudonym: str) -> Callable[[str], str]:
    """Event ids under the pseudonym: each one its own, none readable back."""

    def rename(event: str) -> str:
        digest = hashlib.sha256("\x1f".join([pseudonym, event]).encode()).hexdigest()
        return f"{pseudonym}:{digest[:16]}"

    return rename


def anonymised(state: CustomerState, pseudonym: str, rename: Callable[[str], str]) -> CustomerState:
    """The state kept for the books: the open lots, renamed; nothing else (the store renames its
    ledger rows the same way)."""
    lots = [lot.model_copy(update={"event": rename(lot.event), "lines": []}) for lot in state.lots]
    pending = None if state.pending_lots is None else [rename_lot(lot, rename) for lot in state.pending_lots]
    return CustomerState(
        customer=pseudonym,
        lots=lots,
        pending_lots=pending,
        last_event_at=state.last_event_at,
    )
