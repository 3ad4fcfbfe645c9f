"""The example programs and the published schema: examples are tests (the typer lesson)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel, TypeAdapter

from rules_engine.dsl import types as t
from rules_engine.dsl.expression import compile_expression
from rules_engine.program import loader, mechanics, model, parts, tiers
from rules_engine.program.types import expression_marker
from rules_engine.program.validate import validate_file, validate_text
from rules_engine.render import render_diagnostic
from rules_engine.schemas import all_schemas, render
from tests.conftest import ROOT

PROGRAMS = sorted(p for p in (ROOT / "programs").glob("*.yaml") if not p.name.endswith(".tests.yaml"))


def test_there_are_real_example_programs() -> None:
    assert {p.stem for p in PROGRAMS} >= {
        "book-nook",
        "coffee-club",
        "fashion-house",
        "volt-electronics",
        "corner-hardware",
    }


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_every_example_program_is_valid_without_warnings(path: Path) -> None:
    result = validate_file(path, today=None)
    assert result.errors == []
    assert [d for d in result.warnings if d.code != "RE501"] == []
    assert result.program is not None


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_every_example_program_names_the_schema_for_editors(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/program.schema.json"


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_the_published_schema_accepts_every_example(path: Path) -> None:
    """Non-Python tools validate with the committed schema; it must be true for real programs."""
    import json

    schema = json.loads((ROOT / "schemas" / "program.schema.json").read_text(encoding="utf-8"))
    data, _ = loader.load_file(path)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert errors == []


def test_committed_schemas_are_the_generated_ones() -> None:
    for name, schema in all_schemas().items():
        committed = (ROOT / "schemas" / name).read_text(encoding="utf-8")
        assert committed == render(schema), f"schemas/{name} is stale: run `loyalty schema --out schemas`"


@cache
def _published() -> dict[str, Any]:
    return all_schemas()["program.schema.json"]


def _properties() -> dict[str, dict[str, Any]]:
    """Every property of the published schema, as `Definition.field` (top-level fields bare)."""
    schema = _published()
    found = {
        f"{definition_name}.{field_name}": field_schema
        for definition_name, definition in schema["$defs"].items()
        for field_name, field_schema in definition.get("properties", {}).items()
    }
    found |= dict(schema["properties"].items())
    return found


def test_every_field_has_a_description() -> None:
    missing = [name for name, field_schema in _properties().items() if "description" not in field_schema]
    assert missing == []


def test_every_field_has_an_example_for_editor_hover() -> None:
    """On the property itself, not only inside an `anyOf` branch that an editor may not show."""
    missing = [name for name, field_schema in _properties().items() if not field_schema.get("examples")]
    assert missing == []


# The format's classes live in four modules; `model` re-exports them all.
_MODEL_MODULES = {module.__name__ for module in (model, parts, tiers, mechanics)}


def _model_classes() -> list[type[BaseModel]]:
    return [
        cls
        for cls in vars(model).values()
        if isinstance(cls, type)
        and issubclass(cls, model.Model)
        and cls is not model.Model
        and cls.__module__ in _MODEL_MODULES
    ]


FIELDS = [(cls, name) for cls in _model_classes() for name in cls.model_fields]


def _field_id(value: object) -> str:
    return value.__name__ if isinstance(value, type) else str(value)


def test_the_model_classes_are_all_found() -> None:
    names = {cls.__name__ for cls in _model_classes()}
    assert {"Program", "EarnRule", "Reward", "Schedule", "Notifications"} <= names
    assert len(FIELDS) > 120


@pytest.mark.parametrize(("cls", "name"), FIELDS, ids=_field_id)
def test_a_fields_first_example_is_valid_for_its_schema_and_the_model(
    cls: type[BaseModel], name: str
) -> None:
    schema = _published()
    info = cls.model_fields[name]
    assert info.examples, f"{cls.__name__}.{name} has no example"
    example = info.examples[0]
    owner = schema if cls is model.Program else schema["$defs"][cls.__name__]
    field_schema = owner["properties"][info.alias or name]  # `for` is `for_` in Python
    assert field_schema["examples"][0] == example  # what editors show is this example
    validator = jsonschema.Draft202012Validator(
        {**field_schema, "$defs": schema["$defs"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    assert [error.message for error in validator.iter_errors(example)] == []
    TypeAdapter(info.rebuild_annotation()).validate_python(example)  # the model's own rules too


EXPRESSION_FIELDS = [
    (cls, name)
    for cls, name in FIELDS
    if expression_marker(cls.model_fields[name].annotation, cls.model_fields[name].metadata) is not None
]


def test_expression_fields_are_found() -> None:
    assert (model.EarnRule, "when") in EXPRESSION_FIELDS
    assert (model.EarnRule, "award") in EXPRESSION_FIELDS
    assert (model.Challenge, "counts") in EXPRESSION_FIELDS


@pytest.mark.parametrize(("cls", "name"), EXPRESSION_FIELDS, ids=_field_id)
def test_an_expression_fields_example_compiles(cls: type[BaseModel], name: str) -> None:
    info = cls.model_fields[name]
    marker = expression_marker(info.annotation, info.metadata)
    assert marker is not None and info.examples
    example = info.examples[0]
    if isinstance(example, str):
        per_item = marker.per_item is not False  # `award` with `for_each_item` may read `item`
        expect = t.BOOL if marker.type == "bool" else t.NUMBER
        compile_expression(example, per_item=per_item, expect=expect)


def test_the_top_level_examples_together_are_a_valid_program() -> None:
    """A marketer who pastes every example from the editor's hover gets a program that validates."""
    data = {name: info.examples[0] for name, info in model.Program.model_fields.items() if info.examples}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    result = validate_text(text, "examples.yaml", today=dt.date(2026, 1, 1))
    assert [render_diagnostic(d) for d in result.diagnostics] == []


def test_examples_together_exercise_every_mechanic() -> None:
    sections: set[str] = set()
    for path in PROGRAMS:
        program = validate_file(path).program
        assert program is not None
        sections |= {name for name in type(program).model_fields if getattr(program, name)}
    expected = {
        "tiers",
        "earn",
        "discounts",
        "challenges",
        "quests",
        "badges",
        "streaks",
        "referral",
        "coupons",
        "offers",
        "catalog",
        "draws",
        "leaderboards",
        "notifications",
        "constants",
        "attributes",
    }
    assert expected <= sections
