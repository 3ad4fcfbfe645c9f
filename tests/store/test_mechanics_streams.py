"""Random streams that mix every mechanic at its seams with the others, through `Loyalty` on the
memory store and on SQLite with working states (decided in place), checked after every step
against what a finance team relies on (docs/engine.md, docs/service.md, docs/stores.md):

- both stores answer the same and keep the same states and the same ledger;
- every balance is the sum of the customer's ledger rows, the books reconcile, and no lot is
  negative unless the program lets a balance go negative;
- a refused operation and a redelivery change nothing; a redelivery answers the original outcome;
  another body under an id used before is RE443;
- a lot becomes available once; the returns of a purchase take back at most what it earned and
  give back at most the points it was paid with; a return naming a return is refused, and so is
  a void of any return (also one that took back no points);
- a single-use coupon is used by at most one purchase that stands (a void makes it usable
  again); an offer's limit, a catalog item's stock and a rule's budget are never passed.

The program mixes tiers, capped and budgeted earn rules, a challenge whose reward is a coupon, a
quest, a badge, a catalog with stock, coupons (single-use or not), an offer with a limit,
referrals, a return window and late events; the stream mixes purchases (with coupons, paid in
part with points), full and partial returns, redemptions, signups with referral codes, reviews,
app opens, adjustments, voids of recent events, `advance`, and redeliveries. Found here: a void of
a return that took back no points, a return naming a return, a late event's offer and cap, a
referrer rewarded twice within the referral limit (tests/engine/test_limits_late.py,
tests/tools/test_void_seams.py).
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.errors import RulesEngineError
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.store import Store, open_store
from rules_engine.tools.accounting import books
from rules_engine.tools.adjustments import Adjustment
from rules_engine.tools.voids import Void

PROGRAM = """
program: seams
version: 1
timezone: Europe/Berlin
currency: EUR
points: {pending: 3d, expire_after: 30d, value: 0.01, negative_balance: NEGATIVE}
returns: {within: 10d}
late_events: {accept_within: 2d}
tiers:
  qualify_on: spend
  window: rolling 60d
  downgrade: one_level
  levels:
    - {id: basic, threshold: 0}
    - {id: plus, threshold: 300, benefits: {earn_multiplier: 2}}
earn:
  - {id: base, rate: 1 per 1}
  - id: bonus
    when: basket.total >= 50
    award: 20
    cap: {per_week: 40}
    budget: {points: 200, period: program}
  - {id: shoes, for_each_item: item.category == "shoes", award: 3 * item.qty}
challenges:
  - id: three-visits
    counts: 1
    goal: 3
    window: calendar_week
    repeat: every_window
    reward: {points: 30, coupon: five-off}
quests:
  - id: tour
    within: 14d
    ordered: true
    steps:
      - {id: buy, when: basket.total > 0}
      - {id: write, on: review}
    reward: {points: 25}
badges:
  - {id: critic, name: Critic, on: [review], reward: {points: 5}}
catalog:
  - {id: voucher, name: A voucher, cost: 60, reward: {coupon: ten-off}, stock: 3}
  - {id: pass, name: A pass, cost: 40, reward: {coupon: shoe-pass}}
coupons:
  - {id: five-off, amount: 5, min_spend: 20, valid_for: 20d}
  - {id: ten-off, amount: 10, valid_for: 20d}
  - {id: shoe-pass, percent: 10, applies_to: item.category == "shoes", valid_for: 10d, single_use: false}
  - {id: hello, amount: 3, valid_for: 5d}
offers:
  - {id: hello-again, on: [app_open], when: customer.visits >= 1, coupon: hello, limit: {count: 1, per: 30d}}
referral:
  qualifying: basket.total >= 30
  within: 30d
  referrer: {points: 50}
  referee: {coupon: five-off}
  limit: {count: 2, per: 60d}
