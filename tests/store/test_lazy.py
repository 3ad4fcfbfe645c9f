"""A long list read back lazily (store/lazy.py): each row validated when first read.

- `LazyRows` reads as the list of its parsed elements, whatever is asked of it and in whatever
  order (hypothesis: indexing, slices, iteration, `in`, `index`, `count`, comparisons, bisection,
  appends, copies, pickles): the same elements, each parsed at most once and then always the same
  object (the store's identity diff needs that), the rows not read left as text.
- A store that reads states lazily writes the same database and gives the same answers as one that
  validates every row at the read: a generated year of coffee-club customers (one past 128
  elements a list), each event's customer read back from the database (`cache=0`), on SQLite and
  PostgreSQL; and it leaves rows unparsed: what the laziness is for.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.store import lists
from rules_engine.store.lazy import LazyRows
from rules_engine.store.sql import SqlStore
from tests.store import year

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "programs" / "coffee-club.yaml").read_text()
ENGINE = Engine(load_program_text(TEXT, "coffee-club.yaml"), secret=b"lazy tests")
PROGRAM = ENGINE.program.program


@dataclass(frozen=True)
class Box:
    value: int


class Parser:
    """Parses a row's text into a `Box`, counting its calls per text."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, text: str) -> Box:
        self.calls[text] = self.calls.get(text, 0) + 1
        return Box(json.loads(text)["v"])


def rows(values: list[int]) -> tuple[LazyRows, Parser]:
    parse = Parser()
    return LazyRows([json.dumps({"v": v, "at": n}) for n, v in enumerate(values)], parse), parse


def test_an_element_is_parsed_when_first_read_and_is_then_always_the_same_object() -> None:
    lazy, parse = rows([5, 3, 9, 1])
    assert lazy.left == 4 and len(lazy) == 4
    first = lazy[1]
    assert first == Box(3) and lazy[1] is first and lazy[-3] is first
    assert lazy.left == 3 and sum(parse.calls.values()) == 1
    assert [type(x) for x in list.__iter__(lazy)] == [str, Box, str, str]  # the others still rows
    assert lazy[0:2][1] is first and lazy.left == 2
    assert list(lazy) == [Box(5), Box(3), Box(9), Box(1)] and lazy.left == 0
    assert all(n == 1 for n in parse.calls.values())


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("item"), st.integers(-12, 11)),
        st.tuples(
            st.just("slice"), st.integers(-14, 14), st.integers(-14, 14), st.sampled_from([1, 1, 2, -1])
        ),
        st.tuples(st.just("iter"), st.integers(0, 12)),
        st.tuples(st.just("reversed")),
        st.tuples(st.just("in"), st.integers(0, 9)),
        st.tuples(st.just("index"), st.integers(0, 9)),
        st.tuples(st.just("count"), st.integers(0, 9)),
        st.tuples(st.just("bisect"), st.integers(0, 9), st.integers(0, 12)),
        st.tuples(st.just("extend"), st.lists(st.integers(0, 9), max_size=3)),
        st.tuples(st.just("equal")),
        st.tuples(st.just("copy")),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(0, 9), max_size=12), ops=OPS)
def test_lazy_rows_read_as_the_list_of_their_parsed_elements(values: list[int], ops: list[Any]) -> None:
    lazy, parse = rows(values)
    expected: list[Box] = [Box(v) for v in values]
    seen: dict[int, Box] = {}  # index → the object first read there: always the same one after
    for op in ops:
        kind = op[0]
        if kind == "item":
            index = op[1]
            if -len(expected) <= index < len(expected):
                got = lazy[index]
                assert got == expected[index]
                assert seen.setdefault(index % len(expected), got) is got
            else:
                with pytest.raises(IndexError):
                    lazy[index]
        elif kind == "slice":
            part = slice(op[1], op[2], op[3])
            got_list = lazy[part]
            assert type(got_list) is list and got_list == expected[part]
        elif kind == "iter":
            got_items = list(zip(range(op[1]), lazy, strict=False))
            assert [x for _, x in got_items] == expected[: op[1]]
        elif kind == "reversed":
            assert list(reversed(lazy)) == expected[::-1]
        elif kind == "in":
            assert (Box(op[1]) in lazy) == (Box(op[1]) in expected)
        elif kind == "index":
            if Box(op[1]) in expected:
                assert lazy.index(Box(op[1])) == expected.index(Box(op[1]))
            else:
                with pytest.raises(ValueError):
                    lazy.index(Box(op[1]))
        elif kind == "count":
            assert lazy.count(Box(op[1])) == expected.count(Box(op[1]))
        elif kind == "bisect":
            high = min(op[2], len(expected))
            key = lambda box: box.value  # noqa: E731
            ordered_lazy, ordered = sorted(expected, key=key), sorted(expected, key=key)
            assert bisect.bisect_left(ordered_lazy, op[1], 0, high, key=key) == bisect.bisect_left(
                ordered, op[1], 0, high, key=key
            )
            # on the lazy storage itself (bisect reads a list subclass through __getitem__)
            got_at = bisect.bisect_left(lazy, op[1], 0, high, key=key)
            probe = [b.value for b in expected[:high]]
            if probe == sorted(probe):
                assert got_at == bisect.bisect_left(probe, op[1])
        elif kind == "extend":
            new = [Box(v) for v in op[1]]
            lazy.extend(new)
            expected.extend(new)
        elif kind == "equal":
            assert lazy == expected
            assert (lazy != expected) is False
        elif kind == "copy":
            for made in (lazy.copy(), copy.copy(lazy), pickle.loads(pickle.dumps(lazy))):
                assert type(made) is list and made == expected
    assert len(lazy) == len(expected) and list(lazy) == expected
    for index, got in seen.items():
        assert lazy[index] is got
    assert all(n == 1 for n in parse.calls.values())  # each row parsed at most once
    assert lazy.left == 0 and all(type(x) is Box for x in list.__iter__(lazy))


