"""Results whose fields are made when first read: what `Stream.step` and the whole step return.

`Engine.process` returns a `Result` (result.py) with every field made. A purchase decided in
place (engine/step.py) or by the whole step (engine/whole/) knows its state, ledger, totals and
the rest as values it can make later, and most callers read only the points and the awards: a
`StreamResult` holds `Later` values in some fields, a `LaterResult` a maker for most of them.
Both are `Result`s, equal to the one `Engine.process` returns for the same event, and read as
one. Apart from result.py so that each module holds one idea (and stays under 600 lines).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rules_engine.engine.outcome import PointsChange, TierProgress, Totals
from rules_engine.engine.result import Result
from rules_engine.state.customer import CustomerState, LedgerEntry

_new = object.__new__

# `Result`'s slots' own setters, in field order: `later_result` sets them directly.
_RESULT_SETTERS = tuple(Result.__dict__[name].__set__ for name in Result.__dataclass_fields__)
(
    _r_program,
    _r_version,
    _r_event,
    _r_customer,
    *_,
) = _RESULT_SETTERS


class Later:
    """A value made when first read, then kept: what a `StreamResult` holds in place of its state
    or its ledger (engine/step.py, settle.outcome make them).

    `make` and its arguments are one slot (`_todo`), read at once and let go once the value is
    made: two threads reading a result at once (the service answers from one thread what another
    decided) each find either the maker with its arguments or the value, never a maker without
    them; both may make it, equal values, the later one kept."""

    __slots__ = ("_todo", "_value")

    def __init__(self, make: Any, *args: Any) -> None:
        self._todo: tuple[Any, tuple[Any, ...]] | None = (make, args)  # no closure made per value
        self._value: Any = None

    def get(self) -> Any:
        todo = self._todo
        if todo is None:
            return self._value
        value = self._value = todo[0](*todo[1])
        self._todo = None
        return value


class LaterLedger(Later):
    """A ledger made when first read (`Later`), and its entries' kinds and points, which a
    tally reads at every event, without making the entries (`points`: the same pairs, in order)."""

    __slots__ = ("_points",)

    def __init__(self, make: Any, points: Any, *args: Any) -> None:
        super().__init__(make, *args)
        self._points = points

    def points(self) -> list[tuple[str, Decimal]]:
        todo = self._todo
        if todo is None:  # made already: read from the entries
            return [(entry.kind, entry.points) for entry in self._value]
        return self._points(*todo[1])  # type: ignore[no-any-return]


_STATE_SLOT = Result.__dict__["state"]
_LEDGER_SLOT = Result.__dict__["ledger"]
_CHANGES_SLOT = Result.__dict__["points_changes"]
_TOTALS_SLOT = Result.__dict__["totals"]
_PROGRESS_SLOT = Result.__dict__["tier_progress"]


class StreamResult(Result):
    """A `Result` whose `state`, `ledger`, `totals`, `tier_progress` and `points_changes` are made
    when first read (`Later`): the result of a purchase `Stream.step` decided in place
    (engine/step.py), where the state is the working state's public one, the ledger's earn entries
    are made from the awards, the totals from the run, the tier progress from the values the tiers
    mechanic left (mechanics/tiers.py), and the changes time passing made (and their expiry
    entries) from the lots it moved. Equal to the `Result` of the same fields; read as one."""

    __slots__ = ()

    @property
    def state(self) -> CustomerState:
        held = _STATE_SLOT.__get__(self, Result)
        return held.get() if type(held) is Later else held  # type: ignore[no-any-return]

    @state.setter
    def state(self, value: CustomerState) -> None:  # as the dataclass's __init__ sets it
        _STATE_SLOT.__set__(self, value)

    @property
    def ledger(self) -> tuple[LedgerEntry, ...]:
        held = _LEDGER_SLOT.__get__(self, Result)
        return held.get() if isinstance(held, Later) else held  # type: ignore[no-any-return]

    @ledger.setter
    def ledger(self, value: tuple[LedgerEntry, ...]) -> None:
        _LEDGER_SLOT.__set__(self, value)

    def ledger_points(self) -> list[tuple[str, Decimal]]:
        held = _LEDGER_SLOT.__get__(self, Result)
        if type(held) is LaterLedger:
            return held.points()
        return super().ledger_points()

    @property
    def totals(self) -> Totals:
        held = _TOTALS_SLOT.__get__(self, Result)
        return held.get() if type(held) is Later else held  # type: ignore[no-any-return]

    @totals.setter
    def totals(self, value: Totals) -> None:
        _TOTALS_SLOT.__set__(self, value)

    @property
    def tier_progress(self) -> TierProgress | None:
        held = _PROGRESS_SLOT.__get__(self, Result)
        return held.get() if type(held) is Later else held  # type: ignore[no-any-return]

    @tier_progress.setter
    def tier_progress(self, value: TierProgress | None) -> None:
        _PROGRESS_SLOT.__set__(self, value)

    @property
    def points_changes(self) -> tuple[PointsChange, ...]:
        held = _CHANGES_SLOT.__get__(self, Result)
        return held.get() if type(held) is Later else held  # type: ignore[no-any-return]

    @points_changes.setter
    def points_changes(self, value: tuple[PointsChange, ...]) -> None:
        _CHANGES_SLOT.__set__(self, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        names = Result.__dataclass_fields__
        return all(getattr(self, n) == getattr(other, n) for n in names if names[n].compare)

    __hash__ = Result.__hash__  # the fields', as a `Result`'s (read through the properties)


_SLOTS = {name: Result.__dict__[name] for name in Result.__dataclass_fields__}


def held(result: Result, name: str) -> Any:
    """Field `name` of `result` as it holds it: a `Later` not made yet is returned unmade (what a
    result made of another one carries over without making it: settle.outcome)."""
    return _SLOTS[name].__get__(result, Result)


def later_changes(result: Result, changes: Later) -> None:
    """Give a step's result (a `StreamResult`) its `points_changes` to be made when first read
    (engine/step.py)."""
    assert isinstance(result, StreamResult)
    _CHANGES_SLOT.__set__(result, changes)


_UNMADE: Any = object()
"""A `LaterResult`'s slot not made yet."""
_MADE_LATER = (
    "awards",
    "discounts",
    "totals",
    "state",
    "ledger",
    "trace",
    "tier_progress",
    "badges",
    "tier_changes",
    "points_changes",
)


