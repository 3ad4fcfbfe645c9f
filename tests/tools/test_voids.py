"""Voiding a mistaken event (tools/voids.py through `Loyalty.void`): what it undoes, exactly once,
and the refusals that name what depends on the event."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError, StoreError
from rules_engine.program.model import Program
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.tools.accounting import books
from rules_engine.tools.adjustments import Adjustment
from rules_engine.tools.voids import Void
from tests.conftest import ROOT

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)  # a Monday


def purchase(name: str, at: dt.datetime, *, qty: int = 2, category: str = "coffee") -> dict[str, Any]:
    return {
        "id": name,
        "type": "purchase",
        "time": at.isoformat(),
        "customer": "vic",
        "items": [{"sku": "LATTE-L", "category": category, "price": Decimal("320.00"), "qty": qty}],
    }


def void(name: str, event: str, at: dt.datetime, reason: str = "scanned twice") -> Void:
    return Void(id=name, customer="vic", voided=event, reason=reason, operator="olga", at=at)


@pytest.fixture
def loyalty(tmp_path: Path) -> Loyalty:
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    return Loyalty(engine, open_store(str(tmp_path / "void.db"), "coffee-club"), horizon=None)


def test_a_void_undoes_points_badges_challenge_quest_and_activity_once(loyalty: Loyalty) -> None:
    loyalty.process(purchase("p1", T0))
    before = loyalty.store.state("vic")
    loyalty.process(purchase("p2", T0 + dt.timedelta(hours=1)))
    applied, duplicate, saved = loyalty.void(void("v1", "p2", T0 + dt.timedelta(hours=2)))
    after = loyalty.store.state("vic")
    assert not duplicate and before is not None and after is not None and saved == after
    assert [lot.model_dump() for lot in after.lots] == [lot.model_dump() for lot in before.lots]
    assert (
        after.challenges["five-coffees-a-week"].progress == before.challenges["five-coffees-a-week"].progress
    )
    assert after.visits == before.visits == 1 and [a.event for a in after.activity] == ["p1"]
    assert [line.event for line in after.purchases] == ["p1"]
    assert applied.points < 0 and applied.challenges == ["five-coffees-a-week"]
    assert {e.kind for e in applied.entries} == {"reverse"} and {e.rule for e in applied.entries} == {
        "void:p2"
    }
    assert {e.event for e in applied.entries} == {"v1"}
    rows = [row.entry for row in loyalty.store.ledger(customer="vic")]
    assert sum(e.points for e in rows) == sum(lot.points for lot in after.lots)
    again, duplicate, saved = loyalty.void(void("v1", "p2", T0 + dt.timedelta(hours=3)))
    assert duplicate and again == applied and saved == loyalty.store.state("vic")
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v2", "p2", T0 + dt.timedelta(hours=3)))
    assert refused.value.diagnostics[0].code == "RE446" and "v1" in refused.value.diagnostics[0].message
    with pytest.raises(EventError) as reused:
        loyalty.void(void("v1", "p1", T0 + dt.timedelta(hours=3)))
    assert reused.value.diagnostics[0].code == "RE443"
    # the voided event stays applied: delivering it again is a duplicate, nothing comes back
    assert loyalty.handle(purchase("p2", T0 + dt.timedelta(hours=1))).duplicate


def test_the_first_purchase_voided_takes_back_its_badge_and_the_quest_it_started(loyalty: Loyalty) -> None:
    outcome = loyalty.process(purchase("p1", T0))
    assert [b.badge for b in outcome.effects.badges] == ["first-cup"]
    applied = loyalty.void(void("v1", "p1", T0 + dt.timedelta(minutes=5))).applied
    state = loyalty.store.state("vic")
    assert state is not None and state.badges == [] and state.lots == [] and state.visits == 0
    assert applied.badges_withdrawn == ["first-cup"] and applied.quests == ["breakfast-explorer"]
    assert state.quests["breakfast-explorer"].done == []


def test_an_event_at_the_moment_the_quest_started_did_not_start_it_when_an_earlier_one_did(
    loyalty: Loyalty,
) -> None:
    """p1 started the breakfast quest with its pastry; p2, at the same moment, did its coffee
    step. The attempt's start is p2's moment too, but voiding p2 must not take back p1's step:
    which step of this unordered quest was p2's cannot be told, so the void is refused."""
    loyalty.process(purchase("p1", T0, category="pastry"))
    loyalty.process(purchase("p2", T0))
    before = loyalty.store.state("vic")
    assert before is not None and len(before.quests["breakfast-explorer"].done) == 2
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v1", "p2", T0 + dt.timedelta(hours=1)))
    assert any("quest:breakfast-explorer" in d.message for d in refused.value.diagnostics)
    assert loyalty.store.state("vic") == before


