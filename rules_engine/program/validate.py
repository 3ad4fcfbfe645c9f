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

import calendar
import datetime as dt
import difflib
import json
import re
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.exceptions import best_match
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from rules_engine.dsl import types as t
from rules_engine.dsl.context import ContextSchema, declare_symbols
from rules_engine.dsl.expression import Expression, compile_expression
from rules_engine.errors import ConditionError, Diagnostic, ProgramError, RulesEngineError, Severity
from rules_engine.program import loader
from rules_engine.program.currencies import MINOR_UNITS
from rules_engine.program.model import Program, Reward, Schedule
from rules_engine.program.schema import program_schema
from rules_engine.program.types import (
    CURRENCY_PATTERN,
    DURATION_PATTERN,
    EVENT_TYPE_PATTERN,
    ID_PATTERN,
    RATE_PATTERN,
    TIME_OF_DAY_PATTERN,
    WINDOW_PATTERN,
    Expr,
)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class ExpressionSite:
    """One expression in a program: where it is, what it must be, and its compiled form."""

    path: Path_
    expression: Expression


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


# -- stage 2: JSON Schema ------------------------------------------------------------------------


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        program_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _schema_problems(data: Any, source_map: loader.SourceMap) -> list[Diagnostic]:
    problems = []
    for error in _validator().iter_errors(data):
        problems += [_describe_violation(leaf, source_map) for leaf in _leaves(error)]
    return _dedupe(sorted(problems, key=lambda d: d.span.start if d.span else -1))


