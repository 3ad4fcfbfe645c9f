"""A customer's state as the SQL stores keep it: a summary row, and a row per element of its long lists.

A state grows with a customer's history: a year of a café regular (1,000 purchases) holds about
3,400 lots, as many ledger entries, 3,000 purchase lines, 1,000 activity records and 1,000 event
ids — 2.3 MB of JSON — against a few KB for everything else. Parsing and writing that whole blob on
every event was about 90 % of an SQLite event (bench/README.md, "Store benchmark"). So the long
lists (`PARTS`) are kept one element per row in `customer_lists` (program, customer, part, pos,
body), and the customer's row keeps the rest of the state, its *summary*: what an event changes in
a list is written as the few rows it touched.

**What changed.** The engine never changes the state it is given: an event's new state shares the
unchanged elements of each list with the old one — the same Python objects (the models are frozen)
— and adds, replaces or leaves out others. `plan` compares a list with the one the store read or
wrote last, by identity (`is`), never by value: an element that is the same object keeps its row
untouched; one that is gone is deleted; a new one is inserted; a new object where an old one was (a
lot whose points were burnt, at its place in expiry order) is an update of that row. The usual case
costs less than a comparison: the next state's long list is the previous one's window moved on one
shared storage (state/shared.py), and the change is read off the two windows' bounds
(`_moved_window`), not from their thousands of elements. For that, the state the store holds has
each long list on a storage the engine may append to: a state read from the rows holds the lists
just read as windows (`read`), and one whose lists are not the held ones' windows moved on (a state
written whole by `put`, perhaps one state put under many customers, sharing its storage) is held on
a copy of its own (`own`), once. Before, the first event after each such state (every event of a
replay whose customers the cache cannot hold) copied the long lists and compared them element by
element: its store cost grew with the customer's history.

**Positions.** `pos` is an integer that orders a list's rows; only the order means anything. A list
written whole gets `GAP`, `2·GAP`, `3·GAP` … The common edits are then one statement per element:

- appended at the end (a new lot, ledger entry, purchase line, activity, event id): the last
  position + `GAP`, and past the customer's last position in any list (`plan`'s `after`): what
  one event appends to its lists then lands side by side, since SQLite keeps `customer_lists`
  in order of (program, customer, pos, part) from schema 12 — one page written for them, not one
  per list (bench/README.md);
- removed anywhere (lots expired or spent from the head, closed lots' ledger entries from the
  middle, the oldest event id): the row deleted, the others keep theirs;
- replaced in place: the row's body updated, its position kept;
- inserted before older elements (a lot that expires before lots earned earlier, after a program
  version with a shorter `expire_after`): a position between its neighbours' (their midpoint, or
  `GAP` below the first); about 20 insertions fit between two neighbours.

When an insertion finds no free position between its neighbours, that one list of that one
customer is written whole again (`plan` returns None): all its rows deleted, the elements
inserted at `GAP`, `2·GAP` … Correctness never depends on the edit being a common one: any new
list is written as some mix of these operations, and the order reads back exactly.

The element bodies are each element's JSON as pydantic writes it; reading assembles the summary
and the rows into one JSON document and validates it once (`assemble`), so a state reads back
exactly as it was written, as the blob did. Except the long lists of `LAZY` (lots, purchase lines,
activity, from `SHARED_FROM` elements): their windows' storage holds the rows' texts, each
validated on its own when the event first reads it (store/lazy.py) — an event reads a few of a
long list's thousands of elements (the lots due at the head, the latest at the tail), and
validating them all was the largest part of a replay whose customers the cache cannot hold.
"""

from __future__ import annotations

import collections
import itertools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter

from rules_engine.state.customer import CustomerState
from rules_engine.state.shared import SHARED_FROM, SharedList, appended, window
from rules_engine.store.lazy import LazyRows

PARTS: tuple[str, ...] = ("lots", "purchases", "activity", "processed")
"""The state's lists kept as rows; everything else is the summary. Their length is bounded by the
program's windows (a year of points, the tier window, the last 1,000 event ids), not by history,
but a year of a heavy customer is long. (The ledger is not the state's: each event's entries are
rows of the `ledger` table.)"""

# Migration 11, as it shipped: the lists it moves to rows, and what it drops from the summary (a
# state written before the ledger left it still carries one; the `ledger` table has every entry).
# Never derived from `PARTS`, which may change: a shipped migration never does.
_MIGRATION_11_PARTS = ("lots", "purchases", "activity", "processed")
_MIGRATION_11_DROPPED = ("ledger",)

