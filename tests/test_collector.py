"""The collector's settings: the `loyalty` processes set them for events once the program is
loaded (rules_engine/collector.py); the engine, a library, never touches them."""

from __future__ import annotations

import gc
import weakref
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


class _Leaf:
    """An object in no cycle, whose end a weak reference shows."""


class _Node:
    """A member of a reference cycle whose end a weak reference shows."""

    def __init__(self) -> None:
        self.other: object = self


def test_a_service_worker_freezes_what_a_group_leaves_and_walks_everything_once_it_doubled() -> None:
    """`loyalty serve`'s workers: no young walk however many groups (what each leaves is frozen,
    and what is not garbage is still freed by its reference count); a garbage cycle frozen stays
    until as many objects were made as were allowed, then one full walk frees it."""
    collector.tune_for_requests((2_000, 10, 100))
    freezing = collector.Freezing(allowed=30_000)
    walks: list[int] = []

    def walked(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            walks.append(info["generation"])

    kept: list[list[int]] = []
    gc.callbacks.append(walked)
    try:
        group = 0
        cycle = weakref.ref(_Node())  # garbage in a cycle: only a walk frees it
        freezing.after_work()
        freed_by_count = weakref.ref(_Leaf())  # no cycle: freed at once, frozen or not
        assert freed_by_count() is None
        # each group: 1,500 objects that live on, fewer than the 2,000 of a young walk
        while freezing.made < 25_000:
            kept.extend([group] for _ in range(1_500))
            group += 1
            freezing.after_work()
        assert walks == [], "no walk: each group's survivors were frozen"
        gc.collect()
        assert cycle() is not None, "frozen: out of every walk, even a full one"
        walks.clear()
        while not walks:
            kept.extend([group] for _ in range(1_500))
            group += 1
            freezing.after_work()
        assert walks == [2] and freezing.made == 0
        assert cycle() is None, "the full walk found the frozen cycle"
        assert len(kept) == 1_500 * group and kept[-1] == [group - 1]  # what was alive lived on
        assert freezing.allowed >= max(collector.FREEZE_FLOOR, len(kept))
    finally:
        gc.callbacks.remove(walked)


def test_after_work_does_nothing_in_a_process_not_tuned_for_requests() -> None:
    frozen = gc.get_freeze_count()
    cycle = weakref.ref(_Node())
    collector.after_work()
    assert gc.get_freeze_count() == frozen
    gc.collect()
    assert cycle() is None