def _leaves(error: SchemaViolation) -> list[SchemaViolation]:
    """The errors worth showing. For `anyOf` (an optional field is `X or null`) they are inside
    the branch the value was meant for: every error of the closest branch, not one of them."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[int, list[SchemaViolation]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    meant = [errors for errors in branches.values() if not _is_null_branch(errors)]
    if not meant:
        return [best_match(error.context)]
    if len(meant) > 1 and all(_is_wrong_type_only(errors) for errors in meant):
        return [error]  # a list or a mapping, and it is neither: say so once, naming both
    chosen = min(meant, key=lambda errors: (len(errors) > 0 and errors[0].validator == "type", len(errors)))
    return [leaf for sub in chosen for leaf in _leaves(sub)]


def _is_wrong_type_only(errors: list[SchemaViolation]) -> bool:
    return len(errors) == 1 and errors[0].validator == "type" and not errors[0].relative_path


def _is_null_branch(errors: list[SchemaViolation]) -> bool:
    return len(errors) == 1 and errors[0].validator == "type" and errors[0].validator_value == "null"


def _field_name(path: Sequence[str | int]) -> str:
    named = [str(p) for p in path if isinstance(p, str)]
    return named[-1] if named else "the program"


def _describe_violation(error: SchemaViolation, source_map: loader.SourceMap) -> Diagnostic:
    path = tuple(error.absolute_path)
    span = source_map.span(path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    examples = _field_examples(path) or schema.get("examples")
    example_hint = f"for example {show_value(examples[0])}" if examples else None
    name = _field_name(path)
    validator = error.validator
    if validator in ("anyOf", "oneOf"):
        kinds = [sub.validator_value for sub in error.context or () if sub.validator == "type"]
        flat = [kind for value in kinds for kind in (value if isinstance(value, list) else [value])]
        wanted_any = [_type_name(kind) for kind in dict.fromkeys(flat) if kind != "null"] or [
            "something else"
        ]
        message = f"`{name}` must be {' or '.join(wanted_any)}, not {describe_kind(error.instance)}"
        return Diagnostic("RE113", message, span, example_hint)
    if validator == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        key = unknown[0] if unknown else "?"
        key_span = source_map.key_span((*path, key)) or span
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"known fields here: {', '.join(allowed)}"
        return Diagnostic("RE111", f"unknown field `{key}`", key_span, hint)
    if validator == "required":
        missing = "?"
        for candidate in schema.get("required", []):
            if isinstance(error.instance, dict) and candidate not in error.instance:
                missing = candidate
                break
        where = source_map.key_span(path) or span
        sub = schema.get("properties", {}).get(missing, {})
        described = str(sub.get("description", "")).rstrip(".")
        missing_examples = _field_examples((*path, missing)) or sub.get("examples")
        if missing_examples:
            example = f"e.g. `{missing}: {_flow(missing_examples[0])}`"
            described = f"{described}, {example}" if described else example
        return Diagnostic("RE112", f"missing field `{missing}`", where, described or None)
    if validator == "type":
        wanted: Any = error.validator_value
        kinds = wanted if isinstance(wanted, list) else [wanted]
        wanted_text = " or ".join(_type_name(kind) for kind in kinds)
        number = _number(error.instance) if isinstance(error.instance, str) else None
        if number is not None and set(kinds) & {"number", "integer"}:
            example_hint = f"write the number without quotes: {number}"
        return Diagnostic(
            "RE113",
            f"`{name}` must be {wanted_text}, not {describe_kind(error.instance)}",
            span,
            example_hint,
        )
    if validator == "enum":
        choices: Any = error.validator_value
        options = [str(v) for v in choices]
        close = difflib.get_close_matches(str(error.instance), options, n=1, cutoff=0.5)
        hint = f"did you mean `{close[0]}`?" if close else f"use one of: {', '.join(options)}"
        return Diagnostic("RE114", f"`{name}` cannot be {show_value(error.instance)}", span, hint)
    if validator == "const":
        return Diagnostic("RE114", f"`{name}` must be {show_value(error.validator_value)}", span)
    if validator == "format":
        what = _FORMATS.get(str(error.validator_value))
        format_hint = ", ".join(x for x in (what, example_hint) if x) or None
        if error.validator_value == "date" and isinstance(error.instance, str):
            format_hint = _no_such_day(error.instance) or format_hint
        return Diagnostic(
            "RE115", f"{show_value(error.instance)} is not a valid {error.validator_value}", span, format_hint
        )
    if validator == "pattern":
        described = str(schema.get("description", "")).rstrip(".")
        description = _FORMATS.get(str(error.validator_value)) or described
        pattern_hint = ", ".join(x for x in (description, example_hint) if x) or None
        return Diagnostic(
            "RE115", f"{show_value(error.instance)} is not a valid `{name}`", span, pattern_hint
        )
    if validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "more than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[validator]
        return Diagnostic(
            "RE116",
            f"`{name}` must be {words} {error.validator_value}, not {show_value(error.instance)}",
            span,
            example_hint,
        )
    if validator in ("minItems", "minLength"):
        return Diagnostic("RE116", f"`{name}` cannot be empty", span, example_hint)
    if validator in ("maxLength", "maxItems"):
        return Diagnostic("RE116", f"`{name}` is too long (at most {error.validator_value})", span)
    return Diagnostic("RE110", f"`{name}`: {error.message}", span, example_hint)


_FORMATS = {
    ID_PATTERN: "an id is lower case letters, digits, `-` and `_`",
    DURATION_PATTERN: "a duration is a number and a unit: w(eeks) d(ays) h(ours) m(inutes) s(econds)",
    RATE_PATTERN: "a rate is <points> per <amount>",
    WINDOW_PATTERN: "a window is calendar_day, calendar_week, calendar_month, calendar_quarter, "
    "calendar_year, lifetime, or rolling and a duration (rolling 30d)",
    TIME_OF_DAY_PATTERN: "a time of day is HH:MM, 24-hour",
    EVENT_TYPE_PATTERN: "an event type is lower case letters, digits and `_`",
    CURRENCY_PATTERN: "a currency is a three-letter ISO 4217 code in capitals",
    "date": "a date is YYYY-MM-DD",
}
"""What a format is, by the pattern (or `format`) the schema gives it: a hint that says the rule."""


def _no_such_day(text: str) -> str | None:
    """For a date written the right way that is not in the calendar (2026-02-30), why not."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    year, month, _ = (int(part) for part in text.split("-"))
    if not 1 <= month <= 12:
        return "the month is 01 to 12: YYYY-MM-DD"
    return f"{calendar.month_name[month]} {year} has {calendar.monthrange(year, month)[1]} days"