def test_the_purchase_that_completed_the_weeks_challenge_is_not_voided_when_a_later_one_counted_too(
    loyalty: Loyalty,
) -> None:
    """p1's 4 coffee lines and p2's fifth complete the week's challenge (100 beans, a badge); p3's
    coffee, after, counts unrecorded. Without p2, p3 would have completed it: voiding p2 may not take
    the reward back and leave the week completed (the customer's 5 coffees rewarded by nothing, and
    no reward for a next one), so it is refused naming p3."""
    loyalty.process(purchase("p1", T0, qty=1) | {"items": [coffee(n) for n in range(4)]})
    rewarded = loyalty.process(purchase("p2", T0 + dt.timedelta(hours=1), qty=1))
    assert [t.code for t in rewarded.trace if t.rule == "challenge:five-coffees-a-week"] == ["fired"]
    loyalty.process(purchase("p3", T0 + dt.timedelta(hours=2), qty=1))
    before = loyalty.store.state("vic")
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v1", "p2", T0 + dt.timedelta(hours=3)))
    (problem,) = refused.value.diagnostics
    assert "challenge:five-coffees-a-week" in problem.message and "(p3)" in problem.message
    assert loyalty.store.state("vic") == before
    # p3 voided first: its coffee stays in the progress, unrecorded, while the week is completed;
    # every purchase that counted unrecorded voided since, p2 can be voided (it was refused for
    # ever, the operator left to adjust the points by hand and the week completed without a reward)
    loyalty.void(void("v2", "p3", T0 + dt.timedelta(hours=3)))
    loyalty.void(void("v3", "p2", T0 + dt.timedelta(hours=4)))
    state = loyalty.store.state("vic")
    assert state is not None and [lot.event for lot in state.lots] == ["p1"] and state.badges == ["first-cup"]
    week = state.challenges["five-coffees-a-week"]
    assert week.progress == 4 and week.completed == [] and list(week.counted) == ["p1"]
    again = loyalty.process(purchase("p4", T0 + dt.timedelta(hours=5), qty=1))
    assert [t.code for t in again.trace if t.rule == "challenge:five-coffees-a-week"] == ["fired"]


def test_the_completing_purchase_is_not_voided_while_a_purchase_after_it_that_counted_stands(
    loyalty: Loyalty,
) -> None:
    """p3 and p4 counted unrecorded after p2 completed the week; p4 voided, p3 stands: without p2
    it would have completed the week, so voiding p2 is refused still, naming p3 alone."""
    loyalty.process(purchase("p1", T0, qty=1) | {"items": [coffee(n) for n in range(4)]})
    loyalty.process(purchase("p2", T0 + dt.timedelta(hours=1), qty=1))
    loyalty.process(purchase("p3", T0 + dt.timedelta(hours=2), qty=1))
    loyalty.process(purchase("p4", T0 + dt.timedelta(hours=3), qty=1))
    loyalty.void(void("v1", "p4", T0 + dt.timedelta(hours=4)))
    before = loyalty.store.state("vic")
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v2", "p2", T0 + dt.timedelta(hours=5)))
    (problem,) = refused.value.diagnostics
    assert "(p3)" in problem.message and (problem.hint or "").startswith("void p3 first")
    assert loyalty.store.state("vic") == before


