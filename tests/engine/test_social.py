"""Referrals, offers and notifications, on small programs worked out by hand.

Times are in the program's timezone (Europe/Moscow, +03:00).
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from decimal import Decimal

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics import MECHANICS, notifications, offers, referral
from rules_engine.engine.outcome import Outcome, RuleTrace
from rules_engine.program.model import Limit
from rules_engine.program.validate import load_program_text
from tests.engine.scenario import Customer, event

HEADER = "program: t\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\n"
SECRET = b"test-secret"
MINE = [referral, offers, notifications]
MSK = dt.timezone(dt.timedelta(hours=3))


def test_the_mechanics_are_wired_in() -> None:
    assert all(mechanic in MECHANICS for mechanic in MINE)


def engine(body: str) -> Engine:
    return Engine(load_program_text(HEADER + textwrap.dedent(body), "t.yaml"), secret=SECRET)


def trace(outcome: Outcome, rule: str, kind: str | None = None) -> RuleTrace:
    return next(t for t in outcome.trace if t.rule == rule and (kind is None or t.kind == kind))


def has(outcome: Outcome, rule: str) -> bool:
    return any(t.rule == rule for t in outcome.trace)


def points(outcome: Outcome) -> dict[str, Decimal]:
    return {a.rule: a.points for a in outcome.effects.points}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=MSK)


def sent(outcome: Outcome) -> list[tuple[str, str, str]]:
    """Notifications sent, from the trace; the effect list holds the same once wired in."""
    traced = [
        (t.rule, *t.reason.removeprefix("sends ").split(" "))
        for t in outcome.trace
        if t.kind == "notification" and t.fired
    ]
    effects = [(n.rule, n.channel, n.template) for n in outcome.effects.notifications]
    assert effects in ([], traced)
    return [(rule, channel, template) for rule, channel, template in traced]


# -- referral ------------------------------------------------------------------------------------

REFERRAL = """\
coupons:
  - id: welcome-10
    percent: 10
    valid_for: 30d
referral:
  qualifying: basket.total >= 1000
  within: 60d
  referrer: {points: 500}
  referee: {points: 200, coupon: welcome-10}
  limit: {count: 2, per: 365d}
