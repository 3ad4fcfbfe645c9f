"""JSON Schemas generated from the models: `schemas/program.schema.json` and friends.

The models are the one source of truth; the committed files let editors (YAML language server)
give marketers autocomplete and hover docs, and let non-Python tools validate programs. A test
fails when the committed files differ from what this module generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_BASE = "https://github.com/loyalty-rules-engine/rules-engine/schemas"


def program_schema() -> dict[str, Any]:
    from rules_engine.program.model import Program

    schema = Program.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/program.schema.json",
        **schema,
        "title": "Loyalty program",
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name → schema, for every schema the project publishes."""
    return {"program.schema.json": program_schema()}


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
