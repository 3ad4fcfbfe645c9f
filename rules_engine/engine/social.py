"""Referrals, personalized offers and notifications: the social mechanics of one event.

Like the gamification mechanics, each is a function of the run (`mechanic(run)`), called by the
engine after the earn rules. It reads the event (`run.event`, `run.local`), the state before the
event (`run.state`) and the condition context (`run.context`); it gives rewards with `run.give`,
records what it did in `run.state` (`signed_up_at`, `referred_with`, `referral_qualified_at`,
`offers`, `notified`, `reminded`) and traces every decision (`kind` "referral", "offer",
"notification").

The engine processes one customer's state at a time: the referrer's reward cannot be given here.
The referee's outcome carries a trace entry `referral:referrer` (kind "referral") naming the
referrer's code and reward; the caller looks the code up and credits the referrer (enforcing the
referral `limit` with `referral_allowed`).

Only the event's time counts, never the clock: the same state and event give the same result.
The rules are in docs/engine.md, "Referrals, offers and notifications".
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from rules_engine.dsl.ast import format_duration
from rules_engine.dsl.context import Context
from rules_engine.engine.events import MAX_EVENT_ID, Purchase, ReferralReward, Signup
from rules_engine.engine.gamification import wrong_event
from rules_engine.engine.lifecycle import expiry_order
from rules_engine.engine.outcome import Notification
from rules_engine.engine.schedule import within
from rules_engine.engine.tiers import at_risk
from rules_engine.engine.tokens import keyed_code
from rules_engine.engine.trusted import replaced, rule_trace
from rules_engine.program.model import Limit, Offer, Reward

if TYPE_CHECKING:
    from rules_engine.engine.evaluator import _Run

_SECTIONS = frozenset({"referral", "offers"})
_ONCE = Limit(count=1)
REFERRER = "referral:referrer"
REFEREE = "referral:referee"
REMINDER = "notifications:points_expiring"
TIER_REMINDER = "notifications:tier_downgrade"


# -- referral codes ------------------------------------------------------------------------------


def referral_code(program: str, customer: str, secret: bytes) -> str:
    """A customer's referral code: `REF-` and 8 letters or digits, the same for the same program,
    customer and secret, unguessable without the secret. It names the referrer without revealing
    their id: finding the customer from a code takes a lookup the caller keeps."""
    return "REF-" + keyed_code(secret, ("referral", program, customer), 8)


def referrer_event_id(referee: str, event: str) -> str:
    """The id of the event that gives a referrer the reward for `referee`'s qualifying `event`:
    `<event>:referrer:<referee>`. It names the referee because event ids are unique per customer
    only: two friends' purchases may share an id, and each is a reward of its own. Over the 200
    characters an id may have, a digest of both stands in."""
    plain = f"{event}:referrer:{referee}"
    if len(plain) <= MAX_EVENT_ID:
        return plain
    return "referrer:" + hashlib.sha256(f"{referee}\x1f{event}".encode()).hexdigest()


def referral_allowed(limit: Limit | None, rewarded: list[dt.datetime], at: dt.datetime) -> bool:
    """Whether a referrer rewarded at the times `rewarded` may be rewarded again at `at` under the
    program's referral `limit` (None: no limit). The caller, who credits the referrer, checks it."""
    return limit is None or len(_recent(limit, rewarded, at)) < limit.count


# -- referral ------------------------------------------------------------------------------------


