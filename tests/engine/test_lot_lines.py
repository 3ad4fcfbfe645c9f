"""A lot's lines made when first read (state/lot_lines.py): `Engine.process` gives each new lot a
`LotLines` over the event's `Split`, not a list of `LotLine`s made at every award. Whatever reads
it — a return, the state's JSON, equality, a copy, a pickle — must see exactly the list the eager
makers give (`records.awards_records`), and the earn ledger entries' lines must be the same
records, whichever of the two is read first."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.money import LineShares, later_shares, line_shares
from rules_engine.state.customer import CustomerState, Lot, LotLine
from rules_engine.state.lot_lines import LotLines, Split, lot_lines
from rules_engine.state.records import awards_records, points_lot

ROOT = Path(__file__).resolve().parents[2]
COFFEE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
UTC = dt.UTC
AT = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SKUS = ("LATTE", "BEANS", "MUG", "WATER")
QUANTITIES = st.sampled_from([Decimal("1"), Decimal("2"), Decimal("2.0"), Decimal("0.5"), Decimal("3")])


@st.composite
def awards_of(draw: Any, lines: int) -> Any:
    """Awards over a basket of `lines` lines: each its shares as a tuple (the explaining path's)
    or an unsplit `LineShares` (the generated path's), some with no line at all."""
    made: list[Any] = []
    for _ in range(draw(st.integers(0, 4))):
        skus = [SKUS[i % len(SKUS)] for i in range(lines)]
        if draw(st.booleans()):
            units = draw(st.integers(1, 2000))
            weights = draw(st.lists(st.integers(0, 50), min_size=1, max_size=lines))
            made.append(later_shares(units, weights, skus[: len(weights)]))
        else:
            points = st.sampled_from([Decimal("1"), Decimal("2.5"), Decimal("5.0"), Decimal("7")])
            chosen = draw(st.lists(st.integers(0, lines - 1), unique=True, max_size=lines))
            made.append(tuple((i, skus[i], draw(points)) for i in sorted(chosen)))
    return made


def _fresh(awards: list[Any]) -> list[Any]:
    """The same awards, each `LineShares` a new unsplit one (a split is kept once made)."""
    return [
        later_shares(a._units, list(a._weights), list(a._skus)) if type(a) is LineShares else a
        for a in awards
    ]


def _lot(lines: Any, n: int) -> Lot:
    return points_lot("e1", f"r{n}", Decimal(5), AT, AT, None, lines)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 6).flatmap(lambda n: st.tuples(awards_of(n), st.lists(QUANTITIES, min_size=n, max_size=n)))
)
def test_lazy_lines_read_as_the_eager_ones(case: Any) -> None:
    awards, quantities = case
    eager = [lines for lines, _ in awards_records(_fresh(awards), quantities)]
    split = Split(_fresh(awards), quantities)
    lazy = lot_lines(split, len(awards))
    # truth first, as the return window's look does: no split, no record made
    assert [bool(lines) for lines in lazy] == [bool(lines) for lines in eager]
    assert not any(lines.made for lines in lazy)
    for lines, expected, n in zip(lazy, eager, range(len(eager)), strict=True):
        assert lines == expected and expected == lines
        assert not lines != expected  # noqa: SIM202 (the operator itself)
        assert len(lines) == len(expected) and list(lines) == expected
        assert list(reversed(lines)) == expected[::-1]
        assert lines[:] == expected[:] and (not expected or lines[-1] is expected[-1])
        assert repr(lines) == repr(expected)
        assert all(line in lines for line in expected)
        assert [lines.count(line) for line in expected] == [expected.count(line) for line in expected]
        made, plain = _lot(lines, n), _lot(expected, n)
        assert made == plain and plain == made
        assert made.model_dump_json() == plain.model_dump_json()
        assert made.model_dump() == plain.model_dump()
        assert made.model_copy(update={"points": Decimal(1)}) == plain.model_copy(
            update={"points": Decimal(1)}
        )
        unpickled = pickle.loads(pickle.dumps(made))
        assert unpickled == plain and type(unpickled.lines) is list
        deep = copy.deepcopy(made)
        assert deep == plain and type(deep.lines) is list
        assert copy.copy(lines) is lines
        assert Lot.model_validate_json(made.model_dump_json()) == plain
    assert all(lines.made for lines in lazy)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6).flatmap(lambda n: st.tuples(awards_of(n), st.lists(QUANTITIES, min_size=n, max_size=n)))
)
def test_the_ledger_lines_are_the_lots_records_whichever_is_read_first(case: Any) -> None:
    awards, quantities = case
    eager = awards_records(_fresh(awards), quantities)
    lots_first = Split(_fresh(awards), quantities)
    lazy = lot_lines(lots_first, len(awards))
    made = [list(lines) for lines in lazy]
    assert [(lines, ledger) for lines, (_, ledger) in zip(made, lots_first.records(), strict=True)] == eager
    ledger_first = Split(_fresh(awards), quantities)
    records = ledger_first.records()
    lazy = lot_lines(ledger_first, len(awards))
    assert all(lines.lines() is record[0] for lines, record in zip(lazy, records, strict=True))
    assert records == eager


