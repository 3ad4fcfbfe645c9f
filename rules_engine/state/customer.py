"""A customer's state snapshot: balances as lots, cap counters, coupons, profile, history.

The engine is a pure function of (program, state, event); this is the state part. It travels as
JSON (numbers exact) between a service and the engine, and comes back updated in every Outcome.
An absent state means a new customer. Points live in lots — one per award — so that pending
periods, first-in first-out expiry and exact reversal of returns can be computed later.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticError

from rules_engine.errors import StateError, diagnostics_from_pydantic, shown
from rules_engine.zones import zone_named

Amount = Annotated[Decimal, WithJsonSchema({"type": "number"})]


def _listed(value: Any) -> Any:
    """A state's long list dumped as the list it stands for: a `SharedList` (state/shared.py), or
    a lot's `LotLines` (state/lot_lines.py: made when first read), is read as one; a plain list
    goes through as it is (its elements dumped as the list's type says)."""
    return value if type(value) is list else list(value)


def _long(items: Any) -> PlainSerializer:
    """The serializer of a state's long list of `items`. Such a list may be held as a `SharedList`
    (the elements of a storage shared with the customer's earlier states, state/shared.py): it is
    validated as a list (a state read or made by hand holds plain lists) and dumped as one (the
    same JSON, the same JSON Schema)."""
    return PlainSerializer(_listed, return_type=list[items], when_used="always")


class StateModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class LotLine(StateModel):
    """The part of an award one basket line earned, kept so a return can reverse exactly it."""

    line: int
    """Index of the line in the purchase."""
    sku: str
    """Its product code."""
    qty: Amount
    """The quantity bought on that line."""
    points: Amount
    """The points that line earned from this award."""


class Lot(StateModel):
    """Points from one award: which event and rule gave them, when they become spendable."""

    @property
    def id(self) -> str:
        """How ledger entries name the lot."""
        return f"{self.event}/{self.rule}"

    event: str
    """The event that earned them."""
    rule: str
    """The rule that gave them."""
    points: Amount
    """How many points are left in the lot."""
    earned_at: dt.datetime
    """When they were earned."""
    available_at: dt.datetime
    """From when they can be spent (after the pending period)."""
    expires_at: dt.datetime | None = None
    """When they expire, if the program expires points."""
    lines: Annotated[list[LotLine], _long(LotLine)] = Field(default_factory=list)
    """Which basket lines earned them (for returns)."""


class LedgerLine(StateModel):
    """The part of a ledger entry's points one basket line stands for."""

    line: int
    """Index of the line in the purchase."""
    points: Amount
    """Its part, signed as the entry's points."""


class LedgerEntry(StateModel):
    """One change of the points balance: which event, rule and lot, how many, and why.

    An event's entries are its outcome's (`Outcome.ledger`), not the state's; a store keeps them
    all in its ledger table. Invariant: the points in a customer's lots always equal the sum of
    every entry their events made.
    """

    event: str
    """The event that caused the change (or `advance:<time>` for housekeeping)."""
    rule: str
    """The rule, catalog item or mechanic responsible."""
    kind: Literal["earn", "burn", "expire", "reverse", "adjust"]
    """What happened: points earned, spent, expired, reversed by a return, or adjusted."""
    points: Amount
    """Signed: positive for earn, negative for burn, expire and reverse."""
    lot: str
    """The lot the points belong to (`<event>/<rule>`)."""
    at: dt.datetime
    """When (the event's time)."""
    version: int = 0
    """The program version that decided it."""
    rule_hash: str | None = None
    """A hash of the rule as it was when it gave the points (earn entries), so a later change of
    the rule is visible in the books even when the version number was not raised."""
    lines: tuple[LedgerLine, ...] = ()
    """The basket lines the points belong to, each with its part (the parts add up to `points`):
    the lines of the event that earned them (earn), or the returned lines of the original
    purchase (reverse). One entry per award, whatever its number of lines. Empty when the change
    is not the lines': a reward for the basket or the customer as a whole, a redemption, an
    expiry, points a return takes from other lots."""

    @model_validator(mode="before")
    @classmethod
    def _one_line(cls, data: Any) -> Any:
        """An entry written before entries held their lines names one line (`"line": 3`): that line
        with the entry's points."""
        if isinstance(data, dict) and "line" in data:
            data = dict(data)
            line = data.pop("line")
            if line is not None and "lines" not in data:
                data["lines"] = [{"line": line, "points": data.get("points")}]
        return data


class Activity(StateModel):
    """What one event added to the tier metrics (kept for the length of the tier window)."""

    event: str
    """The event."""
    at: dt.datetime
    """When."""
    spend: Amount = Decimal(0)
    """Money spent (after discounts, returns subtract)."""
    points: Amount = Decimal(0)
    """Points earned."""
    visits: int = 0
    """1 for a purchase."""
    paid: list[Amount] = Field(default_factory=list)
    """What each line of the purchase was paid after discounts (for returns)."""
    qty: list[Amount] = Field(default_factory=list)
    """The quantity of each line (for partial returns)."""


class ActivitySums(StateModel):
    """The activity at or after `start`, added up: the tier metric as running sums."""

    start: dt.datetime | None = None
    """The start of the tier window at the latest event (null: the whole activity)."""
    spend: Amount = Decimal(0)
    """Money spent in it."""
    points: Amount = Decimal(0)
    """Points earned in it."""
    visits: int = 0
    """Purchases in it."""


class IssuedCoupon(StateModel):
    code: str
    """The code the customer presents."""
    coupon: str
    """The coupon definition's id in the program."""
    issued_at: dt.datetime
    """When it was issued."""
    expires_at: dt.datetime
    """Last moment it can be used."""
    used_in: str | None = None
    """The purchase that used it (single-use coupons)."""


class PastLine(StateModel):
    """A line of an earlier purchase, for `customer.purchases` and to check returns against."""

    sku: str
    category: str | None = None
    price: Amount
    qty: Amount
    date: dt.date
    event: str | None = None
    """The purchase's event id (None in states written before it was kept)."""


class OlderPurchases(StateModel):
    """What the state no longer keeps of earlier purchases (docs/engine.md, "The bounded state")."""

    lines: int = Field(default=0, ge=0)
    """How many lines they had: `len(customer.purchases)` counts them."""
    until: dt.date
    """The local date of the latest of them: the state holds every purchase's lines after it."""


class Profile(StateModel):
    """What the customer told us: tags, dates, custom attributes."""

    tags: list[str] = Field(default_factory=list)
    """Marketing tags, e.g. vip."""
    signup_date: dt.date | None = None
    """When they joined."""
    birthday: dt.date | None = None
    """Date of birth."""
    attributes: dict[str, Any] = Field(default_factory=dict)
    """Custom attributes the program declares under attributes.customer."""
    timezone: str | None = None
    """The customer's IANA time zone (from a signup), for quiet hours; null: the program's."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        """A state from elsewhere may name a zone this machine does not know: refused (RE420) on
        loading, rather than failing at the first quiet-hours check."""
        if value is None:
            return value
        if zone_named(value) is None:
            unknown = f"unknown time zone `{shown(value)}`; use an IANA name such as Europe/Berlin"
            raise ValueError(unknown)
        return value


class DeferredMessage(StateModel):
    """A notification waiting for quiet hours to end or the frequency cap to allow it."""

    rule: str
    """The rule or mechanic that sends it (`offer:lens`, `notifications:points_expiring`)."""
    channel: str
    """How it is sent."""
    template: str
    """The message template id."""
    due_at: dt.datetime
    """When it was meant to go out (the event that caused it)."""
    send_at: dt.datetime
    """When it goes out: the first event or `advance` at or after this moment sends it."""


class TenderedLine(StateModel):
    """The points that paid for one line of a purchase (`paid_with_points`)."""

    line: int
    """Index of the line in the purchase."""
    qty: Amount
    """The quantity bought."""
    points: Amount
    """The points its part of `paid_with_points` burnt."""


class Tendered(StateModel):
    """What a purchase paid with points: given back, line by line, when its lines are returned."""

    at: dt.datetime
    """When the purchase was made."""
    points: Amount
    """The points burnt."""
    lines: list[TenderedLine] = Field(default_factory=list)
    """How they are split across the purchase's lines (in proportion to what each line cost)."""


class CountedLine(StateModel):
    """One line of a purchase a challenge counted: what it added, and how much of it came back."""

    line: int
    """Index of the line in the purchase."""
    sku: str
    """Its product code (a return names lines by sku)."""
    qty: Amount
    """The quantity bought."""
    added: Amount = Decimal(0)
    """What the line added to the progress (0 when the purchase's part cannot be split by line)."""
    returned: Amount = Decimal(0)
    """How much of `qty` has been returned."""


class CountedPurchase(StateModel):
    """What one purchase added to a challenge in the current window, for a return to take back."""

    added: Amount
    """What the purchase added to the progress."""
    by_line: bool = True
    """Whether `added` is the sum of the lines' parts (`counts` is a count or a sum over the
    basket's lines). If not, it is taken back whole once every line has come back."""
    lines: list[CountedLine] = Field(default_factory=list)
    """The purchase's lines."""


class ChallengeProgress(StateModel):
    """Where a customer stands in one challenge: the current window and what it has counted."""

    window: str
    """The current window: `2026-12-05` (day), `2026-W49` (ISO week), `2026-12` (month),
    `2026-Q4`, `2026` (year), `lifetime`, or for a rolling window the local moment it started."""
    progress: Amount = Decimal(0)
    """What the counted events added up to in the current window."""
    completed: list[str] = Field(default_factory=list)
    """The first and the latest windows in which the goal was reached (and the reward given),
    oldest first: only those two are read, so the list stays at two however many windows the
    customer completes."""
    counted: dict[str, CountedPurchase] = Field(default_factory=dict)
    """The purchases counted in the current window, by event id: what their lines added, so a
    return can take it back."""


class QuestProgress(StateModel):
    """Where a customer stands in one quest: the current attempt's steps."""

    started_at: dt.datetime | None = None
    """When the current attempt's first step was done; the time limit runs from here."""
    done: list[int] = Field(default_factory=list)
    """Indexes of the steps done in the current attempt, in the order they were done."""
    completed: bool = False
    """Whether the quest was finished (and rewarded); it is rewarded once."""


class StreakProgress(StateModel):
    """Where a customer stands in one streak: the last period counted and the run's length."""

    last: str
    """The last period with a counted event: `2026-12-05` (days) or `2026-W49` (ISO weeks)."""
    length: int = Field(default=0, ge=0)
    """Consecutive periods with an event in the current run, ending at `last`."""
    given: list[int] = Field(default_factory=list)
    """Lengths of the milestones already rewarded in this run (with `repeat`, in this round)."""


class CustomerState(StateModel):
    """Everything the engine knows about one customer."""

    customer: str | None = None
    """Customer id; filled in by the first event."""
    tier: str | None = None
    """Current tier id."""
    profile: Profile = Field(default_factory=Profile)
    """Profile data."""
    lots: Annotated[list[Lot], _long(Lot)] = Field(default_factory=list)
    """Points, one lot per award, in expiry order (the soonest to expire first; lots that never
    expire last; lots expiring together in the order they were earned): expiry reads only the
    lots that are due."""
    pending_lots: list[str] | None = None
    """The lots (`<event>/<rule>`) still pending at the latest event:
    what becomes available next is read from here, not from every lot. Null in a state written
    before it was kept: the next event puts the lots in order and fills it in."""
    counters: dict[str, dict[str, Amount]] = Field(default_factory=dict)
    """Points given per rule and period, for caps: {"pastry-bonus": {"day:2026-12-05": 15}}."""
    coupons: list[IssuedCoupon] = Field(default_factory=list)
    """Coupons issued to the customer."""
    purchases: Annotated[list[PastLine], _long(PastLine)] = Field(default_factory=list)
    """Lines of earlier purchases, oldest first: all of them if the program reads them, else
    those a return may still need (docs/engine.md, "The bounded state")."""
    older_purchases: OlderPurchases | None = None
    """What is no longer kept of the earlier purchases' lines; null when nothing was left out."""
    visits: int = Field(default=0, ge=0)
    """How many purchases the customer made."""
    badges: list[str] = Field(default_factory=list)
    """Badges earned."""
    tier_since: dt.datetime | None = None
    """When the current tier was reached."""
    activity: Annotated[list[Activity], _long(Activity)] = Field(default_factory=list)
    """Tier metrics per event, in time order, for as long as a tier or leaderboard window can
    need them."""
    activity_sums: ActivitySums | None = None
    """The tier metric's running sums: the activity from the tier window's start at the latest
    event on. Null in a state written before they were kept (added up at the next event)."""
    returned: dict[str, dict[str, Amount]] = Field(default_factory=dict)
    """Quantities already returned, per purchase and line: {"evt-1": {"0": 1}}."""
    last_event_at: dt.datetime | None = None
    """The time of the latest event processed, to report what time did since."""
    challenges: dict[str, ChallengeProgress] = Field(default_factory=dict)
    """Progress in each challenge, by the challenge's id."""
    quests: dict[str, QuestProgress] = Field(default_factory=dict)
    """Progress in each quest, by the quest's id."""
    streaks: dict[str, StreakProgress] = Field(default_factory=dict)
    """Each streak's current run, by the streak's id."""
    tendered: dict[str, Tendered] = Field(default_factory=dict)
    """Purchases paid in part with points, by event id, while a return can still give them back."""
    birthday_rewarded: int | None = None
    """The year of the latest birthday the program's `birthday` reward was given for."""
    signed_up_at: dt.datetime | None = None
    """When the customer's `signup` event happened (the first one seen)."""
    referred_with: str | None = None
    """The referral code given at signup (the referrer's code), if any."""
    referral_qualified_at: dt.datetime | None = None
    """When the referred customer's qualifying purchase happened (both sides were rewarded)."""
    offers: dict[str, list[dt.datetime]] = Field(default_factory=dict)
    """When each offer was issued to the customer, by the offer's id."""
    notified: list[dt.datetime] = Field(default_factory=list)
    """When notifications were sent, for the frequency cap: only those within the cap's period,
    and none when the program has no cap (nothing reads them then: a state must not grow with
    every message ever sent)."""
    deferred: list[DeferredMessage] = Field(default_factory=list)
    """Notifications waiting to go out (quiet hours, the frequency cap), in sending order; at most
    `MAX_DEFERRED` (mechanics/deferred.py)."""
    reminded: list[str] = Field(default_factory=list)
    """Lots (`<event>/<rule>`) the customer was already reminded will expire."""
    entries: dict[str, int] = Field(default_factory=dict)
    """Prize draw entries collected, per draw id."""
    processed: Annotated[list[str], _long(str)] = Field(default_factory=list)
    """Ids of the latest events applied (up to 1,000), so a redelivered event is not applied twice."""
    referrals_rewarded: list[dt.datetime] = Field(default_factory=list)
    """When this customer was rewarded as a referrer (for the referral `limit` and `velocity`)."""
    fingerprints: dict[str, list[str]] = Field(default_factory=dict)
    """The latest distinct `device`, `payment` and `household` fingerprints of the customer's
    events (5 of each, newest last), kept when the referral's fraud checks read them."""

    def available(self, moment: dt.datetime) -> Decimal:
        """Points that can be spent at a moment: available and not expired."""
        return sum(
            (
                lot.points
                for lot in self.lots
                if lot.available_at <= moment and (lot.expires_at is None or moment < lot.expires_at)
            ),
            Decimal(0),
        )

    def pending(self, moment: dt.datetime) -> Decimal:
        return sum((lot.points for lot in self.lots if lot.available_at > moment), Decimal(0))


def parse_state(data: Any) -> CustomerState:
    """Validate a state snapshot (JSON-like mapping); None means a new customer."""
    if data is None:
        return CustomerState()
    if isinstance(data, CustomerState):
        return data
    if isinstance(data, dict) and "ledger" in data:
        # A state written before the ledger left it (`"ledger": [...]`) loads as the same state
        # without it: the entries are history, which the outcome that made each one
        # (`Outcome.ledger`) and a store's ledger table hold. Here, not in a model validator: a
        # Python validator on the model would make every `model_validate_json` of a state (each
        # store read) go through Python objects, 1.7x slower.
        data = {key: value for key, value in data.items() if key != "ledger"}
    try:
        return CustomerState.model_validate(data)
    except PydanticError as error:
        problems = diagnostics_from_pydantic(
            error, "RE420", data=data, root="state", hint="check the state snapshot"
        )
        raise StateError(problems) from None
