"""Referrals: who referred a new customer, and both sides' rewards on a qualifying purchase.

At signup, a `referral_code` is recorded (or refused: the customer's own, already referred,
already a customer). A referred customer's first purchase for which `qualifying` holds, within
`within` of the signup if set, gives the referee's reward. The engine processes one customer's
state at a time, so the referrer's reward cannot be given here: the outcome says it is owed
(`Effects.referral_owed`, the referrer's code, and a trace entry `referral:referrer`); the caller
looks the code up and sends the referrer a `referral_reward` event (a store-backed service does),
given within the referral `limit` (`referral_allowed`). Traced with kind "referral".
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from rules_engine.dsl.ast import format_duration
from rules_engine.engine.admission import admitted
from rules_engine.engine.conditions import mechanics_context
from rules_engine.engine.events import MAX_EVENT_ID, Purchase, ReferralReward, Signup
from rules_engine.engine.mechanics.shared import SOCIAL as SECTIONS
from rules_engine.engine.mechanics.shared import (
    busiest,
    describe,
    limit_words,
    local_words,
    nothing,
    recent,
    reward_points,
)
from rules_engine.engine.plan import Plan
from rules_engine.engine.rewards import give
from rules_engine.engine.run import Run
from rules_engine.engine.tokens import keyed_code
from rules_engine.engine.trusted import replaced, rule_trace
from rules_engine.program.model import Limit, Program, ReferralFraud


def idle(program: Program) -> bool:
    """Never idle: a signup is recorded, a referral_reward traced, even without a referral."""
    return False


REFERRER = "referral:referrer"

REFEREE = "referral:referee"


def for_purchase(plan: Plan) -> Callable[[Run], None] | None:
    """`apply` for a purchase the generated path takes: nothing at all without a `referral`
    section (no fingerprints to keep, no referee to reward: `apply` only looks), else `apply`."""
    return nothing if plan.program.referral is None else None


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
    program's referral `limit` (None: no limit). The caller, who credits the referrer, checks it.
    A reward carries the friend's purchase's time, so it comes late whenever another friend's came
    first: the rewards after `at` count too, in a period with it (`busiest`)."""
    return limit is None or busiest(limit, rewarded, at) < limit.count


