"""Memos that die with their list (state/shared.py's `Memo`): what the engine knows of a state's
long list (the processed ids' set, the pending lots' reading, the return window's soonest close,
the reminder's reach) is kept on the `SharedList` itself, not in a table bounded at 256 lists.

Asserted here: a memo answers as recomputing would, over random versions of lists (appends with
ids dropped, copies, windows of one storage, slices, pickles); a copy that is not the very list
(pickled, deep-copied, a window) carries no memo, and a `model_copy` shares the list and its memo;
a process interleaving more customers than a table kept still has each customer's memos at its
next event (issue 14: every event rebuilt them); and a dropped customer's memos go with its lists.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import gc
import json
import pickle
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine import lot_memos, processed, ripening
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.program.validate import load_program_text
from rules_engine.state import shared
from rules_engine.state.customer import CustomerState
from rules_engine.state.shared import Memo, SharedList, appended
from tests.engine.random_programs import programs, streams

MSK = dt.timezone(dt.timedelta(hours=3))
START = dt.datetime(2026, 1, 1, 9, tzinfo=MSK)


@contextlib.contextmanager
def _memos_everywhere(shared_from: int = 0) -> Iterator[None]:
    """Every appended list a `SharedList` (its storage compacted early), every ids list a set;
    `shared_from`: appended lists shorter than this are `ShortList`s (their memos on them too)."""
    old = (shared.SHARED_FROM, shared.COMPACT_AFTER, processed.SHORT)
    shared.SHARED_FROM, shared.COMPACT_AFTER, processed.SHORT = shared_from, 2, 0
    try:
        yield
    finally:
        shared.SHARED_FROM, shared.COMPACT_AFTER, processed.SHORT = old


ops = st.lists(
    st.tuples(
        st.sampled_from(["append", "copy", "deepcopy", "pickle", "window", "slice", "plain"]),
        st.integers(0, 60),  # which version
        st.integers(0, 4),  # dropped, or the window's cut
        st.integers(0, 30),  # the id appended (small: repeats and ids already in the list happen)
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    start=st.lists(st.integers(0, 30), max_size=6),
    steps=ops,
    probes=st.lists(st.integers(0, 40), max_size=5),
    shared_from=st.sampled_from([0, 4, 1000]),
)
def test_the_processed_ids_memo_answers_as_a_scan(
    start: list[int], steps: Any, probes: list[int], shared_from: int
) -> None:
    """`processed.seen` (a set kept on the list, carried by `processed.carried` to the next list)
    answers `id in list` for every version, whatever was made from what: lists made long
    (`SharedList`s), short (`ShortList`s) or both, as they cross the line."""
    with _memos_everywhere(shared_from):
        _versions(start, steps, probes)


def _versions(start: list[int], steps: Any, probes: list[int]) -> None:
    versions: list[Any] = [[f"e{i}" for i in start]]
    for op, which, cut, new in steps:
        values = versions[which % len(versions)]
        if op == "append":
            event = f"e{new}"
            processed.seen(values, event)  # as the engine asks before settle carries the set
            made = appended(values, [event], cut)
            processed.carried(values, made, values[:cut], event)
        elif op == "copy":
            made = copy.copy(values)
        elif op == "deepcopy":
            made = copy.deepcopy(values)
        elif op == "pickle":
            made = pickle.loads(pickle.dumps(values))
        elif op == "window" and type(values) is SharedList:  # another window on the same storage
            items, first, end = shared.window(values)
            made = SharedList(items, min(first + cut, end), end)
        elif op == "slice":
            made = values[cut:]
        else:
            made = list(values)
        versions.append(made)
        for version in versions:
            for probe in [*probes, new]:
                assert processed.seen(version, f"e{probe}") == (f"e{probe}" in list(version))


def test_a_memo_is_the_very_lists_own() -> None:
    """Two windows of one storage, a pickled or deep-copied list: none sees another's memo; a
    plain list's memo is kept by identity too, and `take` hands it on."""
    memo: Memo[str] = Memo("memo_window", kept=2)
    items = list(range(300))
    whole, tail = SharedList(items, 0, 300), SharedList(items, 100, 300)
    memo.put(whole, "whole")
    assert memo.get(whole) == "whole" and memo.get(tail) is None
    assert memo.get(pickle.loads(pickle.dumps(whole))) is None
    assert memo.get(copy.deepcopy(whole)) is None
    assert memo.get(copy.copy(whole)) == "whole"  # read-only: a copy is the list itself
    plain, other = [1, 2], [1, 2]
    memo.put(plain, "plain")
    assert memo.get(plain) == "plain" and memo.get(other) is None
    assert memo.take(whole) == "whole" and memo.get(whole) is None
    assert memo.take(plain) == "plain" and memo.get(plain) is None
    for n in range(5):  # plain lists: a bounded table, the oldest forgotten first
        memo.put([n], "x")
    assert len(memo._table) <= 2