def referral(run: _Run) -> None:
    """Record who referred a new customer at signup; reward both sides on the first qualifying
    purchase.

    A `signup` with a `referral_code` is refused (traced, nothing recorded) when the code is the
    customer's own, when the customer was already referred, or was already a customer (a purchase
    or a signup before). A purchase of a referred customer for which `qualifying` holds, within
    `within` of the signup if set, gives the referee's reward and traces the referrer's
    (`referral:referrer`) for the caller to apply; it happens once.
    """
    event = run.event
    if isinstance(event, Signup):
        _signup(run, event)
        return
    if isinstance(event, ReferralReward):
        _reward_referrer(run, event)
        return
    program = run.program
    settings = program.referral
    state = run.state
    if settings is None or not isinstance(event, Purchase) or state.referred_with is None:
        return
    if state.referral_qualified_at is not None:
        run.trace.append(
            rule_trace(
                REFEREE,
                "referral",
                False,
                "capped",
                f"already qualified on {_local(run, state.referral_qualified_at)}",
            )
        )
        return
    if settings.within is not None and state.signed_up_at is not None:
        deadline = state.signed_up_at + settings.within
        if event.time >= deadline:
            run.trace.append(
                rule_trace(
                    REFEREE,
                    "referral",
                    False,
                    "outside_schedule",
                    f"the time to qualify ended {_local(run, deadline)} "
                    f"({format_duration(settings.within)} after signup)",
                )
            )
            return
    context = run.mechanics_context(_SECTIONS)
    qualifying = run.engine.compiled.expression("referral", "qualifying")
    if not run.holds(qualifying, context):
        assert qualifying is not None
        run.trace.append(
            run.condition_trace(
                REFEREE, "referral", qualifying, context, "`qualifying` is false: not a qualifying purchase"
            )
        )
        return
    gives = run.give(settings.referee, REFEREE)
    code = state.referred_with
    run.trace.append(
        rule_trace(
            REFEREE,
            "referral",
            True,
            "fired",
            f"qualifying purchase of a customer referred by {code}; "
            f"gives {', '.join(gives) or 'nothing new'}",
            **_points(settings.referee),
        )
    )
    run.trace.append(
        rule_trace(
            REFERRER,
            "referral",
            True,
            "fired",
            f"referrer {code} is owed {describe(settings.referrer)}",
            hint="a store-backed service (Loyalty) credits the referrer next; with the engine alone, "
            "send a referral_reward event for them",
        )
    )
    run.state = replaced(run.state, {"referral_qualified_at": event.time})


def _reward_referrer(run: _Run, event: ReferralReward) -> None:
    """The referrer's reward for a referee's qualifying purchase, within the referral `limit`."""
    settings = run.program.referral
    if settings is None:
        run.trace.append(
            rule_trace(REFERRER, "referral", False, "nothing_eligible", "the program has no referral")
        )
        return
    rewarded = list(run.state.referrals_rewarded)
    if not referral_allowed(settings.limit, rewarded, event.time):
        assert settings.limit is not None
        run.trace.append(
            rule_trace(
                REFERRER,
                "referral",
                False,
                "capped",
                f"referral limit reached: {_limit_words(settings.limit)} (referee {event.referee})",
            )
        )
        return
    gives = run.give(settings.referrer, REFERRER)
    if settings.limit is not None:
        rewarded = _recent(settings.limit, rewarded, event.time)
    run.state = replaced(run.state, {"referrals_rewarded": [*rewarded, event.time]})
    run.trace.append(
        rule_trace(
            REFERRER,
            "referral",
            True,
            "fired",
            f"referee {event.referee} qualified ({event.qualifying_event}); gives {', '.join(gives)}",
            **_points(settings.referrer),
        )
    )


def _signup(run: _Run, event: Signup) -> None:
    state = run.state
    seen_before = state.signed_up_at is not None
    if not seen_before:
        run.state = replaced(state, {"signed_up_at": event.time})
    code = event.referral_code
    if code is None or run.program.referral is None:
        return
    rule = "referral:signup"
    own = referral_code(run.program.program, event.customer, run.engine.secret)
    problem = None
    if code == own:
        problem = "self-referral: the code is the customer's own"
    elif state.referred_with is not None:
        problem = f"already referred with {state.referred_with}"
    elif state.visits > 0 or seen_before:
        problem = "already a customer: " + (
            f"{state.visits} purchase{'' if state.visits == 1 else 's'} before"
            if state.visits > 0
            else "signed up before"
        )
    if problem is not None:
        code_word = "condition_false" if code == own else "capped"
        run.trace.append(rule_trace(rule, "referral", False, code_word, problem))
        return
    run.state = replaced(run.state, {"referred_with": code})
    run.trace.append(
        rule_trace(
            rule,
            "referral",
            False,
            "nothing_eligible",
            f"referred by {code}: recorded",
            hint="both sides are rewarded on the first qualifying purchase",
        )
    )