def apply(run: Run) -> None:
    """Record who referred a new customer at signup; reward both sides on the first qualifying
    purchase.

    A `signup` with a `referral_code` is refused (traced, nothing recorded) when the code is the
    customer's own, when the customer was already referred, or was already a customer (a purchase
    or a signup before). A purchase of a referred customer for which `qualifying` holds, within
    `within` of the signup if set, gives the referee's reward and traces the referrer's
    (`referral:referrer`) for the caller to apply; it happens once.
    """
    event = run.event
    _record_fingerprints(run)
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
    refused = None
    if state.referral_qualified_at is not None:
        refused = ("capped", f"already qualified on {local_words(run, state.referral_qualified_at)}")
    elif settings.within is not None and state.signed_up_at is not None:
        deadline = state.signed_up_at + settings.within
        if event.time >= deadline:
            ended = f"the time to qualify ended {local_words(run, deadline)}"
            refused = ("outside_schedule", f"{ended} ({format_duration(settings.within)} after signup)")
    if refused is None and settings.fraud is not None:
        refused = _fraud(run, settings.fraud)
    if not admitted(
        run,
        REFEREE,
        "referral",
        refused=refused,
        when=run.plan.compiled.expression("referral", "qualifying"),
        context=mechanics_context(run, SECTIONS),
        false="`qualifying` is false: not a qualifying purchase",
    ):
        if refused is not None and refused[0] == "fraud_check":  # neither side: say so for both
            why = f"nothing owed to {state.referred_with}: {refused[1]}"
            run.trace.append(rule_trace(REFERRER, "referral", False, "fraud_check", why))
        return
    gives = give(run, settings.referee, REFEREE)
    code = state.referred_with
    run.trace.append(
        rule_trace(
            REFEREE,
            "referral",
            True,
            "fired",
            f"qualifying purchase of a customer referred by {code}; "
            f"gives {', '.join(gives) or 'nothing new'}",
            **reward_points(settings.referee),
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
    run.referral_owed = code
    run.state = replaced(run.state, {"referral_qualified_at": event.time})


def _reward_referrer(run: Run, event: ReferralReward) -> None:
    """The referrer's reward for a referee's qualifying purchase, within the referral `limit`."""
    settings = run.program.referral
    if settings is None:
        run.trace.append(
            rule_trace(REFERRER, "referral", False, "nothing_eligible", "the program has no referral")
        )
        return
    rewarded = list(run.state.referrals_rewarded)
    fraud = settings.fraud
    if (
        fraud is not None
        and fraud.velocity is not None
        and not referral_allowed(fraud.velocity, rewarded, event.time)
    ):
        # checked again here, under the referrer's own lock: two friends qualifying at once
        run.trace.append(
            rule_trace(
                REFERRER,
                "referral",
                False,
                "fraud_check",
                f"velocity: already {busiest(fraud.velocity, rewarded, event.time)} referrals "
                f"rewarded (at most {limit_words(fraud.velocity)}; referee {event.referee})",
            )
        )
        return
    if not referral_allowed(settings.limit, rewarded, event.time):
        assert settings.limit is not None
        run.trace.append(
            rule_trace(
                REFERRER,
                "referral",
                False,
                "capped",
                f"referral limit reached: {limit_words(settings.limit)} (referee {event.referee})",
            )
        )
        return
    gives = give(run, settings.referrer, REFERRER)
    windows = [w for w in (settings.limit, fraud.velocity if fraud is not None else None) if w is not None]
    if windows:  # keep what the longer of the two periods still counts, and the later rewards
        rewarded = max((_kept(w, rewarded, event.time) for w in windows), key=len)
    run.state = replaced(run.state, {"referrals_rewarded": sorted([*rewarded, event.time])})
    run.trace.append(
        rule_trace(
            REFERRER,
            "referral",
            True,
            "fired",
            f"referee {event.referee} qualified ({event.qualifying_event}); gives {', '.join(gives)}",
            **reward_points(settings.referrer),
        )
    )


def _kept(limit: Limit, rewarded: list[dt.datetime], at: dt.datetime) -> list[dt.datetime]:
    """The reward times a period of `limit` still counts after a reward at `at`: those `recent`
    counts, and those after `at` (rewards of friends whose purchases came first)."""
    if limit.per is None:  # counted for ever: all of them
        return list(rewarded)
    return [*recent(limit, rewarded, at), *(moment for moment in rewarded if moment > at)]


FINGERPRINTS = ("device", "payment", "household")
KEPT_FINGERPRINTS = 5


def _record_fingerprints(run: Run) -> None:
    """Keep the event's fingerprints the referral's fraud checks read (the latest 5 distinct of
    each kind, newest last): a customer may become a referrer, or be a referee, later."""
    settings = run.program.referral
    fraud = settings.fraud if settings is not None else None
    if fraud is None:
        return
    wanted = [fraud.same_device, fraud.same_payment, fraud.same_household]
    kept = run.state.fingerprints
    changed = dict(kept)
    for kind, read in zip(FINGERPRINTS, wanted, strict=True):
        value = getattr(run.event, kind)
        if read and value is not None and kept.get(kind, [])[-1:] != [value]:
            seen = [v for v in kept.get(kind, []) if v != value]
            changed[kind] = [*seen, value][-KEPT_FINGERPRINTS:]
    if changed != kept:
        run.state = replaced(run.state, {"fingerprints": changed})


def _fraud(run: Run, fraud: ReferralFraud) -> tuple[str, str] | None:
    """The first fraud check the qualifying purchase fails, as a refusal (code, reason); None when
    it passes them all. The referee's fingerprints are compared with the referrer's record the
    caller read (`BudgetSnapshot.referrer`); without one (the engine alone) nothing is checked."""
    referrer = run.budgets.referrer
    if referrer is None:
        return None
    mine = run.state.fingerprints
    checks = (
        ("device", fraud.same_device, "the same device"),
        ("payment", fraud.same_payment, "the same card or wallet"),
        ("household", fraud.same_household, "the same household"),
    )
    for kind, wanted, words in checks:
        shared = set(mine.get(kind, [])) & set(referrer.fingerprints.get(kind, []))
        if wanted and shared:
            return "fraud_check", f"same_{kind}: the friend used {words} as the referrer {referrer.customer}"
    if fraud.velocity is not None and not referral_allowed(
        fraud.velocity, list(referrer.rewarded), run.event.time
    ):
        count = busiest(fraud.velocity, list(referrer.rewarded), run.event.time)
        return (
            "fraud_check",
            f"velocity: the referrer {referrer.customer} had {count} referrals rewarded within "
            f"{format_duration(fraud.velocity.per) if fraud.velocity.per else 'ever'} "
            f"(at most {limit_words(fraud.velocity)})",
        )
    return None


def _signup(run: Run, event: Signup) -> None:
    state = run.state
    seen_before = state.signed_up_at is not None
    if not seen_before:
        run.state = replaced(state, {"signed_up_at": event.time})
    code = event.referral_code
    if code is None or run.program.referral is None:
        return
    rule = "referral:signup"
    own = referral_code(run.program.program, event.customer, run.secret)
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
