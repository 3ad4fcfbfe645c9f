"""Which stores' services decide with the whole step (engine/whole/, `Store.steps_whole`).

The memory store of `loyalty run` holds working states the whole step can keep; the SQL stores
write the public state at every event, where the whole state's lists would be copied again, so
their services step in place. The answers are the same either way
(tests/engine/test_whole_stream.py); what a user relies on here is that a SQL store with
`?working=1` does not pay for the whole step's copies.
"""

from __future__ import annotations

from pathlib import Path

from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.memory import RunMemoryStore
from tests.conftest import ROOT

PURCHASES = [
    {
        "id": f"p{n}",
        "type": "purchase",
        "time": f"2026-12-{n + 1:02d}T09:30:00+03:00",
        "customer": "ann",
        "items": [{"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 1}],
    }
    for n in range(6)
]


def _decided(service: Loyalty) -> list[str]:
    return [service.process(event).model_dump_json() for event in PURCHASES]


def test_a_memory_stores_service_takes_the_whole_step_and_a_sql_stores_does_not(tmp_path: Path) -> None:
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    in_memory = Loyalty(engine, RunMemoryStore("coffee-club"))  # `loyalty run`'s
    on_sqlite = Loyalty(engine, open_store(f"sqlite:///{tmp_path / 'loyalty.db'}?working=1", "coffee-club"))
    assert _decided(in_memory) == _decided(on_sqlite)
    assert in_memory._stream.wholes > 0
    assert on_sqlite._stream.wholes == 0
    assert on_sqlite._stream.taken > 0  # still decided in place, on the step's own path
