"""The state's records made from values already valid (`unvalidated` says how and why): lot and
ledger lines, counted and past lines, lots and ledger entries, the models the engine makes most
often, each spelt out as a literal dict and shared by value where they repeat.

Here, in the state's package, because they are the state's own models (state/customer.py) and the
state makes them too (compact.py: a lot's model from its tuple); engine/trusted.py re-exports them
beside the outcome's points changes and the trace entries, where the engine imports them from.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from rules_engine.state.customer import CountedLine, LedgerEntry, LedgerLine, Lot, LotLine, PastLine
from rules_engine.unvalidated import _FAST, _new, _spelt_out, twin

__all__ = [
    "award_records",
    "awards_records",
    "counted_line",
    "counted_lines",
    "counted_lines_shared",
    "earn_entry",
    "earned_lots",
    "expiry_entries",
    "ledger_entry",
    "past_line",
    "past_lines",
    "past_lines_of",
    "points_lot",
]

_ZERO = Decimal(0)


# -- the models made most often, spelt out: a literal dict is what makes them cheap ---------------
# Each is made as an instance of its class's slot holder (`unvalidated.twin`), its four slots set
# by plain attribute stores, and then made an instance of the class itself.
_LOT_LINE = ("line", "sku", "qty", "points")
_LOT_LINE_FAST = _spelt_out(LotLine, *_LOT_LINE)
_LOT_LINE_GIVEN = set(_LOT_LINE)
_LEDGER_LINE = ("line", "points")
_LEDGER_LINE_FAST = _spelt_out(LedgerLine, *_LEDGER_LINE)
_LEDGER_LINE_GIVEN = set(_LEDGER_LINE)
_LOT_LINE_SLOTS, _LEDGER_LINE_SLOTS = twin(LotLine), twin(LedgerLine)


# The line shares already made, by value: models are frozen, so states can share them. Most shares
# repeat (a line's index and a small number of points; the same SKUs and quantities): a look-up
# costs a third of making the two models, and a model shared is one less object for the collector
# to scan for as long as the state lives. Two levels: a basket line (its index, SKU and quantity's
# text) → its shares by the points' text; the line's table is looked up once per event, whatever
# the number of awards on it, and each share is then one look-up of a string. Keyed by the
# decimals' text, which tells 5 from 5.0 (equal decimals, but not the same JSON); one look-up
# gives both records of a share; emptied when it holds that many shares, so it stays small. A
# share's points are also looked up by the decimal itself (its hash is kept in the object), the
# entry taken only when it was made from that very object (`is`: the same digits and exponent):
# most points are the shared small decimals (money.SMALL), found without making their text.
_LINES_KEPT = 4096
_SHARES_MADE = [0]  # how many shares the tables hold
_SHARES: dict[tuple[int, str, str], dict[str | Decimal, tuple[LotLine, LedgerLine, Decimal]]] = {}


def _share_records(i: int, sku: str, qty: Decimal, points: Decimal) -> tuple[LotLine, LedgerLine, Decimal]:
    """The `LotLine` and `LedgerLine` of one share, made (not looked up)."""
    lot_model = _new(_LOT_LINE_SLOTS)
    lot_model.__dict__ = {"line": i, "sku": sku, "qty": qty, "points": points}
    lot_model.__pydantic_fields_set__ = _LOT_LINE_GIVEN
    lot_model.__pydantic_extra__ = None
    lot_model.__pydantic_private__ = None
    lot_model.__class__ = LotLine
    ledger_model = _new(_LEDGER_LINE_SLOTS)
    ledger_model.__dict__ = {"line": i, "points": points}
    ledger_model.__pydantic_fields_set__ = _LEDGER_LINE_GIVEN
    ledger_model.__pydantic_extra__ = None
    ledger_model.__pydantic_private__ = None
    ledger_model.__class__ = LedgerLine
    return lot_model, ledger_model, points


def award_records(
    shares: tuple[tuple[int, str, Decimal], ...], quantities: list[Decimal]
) -> tuple[list[LotLine], tuple[LedgerLine, ...]]:
    """An award's line shares `(line, sku, points)` as its lot's `LotLine`s and its ledger entry's
    `LedgerLine`s (`quantities`: each line's quantity): what the new state keeps of them. One
    award's `awards_records`."""
    return awards_records((shares,), quantities)[0]


def awards_records(
    awards: Iterable[Sequence[tuple[int, str, Decimal]]], quantities: list[Decimal]
) -> list[tuple[list[LotLine], tuple[LedgerLine, ...]]]:
    """`award_records` of every award of an event (each its line shares), in one loop: the awards
    of an event share its basket's lines, so each line's table of shares is found once."""
    if not (_LOT_LINE_FAST and _LEDGER_LINE_FAST):
        return [
            (
                [LotLine(line=i, sku=sku, qty=quantities[i], points=points) for i, sku, points in shares],
                tuple(LedgerLine(line=i, points=points) for i, _, points in shares),
            )
            for shares in awards
        ]
    made: list[tuple[list[LotLine], tuple[LedgerLine, ...]]] = []
    # this event's lines: each line's SKU and table of shares, found at its first share
    tables: list[tuple[str, dict[str | Decimal, tuple[LotLine, LedgerLine, Decimal]]] | None]
    tables = [None] * len(quantities)
    kept = _SHARES
    for shares in awards:
        lot_lines: list[LotLine] = []
        ledger_lines: list[LedgerLine] = []
        for i, sku, points in shares:
            line = tables[i]
            if line is not None and line[0] == sku:
                table = line[1]
            else:
                key = (i, sku, str(quantities[i]))
                found = kept.get(key)
                table = kept[key] = {} if found is None else found
                tables[i] = (sku, table)
            records = table.get(points)
            if records is not None and records[2] is points:  # made from this very decimal
                lot_lines.append(records[0])
                ledger_lines.append(records[1])
                continue
            mine = records is None  # no entry for the decimal's value yet: this one's
            text = str(points)
            records = table.get(text)
            if records is not None:
                if mine and records[2] is points:
                    table[points] = records
            else:
                records = _share_records(i, sku, quantities[i], points)
                if _SHARES_MADE[0] >= _LINES_KEPT:  # full: start again (this event's tables go too)
                    kept.clear()
                    _SHARES_MADE[0] = 0
                    tables = [None] * len(quantities)
                    table = kept[i, sku, str(quantities[i])] = {}
                    tables[i] = (sku, table)
                _SHARES_MADE[0] += 1
                table[text] = records
                if mine:
                    table[points] = records
            lot_lines.append(records[0])
            ledger_lines.append(records[1])
        made.append((lot_lines, tuple(ledger_lines)))
    return made


_COUNTED_LINE = ("line", "sku", "qty", "added", "returned")
_COUNTED_LINE_FAST = _spelt_out(CountedLine, *_COUNTED_LINE)
_COUNTED_LINE_GIVEN = {"line", "sku", "qty", "added"}
_COUNTED_LINE_SLOTS = twin(CountedLine)
_COUNTED_LINES: dict[tuple[int, str, str, str], CountedLine] = {}


def counted_line(line: int, sku: str, qty: Decimal, added: Decimal) -> CountedLine:
    """`CountedLine(line=…, sku=…, qty=…, added=…)`: a purchase line a challenge counted, shared
    by value as the line shares of `award_records` are (the same reasons, the same bound)."""
    if not _COUNTED_LINE_FAST:
        return CountedLine(line=line, sku=sku, qty=qty, added=added)
    key = (line, sku, str(qty), str(added))
    model = _COUNTED_LINES.get(key)
    if model is None:
        model = _new(_COUNTED_LINE_SLOTS)
        model.__dict__ = {"line": line, "sku": sku, "qty": qty, "added": added, "returned": _ZERO}
        model.__pydantic_fields_set__ = _COUNTED_LINE_GIVEN
        model.__pydantic_extra__ = None
        model.__pydantic_private__ = None
        model.__class__ = CountedLine
        if len(_COUNTED_LINES) >= _LINES_KEPT:
            _COUNTED_LINES.clear()
        _COUNTED_LINES[key] = model
    return model


def counted_lines(items: Iterable[Any], parts: list[Decimal] | None) -> list[CountedLine]:
    """`counted_line(i, line.sku, line.qty, parts[i] if parts else 0)` of each line of a purchase,
    in one loop (each line's model looked up by value, as `counted_line` does): a challenge that
    counts a purchase keeps a record of every line."""
    made: list[CountedLine] = []
    kept = _COUNTED_LINES
    for i, line in enumerate(items):
        sku, qty = line.sku, line.qty
        added = parts[i] if parts else _ZERO
        model = kept.get((i, sku, str(qty), str(added))) if _COUNTED_LINE_FAST else None
        made.append(model if model is not None else counted_line(i, sku, qty, added))
    return made


_PAST_LINE = ("sku", "category", "price", "qty", "date", "event")
_PAST_LINE_FAST = _spelt_out(PastLine, *_PAST_LINE)
_PAST_LINE_GIVEN = set(_PAST_LINE)
_PAST_LINE_SLOTS = twin(PastLine)


def past_line(
    sku: str, category: str | None, price: Decimal, qty: Decimal, date: dt.date, event: str
) -> PastLine:
    """`PastLine(sku=…, category=…, price=…, qty=…, date=…, event=…)`."""
    if not _PAST_LINE_FAST:
        return PastLine(sku=sku, category=category, price=price, qty=qty, date=date, event=event)
    model = _new(_PAST_LINE_SLOTS)
    model.__dict__ = {
        "sku": sku,
        "category": category,
        "price": price,
        "qty": qty,
        "date": date,
        "event": event,
    }
    model.__pydantic_fields_set__ = _PAST_LINE_GIVEN
    model.__pydantic_extra__ = None
    model.__pydantic_private__ = None
    model.__class__ = PastLine
    return model


def past_lines(items: Iterable[Any], day: dt.date, event: str) -> list[PastLine]:
    """`[past_line(line.sku, line.category, line.price, line.qty, day, event) for line in items]`
    in one loop, the makers bound once: every purchase adds its lines to the history."""
    if not _PAST_LINE_FAST:
        return [past_line(line.sku, line.category, line.price, line.qty, day, event) for line in items]
    return past_lines_of(map(_FIELDS, items), day, event)


_FIELDS = operator.attrgetter("__dict__")  # a model's field dict


def past_lines_of(fields: Iterable[dict[str, Any]], day: dt.date, event: str) -> list[PastLine]:
    """`past_lines` of the lines' field dicts (each line model's `__dict__`, as `Engine.process`'s
    run holds them already): each field read as a dict's item, not through the event model's
    `__getattr__` hook (four reads a line, ten lines a purchase)."""
    if not _PAST_LINE_FAST:
        return [
            past_line(line["sku"], line["category"], line["price"], line["qty"], day, event)
            for line in fields
        ]
    made: list[PastLine] = []
    given = _PAST_LINE_GIVEN
    for line in fields:
        model = _new(_PAST_LINE_SLOTS)
        model.__dict__ = {
            "sku": line["sku"],
            "category": line["category"],
            "price": line["price"],
            "qty": line["qty"],
            "date": day,
            "event": event,
        }
        model.__pydantic_fields_set__ = given
        model.__pydantic_extra__ = None
        model.__pydantic_private__ = None
        model.__class__ = PastLine
        made.append(model)
    return made


_LOT = ("event", "rule", "points", "earned_at", "available_at", "expires_at", "lines")
_LOT_FAST = _spelt_out(Lot, *_LOT)
_LOT_GIVEN = set(_LOT)
_LOT_SLOTS = twin(Lot)


def points_lot(
    event: str,
    rule: str,
    points: Decimal,
    earned_at: dt.datetime,
    available_at: dt.datetime,
    expires_at: dt.datetime | None,
    lines: list[LotLine],
) -> Lot:
    """`Lot(event=…, rule=…, points=…, earned_at=…, available_at=…, expires_at=…, lines=…)`."""
    if not _LOT_FAST:
        return Lot(
            event=event,
            rule=rule,
            points=points,
            earned_at=earned_at,
            available_at=available_at,
            expires_at=expires_at,
            lines=lines,
        )
    model = _new(_LOT_SLOTS)
    model.__dict__ = {
        "event": event,
        "rule": rule,
        "points": points,
        "earned_at": earned_at,
        "available_at": available_at,
        "expires_at": expires_at,
        "lines": lines,
    }
    model.__pydantic_fields_set__ = _LOT_GIVEN
    model.__pydantic_extra__ = None
    model.__pydantic_private__ = None
    model.__class__ = Lot
    return model


_LEDGER_ENTRY = ("event", "rule", "kind", "points", "lot", "at", "version", "rule_hash", "lines")
# LedgerEntry's one validator reads an entry written before entries held their lines (`line`): an
# entry made here never is one, so validation would give the same instance as below.
_LEDGER_ENTRY_FAST = _FAST and tuple(LedgerEntry.model_fields) == _LEDGER_ENTRY
_LEDGER_ENTRY_GIVEN = {"event", "rule", "kind", "points", "lot", "at", "version"}
_LEDGER_ENTRY_SLOTS = twin(LedgerEntry)


def ledger_entry(
    event: str, rule: str, kind: str, points: Decimal, lot: str, at: dt.datetime, version: int
) -> LedgerEntry:
    """`LedgerEntry(event=…, rule=…, kind=…, points=…, lot=…, at=…, version=…)`: an entry of no
    basket lines (an expiry, a burn)."""
    if not _LEDGER_ENTRY_FAST:
        return LedgerEntry(event=event, rule=rule, kind=kind, points=points, lot=lot, at=at, version=version)
    model = _new(_LEDGER_ENTRY_SLOTS)
    model.__dict__ = {
        "event": event,
        "rule": rule,
        "kind": kind,
        "points": points,
        "lot": lot,
        "at": at,
        "version": version,
        "rule_hash": None,
        "lines": (),
    }
    model.__pydantic_fields_set__ = _LEDGER_ENTRY_GIVEN
    model.__pydantic_extra__ = None
    model.__pydantic_private__ = None
    model.__class__ = LedgerEntry
    return model


_EARN_ENTRY_GIVEN = {*_LEDGER_ENTRY_GIVEN, "rule_hash", "lines"}


def expiry_entries(
    event: str, version: int, expired: Iterable[tuple[str, Decimal, str, dt.datetime]]
) -> list[LedgerEntry]:
    """`ledger_entry(event, rule, "expire", -points, lot, at, version)` of each `(rule, points, lot,
    at)` expired, in one loop: an event of a long history expires a dozen lots or more."""
    if not _LEDGER_ENTRY_FAST:
        return [
            ledger_entry(event, rule, "expire", -points, lot, at, version)
            for rule, points, lot, at in expired
        ]
    made: list[LedgerEntry] = []
    given = _LEDGER_ENTRY_GIVEN
    for rule, points, lot, at in expired:
        model = _new(_LEDGER_ENTRY_SLOTS)
        model.__dict__ = {
            "event": event,
            "rule": rule,
            "kind": "expire",
            "points": -points,
            "lot": lot,
            "at": at,
            "version": version,
            "rule_hash": None,
            "lines": (),
        }
        model.__pydantic_fields_set__ = given
        model.__pydantic_extra__ = None
        model.__pydantic_private__ = None
        model.__class__ = LedgerEntry
        made.append(model)
    return made


def earn_entry(
    event: str,
    rule: str,
    points: Decimal,
    lot: str,
    at: dt.datetime,
    version: int,
    rule_hash: str | None,
    lines: tuple[LedgerLine, ...],
) -> LedgerEntry:
    """`LedgerEntry(event=…, rule=…, kind="earn", points=…, lot=…, at=…, version=…, rule_hash=…, lines=…)`."""
    if not _LEDGER_ENTRY_FAST:
        return LedgerEntry(
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
    model = _new(_LEDGER_ENTRY_SLOTS)
    model.__dict__ = {
        "event": event,
        "rule": rule,
        "kind": "earn",
        "points": points,
        "lot": lot,
        "at": at,
        "version": version,
        "rule_hash": rule_hash,
        "lines": lines,
    }
    model.__pydantic_fields_set__ = _EARN_ENTRY_GIVEN
    model.__pydantic_extra__ = None
    model.__pydantic_private__ = None
    model.__class__ = LedgerEntry
    return model


def earned_lots(
    event: str,
    awards: Sequence[Any],
    lines: Sequence[Sequence[LotLine]],
    at: dt.datetime,
    available_at: dt.datetime,
    expires_at: dt.datetime | None,
) -> tuple[list[Lot], list[str]]:
    """The lots of an event's awards (each with its `rule` and `points`; `lines`: each lot's
    lines, a list or a `lot_lines.LotLines` made when read) and the lots' ids, each lot
    `points_lot(...)`, the makers bound once and each id made once (a purchase makes four or
    five). No earn ledger entries: `process`'s result makes those when its ledger is first read
    (engine/settle.py `outcome`, `earn_entry` each), so a caller that keeps the new state and reads
    no ledger (a replay in memory, `simulate`) makes none."""
    if not _LOT_FAST:
        made = [
            points_lot(event, award.rule, award.points, at, available_at, expires_at, list(lot_lines))
            for award, lot_lines in zip(awards, lines, strict=True)
        ]
        return made, [f"{event}/{award.rule}" for award in awards]
    lots: list[Lot] = []
    ids: list[str] = []
    given = _LOT_GIVEN
    for award, lot_lines in zip(awards, lines, strict=True):
        rule = award.rule
        model = _new(_LOT_SLOTS)
        model.__dict__ = {
            "event": event,
            "rule": rule,
            "points": award.points,
            "earned_at": at,
            "available_at": available_at,
            "expires_at": expires_at,
            "lines": lot_lines,
        }
        model.__pydantic_fields_set__ = given
        model.__pydantic_extra__ = None
        model.__pydantic_private__ = None
        model.__class__ = Lot
        lots.append(model)
        ids.append(f"{event}/{rule}")
    return lots, ids


# -- a challenge's counted lines, found by their decimals' objects (engine/mechanics/challenges.py)

# (line, sku, qty, added) by value → (the model, the qty and added objects it was found for)
_COUNTED_BY_OBJECT: dict[tuple[int, str, Decimal, Decimal], tuple[CountedLine, Decimal, Decimal]] = {}


def counted_lines_shared(items: Iterable[Any], parts: list[Decimal]) -> list[CountedLine]:
    """`counted_lines(items, parts)`, each line's model found first by its quantity and part as the
    very decimal objects it was found for before (`is`: the same digits and exponent, so the same
    text), without making their text: the event reader's whole quantities are shared decimals
    (`reader_checks._SMALL`) and a count's parts are two, so most lines of a challenge's purchase cost
    one look-up. Any other line is made or found as `counted_line` does, by the decimals' text."""
    if not _COUNTED_LINE_FAST:
        return counted_lines(items, parts)
    made: list[CountedLine] = []
    kept = _COUNTED_BY_OBJECT
    for i, line in enumerate(items):
        sku, qty = line.sku, line.qty
        added = parts[i]
        key = (i, sku, qty, added)
        found = kept.get(key)
        if found is not None and found[1] is qty and found[2] is added:
            made.append(found[0])
            continue
        model = counted_line(i, sku, qty, added)
        if found is None:
            if len(kept) >= _LINES_KEPT:
                kept.clear()
            kept[key] = (model, qty, added)
        made.append(model)
    return made