GAP = 1 << 20
"""The distance between the positions of a list written whole, and of an appended element."""

_WINDOW = 16
"""How far ahead `plan` looks for an element by walking the list before it builds an index."""

_ADAPTERS = {part: TypeAdapter(get_args(CustomerState.model_fields[part].annotation)[0]) for part in PARTS}
_SERIALIZERS = {part: adapter.serializer for part, adapter in _ADAPTERS.items()}
"""The adapters' serializers, called directly: `TypeAdapter.dump_json`'s Python wrapper (its
options, all left at their defaults) was ~1-2 µs of each element's 3-12 µs, and an event writes ~8."""


def body(part: str, element: Any) -> str:
    """An element's JSON, as it is in the state's own JSON. An event id (`processed`) of ASCII
    text, the usual one, written by the json module's C escaper, as pydantic writes it (byte-equal:
    the same escapes, tests/store/test_long_lists.py), without a pydantic call."""
    if type(element) is str and element.isascii():
        return encode_basestring(element)
    return _SERIALIZERS[part].to_json(element).decode()


_LISTS = set(PARTS)  # left out of the summary


def summary(state: CustomerState) -> str:
    """The state's JSON without its long lists: the customer row's `state`. (The model's
    serializer called directly, as `model_dump_json` calls it with its defaults: without its
    Python wrapper and its sixteen keywords, one a summary written every event.)"""
    return state.__pydantic_serializer__.to_json(state, exclude=_LISTS).decode()


def assemble(summary_json: str, rows: dict[str, list[str]]) -> CustomerState:
    """The state from its summary and each list's element bodies in order (one validation)."""
    head = summary_json.rstrip()
    if not head.endswith("}"):
        raise ValueError("a state summary is a JSON object")
    head = head[:-1].rstrip()
    pieces = [head]
    comma = not head.endswith("{")
    for part in PARTS:
        pieces.append(f'{"," if comma else ""}"{part}":[{",".join(rows.get(part, ()))}]')
        comma = True
    pieces.append("}")
    return CustomerState.model_validate_json("".join(pieces))


@dataclass(frozen=True)
class Held:
    """One customer's state as a store read or wrote it, with what its rows are: the base that the
    next state is compared with (`plan`)."""

    revision: int
    """The customer row's revision when it was read or written: the cache is valid while the
    database has the same."""
    state: CustomerState
    elements: dict[str, Sequence[Any]]
    """Each list's elements as stored: what the rows hold. A `SharedList` as it is (read-only: its
    elements never change, state/shared.py), a plain list as a copy of its references (even if
    the list object were changed later)."""
    positions: dict[str, Sequence[int]]
    """Each list's positions, element by element."""
    weight: int
    """How many list elements: what holding it costs (cache.py)."""


def held(revision: int, state: CustomerState, positions: Mapping[str, Sequence[int]]) -> Held:
    elements = {part: _kept(getattr(state, part)) for part in PARTS}
    return Held(revision, state, elements, dict(positions), sum(map(len, elements.values())))


LAZY: tuple[str, ...] = ("lots", "purchases", "activity")
"""The lists whose long rows are read lazily (store/lazy.py): each element validated when the event
first reads it. Not `processed`: an event id is a JSON string, ~0.1 µs to read, and the duplicate
check builds a set of them all (engine/processed.py)."""


def read(
    revision: int, summary_json: str, rows: dict[str, list[str]], positions: dict[str, list[int]]
) -> Held:
    """A state read from its summary and rows (`assemble`), held: its long lists and their positions
    windows on the lists just read (`own`), which the engine's next state appends to in place. A
    long list of `LAZY` is not validated here: its window's storage holds the rows' texts, each
    validated when first read (store/lazy.py); the others are validated with the summary, at once."""
    lazy = {part: rows[part] for part in LAZY if len(rows.get(part, ())) >= SHARED_FROM}
    state = assemble(summary_json, {part: texts for part, texts in rows.items() if part not in lazy})
    for part in PARTS:
        if part not in lazy:
            _share_fields(getattr(state, part))
    update = {
        part: SharedList(LazyRows(lazy[part], _PARSERS[part]), 0, len(lazy[part]))
        if part in lazy
        else own(getattr(state, part), fresh=True)
        for part in PARTS
    }
    state = state.model_copy(update=update)
    return held(revision, state, {part: own(places, fresh=True) for part, places in positions.items()})


