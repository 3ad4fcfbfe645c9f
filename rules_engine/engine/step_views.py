"""What a step's run reads of the working state (engine/step.py): views over its compact parts.

The run of a step in place reads a `CustomerState` whose lots are a view of the working state's
deque (`Lots`), whose pending lots and ids are not to be read (`UNREAD`), and — after a step whose
tiers moved the working state (mechanics/tiers_working.py) — whose activity is a view of its deque
(`state.compact.ActivityView`) and whose running sums are made only when a run may read them
(`SUMS_LATER`). A read the step does not support raises `NeedsLots`, and the event falls back to
`Engine.process`.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any, NoReturn, overload

from rules_engine.state.compact import LOT_EXPIRES, LOT_MODEL, LOT_ZONE, seconds
from rules_engine.state.customer import Lot
from rules_engine.state.working import Working

__all__ = ["SUMS_LATER", "UNREAD", "Lots", "NeedsLots", "UnreadSums"]


class NeedsLots(BaseException):
    """A stage read what the step keeps compact (the lots, pending lots or ids of the run's state):
    the event is decided by `process` instead. A `BaseException`, so that no `except Exception`
    on the way (the generated code has some) takes it for a condition's error."""


class Unread:
    """The pending lots and ids of the state a step's run reads: any look at them raises
    `NeedsLots`."""

    __slots__ = ()

    def _read(self, *_: Any) -> NoReturn:
        raise NeedsLots

    __len__ = __iter__ = __getitem__ = __contains__ = __bool__ = __reversed__ = __eq__ = _read
    __hash__ = None  # type: ignore[assignment]


UNREAD = Unread()


class UnreadSums:
    """The running sums of the activity in the state a step's run reads, after a step moved them on
    the working state (mechanics/tiers_working.py): made (`Working.sums_model`) before a run that
    reads them (`_reads_sums`: a tier review or the downgrade reminder due); any other read raises
    `NeedsLots`, and the event falls back."""

    __slots__ = ()

    def __getattr__(self, name: str) -> NoReturn:
        raise NeedsLots

    def __eq__(self, other: object) -> NoReturn:
        raise NeedsLots

    __hash__ = None  # type: ignore[assignment]


SUMS_LATER = UnreadSums()


class Lots(Sequence[Lot]):
    """The lots of the state a step's run reads, in their order: each read as its `Lot`, made from
    its tuple when it has none (`Working.lot_model`). What the points-expiring reminder reads at
    every event (the first lot; near their expiry, a fortnight's), and `customer.points`.

    One view per working state (`Working.lots_view`), the same object from step to step, so that
    what the reminder keeps for it (`lot_memos.keep_reminded`: every lot up to a moment reminded
    of, by the identity of the lots and the reminders) is found at the next step, as `process`
    finds it for the state's shared list: carried when expiry takes lots and their reminders
    (`carry_reminded`), dropped with the view when a step adds lots within its reach or falls
    back, and when the working state is loaded."""

    __slots__ = ("_lots", "_working", "now")

    def __init__(self, working: Working) -> None:
        self._working = working
        self._lots = working.lots  # the same deque while the view lives (a load drops the view)
        self.now: Any = None
        """The step's moment in epoch seconds, set by the step before its run (None: a naive time)."""

    @property
    def tuples(self) -> Any:
        """The working state's deque of lot tuples this view reads (`compact.LOT_*`)."""
        return self._lots

    def quiet_for(self, span: Any) -> bool | None:
        """Whether no lot expires within `span` seconds of the step's moment (`now`): what the
        points-expiring reminder asks at every purchase (mechanics/notifications.py), answered on the
        first tuple's seconds, no model made. None when that is not known so (a naive time): the
        reminder then reads the models."""
        lots = self._lots
        if not lots:
            return True
        now = self.now
        first = lots[0]
        zone = first[LOT_ZONE]
        if now is None or zone is None or (type(zone) is tuple and None in zone):
            return None
        return bool(first[LOT_EXPIRES] > now + span)

    def __len__(self) -> int:
        return len(self._lots)

    @overload
    def __getitem__(self, index: int) -> Lot: ...

    @overload
    def __getitem__(self, index: slice) -> list[Lot]: ...

    def __getitem__(self, index: int | slice) -> Lot | list[Lot]:
        if type(index) is int:  # the usual read: the tuple's model, made the first time
            model: Lot | None = self._lots[index][LOT_MODEL]
            return model if model is not None else self._working.lot_model(index)
        make = self._working.lot_model
        if isinstance(index, slice):
            return [make(i) for i in range(*index.indices(len(self._lots)))]
        return self[index.__index__()]

    def expiring_by(self, moment: dt.datetime) -> int | None:
        """`lifecycle.expiring_by` on the tuples' seconds, no model made (None: a naive time, left
        to the models): the lots are in expiry order, those that never expire at `NEVER`, last."""
        if moment.tzinfo is None:
            return None
        return bisect_right(self._lots, seconds(moment), key=EXPIRES)

    def __iter__(self) -> Iterator[Lot]:
        model = self._working.lot_model
        for i in range(len(self._working.lots)):
            yield model(i)

    def __eq__(self, other: object) -> NoReturn:
        raise NeedsLots

    __hash__ = None  # type: ignore[assignment]


EXPIRES = itemgetter(LOT_EXPIRES)
