"""docs/dsl.md stays true: every example in it is run here (typer's lesson: examples are tests).

Two conventions in the document:

- a ```check block holds lines `expression  →  value`; the expression is evaluated against the
  sample context on both back ends, and the value must be what `loyalty check` prints;
- a ```console block holds `$ loyalty check …` sessions (a trailing `\\` continues a command);
  the command is run and its output must match line for line, at a terminal width of 80.

Other fences (```text, ```json …) are illustrations and are not run. A last group of tests keeps
the reference complete: every error code, function and context attribute must appear in it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine import compile_expression
from rules_engine.cli import app
from rules_engine.dsl.context import DEFAULT_SCHEMA
from rules_engine.dsl.functions import AGGREGATES, FUNCTIONS
from rules_engine.dsl.values import display

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "dsl.md"
ARROW = "  →  "
# A plain, 80-column terminal, whatever the environment running the tests.
TERMINAL = {
    "COLUMNS": "80",
    "NO_COLOR": "1",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
}

Line = tuple[int, str]


def _fenced(kind: str) -> list[list[Line]]:
    """The blocks fenced as ```kind, each a list of (line number, text)."""
    blocks: list[list[Line]] = []
    current: list[Line] | None = None
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), start=1):
        if current is None:
            if line.strip() == f"```{kind}":
                current = []
        elif line.startswith("```"):
            blocks.append(current)
            current = None
        else:
            current.append((number, line))
    return blocks


def _check_examples() -> Iterator[Any]:
    for block in _fenced("check"):
        for number, line in block:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            expression, arrow, value = line.partition(ARROW)
            documented = value.strip() if arrow else None
            yield pytest.param(expression.strip(), documented, id=f"dsl.md:{number}")


def _console_sessions() -> Iterator[Any]:
    for block in _fenced("console"):
        index = 0
        while index < len(block):
            number, line = block[index]
            index += 1
            if not line.startswith("$ "):
                raise AssertionError(f"docs/dsl.md:{number}: console output without a `$ ` command before it")
            command = line[2:]
            while command.endswith("\\") and index < len(block):
                command = command[:-1].rstrip() + " " + block[index][1].strip()
                index += 1
            output: list[str] = []
            while index < len(block) and not block[index][1].startswith("$ "):
                output.append(block[index][1].rstrip())
                index += 1
            while output and not output[-1]:
                output.pop()
            yield pytest.param(command, output, id=f"dsl.md:{number}")


CHECK_EXAMPLES = list(_check_examples())
CONSOLE_SESSIONS = list(_console_sessions())


def test_the_document_has_examples() -> None:
    assert len(CHECK_EXAMPLES) > 100
    assert len(CONSOLE_SESSIONS) > 30


@pytest.mark.parametrize(("expression", "documented"), CHECK_EXAMPLES)
def test_check_example(expression: str, documented: str | None, sample_context: dict[str, Any]) -> None:
    assert documented is not None, f"write `{expression}{ARROW}value`"
    compiled = compile_expression(expression, per_item="item" in sample_context)
    context = compiled.context(sample_context)
    assert display(compiled.evaluate(context)) == documented
    assert display(compiled.interpret(context)) == documented


@pytest.mark.parametrize(("command", "output"), CONSOLE_SESSIONS)
def test_console_session(command: str, output: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the sessions name programs/contexts/… relative to the repository
    args = shlex.split(command)
    assert args[:2] == ["loyalty", "check"], "only `loyalty check` sessions are run"
    result = CliRunner().invoke(app, args[1:], env=TERMINAL)
    printed = [line.rstrip() for line in result.output.rstrip("\n").split("\n")]
    assert printed == output
    expected_exit = 1 if any(re.search(r"error\[RE\d{3}\]", line) for line in output) else 0
    assert result.exit_code == expected_exit, result.output


def test_every_error_code_of_the_language_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    sources = [path.read_text(encoding="utf-8") for path in (ROOT / "rules_engine" / "dsl").glob("*.py")]
    codes = {code for source in sources for code in re.findall(r'"(RE[2-4]\d\d)"', source)}
    assert codes, "no codes found; has the layout changed?"
    missing = sorted(code for code in codes if f"| {code} |" not in text)
    assert not missing, f"add these codes to the error table in docs/dsl.md: {missing}"


def test_every_function_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(name for name in [*FUNCTIONS, *AGGREGATES] if f"`{name}(" not in text)
    assert not missing, f"document these functions in docs/dsl.md: {missing}"


def test_every_context_attribute_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    prefixes = {"event": "event", "basket": "basket", "item": "item", "customer": "customer", "purchase": "p"}
    missing = sorted(
        f"{prefixes[record]}.{name}"
        for record, attributes in DEFAULT_SCHEMA.attributes.items()
        for name in attributes
        if f"| `{prefixes[record]}.{name}` |" not in text
    )
    assert not missing, f"add these attributes to the tables in docs/dsl.md: {missing}"
