"""A long list read back from its rows, each element parsed when first read: `LazyRows`.

A state read back from the database (lists.py `read`) used to validate every row of its long
lists into models — a year of a café regular: thousands of lots, purchase lines and activity
records, ~5-16 µs each — while an event reads a few of them: the lots due at the head (by expiry),
the pending ones at the tail, a bisection's probes, the latest activity (bench/README.md,
"lazyrows"). A replay whose customers interleave reads most states back (the cache cannot hold
them), so that validation was the largest part of its time, and grew with the customers' history.

A `LazyRows` is the storage of the list's `SharedList` (state/shared.py), a `list` whose slots
hold each row's text until the element is first read through any of its methods — indexing (a
bisection's probes too: `bisect` reads a list subclass through `__getitem__`), slices, iteration,
`in`, `index`, comparisons —, when it is validated on its own (the same adapter as the state's
field, so the same model as the whole state's validation makes) and put in its slot for good: an
element is parsed once, and every later read gives the same object, which the store's identity
diff (lists.py `plan`) needs. An element never read is never parsed; its row is never written
either, since the next state's window shares the same storage and `plan` reads the change off the
windows' bounds. The engine's next state appends to the storage in place (`extend`: the new
elements are models), and a compaction's slice (`appended`) is a plain list of models.

What reads a list's slots directly in C without its methods would see a text: `PySequence_Fast`
(`str.join`, `json.dumps`), `heapq`, `list.__eq__`… — none is given a state's storage: the
storage is reached only through `SharedList` and `window()`, whose callers index, slice, iterate
and bisect it. `__eq__` and the other methods are overridden all the same. A copy or pickle of
the storage is a plain list of models.

A body that does not validate (a row edited by hand) raises pydantic's error where it is first
read, in the event, which then fails and changes nothing: before, the read failed.

Threads: two threads reading the same element may both validate it; the slot takes the first
model and both get that one (a lock around the check and the store).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, SupportsIndex

_LOCK = threading.Lock()
_get = list.__getitem__
_set = list.__setitem__
_iter = list.__iter__


class LazyRows(list[Any]):
    """A list whose elements are row texts until read (module docstring). `parse` makes an
    element from its row's text; `left` counts the texts not yet parsed (0: a plain list's
    reads, in C, for iteration)."""

    __slots__ = ("left", "parse")

    def __init__(self, texts: list[str], parse: Callable[[str], Any]) -> None:
        super().__init__(texts)
        self.parse = parse
        self.left = len(texts)

    def _parsed(self, index: int, text: str) -> Any:
        value = self.parse(text)
        with _LOCK:
            now = _get(self, index)
            if type(now) is str:  # elements are models: a text is a row not yet read
                _set(self, index, value)
                self.left -= 1
                return value
            return now

    def _all(self, start: int = 0, stop: int | None = None) -> None:
        """Parse the elements in [start, stop) that are texts still."""
        if not self.left:
            return
        end = len(self) if stop is None else stop
        for index in range(start, end):
            value = _get(self, index)
            if type(value) is str:
                self._parsed(index, value)

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        if type(index) is slice:
            if self.left:
                start, stop, step = index.indices(len(self))
                if step == 1:
                    self._all(start, max(start, stop))
                else:
                    self._all()
            return _get(self, index)
        value = _get(self, index)
        if type(value) is str:
            i = index.__index__()
            return self._parsed(i + len(self) if i < 0 else i, value)
        return value

    def __iter__(self) -> Iterator[Any]:
        if not self.left:
            return _iter(self)
        return self._lazily()

    def _lazily(self) -> Iterator[Any]:
        index = 0
        while index < len(self):  # as a list's iterator: sees what is appended meanwhile
            value = _get(self, index)
            yield self._parsed(index, value) if type(value) is str else value
            index += 1

    def __reversed__(self) -> Iterator[Any]:
        self._all()
        return list.__reversed__(self)

    def __contains__(self, value: object) -> bool:
        self._all()
        return list.__contains__(self, value)

    def index(self, value: Any, start: SupportsIndex = 0, stop: SupportsIndex | None = None) -> int:
        self._all()
        if stop is None:
            return list.index(self, value, start)
        return list.index(self, value, start, stop)

    def count(self, value: Any) -> int:
        self._all()
        return list.count(self, value)

    def copy(self) -> list[Any]:
        self._all()
        return list(_iter(self))

    def __copy__(self) -> list[Any]:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        import copy

        return copy.deepcopy(self.copy(), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (self.copy(),))

    def __eq__(self, other: object) -> bool:
        self._all()
        if isinstance(other, LazyRows):
            other._all()
        return list.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        same = self.__eq__(other)
        return same if same is NotImplemented else not same

    __hash__ = None

    def __lt__(self, other: list[Any]) -> bool:
        self._all()
        return list.__lt__(self, other)

    def __le__(self, other: list[Any]) -> bool:
        self._all()
        return list.__le__(self, other)

    def __gt__(self, other: list[Any]) -> bool:
        self._all()
        return list.__gt__(self, other)

    def __ge__(self, other: list[Any]) -> bool:
        self._all()
        return list.__ge__(self, other)

    def __add__(self, other: list[Any]) -> list[Any]:
        return [*self, *other]

    def __mul__(self, times: SupportsIndex) -> list[Any]:
        return self.copy() * times

    def __rmul__(self, times: SupportsIndex) -> list[Any]:
        return self.copy() * times

    def __repr__(self) -> str:
        return repr(self.copy())

    def sort(self, *args: Any, **options: Any) -> None:
        self._all()
        list.sort(self, *args, **options)
