"""The condition context's basket lines (`conditions.build_context`): each line's record.

A line sent without custom attributes has its record copied from the line's own field dict
(less `attributes`, the declared custom attributes null): it must be exactly the record written
out field by field — the same keys in the same order, the same values — for lines with and
without attributes side by side, since expressions, the explain trees and the interpreter read it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine import conditions
from rules_engine.engine.evaluator import Engine
from rules_engine.program.validate import load_program_text
from tests.engine.two_paths import PROGRAMS

_PROGRAM = """
program: records
version: 1
timezone: Europe/Moscow
currency: RUB
attributes:
  item:
    size: text
    weight: number
earn:
  - id: base
    rate: 1 per 100
  - id: big
    for_each_item: item.size == "L" or item.weight > 1
    award: 5
"""


def _record(line: dict[str, Any], declared: tuple[str, ...]) -> dict[str, Any]:
    """A line's record written out: its standard fields, then each declared custom attribute."""
    record: dict[str, Any] = {
        "sku": line["sku"],
        "name": line.get("name"),
        "category": line.get("category"),
        "price": Decimal(line["price"]),
        "qty": Decimal(line["qty"]),
    }
    sent = line.get("attributes") or {}
    for name in declared:
        value = sent.get(name)
        record[name] = Decimal(value) if name == "weight" and value is not None else value
    return record


def _records(engine: Engine, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The basket's records of the context the event's conditions read (explain on: it is built)."""
    built: list[Any] = []
    build = conditions.build_context

    def kept(run: Any) -> Any:
        context = build(run)
        built.append(context)
        return context

    monkeypatch.setattr(conditions, "build_context", kept)
    engine.process(event, None, explain=True)
    assert built
    return list(built[0]["basket"]["items"])


_LINE = st.fixed_dictionaries(
    {
        "sku": st.sampled_from(["A", "LATTE-L", "Ш-1"]),
        "price": st.sampled_from(["0.01", "320.00", "1500"]),
        "qty": st.sampled_from([1, 2, "0.5"]),
    },
    optional={
        "name": st.sampled_from(["Latte", "Круассан"]),
        "category": st.sampled_from(["coffee", "pastry"]),
        "attributes": st.fixed_dictionaries(
            {}, optional={"size": st.sampled_from(["S", "L"]), "weight": st.sampled_from([1, 3])}
        ),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_LINE, min_size=1, max_size=6))
def test_each_line_has_the_record_written_out_field_by_field(lines: list[dict[str, Any]]) -> None:
    engine = Engine(load_program_text(_PROGRAM, "records.yaml"))
    event = {
        "id": "e1",
        "type": "purchase",
        "time": "2026-12-01T09:00:00+03:00",
        "customer": "c1",
        "items": lines,
    }
    with pytest.MonkeyPatch.context() as monkeypatch:
        records = _records(engine, event, monkeypatch)
    expected = [_record(line, ("size", "weight")) for line in lines]
    assert records == expected
    assert [list(record) for record in records] == [list(record) for record in expected]  # key order


def test_a_record_is_a_copy_never_the_lines_own_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine.from_file(PROGRAMS / "coffee-club.yaml")
    event = {
        "id": "e1",
        "type": "purchase",
        "time": "2026-12-01T09:00:00+03:00",
        "customer": "c1",
        "items": [{"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 1}],
    }
    (record,) = _records(engine, event, monkeypatch)
    assert record == {
        "sku": "LATTE",
        "name": None,
        "category": "coffee",
        "price": Decimal("320.00"),
        "qty": Decimal(1),
        "size": None,
    }
    assert "attributes" not in record
