"""Many rows in one statement, for PostgreSQL: an `INSERT … VALUES (?, …)` given many rows is sent
as one `INSERT … SELECT … FROM unnest(…)` whose parameters are one array a column, each written
here as PostgreSQL's array text.

Why: a group of the service's events writes some 7 rows an event (the customer's summary, their
new list elements, the event, its ledger entry). Sent row by row (psycopg's `executemany`, even in
a pipeline) each row is a statement of its own: a Bind and an Execute the client builds in Python
(~7.5 µs a row on the lane's thread) and the server plans, runs and answers (~6.5 µs a row of
PostgreSQL's CPU, on the same cores). One statement a table carries the same rows for ~1.6 µs of
the client's and ~4 µs of the server's a row (bench/README.md, "pgwait"). psycopg's own list
adaptation (a Python list a parameter) cost more than the row-by-row statements on the client
(~13 µs a row): hence the array text written here, with C-speed `str` methods.

What is not rewritten goes row by row as before (`statement` gives None): a statement that is not
a plain `INSERT INTO table (columns) VALUES (…)` of a table and columns known here (`COLUMNS`),
a value of a type not known here, and an upsert (`ON CONFLICT (…) DO UPDATE`) given two rows with
the same key (row by row the second updates the first's row; in one statement PostgreSQL refuses
to touch a row twice).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

COLUMNS: dict[str, dict[str, str]] = {
    "customers": {"program": "text", "customer": "text", "state": "text", "revision": "bigint"},
    "customer_lists": {
        "program": "text",
        "customer": "text",
        "part": "text",
        "pos": "bigint",
        "body": "text",
    },
    "events": {
        "program": "text",
        "customer": "text",
        "event": "text",
        "outcome": "text",
        "packed": "bytea",
        "digest": "text",
        "at": "timestamptz",
    },
    "ledger": {
        "program": "text",
        "customer": "text",
        "event": "text",
        "rule": "text",
        "kind": "text",
        "points": "numeric",
        "lot": "text",
        "at": "timestamptz",
        "version": "integer",
        "rule_hash": "text",
        "line": "integer",
        "lines": "text",
    },
    "referral_codes": {"program": "text", "code": "text", "customer": "text", "known_at": "timestamptz"},
    "catalog_stock": {"program": "text", "item": "text", "redeemed": "bigint"},
    "budgets": {"program": "text", "rule": "text", "period": "text", "spent": "numeric"},
}
"""The PostgreSQL types of the columns the write path inserts into, by table (migrations.py; a
test checks them against a migrated database)."""

_INSERT = re.compile(r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \(([^()]*)\)(.*)", re.DOTALL)
_CONFLICT = re.compile(r" ON CONFLICT \(([\w, ]+)\) DO UPDATE ")


class Arrays(NamedTuple):
    """A statement's rewriting: the SQL (an array `?` for each of the rows' values, in their
    order), and the places in a row of the key an upsert conflicts on (None: not an upsert)."""

    sql: str
    key: tuple[int, ...] | None


_KNOWN: dict[str, Arrays | None] = {}
"""`rewriting`'s answers, by statement."""


def rewriting(sql: str) -> Arrays | None:
    """The statement as one `INSERT … SELECT … FROM unnest(?::type[], …)`, or None (the module's
    docstring). Literal values (`''`, `0`) stay in the SELECT list."""
    if sql in _KNOWN:
        return _KNOWN[sql]
    found = _INSERT.fullmatch(sql)
    made = None
    if found is not None and found[1] in COLUMNS:
        table, types = found[1], COLUMNS[found[1]]
        columns = [name.strip() for name in found[2].split(",")]
        values = [value.strip() for value in found[3].split(",")]
        rest = found[4]
        if len(columns) == len(values) and all(name in types for name in columns):
            selected: list[str] = []
            arrays: list[str] = []
            for name, value in zip(columns, values, strict=True):
                if value == "?":
                    selected.append(f"r.c{len(arrays)}")
                    arrays.append(f"?::{types[name]}[]")
                else:
                    selected.append(value)
            names = ", ".join(f"c{place}" for place in range(len(arrays)))
            key: tuple[int, ...] | None = None
            conflict = _CONFLICT.search(rest)
            if conflict is not None:  # the key's columns, by their place among the parameters
                given = [name for name, value in zip(columns, values, strict=True) if value == "?"]
                wanted = [name.strip() for name in conflict[1].split(",")]
                key = tuple(given.index(name) for name in wanted) if set(wanted) <= set(given) else None
            if conflict is None or key is not None:
                made = Arrays(
                    f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(selected)}"
                    f" FROM unnest({', '.join(arrays)}) AS r({names}){rest}",
                    key,
                )
    _KNOWN[sql] = made
    return made


def parameters(arrays: Arrays, rows: Sequence[Sequence[Any]]) -> list[str] | None:
    """The arrays' texts for these rows, one a column; None when a value is of a type not known
    here, or an upsert's key repeats (the rows then go one by one)."""
    if arrays.key is not None and len(set(map(_key_of(arrays.key), rows))) != len(rows):
        return None
    made = []
    for column in zip(*rows, strict=True):
        text = array_text(column)
        if text is None:
            return None
        made.append(text)
    return made


def _key_of(places: tuple[int, ...]) -> Any:
    """A row's key at these places, comparable in a set (a tuple, or the value of one place)."""
    return operator.itemgetter(*places)


def array_text(values: Sequence[Any]) -> str | None:
    """PostgreSQL's text of a one-dimensional array of these values: each string quoted, its
    backslashes and double quotes escaped (nothing else is special inside the quotes), NULL for
    None, numbers as Python writes them (which PostgreSQL reads: `1E+2` too), bytes in bytea's hex
    form, moments in ISO 8601 (with their offset when they have one, as psycopg sends them). None
    for a value of any other type (a bool, a float: not written by the store).

    A column of one type (the usual case: a group's texts, positions, packed outcomes, moments)
    is written by one `join` over the column, without a Python step per value but the escaping
    of texts (a `replace` that finds nothing returns its text, uncopied)."""
    kinds = set(map(type, values))
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if kind is str:
            return (
                '{"'
                + '","'.join([value.replace("\\", "\\\\").replace('"', '\\"') for value in values])
                + '"}'
            )
        if kind is int or kind is Decimal:
            return "{" + ",".join(map(str, values)) + "}"
        if kind is bytes:
            return '{"\\\\x' + '","\\\\x'.join(map(bytes.hex, values)) + '"}'
        if kind is dt.datetime:
            return '{"' + '","'.join(map(dt.datetime.isoformat, values)) + '"}'
    return _array_text(values)


def _array_text(values: Sequence[Any]) -> str | None:
    """`array_text` value by value (a column of mixed types)."""
    parts = []
    for value in values:
        kind = type(value)
        if kind is str:
            parts.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif value is None:
            parts.append("NULL")
        elif kind is int or kind is Decimal:
            parts.append(str(value))
        elif kind is bytes:
            parts.append('"\\\\x' + value.hex() + '"')
        elif kind is dt.datetime:
            parts.append('"' + value.isoformat() + '"')
        else:
            return None
    return "{" + ",".join(parts) + "}"
