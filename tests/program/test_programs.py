"""The example programs and the published schema: examples are tests (the typer lesson)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from rules_engine.program import loader
from rules_engine.program.schema import all_schemas, render
from rules_engine.program.validate import validate_file
from tests.conftest import ROOT

PROGRAMS = sorted(p for p in (ROOT / "programs").glob("*.yaml") if not p.name.endswith(".tests.yaml"))


def test_there_are_real_example_programs() -> None:
    assert {p.stem for p in PROGRAMS} >= {
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


def test_every_field_has_a_description() -> None:
    schema = all_schemas()["program.schema.json"]
    missing = []
    for definition_name, definition in schema["$defs"].items():
        for field_name, field_schema in definition.get("properties", {}).items():
            if "description" not in field_schema:
                missing.append(f"{definition_name}.{field_name}")
    for field_name, field_schema in schema["properties"].items():
        if "description" not in field_schema:
            missing.append(field_name)
    assert missing == []


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