def _parser(part: str) -> Callable[[str], Any]:
    """An element of `part` from its row's text: validated as the state's field validates it (the
    same model), its fields given shared as `_share_fields` shares them."""
    validate = _ADAPTERS[part].validate_json

    def parse(text: str) -> Any:
        value = validate(text)
        _share_one(value)
        return value

    return parse


def _share_one(model: Any) -> None:
    """`_share_fields` of one model (and the models in its list fields)."""
    if _set_fields is None or not isinstance(model, BaseModel):
        return
    given, nested = _all_given(type(model))
    if len(model.__pydantic_fields_set__) == len(given):
        _set_fields(model, given)
    for name in nested:
        for inner in getattr(model, name):
            _share_one(inner)


_FIELDS_SLOT = (
    BaseModel.__dict__.get("__pydantic_fields_set__")
    if "__pydantic_fields_set__" in getattr(BaseModel, "__slots__", ())
    else None
)
_set_fields = None if _FIELDS_SLOT is None else _FIELDS_SLOT.__set__
_FIELDS_GIVEN = operator.attrgetter("__pydantic_fields_set__")
_ALL_GIVEN: dict[type[BaseModel], tuple[set[str], tuple[str, ...]]] = {}
"""Per model class: the set of all its fields, and its fields that hold lists of models."""


def _all_given(cls: type[BaseModel]) -> tuple[set[str], tuple[str, ...]]:
    found = _ALL_GIVEN.get(cls)
    if found is None:
        nested = tuple(
            name
            for name, field in cls.model_fields.items()
            if get_origin(field.annotation) is list
            and isinstance(inner := get_args(field.annotation)[0], type)
            and issubclass(inner, BaseModel)
        )
        found = _ALL_GIVEN[cls] = (set(cls.model_fields), nested)
    return found


def _share_fields(values: Sequence[Any]) -> None:
    """Give the models just read (and the models in their list fields: a lot's lines) one set of
    fields given per class, where theirs has every field (the bodies this store writes do), instead
    of one each: pydantic makes a new set for every model it validates, ~0.2-0.7 KB, about 40 % of a
    read state's memory (~1.9 KB an element at 100 purchases, 1.1 KB shared). Pydantic only reads
    the set (a copy is updated, `model_copy`), and a full set would not change if it did; the engine
    shares them the same way (engine/trusted.py). What a cache can hold is bounded by that memory
    (cache.py). A list of plain values (event ids) has none."""
    if _set_fields is None or not values or not isinstance(values[0], BaseModel):
        return
    given, nested = _all_given(type(values[0]))
    # Every field given (a model's set holds only its own fields' names: the sizes tell), the
    # usual case: every loop in C.
    if all(map(len(given).__eq__, map(len, map(_FIELDS_GIVEN, values)))):
        collections.deque(map(_set_fields, values, itertools.repeat(given)), maxlen=0)
    else:
        for model in values:
            if model.__pydantic_fields_set__ == given:
                _set_fields(model, given)
    for name in nested:
        _share_fields(list(itertools.chain.from_iterable(map(operator.attrgetter(name), values))))


_PARSERS = {part: _parser(part) for part in LAZY}


def _kept(values: Sequence[Any]) -> Sequence[Any]:
    return values if type(values) is SharedList else tuple(values)


def own(values: Sequence[Any], *, fresh: bool = False) -> Sequence[Any]:
    """A long list as a `SharedList` on a storage of its own, so that the engine's next state
    appends to it in place and `plan` compares the two by their windows (`_moved_window`): the
    cost of what changed, not of the list's length. `fresh`: `values` is a list nobody else holds
    (just read), taken as the storage without a copy; otherwise its elements are copied once (a
    state written whole, or whose storage may be another state's: `loyalty put` of one state
    under many customers, whose first events would each copy the lists and compare them whole).
    Short lists stay as they are (state/shared.py, `SHARED_FROM`)."""
    if len(values) < SHARED_FROM:
        return values
    if fresh and type(values) is list:
        return SharedList(values, 0, len(values))
    return SharedList(list(values), 0, len(values))


def owned(state: CustomerState, parts: Sequence[str]) -> CustomerState:
    """The state with these long lists each on a storage of its own (`own`), the same elements."""
    update = {part: own(getattr(state, part)) for part in parts}
    update = {part: values for part, values in update.items() if values is not getattr(state, part)}
    return state.model_copy(update=update) if update else state


