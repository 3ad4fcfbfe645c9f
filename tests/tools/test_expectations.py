"""`load_suite`: the files a tests file names stay in its folder, and none is read without bound."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.tools.expectations import SuiteError, load_suite
from tests.conftest import ROOT

EVENT = ROOT / "tests" / "fixtures" / "events" / "tuesday-morning.json"


def suite(folder: Path, event_file: str, *, before: str | None = None) -> Path:
    path = folder / "x.tests.yaml"
    lines = ["cases:", "  - name: one", f"    event_file: {event_file}", "    expect: {points: 0}"]
    if before is not None:
        lines.insert(3, f"    before: [{before}]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def codes(path: Path, **options: bool) -> list[tuple[str, int | None]]:
    with pytest.raises(SuiteError) as caught:
        load_suite(path, **options)
    return [(d.code, d.span.line if d.span else None) for d in caught.value.diagnostics]


@pytest.mark.parametrize("name", ["../secret.json", "/etc/passwd", "../../../../../../../../etc/shadow"])
def test_an_event_file_outside_the_tests_folder_is_not_read(tmp_path: Path, name: str) -> None:
    # the first line of /etc/shadow was printed in an RE414 snippet: a CI log leak (issue 11)
    (tmp_path / "secret.json").write_text("TOP SECRET\n", encoding="utf-8")
    inner = tmp_path / "suite"
    inner.mkdir()
    assert codes(suite(inner, name)) == [("RE450", 3)]
    result = CliRunner().invoke(
        app, ["test", str(ROOT / "programs" / "coffee-club.yaml"), str(inner / "x.tests.yaml")]
    )
    assert result.exit_code == 1
    assert "RE450" in result.stderr and "TOP SECRET" not in result.output + result.stderr


def test_a_link_out_of_the_folder_and_a_before_event_are_confined_too(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text("{}", encoding="utf-8")
    inner = tmp_path / "suite"
    inner.mkdir()
    (inner / "link.json").symlink_to(tmp_path / "out.json")
    shutil.copy(EVENT, inner / "event.json")
    assert codes(suite(inner, "event.json", before="../out.json")) == [("RE450", 4)]
    assert codes(suite(inner, "link.json")) == [("RE450", 3)]


def test_files_below_the_folder_are_read_and_allow_outside_lifts_the_limit(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    shutil.copy(EVENT, tmp_path / "events" / "e.json")
    assert load_suite(suite(tmp_path, "events/e.json")).cases[0].event is not None
    inner = tmp_path / "suite"
    inner.mkdir()
    assert load_suite(suite(inner, "../events/e.json"), allow_outside=True).cases[0].event is not None


def test_an_endless_event_file_is_refused_at_the_size_limit(tmp_path: Path) -> None:
    # `event_file: /dev/zero` reached 8.5 GB of memory in 15 seconds (issue 11)
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    assert codes(suite(tmp_path, "zero.json"), allow_outside=True) == [("RE414", 3)]