def test_iteration_sees_what_is_appended_meanwhile_as_a_list_s_does() -> None:
    lazy, _ = rows([1, 2])
    walked = []
    for box in lazy:
        walked.append(box.value)
        if len(lazy) < 4:
            lazy.extend([Box(7)])
    assert walked == [1, 2, 7, 7]


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    """Four coffee-club customers over a year, one with 169 events: lists past 128 elements."""
    return year.four_customers(ENGINE, TEXT, b"lazy tests")


def opened(url: str, **options: Any) -> contextlib.AbstractContextManager[SqlStore]:
    return year.opened(url, PROGRAM, **options)


TABLES = {
    "customers": "SELECT customer, state FROM customers ORDER BY customer",
    "customer_lists": "SELECT customer, part, pos, body FROM customer_lists ORDER BY customer, part, pos",
    "events": "SELECT customer, event, packed, digest, at FROM events ORDER BY customer, event",
    "ledger": "SELECT * FROM ledger ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
}


def replayed(
    url: str, events: list[dict[str, Any]], answering: dict[str, bool] | None = None
) -> tuple[list[str], dict[str, list[Any]]]:
    """Each event's answer, and every table's rows, after the events through a store that reads
    each event's customer back from the database (`cache=0`). `answering` is True while the
    answer is made (its state, dumped whole, reads every element)."""
    answers = []
    answering = {} if answering is None else answering
    with opened(url, cache=0) as store:
        loyalty = Loyalty(ENGINE, store, horizon=None)
        for event in events:
            handled = loyalty.handle(event)
            answering["now"] = True
            answers.append(handled.decided.outcome().model_dump_json())
            answering["now"] = False
        tables = {name: [tuple(row) for row in store._execute(query, ())] for name, query in TABLES.items()}
    return answers, tables


def test_a_store_reading_lazily_writes_and_answers_what_one_reading_whole_does(
    sql_url: str, tmp_path: Path, events: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = {"lazily": 0}
    answering = {"now": False}
    for part, parse in list(lists._PARSERS.items()):

        def counted(text: str, parse: Any = parse) -> Any:
            parsed["lazily"] += not answering["now"]
            return parse(text)

        monkeypatch.setitem(lists._PARSERS, part, counted)
    read = {"long": 0}
    real_read = lists.read

    def counting_read(*arguments: Any) -> Any:
        held = real_read(*arguments)
        read["long"] += sum(len(v) for p, v in held.elements.items() if p in lists.LAZY and len(v) >= 128)
        return held

    monkeypatch.setattr("rules_engine.store.sql_writing.read", counting_read)
    lazily = replayed(sql_url, events, answering)
    assert read["long"] > 10 * parsed["lazily"] > 0  # long lists were read, and few of their rows parsed
    monkeypatch.setattr(lists, "LAZY", ())
    whole = replayed(f"sqlite:///{tmp_path / 'eager.db'}?synchronous=normal", events)
    assert lazily[0] == whole[0]
    # the states' rows, byte for byte; on SQLite every table (PostgreSQL keeps times and points
    # in columns of their own types)
    compared = TABLES if sql_url.startswith("sqlite") else ("customers", "customer_lists")
    for table in compared:
        assert lazily[1][table] == whole[1][table], table
