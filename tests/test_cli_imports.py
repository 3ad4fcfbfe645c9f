"""What `loyalty` loads before it knows the command: only the command line itself.

Every command pays for the modules that importing `rules_engine.cli` loads, `--help` and
`validate` included. The engine, the stores, the replay and the service take most of a second of
CPU to import (their pydantic models), so the commands import them when they run.
"""

from __future__ import annotations

import subprocess
import sys

from rules_engine import replay
from rules_engine.cli import replaying, service
from rules_engine.store.keys import SCOPES

HEAVY = (
    "rules_engine.engine.evaluator",
    "rules_engine.engine.outcome",
    "rules_engine.replay",
    "rules_engine.service",
    "rules_engine.state.customer",
    "rules_engine.store",
    "rules_engine.http",
    "rules_engine.simulate",
)


def test_the_command_line_loads_no_engine_store_or_service_before_a_command_runs() -> None:
    script = "import sys, rules_engine.cli; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert [name for name in loaded if name.startswith(HEAVY)] == []


def test_the_values_spelt_out_for_a_light_import_are_the_modules_own() -> None:
    assert replaying._BATCH == replay.DEFAULT_BATCH
    assert tuple(service.Scope) == SCOPES
