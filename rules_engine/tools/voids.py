"""Voiding a mistaken event: undo exactly what one applied event did, as new ledger entries that
name it, or refuse and say why.

The store keeps each event's outcome (without state), its ledger entries and the customer's
current state, not the state before it; a void is worked out from those, never by guessing:

- **points**: every lot the event earned (`<event>/<rule>`) is reversed whole (ledger kind
  `reverse`, `event` the void's id, `rule` `void:<event>`); points a redemption burnt go back to
  the lots they came from (kind `burn`, positive; a lot that left the state opens again, expiring
  by the running version's `expire_after`, the one the void names: the store keeps neither a gone
  lot's expiry nor an older version's text), and those of a lot already past its day expire at
  once, after it (kind `expire`, the void's id and moment). A lot that later events spent,
  expired or reversed in part cannot be taken back whole: refused, naming those events;
- **tier progress**: the event's activity leaves the tier metric and its visit the count (a
  purchase told by its activity, its lines, or once both left the state by its outcome); a tier
  change it made is undone when no later event stands after it (later events were decided in the
  new tier: refused, naming them; events voided since and adjustments do not count), the tier
  before held since an earlier event reached it, or since the event when none did (a review
  reached it, or an import);
- **challenges**: what the event counted comes off the progress; a completion it made is undone
  while its window is open; a completion a later event made with its help is refused, and so is
  one the event made that later purchases counted in after (unrecorded: traced `capped`) until
  every one of them is voided (what they counted then comes off with it);
- **quests**: the step an ordered quest's event did, every step of an attempt the event started;
  refused when a later event did steps of the same quest, or when the steps of an unordered quest
  cannot be told apart (an earlier event at its very moment did steps of the attempt too);
- **coupons** it issued are withdrawn (refused when a later purchase used one, naming it); coupons
  it used are usable again; **badges** it awarded are withdrawn; **draw entries** taken back; the
  catalog item a redemption took goes back to its `stock` (`stock_restored`, by `Loyalty.void`);
- **birthday**: a birthday reward it gave leaves its year open again (the next event in the window
  gives it); **referrals**: the code a signup recorded is withdrawn (no later purchase qualifies it);
  refused once a later purchase qualified it;
- refused outright: a return, also one that took back no points (its reversals are other events'
  points, and its tier spend and challenge progress taken back would count again: void the
  purchase or adjust), a referrer's reward or a referral the event qualified (another customer's
  points), an event that counted in a streak (a run cannot be rewound), an event voided before.

What a void does not undo, by design, it says in `kept`: notifications sent, offers shown, cap
counters and budgets spent (a void never lets a customer earn past a cap), expiries that fell due
while the event was processed. The voided event's id stays applied: delivering it again is a
duplicate, not a new event. `Loyalty.void` stores it in one transaction, exactly once by its id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from rules_engine.engine.lifecycle import expired, with_lot
from rules_engine.engine.mechanics.challenges import still_added
from rules_engine.engine.outcome import Outcome
from rules_engine.errors import Diagnostic, EventError
from rules_engine.program.model import Program
from rules_engine.state.customer import (
    ActivitySums,
    ChallengeProgress,
    CustomerState,
    LedgerEntry,
    Lot,
    QuestProgress,
)
from rules_engine.tools.adjustments import Amount

ZERO = Decimal(0)
KEPT = (
    "notifications sent",
    "offers shown",
    "cap counters and budgets spent",
    "expiries that fell due when the event was processed",
)
_COUNTED = ("fired", "nothing_eligible")  # trace codes of a mechanic the event moved on
_DEBIT_INSTEAD = "debit the points it earned (its ledger entries) with an adjustment instead"
"""What the desk can do when a completion cannot be taken back: an adjustment takes the points,
while the challenge stays completed (no operation but a void un-completes a window)."""
PROCESSED_KEPT = 1000


class Void(BaseModel):
    """One void as it is asked for and, once applied, kept (with what it undid)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    id: str = Field(min_length=1, max_length=200, examples=["void-2026-12-02-0001"])
    """Its id: a retry with the same id is answered with the original, nothing applied twice."""
    customer: str = Field(min_length=1)
    voided: str = Field(min_length=1, max_length=200, examples=["till-7-000123"])
    """The id of the event it voids."""
    reason: str = Field(min_length=1, max_length=500, examples=["scanned twice"])
    """Why, in words: kept with the void for the books and the desk."""
    operator: str = Field(min_length=1, max_length=200)
    """Who did it: the API key's id, or the person at the command line."""
    at: dt.datetime
    """When it was booked."""
    version: int = 0
    """The program version running then."""
    entries: list[LedgerEntry] = Field(default_factory=list)
    """The ledger entries it made: `reverse` for the points the event earned, `burn` (positive)
    for the points a redemption spent, given back, and `expire` for those given back to a lot past
    its day."""
    points: Amount = ZERO
    """The change of the customer's points: minus what the event earned, plus what it spent and
    did not expire at once."""
    tier: str | None = None
    """The tier the customer is in after it."""
    coupons_withdrawn: list[str] = Field(default_factory=list)
    coupons_restored: list[str] = Field(default_factory=list)
    """Coupon codes the event used, usable again."""
    badges_withdrawn: list[str] = Field(default_factory=list)
    referral_withdrawn: str | None = None
    """The referral code a voided signup recorded, withdrawn: no purchase qualifies it now."""
    stock_restored: list[str] = Field(default_factory=list)
    """Catalog items a voided redemption took, given back to their program-wide `stock`."""
    challenges: list[str] = Field(default_factory=list)
    """Challenges whose progress it took back."""
    quests: list[str] = Field(default_factory=list)
    """Quests whose steps it took back."""
    kept: list[str] = Field(default_factory=lambda: list(KEPT))
    """What a void leaves as it is, by design."""

    def digest(self) -> str:
        """What makes a retry the same void: customer, voided event, reason and operator."""
        text = "\x1f".join([self.customer, self.voided, self.reason, self.operator])
        return "void:" + hashlib.sha256(text.encode()).hexdigest()