def _type_name(kind: Any) -> str:
    names = {
        "object": "a mapping of fields",
        "array": "a list",
        "string": "text",
        "number": "a number",
        "integer": "a whole number",
        "boolean": "true or false",
        "null": "empty",
    }
    return names.get(str(kind), str(kind))


def _number(text: str) -> str | None:
    """The number a quoted text spells, if it is one: `"0.01"` → `0.01`."""
    stripped = text.strip()
    return stripped if loader.resolves_to_number(stripped) else None


def _field_examples(path: Sequence[str | int]) -> list[Any] | None:
    """The examples of the model field at `path` in the data (the ones editors show on hover);
    for an element of a list field, the first element of its example. None when there are none."""
    model: type[BaseModel] | None = Program
    examples: list[Any] | None = None
    for step in path:
        if isinstance(step, str):
            info = model.model_fields.get(step) if model is not None else None
            if info is None:
                return None
            examples = list(info.examples) if info.examples else None
            model, _ = _models_in(info.annotation)
        elif examples and isinstance(examples[0], list) and examples[0]:
            examples = [examples[0][0]]
        else:
            examples = None
    return examples


def describe_kind(value: Any) -> str:
    """A value's kind in words, for \"must be X, not Y\" messages."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, int | Decimal):
        return f"the number {value}"
    if isinstance(value, str):
        return f'the text "{value}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def show_value(value: Any) -> str:
    """A value as it would be written in the file."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict | list):
        return _flow(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _flow(value: Any) -> str:
    """A value as YAML flow style, the way it would be written in the file: `{id: base, rate: 1 per 100}`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and loader.resolves_to_text(value):
            return value
        if '"' in value and "'" not in value:
            return f"'{value}'"
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_PLAIN = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_ ./-]*[A-Za-z0-9_./-])?")


def _dedupe(problems: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, int, int]] = set()
    out = []
    for problem in problems:
        key = (problem.code, problem.span.start if problem.span else -1, hash(problem.message))
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


# -- stage 3: the model's own rules --------------------------------------------------------------


def _model_problems(error: PydanticError, data: Any, source_map: loader.SourceMap) -> list[Diagnostic]:
    problems = []
    items = error.errors(include_url=False)
    unions = [_union_at(item["loc"], data) for item in items]
    # `list[Schedule] | Schedule` given one bad schedule: the list branch's "not a list" is noise
    # when another branch of the same union has the real problem.
    real = {union for item, union in zip(items, unions, strict=True) if not item["type"].endswith("_type")}
    for item, union in zip(items, unions, strict=True):
        if union is not None and union in real and item["type"].endswith("_type"):
            continue
        path = _data_path(item["loc"], data)
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(Diagnostic("RE117", message, source_map.span(path), _model_hint(item)))
    return _dedupe(problems)


def _union_at(loc: Sequence[int | str], data: Any) -> Path_ | None:
    """The path of the field whose union branch `loc` goes through (the step after it is a
    branch tag, not in the data); None when every step is in the data."""
    path: list[str | int] = []
    node = data
    for step in loc:
        in_dict = isinstance(node, dict) and step in node
        if not in_dict and not (isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)):
            return tuple(path)
        path.append(step)
        node = node[step]
    return None


def _data_path(loc: Sequence[int | str], data: Any) -> Path_:
    """Pydantic's `loc` with union-branch tags dropped: only steps that exist in the data."""
    path: list[str | int] = []
    node = data
    for step in loc:
        in_dict = isinstance(node, dict) and step in node
        if in_dict or (isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)):
            path.append(step)
            node = node[step]
    return tuple(path)


def _model_hint(item: Any) -> str | None:
    kind = item.get("type", "")
    if kind == "extra_forbidden":
        return "remove it, or check its spelling"
    return None


# -- stage 4: references and ids -----------------------------------------------------------------


