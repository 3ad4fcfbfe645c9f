"""A fixed amount off matching lines: `per: line | unit | order` (issue 16, item 3).

A 20-off lens discount took 40 off two lenses (per unit) where the docs said once per matching line.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import ProgramError
from rules_engine.program.validate import load_program_text, validate_text

HEADER = "program: t\nversion: 1\ntimezone: UTC\ncurrency: EUR\npoints: {value: 0.01}\n"


def discounted(per: str) -> dict[str, Decimal]:
    discount = '{id: lens, amount: 20, applies_to: item.category == "lens"' + per + "}"
    e = Engine(load_program_text(HEADER + f"discounts:\n  - {discount}\n", "t.yaml"))
    event: dict[str, Any] = {
        "id": "p1",
        "type": "purchase",
        "time": "2026-12-01T10:00:00Z",
        "customer": "c",
        "items": [
            {"sku": "LENS-50", "category": "lens", "price": Decimal("150.00"), "qty": 2},
            {"sku": "LENS-35", "category": "lens", "price": Decimal("100.00"), "qty": 1},
            {"sku": "BAG", "category": "bag", "price": Decimal("50.00"), "qty": 1},
        ],
    }
    (effect,) = e.process(event).effects.discounts
    return {line.sku: line.amount for line in effect.lines}


def test_once_per_matching_line_by_default() -> None:
    assert discounted("") == {"LENS-50": 20, "LENS-35": 20}
    assert discounted(", per: line") == {"LENS-50": 20, "LENS-35": 20}


def test_per_unit_and_per_order() -> None:
    assert discounted(", per: unit") == {"LENS-50": 40, "LENS-35": 20}
    # once for the order, split across the matching lines in proportion to their prices (300 : 100)
    assert discounted(", per: order") == {"LENS-50": 15, "LENS-35": 5}


def test_a_lint_asks_which_when_the_choice_matters() -> None:
    text = HEADER + 'coupons:\n  - {id: c, amount: 20, applies_to: item.category == "lens", valid_for: 30d}\n'
    warnings = [d for d in validate_text(text, "t.yaml").diagnostics if d.code == "RE507"]
    assert len(warnings) == 1 and warnings[0].span is not None and warnings[0].span.line == 7
    explicit = text.replace("amount: 20,", "amount: 20, per: unit,")
    assert not [d for d in validate_text(explicit, "t.yaml").diagnostics if d.code == "RE507"]


def test_per_goes_with_an_amount() -> None:
    with pytest.raises(ProgramError) as caught:
        load_program_text(HEADER + "discounts:\n  - {id: d, percent: 10, per: unit}\n", "t.yaml")
    assert [d.code for d in caught.value.diagnostics] == ["RE117"]
