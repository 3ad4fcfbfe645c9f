"""What the routes take and answer, as pydantic models: the OpenAPI schema is made from them.

The engine's own models are the source of truth and are used as they are: an event is the
engine's event (its JSON Schema, `Event`), a state is `CustomerState`, an outcome is `Outcome`. Two
models are derived from them rather than copied, so that a field added to the engine's models
shows here at once: `OutcomeSummary` is `Outcome` without its `state` (an event's answer carries
the balance instead of the whole state) and with its `trace` optional (answered when asked), and
`LedgerLine` is a `LedgerEntry` with its place in the store's order.

Bodies are read and answered with exact numbers (`jsonio`; an event's answer by `answers.py`):
money and points are JSON numbers written digit for digit, never binary floats, as the command
line's `--json` writes them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from rules_engine.engine import lot_points
from rules_engine.engine.outcome import Outcome, RuleTrace, TierProgress
from rules_engine.engine.trusted import trusted
from rules_engine.state.customer import CustomerState, LedgerEntry
from rules_engine.tools.adjustments import Adjustment
from rules_engine.tools.erasure import Erasure
from rules_engine.tools.voids import Void

Amount = Annotated[Decimal, WithJsonSchema({"type": "number"})]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


_SUMMARY_FIELDS: dict[str, Any] = {
    name: (info.annotation, info) for name, info in Outcome.model_fields.items() if name != "state"
}
_SUMMARY_FIELDS["trace"] = (
    list[RuleTrace],
    Field(
        default_factory=list,
        description="Every rule, in the order it was decided: only with `?trace=true` (absent otherwise).",
    ),
)
OutcomeSummary: type[BaseModel] = create_model(
    "OutcomeSummary",
    __config__=ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True),
    __doc__="The outcome of an event (`Outcome`) without the customer's state (see `balance`), and "
    "without its trace unless asked (`?trace=true`).",
    **_SUMMARY_FIELDS,
)


class Balance(Model):
    """A customer's points and tier as of their latest event (the engine never reads the clock)."""

    customer: str
    tier: str | None
    total: Amount
    """Every point in the customer's lots."""
    available: Amount
    """Spendable as of `as_of`."""
    pending: Amount
    """Not yet spendable (the pending period) as of `as_of`."""
    as_of: dt.datetime | None
    """The customer's latest event or housekeeping: what `available` and `pending` are measured at."""

    @classmethod
    def of(cls, state: CustomerState, customer: str) -> Balance:
        """The balance of a state: one pass over its lots (what `CustomerState.available` and
        `pending` count, each lot once), built without validation (`trusted`: every value is
        typed already; an event's answer builds one per request, 2.5 µs against 7.8 validated
        and 16 by pydantic's `model_construct`, timeit)."""
        total, available, pending, at = points_of(state)
        values = {
            "customer": customer,
            "tier": state.tier,
            "total": total,
            "available": available,
            "pending": pending,
            "as_of": at,
        }
        return trusted(cls, values, _BALANCE_FIELDS)


def points_of(state: CustomerState) -> tuple[Decimal, Decimal, Decimal, dt.datetime | None]:
    """A balance's numbers (`Balance.of`): total, available, pending, as of when. Apart from the
    model for the events answer, which writes them as text (http/answers.py) without making one.
    Read from what the engine keeps beside the lots (engine/lot_points.py: the total, and the
    lots known available), looking one by one only at those after them: not every lot of a
    long history at every answer."""
    at = state.last_event_at
    total, available, pending = lot_points.balance(state.lots, at)
    return total, available, pending, at


_BALANCE_FIELDS = set(Balance.model_fields)


class EventResult(Model):
    """What an event did, and the program version that decided it."""

    program: str
    version: int
    """The program version that decided (for a redelivery: the one that decided the first time)."""
    duplicate: bool
    """The event id was processed before: this is the original outcome, nothing was applied."""
    outcome: OutcomeSummary
    balance: Balance
    """The customer's balance now (after this event, or for a redelivery, after the latest)."""
    referrer: OutcomeSummary | None = None
    """The referrer's reward, when this event qualified a referral."""


DRY_RUN_SCHEMA = {
    "title": "DryRun",
    "description": "An event to decide without storing anything, against a given state or the stored one.",
    "type": "object",
    "properties": {
        "event": {"$ref": "#/components/schemas/Event", "description": "The event, as for `POST …/events`."},
        "state": {
            "anyOf": [{"$ref": "#/components/schemas/CustomerState"}, {"type": "null"}],
            "description": "The state to decide against; without it, the stored one (or a new customer's).",
        },
    },
    "required": ["event"],
    "additionalProperties": False,
}
"""`POST …/dry-run`'s body (read with exact numbers, so described here rather than by a model)."""


