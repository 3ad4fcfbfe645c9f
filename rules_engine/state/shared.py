"""A state's long lists, shared between the states of one customer: `SharedList`.

A customer's state is a value: the state before an event stays what it was when the event is
processed (`Result.state` of event N does not change when event N+1 is processed). Its long lists
(the lots, the purchase lines kept, the ids of the events processed) change at every event by a
few elements at the ends — the oldest leave at the head, the event's join at the tail — and a
new list for each new state was a copy of thousands of references per event, then as many
decrements when the old state died, and the garbage collector's walks over every new copy: for a
customer with a year of history, a quarter of an event's instructions (bench/README.md,
"Instructions").

A `SharedList` is a read-only window `[start, end)` on a Python list it may share with other
windows (the storage of a Go slice). `appended` makes the next state's list from the previous
one's: when nothing was appended after the window yet, the new elements are appended to the shared
storage in place and the new window is moved over them; the older window still sees exactly its
own elements, since elements inside any window are never written, only added after the last
window's end. When something was (the same state used twice, a branch), the elements are copied
once, as before. The storage is copied again (compacted) only when more than half of it has left
every new window, so it stays at most twice the live length and each element is copied a bounded
number of times.

Everywhere else a `SharedList` reads as the list it stands for: length, indexing and slices (a
slice is a new plain list), iteration, `in`, equality with lists; it is dumped as a JSON array, and
the model's field type stays a list (states read from JSON or made by hand hold plain lists, and
every function that takes a state's list takes either). Nothing mutates a state's list, as before.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, SupportsIndex, TypeVar, overload

T = TypeVar("T")
V = TypeVar("V")

SHARED_FROM = 128
"""Shorter lists are copied: a copy of a short list costs less than what reading a `SharedList`
(Python methods, not a list's C slots) costs the stages that read it."""
COMPACT_AFTER = 256
"""The storage is compacted once this many elements (and more than the live ones) left the head."""

_LOCK = threading.Lock()  # the check "nothing appended after the window" and the append, as one


class SharedList(Sequence[T]):
    """A read-only list: the elements `items[start:end]` of a storage it may share (module doc).

    Never subclassed: the functions below tell one by `type(x) is SharedList`, since `isinstance`
    of an ABC's subclass (`Sequence`) is a Python call, made by every event for each long list."""

    __slots__ = (
        "_end",
        "_items",
        "_start",
        "memo_ids",
        "memo_points",
        "memo_reminded",
        "memo_since",
        "memo_tail",
        "memo_window",
    )

    def __init__(self, items: list[T], start: int, end: int) -> None:
        self._items = items
        self._start = start
        self._end = end
        # What the engine knows of this very window (`Memo`): it dies with the list, so it needs
        # no table and no bound, and is never seen by another window of the same storage.
        self.memo_ids: Any = None  # engine/processed.py: the ids as a set
        self.memo_points: Any = None  # engine/lot_points.py: the lots' points, for a balance
        self.memo_reminded: Any = None  # engine/lot_memos.py: the expiry reminder's reach
        self.memo_since: Any = None  # engine/running.py: where the running sums' window starts
        self.memo_tail: Any = None  # engine/lifecycle.py: the pending lots' reading
        self.memo_window: Any = None  # engine/lot_memos.py: the soonest return window's close

    def __len__(self) -> int:
        return self._end - self._start

    @overload
    def __getitem__(self, index: SupportsIndex) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> T | list[T]:
        start, end = self._start, self._end
        if type(index) is int:  # the usual read (`lots[0]`, `lots[-1]`): a comparison or two
            at = (start if index >= 0 else end) + index
            if start <= at < end:
                return self._items[at]
            raise IndexError("list index out of range")
        if isinstance(index, slice):
            first, stop, step = index.indices(end - start)
            if step == 1:
                return self._items[start + first : start + max(first, stop)]
            return self._items[start:end][index]
        i = index.__index__()
        if i < 0:
            i += end - start
        if not 0 <= i < end - start:
            raise IndexError("list index out of range")
        return self._items[start + i]

    def __iter__(self) -> Iterator[T]:
        items, start, end = self._items, self._start, self._end
        if start == 0:  # up to the end: what a later state appends while this runs is not its
            return itertools.islice(items, end)
        return map(items.__getitem__, range(start, end))  # lazy, in C: no walk over the head

    def __reversed__(self) -> Iterator[T]:
        return map(self._items.__getitem__, range(self._end - 1, self._start - 1, -1))

    def __contains__(self, value: object) -> bool:
        try:
            self._items.index(value, self._start, self._end)  # type: ignore[arg-type]
        except ValueError:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SharedList | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        same = self.__eq__(other)
        return same if same is NotImplemented else not same

    __hash__ = None  # type: ignore[assignment]  # as a list's

    def __add__(self, other: Iterable[T]) -> list[T]:
        return [*self, *other]

    def __radd__(self, other: Iterable[T]) -> list[T]:
        return [*other, *self]

    def __repr__(self) -> str:
        return repr(list(self))

    def __copy__(self) -> SharedList[T]:
        return self  # read-only: a copy is itself

    def __deepcopy__(self, memo: dict[int, Any]) -> list[T]:
        import copy

        return copy.deepcopy(list(self), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its own elements on a storage of their own, without the memos: what the
        engine knew of this list holds lists of the state it came from, which the copy is not."""
        items = self._items[self._start : self._end]
        return (SharedList, (items, 0, len(items)))

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """As `list.index`."""
        first, last, _ = slice(start, stop).indices(len(self))
        return self._items.index(value, self._start + first, self._start + last) - self._start

    def count(self, value: Any) -> int:
        return sum(1 for item in self if item is value or item == value)


class ShortList(list[T]):
    """A short list the engine made (`appended`, below `SHARED_FROM`): a plain list in every way
    (its C slots: indexing, `len`, iteration at a list's speed; equal to lists, dumped as one), with
    room for what the engine knows of it (`Memo`), as a `SharedList` has.

    Why: a plain list's memo goes to a table bounded at `PLAIN_KEPT` entries, which a process
    interleaving more customers than that forgot before each customer's next event (every event
    then rebuilt its memos: the ids' set, the pending lots' reading, the reminder's reach). A
    memo kept on the list dies with it: no table, no bound, none held for a state no longer in use.

    The memos are instance attributes over class defaults of None: a list without a memo has no
    instance dict (nothing made when the list is), and reading a memo never raises. Pickled and
    deep-copied as its elements only (the memos are of this very list, not of a copy); a slice or
    `+` is a plain list, as `SharedList`'s are. Never subclassed (`type(x) is ShortList`)."""

    memo_ids: Any = None  # engine/processed.py: the ids as a set
    memo_points: Any = None  # engine/lot_points.py: the lots' points, for a balance
    memo_reminded: Any = None  # engine/lot_memos.py: the expiry reminder's reach
    memo_since: Any = None  # engine/running.py: where the running sums' window starts
    memo_tail: Any = None  # engine/lifecycle.py: the pending lots' reading
    memo_window: Any = None  # engine/lot_memos.py: the soonest return window's close

    def __reduce__(self) -> tuple[Any, ...]:
        return (ShortList, (list(self),))

    def __copy__(self) -> ShortList[T]:
        return ShortList(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> ShortList[T]:
        import copy

        return ShortList(copy.deepcopy(list(self), memo))


def appended(values: Sequence[T], new: Sequence[T], dropped: int = 0) -> list[T] | SharedList[T]:
    """`[*values[dropped:], *new]`, as a `SharedList` that shares `values`' storage when it can (in
    place, without a copy of `values`: the module docstring); `values` itself is never changed as
    seen through it. A short result is a `ShortList`, a copy (`SHARED_FROM`)."""
    if type(values) is SharedList:  # not `isinstance`: a Python call (the class docstring)
        items, start, end = values._items, values._start + dropped, values._end  # no `len()`: a
        if start > end:  # Python call on a `SharedList`, at every event for each long list
            start = end
        if end - start + len(new) < SHARED_FROM:  # a copy costs less than a window
            short: ShortList[T] = ShortList(items[start:end])
            if new:
                short.extend(new)
            return short
        with _LOCK:
            shared = end == len(items)
            if shared:
                items.extend(new)
        if shared:
            end += len(new)
            if start > COMPACT_AFTER and start > end - start:  # mostly gone: a storage of its own
                items, start, end = items[start:end], 0, end - start
            return SharedList(items, start, end)
        own = items[start:end]
    else:
        if max(0, len(values) - dropped) + len(new) < SHARED_FROM:  # a copy costs less than a window
            short = ShortList(values[dropped:] if dropped else values)
            if new:
                short.extend(new)
            return short
        own = list(values[dropped:]) if dropped else list(values)
    own.extend(new)
    return SharedList(own, 0, len(own))


def window(values: Sequence[T]) -> tuple[Sequence[T], int, int]:
    """`(items, start, end)`: `values` is `items[start:end]`, `items` a list when `values` is a
    `SharedList` or a list (for `bisect`'s `lo` and `hi`: probes in C, not through Python methods)."""
    if type(values) is SharedList:  # not `isinstance` (the class docstring)
        return values._items, values._start, values._end
    return values, 0, len(values)


def plain(values: Sequence[T]) -> list[T]:
    """`values` as a plain list (itself when it is one)."""
    return values if isinstance(values, list) else list(values)


PLAIN_KEPT = 256
"""How many memos of plain lists one `Memo` keeps (the oldest forgotten first)."""


class Memo(Generic[V]):
    """What is known of a state's list, kept beside it for as long as the list lives: the list's
    identity is the key, valid because a state's lists are never changed.

    On a `SharedList` (a long list the engine made) or a `ShortList` (a short one it made) the memo
    is in one of its attributes (`slot`): it dies with the list, so a process that interleaves any
    number of customers keeps every customer's memos (a table bounded at 256 entries forgot all of
    them before a customer's next event once more than 256 customers were interleaved, and each
    event rebuilt them), and holds no memo of a state no longer in use. A plain list (read from
    JSON, made by hand, or by a store) cannot hold one:
    its memo goes to a table by identity that holds the list too (so that its id is not reused
    while the entry lives), bounded at `PLAIN_KEPT` entries, the oldest forgotten first
    (`OrderedDict.popitem`, one C call, safe for threads as each read and write is)."""

    __slots__ = ("_kept", "_slot", "_table")

    def __init__(self, slot: str, kept: int = PLAIN_KEPT) -> None:
        self._slot = slot
        self._kept = kept
        self._table: OrderedDict[int, tuple[Sequence[Any], V]] = OrderedDict()

    def get(self, values: Sequence[Any]) -> V | None:
        """The memo kept for this very list, or None."""
        kind = type(values)
        if kind is SharedList or kind is ShortList:  # not `isinstance` (the class docstring)
            memo: V | None = getattr(values, self._slot)
            return memo
        known = self._table.get(id(values))
        if known is not None and known[0] is values:
            return known[1]
        return None

    def put(self, values: Sequence[Any], memo: V) -> None:
        """Keep `memo` for `values` (replacing what was kept)."""
        kind = type(values)
        if kind is SharedList or kind is ShortList:
            setattr(values, self._slot, memo)
            return
        table = self._table
        if len(table) >= self._kept:
            try:  # noqa: SIM105  # another thread may have taken the last one (not `contextlib.suppress`:
                # three Python calls, at every event once the table is full)
                table.popitem(last=False)
            except KeyError:
                pass
        table[id(values)] = (values, memo)

    def take(self, values: Sequence[Any]) -> V | None:
        """The memo kept for `values`, no longer kept for it (it is handed on to another list)."""
        kind = type(values)
        if kind is SharedList or kind is ShortList:
            memo: V | None = getattr(values, self._slot)
            setattr(values, self._slot, None)
            return memo
        known = self._table.pop(id(values), None)
        if known is not None and known[0] is values:
            return known[1]
        return None

    def clear(self) -> None:
        """Forget the plain lists' memos (tests; the lists' own slots are theirs)."""
        self._table.clear()
