"""The PostgreSQL test server and its fixtures do what the store tests rely on.

These run on the server `make test` starts (scripts/with-postgres.sh), or on the one named by
LOYALTY_TEST_POSTGRES; without either they are skipped (tests/postgres.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import LiteralString

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from tests import postgres
from tests.conftest import ROOT
from tests.postgres import CONNECT_TIMEOUT, DATABASE_PREFIX, fresh_database


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT)


def scalar(connection: psycopg.Connection[tuple[object, ...]], query: LiteralString) -> object:
    row = connection.execute(query).fetchone()
    assert row is not None
    return row[0]


def database_exists(server_url: str, name: str) -> bool:
    with connect(server_url) as connection:
        row = connection.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [name]).fetchone()
        assert row is not None
        return row[0] == 1


def database_name(url: str) -> str:
    with connect(url) as connection:
        return str(scalar(connection, "SELECT current_database()"))


# --- the server ------------------------------------------------------------------------------------

_SETTINGS = (
    "import os, psycopg\n"
    "with psycopg.connect(os.environ['LOYALTY_TEST_POSTGRES']) as c:\n"
    "    for k in ('fsync', 'synchronous_commit', 'full_page_writes'):\n"
    "        print(c.execute(f'SHOW {k}').fetchone()[0])"
)


@pytest.mark.parametrize(("durable", "expected"), [("1", ["on", "on", "on"]), ("", ["off", "off", "off"])])
def test_a_benchmark_can_ask_the_script_for_a_durable_server(
    postgres_url: str, durable: str, expected: list[str]
) -> None:
    """The throwaway server trades durability for speed, as tests may; `PG_DURABLE=1` keeps
    PostgreSQL's defaults, so that a benchmark of the service measures what a production server
    pays for a commit (bench/README.md, issue 17's PostgreSQL rows). `postgres_url`: a server
    can be started here (the package is installed)."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "with-postgres.sh"), sys.executable, "-c", _SETTINGS],
        env={**os.environ, "PG_DURABLE": durable},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == expected


def test_the_server_answers_and_is_recent_enough(postgres_url: str) -> None:
    with connect(postgres_url) as connection:
        # DROP DATABASE ... WITH (FORCE), which the fixture uses, came with PostgreSQL 13.
        assert connection.info.server_version >= 130000
        assert scalar(connection, "SELECT 1 + 1") == 2


def test_there_is_room_for_concurrent_connections(postgres_url: str) -> None:
    """Twenty sessions at once, each waiting for all the others: they really are concurrent."""
    sessions = 20
    barrier = threading.Barrier(sessions, timeout=30)

    def session(_: int) -> int:
        with connect(postgres_url) as connection:
            barrier.wait()
            return int(str(scalar(connection, "SELECT pg_backend_pid()")))

    with ThreadPoolExecutor(max_workers=sessions) as pool:
        pids = set(pool.map(session, range(sessions)))
    assert len(pids) == sessions


# --- postgres_database: a fresh database per test -------------------------------------------------


def test_a_fresh_database_is_empty_and_utf8(postgres_database: str) -> None:
    with connect(postgres_database) as connection:
        assert str(scalar(connection, "SELECT current_database()")).startswith(DATABASE_PREFIX)
        assert scalar(connection, "SHOW server_encoding") == "UTF8"
        user_relations = scalar(
            connection,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
        )
        assert user_relations == 0


def test_fresh_databases_are_apart(postgres_url: str) -> None:
    with fresh_database(postgres_url) as first, fresh_database(postgres_url) as second:
        assert database_name(first) != database_name(second)
        with connect(first) as connection:
            connection.execute("CREATE TABLE account (id int PRIMARY KEY)")
        with connect(second) as connection:
            assert scalar(connection, "SELECT to_regclass('account') IS NULL") is True


def test_a_fresh_database_is_dropped_afterwards_even_with_a_connection_left_open(postgres_url: str) -> None:
    with fresh_database(postgres_url) as url:
        name = database_name(url)
        left_open = connect(url)
        assert database_exists(postgres_url, name)
    try:
        assert not database_exists(postgres_url, name)
        with pytest.raises(psycopg.OperationalError):  # DROP ... WITH (FORCE) ended that session
            left_open.execute("SELECT 1")
    finally:
        left_open.close()


def test_a_fresh_database_is_dropped_when_the_test_fails(postgres_url: str) -> None:
    names = []
    with pytest.raises(RuntimeError), fresh_database(postgres_url) as url:
        names.append(database_name(url))
        raise RuntimeError("the test failed")
    assert not database_exists(postgres_url, names[0])


def test_the_fresh_database_url_keeps_the_server_and_user() -> None:
    assert (
        postgres.database_url("postgresql://loyalty@127.0.0.1:5433/loyalty_test?sslmode=disable", "other")
        == "postgresql://loyalty@127.0.0.1:5433/other?sslmode=disable"
    )
    conninfo = postgres.database_url("host=/tmp port=5433 dbname=loyalty_test", "other")
    assert conninfo_to_dict(conninfo) == {"host": "/tmp", "port": "5433", "dbname": "other"}


# --- row locks, as the store's read-modify-write will use them --------------------------------------


@pytest.fixture
def account(postgres_database: str) -> str:
    with connect(postgres_database) as connection:
        connection.execute("CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL)")
        connection.execute("INSERT INTO account VALUES (1, 100), (2, 0)")
    return postgres_database


def test_a_locked_row_cannot_be_locked_by_another_transaction(account: str) -> None:
    with connect(account) as holder, connect(account) as other:
        holder.execute("SELECT balance FROM account WHERE id = 1 FOR UPDATE")
        other.execute("SET lock_timeout = '200ms'")
        with pytest.raises(errors.LockNotAvailable):
            other.execute("SELECT balance FROM account WHERE id = 1 FOR UPDATE")
        other.rollback()
        # Another row is free, and the first one is once the holder's transaction ends.
        assert other.execute("SELECT balance FROM account WHERE id = 2 FOR UPDATE").fetchone() == (0,)
        holder.commit()
        assert other.execute("SELECT balance FROM account WHERE id = 1 FOR UPDATE").fetchone() == (100,)


def test_a_waiting_transaction_sees_the_holders_update_once_it_commits(account: str) -> None:
    """Two read-modify-writes of one balance: the second waits for the first and adds to its result."""
    with connect(account) as holder, connect(account) as waiter:
        waiter_pid = waiter.info.backend_pid
        holder.execute("SELECT balance FROM account WHERE id = 1 FOR UPDATE")

        def add_ten() -> object:
            row = waiter.execute("SELECT balance FROM account WHERE id = 1 FOR UPDATE").fetchone()
            assert row is not None
            waiter.execute("UPDATE account SET balance = %s WHERE id = 1", [int(str(row[0])) + 10])
            waiter.commit()
            return row[0]

        with ThreadPoolExecutor(max_workers=1) as pool, connect(account, autocommit=True) as observer:
            waiting = pool.submit(add_ten)
            deadline = time.monotonic() + 10
            while observer.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [waiter_pid]
            ).fetchone() != ("Lock",):
                assert time.monotonic() < deadline, "the second transaction never waited for the row lock"
                assert not waiting.done(), "the second transaction did not wait for the row lock"
                time.sleep(0.01)
            holder.execute("UPDATE account SET balance = balance + 5 WHERE id = 1")
            holder.commit()
            assert waiting.result(timeout=10) == 105  # it read the committed 105, not the 100 it first met
            assert scalar(observer, "SELECT balance FROM account WHERE id = 1") == 115


# --- the fixture's own rules: skip, or fail when PostgreSQL is required --------------------------


def test_without_a_server_the_postgres_tests_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres.URL_VARIABLE, raising=False)
    monkeypatch.delenv(postgres.REQUIRE_VARIABLE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="LOYALTY_TEST_POSTGRES is not set"):
        postgres.server_url()


def test_without_a_server_the_postgres_tests_fail_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres.URL_VARIABLE, raising=False)
    monkeypatch.setenv(postgres.REQUIRE_VARIABLE, "1")
    with pytest.raises(pytest.fail.Exception, match="LOYALTY_REQUIRE_POSTGRES=1 but LOYALTY_TEST_POSTGRES"):
        postgres.server_url()


def test_a_named_server_that_does_not_answer_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    monkeypatch.setenv(postgres.URL_VARIABLE, "postgresql://loyalty:secret@127.0.0.1:1/loyalty_test")
    monkeypatch.delenv(postgres.REQUIRE_VARIABLE, raising=False)
    with pytest.raises(pytest.fail.Exception, match="no PostgreSQL server answers") as failure:
        postgres.server_url()
    assert "secret" not in str(failure.value)