def _made_when_read(name: str) -> Any:
    """The property of field `name` of a `LaterResult`: its slot's value, made by the maker's
    `make_<name>(result)` on the first read and kept in the slot."""
    slot = Result.__dict__[name]
    get, put = slot.__get__, slot.__set__
    make = f"make_{name}"

    def read(result: LaterResult) -> Any:
        held = get(result, Result)
        if held is _UNMADE:
            held = getattr(result._maker, make)(result)
            put(result, held)
        return held

    return property(read, put)


class LaterResult(StreamResult):
    """A `Result` each of whose fields besides the event's names and the effects a covered program
    never has is made from its maker when first read (`make_<field>(result)`, then kept): the
    result of a purchase the whole step decided (engine/whole/result.py `WholeResult`), which holds
    what it decided as ints and tuples. A caller that reads the points and the awards pays for those only;
    read in full, the same values as `Engine.process`'s result, equal to it."""

    __slots__ = ("_maker",)
    _maker: Any

    awards = _made_when_read("awards")
    discounts = _made_when_read("discounts")
    totals = _made_when_read("totals")
    state = _made_when_read("state")
    ledger = _made_when_read("ledger")
    trace = _made_when_read("trace")
    tier_progress = _made_when_read("tier_progress")
    badges = _made_when_read("badges")
    tier_changes = _made_when_read("tier_changes")
    points_changes = _made_when_read("points_changes")

    @property
    def points(self) -> Decimal:
        """All points given, from the maker's ints while the totals are not made."""
        if _TOTALS_SLOT.__get__(self, Result) is _UNMADE:
            return self._maker.points_given()  # type: ignore[no-any-return]
        totals: Totals = self.totals
        return totals.points

    def ledger_points(self) -> list[tuple[str, Decimal]]:
        """As `Result.ledger_points`, from the maker while the ledger is not made (a tally's read)."""
        if _LEDGER_SLOT.__get__(self, Result) is _UNMADE:
            return self._maker.ledger_points()  # type: ignore[no-any-return]
        return super().ledger_points()


def later_result(program: str, version: int, event: str, customer: str, maker: Any) -> LaterResult:
    """A `LaterResult` of `maker` (it has a `make_<field>(result)` for each field `_MADE_LATER` names,
    `points_given()` and `ledger_points()`), its slots set directly (as `settled`)."""
    made: LaterResult = _new(LaterResult)
    for setter, value in _LATER_DEFAULTS:
        setter(made, value)
    _r_program(made, program)
    _r_version(made, version)
    _r_event(made, event)
    _r_customer(made, customer)
    _set_maker(made, maker)
    return made


_set_maker = LaterResult.__dict__["_maker"].__set__
_LATER_DEFAULTS = tuple(
    (setter, _UNMADE if name in _MADE_LATER else Result.__dataclass_fields__[name].default)
    for setter, name in zip(_RESULT_SETTERS, Result.__dataclass_fields__, strict=True)
    if name not in ("program", "version", "event", "customer")
)
