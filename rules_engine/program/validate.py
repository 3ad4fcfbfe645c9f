"""Program text → a checked `Program`, or every problem in it at once, each at its place in the file.

Stages, each run only when the previous one passed (so a problem is never reported twice):
  1. YAML, loaded with a source map (`loader`)                     RE10x
  2. structure, against the JSON Schema generated from the model   RE11x
  3. the model's own rules (pydantic validators)                   RE11x
  4. references and ids (badges, coupons, draws, tiers), money     RE12x
     and fields the engine could not honour together
  5. every expression, parsed, type-checked and compiled           RE2xx, RE3xx
  6. lints: warnings that block only under `--strict`              RE5xx, RE127, RE128
Paths from jsonschema (`absolute_path`) and from pydantic (`loc`) are both paths into the
document; the source map turns either into a span. Message texts are never parsed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticError

from rules_engine.errors import Diagnostic, ProgramError, RulesEngineError, Severity
from rules_engine.program import loader
from rules_engine.program.compile import ExpressionSite, _compile_expressions
from rules_engine.program.lints import lints
from rules_engine.program.model import Program
from rules_engine.program.references import _ignored_combinations, _money_problems, _reference_problems
from rules_engine.program.structure import _model_problems, _schema_problems


@dataclass
class Validation:
    """The outcome of validating one file: the program (when there are no errors) and all diagnostics."""

    file: str
    program: Program | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    expressions: list[ExpressionSite] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def ok(self, *, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)


def load_program(path: str | Path) -> Program:
    """Load and fully check a program file; raise `ProgramError` with every error in it."""
    result = validate_file(path)
    if result.errors or result.program is None:
        raise ProgramError(result.errors)
    return result.program


def validate_file(path: str | Path, *, today: dt.date | None = None) -> Validation:
    try:
        data, source_map = loader.load_file(path)
    except RulesEngineError as error:
        return Validation(str(path), diagnostics=error.diagnostics)
    return _validate(data, source_map, str(path), today)


def validate_text(text: str, name: str = "<program>", *, today: dt.date | None = None) -> Validation:
    try:
        data, source_map = loader.load_yaml(text, name)
    except RulesEngineError as error:
        return Validation(name, diagnostics=error.diagnostics)
    return _validate(data, source_map, name, today)


def _validate(data: Any, source_map: loader.SourceMap, name: str, today: dt.date | None) -> Validation:
    result = Validation(name)
    structure = _schema_problems(data, source_map)
    # Expressions are checked even when the structure is not right yet: all errors at once.
    sites, expression_problems = _compile_expressions(data, source_map)
    result.expressions = sites
    if structure:
        result.diagnostics = _in_file_order([*structure, *expression_problems])
        return result
    try:
        program = Program.model_validate(data)
    except PydanticError as error:
        result.diagnostics = _in_file_order([*_model_problems(error, data, source_map), *expression_problems])
        return result
    result.diagnostics = _in_file_order(
        [
            *_reference_problems(program, source_map),
            *_money_problems(program, source_map, sites),
            *_ignored_combinations(program, source_map),
            *expression_problems,
        ]
    )
    if not result.errors:
        result.program = program
        result.diagnostics += _in_file_order(lints(program, source_map, sites, today))
    return result


def _in_file_order(problems: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(problems, key=lambda d: d.span.start if d.span else -1)
