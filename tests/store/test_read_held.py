"""A state the SQL stores read back from their rows, and how many of them a replay holds.

- A read state is the state pydantic validates from the rows, model for model: equal, the same
  JSON, the same fields given; only its list elements' sets of given fields are one object per
  class (lists._share_fields: ~40 % of a read state's memory), and only where a body has every
  field. Long generated coffee-club customers (returns, redemptions, reviews, app opens), read
  back after every event by a store that holds nothing, on SQLite and PostgreSQL; and rows
  written by an older schema (a purchase line without its event id) read as they always did.
- The cache is bounded by list elements as well as customers (a replay's default: many customers
  within `REPLAY_ELEMENTS`), and a group's states written out early are held once it commits,
  never when it rolls back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from rules_engine.engine.evaluator import Engine
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState, PastLine
from rules_engine.store.cache import REPLAY_ELEMENTS, REPLAY_SIZE, Cache
from rules_engine.store.lists import PARTS, Held, assemble
from rules_engine.store.sql import SqlStore
from rules_engine.store.sql_writing import _LOAD
from tests.store import year

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "programs" / "coffee-club.yaml").read_text()
ENGINE = Engine(load_program_text(TEXT, "coffee-club.yaml"), secret=b"read tests")
PROGRAM = ENGINE.program.program


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    """Four coffee-club customers over a year (252 events: purchases, returns, redemptions, reviews,
    app opens), one of them with 169 events: lists past SharedList's bound on the way."""
    return year.four_customers(ENGINE, TEXT, b"read tests")


def opened(url: str, **options: Any) -> contextlib.AbstractContextManager[SqlStore]:
    return year.opened(url, PROGRAM, **options)


def validated(store: SqlStore, customer: str) -> CustomerState:
    """The customer's state as pydantic validates it from the rows, whole: the reference."""
    rows = store._execute(_LOAD, (PROGRAM, customer, PROGRAM, customer))
    bodies: dict[str, list[str]] = {part: [] for part in PARTS}
    for part, _, text, _ in rows[1:]:
        bodies[part].append(text)
    return assemble(rows[0][2], bodies)


def models(value: Any) -> Iterator[tuple[BaseModel, BaseModel | None]]:
    """Every model in a list, with the models of its list fields (a lot's lines)."""
    for element in value:
        if isinstance(element, BaseModel):
            yield element, None
            for name in type(element).model_fields:
                inner = getattr(element, name)
                if isinstance(inner, list):
                    for line in inner:
                        if isinstance(line, BaseModel):
                            yield line, element


def same_models(read: CustomerState, expected: CustomerState) -> None:
    """Equal, the same JSON, and model for model the same values and fields given."""
    assert read == expected
    assert read.model_dump_json() == expected.model_dump_json()
    assert read.model_fields_set == expected.model_fields_set
    for part in PARTS:
        mine, theirs = list(models(getattr(read, part))), list(models(getattr(expected, part)))
        assert len(mine) == len(theirs)
        for (a, _), (b, _) in zip(mine, theirs, strict=True):
            assert type(a) is type(b) and a.__dict__ == b.__dict__
            assert a.model_fields_set == b.model_fields_set


def test_a_state_read_from_its_rows_is_the_validated_one_after_every_event(
    sql_url: str, events: list[dict[str, Any]]
) -> None:
    shared_sets = longest = 0
    with opened(sql_url, cache=0) as store:  # holds nothing: every event reads its customer's rows
        loyalty = Loyalty(ENGINE, store, horizon=None)
        for event in events:
            handled = loyalty.handle(event)
            held = store._load(event["customer"])
            assert held is not None
            same_models(held.state, validated(store, event["customer"]))
            if not handled.duplicate:  # the engine's own state (its fields given are its own)
                assert held.state == handled.decided.state
                assert held.state.model_dump_json() == handled.decided.state.model_dump_json()
            for part in PARTS:
                sets = {id(model.model_fields_set) for model, _ in models(getattr(held.state, part))}
                kinds = {type(model) for model, _ in models(getattr(held.state, part))}
                assert len(sets) <= len(kinds)  # one set per class: every body has every field
                shared_sets += len(list(models(getattr(held.state, part)))) - len(sets)
                longest = max(longest, len(getattr(held.state, part)))
    assert longest > 128 and shared_sets > 0  # long lists (SharedList windows) were read too


