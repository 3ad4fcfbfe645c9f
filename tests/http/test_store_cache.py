"""A service's store objects hold the states of its recent customers: 4,096 of them by default,
within the memory bound of the store's own default (256,000 list elements), unless the URL says.

With the store's default of 256 customers, a service whose customers came back after 300 others
read every returning customer's state from the database again (the service benchmark's load:
bench/README.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.http.stores import SERVICE_CACHE, SERVICE_ELEMENTS, Stores
from rules_engine.service import Loyalty
from rules_engine.store.cache import DEFAULT_SIZE, ELEMENTS
from rules_engine.store.sql_writing import SqlWriting

PROGRAM = "coffee-club"
ROOT = Path(__file__).resolve().parents[2]


def test_the_memory_bound_is_the_stores_default() -> None:
    assert SERVICE_CACHE > DEFAULT_SIZE
    assert SERVICE_ELEMENTS == DEFAULT_SIZE * ELEMENTS


def test_a_service_store_holds_its_customers_within_the_default_budget(tmp_path: Path) -> None:
    stores = Stores(str(tmp_path / "loyalty.db"))
    try:
        with stores.borrow(PROGRAM) as store:
            assert isinstance(store, SqlWriting)
            assert (store._cache.size, store._cache.budget) == (SERVICE_CACHE, SERVICE_ELEMENTS)
        lane = stores.lane_store(PROGRAM)
        assert isinstance(lane, SqlWriting)
        assert (lane._cache.size, lane._cache.budget) == (SERVICE_CACHE, SERVICE_ELEMENTS)
    finally:
        stores.close()


def test_the_url_still_says_how_many(tmp_path: Path) -> None:
    stores = Stores(f"sqlite:///{tmp_path / 'loyalty.db'}?cache=8")
    try:
        with stores.borrow(PROGRAM) as store:
            assert isinstance(store, SqlWriting)
            assert (store._cache.size, store._cache.budget) == (8, 8 * ELEMENTS)
    finally:
        stores.close()


def _purchase(number: int, customer: int, at: dt.datetime) -> dict[str, Any]:
    return {
        "id": f"e{number}",
        "type": "purchase",
        "time": (at + dt.timedelta(seconds=number)).isoformat(),
        "customer": f"c{customer}",
        "items": [{"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 1}],
    }


def test_customers_back_after_300_others_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rounds of 300 customers, as the service benchmark sends them: the second round finds
    every state held (no read of a state from the database), and the answers are those of a store
    that reads them (`?cache=0`)."""
    engine = Engine.from_file(ROOT / "programs" / f"{PROGRAM}.yaml")
    at = dt.datetime(2026, 12, 6, 8, tzinfo=dt.UTC)
    events = [_purchase(n, n % 300, at) for n in range(600)]
    loads: list[str] = []
    load = SqlWriting._load

    def counted(self: SqlWriting, customer: str) -> Any:
        loads.append(customer)
        return load(self, customer)

    monkeypatch.setattr(SqlWriting, "_load", counted)
    answers = {}
    for url in (str(tmp_path / "held.db"), f"sqlite:///{tmp_path / 'read.db'}?cache=0"):
        stores = Stores(url)
        loads.clear()
        try:
            with stores.borrow(PROGRAM) as store:
                loyalty = Loyalty(engine, store, horizon=None)
                answers[url] = [loyalty.process(event).model_dump_json() for event in events]
        finally:
            stores.close()
        if "cache=0" not in url:
            assert loads == []
        else:
            assert len(loads) == 300
    first, second = answers.values()
    assert first == second