"""
SECRET = b"mechanics streams"
ENGINES = {
    negative: Engine(load_program_text(PROGRAM.replace("NEGATIVE", negative), "seams.yaml"), secret=SECRET)
    for negative in ("allow", "write_off")
}
SHOP = [("SHOE", "shoes", 10, 80), ("SHIRT", "apparel", 5, 40), ("SOCK", "apparel", 1, 5)]
T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
HOURS = [0, 1, 2, 5, 13, 30, 80, 200, 700]
CUSTOMERS = ["k0", "k1", "k2", "k3"]
REFUSED = "refused"
Again = tuple[str, dict[str, Any]]  # ("again", the event as first sent) or ("other", another body)


def balance(state: CustomerState) -> Decimal:
    return sum((lot.points for lot in state.lots), Decimal(0))


class Stream:
    """One stream through both stores, and what the checks need to remember of it."""

    def __init__(self, engine: Engine, seed: int, folder: str) -> None:
        self.engine = engine
        self.pick = random.Random(seed)
        self.stores: list[Store] = [
            open_store("memory:", "seams"),
            open_store(f"sqlite:///{Path(folder) / 'w.db'}?working=1", "seams"),
        ]
        self.services = [Loyalty(engine, store, horizon=None) for store in self.stores]
        self.clock: dict[str, dt.datetime] = {}
        self.done: dict[str, list[dict[str, Any]]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[str, Any]] = {}
        self.voided: set[str] = set()
        self.available: set[str] = set()
        self.known: set[str] = set()

    def operation(self, n: int, customer: str, at: dt.datetime) -> Any:
        """The n-th operation: an event (a dict), an `Adjustment`, a `Void`, an advance (a
        customer and a moment) or a redelivery (`Again`)."""
        pick = self.pick
        base = {"id": f"e{n}", "time": at.isoformat(), "customer": customer}
        done = self.done.setdefault(customer, [])
        bought = [event for event in done if event["type"] == "purchase"]
        roll = pick.random()
        if roll < 0.30:
            return self.purchase(base, customer)
        if roll < 0.42 and bought:
            purchase = pick.choice(bought)
            lines = [{"sku": i["sku"], "qty": pick.randint(1, i["qty"])} for i in purchase["items"]]
            if pick.random() < 0.5:
                lines = [{"sku": i["sku"], "qty": i["qty"]} for i in purchase["items"]]
            returns = [event["id"] for event in done if event["type"] == "return"]
            named = pick.choice(returns) if returns and pick.random() < 0.1 else purchase["id"]
            return {
                **base,
                "type": "return",
                "purchase": named,
                "items": lines[: pick.randint(1, len(lines))],
            }
        if roll < 0.48:
            return {**base, "type": "redeem", "item": pick.choice(["voucher", "pass"])}
        if roll < 0.52:
            known = sorted(self.known - {customer})
            code = referral_code("seams", pick.choice(known), SECRET) if known else None
            return {**base, "type": "signup", **({"referral_code": code} if code else {})}
        if roll < 0.58:
            return {**base, "type": pick.choice(["review", "app_open"])}
        if roll < 0.65:
            points = Decimal(pick.choice([5, 50, 100, 400, -3, -40, -500]))
            return Adjustment(
                id=f"a{n}", customer=customer, points=points, reason="r", operator="olga", at=at
            )
        if roll < 0.78 and done:
            voided = pick.choice(done[-4:])["id"]
            return Void(id=f"v{n}", customer=customer, voided=voided, reason="oops", operator="olga", at=at)
        if roll < 0.83:
            return customer, at + dt.timedelta(days=pick.choice([1, 8, 20, 40]))
        if roll < 0.93 and self.events:
            first = self.events[pick.choice(sorted(self.events))]
            if roll < 0.90:
                return "again", first
            later = dt.datetime.fromisoformat(first["time"]) + dt.timedelta(minutes=1)
            return "other", {**first, "time": later.isoformat()}
        return {**base, "type": "app_open"}

    def purchase(self, base: dict[str, Any], customer: str) -> dict[str, Any]:
        pick = self.pick
        lines = [
            {"sku": sku, "category": category, "price": Decimal(pick.randint(low * 100, high * 100)) / 100}
            | {"qty": pick.randint(1, 3)}
            for sku, category, low, high in pick.sample(SHOP, pick.randint(1, 3))
        ]
        event = {**base, "type": "purchase", "items": lines}
        state = self.stores[0].state(customer)
        if state is not None and pick.random() < 0.2:
            event["paid_with_points"] = pick.choice(["0.05", "0.40", "1.00", "5.00"])
        codes = [coupon.code for coupon in state.coupons] if state is not None else []
        if codes and pick.random() < 0.6:
            event["coupons"] = pick.sample(codes, pick.randint(1, min(2, len(codes))))
        return event

    def apply(self, loyalty: Loyalty, asked: Any) -> Any:
        """What a store answered (without states), or (`REFUSED`, the codes of its refusal)."""
        try:
            if isinstance(asked, dict):
                handled = loyalty.handle(asked)
                referrer = handled.referrer
                return (
                    handled.duplicate,
                    handled.outcome.model_dump(mode="json", exclude={"state"}),
                    None if referrer is None else referrer.model_dump(mode="json", exclude={"state"}),
                )
            if isinstance(asked, Adjustment | Void):
                booked = loyalty.adjust(asked) if isinstance(asked, Adjustment) else loyalty.void(asked)
                return booked.applied.model_dump(mode="json"), booked.duplicate
            if asked[0] in ("again", "other"):
                return self.apply(loyalty, asked[1])
            return "advanced", [change.model_dump(mode="json") for change in loyalty.advance(*asked)]
        except RulesEngineError as refused:
            return REFUSED, sorted({d.code for d in refused.diagnostics})

    def step(self, n: int) -> None:
        pick = self.pick
        customer = pick.choice(CUSTOMERS)
        at = self.clock.get(customer, T0) + dt.timedelta(hours=pick.choice(HOURS))
        if pick.random() < 0.08:
            at -= dt.timedelta(hours=pick.choice([1, 20, 60]))  # late: taken or refused
        asked = self.operation(n, customer, at)
        again = isinstance(asked, tuple) and asked[0] in ("again", "other")
        customer = asked[1]["customer"] if again else customer
        states = dict(self.stores[0].states())
        rows = len(list(self.stores[0].ledger()))
        answers = [self.apply(loyalty, asked) for loyalty in self.services]
        assert answers[0] == answers[1], (n, asked)
        answer = answers[0]
        refused = answer[0] == REFUSED
        if refused or again:
            assert dict(self.stores[0].states()) == states, (n, asked, answer)
            assert len(list(self.stores[0].ledger())) == rows, (n, asked)
        if again and asked[0] == "again":
            assert not refused and answer[0] and answer[1] == self.answers[asked[1]["id"]], n
        elif again:
            assert answer == (REFUSED, ["RE443"]), (n, answer)
        elif not refused:
            self.applied(customer, asked, answer)
        self.check_books()

    def applied(self, customer: str, asked: Any, answer: Any) -> None:
        if isinstance(asked, dict):
            duplicate, outcome, referrer = answer
            assert not duplicate
            if asked["type"] == "return":
                assert any(
                    e["id"] == asked["purchase"] for e in self.done[customer] if e["type"] == "purchase"
                )
            self.events[asked["id"]] = asked
            self.answers[asked["id"]] = outcome
            self.done[customer].append(asked)
            self.known.add(customer)
            self.ripened(outcome["effects"]["points_changes"])
            if referrer is not None:
                self.ripened(referrer["effects"]["points_changes"])
            self.check_returns(customer)
            self.check_limits()
        elif isinstance(asked, Void):
            assert self.events[asked.voided]["type"] != "return", asked
            self.voided.add(asked.voided)
            self.check_limits()
        elif isinstance(asked, tuple):
            self.ripened(answer[1])
        if isinstance(asked, dict | Adjustment | Void):
            at = dt.datetime.fromisoformat(asked["time"]) if isinstance(asked, dict) else asked.at
            self.clock[customer] = max(self.clock.get(customer, T0), at)
        elif self.stores[0].state(customer) is not None:
            self.clock[customer] = max(self.clock.get(customer, T0), asked[1])

    def ripened(self, changes: list[dict[str, Any]]) -> None:
        """Pending points become available once."""
        for change in changes:
            if change["kind"] == "available":
                assert change["lot"] not in self.available, change
                self.available.add(change["lot"])

    def check_books(self) -> None:
        allowed = self.engine.program.points.negative_balance == "allow"
        ledgers = []
        for store in self.stores:
            rows = list(store.ledger())
            states = dict(store.states())
            for customer, state in states.items():
                assert sum((r.entry.points for r in rows if r.customer == customer), Decimal(0)) == balance(
                    state
                )
                assert allowed or all(lot.points >= 0 for lot in state.lots), customer
            total = sum(map(balance, states.values()), Decimal(0))
            assert books(self.engine.program, rows, balances=total).reconciles
            ledgers.append(sorted(repr((row.customer, row.entry)) for row in rows))
        assert dict(self.stores[0].states()) == dict(self.stores[1].states())
        assert ledgers[0] == ledgers[1]

    def check_returns(self, customer: str) -> None:
        rows = [row.entry for row in self.stores[0].ledger(customer=customer)]
        returns: dict[str, list[str]] = {}
        for event in self.done[customer]:
            if event["type"] == "return":
                returns.setdefault(event["purchase"], []).append(event["id"])
        for purchase, ids in returns.items():
            earned = sum((e.points for e in rows if e.event == purchase and e.kind == "earn"), Decimal(0))
            taken = -sum((e.points for e in rows if e.event in ids and e.kind == "reverse"), Decimal(0))
            assert purchase in self.voided or taken <= earned, (purchase, taken, earned)
            value = self.engine.program.points.value or Decimal(1)
            paid = Decimal(self.events[purchase].get("paid_with_points", 0)) / value  # in points
            changes = [c for i in ids for c in self.answers[i]["effects"]["points_changes"]]
            assert sum((Decimal(c["points"]) for c in changes if c["kind"] == "refund"), Decimal(0)) <= paid

    def check_limits(self) -> None:
        kinds = {
            issued["code"]: issued["coupon"]
            for outcome in self.answers.values()
            for issued in outcome["effects"]["coupons_issued"]
        }
        used: dict[str, int] = {}
        redeemed: dict[str, int] = {}
        bonus = Decimal(0)
        offers: dict[str, list[dt.datetime]] = {}
        for name, outcome in self.answers.items():
            event = self.events[name]
            standing = name not in self.voided
            for code in outcome["effects"]["coupons_redeemed"]:
                used[code] = used.get(code, 0) + (standing and kinds.get(code) != "shoe-pass")
            if event["type"] == "redeem" and standing:
                redeemed[event["item"]] = redeemed.get(event["item"], 0) + 1
            bonus += sum(
                (Decimal(a["points"]) for a in outcome["effects"]["points"] if a["rule"] == "bonus"), 0
            )
            bonus -= sum((Decimal(r["points"]) for r in outcome["effects"]["budgets_released"]), Decimal(0))
            for issued in outcome["effects"]["coupons_issued"]:
                if issued["rule"] == "offer:hello-again":
                    offers.setdefault(event["customer"], []).append(dt.datetime.fromisoformat(event["time"]))
        assert all(count <= 1 for count in used.values()), used
        assert redeemed.get("voucher", 0) <= 3 and bonus <= 200
        for times in offers.values():
            assert all(sum(t <= u < t + dt.timedelta(days=30) for u in times) <= 1 for t in times), times


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6), steps=st.integers(30, 70), negative=st.sampled_from(["allow", "write_off"])
)
def test_streams_mixing_the_mechanics_keep_the_books_the_limits_and_the_stores_agreeing(
    seed: int, steps: int, negative: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        stream = Stream(ENGINES[negative], seed, folder)
        try:
            for n in range(steps):
                stream.step(n)
        finally:
            for store in stream.stores:
                store.close()
