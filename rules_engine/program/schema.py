"""JSON Schemas generated from the models: `schemas/program.schema.json` and friends.

The models are the one source of truth; the committed files let editors (YAML language server)
give marketers autocomplete and hover docs, and let non-Python tools validate programs. A test
fails when the committed files differ from what this module generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

SCHEMA_BASE = "https://github.com/loyalty-rules-engine/rules-engine/schemas"


def program_schema() -> dict[str, Any]:
    from rules_engine.program.model import Program

    schema = Program.model_json_schema(mode="validation", schema_generator=_KeepExampleOrder)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/program.schema.json",
        **schema,
        "title": "Loyalty program",
    }


class _KeepExampleOrder(GenerateJsonSchema):
    """Pydantic's key sorting, except inside `examples`: an example reads as it would be written
    (`{id: base, rate: 1 per 100}`, not `{description: …, id: …}`) on hover and in hints."""

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:
        sorted_value: JsonSchemaValue = _sorted(value, parent_key)
        return sorted_value


def _sorted(value: Any, parent_key: str | None) -> Any:
    if parent_key == "examples":
        return value
    if isinstance(value, dict):
        keys = value.keys() if parent_key in ("properties", "default") else sorted(value)
        return {key: _sorted(value[key], key) for key in keys}
    if isinstance(value, list):
        return [_sorted(item, parent_key) for item in value]
    return value


def outcome_schema() -> dict[str, Any]:
    """What `Engine.process` returns and `loyalty dry-run --json` prints."""
    from rules_engine.engine.outcome import Outcome

    return _published("outcome.schema.json", Outcome.model_json_schema(mode="serialization"), "Outcome")


def event_schema() -> dict[str, Any]:
    """The events `Engine.process` accepts (purchase, return, signup … and custom types)."""
    from rules_engine.engine.events import event_schema as schema

    return _published("event.schema.json", schema(), "Event")


def state_schema() -> dict[str, Any]:
    """A customer's state snapshot, as `Engine.process` takes it and `Outcome.state` gives it."""
    from rules_engine.state.customer import CustomerState

    return _published(
        "state.schema.json", CustomerState.model_json_schema(mode="validation"), "Customer state"
    )


def _published(name: str, schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/{name}",
        **schema,
        "title": title,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name → schema, for every schema the project publishes."""
    return {
        "program.schema.json": program_schema(),
        "outcome.schema.json": outcome_schema(),
        "event.schema.json": event_schema(),
        "state.schema.json": state_schema(),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = out / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