def is_void(stored: dict[str, Any]) -> bool:
    """Whether an event row's stored outcome is a void's record."""
    return "voided" in stored and "operator" in stored


def moved_a_quest(outcome: Outcome) -> bool:
    """Whether the event did steps of a quest: its void then needs the earlier events at its
    moment (`apply_void`'s `alongside`)."""
    return any(t.kind == "quest" and t.code in _COUNTED for t in outcome.trace)


def _a_purchase(outcome: Outcome, program: Program) -> bool | None:
    """Whether the event of `outcome` was a purchase, from the outcome alone (the state keeps no
    event's type): a basket, or an earn rule only purchases earn by traced as the right event or
    not; None when nothing tells (a free basket in a program whose rules all earn on other events
    too)."""
    if outcome.totals.basket:
        return True
    only = {rule.id for rule in program.earn if rule.on == ["purchase"]}
    wrong = {t.code == "wrong_event" for t in outcome.trace if t.kind == "earn" and t.rule in only}
    return False in wrong if wrong else None


class _Refusals:
    def __init__(self, void: Void) -> None:
        self.void = void
        self.problems: list[Diagnostic] = []

    def add(self, what: str, hint: str) -> None:
        message = f"void {self.void.id}: event {self.void.voided} cannot be voided: {what}"
        self.problems.append(Diagnostic("RE446", message, hint=hint, path=("event",)))