def _reference_problems(program: Program, source_map: loader.SourceMap) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    known: dict[str, list[str]] = {}
    for section in (
        "earn",
        "discounts",
        "challenges",
        "quests",
        "badges",
        "streaks",
        "coupons",
        "offers",
        "catalog",
        "draws",
        "leaderboards",
    ):
        seen: dict[str, int] = {}
        for index, entry in enumerate(getattr(program, section)):
            if entry.id in seen:
                first = source_map.span((section, seen[entry.id], "id"))
                problems.append(
                    Diagnostic(
                        "RE121",
                        f"duplicate id `{entry.id}` in {section}",
                        source_map.span((section, index, "id")),
                        f"ids must be unique; the first `{entry.id}` is on line {first.line}",
                    )
                )
            else:
                seen[entry.id] = index
        known[section] = list(seen)
    if program.tiers is not None:
        levels = program.tiers.levels
        seen_tiers: dict[str, int] = {}
        for index, level in enumerate(levels):
            if level.id in seen_tiers:
                problems.append(
                    Diagnostic(
                        "RE121",
                        f"duplicate tier id `{level.id}`",
                        source_map.span(("tiers", "levels", index, "id")),
                        "tier ids must be unique",
                    )
                )
            seen_tiers[level.id] = index
            if index and level.threshold < levels[index - 1].threshold:
                problems.append(
                    Diagnostic(
                        "RE123",
                        f"tier `{level.id}` needs {level.threshold}, "
                        f"less than `{levels[index - 1].id}` before it ({levels[index - 1].threshold})",
                        source_map.span(("tiers", "levels", index, "threshold")),
                        "list tiers from the lowest threshold to the highest",
                    )
                )
    for path, reward in _rewards(program):
        problems += _reward_references(path, reward, known, source_map)
    for index, offer in enumerate(program.offers):
        if offer.coupon not in known["coupons"]:
            problems.append(
                _unknown(
                    "coupon", offer.coupon, known["coupons"], source_map.span(("offers", index, "coupon"))
                )
            )
    groups: dict[tuple[str, str, int], int] = {}
    for section in ("earn", "discounts"):
        for index, rule in enumerate(getattr(program, section)):
            if rule.group is None:
                continue
            key = (section, rule.group, rule.priority)
            if key in groups:
                other = getattr(program, section)[groups[key]]
                problems.append(
                    Diagnostic(
                        "RE124",
                        f"`{rule.id}` and `{other.id}` share exclusive group `{rule.group}` "
                        f"with the same priority {rule.priority}",
                        source_map.span(
                            (section, index, "priority")
                            if "priority" in rule.model_fields_set
                            else (section, index, "group")
                        ),
                        "give them different priorities: the higher one wins, never the order in the file",
                    )
                )
            else:
                groups[key] = index
    return problems


def _rewards(program: Program) -> Iterator[tuple[Path_, Reward]]:
    for path, value in _walk(program, ()):
        if isinstance(value, Reward):
            yield path, value


def _walk(value: Any, path: Path_) -> Iterator[tuple[Path_, Any]]:
    """Every model, list element and field value with its path, iteratively."""
    stack: list[tuple[Path_, Any]] = [(path, value)]
    while stack:
        here, node = stack.pop()
        yield here, node
        if isinstance(node, BaseModel):
            for name in reversed(list(type(node).model_fields)):
                child = getattr(node, name)
                if child is not None:
                    stack.append(((*here, name), child))
        elif isinstance(node, list):
            stack.extend(((*here, i), child) for i, child in reversed(list(enumerate(node))))


def _reward_references(
    path: Path_, reward: Reward, known: dict[str, list[str]], source_map: loader.SourceMap
) -> list[Diagnostic]:
    problems = []
    if reward.badge is not None and reward.badge not in known["badges"]:
        problems.append(_unknown("badge", reward.badge, known["badges"], source_map.span((*path, "badge"))))
    if reward.coupon is not None and reward.coupon not in known["coupons"]:
        problems.append(
            _unknown("coupon", reward.coupon, known["coupons"], source_map.span((*path, "coupon")))
        )
    if reward.entries is not None and reward.entries.draw not in known["draws"]:
        problems.append(
            _unknown("draw", reward.entries.draw, known["draws"], source_map.span((*path, "entries", "draw")))
        )
    return problems