"""
FRIEND = referral.referral_code("t", "friend", SECRET)


def test_referral_code_is_deterministic_and_secret() -> None:
    code = referral.referral_code("t", "c1", SECRET)
    assert re.fullmatch(r"REF-[A-Z2-7]{8}", code)
    assert code == referral.referral_code("t", "c1", SECRET)
    assert code != referral.referral_code("t", "c2", SECRET)
    assert code != referral.referral_code("t", "c1", b"other")
    assert code != referral.referral_code("u", "c1", SECRET)


def test_referral_rewards_both_sides_on_the_first_qualifying_purchase() -> None:
    c = Customer(engine(REFERRAL))
    signup = c.send(event("signup", "2026-12-01T10:00:00", referral_code=FRIEND))
    t = trace(signup, "referral:signup")
    assert (t.kind, t.fired, t.code, t.reason) == (
        "referral",
        False,
        "nothing_eligible",
        f"referred by {FRIEND}: recorded",
    )
    assert c.state is not None
    assert c.state.referred_with == FRIEND
    assert c.state.signed_up_at == at("2026-12-01T10:00:00")

    small = c.send(event("purchase", "2026-12-02T10:00:00", ("A", "x", "900")))
    t = trace(small, "referral:referee")
    assert (t.fired, t.code) == (False, "condition_false")
    assert not has(small, "referral:referrer")
    assert points(small) == {}

    big = c.send(event("purchase", "2026-12-03T10:00:00", ("A", "x", "1000")))
    assert points(big) == {"referral:referee": Decimal(200)}
    [coupon] = big.effects.coupons_issued
    assert (coupon.rule, coupon.coupon) == ("referral:referee", "welcome-10")
    t = trace(big, "referral:referee")
    assert (t.fired, t.code, t.amount) == (True, "fired", Decimal(200))
    assert t.reason == (
        f"qualifying purchase of a customer referred by {FRIEND}; "
        f"gives 200 points, coupon welcome-10 ({coupon.code})"
    )
    owed = trace(big, "referral:referrer")
    assert (owed.kind, owed.fired, owed.code) == ("referral", True, "fired")
    assert owed.reason == f"referrer {FRIEND} is owed 500 points"
    assert c.state.referral_qualified_at == at("2026-12-03T10:00:00")
    assert c.state.available(at("2026-12-03T10:00:00")) == 200
    assert [x.coupon for x in c.state.coupons] == ["welcome-10"]

    again = c.send(event("purchase", "2026-12-04T10:00:00", ("A", "x", "5000")))
    t = trace(again, "referral:referee")
    assert (t.fired, t.code, t.reason) == (False, "capped", "already qualified on 2026-12-03 10:00")
    assert not has(again, "referral:referrer")
    assert points(again) == {}


def test_referral_must_qualify_within_its_time() -> None:
    c = Customer(engine(REFERRAL))
    c.send(event("signup", "2026-12-01T10:00:00", referral_code=FRIEND))
    late = c.send(event("purchase", "2027-01-30T10:00:00", ("A", "x", "1000")))  # 60 days on
    t = trace(late, "referral:referee")
    assert (t.fired, t.code, t.reason) == (
        False,
        "outside_schedule",
        "the time to qualify ended 2027-01-30 10:00 (60d after signup)",
    )
    assert points(late) == {}
    assert not has(late, "referral:referrer")


def test_referral_in_time_one_second_before_the_end() -> None:
    c = Customer(engine(REFERRAL))
    c.send(event("signup", "2026-12-01T10:00:00", referral_code=FRIEND))
    ok = c.send(event("purchase", "2027-01-30T09:59:59", ("A", "x", "1000")))
    assert points(ok) == {"referral:referee": Decimal(200)}


def test_self_referral_is_refused() -> None:
    c = Customer(engine(REFERRAL))
    own = referral.referral_code("t", "c1", SECRET)
    out = c.send(event("signup", "2026-12-01T10:00:00", referral_code=own))
    t = trace(out, "referral:signup")
    assert (t.fired, t.code, t.reason) == (
        False,
        "condition_false",
        "self-referral: the code is the customer's own",
    )
    assert c.state is not None and c.state.referred_with is None
    buy = c.send(event("purchase", "2026-12-02T10:00:00", ("A", "x", "1000")))
    assert points(buy) == {} and not has(buy, "referral:referee")


def test_an_existing_customer_cannot_be_referred() -> None:
    c = Customer(engine(REFERRAL))
    c.send(event("purchase", "2026-12-01T10:00:00", ("A", "x", "100")))
    out = c.send(event("signup", "2026-12-02T10:00:00", referral_code=FRIEND))
    t = trace(out, "referral:signup")
    assert (t.fired, t.code, t.reason) == (False, "capped", "already a customer: 1 purchase before")
    assert c.state is not None and c.state.referred_with is None

    d = Customer(engine(REFERRAL))
    d.send(event("signup", "2026-12-01T10:00:00"))
    out = d.send(event("signup", "2026-12-02T10:00:00", referral_code=FRIEND))
    assert trace(out, "referral:signup").reason == "already a customer: signed up before"
    assert d.state is not None and d.state.referred_with is None
    assert d.state.signed_up_at == at("2026-12-01T10:00:00")


def test_a_second_referral_is_refused() -> None:
    c = Customer(engine(REFERRAL))
    c.send(event("signup", "2026-12-01T10:00:00", referral_code=FRIEND))
    other = referral.referral_code("t", "someone-else", SECRET)
    out = c.send(event("signup", "2026-12-02T10:00:00", referral_code=other))
    t = trace(out, "referral:signup")
    assert (t.fired, t.code, t.reason) == (False, "capped", f"already referred with {FRIEND}")
    assert c.state is not None and c.state.referred_with == FRIEND


def test_no_referral_section_ignores_codes() -> None:
    c = Customer(engine("earn: []\n"))
    out = c.send(event("signup", "2026-12-01T10:00:00", referral_code=FRIEND))
    assert not has(out, "referral:signup")
    assert c.state is not None and c.state.referred_with is None
    assert c.state.signed_up_at == at("2026-12-01T10:00:00")


def test_referral_limit_for_the_caller() -> None:
    limit = Limit(count=2, per=dt.timedelta(days=365))
    now = at("2026-12-01T10:00:00")
    assert referral.referral_allowed(None, [now] * 50, now)
    assert referral.referral_allowed(limit, [now - dt.timedelta(days=400), now], now)
    assert not referral.referral_allowed(limit, [now - dt.timedelta(days=100), now], now)
    assert referral.referral_allowed(Limit(count=1), [], now)
    assert not referral.referral_allowed(Limit(count=1), [now - dt.timedelta(days=4000)], now)


# -- offers --------------------------------------------------------------------------------------

OFFERS = """\
coupons:
  - id: lens-15
    percent: 15
    applies_to: item.category == "lens"
    valid_for: 30d
