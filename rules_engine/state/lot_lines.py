"""A lot's lines made when first read: `LotLines`, and the event's `Split` they are made from.

`Engine.process` gives each award a lot whose `lines` say which basket lines earned its points
(`LotLine`: line, SKU, quantity, points), kept so that a return can reverse exactly them. Most
lots are never returned: their lines are read only when the state is dumped (a store writing the
new lot, the state's JSON) or compared. Making them at every award was a quarter of `process`'s
instructions: the generated path gives most awards whole (`money.LineShares`: split when first
read), and the lines of a lot are that split, then a look-up of each share's shared models
(`records.awards_records`). Now the split and the look-ups wait until a lot's lines are read;
the earn ledger entries' lines (`LedgerLine`s, made when the result's ledger is read) come from
the same `Split`, so an event's awards are split once, whichever is read first.

A `LotLines` reads as the list it stands for (length, truth, indexing, iteration, equality with
lists, `repr`), is dumped as a JSON array (`customer._long`: `Lot.lines`' serializer) and pickled
and deep-copied as a plain list; the model's field type stays a list, so a lot read from JSON or
made by hand holds a plain list, and every reader takes either. Nothing mutates a lot's lines.

Threads: a `LotLines` or `Split` keeps its inputs or its value in one slot, read once: two
threads reading at once both find the inputs or the value (both may make equal values; either
is kept), never a half-made one (as `later.Later`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, SupportsIndex, overload

from rules_engine.state.customer import LedgerLine, LotLine
from rules_engine.state.records import awards_records

__all__ = ["LotLines", "Split", "lot_lines"]

Records = list[tuple[list[LotLine], tuple[LedgerLine, ...]]]


class Split:
    """The line shares of an event's awards (each a sequence of `(line, sku, points)`) and its
    basket's quantities, made into each award's `LotLine`s and `LedgerLine`s (`awards_records`)
    at the first `records()` call, then kept (the shares and quantities let go)."""

    __slots__ = ("_value",)

    def __init__(self, awards: list[Sequence[tuple[int, str, Decimal]]], quantities: list[Decimal]) -> None:
        self._value: Records | tuple[list[Sequence[tuple[int, str, Decimal]]], list[Decimal]] = (
            awards,
            quantities,
        )

    def records(self) -> Records:
        """Each award's `(lot lines, ledger lines)`, as `awards_records(awards, quantities)`."""
        value = self._value
        if type(value) is tuple:
            value = self._value = awards_records(*value)
        return value  # type: ignore[return-value]

    def any_lines(self, index: int) -> bool:
        """Whether award `index` has any line share, without making its records when they are
        not made yet (an unsplit `LineShares` knows it without the split)."""
        value = self._value
        if type(value) is tuple:
            return bool(value[0][index])
        return bool(value[index][0])


class LotLines(Sequence[LotLine]):
    """A lot's `LotLine`s, made from the event's `Split` when first read (module docstring).

    Never subclassed; read, compared, dumped and pickled as the `list[LotLine]` it stands for."""

    __slots__ = ("_value",)

    def __init__(self, split: Split, index: int) -> None:
        self._value: list[LotLine] | tuple[Split, int] = (split, index)

    def lines(self) -> list[LotLine]:
        """The lines (made at the first call, then kept; the split let go). Not to be changed."""
        value = self._value
        if type(value) is tuple:
            split, index = value
            value = self._value = split.records()[index][0]
        return value  # type: ignore[return-value]

    @property
    def made(self) -> bool:
        """Whether the lines are made (read once)."""
        return type(self._value) is list

    def __len__(self) -> int:
        return len(self.lines())

    def __bool__(self) -> bool:
        value = self._value
        if type(value) is tuple:
            split, index = value
            return split.any_lines(index)
        return bool(value)

    @overload
    def __getitem__(self, index: SupportsIndex) -> LotLine: ...

    @overload
    def __getitem__(self, index: slice) -> list[LotLine]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> LotLine | list[LotLine]:
        return self.lines()[index]

    def __iter__(self) -> Iterator[LotLine]:
        return iter(self.lines())

    def __reversed__(self) -> Iterator[LotLine]:
        return reversed(self.lines())

    def __contains__(self, value: object) -> bool:
        return value in self.lines()

    def __eq__(self, other: object) -> bool:
        if type(other) is LotLines:
            return self.lines() == other.lines()
        if isinstance(other, list):
            return self.lines() == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        same = self.__eq__(other)
        return same if same is NotImplemented else not same

    __hash__ = None  # type: ignore[assignment]  # as a list's

    def __repr__(self) -> str:
        return repr(self.lines())

    def __reduce__(self) -> tuple[type[list[LotLine]], tuple[list[LotLine]]]:
        return list, (self.lines(),)  # unpickled as the plain list it stands for

    def __copy__(self) -> LotLines:
        return self  # read-only: a copy is itself

    def __deepcopy__(self, memo: dict[int, Any]) -> list[LotLine]:
        import copy

        return copy.deepcopy(self.lines(), memo)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """As `list.index`."""
        return self.lines().index(value, start, len(self) if stop is None else stop)

    def count(self, value: Any) -> int:
        return self.lines().count(value)


def lot_lines(split: Split, count: int) -> list[LotLines]:
    """The `LotLines` of each of the `count` awards of `split`, in order, made without a call of
    the class each (a purchase makes four or five)."""
    made: list[LotLines] = []
    new, set_value = _new, _SET_VALUE
    for index in range(count):
        lines = new(LotLines)
        set_value(lines, (split, index))
        made.append(lines)
    return made


_new = object.__new__
_SET_VALUE = LotLines.__dict__["_value"].__set__
