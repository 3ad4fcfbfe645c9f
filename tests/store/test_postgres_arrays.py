"""PostgreSQL's many rows in one statement (store/postgres_arrays.py): the rows an `unnest` of
array texts writes are those the same statement writes row by row, whatever the text (quotes,
backslashes, braces, commas, NULL spelled out, any Unicode), the number, the moment or the bytes;
an upsert whose key repeats goes row by row (the last row wins, as before); the columns' types
are the schema's."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.store import open_store
from rules_engine.store.postgres import PostgresStore
from rules_engine.store.postgres_arrays import COLUMNS, _array_text, array_text, parameters, rewriting
from tests import postgres

LEDGER = (
    "INSERT INTO ledger (program, customer, event, rule, kind, points, lot, at, version, rule_hash, lines)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
EVENTS = (
    "INSERT INTO events (program, customer, event, outcome, packed, digest, at) VALUES (?, ?, ?, '', ?, ?, ?)"
)
SUMMARIES = (
    "INSERT INTO customers (program, customer, state, revision) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (program, customer) DO UPDATE SET state = excluded.state, revision = excluded.revision"
)
_programs = itertools.count()


@pytest.fixture(scope="module")
def store() -> Iterator[PostgresStore]:
    """One migrated database for the module's examples (each writes under programs of its own)."""
    with postgres.fresh_database(postgres.server_url()) as url, open_store(url, "p") as opened:
        assert isinstance(opened, PostgresStore)
        yield opened


def _both(store: PostgresStore, sql: str, rows: list[tuple[Any, ...]]) -> tuple[str, str]:
    """The rows written twice, under two new programs (their first value): in one statement, and
    one statement a row (`executemany` of each alone, as the store sends a single row)."""
    together, alone = f"t{next(_programs)}", f"a{next(_programs)}"
    store._execute_many(sql, [(together, *row) for row in rows])
    for row in rows:
        store._execute_many(sql, [(alone, *row)])
    return together, alone


def _read(store: PostgresStore, table: str, columns: str, program: str) -> list[tuple[Any, ...]]:
    # in a total order: a program's events may share a customer (the key is customer and event),
    # and rows tied on `ORDER BY customer` come back in whatever order the server finds them
    order = {"ledger": "seq", "events": "customer, event"}.get(table, "customer")
    return store._execute(f"SELECT {columns} FROM {table} WHERE program = ? ORDER BY {order}", (program,))


texts = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=30)
moments = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=st.timezones()
)
points = st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False)


versions = st.integers(0, 2**31 - 1)
entries = st.tuples(
    texts, texts, texts, texts, points, texts, moments, versions, st.none() | texts, st.none() | texts
)


@settings(max_examples=60)
@given(st.lists(entries, min_size=2, max_size=8))
def test_ledger_rows_in_one_statement_are_the_rows_one_by_one(
    store: PostgresStore, rows: list[tuple[Any, ...]]
) -> None:
    together, alone = _both(store, LEDGER, rows)
    columns = "customer, event, rule, kind, points, lot, at, version, rule_hash, lines"
    written = _read(store, "ledger", columns, together)
    assert written == _read(store, "ledger", columns, alone)
    assert [(*row[:6], row[6].timestamp(), *row[7:]) for row in written] == [
        (*row[:6], row[6].timestamp(), *row[7:]) for row in rows
    ]


@settings(max_examples=40)
@given(
    st.lists(
        st.tuples(texts, texts, st.binary(max_size=40), st.none() | texts, st.none() | moments),
        min_size=2,
        max_size=8,
        unique_by=lambda row: (row[0], row[1]),
    )
)
def test_events_rows_bytes_and_nulls(store: PostgresStore, rows: list[tuple[Any, ...]]) -> None:
    """The events' rows: a literal column (`''`), bytes in bytea, absent moments and digests."""
    together, alone = _both(store, EVENTS, rows)
    columns = "customer, event, outcome, packed, digest, at"
    written = _read(store, "events", columns, together)
    assert written == _read(store, "events", columns, alone)
    assert sorted((c, e, bytes(p), d) for c, e, o, p, d, _ in written) == sorted(
        (c, e, p, d) for c, e, p, d, _ in rows
    )


@given(st.lists(st.tuples(st.sampled_from("abc"), texts, st.integers(1, 2**40)), min_size=2, max_size=6))
def test_an_upsert_whose_key_repeats_goes_row_by_row(
    store: PostgresStore, rows: list[tuple[Any, ...]]
) -> None:
    """Customers' summaries, an upsert: with a customer twice the statement is not rewritten (one
    statement may not touch a row twice), and the last of their rows wins, as one by one."""
    repeats = len({customer for customer, *_ in rows}) < len(rows)
    arrays = rewriting(SUMMARIES)
    assert arrays is not None
    assert (parameters(arrays, [("p", *row) for row in rows]) is None) == repeats
    together, alone = _both(store, SUMMARIES, rows)
    columns = "customer, state, revision"
    assert _read(store, "customers", columns, together) == _read(store, "customers", columns, alone)
    assert _read(store, "customers", columns, together) == sorted({c: (c, s, r) for c, s, r in rows}.values())


def test_what_is_not_rewritten() -> None:
    """Statements of tables or columns not known, or not one VALUES list; values of other types."""
    assert rewriting("DELETE FROM customer_lists WHERE program = ? AND customer = ?") is None
    assert rewriting("INSERT INTO unknown (a, b) VALUES (?, ?)") is None
    assert rewriting("INSERT INTO customers (program, nickname) VALUES (?, ?)") is None
    assert rewriting("INSERT INTO customers (program, customer) SELECT ?, ?") is None
    assert array_text([1.5, 2.5]) is None and array_text([True]) is None
    assert array_text(['a "b" \\c', None, 3, Decimal("1E+2"), b"\x00\xff"]) == (
        '{"a \\"b\\" \\\\c",NULL,3,1E+2,"\\\\x00ff"}'
    )


any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
values = st.one_of(
    st.none(),
    any_text,
    st.integers(-(2**63), 2**63 - 1),
    points,
    st.binary(max_size=12),
    moments,
    st.booleans(),
    st.floats(allow_nan=False),
)


@settings(max_examples=300)
@given(
    st.one_of(
        st.lists(any_text, max_size=8),
        st.lists(st.text(alphabet='a\\"\x00,{}', max_size=6), max_size=8),
        st.lists(st.integers(-(2**63), 2**63 - 1) | points, max_size=8),
        st.lists(st.binary(max_size=12), max_size=8),
        st.lists(moments, max_size=8),
        st.lists(values, max_size=8),
    )
)
def test_a_column_at_once_is_its_values_one_by_one(column: list[Any]) -> None:
    """A column of one type is written by one join over the column (texts with quotes,
    backslashes, braces, commas, a NUL), exactly as value by value; a mixed one value by value."""
    assert array_text(column) == _array_text(column)


def test_the_columns_are_the_schemas(postgres_database: str) -> None:
    """`COLUMNS` against a database migrated to the latest schema: each column named there has
    that type (a migration that changes one must change it there too)."""
    names = {"timestamp with time zone": "timestamptz"}
    with open_store(postgres_database, "p"), psycopg.connect(postgres_database) as connection:
        for table, columns in COLUMNS.items():
            found = dict(
                connection.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
                    (table,),
                ).fetchall()
            )
            assert {name: names.get(found[name], found[name]) for name in columns} == columns, table
