"""Where an event's points are rounded: `points: {round: per_award | per_rule | per_line}` (issue 16,
item 12). A tier ×2 gave floor(a) + floor(a) rather than floor(2a): on 15.60, 30 rather than 31.

The engine's properties of each mode are in tests/engine/test_evaluator.py (hypothesis over
baskets, with a multiplier on some lines and a tier's on all); here the program side: the value is
checked, and `validate` warns where the old way still loses points."""

from __future__ import annotations

import pytest

from rules_engine.errors import ProgramError
from rules_engine.program.validate import load_program_text, validate_text

HEADER = "program: t\nversion: 1\ntimezone: UTC\ncurrency: EUR\n"
EARN = "earn:\n  - {id: base, rate: 1 per 1}\n  - {id: x2, multiply: 2, cap: {per_event: 100}}\n"


def test_the_default_is_once_per_award() -> None:
    assert load_program_text(HEADER + "points: {value: 0.01}\n", "t.yaml").program.points.round == "per_award"


def test_a_bad_value_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ProgramError) as refused:
        load_program_text(HEADER + "points: {round: per_item}\n" + EARN, "t.yaml")
    (problem,) = refused.value.diagnostics
    assert problem.code == "RE114"
    assert problem.span is not None and (problem.span.line, problem.span.column) == (5, 17)
    assert problem.hint == "did you mean `per_line`?"


def test_validate_warns_where_per_rule_meets_a_multiplier() -> None:
    text = HEADER + "points: {value: 0.01, round: per_rule}\n" + EARN
    (warning,) = [d for d in validate_text(text, "t.yaml").diagnostics if d.code == "RE508"]
    assert "`x2`" in warning.message and warning.span is not None and warning.span.line == 5
    for fine in ("per_award", "per_line"):
        assert not [
            d
            for d in validate_text(text.replace("per_rule", fine), "t.yaml").diagnostics
            if d.code == "RE508"
        ]
    no_multiplier = HEADER + "points: {value: 0.01, round: per_rule}\nearn:\n  - {id: base, rate: 1 per 1}\n"
    assert not [d for d in validate_text(no_multiplier, "t.yaml").diagnostics if d.code == "RE508"]
