"""The times a store gives back — ledger rows, the latest event a horizon is measured from, an
applied event's time — are in UTC in every store, as SQLite and PostgreSQL keep them (docs/stores.md,
Tables): the memory store gave back the offset each event was sent with, so the same events showed
`2026-11-30T10:00:00+03:00` in one store's ledger (a desk's ledger page, an RE441 or RE443 message)
and `2026-11-30T07:00:00+00:00` in another's. The moments were equal; the texts were not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.tools.adjustments import Adjustment
from tests.conftest import ROOT

MOSCOW = dt.timezone(dt.timedelta(hours=3))
T0 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=MOSCOW)
ENGINE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")


def purchase(name: str, at: dt.datetime) -> dict[str, Any]:
    items = [{"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 1}]
    return {"id": name, "type": "purchase", "customer": "mia", "time": at.isoformat(), "items": items}


def told(loyalty: Loyalty) -> dict[str, Any]:
    """What a store tells of the same history, as text: its ledger's times, and the messages of
    an event beyond the horizon (RE441) and of an id reused with another time (RE443)."""
    loyalty.process(purchase("p1", T0))
    loyalty.adjust(Adjustment(id="a1", customer="mia", points=Decimal(5), reason="r", operator="o", at=T0))
    messages = []
    for event in (purchase("p2", T0 + dt.timedelta(days=3)), purchase("p1", T0 + dt.timedelta(hours=1))):
        with pytest.raises(EventError) as refused:
            loyalty.process(event)
        messages.append(refused.value.diagnostics[0].message)
    times = [row.entry.at.isoformat() for row in loyalty.store.ledger(customer="mia")]
    return {"ledger": times, "latest": loyalty.store.latest_event_time(), "messages": messages}


def test_every_store_gives_times_back_in_utc(tmp_path: Path) -> None:
    stores = {"memory": "memory:", "sqlite": str(tmp_path / "times.db")}
    seen = {
        name: told(Loyalty(ENGINE, open_store(url, "coffee-club"), horizon=dt.timedelta(days=1)))
        for name, url in stores.items()
    }
    assert seen["memory"] == seen["sqlite"]
    assert seen["memory"]["ledger"][0] == "2026-11-30T07:00:00+00:00"
    assert "2026-11-30T07:00:00+00:00" in seen["memory"]["messages"][0]


def test_postgresql_gives_times_back_in_utc_whatever_the_servers_time_zone(postgres_database: str) -> None:
    """A database whose own `TimeZone` is not UTC (a server set up in Tokyo) gives the same texts
    as the memory store: the store's sessions ask for UTC."""
    import psycopg
    from psycopg import sql

    name = str(psycopg.conninfo.conninfo_to_dict(postgres_database)["dbname"])
    with psycopg.connect(postgres_database, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} SET timezone = 'Asia/Tokyo'").format(sql.Identifier(name)))
    horizon = dt.timedelta(days=1)
    seen = told(Loyalty(ENGINE, open_store(postgres_database, "coffee-club"), horizon=horizon))
    assert seen == told(Loyalty(ENGINE, open_store("memory:", "coffee-club"), horizon=horizon))
    assert seen["ledger"][0] == "2026-11-30T07:00:00+00:00"
