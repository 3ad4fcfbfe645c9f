"""Every store test runs against each store: memory, SQLite (with and without working states) and
PostgreSQL (the last needs the server `make test` starts; see the `postgres_database` fixture in
tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rules_engine.store import Store, open_store

OpenStore = Callable[[], Store]


@pytest.fixture(params=["memory", "sqlite", "sqlite-working", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """`sqlite-working`: SQLite with working states (`?working=1`, store/sql_writing.py), whose
    events the service decides in place: every store test holds both ways."""
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return str(tmp_path / "loyalty.db")
    if request.param == "sqlite-working":
        return f"sqlite:///{tmp_path / 'loyalty.db'}?working=1"
    url: str = request.getfixturevalue("postgres_database")  # skipped without a server, see tests/postgres.py
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an SQL store: an SQLite file as `loyalty run --db` opens one, or a PostgreSQL
    database (skipped without a server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loyalty.db'}?synchronous=normal"
    found: str = request.getfixturevalue("postgres_database")
    return found


@pytest.fixture
def open_test_store(store_url: str) -> Iterator[OpenStore]:
    """Opens the store at the test's URL (again and again: a memory store is the same object);
    closes them all at the end."""
    opened: list[Store] = []
    memory: list[Store] = []

    def open_one() -> Store:
        if store_url == "memory:" and memory:
            return memory[0]
        store = open_store(store_url, "store-test")
        (memory if store_url == "memory:" else opened).append(store)
        return store

    yield open_one
    for store in opened:
        store.close()
