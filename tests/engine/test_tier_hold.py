"""How long a tier is held: `tiers.hold: rest_of_period | next_period | {for: 365d}` (issue 16,
item 11). "Gold from the purchase that crosses 500 until the end of that year" could not be
written: a tier reached on a calendar year's spend was always kept through the whole next year."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.errors import ProgramError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState

HEADER = "program: t\nversion: 1\ntimezone: Europe/Paris\ncurrency: EUR\n"


def engine(hold: str, window: str = "calendar_year", grace: str = "") -> Engine:
    tiers = f"""\
    earn: [{{id: base, rate: 1 per 1}}]
    tiers:
      qualify_on: spend
      window: {window}
      {hold}
      {grace}
      levels:
        - {{id: member, threshold: 0}}
        - {{id: gold, threshold: 500, benefits: {{earn_multiplier: 2}}}}
    """
    return Engine(load_program_text(HEADER + textwrap.dedent(tiers), "t.yaml"))


def buy(e: Engine, event_id: str, time: str, amount: str, state: CustomerState | None) -> Outcome:
    event: dict[str, Any] = {
        "id": event_id,
        "type": "purchase",
        "time": time,
        "customer": "c1",
        "items": [{"sku": "X", "price": Decimal(amount), "qty": 1}],
    }
    return e.process(event, state)


def year_of_gold(e: Engine) -> tuple[Outcome, Outcome]:
    """300 in March and 250 in June 2026 (gold from the June purchase), then purchases of 100 on
    31 December 2026 and 5 January 2027: the outcomes of the last two."""
    state = buy(e, "p1", "2026-03-10T12:00:00+01:00", "300.00", None).state
    crossed = buy(e, "p2", "2026-06-15T12:00:00+02:00", "250.00", state)
    assert [(c.old, c.new) for c in crossed.effects.tier_changes] == [("member", "gold")]
    december = buy(e, "p3", "2026-12-31T12:00:00+01:00", "100.00", crossed.state)
    january = buy(e, "p4", "2027-01-05T12:00:00+01:00", "100.00", december.state)
    return december, january


def test_rest_of_period_holds_gold_until_the_end_of_the_year_it_was_reached_in() -> None:
    december, january = year_of_gold(engine("hold: rest_of_period"))
    assert december.totals.points == 200  # gold's ×2 to the last day of 2026
    assert [(c.old, c.new) for c in january.effects.tier_changes] == [("gold", "member")]
    assert "review on 2027-01-01: spend 0 is below 500" in january.effects.tier_changes[0].reason
    assert january.totals.points == 100  # 2027 starts from its own spend: no ×2
    assert january.state.tier == "member"


def test_next_period_and_the_default_hold_gold_through_the_next_year() -> None:
    for hold in ("hold: next_period", ""):
        _, january = year_of_gold(engine(hold))
        assert january.effects.tier_changes == [] and january.totals.points == 200, hold


def test_rest_of_period_with_a_grace_reviews_on_the_new_periods_spend_so_far() -> None:
    e = engine("hold: rest_of_period", grace="downgrade_grace: 30d")
    _, january = year_of_gold(e)
    assert january.state.tier == "gold"  # reviewed on 31 January, on 2027's spend by then
    big = buy(e, "p5", "2027-01-20T12:00:00+01:00", "450.00", january.state)
    kept = buy(e, "p6", "2027-02-01T12:00:00+01:00", "10.00", big.state)
    assert kept.effects.tier_changes == [] and kept.state.tier == "gold"  # 550 in 2027 by the 31st
    assert kept.state.tier_since is not None and kept.state.tier_since.date().isoformat() == "2027-01-31"
    lapsed = buy(e, "p6", "2027-02-01T12:00:00+01:00", "10.00", january.state)
    assert [(c.old, c.new) for c in lapsed.effects.tier_changes] == [("gold", "member")]


def test_hold_for_a_time_from_the_purchase_that_reached_the_tier() -> None:
    e = engine("hold: {for: 90d}")
    state = buy(e, "p1", "2026-06-15T12:00:00+02:00", "600.00", None).state
    day_89 = buy(e, "p2", "2026-09-12T12:00:00+02:00", "10.00", state)
    assert day_89.state.tier == "gold" and day_89.totals.points == 20
    # reviewed on 13 September (90 days), on 2026's spend so far: 610, so gold is kept for 90 more
    day_91 = buy(e, "p3", "2026-09-14T12:00:00+02:00", "10.00", day_89.state)
    assert day_91.effects.tier_changes == [] and day_91.state.tier == "gold"
    # the next review, on 12 December, is on 2026's spend again; the one on 12 March 2027 on 2027's
    later = buy(e, "p4", "2027-03-13T12:00:00+01:00", "10.00", day_91.state)
    assert [(c.old, c.new) for c in later.effects.tier_changes] == [("gold", "member")]


def test_a_rolling_window_holds_for_a_time_it_states() -> None:
    e = engine("hold: {for: 30d}", window="rolling 365d")
    state = buy(e, "p1", "2026-06-15T12:00:00+02:00", "600.00", None).state
    kept = buy(e, "p2", "2026-07-20T12:00:00+02:00", "10.00", state)
    assert kept.state.tier == "gold"  # reviewed on 15 July on the 365 days before it: 600
    assert kept.state.tier_since is not None and kept.state.tier_since.date().isoformat() == "2026-07-15"


@pytest.mark.parametrize("hold", ["rest_of_period", "next_period"])
def test_a_period_hold_needs_a_calendar_window(hold: str) -> None:
    with pytest.raises(ProgramError) as refused:
        engine(f"hold: {hold}", window="rolling 365d")
    (problem,) = refused.value.diagnostics
    assert problem.code == "RE117" and "needs a calendar window" in problem.message


def test_validate_asks_how_long_a_calendar_tier_is_held() -> None:
    from rules_engine.program.validate import validate_text

    body = (
        "tiers:\n  qualify_on: spend\n  window: calendar_year\n  levels:\n    - {id: member, threshold: 0}\n"
    )
    text = HEADER + "points: {value: 0.01}\n" + body
    (warning,) = [d for d in validate_text(text, "t.yaml").diagnostics if d.code == "RE509"]
    assert (
        warning.span is not None and warning.span.line == 8 and "hold: rest_of_period" in (warning.hint or "")
    )
    for hold in ("rest_of_period", "next_period", "{for: 365d}"):
        said = text.replace("  levels:", f"  hold: {hold}\n  levels:")
        assert not [d for d in validate_text(said, "t.yaml").diagnostics if d.code == "RE509"], hold
