"""`loyalty validate` and `loyalty schema`: exit codes, the summary lines, JSON for CI, the options."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from tests.conftest import ROOT

HEADER = "program: shop\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\n"
VALUE = "points: {value: 1}\n"  # without one, RE128 warns
BASE = HEADER + "earn:\n  - id: base\n    rate: 1 per 100\n"
VALID = BASE + VALUE
DECEMBER_ONLY = BASE + "    active: {start: 2026-12-01, end: 2026-12-31}\n" + VALUE  # RE501 once it is over
WARNING_ONLY = HEADER + "earn:\n  - id: x2\n    multiply: 2\n" + VALUE  # RE504: no cap, no budget
INVALID = HEADER + "earn:\n  - id: base\n    rte: 1 per 100\n    priority: high\n"  # RE111, RE113
EXAMPLES = ("book-nook", "coffee-club", "corner-hardware", "fashion-house", "volt-electronics")

# Plain text whatever the terminal: rich reads these when the command creates its consoles.
PLAIN = {"NO_COLOR": "1", "FORCE_COLOR": None, "TTY_COMPATIBLE": None}


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args], env=PLAIN)
    return result.exit_code, result.stdout, result.stderr


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """The example programs, in a folder of their own."""
    folder = tmp_path / "programs"
    folder.mkdir()
    for name in EXAMPLES:
        shutil.copy(ROOT / "programs" / f"{name}.yaml", folder)
    return folder


# -- validate: a file, a folder -------------------------------------------------------------------


def test_a_folder_of_valid_programs_exits_0_with_one_ok_line_per_file(examples: Path) -> None:
    code, out, err = run("validate", examples, "--today", "2026-11-24")
    assert code == 0
    assert err == ""
    assert out.splitlines() == [
        f"ok      {examples / name}.yaml: 0 error(s), 0 warning(s)" for name in sorted(EXAMPLES)
    ]


def test_a_folder_is_searched_recursively_for_yaml_and_yml(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", VALID)
    write(tmp_path, "nested/b.yml", VALID)
    write(tmp_path, "notes.txt", "not a program")
    code, out, _ = run("validate", tmp_path)
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()] == [
        f"{tmp_path / 'a.yaml'}:",
        f"{tmp_path / 'nested' / 'b.yml'}:",
    ]


def test_an_invalid_file_exits_1_and_shows_each_error_where_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", INVALID)
    code, out, err = run("validate", path)
    assert code == 1
    assert out == f"invalid {path}: 2 error(s), 0 warning(s)\n"
    assert f"{path}:7:5: error[RE111]: unknown field `rte`" in err
    assert "= hint: did you mean `rate`?" in err
    assert f"{path}:8:15: error[RE113]: `priority` must be a whole number" in err


def test_one_invalid_file_fails_the_run_and_the_others_are_still_reported(tmp_path: Path) -> None:
    good = write(tmp_path, "a-good.yaml", VALID)
    bad = write(tmp_path, "b-bad.yaml", INVALID)
    code, out, _ = run("validate", good, bad)
    assert code == 1
    assert out.splitlines() == [
        f"ok      {good}: 0 error(s), 0 warning(s)",
        f"invalid {bad}: 2 error(s), 0 warning(s)",
    ]


def test_a_missing_path_exits_1_with_re105(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run("validate", missing)
    assert code == 1
    assert out == ""
    assert f"error[RE105]: no such file or folder: {missing}" in err
    assert "hint: check the path" in err


def test_a_folder_without_programs_exits_1_with_re105(tmp_path: Path) -> None:
    code, _, err = run("validate", tmp_path)
    assert code == 1
    assert "error[RE105]: no program files (*.yaml) found" in err


# -- validate --json ----------------------------------------------------------------------------


def test_json_lists_every_problem_with_its_place_code_and_severity(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", INVALID)
    code, out, err = run("validate", "--json", path)
    assert code == 1
    assert err == ""  # machine-readable output only: nothing rendered for people
    problems = json.loads(out)
    assert problems == [
        {
            "file": str(path),
            "line": 7,
            "column": 5,
            "path": None,
            "code": "RE111",
            "severity": "error",
            "message": "unknown field `rte`",
            "hint": "did you mean `rate`?",
        },
        {
            "file": str(path),
            "line": 8,
            "column": 15,
            "path": None,
            "code": "RE113",
            "severity": "error",
            "message": '`priority` must be a whole number, not the text "high"',
            "hint": "for example 10",
        },
    ]


def test_json_names_the_file_of_each_problem_and_includes_warnings(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", INVALID)
    warned = write(tmp_path, "warned.yaml", WARNING_ONLY)
    code, out, _ = run("validate", "--json", bad, warned)
    assert code == 1
    problems = json.loads(out)
    assert [(p["file"], p["code"], p["severity"]) for p in problems] == [
        (str(bad), "RE111", "error"),
        (str(bad), "RE113", "error"),
        (str(warned), "RE504", "warning"),
    ]
    for problem in problems:
        assert set(problem) == {"file", "line", "column", "path", "message", "hint", "code", "severity"}


def test_json_for_valid_programs_is_an_empty_list(examples: Path) -> None:
    code, out, _ = run("validate", "--json", "--today", "2026-11-24", examples)
    assert code == 0
    assert json.loads(out) == []


# -- validate --strict, --today -------------------------------------------------------------------


def test_warnings_alone_pass_but_fail_with_strict(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", WARNING_ONLY)
    code, out, err = run("validate", path)
    assert code == 0
    assert out == f"ok      {path}: 0 error(s), 1 warning(s)\n"
    assert f"{path}:6:5: warning[RE504]: the multiplier `x2` has no cap and no budget" in err

    code, out, err = run("validate", "--strict", path)
    assert code == 1
    assert out == f"invalid {path}: 0 error(s), 1 warning(s)\n"
    assert "warning[RE504]" in err


def test_today_decides_whether_a_schedule_is_in_the_past(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", DECEMBER_ONLY)
    code, out, err = run("validate", "--strict", "--today", "2026-12-31", path)
    assert (code, err) == (0, "")
    assert out == f"ok      {path}: 0 error(s), 0 warning(s)\n"

    code, out, err = run("validate", "--strict", "--today", "2027-01-01", path)
    assert code == 1
    assert f"{path}:8:38: warning[RE501]: this schedule ended on 2026-12-31" in err

    code, out, _ = run("validate", "--json", "--today", "2027-01-01", path)
    assert code == 0  # a warning, not an error, without --strict
    assert [(p["code"], p["line"], p["column"]) for p in json.loads(out)] == [("RE501", 8, 38)]


def test_today_that_is_not_a_date_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.yaml", VALID)
    code, out, err = run("validate", "--today", "2026-13-01", path)
    assert code == 2
    assert out == ""
    assert "error[RE701]: `2026-13-01` is not a date" in err


# -- schema -----------------------------------------------------------------------------------------


def test_schema_writes_the_committed_program_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("schema", "--out", "schemas")
    assert code == 0
    assert "wrote schemas/program.schema.json" in out.splitlines()
    written = (tmp_path / "schemas" / "program.schema.json").read_text(encoding="utf-8")
    committed = (ROOT / "schemas" / "program.schema.json").read_text(encoding="utf-8")
    assert written == committed
    schema = json.loads(committed)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Loyalty program"


def test_schema_prints_each_written_path_on_one_line(tmp_path: Path) -> None:
    out_dir = tmp_path / ("a-long-folder-name-" * 4) / "schemas"
    code, out, _ = run("schema", "--out", out_dir)
    assert code == 0
    assert f"wrote {out_dir / 'program.schema.json'}" in out.splitlines()


def test_the_schema_it_writes_validates_a_program_as_the_command_does(tmp_path: Path) -> None:
    """Other tools validate with the written file: it accepts a valid program and refuses a typo."""
    import jsonschema

    from rules_engine.program import loader

    run("schema", "--out", tmp_path)
    schema = json.loads((tmp_path / "program.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    good, _ = loader.load_yaml(VALID)
    bad, _ = loader.load_yaml(INVALID)
    assert list(validator.iter_errors(good)) == []
    assert "additionalProperties" in [error.validator for error in validator.iter_errors(bad)]