def test_rows_of_an_older_schema_read_as_pydantic_reads_them(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    sql_url = f"sqlite:///{tmp_path / 'loyalty.db'}"
    with opened(sql_url, cache=0) as store:
        loyalty = Loyalty(ENGINE, store, horizon=None)
        for event in events[:200]:
            loyalty.handle(event)
        customer = events[0]["customer"]
        # a purchase line written before lines named their event: the field is absent, not null
        store._execute(
            "UPDATE customer_lists SET body = json_remove(body, '$.event')"
            " WHERE customer = ? AND part = 'purchases' AND pos = (SELECT min(pos) FROM customer_lists"
            " WHERE customer = ? AND part = 'purchases')",
            (customer, customer),
        )
        held = store._load(customer)
        assert held is not None
        expected = validated(store, customer)
        same_models(held.state, expected)
        first, second = held.state.purchases[0], held.state.purchases[1]
        assert isinstance(first, PastLine) and first.event is None
        assert "event" not in first.model_fields_set and "event" in second.model_fields_set
        assert first.model_fields_set is not second.model_fields_set


def weigh(weight: int, name: str) -> Held:
    state = CustomerState(customer=name)
    return Held(1, state, {}, {}, weight)


def test_the_cache_is_bounded_by_elements_as_well_as_customers() -> None:
    cache = Cache(size=100, budget=10)
    for n in range(5):
        cache.put(f"c{n}", weigh(3, f"c{n}"))
    assert len(cache) == 3 and cache.elements == 9  # the fourth would pass the budget
    assert cache.get("c4", 1) is not None and cache.get("c1", 1) is None
    cache.put("big", weigh(50, "big"))  # the customer used last is held whatever its size
    assert len(cache) == 1 and cache.elements == 50
    assert Cache(size=7).budget == 7_000  # the default: 1,000 elements per customer


def test_a_replay_holds_many_customers_within_its_element_budget(tmp_path: Path) -> None:
    path = tmp_path / "loyalty.db"
    with opened(str(path), default_cache=REPLAY_SIZE, default_cache_budget=REPLAY_ELEMENTS) as store:
        assert (store._cache.size, store._cache.budget) == (REPLAY_SIZE, REPLAY_ELEMENTS)
    given = {"default_cache": REPLAY_SIZE, "default_cache_budget": REPLAY_ELEMENTS}
    with opened(f"sqlite:///{path}?cache=5", **given) as store:  # the URL's size, its own budget
        assert (store._cache.size, store._cache.budget) == (5, 5_000)
    with opened(str(path), cache=3, **given) as store:
        assert (store._cache.size, store._cache.budget) == (3, 3_000)


def test_states_written_out_early_are_held_once_the_group_commits(
    sql_url: str, events: list[dict[str, Any]]
) -> None:
    first = events[:120]
    customers = {event["customer"] for event in first}
    with opened(sql_url, batch_elements=1) as store:  # every event's batch goes out early, bases let go
        loyalty = Loyalty(ENGINE, store, horizon=None)
        with pytest.raises(RuntimeError), store.group():
            for event in first:
                loyalty.handle(event)
            assert store.early_writes > 0 and len(store._cache) == 0  # nothing held before the commit
            raise RuntimeError("the group fails")
        assert len(store._cache) == 0  # rolled back: nothing of it held
        with store.group():
            for event in first:
                loyalty.handle(event)
        assert store.early_writes > 0
        assert {name for name in customers if store._cache._held.get(name)} == customers
        for name in customers:  # what is held is what the database has (the engine's models)
            held = store._cache._held[name]
            assert held.revision == store._lock_customer(name)
            assert held.state.model_dump_json() == validated(store, name).model_dump_json()
