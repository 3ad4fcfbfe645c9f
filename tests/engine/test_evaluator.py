"""The evaluator's decisions, one mechanic at a time, on small programs worked out by hand."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import BudgetSnapshot, Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.engine.reader import parse_event
from rules_engine.errors import EventError
from rules_engine.jsonio import loads
from rules_engine.periods import BUDGET_PERIODS, cap_period_key
from rules_engine.program.validate import load_program_text
from tests.conftest import ROOT

HEADER = "program: t\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\n"


def engine(body: str) -> Engine:
    return Engine(load_program_text(HEADER + textwrap.dedent(body), "t.yaml"))


def purchase(*lines: tuple[str, str, str, int], time: str = "2026-12-08T08:15:00+03:00", **extra: Any) -> Any:
    items = ", ".join(
        f'{{"sku": "{sku}", "category": "{category}", "price": {price}, "qty": {qty}}}'
        for sku, category, price, qty in lines
    )
    event = loads(
        f'{{"id": "e1", "type": "purchase", "time": "{time}", "customer": "c1", "items": [{items}]}}'
    )
    event.update(extra)
    return event


def points(outcome: Outcome) -> dict[str, Decimal]:
    return {award.rule: award.points for award in outcome.effects.points}


def trace(outcome: Outcome, rule: str) -> Any:
    return next(t for t in outcome.trace if t.rule == rule)


def test_rate_on_the_earning_base_after_discounts_and_exclusions() -> None:
    e = engine(
        """\
        earning_base: {exclude: item.category == "gift_card"}
        discounts: [{id: ten, percent: 10}]
        earn: [{id: base, rate: 1 per 10}]
        """
    )
    outcome = e.process(purchase(("A", "food", "100.00", 1), ("G", "gift_card", "500.00", 1)))
    # food 100 - 10% = 90 earns 9; the gift card (after its own 10% off) earns nothing
    assert points(outcome) == {"base": 9}
    assert outcome.totals.discount == Decimal("60.00")
    assert outcome.totals.earning_base == Decimal("90.00")
    assert [(s.sku, s.amount) for s in outcome.effects.points[0].lines] == [("A", 9)]


def test_multipliers_are_additive_bonuses_and_the_tier_multiplier_too() -> None:
    e = engine(
        """\
        tiers:
          qualify_on: spend
          window: calendar_year
          levels: [{id: base, threshold: 0}, {id: gold, threshold: 100, benefits: {earn_multiplier: 1.5}}]
        earn:
          - {id: base, rate: 1 per 10}
          - {id: double, multiply: 2, cap: {per_event: 1000}}
        """
    )
    outcome = e.process(purchase(("A", "food", "200.00", 1)), {"tier": "gold"})
    assert points(outcome) == {"base": 20, "double": 20, "tier:gold": 10}
    assert outcome.totals.points == 50


def test_exclusive_group_highest_priority_wins_whatever_the_file_order() -> None:
    e = engine(
        """\
        earn:
          - {id: low, award: 5, group: g, priority: 1}
          - {id: high, award: 9, group: g, priority: 2}
        """
    )
    outcome = e.process(purchase(("A", "food", "10.00", 1)))
    assert points(outcome) == {"high": 9}
    assert trace(outcome, "low").code == "shadowed"


def test_caps_use_the_state_counters_of_the_local_day() -> None:
    e = engine(
        'earn: [{id: pastry, for_each_item: item.category == "pastry", award: 5 * item.qty,'
        " cap: {per_day: 20}}]\n"
    )
    state = {"counters": {"pastry": {"day:2026-12-08": 12}}}
    outcome = e.process(purchase(("P", "pastry", "1.00", 3)), state)
    assert points(outcome) == {"pastry": 8}
    assert trace(outcome, "pastry").code == "capped"
    assert outcome.state.counters["pastry"]["day:2026-12-08"] == 20
    # the next local day starts a new counter (23:30 UTC on the 8th is the 9th in Moscow)
    later = e.process(
        {**purchase(("P", "pastry", "1.00", 3), time="2026-12-08T23:30:00+00:00"), "id": "e2"}, outcome.state
    )
    assert points(later) == {"pastry": 15}


def test_budget_is_program_wide() -> None:
    e = engine("earn: [{id: promo, award: 50, budget: {points: 120, period: program}}]\n")
    outcome = e.process(
        purchase(("A", "x", "1.00", 1)), budgets=BudgetSnapshot({"promo": {"lifetime": Decimal(100)}})
    )
    assert points(outcome) == {"promo": 20}


def test_schedule_dates_weekdays_and_hours_in_the_program_timezone() -> None:
    e = engine(
        """\
        earn:
          - id: morning
            award: 10
            active:
              start: 2026-12-01
              end: 2026-12-31
              weekdays: [tue]
              hours: {start: "07:00", end: "10:00"}
        """
    )
    assert points(e.process(purchase(("A", "x", "1.00", 1)))) == {"morning": 10}
    # 06:30 UTC is 09:30 in Moscow: inside; 07:30 UTC is 10:30: outside
    assert points(e.process(purchase(("A", "x", "1.00", 1), time="2026-12-08T06:30:00Z"))) == {"morning": 10}
    late = e.process(purchase(("A", "x", "1.00", 1), time="2026-12-08T07:30:00Z"))
    assert points(late) == {}
    assert trace(late, "morning").code == "outside_schedule"
    assert "10:30" in trace(late, "morning").reason


def test_a_failed_condition_is_explained_with_values_and_a_near_miss() -> None:
    e = engine('earn: [{id: big, award: 50, when: basket.total >= 200 and event.channel == "app"}]\n')
    outcome = e.process(purchase(("A", "x", "150.00", 1), channel="app"), explain=True)
    entry = trace(outcome, "big")
    assert entry.code == "condition_false"
    assert entry.failing == ["basket.total >= 200 → false, basket.total = 150.00"]
    assert entry.hint == "spend 50.00 more"
    assert entry.condition is not None


def holding_coupon(code: str, coupon: str) -> dict[str, Any]:
    """A customer state with one coupon, issued on 1 December, valid until the 31st."""
    issued = {"issued_at": "2026-12-01T00:00:00Z", "expires_at": "2026-12-31T00:00:00Z"}
    return {"coupons": [{"code": code, "coupon": coupon, **issued}]}


def test_presented_coupons_apply_once_and_invalid_ones_are_traced() -> None:
    e = engine(
        """\
        coupons: [{id: latte, percent: 100, applies_to: item.sku == "LATTE", valid_for: 30d}]
        earn: [{id: base, rate: 1 per 10}]
        """
    )
    state = holding_coupon("L-1", "latte")
    event = purchase(
        ("LATTE", "coffee", "300.00", 1), ("BUN", "pastry", "100.00", 1), coupons=["L-1", "NOPE"]
    )
    outcome = e.process(event, state)
    assert outcome.totals.discount == Decimal("300.00")
    assert points(outcome) == {"base": 10}
    assert outcome.state.coupons[0].used_in == "e1"
    assert trace(outcome, "coupon:NOPE").code == "coupon_invalid"
    again = e.process({**event, "id": "e2"}, outcome.state)
    assert again.totals.discount == 0
    assert "already used" in trace(again, "coupon:L-1").reason


def test_a_coupon_presented_twice_or_typed_in_lower_case_applies_once() -> None:
    e = engine(
        """\
        coupons: [{id: fiver, amount: 5, valid_for: 30d}]
        earn: [{id: base, rate: 1 per 1}]
        """
    )
    state = holding_coupon("FIVE-7F3K", "fiver")
    twice = e.process(purchase(("A", "x", "50.00", 1), coupons=["FIVE-7F3K", " five-7f3k "]), state)
    assert twice.totals.discount == Decimal("5.00")  # not 10: one coupon, one discount
    assert twice.effects.coupons_redeemed == ["FIVE-7F3K"]
    first, second = [t for t in twice.trace if t.rule == "coupon:FIVE-7F3K"]
    assert (first.code, second.code) == ("fired", "coupon_invalid")
    assert second.reason == "presented more than once in this event: applied once"
    typed = e.process(purchase(("A", "x", "50.00", 1), coupons=["five-7f3k"]), state)
    assert typed.totals.discount == Decimal("5.00") and typed.state.coupons[0].used_in == "e1"


def test_percent_discounts_compound_and_amounts_are_split_exactly() -> None:
    e = engine(
        """\
        discounts:
          - {id: twenty, percent: 20, priority: 2}
          - {id: ten, percent: 10, priority: 1}
          - {id: fiver, amount: 5, priority: 0}
        """
    )
    outcome = e.process(purchase(("A", "x", "10.00", 1), ("B", "x", "20.00", 1)))
    amounts = {d.rule: d.amount for d in outcome.effects.discounts}
    assert amounts == {"twenty": Decimal("6.00"), "ten": Decimal("2.40"), "fiver": Decimal("5.00")}
    fiver = next(d for d in outcome.effects.discounts if d.rule == "fiver")
    assert sum(s.amount for s in fiver.lines) == Decimal("5.00")
    assert outcome.totals.to_pay == Decimal("16.60")


def test_earning_base_without_tax_shipping_and_points_payment() -> None:
    e = engine(
        """\
        earning_base: {include_tax: false, include_shipping: true, include_paid_with_points: false}
        earn: [{id: base, rate: 1 per 1}]
        points: {value: 1}
        """
    )
    event = purchase(("A", "x", "100.00", 1), tax="20.00", shipping="10.00", paid_with_points="30.00")
    lot = {"event": "e0", "rule": "base", "points": 30, "earned_at": "2026-01-01T00:00:00Z"}
    outcome = e.process(event, {"lots": [lot | {"available_at": "2026-01-01T00:00:00Z"}]})
    # 100 - 20 tax - 30 paid with points = 50, plus 10 shipping
    assert outcome.totals.earning_base == Decimal("60.00")
    assert points(outcome) == {"base": 60}


def test_free_shipping_from_a_discount() -> None:
    e = engine("discounts: [{id: ship, when: basket.item_count >= 3, free_shipping: true}]\n")
    outcome = e.process(purchase(("A", "x", "5.00", 3), shipping="7.00"))
    assert outcome.effects.free_shipping is not None
    assert outcome.totals.shipping == 0
    assert outcome.totals.to_pay == Decimal("15.00")


def test_rules_for_other_event_types() -> None:
    e = engine("earn: [{id: daily, on: [app_open], award: 1}, {id: base, rate: 1 per 1}]\n")
    outcome = e.process(
        loads('{"id": "a1", "type": "app_open", "time": "2026-12-08T08:00:00Z", "customer": "c1"}')
    )
    assert points(outcome) == {"daily": 1}
    assert outcome.effects.points[0].lines == []
    assert trace(outcome, "base").code == "wrong_event"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"currency": "USD"}, "RE411"),
        ({"time": "2026-12-08T08:15:00"}, "RE410"),
        ({"items": []}, "RE410"),
        ({"surprise": 1}, "RE410"),
    ],
)
def test_bad_events_are_refused_and_change_nothing(change: dict[str, Any], code: str) -> None:
    e = engine("earn: [{id: base, rate: 1 per 1}]\n")
    state = {"customer": "c1", "lots": []}
    with pytest.raises(EventError) as caught:
        e.process({**purchase(("A", "x", "1.00", 1)), **change}, state)
    assert caught.value.code == code
    assert state == {"customer": "c1", "lots": []}


def test_new_state_holds_lots_with_pending_and_expiry_and_the_history() -> None:
    e = engine("points: {pending: 14d, expire_after: 365d}\nearn: [{id: base, rate: 1 per 1}]\n")
    outcome = e.process(purchase(("A", "x", "10.00", 1)))
    (lot,) = outcome.state.lots
    assert lot.points == 10
    assert lot.available_at.isoformat() == "2026-12-22T08:15:00+03:00"
    assert lot.expires_at is not None and lot.expires_at.year == 2027
    assert outcome.state.purchases[0].sku == "A"
    assert outcome.state.available(outcome.state.lots[0].earned_at) == 0
    assert outcome.state.pending(outcome.state.lots[0].earned_at) == 10


def test_a_rule_capped_to_nothing_does_not_win_its_exclusive_group() -> None:
    """Regression: the winner of a group is the first rule that gives points, not the first that passes."""
    e = engine(
        """\
        earn:
          - {id: early, award: 10, cap: {per_day: 10}, group: g, priority: 2}
          - {id: big, award: 50, group: g, priority: 1}
        """
    )
    outcome = e.process(purchase(("A", "x", "10.00", 1)), {"counters": {"early": {"day:2026-12-08": 10}}})
    assert points(outcome) == {"big": 50}
    assert trace(outcome, "early").code == "capped"


def test_visits_count_purchases_not_lines() -> None:
    e = engine('discounts: [{id: repeat, when: "customer.visits >= 1", percent: 10}]\n')
    first = e.process(purchase(("A", "x", "10.00", 1), ("B", "x", "10.00", 1)))
    assert first.totals.discount == 0
    assert first.state.visits == 1
    second = e.process({**purchase(("A", "x", "10.00", 1)), "id": "e2"}, first.state)
    assert second.totals.discount == Decimal("1.00")


def test_ledger_entries_name_the_rule_as_it_was() -> None:
    """Each earn entry carries the program version and a hash of the rule's definition."""
    before = engine("earn: [{id: base, rate: 1 per 10}]\n").process(purchase(("A", "x", "100.00", 1)))
    after = engine("earn: [{id: base, rate: 2 per 10}]\n").process(purchase(("A", "x", "100.00", 1)))
    (old,), (new,) = before.ledger, after.ledger
    assert (old.kind, old.rule, old.points, old.version) == ("earn", "base", 10, 1)
    assert old.rule_hash and new.rule_hash and old.rule_hash != new.rule_hash