@dataclass
class Plan:
    """The rows to change for one list: delete these positions, update these bodies in place,
    insert these new (position, element); and the new list's positions."""

    deleted: list[int]
    updated: list[tuple[int, Any]]
    inserted: list[tuple[int, Any]]
    positions: Sequence[int]
    moved: bool = False
    """Whether `new` is `old`'s window moved on one storage (`_moved_window`): then it shares the
    storage the base's state appends to; otherwise the store gives it one of its own (`own`)."""

    def __bool__(self) -> bool:
        return bool(self.deleted or self.updated or self.inserted)


def whole(new: Sequence[Any]) -> list[int]:
    """The positions of a list written whole."""
    return list(range(GAP, GAP * (len(new) + 1), GAP))


def _same_run(old: Sequence[Any], i: int, new: Sequence[Any], j: int) -> int:
    """How many elements from old[i] and new[j] on are the same objects: a few compared here, then
    the rest at once in C (the common case: all of them), and only if that fails, one by one."""
    most = min(len(old) - i, len(new) - j)
    k = 0
    while k < most and k < _WINDOW:
        if old[i + k] is not new[j + k]:
            return k
        k += 1
    if k == most:
        return k
    if all(map(operator.is_, itertools.islice(old, i + k, None), itertools.islice(new, j + k, None))):
        return most
    differ = map(operator.is_not, itertools.islice(old, i + k, None), itertools.islice(new, j + k, None))
    return k + next(itertools.compress(itertools.count(), differ))


class _Finder:
    """Where an object is in a list from some index on, by identity: a short walk first, then an
    index of the whole list, built once, when the walk does not find it."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items
        self.index: dict[int, int] | None = None

    def after(self, thing: Any, start: int) -> int | None:
        items = self.items
        stop = min(start + _WINDOW, len(items))
        for k in range(start, stop):
            if items[k] is thing:
                return k
        if stop == len(items):
            return None
        if self.index is None:  # each object's first place (built from the end, in C)
            self.index = dict(zip(map(id, reversed(items)), range(len(items) - 1, -1, -1), strict=True))
        found = self.index.get(id(thing))
        if found is None or found >= stop:
            return found
        # the same object is in the list more than once, its first place before `stop`: rare
        return next((k for k in range(stop, len(items)) if items[k] is thing), None)


def _moved_window(
    old: Sequence[Any], old_positions: Sequence[int], new: Sequence[Any], after: int = 0
) -> Plan | None:
    """The plan when `new` is `old`'s window moved on one shared storage (state/shared.py: the
    engine's next state of a long list): the elements that left the head deleted, those after
    `old`'s end inserted, without a look at the elements both hold. They are the same objects by
    construction — a storage's elements inside any window are never written —, so the plan costs
    what changed, not the list's length (a year of lots or purchase lines: thousands). The new
    positions share the old ones' storage the same way. None when `new` is not such a window."""
    if type(old) is not SharedList or type(new) is not SharedList:  # `type`: state/shared.py
        return None
    items, start, end = window(old)
    new_items, new_start, new_end = window(new)
    if new_items is not items or not start <= new_start <= end <= new_end:
        return None
    dropped = new_start - start
    last = max(old_positions[-1], after) if old_positions else after
    added = list(range(last + GAP, last + GAP * (new_end - end + 1), GAP))
    inserted = list(zip(added, items[end:new_end], strict=True))
    return Plan(
        list(old_positions[:dropped]), [], inserted, appended(old_positions, added, dropped), moved=True
    )