class DryRunResult(Model):
    program: str
    version: int
    outcome: Outcome
    """The whole outcome, with the state it would leave (so dry-runs chain), and with `explain`,
    every condition's values in `trace[].condition`."""


class Redemption(Model):
    """Points spent on a catalog item: a `redeem` event for the path's customer."""

    id: str = Field(min_length=1, max_length=200, examples=["red-20261208-0001"])
    """The redemption's id: a redelivery with the same id is answered with the original outcome."""
    item: str = Field(min_length=1, max_length=200, examples=["free-latte"])
    """The catalog item."""
    time: dt.datetime
    """When it happened, with its offset. Part of the payload: a redelivery repeats it (the
    same id at another time is another redemption reusing the id, refused: 409, RE443)."""


class AdjustmentRequest(Model):
    """A support desk's credit (points > 0) or debit (points < 0); the operator is the key's id."""

    id: str = Field(min_length=1, max_length=200, examples=["adj-2026-12-02-0001"])
    """The adjustment's id: a retry with the same id is answered with the original."""
    points: Amount
    reason: str = Field(min_length=1, max_length=500, examples=["order lost: coffee machine broken"])


class AdjustmentResult(Model):
    program: str
    version: int
    duplicate: bool
    """The id was applied before: this is the original adjustment, nothing was applied again."""
    adjustment: Adjustment
    balance: Balance


class VoidRequest(Model):
    """A support desk's void of one applied event; the operator is the key's id."""

    id: str = Field(min_length=1, max_length=200, examples=["void-2026-12-02-0001"])
    """The void's id: a retry with the same id is answered with the original."""
    event: str = Field(min_length=1, max_length=200, examples=["till-7-000123"])
    """The id of the event to void."""
    reason: str = Field(min_length=1, max_length=500, examples=["scanned twice"])


class VoidResult(Model):
    program: str
    version: int
    duplicate: bool
    """The id was applied before: this is the original void, nothing was applied again."""
    void: Void
    balance: Balance


class CodesRequest(Model):
    """Generate `count` unique codes for the path's coupon."""

    count: int = Field(ge=1, le=100_000, examples=[1000])
    prefix: str = Field(default="", max_length=32, pattern=r"^[A-Za-z0-9-]*$", examples=["XMAS-"])
    """Put before every code (letters, digits, '-')."""
    batch: str | None = Field(default=None, min_length=1, max_length=100, examples=["flyer-2026-12"])
    """A name for the batch (default: `batch-<time>`)."""


class CodesResult(Model):
    program: str
    coupon: str
    batch: str
    count: int
    codes: list[str]
    """The codes added."""


class ErasureResult(Model):
    program: str
    version: int
    erasure: Erasure


class CustomerView(Model):
    """What the store holds for one customer."""

    program: str
    version: int
    """The running program version."""
    balance: Balance
    tier_progress: TierProgress | None = None
    """The tier now (after any review due by now), the metric over the window ending now, the
    next level and how much is missing; null when the program has no tiers."""
    state: CustomerState
    """The whole state: lots with their expiry, coupons, badges, challenge, quest and streak progress."""


class LedgerLine(LedgerEntry):
    """A ledger entry as the store keeps it, with its place in the store's order."""

    seq: int
    """Order of writing, across all customers: `after` of the next page."""


class LedgerPage(Model):
    program: str
    customer: str
    entries: list[LedgerLine]
    next_after: int | None
    """Pass as `after` for the next page; null on the last page."""


class ProgramInfo(Model):
    program: str
    name: str | None
    version: int
    """The running version: the one that decides every event from now on."""
    digest: str
    """`sha256:<hex>` of the program file's text."""
    loaded_at: dt.datetime


class ProgramList(Model):
    programs: list[ProgramInfo]


class CatalogItemView(Model):
    """A catalog item with its program-wide stock as the store counts it."""

    id: str
    name: str
    cost: Amount
    """Points it costs."""
    stock: int | None
    """How many can be redeemed in all; null: no limit."""
    redeemed: int
    """How many were redeemed so far (voided redemptions given back)."""
    remaining: int | None
    """How many are left (never below 0); null: no limit."""


class CatalogView(Model):
    program: str
    version: int
    items: list[CatalogItemView]


class Uploaded(Model):
    """A program upload that was taken (or changed nothing: the same text as the running one)."""

    replaced: bool
    """False when the upload is the running text itself."""
    program: ProgramInfo
    warnings: list[dict[str, Any]]
    """The program's warnings (lints: line, column, code, hint); they do not stop an upload."""


class Health(Model):
    status: str = Field(examples=["ok"])