def test_a_void_refused_for_a_closed_challenge_window_says_what_the_desk_can_do(loyalty: Loyalty) -> None:
    """p1 completed the week's challenge, whose window has closed since: the void is refused. Its
    hint said "adjust the points instead", as if that undid the completion; it names the debit,
    and that the completion stays — which the debit then does (once p1's points are no longer
    pending), the week untouched."""
    loyalty.process(purchase("p1", T0, qty=1) | {"items": [coffee(n) for n in range(5)]})
    loyalty.process(purchase("p2", T0 + dt.timedelta(days=8), qty=1, category="pastry"))
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v1", "p1", T0 + dt.timedelta(days=8, hours=1)))
    (problem,) = [d for d in refused.value.diagnostics if "challenge:five-coffees-a-week" in d.message]
    assert problem.hint is not None
    assert "debit" in problem.hint and "stays completed" in problem.hint
    earned = sum(row.entry.points for row in loyalty.store.ledger(customer="vic") if row.entry.event == "p1")
    before = loyalty.store.state("vic")
    debit = Adjustment(
        id="a1",
        customer="vic",
        points=-earned,
        reason="p1 scanned twice",
        operator="olga",
        at=T0 + dt.timedelta(days=15),
    )
    _, _, after = loyalty.adjust(debit)
    assert before is not None and after.challenges == before.challenges
    assert sum(lot.points for lot in after.lots) == sum(lot.points for lot in before.lots) - earned


THREE_TIERS = """
program: three-tiers
version: 1
timezone: UTC
currency: EUR
tiers:
  qualify_on: spend
  window: rolling 30d
  downgrade: one_level
  levels:
    - {id: bronze, threshold: 0}
    - {id: silver, threshold: 100}
    - {id: gold, threshold: 1000, benefits: {earn_multiplier: 2}}
earn:
  - id: base
    rate: 1 per 1
"""


def test_a_tier_a_review_reached_is_reviewed_again_after_the_void_of_the_upgrade(tmp_path: Path) -> None:
    """Gold from p1, silver from the review at day 60 (`advance`: no event's outcome says so), gold
    again from p2. Voiding p2 gives silver back: held since p2 (no outcome says since when
    otherwise), so reviewed 30 days later down to bronze; it was kept for ever (no `tier_since`)."""
    engine = Engine(load_program_text(THREE_TIERS, "three-tiers.yaml"), secret=b"tiers")
    loyalty = Loyalty(engine, open_store(str(tmp_path / "tiers.db"), "three-tiers"), horizon=None)
    days = dt.timedelta(days=1)
    loyalty.process(purchase("p1", T0, qty=4))
    assert [c.new for c in loyalty.advance("vic", T0 + 61 * days)] == ["silver"]
    loyalty.process(purchase("p2", T0 + 62 * days, qty=4))
    applied = loyalty.void(void("v1", "p2", T0 + 63 * days)).applied
    assert applied.tier == "silver"
    changes = loyalty.advance("vic", T0 + 200 * days)
    assert [(c.old, c.new) for c in changes] == [("silver", "bronze")]
    assert "2027-02-02" in changes[0].reason  # 30 days after p2


def test_a_voided_purchase_is_no_visit_in_a_program_that_keeps_no_activity(tmp_path: Path) -> None:
    """Volt keeps no activity (no tiers, no leaderboard): the visit of a voided purchase came off
    nothing, and the 10% service discount for 3 earlier visits was given after two."""
    engine = Engine.from_file(ROOT / "programs" / "volt-electronics.yaml")
    loyalty = Loyalty(engine, open_store(str(tmp_path / "volt.db"), "volt-electronics"), horizon=None)
    for n in range(3):
        cable = {"sku": "USB-C", "category": "cable", "price": Decimal("20.00"), "qty": 1}
        loyalty.process(purchase(f"p{n}", T0 + n * dt.timedelta(hours=1)) | {"items": [cable]})
    loyalty.void(void("v1", "p2", T0 + dt.timedelta(hours=3)))
    state = loyalty.store.state("vic")
    assert state is not None and state.visits == 2
    repair = {"sku": "FIX", "category": "service", "price": Decimal("100.00"), "qty": 1}
    outcome = loyalty.process(purchase("p3", T0 + dt.timedelta(hours=4)) | {"items": [repair]})
    assert outcome.totals.discount == 0


