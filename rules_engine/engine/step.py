"""The step in place: a purchase on the generated path decided on a customer's `Working` state.

`Stream.step` (stream.py) gives every event to `purchase` first; it takes the purchases it covers
and returns None for every other event, which then goes through `Engine.process` as before.

What it covers: a purchase the generated path takes (`generated.covers`: lines, no coupon, nothing
paid with points, explain off), in order (not before the customer's latest event), not a
redelivery, for a customer whose working state the engine made (its pending lots known), in a
program without a return window. Anything else, and any stage that reads the pending lots or the
ids of the state, goes to `process`: the working state is changed only after the whole event is
decided (the lots expired before the run are put back), so a fallback at any point before that is
the event decided again.

How it decides: time passing on the compact lots (the pending lots whose wait ended, read from the
deque's tail; the lots due popped from its head, those at 0 put back, as `lifecycle.expire` keeps them),
then the tier reviews due and the messages that waited, on the state (`Engine._elapse`) — all of it
skipped on one comparison when nothing is due (`Working.due_at`, `_due_at`), and the changes and expiry
entries it makes left to the result (`_Passed`); then the event's run (run.py) on a state whose lots are
a view of the deque (`_Lots`: each lot's model made when read, what the points-expiring reminder and
`customer.points` read) and whose pending lots and ids are not to be read (`_Unread`: a stage reading
them raises `_NeedsLots`, which is no `Exception`, so nothing on the way catches it, and the event falls
back), the generated pricing and earning and the mechanics specialised for a purchase, as
`Engine.process` runs them; then settle on the working state: the awards' lots appended to the deque as
tuples whose `LotLine`s are made only with the lot's model (`LazyLines`), their ids to `pending_lots`,
the event's id to the ring, the clock, the tier parts the tiers decided on the working state
(`run.working`, mechanics/tiers_working.py: the activity's tuple appended to its deque, the sums' tuple,
the tier; left in `working.tier_update` until here, so a fallback drops them; the cold state reads the
activity through `ActivityView` and the sums as `_UnreadSums`, made when a run may read them), and every
other part of the new state — the counters, badges, purchases (the lines as the event has them:
`history.Bought`), challenges and quests as the mechanics left them — in the run's own state, which
becomes the working state's cold part (`Working.moved_on`), and the next quiet step's run reads as it
is.

The result is a `StreamResult` (result.py): the same fields as `process` gives, its state and its
ledger made when first read. The state is `working.public()`, so it must be read before the working
state moves on (the next step, a load, a change): read after that, it raises `StateMovedOnError` —
a caller that keeps results past the next event reads `result.state` first (or keeps
`working.public()`, the same state).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from rules_engine.engine import conditions, history, settle
from rules_engine.engine.events import Purchase
from rules_engine.engine.later import Later, LaterLedger, StreamResult, later_changes
from rules_engine.engine.lot_memos import carry_reminded, reminded_until
from rules_engine.engine.mechanics import deferred, tiers
from rules_engine.engine.outcome import Notification, PointsChange, TierChange
from rules_engine.engine.result import Result
from rules_engine.engine.run import BudgetSnapshot, Run, change_state, open_run
from rules_engine.engine.step_views import SUMS_LATER as _SUMS_LATER
from rules_engine.engine.step_views import UNREAD as _UNREAD
from rules_engine.engine.step_views import Lots as _Lots
from rules_engine.engine.step_views import NeedsLots as _NeedsLots
from rules_engine.engine.trusted import (
    awards_records,
    earn_entry,
    expiry_entries,
    points_changes,
    replaced,
)
from rules_engine.errors import EventError
from rules_engine.state.compact import (
    LOT_AVAILABLE,
    LOT_EARNED,
    LOT_EVENT,
    LOT_EXPIRES,
    LOT_MODEL,
    LOT_POINTS,
    LOT_RULE,
    LOT_ZONE,
    NEVER,
    ActivityView,
    LazyLines,
    LotTuple,
    moment,
    seconds,
    seconds_after,
    time_of,
)
from rules_engine.state.customer import CustomerState, IssuedCoupon, LedgerEntry, PastLine
from rules_engine.state.working import KEPT_IDS, Working

if TYPE_CHECKING:
    from rules_engine.engine.evaluator import Engine

__all__ = ["StateMovedOnError", "purchase"]


class StateMovedOnError(RuntimeError):
    """`result.state` of a step decided in place, read after its working state moved on."""


_AWARD_FIELDS = attrgetter("rule", "points", "lines")
_NO_BUDGETS = BudgetSnapshot()


def purchase(engine: Engine, event: Any, working: Working, budgets: BudgetSnapshot | None) -> Result | None:
    """The result of `event` decided on `working` in place, or None: not covered (the module
    docstring), `working` left as it was."""
    fast = engine.generated
    if (
        fast is None
        or event.__class__ is not Purchase
        or event.coupons
        or event.paid_with_points
        or not event.items
    ):
        return None
    program = engine.program
    if program.returns is not None or event.id in working.seen:
        return None
    cold = working.cold
    last = working.last_event_at
    if last is None or cold.customer != event.customer or cold.tendered:
        return None
    time = event.time
    now = seconds(time)
    if now < last or working.ids.maxlen != KEPT_IDS:
        return None
    lots = working.lots
    popped: list[LotTuple] = []
    zeros: list[LotTuple] = []
    # Nothing due since the latest step (no lot ripe or expiring, no tier review, no message waiting:
    # `_due_at`) of this program version (another's review is another moment): time passing skipped.
    quiet = now < working.due_at and working.due_for is program
    if quiet:
        waiting = working.pending_lots
        assert waiting is not None
        ended: list[tuple[Any, str, LotTuple]] = []
        tail = working.pending_tail is waiting
    elif (ripened := _ripened(working, now)) is None:
        return None
    else:
        ended, waiting, tail = ripened
    if not quiet and lots and lots[0][LOT_EXPIRES] <= now:  # lots expire: popped from the head, put
        for lot in lots:  # back on a fallback
            if lot[LOT_EXPIRES] > now:
                break
            popped.append(lot)
        tail = tail and len(popped) + len(working.pending_lots or ()) <= len(lots)
        for _ in popped:
            lots.popleft()
        zeros = [lot for lot in popped if not lot[LOT_POINTS] > 0]  # spent: kept for returns
        lots.extendleft(reversed(zeros))
    try:
        view = working.lots_view
        if view is None:
            view = working.lots_view = _Lots(working)
        view.now = now if time.tzinfo is not None else None  # what the reminder and the tiers compare
        passed = None
        moves: list[TierChange] = []
        sent: list[Notification] = []
        if ended or popped or cold.lots is not view:
            update: dict[str, Any] = {"lots": view, "pending_lots": _UNREAD, "processed": _UNREAD}
            if ended or popped:
                passed = _time_passed(ended, popped, cold, update)
            # the cold part the latest step left reads the lots through this view already: copied
            # only when the lots' reminders changed (the deque moved under the same view)
            view = replaced(cold, update) if cold.lots is not view or "reminded" in update else cold
        else:
            view = cold
        sums: Any = view.activity_sums
        if sums is _SUMS_LATER and now >= working.sums_due:  # a review or the reminder may read them
            view = replaced(view, {"activity_sums": working.sums_model()})
        if not quiet:  # as `Engine._elapse`
            view, moves = tiers.elapse(program.tiers, view, time, engine.zone)
            view, sent = deferred.deliver(program.notifications, view, time)
        run = open_run(engine.plan, engine.secret, event, view, False, budgets or _NO_BUDGETS, [])
        run.working = working  # the mechanics specialised for a purchase change it (`_settled` applies)
        if moves:
            tiers.reviewed(run, moves)
        if sent:
            deferred.delivered(run, sent)
        conditions.check_attributes(run)
        fast.decide(run)
        for mechanic in fast.mechanics:
            mechanic(run)
        return _settled(run, working, now, waiting, tail, passed)
    except BaseException as error:
        working.tier_update = None  # what the tiers decided, not applied
        if popped:  # the lots as they were
            for _ in zeros:
                lots.popleft()
            lots.extendleft(reversed(popped))
        if isinstance(error, _FALLS_BACK):
            working.lots_view = None  # what was kept for the view during the run, forgotten
            return None  # `process` decides it: the same error, if it is one
        raise


_FALLS_BACK = (_NeedsLots, EventError, InvalidOperation, OverflowError)


def _ripened(working: Working, now: Any) -> tuple[list[tuple[Any, str, LotTuple]], list[str], bool] | None:
    """The pending lots whose wait ended by `now` (with points: `ripening.ripen`'s, each as
    (available, id, lot)), the ids still waiting, and whether those are the deque's tail with
    their waits ending in order (the pending lots were, and those whose wait ended were their
    first: `Working.pending_tail`); None when the state has no pending lots' index (a state of an
    older version: `process` puts it in order)."""
    pending = working.pending_lots
    if pending is None:
        return None
    if not pending:
        return [], pending, True
    lots = working.lots
    count = len(pending)
    ended: list[tuple[Any, str, LotTuple]] = []
    if working.pending_tail is pending:  # known (a step kept it so): the deque's last lots, whose
        first = len(lots) - count  # waits end in their order: those ended are the first ones
        index = 0  # (a walk from the first: cheaper than a bisection of the deque, ~9 lots ending)
        while index < count:
            lot = lots[first + index]
            available = lot[LOT_AVAILABLE]
            if available > now:
                break
            if lot[LOT_POINTS] > 0 and available > lot[LOT_EARNED]:
                ended.append((available, pending[index], lot))
            index += 1
        return ended, pending[index:] if index else pending, True
    pairs = _tail(pending, lots)
    tail = pairs is not None
    waiting: list[str] = []
    last: Any = None  # the latest wait's end among those still waiting
    for lot_id, lot in pairs if pairs is not None else _found(pending, lots):
        available = lot[LOT_AVAILABLE]
        if available > now:
            tail = tail and (last is None or last <= available)  # the waits end in their order
            last = available
            waiting.append(lot_id)
        else:
            tail = tail and not waiting  # ended after one still waiting: no longer the tail
            if lot[LOT_POINTS] > 0 and available > lot[LOT_EARNED]:
                ended.append((available, lot_id, lot))
    return ended, pending if len(waiting) == count else waiting, tail


def _tail(pending: list[str], lots: Any) -> list[tuple[str, LotTuple]] | None:
    """The lots `pending` names, with their ids, when they are the deque's tail in the same order
    (as usual: lots earned in time order wait alike), which their ids confirm; else None."""
    count = len(pending)
    if count > len(lots):
        return None
    pairs = list(zip(pending, [lots[-i] for i in range(count, 0, -1)], strict=True))
    for lot_id, lot in pairs:
        if lot_id != f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}":
            return None
    return pairs


def _found(pending: list[str], lots: Any) -> list[tuple[str, LotTuple]]:
    """The lots `pending` names, in its order, with their ids (`ripening._pending_lots`), looked
    for from the deque's newest end until all are found (a lot `pending` names and the lots do not
    have is left out)."""
    wanted = set(pending)
    found: dict[str, LotTuple] = {}
    for lot in reversed(lots):
        if not wanted:
            break
        lot_id = f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}"
        if lot_id in wanted:
            wanted.discard(lot_id)
            found[lot_id] = lot
    return [(lot_id, found[lot_id]) for lot_id in pending if lot_id in found]


def _time_passed(
    ended: list[tuple[Any, str, LotTuple]],
    popped: list[LotTuple],
    cold: CustomerState,
    update: dict[str, Any],
) -> _Passed | None:
    """What time passing did to the lots (`points.time_passes`: those whose wait ended, those that
    expired), its changes and ledger entries made when the result's are read (`_Passed`); None when
    no lot with points moved. `update` gets the reminders of the lots that left (`lifecycle.expire`):
    the state after the event depends on them."""
    expired = [lot for lot in popped if lot[LOT_POINTS] > 0]
    if not ended and not expired:
        return None
    if expired:
        gone = {f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}" for lot in expired}
        if not gone.isdisjoint(cold.reminded):
            reminded = update["reminded"] = [lot_id for lot_id in cold.reminded if lot_id not in gone]
            view = update["lots"]
            carry_reminded(view, cold.reminded, view, reminded)  # lots left: the reminder's reach holds
    return _Passed(ended, expired)


class _Passed:
    """The lots time passing moved before a step's run, as the deque held them (immutable tuples):
    the result's `points_changes` and the ledger's expiry entries made from them when first read,
    which a caller keeping only the state never does (a `Decimal` and a datetime per lot, a model
    per change and per entry)."""

    __slots__ = ("ended", "expired")

    def __init__(self, ended: list[tuple[Any, str, LotTuple]], expired: list[LotTuple]) -> None:
        self.ended = ended
        self.expired = expired

    def changes(self) -> list[PointsChange]:
        """`points.time_passes`' changes: the lots that became available and those that expired,
        in time order."""
        order: list[tuple[Any, str, str, Decimal, dt.datetime]] = [
            (available, "available", lot_id, _points(lot), lot_time(lot, LOT_AVAILABLE, 1))
            for available, lot_id, lot in self.ended
        ]
        for lot in self.expired:
            lot_id = f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}"
            order.append((lot[LOT_EXPIRES], "expire", lot_id, _points(lot), lot_time(lot, LOT_EXPIRES, 2)))
        order.sort(key=_AT_KIND_LOT)
        return points_changes((kind, lot_id, points, at) for _, kind, lot_id, points, at in order)

    def entries(self, event: str, version: int) -> list[LedgerEntry]:
        """The ledger entries of expiry, in expiry order."""
        if not self.expired:
            return []
        expired = [
            (lot[LOT_RULE], _points(lot), f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}", lot_time(lot, LOT_EXPIRES, 2))
            for lot in self.expired
        ]
        return expiry_entries(event, version, expired)


_AT_KIND_LOT = itemgetter(0, 1, 2)


def _points(lot: LotTuple) -> Decimal:
    model = lot[LOT_MODEL]
    if model is not None:
        return model.points
    points = lot[LOT_POINTS]
    return Decimal(points) if type(points) is int else points  # type: ignore[return-value]


def lot_time(lot: LotTuple, field: int, place: int) -> dt.datetime:
    """A lot's time (`LOT_AVAILABLE` or `LOT_EXPIRES`; `place` in a tuple of zones) as its model has it:
    in the offset of the event that earned it, whatever the offset of the event that reads it."""
    model = lot[LOT_MODEL]
    if model is not None:
        made = model.available_at if field == LOT_AVAILABLE else model.expires_at
        assert made is not None
        return made
    zone = lot[LOT_ZONE]
    return moment(lot[field], zone[place] if type(zone) is tuple else zone)  # type: ignore[arg-type]


def _settled(
    run: Run, working: Working, now: Any, waiting: list[str], tail: bool, passed: _Passed | None
) -> Result:
    """Settle on the working state (the module docstring): the result, `working` moved on."""
    event = run.event
    assert isinstance(event, Purchase)
    program = run.program
    points_rules = program.points
    time = event.time
    awards = run.effects_points
    lots = working.lots
    quantities = run.quantities
    zone = time.tzinfo
    made: list[LotTuple] = []
    ids: list[str] = []
    available_at = time + points_rules.pending if points_rules.pending else time
    expires_at = time + points_rules.expire_after if points_rules.expire_after else None
    if awards:
        available = seconds_after(now, time, points_rules.pending)
        expires = NEVER if expires_at is None else seconds_after(now, time, points_rules.expire_after)
        if lots and lots[-1][LOT_EXPIRES] > expires:
            raise _NeedsLots  # a lot placed before others (a shorter expire_after): process places it
        event_id = event.id
        made = [  # points as an int where exact (`compact.units_of`)
            (
                expires,
                available,
                now,
                int(points) if points.same_quantum(_ONE) and (points or not points.is_signed()) else points,
                event_id,
                rule,
                LazyLines(lines, quantities),
                zone,
                None,
            )
            for rule, points, lines in map(_AWARD_FIELDS, awards)
        ]
        ids = [f"{event_id}/{award.rule}" for award in awards]
    state = run.state
    # what settle.new_state does besides the lots, the pending lots, the ids and the clock
    # the purchase's lines, made (and the history cut) when the public state is read (`history.Bought`)
    bought = history.Bought(state.purchases, event.items, run.local.date(), event.id, run.plan.purchases_kept)
    purchases: Sequence[PastLine] = bought
    older = state.older_purchases
    if bought.depth >= history.CHAINED:  # a history no one read for a while: made and cut now
        purchases, older = bought.kept(older)
    coupons = state.coupons
    if run.redeemed or run.coupons_issued:  # as settle.new_state (a birthday's coupon, an offer's)
        coupons = [
            c.model_copy(update={"used_in": event.id}) if c.code in run.redeemed else c for c in state.coupons
        ]
        coupons += [
            IssuedCoupon(code=c.code, coupon=c.coupon, issued_at=time, expires_at=c.expires_at)
            for c in run.coupons_issued
        ]
    badges = state.badges
    if run.badges:
        badges = [*badges, *(b.badge for b in run.badges if b.badge not in state.badges)]
    latest = settle.later(state.last_event_at, time)
    update: dict[str, Any] = {}
    moved = working.tier_update  # the tiers decided on the working state: applied below
    if moved is not None:
        view = working.activity_view
        if view is None:
            view = working.activity_view = ActivityView(working)
        update = {"tier": moved[3], "tier_since": moved[4], "activity": view, "activity_sums": _SUMS_LATER}
    change_state(
        run,
        {
            **update,
            "customer": event.customer,
            "lots": working.lots_view,  # the next step's run reads this state as it is (`purchase`)
            "pending_lots": _UNREAD,
            "counters": run.counters,
            "coupons": coupons,
            "purchases": purchases,
            "older_purchases": older,
            "visits": state.visits + 1,
            "entries": settle._entries(run),
            "processed": _UNREAD,
            "badges": badges,
            "last_event_at": latest,
        },
    )
    # nothing can fall back from here on: the working state moves on
    if moved is not None:
        working.tier_update = None
        entry, cut, sums, tier, since = moved
        activity = working.activity
        for _ in range(cut):
            activity.popleft()
        activity.append(entry)
        working.sums = sums
        working.tier = tier
        if since is not working.cold.tier_since:  # else the seconds stand for it already
            working.tier_since, working.tier_zone = time_of(since)
    if available_at > time and ids:
        if tail and waiting and lots[-1][LOT_AVAILABLE] > made[0][LOT_AVAILABLE]:
            tail = False  # the new lots' wait ends before the last one's (a shorter `pending`)
        waiting = [*waiting, *ids]
    elif ids and waiting:
        tail = False  # lots available at once after those still waiting
    lots.extend(made)
    pending = working.pending_lots
    assert pending is not None
    if waiting is not pending:
        working.pending_lots = waiting
    working.pending_tail = waiting if tail else None  # the event's lots joined the tail, in order
    ring = working.ids
    if len(ring) == KEPT_IDS:
        working.seen.discard(ring[0])
    ring.append(event.id)
    working.seen.add(event.id)
    if latest is time:
        working.last_event_at, working.last_zone = now, zone
    working._sums = None  # the running sums added up again when read
    if made:  # lots expiring before the reminder's reach (a shorter expire_after): a new view
        until = reminded_until(working.lots_view, run.state.reminded)
        if until is not None and expires_at is not None and expires_at <= until:
            working.lots_view = None
    working.moved_on(run.state)
    working.due_at, working.due_for = _due_at(working, run, now), run.program
    if moved is not None:
        working.sums_due = _sums_due(working, run)
    at = working.moves
    booked, changed = run.ledger, run.points_changes  # what a stage booked itself (none on this path)
    result = settle.result_of(
        run,
        tuple(awards),
        Later(settle.totals, run),  # type: ignore[arg-type]  # the run's sums, when read
        Later(_public, working, at),  # type: ignore[arg-type]
        LaterLedger(_ledger, _ledger_points, run, passed, booked, awards),  # type: ignore[arg-type]
        StreamResult,
    )
    if passed is not None:  # time passing's changes first, made when read
        later_changes(result, Later(_changes, passed, changed))
    return result


def _changes(passed: _Passed, changed: list[PointsChange]) -> tuple[PointsChange, ...]:
    return (*passed.changes(), *changed)


_ONE = Decimal(1)


def _due_at(working: Working, run: Run, now: Any) -> Any:
    """The first moment something is due after a step at `now` (its run's state the working state's
    cold part): a pending lot's wait ending, a lot with points expiring (the spent ones at the
    head, which expiry keeps, passed over), the tier review (`tiers.elapse`), a message waiting
    (`deferred.deliver`); 0 (due at every step) when that is not known from a comparison of
    seconds: the pending lots not known in order, a tier this version no longer has, a naive time."""
    lots = working.lots
    due: Any = NEVER
    waiting = working.pending_lots
    if waiting:
        if working.pending_tail is not waiting:
            return 0
        due = lots[-len(waiting)][LOT_AVAILABLE]
    for lot in lots:
        if lot[LOT_POINTS] > 0 or lot[LOT_EXPIRES] > now:
            due = min(due, lot[LOT_EXPIRES])
            break
    state = run.state
    deferred = state.deferred
    if deferred:
        send_at = deferred[0].send_at
        if send_at.tzinfo is None:
            return 0
        due = min(due, seconds(send_at))
    levels = run.program.tiers
    if levels is None or state.tier is None:
        return due
    since = state.tier_since
    known = working.review
    if known is None or known[0] is not levels or known[1] != state.tier or known[2] is not since:
        review: Any = NEVER
        facts = tiers.reviews(levels, run.plan.zone)
        if state.tier not in facts.thresholds:
            review = 0  # `tiers.removed` moves the customer at the next step
        elif since is not None and (at := facts.due(since)) is not None:
            review = 0 if at.tzinfo is None else seconds(at)
        known = working.review = (levels, state.tier, since, review)
    return min(due, known[3])


def _sums_due(working: Working, run: Run) -> Any:
    """The first moment a run may read the activity's running sums, after a step whose tiers moved
    them on the working state (the cold state holds them as `_SUMS_LATER`): a tier review due
    (`tiers.elapse`), or the downgrade reminder's reach before it (`notifications._tier_reminder`);
    0 (at once) when the review's moment is not known from `_due_at`."""
    levels = run.program.tiers
    state = run.state
    if levels is None or state.tier is None or state.tier_since is None:
        return NEVER
    known = working.review
    if known is None or known[0] is not levels or known[1] != state.tier or known[2] is not state.tier_since:
        return 0
    review = known[3]
    reminder = run.program.notifications.tier_downgrade
    if reminder is None or not review or review == NEVER:
        return review
    return review - math.ceil(reminder.before.total_seconds())  # a second early at most: made then


