"""`replay`: a hostile line of a stream is one bad line, reported at its place; the stream goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rules_engine import jsonio, replay
from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from tests.conftest import ROOT

ENGINE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
GOOD = {
    "id": "ok",
    "type": "purchase",
    "time": "2026-12-08T09:00:00+03:00",
    "customer": "anna",
    "items": [{"sku": "LATTE", "category": "coffee", "price": 300, "qty": 1}],
}


def run(path: Path) -> replay.Replay:
    return replay.replay(Loyalty.in_memory(ENGINE), path)


def stream(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "bad",
    [
        "[" * 1000 + "]" * 1000,  # RecursionError aborted the run (issue 11)
        '{"id": "x", "id": "y"}',  # a duplicate key
        json.dumps({**GOOD, "id": "s", "customer": "caf\ud800"}),  # a lone surrogate
    ],
)
def test_a_hostile_line_is_one_bad_line(tmp_path: Path, bad: str) -> None:
    result = run(stream(tmp_path, bad, json.dumps(GOOD)))
    assert [(p.code, p.span.line if p.span else None) for p in result.problems] == [("RE414", 1)]
    assert result.applied == 1  # the line after it


def test_a_line_over_the_limit_is_skipped_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonio, "MAX_TEXT", 1000)
    path = stream(
        tmp_path, json.dumps(GOOD), '{"id": "' + "x" * 5000 + '"}', json.dumps({**GOOD, "id": "ok2"})
    )
    result = run(path)
    assert [p.code for p in result.problems] == ["RE414"]
    assert "line 2 is longer than" in result.problems[0].message
    assert result.applied == 2


def test_the_caret_points_at_the_refused_field_not_the_whole_line(tmp_path: Path) -> None:
    line = json.dumps({**GOOD, "items": [{"sku": "A", "price": -5, "qty": 1}]})
    (problem,) = run(stream(tmp_path, line)).problems
    assert problem.code == "RE410"
    assert problem.span is not None
    assert line[problem.span.start : problem.span.end] == "-5"