def _unknown(kind: str, name: str, known: list[str], span: Any) -> Diagnostic:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    section = {"badge": "badges", "coupon": "coupons", "draw": "draws"}[kind]
    if close:
        hint = f"did you mean `{close[0]}`?"
    elif known:
        hint = f"known {section}: {', '.join(known)}"
    else:
        hint = f"define it under `{section}:`"
    return Diagnostic("RE122", f"no {kind} `{name}` is defined", span, hint)


# -- stage 4, continued: money, and fields the engine could not honour together -----------------


def _money_problems(
    program: Program, source_map: loader.SourceMap, sites: list[ExpressionSite]
) -> list[Diagnostic]:
    """A currency that is not ISO 4217 (RE126) and an earn rule's award below zero (RE125)."""
    problems: list[Diagnostic] = []
    if program.currency not in MINOR_UNITS:
        close = difflib.get_close_matches(program.currency, sorted(MINOR_UNITS), n=1, cutoff=0.6)
        problems.append(
            Diagnostic(
                "RE126",
                f"`{program.currency}` is not an ISO 4217 currency code",
                source_map.span(("currency",)),
                f"did you mean {close[0]}?"
                if close
                else "use the three-letter code of your currency, e.g. EUR, USD, RUB",
            )
        )
    for index, value in _constant_awards(program, sites):
        if value < 0:
            problems.append(
                Diagnostic(
                    "RE125",
                    f"the award of `{program.earn[index].id}` is {value}: earn rules never take points away",
                    source_map.span(("earn", index, "award")),
                    "write a positive number; to take points back, the engine reverses them on a return",
                )
            )
    return problems


def _constant_awards(program: Program, sites: list[ExpressionSite]) -> Iterator[tuple[int, Decimal]]:
    """(rule index, value) of each earn rule whose award is a number, or an expression that reads
    nothing from the event, basket or customer (its value is known now)."""
    compiled = {site.path: site.expression for site in sites}
    for index, rule in enumerate(program.earn):
        award = rule.award
        if award is None:
            continue
        if not isinstance(award, str):
            yield index, Decimal(award)
            continue
        expression = compiled.get(("earn", index, "award"))
        if expression is None or expression.roots:
            continue
        try:
            value = expression.evaluate({})
        except RulesEngineError:
            continue
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            yield index, Decimal(value)


