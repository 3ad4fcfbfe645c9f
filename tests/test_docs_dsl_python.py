"""docs/dsl.md's Python example (embedding the condition language) runs, and what it says is true.

The block is run as a program; each of its lines `CALL  # True` (or False) must give that value
when evaluated again in the block's namespace, and what it prints for the misspelt condition must
be what `loyalty check` prints for it, as the comment there says.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from tests.conftest import ROOT

DOC = ROOT / "docs" / "dsl.md"


def _block() -> str:
    (block,) = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    return block


def test_the_python_example_runs_and_its_comments_are_true(capsys: pytest.CaptureFixture[str]) -> None:
    block = _block()
    namespace: dict[str, object] = {}
    exec(compile(block, "docs/dsl.md", "exec"), namespace)
    printed = capsys.readouterr().out
    claims = re.findall(r"^(\S[^#\n]*?)\s+# (True|False)\b", block, re.MULTILINE)
    assert len(claims) >= 3, "the example no longer says what its calls give"
    for call, value in claims:
        assert eval(call, namespace) is (value == "True"), call  # the doc's own line
    (misspelt,) = re.findall(r'compile_condition\("([^"]+)"\)', block)
    checked = CliRunner().invoke(app, ["check", misspelt])
    assert checked.exit_code == 1
    assert printed.strip() == checked.stderr.strip()
    assert "error[RE302]" in printed
