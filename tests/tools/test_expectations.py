"""`load_suite`: the files a tests file names stay in its folder, and none is read without bound."""

from __future__ import annotations

import gc
import shutil
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.tools.expectations import CaseResult, SuiteError, load_suite, runner, suite_program
from tests.conftest import ROOT

EVENT = ROOT / "tests" / "fixtures" / "events" / "tuesday-morning.json"


def suite(folder: Path, event_file: str, *, before: str | None = None) -> Path:
    path = folder / "x.tests.yaml"
    lines = ["cases:", "  - name: one", f"    event_file: {event_file}", "    expect: {points: 0}"]
    if before is not None:
        lines.insert(3, f"    before: [{before}]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def codes(path: Path, **options: bool) -> list[tuple[str, int | None]]:
    with pytest.raises(SuiteError) as caught:
        load_suite(path, **options)
    return [(d.code, d.span.line if d.span else None) for d in caught.value.diagnostics]


@pytest.mark.parametrize("name", ["../secret.json", "/etc/passwd", "../../../../../../../../etc/shadow"])
def test_an_event_file_outside_the_tests_folder_is_not_read(tmp_path: Path, name: str) -> None:
    # the first line of /etc/shadow was printed in an RE414 snippet: a CI log leak (issue 11)
    (tmp_path / "secret.json").write_text("TOP SECRET\n", encoding="utf-8")
    inner = tmp_path / "suite"
    inner.mkdir()
    assert codes(suite(inner, name)) == [("RE450", 3)]
    result = CliRunner().invoke(
        app, ["test", str(ROOT / "programs" / "coffee-club.yaml"), str(inner / "x.tests.yaml")]
    )
    assert result.exit_code == 1
    assert "RE450" in result.stderr and "TOP SECRET" not in result.output + result.stderr


def test_a_link_out_of_the_folder_and_a_before_event_are_confined_too(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text("{}", encoding="utf-8")
    inner = tmp_path / "suite"
    inner.mkdir()
    (inner / "link.json").symlink_to(tmp_path / "out.json")
    shutil.copy(EVENT, inner / "event.json")
    assert codes(suite(inner, "event.json", before="../out.json")) == [("RE450", 4)]
    assert codes(suite(inner, "link.json")) == [("RE450", 3)]


def test_files_below_the_folder_are_read_and_allow_outside_lifts_the_limit(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    shutil.copy(EVENT, tmp_path / "events" / "e.json")
    assert load_suite(suite(tmp_path, "events/e.json")).cases[0].event is not None
    inner = tmp_path / "suite"
    inner.mkdir()
    assert load_suite(suite(inner, "../events/e.json"), allow_outside=True).cases[0].event is not None


def test_an_endless_event_file_is_refused_at_the_size_limit(tmp_path: Path) -> None:
    # `event_file: /dev/zero` reached 8.5 GB of memory in 15 seconds (issue 11)
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    assert codes(suite(tmp_path, "zero.json"), allow_outside=True) == [("RE414", 3)]


def test_a_program_outside_the_tests_folder_is_not_read(tmp_path: Path) -> None:
    # `program: ../secret.env` printed the secret's first line in an RE106 snippet
    (tmp_path / "secret.env").write_text("TOKEN=TOP SECRET\n", encoding="utf-8")
    inner = tmp_path / "suite"
    inner.mkdir()
    shutil.copy(EVENT, inner / "event.json")
    path = suite(inner, "event.json")
    path.write_text("program: ../secret.env\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(SuiteError) as caught:
        suite_program(load_suite(path))
    assert [(d.code, d.span.line, d.span.column) for d in caught.value.diagnostics if d.span] == [
        ("RE450", 1, 10)
    ]
    result = CliRunner().invoke(app, ["test", str(path)])
    assert result.exit_code == 1
    assert f"{path}:1:10: error[RE450]" in result.stderr and "TOP SECRET" not in result.output + result.stderr
    outside = load_suite(path, allow_outside=True)
    assert suite_program(outside) == (tmp_path / "secret.env").resolve()


def test_the_program_read_is_the_resolved_path(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text("x\n", encoding="utf-8")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "real.yaml")
    shutil.copy(EVENT, tmp_path / "event.json")
    path = suite(tmp_path, "event.json")
    path.write_text("program: link.yaml\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert suite_program(load_suite(path)) == (tmp_path / "real.yaml").resolve()


@pytest.mark.parametrize("allow_outside", [False, True])
@pytest.mark.parametrize(
    ("key", "line"),
    [("event_file", 3), ("customer_file", 4), ("before", 4), ("program", 1)],
)
def test_a_nul_in_a_file_name_is_re414_at_its_place(
    tmp_path: Path, key: str, line: int, allow_outside: bool
) -> None:
    # "ev\0.json" raised ValueError: embedded null byte, and `loyalty test` crashed
    shutil.copy(EVENT, tmp_path / "event.json")
    nul = '"ev\\0.json"'
    if key == "event_file":
        path = suite(tmp_path, nul)
    elif key == "before":
        path = suite(tmp_path, "event.json", before=nul)
    else:
        path = suite(tmp_path, "event.json")
        text = path.read_text(encoding="utf-8")
        if key == "program":
            text = f"program: {nul}\n" + text
        else:
            text = text.replace("    expect:", f"    customer_file: {nul}\n    expect:")
        path.write_text(text, encoding="utf-8")
    if key == "program":
        with pytest.raises(SuiteError) as caught:
            suite_program(load_suite(path, allow_outside=allow_outside))
        found = [(d.code, d.span.line if d.span else None) for d in caught.value.diagnostics]
    else:
        found = codes(path, allow_outside=allow_outside)
    assert found == [("RE414", line)]
    args = ["test", str(path)] + (["--allow-outside"] if allow_outside else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "error[RE414]" in result.stderr


def test_a_rule_listed_twice_or_in_both_lists_is_found_in_a_long_list(tmp_path: Path) -> None:
    # each name was looked for in the names before it (`rules[:position]`, `.index`): 40,000
    # names in `fired` and `not_fired` took a minute of CPU; a set and a dict now (~3 s in all)
    names = [f"r{i}" for i in range(20_000)]
    fired = ", ".join([*names, "r7"])
    path = tmp_path / "x.tests.yaml"
    path.write_text(
        f"cases:\n  - name: one\n    event_file: e.json\n    expect:\n      fired: [{fired}]\n"
        f"      not_fired: [r3, r5, r3]\n",
        encoding="utf-8",
    )
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    found = [(d.code, d.message, d.span.column if d.span else None) for d in caught.value.diagnostics]
    assert ("RE121", "`r7` is listed twice", fired.rindex("r7") + 15) in found
    assert ("RE121", "`r3` is listed twice", 27) in found  # the second r3 of not_fired
    both = [(message, column) for code, message, column in found if code == "RE117"]
    assert both == [
        ("`r3` is expected both to fire and not to fire", 19),
        ("`r5` is expected both to fire and not to fire", 23),
    ]


def test_each_case_is_printed_as_it_is_done_and_none_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`loyalty test` held every case's result, outcome and trace included, until the last had run,
    and printed nothing before: 10,000 cases took 437 MB (118 MB the suite itself) and 23 s of
    silence. Now, when a case runs, every case before it is printed and no result is held."""
    shutil.copy(ROOT / "programs" / "coffee-club.yaml", tmp_path / "coffee-club.yaml")
    shutil.copy(EVENT, tmp_path / "tuesday.json")
    cases = 6
    body = "".join(
        f"  - name: case {i}\n    event_file: tuesday.json\n    expect: {{points: {43 if i % 2 else 1}}}\n"
        for i in range(cases)
    )
    path = tmp_path / "many.tests.yaml"
    path.write_text(f"program: coffee-club.yaml\ncases:\n{body}", encoding="utf-8")
    real = runner.run_case
    results: list[weakref.ref[CaseResult]] = []
    seen: list[tuple[int, int]] = []  # at each case: (cases printed, earlier results alive)

    def run_case(*args: Any) -> CaseResult:
        sys.stdout.flush()
        printed = sys.stdout.buffer.getvalue().decode().count("case ")  # type: ignore[attr-defined]
        gc.collect()
        seen.append((printed, sum(ref() is not None for ref in results)))
        result = real(*args)
        results.append(weakref.ref(result))
        return result

    monkeypatch.setattr(runner, "run_case", run_case)
    result = CliRunner().invoke(app, ["test", str(path)], env={"NO_COLOR": "1", "COLUMNS": "100"})
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-1] == "3 passed, 3 failed"
    assert [printed for printed, _ in seen] == list(range(cases))
    assert all(alive <= 1 for _, alive in seen), seen  # at most the one just printed


def test_a_refused_customer_state_is_said_to_be_the_states_refusal(tmp_path: Path) -> None:
    """A case whose `customer` the engine refuses (RE420) failed with "the event was refused":
    the event was never looked at; the state it was to meet was refused."""
    shutil.copy(ROOT / "programs" / "coffee-club.yaml", tmp_path / "coffee-club.yaml")
    shutil.copy(EVENT, tmp_path / "tuesday.json")
    path = tmp_path / "state.tests.yaml"
    path.write_text(
        "program: coffee-club.yaml\ncases:\n  - name: a state with a field it cannot have\n"
        "    customer: {tier: gold, bogus: 1}\n    event_file: tuesday.json\n    expect: {points: 43}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["test", str(path)], env={"NO_COLOR": "1", "COLUMNS": "100"})
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[1:3] == ["  error: expected no error, got RE420", "      the customer state was refused"]
