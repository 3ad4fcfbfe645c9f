"""A state's purchase lines (`customer.purchases`) as the state holds them: cut to what is kept
(`kept`), and a step's lines made only when read (`Bought`).

Why here, in the state's package: `Bought` is a value a `CustomerState` holds (a step in place
leaves it in the state, and the public state makes its lines: state/working_public.py), and
`kept` is how the state's list is cut. What the program reads of the history, and so how long
lines are kept, is the engine's (engine/history.py, which re-exports these).

Input: the state's lines, a purchase's, a day and how long lines are kept. Output: the lines kept
and what was left out (`OlderPurchases`).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
from collections.abc import Iterator, Sequence
from typing import Any, overload

from rules_engine.state.customer import OlderPurchases, PastLine
from rules_engine.state.records import past_lines
from rules_engine.state.shared import appended
from rules_engine.unvalidated import trusted


def kept(
    purchases: Sequence[PastLine],
    new: list[PastLine],
    older: OlderPurchases | None,
    today: dt.date,
    keep: dt.timedelta | None,
) -> tuple[Sequence[PastLine], OlderPurchases | None]:
    """The purchase lines to keep on `today` (local), oldest first — of the state's `purchases`
    and the event's `new` ones —, and what was left out. The state's lines are not copied: the
    new list shares their storage (state/shared.py), whatever is left out."""
    end = 0
    until = None  # the newest date of the lines left out
    if keep is not None:
        cutoff = today - dt.timedelta(days=keep.days + 1)  # a day more: lines know their date only
        # the dates of the head's lines older than the cutoff, read and compared in C (a long
        # history leaves a day's lines at most events: a Python loop over each cost ~30 steps)
        gone = list(itertools.takewhile(functools.partial(operator.gt, cutoff), map(_DATE, purchases)))
        if gone:
            end, until = len(gone), max(gone)
    if not end or until is None:
        return appended(purchases, new) if new else purchases, older
    lines = (older.lines if older is not None else 0) + end
    if older is not None and older.until > until:
        until = older.until
    # the lines kept, sharing the state's storage (state/shared.py): a long history keeps thousands
    left = appended(purchases, new, end)
    # made at most events of a long history (a day's lines leave): from values already valid
    return left, trusted(OlderPurchases, {"lines": lines, "until": until}, _OLDER_GIVEN)


_OLDER_GIVEN = {"lines", "until"}
_DATE = operator.attrgetter("date")


CHAINED = 64
"""The purchases a `Bought` chain holds unmade at most: the step in place makes the lines (and cuts
them) when a chain is this long, so a working state no one reads keeps a bounded history."""


class Bought(Sequence[PastLine]):
    """`customer.purchases` of a state the step in place made (engine/step.py): the lines before
    (the state's list, or the `Bought` of the step before) and the purchase's own lines as the
    event has them — its lines, local day and id —, made `PastLine`s only when read. A step's run
    reads the history's length (`len(customer.purchases)`, with `older_purchases`), which is known
    without them; only a program that reads the lines (no `keep`: nothing is cut) and the public
    state (`Working.public`, through `kept`) make them.

    The lines are cut once, when made for the public state, at the latest cutoff of the chain (each
    purchase's day less its program version's keep): the same lines as a cut at every event, since
    a cut takes lines from the head while they are older than its cutoff, and the lines a purchase
    adds are newer than every cutoff before it. (Not simply the latest purchase's cutoff: a version
    with a longer keep after one with a shorter would keep lines that `process` had cut.)
    Immutable as seen from outside (the lines made are kept, and the chain before them let go)."""

    __slots__ = ("_before", "_cutoff", "_day", "_depth", "_event", "_items", "_length", "_made")

    _before: Sequence[PastLine] | None
    _cutoff: dt.date | None
    """The latest cutoff of the chain: lines older than it are cut (None: nothing is cut)."""
    _items: Sequence[Any] | None
    _depth: int
    _made: Sequence[PastLine] | None

    def __init__(
        self,
        before: Sequence[PastLine],
        items: Sequence[Any],
        day: dt.date,
        event: str,
        keep: dt.timedelta | None,
    ) -> None:
        self._before = before
        self._items = items
        self._day = day
        self._event = event
        self._length = len(before) + len(items)
        cutoff = None if keep is None else day - dt.timedelta(days=keep.days + 1)
        earlier = before._cutoff if type(before) is Bought else None
        self._cutoff = earlier if cutoff is None or (earlier is not None and earlier > cutoff) else cutoff
        self._depth = before._depth + 1 if type(before) is Bought and before._made is None else 1
        self._made = None

    @property
    def depth(self) -> int:
        """How many purchases' lines are still to be made."""
        return 0 if self._made is not None else self._depth

    def lines(self) -> Sequence[PastLine]:
        """Every line, not cut (a `SharedList` sharing the storage of the list the chain began
        with, as `appended` makes it), made at the first call and kept."""
        made = self._made
        if made is not None:
            return made
        chain: list[Bought] = []
        node: Sequence[PastLine] | None = self
        while type(node) is Bought and node._made is None:
            chain.append(node)
            node = node._before
        lines: Sequence[PastLine] = node._made if type(node) is Bought else node  # type: ignore[assignment]
        for link in reversed(chain):
            assert link._items is not None
            lines = link._made = appended(lines, past_lines(link._items, link._day, link._event))
            link._before = link._items = None
        return lines

    def kept(self, older: OlderPurchases | None) -> tuple[Sequence[PastLine], OlderPurchases | None]:
        """The lines a state keeps on the latest purchase's day, and what was left out (`kept`)."""
        cutoff = self._cutoff
        keep = None if cutoff is None else dt.timedelta(days=(self._day - cutoff).days - 1)
        return kept(self.lines(), [], older, self._day, keep)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> PastLine: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PastLine]: ...

    def __getitem__(self, index: int | slice) -> PastLine | Sequence[PastLine]:
        return self.lines()[index]

    def __iter__(self) -> Iterator[PastLine]:
        return iter(self.lines())

    def __eq__(self, other: object) -> bool:
        return self.lines() == other

    __hash__ = None  # type: ignore[assignment]