def test_a_short_list_is_a_list_with_its_own_memos() -> None:
    """A short list the engine makes (`ShortList`) reads, compares and dumps as the plain list it
    stands for; its memo is its own: a copy, a pickle, a slice or a sum carries none, and a
    table's bound does not forget it."""
    memo: Memo[str] = Memo("memo_window", kept=2)
    made = appended(["a", "b", "c"], ["d"], 1)
    assert type(made) is shared.ShortList
    assert made == ["b", "c", "d"] and list(made) == ["b", "c", "d"] and len(made) == 3
    assert json.dumps(made) == '["b", "c", "d"]'
    memo.put(made, "mine")
    for n in range(5):  # more plain lists than the table keeps: the short list's memo stays
        memo.put([n], "x")
    assert memo.get(made) == "mine"
    for again in (copy.copy(made), copy.deepcopy(made), pickle.loads(pickle.dumps(made))):
        assert again == made and memo.get(again) is None
    assert type(made[1:]) is list and type(made + ["e"]) is list  # noqa: RUF005  # the `+` itself
    assert memo.take(made) == "mine" and memo.get(made) is None
    state = CustomerState.model_validate({"customer": "c", "processed": made})
    assert state.model_dump(mode="json")["processed"] == ["b", "c", "d"]


def test_short_lists_memos_live_however_many_customers_are_interleaved() -> None:
    """Customers whose lists are short (below `SHARED_FROM`, 60 purchases: 60 ids, a set kept
    for them) keep their memos between two of their events however many customers come between
    (a table of 256 plain lists forgot them all beyond 256 customers)."""
    engine = Engine.from_file("programs/coffee-club.yaml")
    template: CustomerState | None = None
    for day in range(60):
        template = engine.process(_purchase("tpl", day, day), template).state
    assert template is not None and len(template.processed) < shared.SHARED_FROM
    customers = [f"s{c:03d}" for c in range(300)]
    states = {c: template.model_copy(update={"customer": c}) for c in customers}
    for c in customers:
        states[c] = engine.process(_purchase(c, 70, 1000), states[c]).state
    assert type(states["s000"].processed) is shared.ShortList
    kept = {c: _memos(states[c]) for c in customers}
    assert kept["s000"]["ids"] is not None, kept["s000"]
    for c in customers:
        now = _memos(states[c])
        assert all(now[k] is kept[c][k] for k in now), c
        result = engine.process(_purchase(c, 71, 1001), states[c])
        assert processed.seen(result.state.processed, f"{c}-p1001")
        assert not processed.seen(result.state.processed, f"{c}-p1002")


