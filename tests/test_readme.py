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


def test_make_demo_runs_every_step_to_its_end() -> None:
    """`make demo`, the README's first command on a fresh machine, runs programs/demo.sh with the
    environment's `loyalty`: every step it shows runs and says what the README promises (a
    program validated, a dry run, the expectations, a month replayed and its books closed, the
    condition language catching a mistake), and the script exits 0 — `set -e` makes any failing
    step fail it."""
    import subprocess
    import sys
    from pathlib import Path

    loyalty = Path(sys.executable).with_name("loyalty")
    assert loyalty.exists(), "the environment's `loyalty` command, as `make demo` calls it"
    done = subprocess.run(  # the journal's CSV on stdout, its summary on stderr: both read
        ["sh", "programs/demo.sh", str(loyalty)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    steps = re.findall(r"\$ loyalty (\w+)", done.stdout)
    assert steps[:5] == ["validate", "dry", "test", "run", "ledger"], steps
    assert "the closing liability reconciles with the sum of all balances" in done.stdout
    assert "error[RE302]: `basket` has no attribute `totl`" in done.stdout
    assert "did you mean `total`?" in done.stdout
