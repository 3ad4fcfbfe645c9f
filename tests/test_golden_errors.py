"""Golden files: exactly what `loyalty validate` prints for each bad program in tests/golden/errors/.

Each `NAME.yaml` there has a `NAME.txt` holding the command's output (stderr, then stdout) for
`loyalty validate tests/golden/errors/NAME.yaml`, run from the repository root. A change to a
message, a line or column, a caret or a hint shows up as a failing diff. After an intended
change, regenerate (pytest-regressions' `--force-regen`, or `REGEN_GOLDEN=1`) and review the
diff of the .txt files before committing:

    .venv/bin/python -m pytest tests/test_golden_errors.py --force-regen
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pytest_regressions.file_regression import FileRegressionFixture
from typer.testing import CliRunner

from rules_engine.cli import app
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "errors"
CASES = sorted(GOLDEN.glob("*.yaml"))
REGENERATE = os.environ.get("REGEN_GOLDEN") == "1"

# Plain text whatever the terminal: rich reads these when the command creates its consoles.
PLAIN = {"NO_COLOR": "1", "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "COLUMNS": "80"}


def validate_output(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["validate", path.relative_to(ROOT).as_posix()], env=PLAIN)
    return result.exit_code, result.output


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_rendered_diagnostics_match_the_golden_file(
    path: Path, monkeypatch: pytest.MonkeyPatch, file_regression: FileRegressionFixture
) -> None:
    exit_code, output = validate_output(path, monkeypatch)
    golden = path.with_suffix(".txt")
    if REGENERATE:
        golden.write_text(output, encoding="utf-8")
    file_regression.check(output, fullpath=golden, encoding="utf-8", newline="\n")
    assert exit_code == (0 if output.splitlines()[-1].startswith("ok ") else 1)


def test_only_the_warnings_only_program_passes() -> None:
    """Every other golden program is there for its errors; a change that lets one pass is a bug."""
    passing = {
        path.stem
        for path in CASES
        if path.with_suffix(".txt").read_text(encoding="utf-8").splitlines()[-1].startswith("ok ")
    }
    assert passing == {"warnings-only"}


def test_every_bad_program_has_its_golden_file() -> None:
    assert len(CASES) >= 8
    assert {p.stem for p in GOLDEN.glob("*.txt")} == {p.stem for p in CASES}