offers:
  - id: lens
    on: [purchase, app_open]
    when: any(p.category == "camera" for p in customer.purchases)
    coupon: lens-15
    notify: {channel: push, template: lens_offer}
"""


def test_offer_issued_once_to_whom_it_is_meant_for() -> None:
    c = Customer(engine(OFFERS))
    first = c.send(event("app_open", "2026-12-01T10:00:00"))
    t = trace(first, "offer:lens")
    assert (t.kind, t.fired, t.code) == ("offer", False, "condition_false")
    camera = c.send(event("purchase", "2026-12-02T10:00:00", ("CAM-1", "camera", "30000")))
    # `customer.purchases` holds the earlier purchases: the camera is not one yet
    assert trace(camera, "offer:lens").code == "condition_false"

    out = c.send(event("app_open", "2026-12-03T10:00:00"))
    [coupon] = out.effects.coupons_issued
    assert (coupon.rule, coupon.coupon) == ("offer:lens", "lens-15")
    assert coupon.expires_at == at("2027-01-02T10:00:00")
    t = trace(out, "offer:lens", "offer")
    assert (t.fired, t.code, t.reason) == (True, "fired", f"issued: coupon lens-15 ({coupon.code})")
    assert sent(out) == [("offer:lens", "push", "lens_offer")]
    assert c.state is not None
    assert c.state.offers == {"lens": [at("2026-12-03T10:00:00")]}
    assert c.state.notified == []  # no frequency cap: no sends to count

    again = c.send(event("app_open", "2026-12-04T10:00:00"))
    t = trace(again, "offer:lens")
    assert (t.fired, t.code, t.reason) == (
        False,
        "capped",
        "already issued 1 time (last 2026-12-03 10:00); limit 1 ever",
    )
    assert again.effects.coupons_issued == [] and sent(again) == []

    review = c.send(event("review", "2026-12-05T10:00:00"))
    t = trace(review, "offer:lens")
    assert (t.code, t.reason) == ("wrong_event", "review is not one of: purchase, app_open")

    # the issued coupon works at checkout
    use = c.send(
        event(
            "purchase",
            "2026-12-06T10:00:00",
            ("LENS-50", "lens", "10000"),
            ("BAG", "bag", "1000"),
            coupons=[coupon.code],
        )
    )
    [discount] = use.effects.discounts
    assert (discount.rule, discount.amount) == (f"coupon:{coupon.code}", Decimal(1500))


def test_offer_skips_what_the_customer_already_bought() -> None:
    c = Customer(engine(OFFERS))
    c.send(event("purchase", "2026-12-01T10:00:00", ("CAM-1", "camera", "30000")))
    c.send(event("purchase", "2026-12-02T10:00:00", ("LENS-50", "lens", "10000")))
    out = c.send(event("app_open", "2026-12-03T10:00:00"))
    t = trace(out, "offer:lens")
    assert (t.fired, t.code, t.reason) == (
        False,
        "nothing_eligible",
        "already bought LENS-50, which coupon lens-15 applies to",
    )
    assert out.effects.coupons_issued == []
    assert c.state is not None and c.state.offers == {}


def test_offer_skips_a_line_of_this_purchase() -> None:
    c = Customer(engine(OFFERS))
    c.send(event("purchase", "2026-12-01T10:00:00", ("CAM-1", "camera", "30000")))
    out = c.send(event("purchase", "2026-12-02T10:00:00", ("LENS-85", "lens", "20000")))
    assert trace(out, "offer:lens").reason == "already bought LENS-85, which coupon lens-15 applies to"


def test_offer_without_skip_bought_is_issued_anyway() -> None:
    c = Customer(
        engine(OFFERS.replace("    coupon: lens-15\n", "    coupon: lens-15\n    skip_bought: false\n"))
    )
    c.send(event("purchase", "2026-12-01T10:00:00", ("CAM-1", "camera", "30000")))
    # a lens in this very purchase, and the offer comes anyway
    out = c.send(event("purchase", "2026-12-02T10:00:00", ("LENS-50", "lens", "10000")))
    assert trace(out, "offer:lens", "offer").fired
    assert len(out.effects.coupons_issued) == 1


def test_offer_limit_per_period_and_schedule() -> None:
    body = """\
    coupons:
      - {id: treat, amount: 100, valid_for: 7d}
    offers:
      - id: treat
        on: [app_open]
        when: "true"
        coupon: treat
        limit: {count: 2, per: 7d}
        active: {start: "2026-12-01", end: "2026-12-31"}
    """
    c = Customer(engine(body))
    early = c.send(event("app_open", "2026-11-30T10:00:00"))
    assert trace(early, "offer:treat").code == "outside_schedule"
    assert trace(c.send(event("app_open", "2026-12-01T10:00:00")), "offer:treat").fired
    assert trace(c.send(event("app_open", "2026-12-02T10:00:00")), "offer:treat").fired
    third = c.send(event("app_open", "2026-12-03T10:00:00"))
    t = trace(third, "offer:treat")
    assert (t.code, t.reason) == ("capped", "already issued 2 times (last 2026-12-02 10:00); limit 2 per 7d")
    # 8 December 10:00: the issue of 1 December is 7 days old and no longer counts
    assert trace(c.send(event("app_open", "2026-12-08T10:00:00")), "offer:treat").fired
    assert c.state is not None
    assert c.state.offers["treat"] == [
        at("2026-12-01T10:00:00"),
        at("2026-12-02T10:00:00"),
        at("2026-12-08T10:00:00"),
    ]


# -- notifications -------------------------------------------------------------------------------


def test_frequency_cap_suppresses_and_traces() -> None:
    body = """\
    coupons:
      - {id: a, amount: 100, valid_for: 7d}
      - {id: b, amount: 200, valid_for: 7d}
    offers:
      - {id: a, on: [app_open], when: "true", coupon: a, notify: {channel: push, template: offer_a}}
      - {id: b, on: [app_open], when: "true", coupon: b, notify: {channel: sms, template: offer_b}}
    notifications:
      frequency_cap: {count: 1, per: 7d}
    """
    c = Customer(engine(body))
    out = c.send(event("app_open", "2026-12-01T10:00:00"))
    assert [x.coupon for x in out.effects.coupons_issued] == ["a", "b"]  # the coupons still come
    assert sent(out) == [("offer:a", "push", "offer_a")]
    t = trace(out, "offer:b", "notification")
    assert (t.fired, t.code, t.reason) == (
        False,
        "capped",
        "sms offer_b suppressed: 1 sent, the cap is 1 per 7d",
    )
    assert c.state is not None and c.state.notified == [at("2026-12-01T10:00:00")]


def test_a_cap_in_a_trace_is_spelt_as_the_program_file_spells_durations() -> None:
    body = """\
    coupons:
      - {id: a, amount: 100, valid_for: 7d}
      - {id: b, amount: 200, valid_for: 7d}
    offers:
      - {id: a, on: [app_open], when: "true", coupon: a, notify: {channel: push, template: offer_a}}
      - {id: b, on: [app_open], when: "true", coupon: b, notify: {channel: sms, template: offer_b}}
    notifications:
      frequency_cap: {count: 1, per: 36h}
    """
    built = engine(body)
    out = Customer(built).send(event("app_open", "2026-12-01T10:00:00"))
    # 36 hours read back as the model writes them: the trace and the program's JSON agree
    assert (
        trace(out, "offer:b", "notification").reason
        == "sms offer_b suppressed: 1 sent, the cap is 1 per 1d12h"
    )
    dumped = built.program.model_dump(mode="json")
    assert dumped["notifications"]["frequency_cap"] == {"count": 1, "per": "1d12h"}


REMINDERS = """\
points: {expire_after: 30d}
earn:
  - {id: base, rate: 1 per 100}
