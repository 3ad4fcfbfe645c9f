"""Long lists (SharedList windows, state/shared.py) through the SQL stores: customers whose states
were put from one and the same state, and states read back from the rows, go on exactly as the
engine alone would take them, whoever shares what storage.

A state the store writes whole (a `put`), or whose lists are not the window moved on of the ones
it holds, is held on storages of its own (lists.own), and a state read from the rows holds its
lists as windows too: the engine's next state appends to them in place, and the store writes it as
what left and joined, read off the two windows. These tests check that nothing of that leaks
between customers or states: what the store hands out and what a reader that holds nothing reads
are, after every event, what the engine returned.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.state.shared import SHARED_FROM, SharedList, window
from rules_engine.store import open_store
from rules_engine.store.lists import PARTS
from rules_engine.store.sql import SqlStore
from tests.store.streams import PROGRAM, START

ENGINE = Engine(load_program_text(PROGRAM, "store-test.yaml"), secret=b"store tests")
HISTORY = SHARED_FROM + 20  # purchases before: lots, purchase lines and event ids past SharedList's bound


def purchase(customer: str, n: int) -> dict[str, Any]:
    return {
        "id": f"{customer}-p{n}",
        "type": "purchase",
        "time": (START + dt.timedelta(hours=n)).isoformat(),
        "customer": customer,
        "items": [{"sku": "TEA", "price": "4.50", "qty": 2}],  # under the budgeted rule's 20 EUR
    }


@pytest.fixture(scope="module")
def template() -> CustomerState:
    """One customer's long history through the engine alone."""
    state = None
    for n in range(HISTORY):
        state = ENGINE.process(purchase("template", n), state).state
    assert state is not None
    assert all(len(getattr(state, part)) >= SHARED_FROM for part in ("lots", "purchases", "processed"))
    return state


def same(read: CustomerState | None, expected: CustomerState) -> None:
    assert read is not None
    assert read.model_dump() == expected.model_dump()
    for part in PARTS:
        assert len(getattr(read, part)) == len(getattr(expected, part))


@contextlib.contextmanager
def opened(url: str, **options: Any) -> Iterator[SqlStore]:
    store = open_store(url, "store-test", **options)
    assert isinstance(store, SqlStore)
    try:
        yield store
    finally:
        store.close()


@pytest.mark.parametrize("batch", [0, 1, 3, 50])  # 0: a transaction per event
def test_customers_put_from_one_state_go_on_as_the_engine_takes_each(
    sql_url: str, template: CustomerState, batch: int
) -> None:
    customers = [f"c{n}" for n in range(4)]
    expected = {c: template.model_copy(update={"customer": c}) for c in customers}
    with opened(sql_url) as store, opened(sql_url, cache=0) as reader:
        service = Loyalty(ENGINE, store, horizon=None)
        with store.group():
            for customer, state in expected.items():
                service.put(customer, state)  # one storage under all four
        stream = [purchase(c, HISTORY + n) for n in range(6) for c in customers]
        chunks = (
            [stream[i : i + batch] for i in range(0, len(stream), batch)] if batch else [[e] for e in stream]
        )
        for chunk in chunks:
            with store.group() if batch else contextlib.nullcontext():
                for event in chunk:
                    outcome = service.process(event)
                    expected[event["customer"]] = ENGINE.process(event, expected[event["customer"]]).state
                    same(outcome.state, expected[event["customer"]])
                    for customer, state in expected.items():
                        same(store.state(customer), state)
            for customer, state in expected.items():  # committed: read from the rows alone
                same(reader.state(customer), state)


def test_a_state_read_from_the_rows_or_put_holds_its_long_lists_on_storages_of_its_own(
    tmp_path: Path, template: CustomerState
) -> None:
    """So the engine's next state appends to them in place, and its write is what left and joined,
    not a comparison of thousands of elements: the store's cost of an event, whatever the history."""
    sql_url = f"sqlite:///{tmp_path / 'loyalty.db'}"
    with opened(sql_url) as store:
        service = Loyalty(ENGINE, store, horizon=None)
        for customer in ("ann", "bob"):
            service.put(customer, template.model_copy(update={"customer": customer}))
        held = {c: store.state(c) for c in ("ann", "bob")}  # as the store holds them (cache.py)
        for part in ("lots", "purchases", "processed"):
            ann, bob = (getattr(state, part) for state in held.values())
            assert type(ann) is SharedList and type(bob) is SharedList
            assert window(ann)[0] is not window(bob)[0]
            assert window(ann)[0] is not window(getattr(template, part))[0]
    with opened(sql_url) as store:  # another process: reads the rows
        service = Loyalty(ENGINE, store, horizon=None)
        before = store.state("ann")
        assert before is not None
        after = service.process(purchase("ann", HISTORY)).state
        for part in ("lots", "purchases", "processed"):
            assert type(getattr(before, part)) is SharedList
            assert window(getattr(after, part))[0] is window(getattr(before, part))[0]  # appended in place
        same(store.state("ann"), after)
    with opened(sql_url, cache=0) as reader:
        same(reader.state("ann"), after)
