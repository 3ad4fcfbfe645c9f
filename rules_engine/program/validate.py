"""Program text → a compiled program, or every problem in it at once, each at its place in the file.

The stages, in order; each runs only when the ones before it passed, so a problem is never
reported twice (expressions excepted: they are checked even when the structure is not right
yet, so that one run shows all errors):

  1. `loader`      YAML 1.2, with a source map of every node                RE10x
  2. `structure`   the JSON Schema generated from the model                 RE11x
                   and the model's own rules (pydantic validators)          RE117
  3. `references`  ids and references (badges, coupons, draws, tiers),      RE12x
                   money, fields the engine could not honour together
  4. `compile`     every expression, parsed, type-checked and compiled      RE2xx, RE3xx
  5. `lints`       warnings, which block only under `--strict`              RE5xx, RE127, RE128

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
from rules_engine.program.compile import CompiledProgram, ExpressionSite, compile_expressions
from rules_engine.program.lints import lints
from rules_engine.program.model import Program
from rules_engine.program.references import (
    choice_problems,
    ignored_combinations,
    money_problems,
    reference_problems,
)
from rules_engine.program.scalars import SourceMap
from rules_engine.program.structure import model_problems, schema_problems


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


def load_program(path: str | Path) -> CompiledProgram:
    """Load, check and compile a program file; raise `ProgramError` with every error in it."""
    return _compiled(validate_file(path))


def load_program_text(text: str, name: str = "<program>") -> CompiledProgram:
    """`load_program` for a program's text; `name` names the file in diagnostics."""
    return _compiled(validate_text(text, name))


def validate_file(path: str | Path, *, today: dt.date | None = None) -> Validation:
    """Every problem in a program file (`today` dates the lints on schedules that have ended)."""
    try:
        data, source_map = loader.load_file(path)
    except RulesEngineError as error:
        return Validation(str(path), diagnostics=error.diagnostics)
    return _validate(data, source_map, str(path), today)


def validate_text(text: str, name: str = "<program>", *, today: dt.date | None = None) -> Validation:
    """`validate_file` for a program's text; `name` names the file in diagnostics."""
    try:
        data, source_map = loader.load_yaml(text, name)
    except RulesEngineError as error:
        return Validation(name, diagnostics=error.diagnostics)
    return _validate(data, source_map, name, today)


def _validate(data: Any, source_map: SourceMap, name: str, today: dt.date | None) -> Validation:
    result = Validation(name)
    structure = schema_problems(data, source_map)
    sites, expression_problems = compile_expressions(data, source_map)
    result.expressions = sites
    if structure:
        result.diagnostics = _in_file_order([*structure, *expression_problems])
        return result
    try:
        program = Program.model_validate(data)
    except PydanticError as error:
        result.diagnostics = _in_file_order([*model_problems(error, data, source_map), *expression_problems])
        return result
    result.diagnostics = _in_file_order(
        [
            *reference_problems(program, source_map),
            *money_problems(program, source_map, sites),
            *ignored_combinations(program, source_map),
            *choice_problems(program, source_map),
            *expression_problems,
        ]
    )
    if not result.errors:
        result.program = program
        result.diagnostics += _in_file_order(lints(program, source_map, sites, today))
    return result


def _compiled(result: Validation) -> CompiledProgram:
    if result.errors or result.program is None:
        raise ProgramError(result.errors)
    return CompiledProgram.from_sites(result.program, result.expressions)


def _in_file_order(problems: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(problems, key=lambda d: d.span.start if d.span else -1)