def _ignored_combinations(program: Program, source_map: loader.SourceMap) -> list[Diagnostic]:
    """Fields the model accepts that the engine could not honour in this combination (RE129):
    refused here rather than silently ignored on every event."""
    problems: list[Diagnostic] = []

    def refuse(message: str, path: Path_, hint: str) -> None:
        problems.append(
            Diagnostic("RE129", message, source_map.key_span(path) or source_map.span(path), hint)
        )

    without_lines = {  # what a per-line field of an earn rule would do on events without lines
        "for_each_item": ("it could never give points", "add purchase to `on`, or give a fixed `award`"),
        "rate": ("it could never give points", "add purchase to `on`, or give a fixed `award`"),
        "exclude": ("it would never leave anything out", "add purchase to `on`, or remove `exclude`"),
    }
    for index, rule in enumerate(program.earn):
        if "purchase" in rule.on:
            continue
        for name, (effect, hint) in without_lines.items():
            if getattr(rule, name) is not None:
                refuse(
                    f"`{rule.id}` has `{name}` but applies only to {', '.join(rule.on)} events, "
                    f"which have no basket lines: {effect}",
                    ("earn", index, name),
                    hint,
                )
    for index, item in enumerate(program.catalog):
        if item.stock is not None:
            refuse(
                f"catalog item `{item.id}` has a `stock`, which the engine does not count",
                ("catalog", index, "stock"),
                "remove `stock` and keep count of the items in your shop system",
            )
        if item.reward is not None and item.reward.points is not None:
            refuse(
                f"catalog item `{item.id}` gives points for points",
                ("catalog", index, "reward", "points"),
                "lower its `cost` instead, or give a coupon, a badge or draw entries",
            )
    points = program.points
    if (
        points.pending is not None
        and points.expire_after is not None
        and points.pending >= points.expire_after
    ):
        refuse(
            "points would expire before they can be spent: `pending` is not shorter than `expire_after`",
            ("points", "pending"),
            "make `pending` shorter than `expire_after` (pending: 14d, expire_after: 365d)",
        )
    for section in ("discounts", "coupons"):
        for index, offer in enumerate(getattr(program, section)):
            if offer.applies_to is not None and offer.percent is None and offer.amount is None:
                refuse(
                    f"`{offer.id}` gives only free shipping, which `applies_to` cannot limit to lines",
                    (section, index, "applies_to"),
                    "remove `applies_to`, or give a percent or an amount off the lines it matches",
                )
    applies = {coupon.id: coupon.applies_to for coupon in program.coupons}
    for index, offer in enumerate(program.offers):
        if (
            "skip_bought" in offer.model_fields_set
            and offer.skip_bought
            and applies.get(offer.coupon) is None
        ):
            refuse(
                f"`skip_bought` cannot work: coupon `{offer.coupon}` applies to the whole basket, so no line "
                "says what was bought",
                ("offers", index, "skip_bought"),
                f"give coupon `{offer.coupon}` an `applies_to`, or remove `skip_bought`",
            )
    notifications = program.notifications
    if notifications.points_expiring is not None and program.points.expire_after is None:
        refuse(
            "`points_expiring` reminds customers of points that expire, but points never expire",
            ("notifications", "points_expiring"),
            "set points: {expire_after: 365d}, or remove the reminder",
        )
    if notifications.tier_downgrade is not None and program.tiers is None:
        refuse(
            "`tier_downgrade` reminds customers of a tier they may lose, but the program has no tiers",
            ("notifications", "tier_downgrade"),
            "add `tiers:`, or remove the reminder",
        )
    return problems


# -- stage 5: expressions ------------------------------------------------------------------------


def context_schema(attributes: Any) -> ContextSchema:
    """The context a program's expressions see: the standard one plus its declared attributes.

    Works on the raw `attributes` mapping, so expressions can be checked before the rest of the
    file is valid; a malformed declaration is skipped here (the schema stage reports it).
    """

    def declared(section: Any) -> dict[str, t.DslType]:
        out: dict[str, t.DslType] = {}
        if isinstance(section, dict):
            for name, type_name in section.items():
                parsed = t.parse_type_name(type_name) if isinstance(type_name, str) else None
                if parsed is not None and isinstance(name, str):
                    out[name] = parsed
        return out

    attributes = attributes if isinstance(attributes, dict) else {}
    return declare_symbols(
        item=declared(attributes.get("item")),
        customer=declared(attributes.get("customer")),
        event=declared(attributes.get("event")),
        basket=declared(attributes.get("basket")),
    )


def _constants(raw: Any) -> dict[str, Any]:
    """Program constants as exact language values (invalid ones are left to the schema stage)."""
    out: dict[str, Any] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            if isinstance(name, str) and isinstance(value, str | int | Decimal) and name not in _ROOTS:
                out[name] = value
    return out


_ROOTS = ("event", "basket", "customer", "item")


def _marker(annotation: Any, metadata: Sequence[Any] = ()) -> Expr | None:
    found = [m for m in metadata if isinstance(m, Expr)]
    stack = [annotation]
    while stack:
        current = stack.pop()
        if typing.get_origin(current) is typing.Annotated:
            found += [m for m in current.__metadata__ if isinstance(m, Expr)]
            stack.append(typing.get_args(current)[0])
        elif typing.get_origin(current) in (typing.Union, types.UnionType):
            stack.extend(typing.get_args(current))
    return found[-1] if found else None