# -- offers --------------------------------------------------------------------------------------


def offers(run: _Run) -> None:
    """Issue every offer's coupon to a customer it is meant for, within its limit.

    An offer is considered after an event whose type is in `on`, inside `active`; it is issued
    when `when` holds and the customer received it fewer than `limit` times (default: once ever).
    With `skip_bought`, it is not issued when the coupon's `applies_to` matches a line the
    customer already bought (an earlier purchase or this one). `notify` sends a notification.
    """
    program = run.program
    if not program.offers:
        return
    context = run.mechanics_context(_SECTIONS)
    expression = run.engine.compiled.expression
    issued = dict(run.state.offers)
    for index, offer in enumerate(program.offers):
        rule = f"offer:{offer.id}"
        if run.event.type not in offer.on:
            run.trace.append(rule_trace(rule, "offer", False, "wrong_event", wrong_event(run, offer.on)))
            continue
        outside = within(offer.active, run.local)
        if outside is not None:
            run.trace.append(rule_trace(rule, "offer", False, "outside_schedule", f"not active: {outside}"))
            continue
        limit = offer.limit or _ONCE
        before = issued.get(offer.id, [])
        recent = _recent(limit, before, run.event.time)
        if len(recent) >= limit.count:
            run.trace.append(
                rule_trace(
                    rule,
                    "offer",
                    False,
                    "capped",
                    f"already issued {len(recent)} time{'' if len(recent) == 1 else 's'} "
                    f"(last {_local(run, recent[-1])}); limit {_limit_words(limit)}",
                )
            )
            continue
        when = expression("offers", index, "when")
        if not run.holds(when, context):
            assert when is not None
            run.trace.append(run.condition_trace(rule, "offer", when, context, "`when` is false"))
            continue
        bought = _bought(run, offer, context) if offer.skip_bought else None
        if bought is not None:
            run.trace.append(
                rule_trace(
                    rule,
                    "offer",
                    False,
                    "nothing_eligible",
                    f"already bought {bought}, which coupon {offer.coupon} applies to",
                )
            )
            continue
        gives = run.give(Reward(coupon=offer.coupon), rule)
        issued[offer.id] = [*before, run.event.time]
        run.state = replaced(run.state, {"offers": issued})
        run.trace.append(rule_trace(rule, "offer", True, "fired", f"issued: {', '.join(gives)}"))
        if offer.notify is not None:
            notify(run, rule, offer.notify.channel, offer.notify.template)


def _bought(run: _Run, offer: Offer, context: Context) -> str | None:
    """The sku of the first line bought (before, or in this purchase) that the offer's coupon
    applies to; None if none (or the coupon applies to the whole basket)."""
    index = run.plan.coupon_index.get(offer.coupon)
    if index is None:
        return None
    applies = run.engine.compiled.expression("coupons", index, "applies_to")
    if applies is None:
        return None
    item_names = run.plan.custom_names["item"]
    for past in run.state.purchases:
        record: dict[str, Any] = {
            "sku": past.sku,
            "name": None,
            "category": past.category,
            "price": past.price,
            "qty": past.qty,
        }
        for name in item_names:
            record[name] = None
        if run.holds(applies, Context(context, item=record)):
            return past.sku
    for line in range(len(run.items)):
        if run.line_holds(applies, line):
            return run.items[line].sku
    return None


# -- notifications -------------------------------------------------------------------------------


