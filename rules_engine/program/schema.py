"""The JSON Schema of a program file, generated from the model (the one source of truth).

`program/structure.py` checks every file against it before the model sees it, and
`schemas/program.schema.json` is this schema, written out by `rules_engine/schemas.py` with
the other published schemas so that editors (YAML language server) give marketers autocomplete.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

SCHEMA_BASE = "https://github.com/loyalty-rules-engine/rules-engine/schemas"


def program_schema() -> dict[str, Any]:
    from rules_engine.program.model import Program

    schema = Program.model_json_schema(mode="validation", schema_generator=_KeepExampleOrder)
    return published("program.schema.json", schema, "Loyalty program")


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


def published(name: str, schema: dict[str, Any], title: str) -> dict[str, Any]:
    """A schema as the project publishes it: draft 2020-12, with its `$id` and a title."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/{name}",
        **schema,
        "title": title,
    }
