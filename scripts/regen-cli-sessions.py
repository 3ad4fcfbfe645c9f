"""Rewrite the output under every `$ loyalty …` command of the ```console blocks in docs/cli.md.

    .venv/bin/python scripts/regen-cli-sessions.py                 # every block
    .venv/bin/python scripts/regen-cli-sessions.py -- dry-run --db # blocks with these in a command

Each block runs as tests/test_cli_engine.py runs it: in a fresh folder where programs/ and tests/
of the repository are linked, its commands in order, at 100 columns without colour. Review the
diff before committing: the test pins whatever this writes.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules_engine.cli import app  # noqa: E402
from tests.test_cli_engine import PLAIN  # noqa: E402


def main() -> None:
    only = [arg for arg in sys.argv[1:] if arg != "--"]
    doc = ROOT / "docs" / "cli.md"
    lines = doc.read_text(encoding="utf-8").split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        i += 1
        if out[-1].strip() != "```console":
            continue
        block = []
        while not lines[i].startswith("```"):
            block.append(lines[i])
            i += 1
        commands = [line for line in block if line.startswith("$ ")]
        if only and not any(word in command for command in commands for word in only):
            out += block
            continue
        with tempfile.TemporaryDirectory() as folder:
            for name in ("programs", "tests"):
                os.symlink(ROOT / name, Path(folder) / name)
            here = os.getcwd()
            os.chdir(folder)
            try:
                for command in commands:
                    result = CliRunner().invoke(app, shlex.split(command[2:])[1:], env=PLAIN)
                    out.append(command)
                    out += [line.rstrip() for line in result.output.rstrip("\n").split("\n")]
            finally:
                os.chdir(here)
    doc.write_text("\n".join(out), encoding="utf-8")


if __name__ == "__main__":
    main()