def _purchase(customer: str, day: int, n: int) -> dict[str, Any]:
    return {
        "id": f"{customer}-p{n}",
        "type": "purchase",
        "customer": customer,
        "time": (START + dt.timedelta(days=day, seconds=n)).isoformat(),
        "items": [
            {"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 1 + n % 3},
            {"sku": "CROISSANT", "category": "pastry", "price": "180.50", "qty": 1},
        ],
    }


@pytest.fixture(scope="module")
def long_history() -> tuple[Engine, CustomerState]:
    """coffee-club after 160 purchases, a purchase a day: its ids and lots are `SharedList`s."""
    engine = Engine.from_file("programs/coffee-club.yaml")
    state: CustomerState | None = None
    for day in range(160):
        state = engine.process(_purchase("tpl", day, day), state).state
    assert state is not None
    assert type(state.processed) is SharedList and type(state.lots) is SharedList
    return engine, state


def _memos(state: CustomerState) -> dict[str, Any]:
    return {
        "ids": processed._SETS.get(state.processed),
        "window": lot_memos._CLOSES.get(state.lots),
        "tail": ripening._TAILS.get(state.lots),
    }


def test_every_customers_memos_live_however_many_are_interleaved(long_history: Any) -> None:
    """More customers than a table kept (256), one event each, round-robin: at a customer's next
    event its state still has every memo its previous event left (they were all forgotten)."""
    engine, template = long_history
    customers = [f"c{c:03d}" for c in range(300)]
    states = {c: template.model_copy(update={"customer": c}) for c in customers}
    for c in customers:
        states[c] = engine.process(_purchase(c, 170, 1000), states[c]).state
    kept = {c: _memos(states[c]) for c in customers}
    assert kept["c000"]["ids"] is not None and kept["c000"]["tail"] is not None, kept["c000"]
    for c in customers:
        now = _memos(states[c])
        assert all(now[k] is kept[c][k] for k in now), c  # the very memos: nothing rebuilt or lost
        states[c] = engine.process(_purchase(c, 171, 1001), states[c]).state


def test_a_dropped_customers_memos_go(long_history: Any) -> None:
    """The memos are the lists': once a customer's states are dropped, its memos are freed (no
    table holds them), and a pickle or deep copy of a state carries none."""
    engine, template = long_history
    state = engine.process(
        _purchase("gone", 170, 1000), template.model_copy(update={"customer": "gone"})
    ).state
    ids = processed._SETS.get(state.processed)
    assert ids is not None
    assert _memos(state.model_copy())["ids"] is ids  # a model copy shares the list, and its memo
    for again in (pickle.loads(pickle.dumps(state)), state.model_copy(deep=True), copy.deepcopy(state)):
        assert again == state
        assert all(memo is None for memo in _memos(again).values())
    held = sys.getrefcount(ids)  # this name, the call's argument and the list that keeps it
    lists = sum(type(o) is SharedList for o in gc.get_objects())
    del state
    gc.collect()
    # (the ids' memo is a dict of strings, which the collector does not track: no weak reference
    # to it, but its count says who holds it) only this test's name holds it now: no table does
    assert sys.getrefcount(ids) == held - 1 == 2
    assert sum(type(o) is SharedList for o in gc.get_objects()) < lists


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_public_windows_decide_as_states_without_memos(data: st.DataObject) -> None:
    """A working state's `public()` lists are windows on the storage the working state goes on
    appending to: an event decided on such a state (with whatever memos its lists hold) decides as
    on the same state read from JSON (plain lists, no memo), and the stream goes on as before."""
    with _memos_everywhere():
        _public_windows(data)


def _public_windows(data: st.DataObject) -> None:
    drawn = data.draw(programs(), label="program")
    engine = Engine(load_program_text(drawn.text, "random.yaml"), secret=b"random")
    events = data.draw(streams(drawn, customers=2, events=16), label="events")
    stream = Stream(engine)
    workings: dict[str, Any] = {}
    publics: list[CustomerState] = []
    for event in events:
        customer = event["customer"]
        working = workings.get(customer)
        if working is None:
            working = workings[customer] = stream.working(None)
        for public in publics[-3:]:  # earlier states, read again after later steps
            if public.customer != customer:
                continue
            fresh = CustomerState.model_validate_json(public.model_dump_json())
            try:
                kept = engine.process(event, public)
            except Exception as error:  # refused alike, by the same code
                with pytest.raises(type(error)):
                    engine.process(event, fresh)
                continue
            again = engine.process(event, fresh)
            assert kept.state.model_dump(mode="json") == again.state.model_dump(mode="json")
            assert kept.outcome().model_dump(mode="json") == again.outcome().model_dump(mode="json")
        try:
            stream.step(event, working)
        except Exception:  # a refused event changes nothing: the next one
            continue
        publics.append(working.public())