def test_a_void_takes_back_no_draw_entry_the_event_gave_after_the_draw_closed(tmp_path: Path) -> None:
    """Volt's reviewer badge gives an entry to the New Year draw (closes 2026-12-31). A first review
    on 1 January names the entry in its outcome but the state never counted it: voiding that review
    took away one of the 2 entries the December smart-home purchase won."""
    engine = Engine.from_file(ROOT / "programs" / "volt-electronics.yaml")
    loyalty = Loyalty(engine, open_store(str(tmp_path / "volt.db"), "volt-electronics"), horizon=None)
    december = dt.datetime(2026, 12, 20, 12, 0, tzinfo=dt.UTC)
    january = dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC)
    hub = {"sku": "HUB", "category": "smart_home", "price": Decimal("99.00"), "qty": 1}
    loyalty.process(purchase("p1", december) | {"items": [hub]})
    late = loyalty.process({"id": "w2", "type": "review", "customer": "vic", "time": january.isoformat()})
    assert [d.draw for d in late.effects.draw_entries] == ["new-year-draw"]
    assert late.state.entries == {"new-year-draw": 2}
    loyalty.void(void("v1", "w2", january + dt.timedelta(hours=1)))
    state = loyalty.store.state("vic")
    assert state is not None and state.entries == {"new-year-draw": 2}


def coffee(n: int) -> dict[str, Any]:
    return {"sku": f"LATTE-{n}", "category": "coffee", "price": Decimal("300.00"), "qty": 1}


def test_a_void_is_refused_naming_the_later_events_that_depend_on_it(loyalty: Loyalty) -> None:
    loyalty.process(purchase("p1", T0, qty=150))  # a tier and 350+ beans
    loyalty.process(purchase("p2", T0 + dt.timedelta(days=20)))
    before = loyalty.store.state("vic")
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v1", "p1", T0 + dt.timedelta(days=21)))
    messages = [d.message for d in refused.value.diagnostics]
    assert {d.code for d in refused.value.diagnostics} == {"RE446"}
    assert any("changed the tier" in m and "p2" in m for m in messages), messages
    state = loyalty.store.state("vic")
    assert state == before  # nothing changed
    redeem = {
        "id": "r1",
        "type": "redeem",
        "customer": "vic",
        "time": (T0 + dt.timedelta(days=22)).isoformat(),
        "item": "free-latte",
    }
    loyalty.process(redeem)
    with pytest.raises(EventError) as spent:
        loyalty.void(void("v2", "p1", T0 + dt.timedelta(days=23)))
    assert any("r1" in d.message and "spent" in d.message for d in spent.value.diagnostics)
    # the redemption itself can be voided: its points go back, its coupon is withdrawn
    balance = sum(lot.points for lot in loyalty.store.state("vic").lots)  # type: ignore[union-attr]
    applied = loyalty.void(void("v3", "r1", T0 + dt.timedelta(days=23))).applied
    after = loyalty.store.state("vic")
    assert after is not None and sum(lot.points for lot in after.lots) == balance + 350
    assert applied.points == 350 and len(applied.coupons_withdrawn) == 1 and after.coupons == []
    assert {e.kind for e in applied.entries} == {"burn"}


def test_an_unknown_event_or_customer_is_not_voided(loyalty: Loyalty) -> None:
    with pytest.raises(StoreError) as nobody:
        loyalty.void(void("v1", "p1", T0))
    assert nobody.value.diagnostics[0].code == "RE606"
    loyalty.process(purchase("p1", T0))
    with pytest.raises(StoreError) as unknown:
        loyalty.void(void("v1", "nope", T0))
    assert unknown.value.diagnostics[0].code == "RE447"


def test_the_books_reconcile_after_a_void(loyalty: Loyalty) -> None:
    loyalty.process(purchase("p1", T0))
    loyalty.process(purchase("p2", T0 + dt.timedelta(hours=1)))
    loyalty.void(void("v1", "p2", T0 + dt.timedelta(hours=2)))
    program: Program = loyalty.engine.program
    balances = sum((lot.points for _, state in loyalty.store.states() for lot in state.lots), Decimal(0))
    kept = books(program, loyalty.store.ledger(), balances=balances)
    assert kept.reconciles and kept.moved["reversed"] < 0


NO_TIERS = """
program: plain
version: 1
timezone: UTC
currency: EUR
points: {expire_after: 365d}
returns: {within: 10d}
earn:
  - id: base
    rate: 1 per 1
  - id: reviews
    on: [review]
    award: 5
"""


