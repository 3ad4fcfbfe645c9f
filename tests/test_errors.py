"""Errors cross process boundaries intact: a worker pool or a task queue pickles them."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.reader import parse_event
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


def test_a_json_diagnostic_keeps_the_field_path_of_an_event_error(tmp_path: Path) -> None:
    """`loyalty run --problems` writes each problem as JSON: a refused event's field is there as
    data (`path`), not only as a line and column, so a tool can point at it in its own input."""
    from typer.testing import CliRunner

    from rules_engine.cli import app
    from rules_engine.jsonio import loads

    stream = tmp_path / "events.jsonl"
    stream.write_text(
        '{"id": "b1", "type": "purchase", "time": "2026-12-09T12:00:00+03:00", "customer": "c1",'
        ' "currency": "RUB", "items": [{"sku": "X", "price": -1, "qty": 1}]}\n',
        encoding="utf-8",
    )
    problems = tmp_path / "problems.jsonl"
    program = str(ROOT / "programs" / "coffee-club.yaml")
    result = CliRunner().invoke(app, ["run", program, str(stream), "-q", "--problems", str(problems)])
    assert result.exit_code == 1
    [found] = [loads(line) for line in problems.read_text(encoding="utf-8").splitlines()]
    assert (found["code"], found["path"], found["line"]) == ("RE410", ["items", 0, "price"], 1)
    assert found["column"] == stream.read_text(encoding="utf-8").index('"price": -1') + len('"price": ') + 1


def test_pydantic_errors_become_diagnostics_at_their_place_in_the_data() -> None:
    """The one converter: a union's branch tag is no field (`purchase` is not in the data), a
    missing field keeps its name, and the caller's code, hint and root name are used."""
    from typing import Annotated, Literal

    from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

    from rules_engine.errors import diagnostics_from_pydantic

    class Line(BaseModel):
        model_config = ConfigDict(extra="forbid")
        sku: str
        price: int = Field(ge=0)

    class Purchase(BaseModel):
        type: Literal["purchase"]
        items: list[Line]

    class Signup(BaseModel):
        type: Literal["signup"]

    adapter: TypeAdapter[Purchase | Signup] = TypeAdapter(
        Annotated[Purchase | Signup, Field(discriminator="type")]
    )
    data = {"type": "purchase", "items": [{"price": -1, "qty": 2}]}
    with pytest.raises(ValidationError) as raised:
        adapter.validate_python(data)
    found = diagnostics_from_pydantic(
        raised.value, "RE410", data=data, root="event", hint=lambda issue: f"({issue.kind})"
    )
    assert [(d.code, d.path, d.hint) for d in found] == [
        ("RE410", ("items", 0, "sku"), "(missing)"),
        ("RE410", ("items", 0, "price"), "(greater_than_equal)"),
        ("RE410", ("items", 0, "qty"), "(extra_forbidden)"),
    ]
    assert found[0].message == "items[0].sku: Field required"
    with pytest.raises(ValidationError) as whole:
        adapter.validate_python([])
    [problem] = diagnostics_from_pydantic(whole.value, "RE410", data=[], root="event", hint="an object")
    assert problem.message.startswith("event: ") and problem.hint == "an object" and problem.path == ()


def test_a_lone_surrogate_given_from_python_is_reported_not_raised() -> None:
    """JSON text and program files refuse lone surrogates first; data given from Python can hold
    one, and a validator's message quoting it made pydantic raise UnicodeEncodeError instead of
    reporting the problem (found by the event reader's differential test)."""
    import pydantic

    from rules_engine.engine.reader import parse_event
    from rules_engine.errors import EventError, StateError
    from rules_engine.program.model import Program
    from rules_engine.state.customer import parse_state

    zone = "caf\ud800"
    signup = {
        "type": "signup",
        "id": "s1",
        "time": "2026-12-05T09:15:00+03:00",
        "customer": "c",
        "timezone": zone,
    }
    with pytest.raises(EventError) as event:
        parse_event(signup)
    # refused as every identifier is, before the zone is looked up (events.py `Id`)
    assert event.value.diagnostics[0].message == (
        "timezone: Input should be a valid string, unable to parse raw data as a unicode string"
    )
    with pytest.raises(StateError) as state:
        parse_state({"profile": {"timezone": zone}})
    assert "caf\\ud800" in state.value.diagnostics[0].message
    with pytest.raises(pydantic.ValidationError) as program:
        Program.model_validate({"program": "p", "version": 1, "timezone": zone, "currency": "EUR"})
    assert "caf\\ud800" in str(program.value)