def _public(working: Working, at: int) -> CustomerState:
    if working.moves != at:
        raise StateMovedOnError(
            "result.state of a step read after its working state moved on (a later step, a load or a "
            "change): read it before the next step, or keep working.public() (engine/step.py)"
        )
    return working.public()


def _ledger_points(
    run: Run, passed: _Passed | None, booked: list[LedgerEntry], awards: list[Any]
) -> list[tuple[str, Decimal]]:
    """`_ledger`'s entries as (kind, points), the earn entries' from their awards (an earn entry's
    points are its award's), without their line parts."""
    before = [*passed.entries(run.event.id, run.program.version), *booked] if passed is not None else booked
    return [*((entry.kind, entry.points) for entry in before), *(("earn", award.points) for award in awards)]


def _ledger(
    run: Run, passed: _Passed | None, booked: list[LedgerEntry], awards: list[Any]
) -> tuple[LedgerEntry, ...]:
    """The ledger entries of the event: expiry's, those a stage booked, then each award's earn entry."""
    event = run.event
    before = [*passed.entries(event.id, run.program.version), *booked] if passed is not None else booked
    if not awards:
        return tuple(before)
    records = awards_records([award.lines for award in awards], run.quantities)
    hashes = run.plan.rule_hashes
    version = run.program.version
    made = [
        earn_entry(
            event.id,
            award.rule,
            award.points,
            f"{event.id}/{award.rule}",
            event.time,
            version,
            hashes.get(award.rule),
            parts,
        )
        for award, (_, parts) in zip(awards, records, strict=True)
    ]
    return (*before, *made)