def plan(old: Sequence[Any], old_positions: Sequence[int], new: Sequence[Any], after: int = 0) -> Plan | None:
    """The row changes that turn the stored list `old` (at `old_positions`) into `new`; None when
    an insertion has no free position between its neighbours (write the list whole). Elements
    appended at the end are placed past `after` too (the customer's last position in any list:
    `top`), so that what one event appends to each list lands side by side. See the module
    docstring."""
    moved = _moved_window(old, old_positions, new, after)
    if moved is not None:
        return moved
    if len(new) >= len(old) and all(map(operator.is_, old, new)):  # the common case: kept, appended to
        if len(new) == len(old):
            return Plan([], [], [], list(old_positions))
        last = max(old_positions[-1], after) if old_positions else after
        added = range(last + GAP, last + GAP * (len(new) - len(old) + 1), GAP)
        return Plan([], [], list(zip(added, new[len(old) :], strict=True)), [*old_positions, *added])
    deleted: list[int] = []
    updated: list[tuple[int, Any]] = []
    positions: list[int] = []
    gaps: list[list[int]] = []  # [first index, count] of the runs of new elements to place
    in_old, in_new = _Finder(old), _Finder(new)
    i = j = 0
    while i < len(old) and j < len(new):
        run = _same_run(old, i, new, j)
        if run:
            positions += old_positions[i : i + run]
            i, j = i + run, j + run
            continue
        k = in_old.after(new[j], i + 1)
        if k is not None:  # old[i:k] are gone
            deleted += old_positions[i:k]
            i = k
        elif in_new.after(old[i], j + 1) is not None:  # new[j] comes before old[i]
            if gaps and gaps[-1][0] + gaps[-1][1] == j:
                gaps[-1][1] += 1
            else:
                gaps.append([j, 1])
            positions.append(0)
            j += 1
        else:  # new[j] takes old[i]'s place
            updated.append((old_positions[i], new[j]))
            positions.append(old_positions[i])
            i, j = i + 1, j + 1
    deleted += old_positions[i:]
    if j < len(new):
        if gaps and gaps[-1][0] + gaps[-1][1] == j:
            gaps[-1][1] += len(new) - j
        else:
            gaps.append([j, len(new) - j])
        positions += [0] * (len(new) - j)
    inserted: list[tuple[int, Any]] = []
    for first, count in gaps:
        low = positions[first - 1] if first else None
        high = positions[first + count] if first + count < len(positions) else None
        if low is None and high is None:
            fresh = [after + GAP * (t + 1) for t in range(count)]
        elif high is None:
            assert low is not None
            fresh = [max(low, after) + GAP * (t + 1) for t in range(count)]
        elif low is None:
            fresh = [high - GAP * (count - t) for t in range(count)]
        else:
            span = high - low
            if span <= count:
                return None
            fresh = [low + span * (t + 1) // (count + 1) for t in range(count)]
        positions[first : first + count] = fresh
        inserted += zip(fresh, new[first : first + count], strict=True)
    return Plan(deleted, updated, inserted, positions)


def migration_statements(dialect: str) -> tuple[str, ...]:
    """Migration 11: the table of list elements, and every stored state split into its summary and
    rows (the ledger an older state carries dropped), in SQL (all or nothing with the other
    migrations of the transaction). `IF NOT EXISTS`: applying it again to a database that lost
    its record of it is harmless — a summary has no lists left to move."""
    names = ", ".join(f"('{part}')" for part in _MIGRATION_11_PARTS)
    removed_keys = (*_MIGRATION_11_PARTS, *_MIGRATION_11_DROPPED)
    if dialect == "sqlite":
        paths = ", ".join(f"'$.{part}'" for part in removed_keys)
        return (
            """CREATE TABLE IF NOT EXISTS customer_lists (
                program TEXT NOT NULL, customer TEXT NOT NULL, part TEXT NOT NULL, pos INTEGER NOT NULL,
                body TEXT NOT NULL, PRIMARY KEY (program, customer, part, pos)) WITHOUT ROWID""",
            f"""INSERT INTO customer_lists (program, customer, part, pos, body)
                SELECT c.program, c.customer, p.column1, (CAST(e.key AS INTEGER) + 1) * {GAP},
                       CASE WHEN e.type IN ('object', 'array') THEN e.value
                            WHEN e.type IN ('true', 'false') THEN e.type
                            ELSE json_quote(e.value) END
                FROM customers AS c, (VALUES {names}) AS p, json_each(c.state, '$.' || p.column1) AS e
                WHERE c.revision > 0 AND json_type(c.state, '$.' || p.column1) = 'array'""",
            f"UPDATE customers SET state = json_remove(state, {paths}) WHERE revision > 0",
        )
    removed = " - ".join(["(state::jsonb)", *(f"'{part}'" for part in removed_keys)])
    return (
        """CREATE TABLE IF NOT EXISTS customer_lists (
            program TEXT NOT NULL, customer TEXT NOT NULL, part TEXT NOT NULL, pos BIGINT NOT NULL,
            body TEXT NOT NULL, PRIMARY KEY (program, customer, part, pos))""",
        f"""INSERT INTO customer_lists (program, customer, part, pos, body)
            SELECT c.program, c.customer, p.part, e.n * {GAP}, e.value::text
            FROM (SELECT program, customer, state::jsonb AS state FROM customers WHERE revision > 0) AS c
            CROSS JOIN (VALUES {names}) AS p(part)
            CROSS JOIN LATERAL jsonb_array_elements(
                CASE WHEN jsonb_typeof(c.state -> p.part) = 'array' THEN c.state -> p.part END
            ) WITH ORDINALITY AS e(value, n)""",
        f"UPDATE customers SET state = ({removed})::text WHERE revision > 0",
    )
