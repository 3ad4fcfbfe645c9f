"""The JSON Schemas the project publishes in `schemas/`: programs, events, states, outcomes and
the simulate report.

The models are the one source of truth; the committed files let editors (YAML language server)
give marketers autocomplete and hover docs, and let non-Python tools validate what they send and
read. `loyalty schema` (and `make schemas`) writes them; a test fails when the committed files
differ from what this module generates.

Why at the package's top rather than in tools/: it gathers the schema of every layer, the simulate
report's included, and simulate builds on the tools (accounting): a publisher inside tools/ made
the two packages import each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rules_engine.program.schema import program_schema, published


def outcome_schema() -> dict[str, Any]:
    """What `Engine.process` returns and `loyalty dry-run --json` prints."""
    from rules_engine.engine.outcome import Outcome

    return published("outcome.schema.json", Outcome.model_json_schema(mode="serialization"), "Outcome")


def event_schema() -> dict[str, Any]:
    """The events `Engine.process` accepts (purchase, return, signup … and custom types)."""
    from rules_engine.engine.events import event_schema as schema

    return published("event.schema.json", schema(), "Event")


def state_schema() -> dict[str, Any]:
    """A customer's state snapshot, as `Engine.process` takes it and `Outcome.state` gives it."""
    from rules_engine.state.customer import CustomerState

    return published(
        "state.schema.json", CustomerState.model_json_schema(mode="validation"), "Customer state"
    )


def simulate_report_schema() -> dict[str, Any]:
    """What `loyalty simulate --json` prints (rules_engine/simulate/schema.py)."""
    from rules_engine.simulate.schema import report_schema

    return report_schema()


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name → schema, for every schema the project publishes."""
    return {
        "program.schema.json": program_schema(),
        "outcome.schema.json": outcome_schema(),
        "event.schema.json": event_schema(),
        "state.schema.json": state_schema(),
        "simulate-report.schema.json": simulate_report_schema(),
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
