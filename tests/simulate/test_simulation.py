"""`loyalty simulate` gives what `loyalty run` gives on the same events (a differential test), the
same report on 1 or 2 processes, and settles what crosses customers (referrals, budgets) exactly."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.replay import replay
from rules_engine.service import Loyalty
from rules_engine.simulate import build_report, simulate
from rules_engine.simulate.report import points
from tests.conftest import ROOT

FASHION = ROOT / "programs" / "fashion-house.yaml"
COFFEE = ROOT / "programs" / "coffee-club.yaml"


def _run(program: Path, events: Path) -> dict[str, Any]:
    """What `loyalty run` (a memory store) gives: the totals, the liability (every customer's
    lots added up, as the ledger adds up) and where the customers end."""
    loyalty = Loyalty.in_memory(Engine.from_file(program))
    result = replay(loyalty, events)
    states = [loyalty.store.state(customer) for customer, _ in result.points.items()]
    return {
        "applied": result.applied,
        "problems": result.problems,
        "issued": points(result.issued),
        "redeemed": points(result.redeemed),
        "expired": points(result.expired),
        "reversed": points(result.reversed),
        "liability": points(sum((lot.points for s in states if s for lot in s.lots), Decimal(0))),
        "tiers": Counter(s.tier for s in states if s is not None and s.tier is not None),
        "customers": result.customers,
    }


def _simulated(program: Path, events: Path, workers: int = 1) -> dict[str, Any]:
    report = build_report(simulate(events, [program], workers=workers))
    cost = report["cost"]["points"]
    return {
        "applied": report["run"]["applied"],
        "problems": report["run"]["problems"],
        **{kind: cost[kind] for kind in ("issued", "redeemed", "expired", "reversed", "liability")},
        "tiers": Counter({tier: n for tier, n in report["tiers"]["final"].items() if n}),
        "customers": report["history"]["customers"],
    }


@pytest.mark.parametrize("program", [FASHION, COFFEE], ids=["fashion-house", "coffee-club"])
def test_simulate_agrees_with_loyalty_run(program: Path, fashion_history: Path, coffee_history: Path) -> None:
    events = fashion_history if program == FASHION else coffee_history
    expected = _run(program, events)
    assert expected["issued"] > 0
    assert _simulated(program, events) == expected


def test_one_and_two_processes_give_the_same_report(fashion_history: Path) -> None:
    one = build_report(simulate(fashion_history, [FASHION], workers=1))
    two = build_report(simulate(fashion_history, [FASHION], workers=2, batch_bytes=64 * 1024))
    assert one == two
    assert one["cost"]["per_rule"], "the history gave something"


def test_referrers_are_rewarded_across_batches(fashion_history: Path) -> None:
    """Referrers and their friends land in different batches; the second pass gives the rewards,
    exactly as many as `loyalty run` gives."""
    loyalty = Loyalty.in_memory(Engine.from_file(FASHION))
    rewards = 0

    def count(_: int, outcome: Any, duplicate: bool) -> None:
        nonlocal rewards
        rewards += sum(a.points for a in outcome.effects.points if a.rule == "referral:referrer") > 0

    replay(loyalty, fashion_history, count)
    assert rewards > 0, "the generated history has qualified referrals"
    simulation = simulate(fashion_history, [FASHION], workers=1, batch_bytes=16 * 1024)
    report = build_report(simulation)
    given = {row["rule"]: row["awards"] for row in report["cost"]["per_rule"]}
    assert given.get("referral:referrer") == rewards
    assert report["run"]["passes"] >= 2


def test_a_monthly_budget_that_runs_out_is_spent_first_come_first_served(
    fashion_history: Path, tmp_path: Path
) -> None:
    """A budget on the base rule that runs out every month (it refills): several passes, and the
    same points as the sequential run, which spends it in file order over all customers."""
    text = FASHION.read_text(encoding="utf-8").replace(
        "    rate: 10 per 1        # 10 points per euro",
        "    rate: 10 per 1        # 10 points per euro\n    budget: {points: 30000, period: month}",
    )
    assert "period: month" in text
    program = tmp_path / "fashion-budget.yaml"
    program.write_text(text, encoding="utf-8")
    expected = _run(program, fashion_history)
    simulated = _simulated(program, fashion_history, workers=2)
    assert simulated == expected
    report = build_report(simulate(fashion_history, [program], workers=1))
    assert report["run"]["passes"] >= 2
    base = next(row for row in report["cost"]["per_rule"] if row["rule"] == "base")
    # a return gives its awards' points back to the budget (docs/engine.md, Returns): net of
    # what was reversed (all rules' reversals, at least the base rule's), within the budget
    reversed_points = report["cost"]["points"]["reversed"]
    assert base["points"] - reversed_points <= 30000 * len(report["monthly"])


def test_comparing_a_program_with_itself_changes_nothing(coffee_history: Path) -> None:
    report = build_report(simulate(coffee_history, [COFFEE, COFFEE], workers=1))
    compare = report["compare"]
    assert compare is not None
    assert all(row["delta"] in (0, "0", "0.00") for row in compare["diff"])
    assert compare["most_affected"] == []
    matrix = compare["tier_matrix"]
    for i, row in enumerate(matrix["counts"]):
        assert sum(row) == row[i], "every customer ends in the same tier"
    assert compare["report"]["cost"] == report["cost"]


def test_a_compared_version_gives_what_it_gives_alone(fashion_history: Path, tmp_path: Path) -> None:
    """One pass over both versions gives each the figures it gets alone, and the diff says by how
    much they differ."""
    other = tmp_path / "fashion-v8.yaml"
    other.write_text(
        FASHION.read_text(encoding="utf-8")
        .replace("version: 7", "version: 8")
        .replace("threshold: 1500", "threshold: 1000"),
        encoding="utf-8",
    )
    both = build_report(simulate(fashion_history, [FASHION, other], workers=2))
    alone = build_report(simulate(fashion_history, [other], workers=1))
    compare = both["compare"]
    assert compare["report"]["cost"] == alone["cost"]
    assert compare["report"]["tiers"] == alone["tiers"]
    issued = next(row for row in compare["diff"] if row["figure"] == "cost.points.issued")
    assert issued["delta"] == alone["cost"]["points"]["issued"] - both["cost"]["points"]["issued"]
    assert issued["delta"] > 0, "a lower gold threshold gives more points"
    assert sum(row["delta"] for row in compare["per_rule"]) == issued["delta"]  # every point is a rule's
    assert sum(map(sum, compare["tier_matrix"]["counts"])) == both["history"]["customers"]
    assert compare["most_affected"] and all(row["delta"] >= 0 for row in compare["most_affected"])


def test_redelivered_and_reused_ids_count_as_loyalty_run_counts_them(tmp_path: Path) -> None:
    """An event delivered twice is applied once (a duplicate); an id reused with another payload
    is refused (RE443); a line that is not JSON is a problem: as `loyalty run` counts them."""
    lines = (ROOT / "programs" / "events" / "coffee-club.jsonl").read_text(encoding="utf-8").splitlines()
    events = tmp_path / "events.jsonl"
    first = lines[0]
    reused = first.replace('"qty": 2', '"qty": 3')
    assert reused != first
    events.write_text("\n".join([*lines, first, reused]) + "\n", encoding="utf-8")
    loyalty = Loyalty.in_memory(Engine.from_file(COFFEE))
    expected = replay(loyalty, events)
    report = build_report(simulate(events, [COFFEE], workers=1))
    assert (report["run"]["applied"], report["run"]["duplicates"], report["run"]["problems"]) == (
        expected.applied,
        expected.duplicates,
        expected.problems,
    )
    assert report["run"]["duplicates"] == 1
    assert any(p["code"] == "RE443" for p in report["run"]["problem_samples"])


def test_a_hostile_line_is_one_problem_and_the_others_are_replayed(tmp_path: Path) -> None:
    """A number of 5,000 digits (past Python's int limit) and 100,000 nested brackets stopped
    `simulate` with a traceback in its first pass over the lines, and a line past 8 MiB was
    skipped without a word; each is one refused line now, as `loyalty run` counts them."""
    lines = (ROOT / "programs" / "events" / "coffee-club.jsonl").read_text(encoding="utf-8").splitlines()
    huge = '{"customer": "' + "c" * jsonio.MAX_TEXT + '"}'
    hostile = [lines[0].replace('"qty": 2', '"qty": ' + "9" * 5000), "[" * 100_000 + "]" * 100_000, huge]
    assert hostile[0] != lines[0]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([*hostile, *lines]) + "\n", encoding="utf-8")
    run = build_report(simulate(events, [COFFEE], workers=1))["run"]
    alone = tmp_path / "alone.jsonl"
    alone.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = build_report(simulate(alone, [COFFEE], workers=1))["run"]
    assert run["problems"] == expected["problems"] + 3 and run["applied"] == expected["applied"]
    assert [p["code"] for p in run["problem_samples"][:3]] == ["RE414"] * 3
    assert "line 3 is longer than 8 MiB" in run["problem_samples"][2]["message"]


def test_goals_completed_are_the_customers_their_rewards_reached(coffee_history: Path) -> None:
    report = build_report(simulate(coffee_history, [COFFEE], workers=1))
    rules = {row["rule"]: row for row in report["cost"]["per_rule"]}
    game = report["gamification"]
    quest = game["quests"][0]
    assert quest["id"] == "breakfast-explorer"
    assert quest["completed"] == rules["quest:breakfast-explorer"]["customers"] > 0
    assert 0 < quest["rate"] <= 1
    badges = {row["id"]: row["customers"] for row in game["badges"]}
    assert badges["explorer"] == quest["completed"], "the quest's badge"
    assert report["cost"]["points"]["redeemed"] > 0, "the generated history redeems the catalog's latte"


def test_the_problems_shown_are_the_first_by_line_on_any_number_of_processes(tmp_path: Path) -> None:
    """The report's `problem_samples` (the command's "the first:") are the first refused lines, as
    `loyalty run` reports them: not those of whichever customer its batch ran first (here `a`,
    refused after all of `c`'s refusals, and in the same batch on one process), and each once
    with `--compare` (the base version's, whose count the report gives)."""
    assert zlib.crc32(b"a") % 4 == zlib.crc32(b"c") % 4  # one process cuts four batches

    def purchase(customer: str, n: int, time: str) -> str:
        item = {"sku": "COFFEE-1", "category": "coffee", "price": 100, "qty": 1}
        event = {"id": f"{customer}{n}", "type": "purchase", "time": time, "customer": customer}
        return json.dumps({**event, "items": [item]})

    lines = []
    for customer, day in (("c", 1), ("a", 2)):  # a purchase, then 21 earlier ones: refused (RE440)
        lines.append(purchase(customer, 99, "2026-03-05T10:00:00+03:00"))
        lines += [purchase(customer, n, f"2026-03-0{day}T10:{n:02d}:00+03:00") for n in range(21)]
    events = tmp_path / "late.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = [f"line {number}: event c{number - 2}: " for number in range(2, 22)]  # c's 20 first

    for workers, programs in ((1, [COFFEE]), (2, [COFFEE]), (1, [COFFEE, COFFEE])):
        run = build_report(simulate(events, programs, workers=workers))["run"]
        assert run["problems"] == 42
        shown = [sample["message"] for sample in run["problem_samples"]]
        assert [text[: len(start)] for text, start in zip(shown, first, strict=False)] == first
        assert len(shown) == 20


def test_a_coupons_discounts_are_counted_under_the_coupon_not_each_code(coffee_history: Path) -> None:
    """Each customer's free latte has a code of its own (`coupon:<code>` in the outcome); the
    report's per-rule row is the coupon's (`coupon:free-latte`): its awards, its customers."""
    report = build_report(simulate(coffee_history, [COFFEE], workers=1))
    coupons = {f"coupon:{coupon.id}" for coupon in Engine.from_file(COFFEE).program.coupons}
    rows = [row for row in report["cost"]["per_rule"] if row["mechanic"] == "coupon"]
    assert rows and {row["rule"] for row in rows} <= coupons
    assert sum(row["awards"] for row in rows) >= sum(row["customers"] for row in rows) > 1
