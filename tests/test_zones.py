"""A time zone named by outside input is looked up only when its name could be one (zones.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError, StateError
from rules_engine.program.validate import load_program_text
from rules_engine.simulate.tables import TableError, mapping_from
from rules_engine.zones import zone_named
from tests.engine.scenario import event

SLASHES = "A/" * 300 + "B"
"""ZoneInfo imported `tzdata.zoneinfo.A.A…` one package within another: a RecursionError."""


def test_a_zone_is_named_by_an_iana_name_only() -> None:
    moscow = zone_named("Europe/Moscow")
    assert moscow is not None and moscow.key == "Europe/Moscow"
    for name in ("Europe", "Mars/Olympus", "", "a" * 300, SLASHES, "../etc/localtime"):
        assert zone_named(name) is None


@pytest.mark.parametrize("zone", ["Europe", SLASHES])
def test_a_signup_or_a_state_naming_no_zone_is_refused(zone: str) -> None:
    program = "program: shop\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\n"
    engine = Engine(load_program_text(program, "shop.yaml"))
    with pytest.raises(EventError) as signup:
        engine.process(event("signup", "2026-12-05T10:00:00", timezone=zone), None)
    assert signup.value.diagnostics[0].code == "RE410"
    with pytest.raises(StateError) as state:
        engine.process(event("app_open", "2026-12-05T10:00:00"), {"profile": {"timezone": zone}})
    assert state.value.diagnostics[0].code == "RE420"


@pytest.mark.parametrize("zone", ["Europe", SLASHES])  # `Europe` was an IsADirectoryError too
def test_a_table_mapping_naming_no_zone_is_a_usage_error(tmp_path: Path, zone: str) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"timezone: {zone}\n", encoding="utf-8")
    with pytest.raises(TableError) as refused:
        mapping_from([], mapping)
    assert "is no IANA time zone" in refused.value.diagnostics[0].message
