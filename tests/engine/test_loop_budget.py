"""A program whose per-item rule nests loops over the basket: warned at validate, bounded at run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import LoopBudgetError
from rules_engine.program.validate import load_program_text, validate_text
from tests.steps import python_steps

PROGRAM = """\
program: t
version: 1
timezone: Europe/Moscow
currency: RUB
earn:
  - id: base
    rate: 1 per 100
  - id: lonely-coffee
    for_each_item: all(any(x.sku == y.sku for y in basket.items) for x in basket.items)
    award: 5
    cap: {per_event: 100}
"""
LOOP_COLUMN = PROGRAM.splitlines()[8].index("all(") + 1


def purchase(lines: int, event_id: str = "e1") -> dict[str, Any]:
    items = [{"sku": f"s{i}", "category": "coffee", "price": 100, "qty": 1} for i in range(lines)]
    return {
        "id": event_id,
        "type": "purchase",
        "time": "2026-12-08T08:15:00+03:00",
        "customer": "c1",
        "items": items,
    }


def test_validate_warns_that_the_rule_is_cubic_in_the_lines() -> None:
    result = validate_text(PROGRAM, "t.yaml")
    assert result.errors == []
    found = [(d.code, d.span.line, d.span.column) for d in result.warnings if d.span is not None]
    assert ("RE312", 9, LOOP_COLUMN) in found
    assert not result.ok(strict=True)


def test_a_small_basket_earns_as_usual() -> None:
    outcome = Engine(load_program_text(PROGRAM, "t.yaml")).process(purchase(3))
    assert {award.rule: award.points for award in outcome.effects.points}["lonely-coffee"] == 15


def test_a_huge_basket_is_refused_in_bounded_time_with_the_rule_and_the_limit() -> None:
    """2,000 lines: 8,000,000,000 steps unbounded (hours); refused at the first line's outer loop,
    which takes 2,000 steps of the line's 500."""
    engine = Engine(load_program_text(PROGRAM, "t.yaml"))
    event = purchase(2_000)
    # ~120,000 lines of Python, the event's own reading most of it; unbounded: billions
    with python_steps(limit=2_000_000), pytest.raises(LoopBudgetError) as caught:
        engine.process(event, explain=True)
    assert caught.value.code == "RE470"
    span = caught.value.span
    assert span is not None and (span.file.name, span.line, span.column) == ("t.yaml", 9, LOOP_COLUMN)
    assert "500" in caught.value.diagnostics[0].message  # each of the 2,000 lines may take 500 steps


def test_loyalty_run_reports_the_refused_line_and_goes_on(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from rules_engine.cli import app

    program = tmp_path / "t.yaml"
    program.write_text(PROGRAM)
    stream = tmp_path / "events.jsonl"
    # 150 lines (150 + 150 × 150 steps per line, of 6,666) keep the rendered caret line short.
    stream.write_text(json.dumps(purchase(150, "big")) + "\n" + json.dumps(purchase(2, "small")) + "\n")
    result = CliRunner().invoke(app, ["run", str(program), str(stream)])
    assert result.exit_code == 1
    assert "error[RE470]: line 1:" in result.stderr
    assert "line 2: small c1:" in result.stdout