def test_truth_of_unsplit_shares_does_not_split_them() -> None:
    shares = later_shares(7, [1, 0, 3], ["A", "B", "C"])
    assert shares and shares._made is None
    assert bool(later_shares(3, [0, 0], ["A", "B"])) == bool(line_shares(3, [0, 0], ["A", "B"]))
    assert shares == line_shares(7, [1, 0, 3], ["A", "B", "C"]) and shares._made is not None


def _purchase(n: int, at: dt.datetime) -> dict[str, Any]:
    items = [
        {"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 2},
        {"sku": "CROISSANT", "category": "pastry", "price": "180.00", "qty": 1},
        {"sku": "BEANS-1KG", "category": "beans", "price": "1450.00", "qty": 1},
        {"sku": "GIFT-500", "category": "gift_card", "price": "500.00", "qty": 1},
    ]
    return {"id": f"p{n}", "type": "purchase", "time": at.isoformat(), "customer": "c1", "items": items}


def _run(engine: Engine, events: list[dict[str, Any]], read: bool) -> CustomerState:
    """The state after `events`; `read`: every lot's lines read after each event (eager)."""
    state: CustomerState | None = None
    for event in events:
        state = engine.process(event, state).state
        if read:
            assert all(isinstance(list(lot.lines), list) for lot in state.lots)
    assert state is not None
    return state


def test_process_leaves_the_new_lots_lines_unmade_and_the_state_the_same() -> None:
    """A stream that reads only the points makes no lot's lines; the state's JSON, equality and a
    return read them as the lists of a state whose lines were read at every event, and of the
    same state read back from its JSON (plain lists), on both paths."""
    events = [_purchase(n, AT + dt.timedelta(hours=n)) for n in range(4)]
    back = {"id": "r1", "type": "return", "time": (AT + dt.timedelta(hours=5)).isoformat(), "customer": "c1",
            "purchase": "p3", "items": [{"sku": "LATTE-L", "qty": 1}]}  # fmt: skip
    for engine in (COFFEE, Engine(COFFEE.compiled, generated=False)):
        state = _run(engine, events, read=False)
        new = [lot.lines for lot in state.lots if type(lot.lines) is LotLines]
        assert len(new) >= 4 and not any(lines.made for lines in new)
        eager = _run(engine, events, read=True)
        text = state.model_dump_json()
        assert all(lines.made for lines in new)
        assert text == eager.model_dump_json()
        read_back = CustomerState.model_validate_json(text)
        assert all(type(lot.lines) is list for lot in read_back.lots)
        assert state == read_back and read_back == state and state == eager
        returned = engine.process(back, _run(engine, events, read=False)).state
        assert returned.model_dump_json() == engine.process(back, read_back).state.model_dump_json()


def test_the_earn_entries_lines_are_the_lots_lines() -> None:
    result = COFFEE.process(_purchase(1, AT), None)
    lots = {lot.id: lot for lot in result.state.lots}
    entries = [entry for entry in result.ledger if entry.kind == "earn"]
    assert entries
    for entry in entries:
        lines: list[LotLine] = list(lots[entry.lot].lines)
        assert [(line.line, line.points) for line in lines] == [
            (part.line, part.points) for part in entry.lines
        ]