@pytest.mark.parametrize("url", ["memory:", "sqlite"])
def test_a_purchase_whose_lines_left_the_state_is_voided_with_its_visit(tmp_path: Path, url: str) -> None:
    """No tiers (no activity kept), lines kept 11 days for returns: p1's lines left with p2's
    purchase 20 days on, and voiding p1 left its visit in the count (visits 2, one purchase). Its
    outcome says it was a purchase; a review of those days is no visit."""
    engine = Engine(load_program_text(NO_TIERS, "plain.yaml"), secret=b"plain")
    store = open_store("memory:" if url == "memory:" else str(tmp_path / "plain.db"), "plain")
    loyalty = Loyalty(engine, store, horizon=None)
    days = dt.timedelta(days=1)
    loyalty.process(purchase("p1", T0))
    loyalty.process({"id": "w1", "type": "review", "customer": "vic", "time": f"{T0 + days}"})
    loyalty.process(purchase("p2", T0 + 20 * days))
    state = loyalty.store.state("vic")
    assert state is not None and state.visits == 2 and state.older_purchases is not None
    assert {line.event for line in state.purchases} == {"p2"} and state.activity == []
    loyalty.void(void("v1", "p1", T0 + 21 * days))
    loyalty.void(void("v2", "w1", T0 + 21 * days))
    state = loyalty.store.state("vic")
    assert state is not None and state.visits == 1


def test_a_free_purchase_whose_lines_left_is_not_voided_when_nothing_tells_it_was_one(tmp_path: Path) -> None:
    """A basket of 0 in a program whose only rule earns on reviews too: once its lines left, its
    outcome does not tell a purchase (a visit) from a review; refused, saying so."""
    program = NO_TIERS.replace("rate: 1 per 1", "rate: 1 per 1\n    on: [purchase, review]")
    engine = Engine(load_program_text(program, "plain.yaml"), secret=b"plain")
    loyalty = Loyalty(engine, open_store(str(tmp_path / "plain.db"), "plain"), horizon=None)
    free = purchase("p1", T0) | {"items": [coffee(0) | {"price": Decimal(0)}]}
    loyalty.process(free)
    loyalty.process(purchase("p2", T0 + dt.timedelta(days=20)))
    before = loyalty.store.state("vic")
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v1", "p1", T0 + dt.timedelta(days=21)))
    (problem,) = refused.value.diagnostics
    assert "a purchase (a visit) cannot be told" in problem.message
    assert loyalty.store.state("vic") == before


@pytest.mark.parametrize("url", ["memory:", "sqlite"])
def test_an_upgrade_is_voided_when_what_came_after_it_was_voided_or_an_adjustment(
    tmp_path: Path, url: str
) -> None:
    """p1 made the customer silver; a review and a credit came after. The review voided, nothing
    decided in silver stands (an adjustment depends on no tier): voiding p1 gives the tier back.
    It was refused, naming the review and its void, and the operator could not undo the upgrade."""
    engine = Engine(load_program_text(THREE_TIERS, "three-tiers.yaml"), secret=b"tiers")
    store = open_store("memory:" if url == "memory:" else str(tmp_path / "tiers.db"), "three-tiers")
    loyalty = Loyalty(engine, store, horizon=None)
    hours = dt.timedelta(hours=1)
    assert [c.new for c in loyalty.process(purchase("p1", T0, qty=1)).effects.tier_changes] == ["silver"]
    credit = Adjustment(
        id="a1", customer="vic", points=Decimal(5), reason="r", operator="olga", at=T0 + hours
    )
    loyalty.adjust(credit)
    loyalty.process({"id": "r1", "type": "review", "customer": "vic", "time": f"{T0 + 2 * hours}"})
    with pytest.raises(EventError) as refused:
        loyalty.void(void("v1", "p1", T0 + 3 * hours))
    assert "(r1)" in refused.value.diagnostics[0].message
    loyalty.void(void("v2", "r1", T0 + 3 * hours))
    applied = loyalty.void(void("v3", "p1", T0 + 4 * hours)).applied
    state = loyalty.store.state("vic")
    assert applied.tier is None and state is not None and state.tier is None
    assert sum(lot.points for lot in state.lots) == 5
