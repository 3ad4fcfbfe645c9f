"""The state's records made by their slot holders (state/records.py, `unvalidated.twin`) are the
very instances validation gives: the same class, equal, the same dump, JSON and fields set, and
they pickle, copy and `model_copy` as validated ones do. The state's digests and stored bytes
are made from exactly these, so any difference here would change them."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from rules_engine.state import records
from rules_engine.state.customer import CountedLine, LedgerEntry, LedgerLine, Lot, LotLine, PastLine
from rules_engine.unvalidated import replaced, trusted

_decimals = st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
_texts = st.text(min_size=1, max_size=8)
_days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1))
_times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


def _same(made: BaseModel, validated: BaseModel) -> None:
    assert type(made) is type(validated)
    assert made == validated
    assert made.model_dump() == validated.model_dump()
    assert made.model_dump_json() == validated.model_dump_json()
    assert made.model_fields_set == validated.model_fields_set
    assert list(made.__dict__) == list(validated.__dict__)
    assert made.__pydantic_extra__ is None and made.__pydantic_private__ is None
    assert pickle.loads(pickle.dumps(made)) == validated
    assert copy.copy(made) == validated and copy.deepcopy(made) == validated
    assert made.model_copy() == validated.model_copy()
    assert type(made).model_validate(made.model_dump()) == validated


@given(_texts, st.none() | _texts, _decimals, _decimals, _days, _texts)
def test_past_lines(
    sku: str, category: str | None, price: Decimal, qty: Decimal, day: dt.date, event: str
) -> None:
    validated = PastLine(sku=sku, category=category, price=price, qty=qty, date=day, event=event)
    _same(records.past_line(sku, category, price, qty, day, event), validated)
    fields = {"sku": sku, "category": category, "price": price, "qty": qty}
    (made,) = records.past_lines_of([fields], day, event)
    _same(made, validated)


@given(st.integers(0, 30), _texts, _decimals, _decimals)
def test_lot_and_ledger_lines(line: int, sku: str, qty: Decimal, points: Decimal) -> None:
    lot_lines, ledger_lines = records.award_records(((line, sku, points),), [qty] * (line + 1))
    _same(lot_lines[0], LotLine(line=line, sku=sku, qty=qty, points=points))
    _same(ledger_lines[0], LedgerLine(line=line, points=points))


@given(st.integers(0, 30), _texts, _decimals, _decimals)
def test_counted_lines(line: int, sku: str, qty: Decimal, added: Decimal) -> None:
    _same(records.counted_line(line, sku, qty, added), CountedLine(line=line, sku=sku, qty=qty, added=added))


@given(_texts, _texts, _decimals, _times, _times, st.none() | _times)
def test_lots(
    event: str, rule: str, points: Decimal, at: dt.datetime, available: dt.datetime, expires: Any
) -> None:
    lines = [LotLine(line=0, sku="a", qty=Decimal(1), points=points)]
    validated = Lot(
        event=event,
        rule=rule,
        points=points,
        earned_at=at,
        available_at=available,
        expires_at=expires,
        lines=lines,
    )
    _same(records.points_lot(event, rule, points, at, available, expires, lines), validated)


@given(_texts, _texts, _decimals, _texts, _times, st.integers(0, 9), st.none() | _texts)
def test_ledger_entries(
    event: str, rule: str, points: Decimal, lot: str, at: dt.datetime, version: int, rule_hash: Any
) -> None:
    validated = LedgerEntry(
        event=event, rule=rule, kind="burn", points=points, lot=lot, at=at, version=version
    )
    _same(records.ledger_entry(event, rule, "burn", points, lot, at, version), validated)
    (expired,) = records.expiry_entries(event, version, [(rule, -points, lot, at)])
    _same(expired, validated.model_copy(update={"kind": "expire"}))
    lines = (LedgerLine(line=0, points=points),)
    earned = LedgerEntry(
        event=event,
        rule=rule,
        kind="earn",
        points=points,
        lot=lot,
        at=at,
        version=version,
        rule_hash=rule_hash,
        lines=lines,
    )
    _same(records.earn_entry(event, rule, points, lot, at, version, rule_hash, lines), earned)


@given(st.integers(0, 30), _texts, _decimals, _decimals, st.integers(0, 30))
def test_trusted_and_replaced(line: int, sku: str, qty: Decimal, points: Decimal, other: int) -> None:
    values = {"line": line, "sku": sku, "qty": qty, "points": points}
    validated = LotLine(line=line, sku=sku, qty=qty, points=points)
    made = trusted(LotLine, values, set(values))
    _same(made, validated)
    _same(replaced(made, {"line": other}), validated.model_copy(update={"line": other}))
    assert made.model_copy(update={"line": other}) == validated.model_copy(update={"line": other})
