"""The collector's settings: the `loyalty` processes set them for events once the program is
loaded (rules_engine/collector.py); the engine, a library, never touches them."""

from __future__ import annotations

import gc
from pathlib import Path

from typer.testing import CliRunner

from rules_engine import collector
from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine

ROOT = Path(__file__).resolve().parent.parent
COFFEE = ROOT / "programs" / "coffee-club.yaml"
EVENT = {
    "id": "e1",
    "type": "purchase",
    "time": "2026-12-08T10:15:00+03:00",
    "customer": "c1",
    "currency": "RUB",
    "items": [{"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 2}],
}


def test_the_engine_leaves_the_collector_alone() -> None:
    """An application embedding the engine keeps its own collector settings."""
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    engine = Engine.from_file(COFFEE)
    result = engine.process(EVENT)
    engine.process({**EVENT, "id": "e2"}, result.state)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (thresholds, frozen)


def test_tuning_for_events_freezes_what_is_loaded_and_collects_less_often() -> None:
    engine = Engine.from_file(COFFEE)
    collector.tune_for_events()
    assert gc.get_threshold() == collector.THRESHOLDS
    assert gc.is_tracked(engine.plan) and gc.get_freeze_count() > 0
    assert all(obj is not engine.plan for obj in gc.get_objects())  # frozen: out of the walks
    # cycles made afterwards are still collected
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_loyalty_run_sets_the_collector_for_events(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"id": "e1", "type": "purchase", "time": "2026-12-08T10:15:00+03:00", '
        '"customer": "c1", "currency": "RUB", "items": [{"sku": "LATTE-L", '
        '"category": "coffee", "price": "320.00", "qty": 2}]}\n'
    )
    result = CliRunner().invoke(app, ["run", str(COFFEE), str(events), "--quiet"])
    assert result.exit_code == 0, result.output
    assert gc.get_threshold() == collector.RUN_THRESHOLDS
    assert collector.RUN_THRESHOLDS[0] == collector.THRESHOLDS[0]  # only the middle walks are rarer
    assert collector.RUN_THRESHOLDS[1] > collector.THRESHOLDS[1]
