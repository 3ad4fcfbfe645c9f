"""Errors cross process boundaries intact: a worker pool or a task queue pickles them."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import parse_event
from rules_engine.errors import EventError, ProgramError, RulesEngineError
from rules_engine.program.validate import load_program
from rules_engine.render import render_diagnostic
from tests.conftest import ROOT

# Every golden bad program but the one whose problems are only warnings (it loads).
GOLDEN = ROOT / "tests" / "golden" / "errors"
BAD_PROGRAMS = sorted(p for p in GOLDEN.glob("*.yaml") if p.stem != "warnings-only")


def _round_trip(error: RulesEngineError) -> RulesEngineError:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error) and again.code == error.code
    assert [render_diagnostic(d) for d in again.diagnostics] == [
        render_diagnostic(d) for d in error.diagnostics
    ]
    return again


@pytest.mark.parametrize("path", BAD_PROGRAMS, ids=lambda p: Path(p).stem)
def test_a_program_error_pickles_with_every_diagnostic_and_its_caret(path: Path) -> None:
    with pytest.raises(ProgramError) as raised:
        load_program(path)
    _round_trip(raised.value)


def test_an_event_error_pickles() -> None:
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    with pytest.raises(EventError) as raised:
        engine.process(parse_event({"id": "x", "type": "purchase"}), None)
    again = _round_trip(raised.value)
    assert again.code == "RE410"
