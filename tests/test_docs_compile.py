"""docs/cli.md shows what `loyalty compile PROGRAM --python` prints: the excerpt must stay true.

The ```text block after "What `loyalty compile programs/book-nook.yaml --python` prints" is read
as pieces separated by `...` lines; each piece must be printed, its lines one after another, and
the pieces in their order. A line ending in `…` stands for every line that starts with what is
before it (a long constant cut short).
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from tests.conftest import ROOT

DOC = ROOT / "docs" / "cli.md"
COMMAND = "loyalty compile programs/book-nook.yaml --python"


def _excerpt() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(rf"What `{re.escape(COMMAND)}` prints.*?```text\n(.*?)```", text, re.DOTALL)
    assert found is not None, f"docs/cli.md no longer shows `{COMMAND}`"
    pieces: list[list[str]] = [[]]
    for line in found.group(1).splitlines():
        if line.strip() == "...":
            pieces.append([])
        else:
            pieces[-1].append(line)
    return [piece for piece in pieces if piece]


def _same(shown: str, printed: str) -> bool:
    if shown.endswith("…"):
        return printed.startswith(shown[:-1])
    return printed.rstrip() == shown.rstrip()


def test_the_compile_python_excerpt_in_cli_md_is_what_the_command_prints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, COMMAND.split()[1:])
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()
    start = 0
    for piece in _excerpt():
        at = next(
            (
                i
                for i in range(start, len(printed) - len(piece) + 1)
                if all(_same(shown, printed[i + n]) for n, shown in enumerate(piece))
            ),
            None,
        )
        assert at is not None, (
            f"docs/cli.md shows lines `{COMMAND}` no longer prints (in this order):\n" + "\n".join(piece)
        )
        start = at + len(piece)