notifications:
  points_expiring: {before: 7d, channel: push, template: beans_expiring}
"""


def test_points_expiring_reminder_once_per_lot() -> None:
    c = Customer(engine(REMINDERS))
    c.send(event("purchase", "2026-12-01T10:00:00", ("A", "x", "1000")))  # 10 points until 31 Dec
    quiet = c.send(event("app_open", "2026-12-24T09:59:59"))
    assert sent(quiet) == [] and not has(quiet, notifications.REMINDER)
    out = c.send(event("app_open", "2026-12-24T10:00:00"))  # 7 days before
    assert sent(out) == [(notifications.REMINDER, "push", "beans_expiring")]
    assert c.state is not None
    assert c.state.reminded == ["purchase@2026-12-01T10:00:00/base"]
    later = c.send(event("app_open", "2026-12-25T10:00:00"))
    assert sent(later) == [] and not has(later, notifications.REMINDER)
    # an expired lot is not reminded of
    gone = c.send(event("app_open", "2027-01-05T10:00:00"))
    assert sent(gone) == []


def test_a_capped_reminder_comes_at_the_next_event() -> None:
    body = REMINDERS.replace(
        "notifications:\n", "notifications:\n  frequency_cap: {count: 1, per: 1d}\n"
    ) + textwrap.dedent(
        """\
        coupons:
          - {id: a, amount: 100, valid_for: 7d}
        offers:
          - {id: a, on: [app_open], when: "true", coupon: a, notify: {channel: push, template: offer_a}}
        """
    )
    c = Customer(engine(body))
    c.send(event("purchase", "2026-12-01T10:00:00", ("A", "x", "1000")))
    out = c.send(event("app_open", "2026-12-25T10:00:00"))
    assert sent(out) == [("offer:a", "push", "offer_a")]
    assert trace(out, notifications.REMINDER).code == "capped"
    assert c.state is not None and c.state.reminded == []
    next_day = c.send(event("app_open", "2026-12-26T10:00:00"))
    assert sent(next_day) == [(notifications.REMINDER, "push", "beans_expiring")]
    assert c.state.reminded == ["purchase@2026-12-01T10:00:00/base"]
    # the state keeps only the sends the cap still counts
    assert c.state.notified == [at("2026-12-26T10:00:00")]


def test_a_referrer_event_id_names_the_referee_and_stays_a_valid_id() -> None:
    from rules_engine.engine.events import MAX_EVENT_ID
    from rules_engine.engine.mechanics.referral import referrer_event_id

    assert referrer_event_id("bob", "p5") == "p5:referrer:bob"
    assert referrer_event_id("bob", "p5") != referrer_event_id("cat", "p5")
    long_id = "x" * MAX_EVENT_ID
    assert len(referrer_event_id("bob", long_id)) <= MAX_EVENT_ID
    assert referrer_event_id("bob", long_id) != referrer_event_id("cat", long_id)


def test_a_qualifying_purchase_says_which_referrer_is_owed() -> None:
    """`effects.referral_owed` names the referrer's code on the qualifying purchase only: what a
    caller reads to credit the referrer (the trace says it in words)."""
    c = Customer(engine(REFERRAL))
    assert c.send(event("signup", "2026-12-01T10:00:00", referral_code=FRIEND)).effects.referral_owed is None
    small = c.send(event("purchase", "2026-12-02T10:00:00", ("A", "x", "900")))
    assert small.effects.referral_owed is None
    big = c.send(event("purchase", "2026-12-03T10:00:00", ("A", "x", "1000")))
    assert big.effects.referral_owed == FRIEND
    again = c.send(event("purchase", "2026-12-04T10:00:00", ("A", "x", "5000")))
    assert again.effects.referral_owed is None