def test_a_rules_hash_covers_what_its_author_wrote_not_the_engines_defaults() -> None:
    """A later release of the engine may add an option with a default to a rule: the hash of an
    unchanged rule stays, so the books do not show every rule as changed at an upgrade."""
    from rules_engine.engine.plan import _rule_hashes
    from rules_engine.program.model import EarnRule, Program

    class LaterRule(EarnRule):
        a_later_option: int = 0

    class LaterProgram(Program):
        earn: list[LaterRule]  # type: ignore[assignment]

    today = engine(
        "earn: [{id: base, rate: 1 per 10}, {id: big, when: basket.total > 50, award: 5}]\n"
    ).program
    later = LaterProgram.model_validate(today.model_dump(mode="json", exclude_unset=True))
    assert later.earn[0].a_later_option == 0  # the model has the option; the author did not set it
    assert _rule_hashes(later) == _rule_hashes(today)
    changed = engine("earn: [{id: base, rate: 1 per 10}, {id: big, when: basket.total > 50, award: 6}]\n")
    assert _rule_hashes(changed.program)["big"] != _rule_hashes(today)["big"]
    assert _rule_hashes(changed.program)["base"] == _rule_hashes(today)["base"]


def test_a_time_in_a_named_zone_is_decided_by_its_offset_in_memory_and_in_json() -> None:
    """A quest started on 20 March in Berlin (+01:00) with 30 days to finish ends on 19 April at
    11:00 UTC, 30 × 24 hours later, across the change to summer time (+02:00) — whether the state
    went through JSON (a store) or stayed in memory holding the `ZoneInfo` it was given."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from rules_engine.state.customer import CustomerState

    coffee = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    berlin = dt.datetime(2026, 3, 20, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    started = coffee.process(
        {
            "id": "a",
            "type": "purchase",
            "time": berlin,
            "customer": "c",
            "items": [{"sku": "LATTE", "category": "coffee", "price": "200.00", "qty": 1}],
        },
        None,
    ).state
    assert started.quests["breakfast-explorer"].started_at.utcoffset() == dt.timedelta(hours=1)
    stored = CustomerState.model_validate_json(started.model_dump_json())
    pastry = {
        "id": "b",
        "type": "purchase",
        "time": dt.datetime(2026, 4, 19, 10, 30, tzinfo=dt.UTC),  # before the deadline
        "customer": "c",
        "items": [{"sku": "CROISSANT", "category": "pastry", "price": "100.00", "qty": 1}],
    }
    in_memory, from_json = coffee.process(pastry, started), coffee.process(pastry, stored)
    assert in_memory.model_dump_json() == from_json.model_dump_json()
    assert in_memory.state.quests["breakfast-explorer"].done == [0, 1]  # coffee, then pastry: in time

    later, _, _ = coffee.advance(stored, dt.datetime(2026, 4, 20, 9, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    assert later.last_event_at is not None
    assert later.last_event_at.tzinfo == dt.timezone(dt.timedelta(hours=2))  # the offset, not the zone


def test_an_event_amount_too_long_to_stay_exact_is_refused_with_its_field() -> None:
    shop = engine("earn:\n  - id: base\n    rate: 1 per 1\n")
    for line, field in [
        (("x", "c", "1234567890123456", 1), "items[0].price: Decimal input should have no more than 15"),
        (("x", "c", "10", "1234567890"), "items[0].qty: Decimal input should have no more than 9"),
    ]:
        with pytest.raises(EventError) as raised:
            shop.process(purchase(line), None)
        assert raised.value.code == "RE410" and field in str(raised.value)
    largest = shop.process(purchase(("x", "c", "999999999999999", "999999999")), None)
    assert largest.totals.basket == Decimal("999999999999999") * Decimal("999999999")  # exact


def test_a_program_number_too_large_to_compute_exactly_is_an_error_not_a_crash() -> None:
    huge = engine("earn:\n  - id: big\n    award: basket.total * 1000000000000000000000000000\n")
    with pytest.raises(EventError) as raised:
        huge.process(purchase(("x", "c", "10", 1)), None)
    assert raised.value.code == "RE416"
    assert "cannot be computed exactly" in str(raised.value)


def test_a_multiplier_with_for_each_item_multiplies_only_the_matching_lines() -> None:
    # Issue 11: "double points on pastries" gave 901 extra points for a croissant and a TV,
    # 900 of them on the TV.
    e = engine(
        """\
        earn:
          - {id: base, rate: 1 per 100}
          - {id: pastry-double, for_each_item: item.category == "pastry", multiply: 2, cap: {per_event: 500}}
        """
    )
    outcome = e.process(purchase(("CROISSANT", "pastry", "100.00", 1), ("TV", "tv", "90000.00", 1)))
    assert points(outcome) == {"base": 901, "pastry-double": 1}
    double = next(a for a in outcome.effects.points if a.rule == "pastry-double")
    assert [(s.sku, s.amount) for s in double.lines] == [("CROISSANT", 1)]
    assert "for_each_item" in trace(outcome, "pastry-double").reason
    without = e.process(purchase(("TV", "tv", "90000.00", 1)))
    assert points(without) == {"base": 900}
    assert trace(without, "pastry-double").code == "nothing_eligible"


def test_an_award_below_zero_gives_nothing_and_the_trace_says_why() -> None:
    # Issue 11: it was traced "no eligible amount", which sent people looking at the basket.
    e = engine("earn:\n  - {id: rebate, award: basket.total - 500}\n")
    outcome = e.process(purchase(("A", "food", "100.00", 1)))
    assert points(outcome) == {}
    assert trace(outcome, "rebate").code == "nothing_eligible"
    assert "-400.00, below zero" in trace(outcome, "rebate").reason


def test_a_badge_given_as_a_reward_comes_with_its_own_reward() -> None:
    # Issue 11: a badge's `reward` was given only when the badge was earned automatically.
    e = engine(
        """\
        points: {value: 1}
        badges:
          - {id: fan, reward: {points: 20}}
        challenges:
          - {id: first, goal: 1, window: lifetime, reward: {points: 5, badge: fan}}
        catalog:
          - {id: pin, name: A pin, cost: 10, reward: {badge: fan}}
        """
    )
    outcome = e.process(purchase(("A", "food", "100.00", 1)))
    assert points(outcome) == {"challenge:first": 5, "badge:fan": 20}
    assert [b.badge for b in outcome.effects.badges] == ["fan"]
    again = e.process(
        purchase(("A", "food", "100.00", 1)), outcome.state.model_copy(update={"processed": []})
    )
    assert points(again) == {}  # the badge is held: neither it nor its reward comes twice

    redeem = {
        "id": "r1",
        "type": "redeem",
        "time": "2026-12-09T10:00:00+03:00",
        "customer": "c1",
        "item": "pin",
    }
    fresh = outcome.state.model_copy(update={"badges": []})
    redeemed = e.process(redeem, fresh)
    assert [b.badge for b in redeemed.effects.badges] == ["fan"]  # was ignored by redemptions
    assert points(redeemed) == {"badge:fan": 20}


_LINE_FILTERED = engine(
    """\
    points: {round: per_rule}
    earn:
      - {id: base, rate: 1 per 1}
      - {id: pastries, for_each_item: item.category == "pastry", multiply: 3, cap: {per_event: 99999999}}
    """
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["pastry", "tv", "coffee"]),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
            st.integers(min_value=1, max_value=5),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_line_filtered_multiplier_multiplies_exactly_the_matching_lines_points(
    lines: list[tuple[str, Decimal, int]],
) -> None:
    outcome = _LINE_FILTERED.process(
        purchase(*((f"SKU{i}", category, str(price), qty) for i, (category, price, qty) in enumerate(lines)))
    )
    awards = {award.rule: award for award in outcome.effects.points}
    base = {share.line: share.amount for share in awards["base"].lines} if "base" in awards else {}
    pastry = [i for i, (category, _, _) in enumerate(lines) if category == "pastry" and base.get(i)]
    expected = {i: 2 * base[i] for i in pastry}  # x3 adds twice what each pastry line earned
    double = awards.get("pastries")
    got = {share.line: share.amount for share in double.lines} if double else {}
    assert got == expected
    assert (double.points if double else 0) == sum(expected.values(), Decimal(0))


def _rounded_at(where: str) -> Engine:
    return engine(
        f"points: {{round: {where}}}\n"
        "earn:\n"
        "  - {id: base, rate: 1 per 1}\n"
        '  - {id: pastries, for_each_item: item.category == "pastry", multiply: 3}\n'
        "tiers:\n"
        "  qualify_on: spend\n"
        "  window: lifetime\n"
        "  levels:\n"
        "    - {id: gold, threshold: 0, benefits: {earn_multiplier: 2}}\n"
    )


_PER_AWARD, _PER_LINE = _rounded_at("per_award"), _rounded_at("per_line")
_GOLD = {"customer": "c1", "tier": "gold", "tier_since": "2026-01-01T00:00:00+03:00"}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["pastry", "coffee"]),
            st.decimals(min_value=0, max_value=50, places=2),
            st.integers(min_value=1, max_value=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_points_are_rounded_once_after_multipliers_per_award_or_per_line(
    lines: list[tuple[str, Decimal, int]],
) -> None:
    """Issue 16, item 12: the exact points of the event, multipliers included (×3 on pastries, then
    the gold tier's ×2 on the rules before it), rounded once — for the whole award, or per line —
    never floor(a) + floor(2a)."""
    event = purchase(
        *((f"SKU{i}", category, str(price), qty) for i, (category, price, qty) in enumerate(lines))
    )
    exact = [price * qty * (3 if category == "pastry" else 1) + price * qty for category, price, qty in lines]
    whole = _PER_AWARD.process(event, _GOLD)
    assert whole.totals.points == sum(exact, Decimal(0)).to_integral_value(rounding=ROUND_FLOOR)
    by_line = _PER_LINE.process(event, _GOLD)
    earned = [Decimal(0)] * len(lines)
    for award in by_line.effects.points:
        for share in award.lines:
            earned[share.line] += share.amount
    assert earned == [points.to_integral_value(rounding=ROUND_FLOOR) for points in exact]
    for outcome in (whole, by_line):  # each award still splits across the lines exactly
        assert all(sum((s.amount for s in a.lines), Decimal(0)) == a.points for a in outcome.effects.points)


def test_a_multiplier_on_15_60_gives_31_per_award_and_30_per_rule() -> None:
    """The issue's example: a ×2 on 15.60 points."""
    for where, points in (("per_award", [15, 16]), ("per_rule", [15, 15]), ("per_line", [15, 16])):
        e = engine(
            f"points: {{round: {where}}}\n"
            "earn:\n  - {id: base, rate: 1 per 1}\n  - {id: x2, multiply: 2, cap: {per_event: 99}}\n"
        )
        outcome = e.process(purchase(("A", "x", "15.60", 1)))
        assert [a.points for a in outcome.effects.points] == points, where


def test_budget_keys_name_each_budgeted_rule_and_the_events_local_period() -> None:
    """What a store reads into the `BudgetSnapshot`: the rules with a budget, each with the
    period the event falls in, in the program's time zone."""
    e = engine(
        "earn:\n"
        "  - {id: promo, award: 50, budget: {points: 120, period: program}}\n"
        "  - {id: daily, award: 5, budget: {points: 100, period: day}}\n"
        "  - {id: base, award: 1}\n"
    )
    late = parse_event(purchase(("A", "x", "1.00", 1), time="2026-12-08T23:30:00+00:00"))
    day = dt.date(2026, 12, 9)  # 02:30 in Moscow
    assert e.budget_keys(late) == [
        ("promo", cap_period_key(BUDGET_PERIODS["program"], day)),
        ("daily", cap_period_key(BUDGET_PERIODS["day"], day)),
    ]