def notifications(run: _Run) -> None:
    """Remind the customer of points about to expire: once per lot, when an event arrives less
    than `points_expiring.before` before the lot expires."""
    _tier_reminder(run)
    reminder = run.program.notifications.points_expiring
    if reminder is None:
        return
    moment = run.event.time
    done = set(run.state.reminded)
    lots = run.state.lots
    # The lots are in expiry order: those expiring in (moment, moment + before] are one run of them.
    first = bisect.bisect_right(lots, (False, moment), key=expiry_order)
    if first == len(lots) or lots[first].expires_at is None:
        return
    last = bisect.bisect_right(lots, (False, moment + reminder.before), key=expiry_order)
    soon = [lot for lot in lots[first:last] if lot.points > 0 and lot.id not in done]
    if not soon:
        return
    if notify(run, REMINDER, reminder.channel, reminder.template):
        reminded = [*run.state.reminded, *(lot.id for lot in soon)]
        run.state = replaced(run.state, {"reminded": reminded})


def _tier_reminder(run: _Run) -> None:
    """Warn a customer whose tier would drop at its coming review: once per review, when an event
    arrives less than `tier_downgrade.before` before it and the metric would not keep the tier."""
    reminder = run.program.notifications.tier_downgrade
    tiers = run.program.tiers
    if reminder is None or tiers is None:
        return
    moment = run.event.time
    due = at_risk(tiers, run.state, moment, run.engine.zone, before=reminder.before)
    if due is None or not moment < due <= moment + reminder.before:
        return
    key = f"tier:{run.state.tier}:{due.date().isoformat()}"
    if key in run.state.reminded:
        return
    if notify(run, TIER_REMINDER, reminder.channel, reminder.template):
        run.state = replaced(run.state, {"reminded": [*run.state.reminded, key]})


def notify(run: _Run, rule: str, channel: str, template: str) -> bool:
    """Send a notification on behalf of `rule` unless the frequency cap suppresses it; traced
    either way (kind "notification"). Returns whether it was sent."""
    cap = run.program.notifications.frequency_cap
    moment = run.event.time
    sent = run.state.notified
    if cap is not None:
        recent = _recent(cap, sent, moment)
        if len(recent) >= cap.count:
            run.trace.append(
                rule_trace(
                    rule,
                    "notification",
                    False,
                    "capped",
                    f"{channel} {template} suppressed: {len(recent)} sent, the cap is {_limit_words(cap)}",
                )
            )
            return False
        sent = recent  # older sends no longer count: the state keeps only what the cap needs
    outbox = getattr(run, "notifications", None)
    if isinstance(outbox, list):
        outbox.append(Notification(rule=rule, channel=channel, template=template))
    run.state = replaced(run.state, {"notified": [*sent, moment]})
    run.trace.append(rule_trace(rule, "notification", True, "fired", f"sends {channel} {template}"))
    return True


# -- shared --------------------------------------------------------------------------------------


def describe(reward: Reward) -> str:
    """A reward in words: `500 points, coupon welcome-10`."""
    parts = []
    if reward.points:
        parts.append(f"{reward.points} points")
    if reward.badge is not None:
        parts.append(f"badge {reward.badge}")
    if reward.coupon is not None:
        parts.append(f"coupon {reward.coupon}")
    if reward.entries is not None:
        parts.append(f"{reward.entries.count} entries in {reward.entries.draw}")
    return ", ".join(parts)


def _recent(limit: Limit, times: list[dt.datetime], moment: dt.datetime) -> list[dt.datetime]:
    """The times that count towards `limit` at `moment`: all of them, or those within `per`."""
    if limit.per is None:
        return list(times)
    return [t for t in times if moment - limit.per < t <= moment]


def _limit_words(limit: Limit) -> str:
    return (
        f"{limit.count} per {format_duration(limit.per)}" if limit.per is not None else f"{limit.count} ever"
    )


def _points(reward: Reward) -> dict[str, Any]:
    return {"amount": reward.points, "unit": "points"} if reward.points else {}


def _local(run: _Run, moment: dt.datetime) -> str:
    return moment.astimezone(run.engine.zone).strftime("%Y-%m-%d %H:%M")
