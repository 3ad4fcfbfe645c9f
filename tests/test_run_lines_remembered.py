"""`loyalty run` prints the same bytes whether the basket lines it reads are remembered or not.

The run reads each line of JSON once: a basket line read before is found by its text
(engine/line_texts.py) or by its values (reader.py's `_SEEN`), with its canonical text for the
event's digest. Neither memory may change anything a run says: its lines, its problems (place
and message), its totals, `--json`'s outcomes, its exit code. Each stream runs three times — both
memories empty, both filled by the run before, both off — and the three runs must print the same.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine import line_texts, reader
from tests.conftest import ROOT
from tests.test_run_in_memory import ENV, _generated, _troubled

PROGRAM = str(ROOT / "programs" / "coffee-club.yaml")


class _Never(dict[Any, Any]):
    """A memory that keeps nothing."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def _runs(stream: Path, options: list[str], monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str, str]]:
    said = []
    for memory in ("empty", "filled", "off"):
        if memory == "empty":
            line_texts._TEXTS.clear()
            reader._SEEN.clear()
        if memory == "off":
            monkeypatch.setattr(line_texts, "_TEXTS", _Never())
            monkeypatch.setattr(reader, "_SEEN", _Never())
        result = CliRunner().invoke(app, ["run", PROGRAM, str(stream), *options], env=ENV)
        said.append((result.exit_code, result.stdout, result.stderr))
    monkeypatch.undo()
    return said


def _bench_stream(tmp_path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_reader import stream
    finally:
        sys.path.remove(str(ROOT / "bench"))
    out = tmp_path / "bench.jsonl"
    out.write_text("\n".join(stream(12, 4)) + "\n", encoding="utf-8")
    return out


@pytest.mark.parametrize("options", [[], ["--json"]])
@pytest.mark.parametrize("name", ["coffee-club.jsonl", "coffee-club-december.jsonl", "generated", "bench"])
def test_a_run_prints_the_same_with_lines_remembered_or_not(
    name: str, options: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name == "generated":  # redeliveries, lines rewritten, bad lines and a reused id among them
        stream = _troubled(_generated(tmp_path, "coffee-club", 7), 7)
    elif name == "bench":  # one 10-line basket again and again: every line found after the first
        stream = _bench_stream(tmp_path)
    else:
        stream = ROOT / "programs" / "events" / name
    empty, filled, off = _runs(stream, options, monkeypatch)
    assert empty[1], empty
    assert empty == filled == off