def apply_void(
    state: CustomerState,
    void: Void,
    original: Outcome,
    later: Sequence[tuple[str, dict[str, Any]]],
    ledger: Sequence[LedgerEntry],
    program: Program,
    *,
    event_at: dt.datetime | None = None,
    tier_since: dt.datetime | None = None,
    alongside: Sequence[dict[str, Any]] = (),
) -> tuple[CustomerState, Void]:
    """The state after voiding `original` (the event's stored outcome) and the void as applied.

    Args:
        state: the customer's state now (time passed up to the void's moment).
        later: the events applied after it, oldest first: (id, stored outcome as JSON data).
        ledger: the customer's ledger entries, oldest first (the store's).
        event_at: the voided event's time, as the store kept it.
        tier_since: when the tier the event left was reached (read from earlier outcomes).
        alongside: the stored outcomes of the earlier events at the event's own moment: an
            attempt that started then was started by the event only if none of them moved it.

    Raises:
        EventError: RE446 with every reason the event cannot be voided; nothing changed.
    """
    refuse = _Refusals(void)
    event = original.event
    effects = original.effects
    for name, data in later:
        if is_void(data) and data.get("voided") == event:
            refuse.add(f"void {name} voided it before", "nothing to do: it was voided already")
    kinds = {trace.kind for trace in original.trace}
    # a return says so in its trace, also one that took back no points (the lines earned none, the
    # window had closed): its tier spend and challenge progress taken back are not undone either
    if "return" in kinds or any(entry.event == event and entry.kind == "reverse" for entry in ledger):
        refuse.add("it is a return", "void the purchase instead, or adjust the points")
    if "referral" in kinds and any(t.kind == "referral" and t.fired for t in original.trace):
        refuse.add(
            "it qualified a referral or rewarded a referrer (another customer's points)",
            "adjust the points of both customers instead",
        )
    if effects.referral_owed is not None:
        refuse.add("it qualified a referral (the referrer's reward)", "adjust both customers instead")
    referred = state.referred_with if _recorded_a_referral(original) else None
    if referred is not None and state.referral_qualified_at is not None:
        refuse.add(
            f"the referral it recorded ({referred}) was qualified by a later purchase",
            "adjust the points of both customers instead",
        )
    for trace in original.trace:
        if trace.kind == "streak" and trace.code in _COUNTED:
            refuse.add(
                f"it counted in {trace.rule}, and a run cannot be rewound", "adjust the points instead"
            )
    if event in state.returned:
        refuse.add("a later return took some of it back", "void or adjust the return's points first")

    # -- points: lots the event earned, points it burnt -------------------------------------------------
    entries: list[LedgerEntry] = []
    lots = {lot.id: lot for lot in state.lots}
    removed: set[str] = set()
    changed: dict[str, Lot] = {}
    added: list[Lot] = []
    earned: dict[str, Decimal] = {}
    burnt: dict[str, Decimal] = {}
    first_earned: dict[str, LedgerEntry] = {}
    for entry in ledger:
        first_earned.setdefault(entry.lot, entry)
        if entry.event != event:
            continue
        if entry.kind == "earn":
            earned[entry.lot] = earned.get(entry.lot, ZERO) + entry.points
        elif entry.kind == "burn":
            burnt[entry.lot] = burnt.get(entry.lot, ZERO) - entry.points
    rule = f"void:{event}"

    def book(
        kind: str, points: Decimal, lot: str, lines: Any = (), *, rule: str = rule, at: dt.datetime = void.at
    ) -> None:
        entries.append(
            LedgerEntry(
                event=void.id,
                rule=rule,
                kind=kind,
                points=points,
                lot=lot,
                at=at,
                version=void.version,
                lines=lines,
            )
        )

    for lot_id, points in earned.items():
        lot = lots.get(lot_id)
        others = sorted({e.event for e in ledger if e.lot == lot_id and e.event != event})
        if lot is None or lot.points != points or others:
            spent = ", ".join(others) or "the points left the lot"
            refuse.add(
                f"{points} points of lot {lot_id} were spent, expired or reversed since ({spent})",
                "void or adjust what used them first, or adjust these points by hand",
            )
            continue
        removed.add(lot_id)
        earn_lines = next((e.lines for e in ledger if e.lot == lot_id and e.kind == "earn"), ())
        negated = tuple(part.model_copy(update={"points": -part.points}) for part in earn_lines)
        book("reverse", -points, lot_id, negated)
    expire_after = program.points.expire_after
    for lot_id, points in burnt.items():
        lot = lots.get(lot_id)
        if lot is not None:
            changed[lot_id] = lot.model_copy(update={"points": lot.points + points})
        else:  # emptied by the redemption: opened again as it was earned
            first = first_earned.get(lot_id)
            # in the void's offset: a store reads its ledger's times back in its own (SQLite's in
            # UTC), and the lot's times must not depend on the store that kept them
            earned_at = first.at.astimezone(void.at.tzinfo) if first is not None else void.at
            event_id, _, rule_id = lot_id.partition("/")
            expires = None if expire_after is None else earned_at + expire_after
            added.append(
                Lot(
                    event=event_id,
                    rule=rule_id,
                    points=points,
                    earned_at=earned_at,
                    available_at=earned_at,
                    expires_at=expires,
                )
            )
        book("burn", points, lot_id)

    # -- coupons and badges ------------------------------------------------------------------------------
    issued = {coupon.code for coupon in effects.coupons_issued}
    coupons = []
    withdrawn, restored = [], []
    for coupon in state.coupons:
        if coupon.code in issued:
            if coupon.used_in is not None:
                refuse.add(
                    f"coupon {coupon.code} it issued was used by event {coupon.used_in}",
                    "void that event first",
                )
            withdrawn.append(coupon.code)
            continue
        if coupon.used_in == event and coupon.code in effects.coupons_redeemed:
            coupon = coupon.model_copy(update={"used_in": None})
            restored.append(coupon.code)
        coupons.append(coupon)
    awarded = {badge.badge for badge in effects.badges}
    badges = [badge for badge in state.badges if badge not in awarded]

    # -- tier progress -------------------------------------------------------------------------------------
    activity = [entry for entry in state.activity if entry.event != event]
    gone = [done for done in state.activity if done.event == event]
    sums = state.activity_sums
    if sums is not None:
        for done in gone:
            if sums.start is None or done.at >= sums.start:
                sums = ActivitySums(
                    start=sums.start,
                    spend=sums.spend - done.spend,
                    points=sums.points - done.points,
                    visits=sums.visits - done.visits,
                )
    # its visit: from its activity, which a program without tiers or leaderboards keeps none of,
    # else from its lines among the purchases (kept while a return can name it), else, once they
    # may have left too, from its outcome
    if gone:
        visits = state.visits - sum(done.visits for done in gone)
    elif any(line.event == event for line in state.purchases):
        visits = state.visits - 1
    else:
        older = state.older_purchases
        zone = ZoneInfo(program.timezone)
        left = older is not None and (event_at is None or event_at.astimezone(zone).date() <= older.until)
        bought = _a_purchase(original, program) if left else False
        if bought is None:
            refuse.add(
                "whether it was a purchase (a visit) cannot be told: its lines and activity left the state",
                "adjust its points by hand instead (its visit stays counted)",
            )
        visits = state.visits - bool(bought)
    tier, since = state.tier, state.tier_since
    # the later events that stand: what a void undid no longer depends on this one's tier or
    # progress (an adjustment, never among them, depends on no tier)
    voided_since = {data.get("voided") for _, data in later if is_void(data)}
    decided = [name for name, data in later if not is_void(data) and name not in voided_since]
    if effects.tier_changes:
        if decided:
            refuse.add(
                f"it changed the tier ({effects.tier_changes[0].old} → {effects.tier_changes[-1].new}) and "
                f"later events were decided in the new tier ({', '.join(decided)})",
                "void the later events first, or adjust the points by hand",
            )
        tier, since = effects.tier_changes[0].old, tier_since
        if since is None and tier is not None:
            # no earlier outcome says when the tier was reached (a review by `advance`, an imported
            # state): held since the event at the latest, so that it is reviewed, never kept for ever
            since = event_at
        if since is not None:  # a store's time, in the void's offset as the lots it opens again
            since = since.astimezone(void.at.tzinfo)
    for name, data in later:
        if (
            not is_void(data)
            and name not in voided_since
            and data.get("effects", {}).get("tier_changes")
            and gone
        ):
            refuse.add(f"event {name} changed the tier with its progress", "void the later events first")

    # -- challenges and quests ------------------------------------------------------------------------
    later_traces = {
        (t["rule"], name)
        for name, data in later
        if not is_void(data)
        for t in data.get("trace", ())
        if t.get("code") in _COUNTED
    }
    moved_before = {
        t["rule"] for data in alongside for t in data.get("trace", ()) if t.get("code") in _COUNTED
    }
    later_capped = {
        (t["rule"], name)
        for name, data in later
        if not is_void(data)
        for t in data.get("trace", ())
        if t.get("code") == "capped"
    }
    fired = {t.rule for t in original.trace if t.code == "fired"}
    moved = {t.rule for t in original.trace if t.code in _COUNTED}
    challenges = dict(state.challenges)
    taken_back: list[str] = []
    goals = {c.id: c.goal for c in program.challenges}
    for challenge_id, progress in state.challenges.items():
        rule_id = f"challenge:{challenge_id}"
        counted = progress.counted.get(event)
        if counted is None:
            if rule_id in fired:
                refuse.add(
                    f"the window of {rule_id} it completed has closed",
                    f"{_DEBIT_INSTEAD}; the closed window stays completed, which limits nothing now",
                )
            continue
        after = progress.progress - counted.added
        completed = list(progress.completed)
        if progress.window in completed and rule_id in fired:
            # purchases after the completion add to the progress unrecorded (traced `capped`): had
            # the event not come, they would have counted, one of them perhaps completing it
            recorded = sum(map(still_added, progress.counted.values()), ZERO)
            capped = {name for r, name in later_capped if r == rule_id}
            standing = ", ".join(sorted(capped - voided_since))
            if recorded != progress.progress and (standing or not capped):
                refuse.add(
                    f"{rule_id}, which it completed, counted more after it, unrecorded "
                    f"({standing or 'by events no longer known, or imported'})",
                    f"void {standing} first; should one be a return, which cannot be voided: "
                    f"{_DEBIT_INSTEAD}, the challenge staying completed for this window"
                    if standing
                    else f"{_DEBIT_INSTEAD}; the challenge stays completed for this window",
                )
            # what counted unrecorded came from events voided since: it comes off with the event's
            after -= progress.progress - recorded
            completed.remove(progress.window)
        elif progress.window in completed and after < goals.get(challenge_id, ZERO):
            by = sorted(name for r, name in later_traces if r == rule_id)
            refuse.add(
                f"{rule_id} was completed later ({', '.join(by) or 'by a later event'}) with its progress",
                "void the completing event first",
            )
        counts = {k: v for k, v in progress.counted.items() if k != event}
        challenges[challenge_id] = ChallengeProgress(
            window=progress.window, progress=after, completed=completed, counted=counts
        )
        taken_back.append(challenge_id)
    quests = dict(state.quests)
    quests_back: list[str] = []
    ordered = {q.id: q.ordered for q in program.quests}
    for quest_id, attempt in state.quests.items():
        rule_id = f"quest:{quest_id}"
        if rule_id not in moved:
            continue
        by = sorted(name for r, name in later_traces if r == rule_id)
        if by:
            refuse.add(f"later events did steps of {rule_id} ({', '.join(by)})", "void those first")
            continue
        if attempt.started_at is not None and attempt.started_at == event_at and rule_id not in moved_before:
            quests[quest_id] = QuestProgress()
        elif ordered.get(quest_id, True) and attempt.done:
            quests[quest_id] = QuestProgress(started_at=attempt.started_at, done=attempt.done[:-1])
        else:
            refuse.add(
                f"the steps {rule_id} counted for it cannot be told from the earlier events'",
                "adjust the points instead",
            )
            continue
        quests_back.append(quest_id)

    birthday = state.birthday_rewarded  # a reward it gave: its year open again, unless a later
    later_birthday = any(  # event (standing) gave a later year's, which stays given
        t.get("rule") == "birthday" and t.get("fired")
        for name, data in later
        if not is_void(data) and name not in voided_since
        for t in data.get("trace", ())
    )
    if (
        birthday is not None
        and not later_birthday
        and any(t.rule == "birthday" and t.fired for t in original.trace)
    ):
        birthday -= 1

    entries_left = dict(state.entries)
    closes = {draw.id: draw.closes for draw in program.draws}
    day = None if event_at is None else event_at.astimezone(ZoneInfo(program.timezone)).date()
    for drawn in effects.draw_entries:
        if day is not None and (drawn.draw not in closes or day > closes[drawn.draw]):
            continue  # its draw had closed: the outcome names the entry, the state never counted it
        entries_left[drawn.draw] = max(0, entries_left.get(drawn.draw, 0) - drawn.count)

    if refuse.problems:
        raise EventError(refuse.problems)
    kept_lots = [changed.get(lot.id, lot) for lot in state.lots if lot.id not in removed]
    for lot in added:  # in its place by expiry (earlier than later lots'), as expiry reads them
        with_lot(kept_lots, lot)
    pending = None if state.pending_lots is None else [p for p in state.pending_lots if p not in removed]
    processed = [*state.processed, void.id][-PROCESSED_KEPT:]
    after_state = state.model_copy(
        update={
            "lots": kept_lots,
            "pending_lots": pending,
            "coupons": coupons,
            "badges": badges,
            "activity": activity,
            "activity_sums": sums,
            "visits": max(0, visits),
            "tier": tier,
            "tier_since": since,
            "purchases": [line for line in state.purchases if line.event != event],
            "challenges": challenges,
            "quests": quests,
            "entries": entries_left,
            "reminded": [r for r in state.reminded if r not in removed],
            "processed": processed,
            "referred_with": None if referred is not None else state.referred_with,
            "birthday_rewarded": birthday,
        }
    )
    # points given back to a lot past its day expire at once, after the give-back: never counted
    # in the balance until the next event's expiry, which dated them before the void brought them
    clock = state.last_event_at if state.last_event_at is not None else void.at
    after_state, lapsed = expired(after_state, max(clock, void.at))
    for lot_rule, worth, lapsed_lot, due in lapsed or ():
        book("expire", -worth, lapsed_lot, rule=lot_rule, at=max(due, void.at).astimezone(void.at.tzinfo))
    applied = void.model_copy(
        update={
            "entries": entries,
            "points": sum((e.points for e in entries), ZERO),
            "tier": tier,
            "coupons_withdrawn": withdrawn,
            "coupons_restored": restored,
            "badges_withdrawn": sorted(awarded & set(state.badges)),
            "challenges": taken_back,
            "quests": quests_back,
            "referral_withdrawn": referred,
        }
    )
    return after_state, applied


def _recorded_a_referral(outcome: Outcome) -> bool:
    """Whether the event was a signup that recorded its referral code (`referral:signup`, traced
    `recorded`): a void withdraws it, so that no purchase after the void qualifies it."""
    return any(t.rule == "referral:signup" and t.code == "nothing_eligible" for t in outcome.trace)
