"""The README's examples are programs: the Python snippet runs and the console outputs are true."""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_snippet_runs_and_its_comments_are_true(capsys: pytest.CaptureFixture[str]) -> None:
    (snippet,) = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    exec(compile(snippet, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "30"  # what the comment on that line promises


def test_console_examples_print_what_the_readme_shows() -> None:
    import os

    os.chdir(ROOT)
    blocks = re.findall(r"```console\n(.*?)```", README, re.DOTALL)
    checked = 0
    for block in blocks:
        for command, expected in re.findall(r"\$ (.*?(?:\\\n.*?)*)\n((?:(?!\$ ).*\n)*)", block):
            argv = shlex.split(command.replace("\\\n", " "))
            assert argv[0].endswith("loyalty")
            result = CliRunner().invoke(app, argv[1:])
            printed = [line.rstrip() for line in (result.stderr + result.stdout).strip().splitlines()]
            assert printed == [line.rstrip() for line in expected.strip().splitlines()], command
            checked += 1
    assert checked >= 5
