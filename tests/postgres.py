"""The PostgreSQL server the tests run against, and a fresh database per test on it.

`make test` runs the tests under scripts/with-postgres.sh, which starts a throwaway server and sets
LOYALTY_TEST_POSTGRES to its URL and LOYALTY_REQUIRE_POSTGRES=1. Run by hand, the PostgreSQL tests
use the server LOYALTY_TEST_POSTGRES names, or are skipped when it is unset (docs/development.md).
The fixtures `postgres_url` and `postgres_database` in tests/conftest.py are built on these.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

URL_VARIABLE = "LOYALTY_TEST_POSTGRES"
REQUIRE_VARIABLE = "LOYALTY_REQUIRE_POSTGRES"
CONNECT_TIMEOUT = 5  # seconds
DATABASE_PREFIX = "loyalty_test_"


def server_url() -> str:
    """LOYALTY_TEST_POSTGRES once the server answers there; a skip when it is unset.

    With LOYALTY_REQUIRE_POSTGRES=1 (as make test and CI set it) an unset variable fails the test
    instead, so PostgreSQL tests can never be skipped silently. A server that is named but does not
    answer always fails: someone meant the tests to run on it.
    """
    url = os.environ.get(URL_VARIABLE, "")
    if not url:
        if os.environ.get(REQUIRE_VARIABLE) == "1":
            pytest.fail(f"{REQUIRE_VARIABLE}=1 but {URL_VARIABLE} is not set", pytrace=False)
        pytest.skip(f"{URL_VARIABLE} is not set: no PostgreSQL server to test on (make test starts one)")
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        pytest.fail(f"no PostgreSQL server answers at {URL_VARIABLE}={redacted(url)}: {error}", pytrace=False)
    return url


def database_url(url: str, database: str) -> str:
    """The same server, user and options as `url`, with another database."""
    if "://" in url:
        return urlunsplit(urlsplit(url)._replace(path="/" + database))
    return make_conninfo(url, dbname=database)  # the "host=... dbname=..." form


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """Create an empty database with a new name on the server at `url`; yield its URL; drop it.

    It is copied from template0, which nothing else on the server changes, so it is always empty
    (template1 may hold someone's extensions, and a session connected to it would make the copy fail).
    It is dropped WITH (FORCE): connections the test left open do not keep it alive.
    """
    name = DATABASE_PREFIX + uuid.uuid4().hex[:12]
    identifier = sql.Identifier(name)
    with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as admin:
        # CREATE/DROP DATABASE cannot run inside a transaction: hence autocommit.
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(identifier))
    try:
        yield database_url(url, name)
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))


def redacted(url: str) -> str:
    """`url` without its password, for messages."""
    if "://" not in url:
        return url if "password" not in url else "(a conninfo string with a password)"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))
