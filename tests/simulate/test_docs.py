"""docs/simulate.md stays true: each ```console block's `$ loyalty …` command is run (in a folder
with the repository's programs and the document's coffee-club-v4.yaml), and every output line the
block shows must be a line of what the command printed (the document shows excerpts of long
reports). The codes the page's error table lists are the simulate codes of the registry."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.codes import CODES
from tests.conftest import ROOT

DOC = ROOT / "docs" / "simulate.md"


def _sessions() -> list[tuple[int, str, list[str]]]:
    sessions: list[tuple[int, str, list[str]]] = []
    inside = False
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() == "```console":
            inside = True
        elif line.startswith("```"):
            inside = False
        elif inside and line.startswith("$ "):
            sessions.append((number, line[2:], []))
        elif inside and sessions:
            sessions[-1][2].append(line)
    return sessions


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("doc")
    shutil.copytree(ROOT / "programs", here / "programs")
    text = (ROOT / "programs" / "coffee-club.yaml").read_text(encoding="utf-8")
    other = re.sub(r"(?m)^version: 3$", "version: 4", text).replace("threshold: 30000", "threshold: 20000")
    (here / "coffee-club-v4.yaml").write_text(other, encoding="utf-8")
    return here


def test_the_document_has_sessions() -> None:
    assert len(_sessions()) >= 3


def test_the_console_sessions(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In document order: the first one writes the history the others read."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("COLUMNS", "100")
    for number, command, shown in _sessions():
        words = shlex.split(command)
        assert words[0] == "loyalty", f"simulate.md:{number}"
        result = CliRunner().invoke(app, words[1:])
        printed = (result.stdout + result.stderr).splitlines()
        gated = any(line.startswith("gate failed") for line in shown)
        assert result.exit_code == (1 if gated else 0), f"simulate.md:{number}: {result.output}"
        missing = [line for line in shown if line not in printed]
        assert missing == [], f"simulate.md:{number}: not printed: {missing}"


def test_the_error_table_lists_the_simulate_codes() -> None:
    text = DOC.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| (RE\d+) \|", text, flags=re.MULTILINE))
    # simulate's codes are those the registry sends to its docs (RE717 is the leaderboard's, between them)
    ours = {code for code, entry in CODES.items() if "simulate" in entry.docs}
    assert listed == ours
