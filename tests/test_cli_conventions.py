"""What holds for every `loyalty` command: usage errors exit 2, closed choices are typed, `--version`,
and help that reads well (flags shown as flags, sentences re-wrapped to the terminal)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from rules_engine.cli import app
from tests.conftest import ROOT

PROGRAM = str(ROOT / "programs" / "coffee-club.yaml")
WIDE = {"COLUMNS": "1000", "NO_COLOR": "1", "TERM": "dumb"}


def _commands() -> Iterator[tuple[list[str], Any]]:
    """Every command of the CLI, with the words that name it (`["ledger", "export"]`). Typed `Any`:
    typer 0.27+ carries its own copy of click, whose classes are not the `click` package's."""

    def walk(command: Any, words: list[str]) -> Iterator[tuple[list[str], Any]]:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, [*words, name])
        else:
            yield words, command

    yield from walk(typer.main.get_command(app), [])


COMMANDS = [pytest.param(words, command, id=" ".join(words)) for words, command in _commands()]


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"loyalty {version('rules-engine')}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["dry-run", "--no-such-option", PROGRAM, "event.json"],  # click: an unknown option
        ["dry-run", PROGRAM],  # click: a missing argument
        ["ledger", "export", PROGRAM, "--db", "x.db", "--format", "xml"],  # click: outside a closed choice
        ["ledger", "export", PROGRAM, "--db", "x.db", "--to", "2026-02-30"],  # ours: not a date
        ["ledger", "export", PROGRAM, "--db", "x.db", "--from", "2026-12-31", "--to", "2026-12-01"],
        ["advance", PROGRAM, "--db", "x.db", "--to", "2026-12-31T23:59:00"],  # ours: no offset
        ["run", PROGRAM, "events.jsonl", "--horizon", "a week"],  # ours: not a duration
        ["check", "--timezone", "Mars/Olympus", "1 + 1"],  # ours: not a timezone
        ["validate", "--today", "tomorrow", PROGRAM],  # ours: not a date
    ],
    ids=lambda args: " ".join(args[:1] + [a for a in args if a.startswith("--")]),
)
def test_usage_errors_exit_2(args: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""


def test_our_usage_errors_keep_their_code_and_hint() -> None:
    result = CliRunner().invoke(app, ["ledger", "export", PROGRAM, "--db", "x.db", "--to", "2026-02-30"])
    assert result.exit_code == 2
    assert "error[RE701]: --to 2026-02-30: not a date" in result.stderr
    assert "hint: write it as YYYY-MM-DD" in result.stderr


def test_the_export_format_is_a_closed_choice_shown_in_help() -> None:
    result = CliRunner().invoke(app, ["ledger", "export", "--help"], env=WIDE)
    assert "--format" in result.stdout and "csv|json" in result.stdout


@pytest.mark.parametrize(("words", "command"), COMMANDS)
def test_flags_are_shown_as_flags(words: list[str], command: Any) -> None:
    """A flag takes no value: its help line must not read `--json <bool>` (typer 0.29 shows that)."""
    result = CliRunner().invoke(app, [*words, "--help"], env=WIDE)
    assert result.exit_code == 0
    flags = ["--help", *(p.opts[0] for p in command.params if getattr(p, "is_flag", False))]
    for flag in flags:
        line = next(line for line in result.stdout.splitlines() if f" {flag} " in f"{line} ")
        assert "<bool>" not in line and "BOOLEAN" not in line, line


@pytest.mark.parametrize(("words", "command"), COMMANDS)
def test_help_is_rewrapped_not_broken_mid_sentence(words: list[str], command: Any) -> None:
    """Each paragraph of a command's docstring is one line on a wide terminal: typer re-wraps it to
    the terminal's width rather than keeping the line breaks of the source."""
    result = CliRunner().invoke(app, [*words, "--help"], env=WIDE)
    shown = [" ".join(line.strip(" │").split()) for line in result.stdout.splitlines()]
    for paragraph in inspect.cleandoc(command.help or "").split("\n\n"):
        text = " ".join(re.sub(r"`([^`]*)`", r"\1", paragraph).split())
        assert text in shown, f"{' '.join(words)}: {text!r} is not one line of the help"
