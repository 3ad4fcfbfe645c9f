"""A `loyalty serve` worker sets its collector for events once its programs are loaded, with the
service's own thresholds (rules_engine/http/server.py `THRESHOLDS`): the lane holds a group's
objects until its commit, and the general ones walked them every ~40 requests at concurrency 64;
and its event thread freezes what each group leaves alive (collector.py `after_work`)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from rules_engine import collector
from rules_engine.http import server
from rules_engine.store import open_store


def test_a_worker_tunes_its_collector_with_the_services_thresholds(
    tmp_path: Path, program_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "loyalty.db")
    with open_store(db, "coffee-club"):
        pass  # made and migrated once, as `serve` does before its workers start
    monkeypatch.setenv("LOYALTY_SERVE_PROGRAMS", str(program_dir))
    monkeypatch.setenv("LOYALTY_SERVE_DB", db)
    app = server.app_from_environment()
    assert gc.get_threshold() == server.THRESHOLDS
    assert gc.get_freeze_count() > 0  # what the worker loaded is out of the walks
    assert all(obj is not app for obj in gc.get_objects())
    # and its event thread freezes what each group of events leaves (collector.py `after_work`)
    assert app.state.runtime.lane.after is collector.after_work
    before = gc.get_freeze_count()
    survivors = [[n] for n in range(1_000)]
    collector.after_work()
    assert gc.get_freeze_count() >= before + len(survivors)  # out of the young walks


def test_the_services_thresholds_walk_young_objects_less_often_and_still_collect_cycles() -> None:
    young, middle, full = server.THRESHOLDS
    assert young > collector.THRESHOLDS[0]
    assert (middle, full) == collector.THRESHOLDS[1:]  # a middle walk as often, counted in young ones
    server.tune_collector()
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
