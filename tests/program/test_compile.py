"""program/compile.py: every expression of a program found and compiled once, by its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules_engine.errors import ProgramError
from rules_engine.program.compile import compile_program
from rules_engine.program.validate import load_program, load_program_text
from tests.conftest import ROOT

HEADER = "program: shop\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\n"
PROGRAMS = sorted(p for p in (ROOT / "programs").glob("*.yaml") if not p.name.endswith(".tests.yaml"))


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_a_program_made_in_python_compiles_to_what_its_file_compiles_to(path: Path) -> None:
    loaded = load_program(path)
    made = compile_program(loaded.program)
    assert made.expressions.keys() == loaded.expressions.keys()
    for where, expression in loaded.expressions.items():
        assert made.expressions[where].python_source == expression.python_source, where


def test_a_loaded_expression_keeps_its_place_in_the_file() -> None:
    compiled = load_program_text(
        HEADER + "earn:\n  - id: big\n    when: basket.total > 50\n    award: 5\n", "shop.yaml"
    )
    when = compiled.expression("earn", 0, "when")
    assert when is not None
    span = when.origin.span(0, len("basket.total"))
    assert (span.file.name, span.line, span.column) == ("shop.yaml", 7, 11)
    made = compile_program(compiled.program).expression("earn", 0, "when")
    assert made is not None and made.origin.file.name == "shop:earn.0.when"


def test_load_program_lists_every_error_at_its_place() -> None:
    body = "earn:\n  - {id: a, when: basket.totl > 50, award: 5}\n  - {id: a, award: 5}\n"
    with pytest.raises(ProgramError) as refused:
        load_program_text(HEADER + body, "shop.yaml")
    found = [(d.code, d.span.line, d.span.column) for d in refused.value.diagnostics if d.span]
    assert found == [("RE302", 6, 26), ("RE121", 7, 10)]  # the expression's, and the duplicate id