def _models_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model class a field holds, and whether it holds a list of them (`list[X] | X | None`)."""
    stack: list[tuple[Any, bool]] = [(annotation, False)]
    while stack:
        current, in_list = stack.pop()
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current, in_list
        if origin is list:
            stack.append((typing.get_args(current)[0], True))
        elif origin is typing.Annotated:
            stack.append((typing.get_args(current)[0], in_list))
        elif origin in (typing.Union, types.UnionType):
            stack.extend((arg, in_list) for arg in typing.get_args(current))
    return None, False


def _expression_sites(data: Any) -> Iterator[tuple[Path_, str, Expr, dict[str, Any]]]:
    """Every expression in raw program data: (path, text, marker, the mapping holding it).

    Walks the data along the shape of the model classes, so it finds expressions even where
    the rest of the file does not validate yet.
    """
    stack: list[tuple[Path_, Any, type[BaseModel]]] = [((), data, Program)]
    while stack:
        path, node, model = stack.pop()
        if not isinstance(node, dict):
            continue
        for name, info in model.model_fields.items():
            if name not in node or node[name] is None:
                continue
            value = node[name]
            marker = _marker(info.annotation, info.metadata)
            if marker is not None:
                if isinstance(value, str):
                    yield (*path, name), value, marker, node
                continue
            inner, _ = _models_in(info.annotation)
            if inner is None:
                continue
            if isinstance(value, list):
                stack.extend(((*path, name, i), element, inner) for i, element in enumerate(value))
            else:
                stack.append(((*path, name), value, inner))


def _compile_expressions(
    data: Any, source_map: loader.SourceMap
) -> tuple[list[ExpressionSite], list[Diagnostic]]:
    raw = data if isinstance(data, dict) else {}
    schema = context_schema(raw.get("attributes"))
    constants = _constants(raw.get("constants"))
    sites: list[ExpressionSite] = []
    problems: list[Diagnostic] = []
    for path, text, marker, holder in _expression_sites(data):
        per_item = marker.per_item
        if isinstance(per_item, str):
            per_item = holder.get(per_item) is not None
        try:
            expression = compile_expression(
                text,
                schema,
                origin=source_map.origin(path),
                per_item=per_item,
                constants=constants,
                expect=t.BOOL if marker.type == "bool" else t.NUMBER,
            )
        except ConditionError as error:
            problems += error.diagnostics
            continue
        sites.append(ExpressionSite(path, expression))
    return sites, problems


# -- stage 6: lints -------------------------------------------------------------------------------


def lints(
    program: Program, source_map: loader.SourceMap, sites: list[ExpressionSite], today: dt.date | None = None
) -> list[Diagnostic]:
    """Warnings about a valid program that probably does not do what its author meant."""
    today = today or dt.datetime.now(program.zone).date()  # lint only: the engine never reads the clock
    warnings: list[Diagnostic] = []

    def warn(code: str, message: str, path: Path_, hint: str) -> None:
        warnings.append(Diagnostic(code, message, source_map.span(path), hint, Severity.WARNING))

    for path, node in _walk(program, ()):
        if isinstance(node, Schedule) and node.end is not None and node.end < today:
            warn(
                "RE501",
                f"this schedule ended on {node.end}, so the rule can never apply again",
                (*path, "end"),
                "update the dates, or remove the rule",
            )
    for site in sites:
        warnings += site.expression.warnings  # RE312: nested loops over the data
        if site.expression.type.kind is t.Kind.BOOL and not site.expression.roots:
            value = site.expression.evaluate({})
            if value is not True:
                warn(
                    "RE502",
                    "this condition is always false, so the rule can never apply",
                    site.path,
                    "check the condition: it reads nothing from the event, basket or customer",
                )
    if program.tiers is not None:
        levels = program.tiers.levels
        for index in range(1, len(levels)):
            if levels[index].threshold == levels[index - 1].threshold:
                warn(
                    "RE503",
                    f"tiers `{levels[index - 1].id}` and `{levels[index].id}` have the same threshold",
                    ("tiers", "levels", index, "threshold"),
                    "give each tier its own threshold",
                )
    for index, rule in enumerate(program.earn):
        unbounded = rule.multiply is not None or rule.for_each_item is not None
        if unbounded and rule.cap is None and rule.budget is None:
            kind = "multiplier" if rule.multiply is not None else "per-item award"
            warn(
                "RE504",
                f"the {kind} `{rule.id}` has no cap and no budget",
                ("earn", index),
                "add cap: {per_event: …} or budget: {points: …} so a large basket cannot cost a fortune",
            )
    warnings += _no_effect(program, source_map, sites)
    if program.points.value is None:
        warn(
            "RE128",
            "points have no value: the books count them but cannot say what the liability is worth",
            ("points",) if "points" in program.model_fields_set else ("currency",),
            f"set points: {{value: …}}, what one point is worth in {program.currency} (e.g. 0.01)",
        )
    senders: list[Path_] = [("offers", i, "notify") for i, offer in enumerate(program.offers) if offer.notify]
    senders += [
        ("notifications", reminder)
        for reminder in ("points_expiring", "tier_downgrade")
        if getattr(program.notifications, reminder) is not None
    ]
    if senders and program.notifications.frequency_cap is None:
        warn(  # at the first thing that sends a message: the file may have no `notifications` at all
            "RE505",
            "messages are sent but there is no frequency cap",
            min(senders, key=lambda path: source_map.span(path).start),
            "add notifications: {frequency_cap: {count: 3, per: 7d}}",
        )
    for section in ("earn", "discounts"):
        rules = getattr(program, section)
        for index, rule in enumerate(rules):
            if rule.group is None:
                continue
            for other in rules:
                always = (
                    other.when is None
                    and other.active is None
                    and getattr(other, "for_each_item", None) is None
                )
                same_events = getattr(other, "on", None) == getattr(rule, "on", None)
                if (
                    other is not rule
                    and other.group == rule.group
                    and other.priority > rule.priority
                    and always
                    and same_events
                ):
                    warn(
                        "RE506",
                        f"`{rule.id}` never applies: `{other.id}` in exclusive group `{rule.group}` "
                        "always applies and has a higher priority",
                        (section, index, "group"),
                        f"give `{other.id}` a condition, or `{rule.id}` a higher priority",
                    )
                    break
    return warnings


def _no_effect(
    program: Program, source_map: loader.SourceMap, sites: list[ExpressionSite]
) -> list[Diagnostic]:
    """Rules and rewards that can never change anything (RE127): `multiply: 1`, an award or a
    rate of 0 points, a tier multiplier of 1, a reward of 0 points and nothing else."""
    found: list[tuple[str, Path_, str]] = []
    for index, rule in enumerate(program.earn):
        if rule.multiply == 1:
            found.append(
                (
                    f"`{rule.id}` multiplies by 1",
                    ("earn", index, "multiply"),
                    "multiply by more than 1, e.g. 2",
                )
            )
        if rule.rate is not None and rule.rate.points == 0:
            found.append((f"`{rule.id}` gives 0 points", ("earn", index, "rate"), "e.g. rate: 1 per 100"))
    for index, value in _constant_awards(program, sites):
        if value == 0:
            found.append(
                (
                    f"`{program.earn[index].id}` awards 0 points",
                    ("earn", index, "award"),
                    "award at least 1 point",
                )
            )
    for index, level in enumerate(program.tiers.levels if program.tiers else []):
        if level.benefits.earn_multiplier == 1:
            path: Path_ = ("tiers", "levels", index, "benefits", "earn_multiplier")
            found.append((f"tier `{level.id}` multiplies points by 1", path, "e.g. earn_multiplier: 1.5"))
    for path, reward in _rewards(program):
        alone = reward.badge is None and reward.coupon is None and reward.entries is None
        if reward.points == 0 and alone:
            found.append(
                ("this reward gives 0 points and nothing else", (*path, "points"), "give points, or a badge")
            )
    return [
        Diagnostic(
            "RE127", f"{message}, which changes nothing", source_map.span(path), hint, Severity.WARNING
        )
        for message, path, hint in found
    ]
