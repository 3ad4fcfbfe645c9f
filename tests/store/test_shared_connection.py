"""A store serves one thread at a time: an event begun while its connection is inside another
transaction (a second thread sharing the `Loyalty`, or a caller's own open transaction) is refused
with advice that says so — not the generic "retry", which fails the same way on a shared store —
and nothing of it is written; a `Loyalty` per thread on the same file works."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import StoreError
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from tests.conftest import ROOT

ENGINE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")


def _purchase(event: str, customer: str, minute: int) -> dict[str, object]:
    return {
        "id": event,
        "type": "purchase",
        "time": f"2026-12-01T10:{minute:02d}:00Z",
        "customer": customer,
        "items": [{"sku": "LATTE", "category": "coffee", "price": 3, "qty": 1}],
    }


def test_an_event_inside_another_transaction_of_the_store_says_one_thread_at_a_time(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "shared.db"), "coffee-club")
    loyalty = Loyalty(ENGINE, store, horizon=None)
    with store.transaction("anna"), pytest.raises(StoreError) as refused:
        loyalty.handle(_purchase("e1", "boris", 1))
    diagnostic = refused.value.diagnostics[0]
    assert diagnostic.code == "RE605"
    assert diagnostic.hint is not None and "one thread at a time" in diagnostic.hint
    assert "retrying on the shared one fails again" in diagnostic.hint
    assert store.state("boris") is None  # nothing of it written
    store.close()


def test_a_loyalty_per_thread_on_one_file_applies_every_event_once(tmp_path: Path) -> None:
    url = str(tmp_path / "threads.db")
    open_store(url, "coffee-club").close()
    failures: list[BaseException] = []

    def work(thread: int) -> None:
        store = open_store(url, "coffee-club")
        loyalty = Loyalty(ENGINE, store, horizon=None)
        try:
            for minute in range(30):
                loyalty.handle(_purchase(f"t{thread}-{minute}", f"c{thread}", minute))
        except BaseException as problem:  # reported to the test's thread
            failures.append(problem)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    store = open_store(url, "coffee-club")
    alone = Loyalty.in_memory(ENGINE)
    for thread in range(3):
        for minute in range(30):
            alone.handle(_purchase(f"t{thread}-{minute}", f"c{thread}", minute))
        assert store.state(f"c{thread}") == alone.store.state(f"c{thread}")
    store.close()
