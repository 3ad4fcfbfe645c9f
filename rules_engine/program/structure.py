"""Raw program data → diagnostics for its shape: the JSON Schema, then the model's own rules.

`schema_problems` checks the data against the JSON Schema generated from the model (RE110–RE116,
every error at once, each at its place through the source map); `model_problems` turns pydantic's
errors for data that passed the schema into RE117. Both paths (jsonschema's `absolute_path`,
pydantic's `loc`) are paths into the document: message texts are never parsed.
"""

from __future__ import annotations

import calendar
import difflib
import json
import re
from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.exceptions import best_match
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from rules_engine.errors import Diagnostic, PydanticIssue, diagnostics_from_pydantic, pydantic_issues
from rules_engine.program import loader
from rules_engine.program.model import Program
from rules_engine.program.scalars import NodePath, SourceMap
from rules_engine.program.schema import program_schema
from rules_engine.program.types import (
    CURRENCY_PATTERN,
    DURATION_PATTERN,
    EVENT_TYPE_PATTERN,
    ID_PATTERN,
    RATE_PATTERN,
    TIME_OF_DAY_PATTERN,
    WINDOW_PATTERN,
    models_in,
)

# -- the JSON Schema -----------------------------------------------------------------------------


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        program_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def schema_problems(data: Any, source_map: SourceMap) -> list[Diagnostic]:
    problems = []
    for error in _validator().iter_errors(data):
        problems += [found for leaf in _leaves(error) for found in _describe_violation(leaf, source_map)]
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


def _describe_violation(error: SchemaViolation, source_map: SourceMap) -> list[Diagnostic]:
    """The violation as people read it: one problem, or one for each field a mapping has that
    it may not have (RE111) or lacks (RE112). JSON Schema gives one violation for every unknown
    field of a mapping, and one per missing field without saying which: each named once."""
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        # a key YAML reads as another scalar (`true:`, `1:`) is unknown too, named as text
        unknown = [key for key in instance if key not in allowed] or ["?"]
        return [_unknown_field(path, key, allowed, source_map) for key in unknown]
    if error.validator == "required":
        missing = [name for name in schema.get("required", []) if name not in instance] or ["?"]
        return [_missing_field(path, name, schema, source_map) for name in missing]
    return [_describe_one(error, source_map)]


def _unknown_field(
    path: tuple[str | int, ...], key: Any, allowed: list[str], source_map: SourceMap
) -> Diagnostic:
    key_span = source_map.key_span((*path, key)) or source_map.span(path)
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`?" if close else f"known fields here: {', '.join(allowed)}"
    return Diagnostic("RE111", f"unknown field `{key}`", key_span, hint)


def _missing_field(
    path: tuple[str | int, ...], missing: str, schema: dict[str, Any], source_map: SourceMap
) -> Diagnostic:
    where = source_map.key_span(path) or source_map.span(path)
    sub = schema.get("properties", {}).get(missing, {})
    described = str(sub.get("description", "")).rstrip(".")
    missing_examples = _field_examples((*path, missing)) or sub.get("examples")
    if missing_examples:
        example = f"e.g. `{missing}: {_flow(missing_examples[0])}`"
        described = f"{described}, {example}" if described else example
    return Diagnostic("RE112", f"missing field `{missing}`", where, described or None)


def _describe_one(error: SchemaViolation, source_map: SourceMap) -> Diagnostic:
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
            model, _ = models_in(info.annotation)
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


# -- the model's own rules ---------------------------------------------------------------------


def model_problems(error: PydanticError, data: Any, source_map: SourceMap) -> list[Diagnostic]:
    """RE117 for each of pydantic's problems with the program, at its place in the file."""
    issues = pydantic_issues(error, data)
    unions = [_union_at(issue.loc, data) for issue in issues]
    # `list[Schedule] | Schedule` given one bad schedule: the list branch's "not a list" is noise
    # when another branch of the same union has the real problem.
    real = {union for issue, union in zip(issues, unions, strict=True) if not issue.kind.endswith("_type")}
    kept = [
        issue
        for issue, union in zip(issues, unions, strict=True)
        if union is None or union not in real or not issue.kind.endswith("_type")
    ]
    problems = diagnostics_from_pydantic(
        kept,
        "RE117",
        data=data,
        message=lambda issue: issue.message,
        span=lambda issue: source_map.span(_data_path(issue.loc, data)),
        hint=_model_hint,
    )
    return _dedupe(problems)


def _union_at(loc: Sequence[int | str], data: Any) -> NodePath | None:
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


def _data_path(loc: Sequence[int | str], data: Any) -> NodePath:
    """Pydantic's `loc` with union-branch tags dropped: only steps that exist in the data."""
    path: list[str | int] = []
    node = data
    for step in loc:
        in_dict = isinstance(node, dict) and step in node
        if in_dict or (isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)):
            path.append(step)
            node = node[step]
    return tuple(path)


def _model_hint(issue: PydanticIssue) -> str | None:
    if issue.kind == "extra_forbidden":
        return "remove it, or check its spelling"
    return None
