"""Event and state files: read with a bound, refused at the place they go wrong, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine import jsonio
from rules_engine.cli import app
from rules_engine.engine.inputs import locate, locate_in, read_json
from rules_engine.errors import Diagnostic, EvaluationError
from tests.conftest import ROOT

PROGRAM = str(ROOT / "programs" / "coffee-club.yaml")
EVENT = json.loads((ROOT / "tests" / "fixtures" / "events" / "tuesday-morning.json").read_text())


def refusal(path: Path, what: str = "event") -> Diagnostic:
    with pytest.raises(EvaluationError) as caught:
        read_json(path, what)
    [diagnostic] = caught.value.diagnostics
    return diagnostic


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("[" * 1000 + "]" * 1000, 1, 65),  # RecursionError before (issue 11)
        ('{"id": "a",\n "id": "b"}', 2, 2),
        ('{"customer": "caf\\ud800"}', 1, 18),  # crashed dry-run with UnicodeEncodeError
    ],
)
def test_hostile_json_is_re414_at_its_place(tmp_path: Path, text: str, line: int, column: int) -> None:
    path = tmp_path / "e.json"
    path.write_text(text, encoding="utf-8")
    found = refusal(path)
    assert found.code == "RE414"
    assert found.span is not None and (found.span.line, found.span.column) == (line, column)


def test_an_endless_file_is_refused_at_the_limit_naming_it() -> None:
    found = refusal(Path("/dev/zero"))
    assert found.code == "RE414" and "larger than 8 MiB" in found.message


def test_dry_run_reports_a_hostile_event_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text("[" * 1000 + "]" * 1000, encoding="utf-8")
    result = CliRunner().invoke(app, ["dry-run", PROGRAM, str(path)])
    assert result.exit_code == 1 and "RE414" in result.stderr


def test_check_reports_a_hostile_context_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "ctx.json"
    path.write_text('{"basket": ' + "[" * 1000 + "]" * 1000 + "}", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--context", str(path), "1 > 0"])
    assert result.exit_code == 1 and f"{path}:1:75: error[RE405]" in result.stderr


def test_a_refused_field_of_an_event_file_is_located_at_its_value(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    text = json.dumps({**EVENT, "customer": 7781}, indent=2)
    path.write_text(text, encoding="utf-8")
    [found] = locate([Diagnostic("RE410", "customer: …", path=("customer",))], path)
    assert found.span is not None and text[found.span.start : found.span.end] == "7781"


def test_many_refused_fields_of_a_file_are_located_in_one_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[int] = []
    walk = jsonio._walk

    def counted(text: str) -> Any:
        walks.append(len(text))
        return walk(text)

    monkeypatch.setattr(jsonio, "_walk", counted)
    text = json.dumps({"items": [{"price": -1} for _ in range(10_000)]})
    refused = [Diagnostic("RE410", "negative", path=("items", n, "price")) for n in range(10_000)]
    refused.append(Diagnostic("RE410", "missing", path=("items", 3, "qty")))  # the object that lacks it
    located = locate_in(refused, text, "event.json")
    assert len(walks) == 1
    assert [d.span.line for d in located if d.span] == [1] * 10_001
    assert all(d.span and text[d.span.start : d.span.end] == "-1" for d in located[:-1])
    last = located[-1].span
    assert last is not None and text[last.start : last.end] == '{"price": -1}'
