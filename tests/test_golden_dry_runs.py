"""Golden dry-runs: `loyalty dry-run` of every example program × sample event, pinned as text.

The numbers in these files are checked against the hand-worked expectations in
programs/*.tests.yaml (tests/test_example_expectations.py); these files pin the rest — the
trace's reasons, failing parts and near-miss hints, the table layout — so a change in any of
them is seen and reviewed as a diff. Regenerate with `pytest --force-regen`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.program import loader
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "dry-runs"
PLAIN = {"NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"}


def _cases() -> Iterator[Any]:
    for tests_file in sorted((ROOT / "programs").glob("*.tests.yaml")):
        data, _ = loader.load_file(tests_file)
        program = tests_file.with_name(tests_file.name.replace(".tests.yaml", ".yaml"))
        for case in data["cases"]:
            if "event_file" not in case or "error" in case.get("expect", {}) or "before" in case:
                continue
            event = tests_file.parent / case["event_file"]
            yield pytest.param(program, event, case, id=f"{program.stem}/{event.stem}")


@pytest.mark.parametrize(("program", "event", "case"), list(_cases()))
def test_dry_run_output_is_pinned(
    program: Path,
    event: Path,
    case: dict[str, Any],
    tmp_path: Path,
    file_regression: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    args = ["dry-run", str(program.relative_to(ROOT)), str(event.relative_to(ROOT))]
    if "customer_file" in case:
        args += ["--customer", str((program.parent / case["customer_file"]).relative_to(ROOT))]
    elif "customer" in case:
        state = tmp_path / "customer.json"
        state.write_text(json.dumps(case["customer"], default=str), encoding="utf-8")
        args += ["--customer", str(state)]
    result = CliRunner().invoke(app, args, env=PLAIN)
    assert result.exit_code == 0, result.output
    text = "\n".join(line.rstrip() for line in result.stdout.splitlines()) + "\n"
    text = text.replace(str(tmp_path), "<tmp>")
    file_regression.check(text, fullpath=GOLDEN / program.stem / f"{event.stem}.txt")
