"""The compact values of a working state (state/working.py): times as epoch seconds, points and
money as ints where exact, and the tuples a working state keeps of its lots and activities, each
made from its model and back exactly.

Why a module of its own: these are the conversions `Working` and the step in place
(engine/step.py) share, below the working state's own logic (what it stands for, what is made when).

Input: the `CustomerState`'s models and values. Output: tuples and ints, and the models again.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import repeat
from operator import is_, itemgetter
from typing import Any, Final, overload

from pydantic_core import TzInfo

from rules_engine.state.customer import Activity, ActivitySums, Lot, LotLine
from rules_engine.state.records import awards_records, points_lot
from rules_engine.state.shared import window
from rules_engine.unvalidated import trusted

NEVER = 1 << 62
"""The expiry key of a lot that never expires: after every time a state can hold (year 9999 is
about 2.5e11 seconds), so lots in expiry order have those last, and keys compare as numbers."""

Seconds = int | Decimal
"""A time as epoch seconds: an `int`, or a `Decimal` with the microseconds as its fraction."""
Units = int | Decimal
"""Points (or money in minor units) as an `int` where that is exact, else the `Decimal` itself."""
Zone = dt.tzinfo | None
# A lot's times' zone: one for all three (the usual), or each its own when they differ.
LotZone = Zone | tuple[Zone, Zone, Zone]

# A lot: (expires, available, earned, points, event, rule, lines, zone, model).
LotTuple = tuple[Seconds, Seconds, Seconds, Units, str, str, "list[LotLine] | LazyLines", LotZone, Lot | None]
LOT_EXPIRES: Final = 0
LOT_AVAILABLE: Final = 1
LOT_EARNED: Final = 2
LOT_POINTS: Final = 3
LOT_EVENT: Final = 4
LOT_RULE: Final = 5
LOT_LINES: Final = 6
LOT_ZONE: Final = 7
LOT_MODEL: Final = 8

LOT_MODEL_OF = itemgetter(LOT_MODEL)

# An activity: (at, spend, points, visits, event, paid, qty, zone, model); spend in minor units.
ActivityTuple = tuple[Seconds, Units, Units, int, str, list[Decimal], list[Decimal], Zone, Activity | None]
ACT_AT: Final = 0
ACT_SPEND: Final = 1
ACT_POINTS: Final = 2
ACT_VISITS: Final = 3
ACT_EVENT: Final = 4
ACT_PAID: Final = 5
ACT_QTY: Final = 6
ACT_ZONE: Final = 7
ACT_MODEL: Final = 8

ACT_MODEL_OF = itemgetter(ACT_MODEL)

# A long list as `shared.window` gives it: (storage, start, end).
Window = tuple[Sequence[Any], int, int]

# The activity's running sums: (start, spend, points, visits, zone, model); start None: the whole.
SumsTuple = tuple[Seconds | None, Units, Units, int, Zone, ActivitySums | None]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = _EPOCH.toordinal()
_FIXED = (dt.timezone, TzInfo)
_OFFSETS: dict[dt.tzinfo, int] = {}
"""The UTC offset in seconds of each fixed-offset zone seen (`datetime.timezone`, pydantic's `TzInfo`)."""
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_MICROSECOND = dt.timedelta(microseconds=1)
_ONE = Decimal(1)
_QUANTA = [Decimal(1).scaleb(-decimals) for decimals in range(10)]
_ACTIVITY_GIVEN = set(Activity.model_fields)
_SUMS_GIVEN = set(ActivitySums.model_fields)


# -- values: times as epoch seconds, decimals as ints where exact -------------------------------


def exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent


def moment(seconds: Seconds, zone: Zone) -> dt.datetime:
    """The time `seconds` in `zone` (`seconds`' inverse, with the zone the time had)."""
    made: dt.datetime = moment_of(seconds, zone)
    return made


def seconds(moment: dt.datetime) -> Seconds:
    """`moment` as epoch seconds: an int, or a `Decimal` when it has microseconds (exact either way).
    A naive time (a state made by hand) counts from the naive epoch."""
    zone = moment.tzinfo
    if not moment.microsecond and zone is not None:
        offset = _OFFSETS.get(zone)
        if offset is None and isinstance(zone, _FIXED):
            delta = zone.utcoffset(None)
            if delta is not None and not delta.microseconds:
                offset = _OFFSETS.setdefault(zone, delta.days * 86_400 + delta.seconds)
        if offset is not None:  # from the fields: twice as fast as `timestamp()` or a subtraction
            day = (moment.toordinal() - _EPOCH_DAY) * 86_400
            return day + moment.hour * 3600 + moment.minute * 60 + moment.second - offset
    delta = moment - (_EPOCH if moment.tzinfo is not None else _NAIVE_EPOCH)
    if not delta.microseconds:
        return delta.days * 86_400 + delta.seconds
    return Decimal(delta // _MICROSECOND).scaleb(-6)


HEAD = 128
"""How many of a deque's items after a bisection's start `head_right`/`head_left` look among first."""


def head_right(items: Sequence[Any], value: Any, lo: int, key: Any) -> int:
    """`bisect_right(items, value, lo, key=key)` on a deque in `key`'s order whose answer is
    usually near `lo`: the lots due, or coming into the reminder's reach, the activities leaving
    the tier's window — a few of a year's. Looked for among the `HEAD` items after `lo` first: a
    deque's item is found by a walk over its blocks of 64 from the nearer end, a dozen in the
    middle of a year's lots, at each probe of a bisection over all of them."""
    hi = lo + HEAD
    if hi >= len(items):
        return bisect_right(items, value, lo, key=key)
    if key(items[hi - 1]) > value:
        return bisect_right(items, value, lo, hi, key=key)
    return bisect_right(items, value, hi, key=key)


def head_left(items: Sequence[Any], value: Any, lo: int, key: Any) -> int:
    """`bisect_left(items, value, lo, key=key)`, looked for near `lo` first (`head_right`)."""
    hi = lo + HEAD
    if hi >= len(items):
        return bisect_left(items, value, lo, key=key)
    if key(items[hi - 1]) >= value:
        return bisect_left(items, value, lo, hi, key=key)
    return bisect_left(items, value, hi, key=key)


def seconds_after(at: Seconds, moment: dt.datetime, delta: dt.timedelta | None) -> Seconds:
    """`seconds(moment + delta)` (no delta: `seconds(moment)`) of a `moment` whose seconds are `at`:
    `at` moved by `delta` when both are whole seconds and the moment's zone is a fixed offset
    `seconds` has met (it adds wall time and the instant alike), else worked out from the time
    (a zone with summer time adds wall time: the instant may move by an hour more or less)."""
    if not delta:
        return at
    if type(at) is int and not delta.microseconds and moment.tzinfo in _OFFSETS:
        return at + delta.days * 86_400 + delta.seconds
    return seconds(moment + delta)


def moment_of(seconds: Seconds | None, zone: Zone) -> Any:
    """The time `seconds` in `zone`: the one `seconds` was given, with its UTC offset (None: None)."""
    if seconds is None:
        return None
    if type(seconds) is int and zone is not None:
        try:
            return dt.datetime.fromtimestamp(seconds, zone)
        except (OverflowError, OSError, ValueError):
            pass
    delta = dt.timedelta(microseconds=int(Decimal(seconds).scaleb(6)))
    if zone is None:
        return _NAIVE_EPOCH + delta
    return (_EPOCH + delta).astimezone(zone)


def time_of(moment: dt.datetime | None) -> tuple[Seconds | None, Zone]:
    if moment is None:
        return None, None
    return seconds(moment), moment.tzinfo


def moved_by(before: Window | None, values: Sequence[Any]) -> tuple[int, Sequence[Any]] | None:
    """How the window `before` became `values`, when it did only by losing elements at its head and
    gaining some after its end in the same storage: (how many left, the elements appended)."""
    if before is None:
        return None
    items, start, end = before
    now, first, last = window(values)
    if now is not items or not start <= first <= end <= last:
        return None
    return first - start, items[end:last]


def _same_zone(a: Zone, b: Zone) -> bool:
    """Whether a time in `b` rebuilt in `a` keeps its UTC offset: the same zone, or two fixed
    offsets that are equal (pydantic's `TzInfo` and `datetime.timezone` compare by offset)."""
    return a is b or (a is not None and b is not None and a == b)


def units_of(value: Decimal) -> Units:
    """Points as an int when that is exact (a decimal at exponent 0, not -0), else the decimal."""
    if value.same_quantum(_ONE):  # exponent 0 (a C call: `as_tuple` makes a tuple of digits)
        units = int(value)
        if units or not value.is_signed():
            return units
    return value


def _minor(value: Decimal, decimals: int) -> Units:
    """Money as an int of minor units when it has exactly the currency's decimals, else itself."""
    if value.same_quantum(_QUANTA[decimals]):
        units = int(value.scaleb(decimals))
        if units or not value.is_signed():
            return units
    return value


def decimal_of(units: Units) -> Decimal:
    return Decimal(units) if type(units) is int else units  # type: ignore[return-value]


def _money(units: Units, decimals: int) -> Decimal:
    if type(units) is int:
        return Decimal(units).scaleb(-decimals) if decimals else Decimal(units)
    return units  # type: ignore[return-value]


# -- lots ---------------------------------------------------------------------------------------


def lot_tuple(lot: Lot) -> LotTuple:
    earned, available, expires = lot.earned_at, lot.available_at, lot.expires_at
    first = earned.tzinfo
    zone: LotZone = first
    if (available.tzinfo is not first and not _same_zone(first, available.tzinfo)) or (
        expires is not None and expires.tzinfo is not first and not _same_zone(first, expires.tzinfo)
    ):
        zone = (first, available.tzinfo, None if expires is None else expires.tzinfo)
    return (
        NEVER if expires is None else seconds(expires),
        seconds(available),
        seconds(earned),
        units_of(lot.points),
        lot.event,
        lot.rule,
        lot.lines,
        zone,
        lot,
    )


def lot_model(lot: LotTuple, fresh: bool) -> Lot:
    model = lot[LOT_MODEL]
    if model is not None and not fresh:
        return model
    return _lot(lot, _lines(lot[LOT_LINES]) if not fresh else list(_lines(lot[LOT_LINES])))


def read_lot(lot: LotTuple, unfilled: list[LazyLines]) -> Lot:
    """The `Lot` of a lot's tuple for a step's run to read (engine/step.py's view of the lots: the
    points-expiring reminder reads a fortnight's lots, `customer.points` every lot's points and
    times, no stage on a step's path their lines): a tuple a step made gets a model whose lines
    list is filled only when the public state is made (`LazyLines.later`; the `LazyLines` put in
    `unfilled`, which `Working.public` fills), not a `LotLine` per line for every lot read."""
    lines = lot[LOT_LINES]
    if type(lines) is not LazyLines or lines.made is not None:
        return lot_model(lot, False)
    unfilled.append(lines)
    return _lot(lot, lines.later())


def _lot(lot: LotTuple, lines: list[LotLine]) -> Lot:
    zone = lot[LOT_ZONE]
    if type(zone) is tuple:
        earned_zone, available_zone, expires_zone = zone
    else:
        earned_zone = available_zone = expires_zone = zone  # type: ignore[assignment]
    expires = lot[LOT_EXPIRES]
    return points_lot(
        lot[LOT_EVENT],
        lot[LOT_RULE],
        decimal_of(lot[LOT_POINTS]),
        moment_of(lot[LOT_EARNED], earned_zone),
        moment_of(lot[LOT_AVAILABLE], available_zone),
        None if expires == NEVER else moment_of(expires, expires_zone),
        lines,
    )


class LazyLines:
    """A lot's `LotLine`s not made yet: the award's line shares and the basket's quantities, made
    (`awards_records`) when the lot's model is (`public()`, a return), not at every award.

    `index`: None when `shares` are the shares; else `shares` is what splits them (the whole
    step's `Split`, engine/whole/result.py), asked for award `index`'s when the lines are made, so
    that a lot is one object (and one for the collector to walk) until then, not two."""

    __slots__ = ("filled", "index", "made", "quantities", "shares")

    def __init__(self, shares: Any, quantities: list[Decimal], index: int | None = None) -> None:
        self.shares = shares
        self.quantities = quantities
        self.index = index
        self.made: list[LotLine] | None = None
        self.filled = False

    def lines(self) -> list[LotLine]:
        made = self.made
        if made is None:
            made = self.made = awards_records((self._shares(),), self.quantities)[0][0]
            self.filled = True
        elif not self.filled:  # the list `later` gave out, filled in place
            made.extend(awards_records((self._shares(),), self.quantities)[0][0])
            self.filled = True
        return made

    def _shares(self) -> Sequence[tuple[int, str, Decimal]]:
        shares = self.shares
        if self.index is None:
            return shares  # type: ignore[no-any-return]
        made: Sequence[tuple[int, str, Decimal]] = shares.shares(self.index)
        self.shares, self.index = made, None  # what split them may go
        return made

    def later(self) -> list[LotLine]:
        """The list the lines will be in, empty until `lines()` fills it (`read_lot`)."""
        assert self.made is None
        made: list[LotLine] = []
        self.made = made
        return made


def _lines(lines: list[LotLine] | LazyLines) -> list[LotLine]:
    return lines.lines() if type(lines) is LazyLines else lines  # type: ignore[return-value]


def models_of(tuples: deque[Any], model_of: Any, make: Any, fresh: bool) -> list[Any]:
    """The models of a deque of lots or activities: each tuple's own, read in C, and those of the
    tuples a step made (no model) made and kept in their tuples for the next time; `fresh`: every
    one made from its tuple's values."""
    if fresh:
        return [make(made) for made in tuples]
    models = list(map(model_of, tuples))
    if any(map(is_, models, repeat(None))):
        for i, model in enumerate(models):
            if model is None:
                made = tuples[i]
                models[i] = model = make(made)
                tuples[i] = (*made[:-1], model)
    return models


def balance_of(lots: deque[LotTuple], moment: Seconds | None) -> tuple[Units, Units]:
    """The points available at `moment` (not pending, not expired) and those still pending; with no
    moment (a state that saw no event), every lot's points are available."""
    balance: Units = 0
    pending: Units = 0
    for lot in lots:
        if moment is None or lot[LOT_AVAILABLE] <= moment < lot[LOT_EXPIRES]:
            balance += lot[LOT_POINTS]
        elif lot[LOT_AVAILABLE] > moment:
            pending += lot[LOT_POINTS]
    return balance, pending


# -- the activity and its running sums ----------------------------------------------------------


def activity_tuple(activity: Activity, decimals: int) -> ActivityTuple:
    at = activity.at
    return (
        seconds(at),
        _minor(activity.spend, decimals),
        units_of(activity.points),
        activity.visits,
        activity.event,
        activity.paid,
        activity.qty,
        at.tzinfo,
        activity,
    )


def activity_model(activity: ActivityTuple, decimals: int, fresh: bool) -> Activity:
    model = activity[ACT_MODEL]
    if model is not None and not fresh:
        return model
    values = {
        "event": activity[ACT_EVENT],
        "at": moment_of(activity[ACT_AT], activity[ACT_ZONE]),
        "spend": _money(activity[ACT_SPEND], decimals),
        "points": decimal_of(activity[ACT_POINTS]),
        "visits": activity[ACT_VISITS],
        "paid": list(activity[ACT_PAID]),
        "qty": list(activity[ACT_QTY]),
    }
    return trusted(Activity, values, _ACTIVITY_GIVEN)


def sums_tuple(sums: ActivitySums, decimals: int) -> SumsTuple:
    start, zone = time_of(sums.start)
    return (start, _minor(sums.spend, decimals), units_of(sums.points), sums.visits, zone, sums)


def sums_model(sums: SumsTuple, decimals: int, fresh: bool) -> ActivitySums:
    model = sums[5]
    if model is not None and not fresh:
        return model
    values = {
        "start": moment_of(sums[0], sums[4]),
        "spend": _money(sums[1], decimals),
        "points": decimal_of(sums[2]),
        "visits": sums[3],
    }
    return trusted(ActivitySums, values, _SUMS_GIVEN)


def plus_money(a: Units, b: Units, decimals: int) -> Units:
    """`a + b` of two amounts of money as the tuples hold them (an int of minor units, or the
    `Decimal` itself): the sum of the two decimals, exactly as adding the models' values gives it
    (its exponent too), an int again where exact."""
    if type(a) is int and type(b) is int:
        return a + b
    return _minor(_money(a, decimals) + _money(b, decimals), decimals)


def minus_money(a: Units, b: Units, decimals: int) -> Units:
    """`a - b` of two amounts of money (`plus_money`)."""
    if type(a) is int and type(b) is int:
        return a - b
    return _minor(_money(a, decimals) - _money(b, decimals), decimals)


def money_of(units: Units, decimals: int) -> Decimal:
    """The `Decimal` an amount of money as a tuple holds it stands for."""
    return _money(units, decimals)


def minor_of(value: Decimal, decimals: int) -> Units:
    """An amount of money as a tuple holds it (`_minor`)."""
    return _minor(value, decimals)


class ActivityView(Sequence[Activity]):
    """The activity of the state a step's run reads (engine/step.py), when a step moved the working
    state's activity in place (mechanics/tiers_working.py): a view over the working state's deque,
    each element read as its `Activity`, made from its tuple the first time (and kept in it). What
    a tier review and the tier-downgrade reminder read (a bisection and a few entries), without a
    model per purchase made at every step. One per working state (`Working.activity_view`)."""

    __slots__ = ("_working",)

    def __init__(self, working: Any) -> None:
        self._working = working

    @property
    def working(self) -> Any:
        return self._working

    def __len__(self) -> int:
        return len(self._working.activity)

    def _model(self, index: int) -> Activity:
        activity = self._working.activity
        made = activity[index]
        model: Activity | None = made[ACT_MODEL]
        if model is None:
            model = activity_model(made, self._working.decimals, False)
            activity[index] = (*made[:ACT_MODEL], model)
        return model

    @overload
    def __getitem__(self, index: int) -> Activity: ...

    @overload
    def __getitem__(self, index: slice) -> list[Activity]: ...

    def __getitem__(self, index: int | slice) -> Activity | list[Activity]:
        if isinstance(index, slice):
            return [self._model(i) for i in range(*index.indices(len(self)))]
        return self._model(index.__index__())

    def __iter__(self) -> Iterator[Activity]:
        for i in range(len(self)):
            yield self._model(i)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


# -- a challenge's progress counted on a step's path --------------------------------------------


COUNTING_CHAINED = 64
"""The purchases a `Counting` links before its records are made (a lifetime window's, unread)."""


class Counting:
    """A challenge's progress as a step in place leaves it (mechanics/challenges.py `_count_lines`
    on a run with `run.working`): what `ChallengeProgress` holds — `window`, `progress`,
    `completed` read as its fields —, its `counted` records (what each purchase of the window
    added, its lines, for a return to take back) made when first read. Each purchase counted
    links to the progress before it in the same window (`before`: a `Counting`, or the records'
    dict of a model) with its own record's maker and arguments, so a purchase makes no
    `CountedPurchase`, no record per line and no copy of the window's dict; `Working.public()`
    makes the model (`model`), with the same records in the same order."""

    __slots__ = ("_before", "_counted", "_depth", "_record", "completed", "progress", "window")

    def __init__(
        self,
        window: str,
        progress: Decimal,
        completed: list[str],
        before: Any,
        record: tuple[str, Any, tuple[Any, ...]] | None,
    ) -> None:
        self.window = window
        self.progress = progress
        self.completed = completed
        self._before = before  # a `Counting` or a dict of `CountedPurchase`
        self._record = record  # (event id, maker, its arguments) or None: nothing recorded
        self._counted: dict[str, Any] | None = None
        self._depth: int = before._depth + 1 if type(before) is Counting and before._counted is None else 0
        if self._depth >= COUNTING_CHAINED:  # a long window no one read: its records made now
            self.counted  # noqa: B018

    @property
    def counted(self) -> dict[str, Any]:
        """The records of the purchases counted in the window, by event id, oldest first."""
        made = self._counted
        if made is None:
            chain: list[Counting] = []
            node: Any = self
            while type(node) is Counting and node._counted is None:
                chain.append(node)
                node = node._before
            base: Any = node if type(node) is not Counting else node._counted
            made = dict(base)
            for link in reversed(chain):
                record = link._record
                if record is not None:
                    made[record[0]] = record[1](*record[2])
            self._counted = made
            self._before = self._record = None  # made: what they held is in `made`
        return made

    def model(self, make: Any) -> Any:
        """The `ChallengeProgress` (`make`: window, progress, completed, counted → the model)."""
        return make(self.window, self.progress, self.completed, self.counted)


def challenges_of(challenges: dict[str, Any], make: Any) -> dict[str, Any] | None:
    """`challenges` with every `Counting` made into its model (`Counting.model`); None when it holds
    none (the state's own dict is kept)."""
    if not any(type(progress) is Counting for progress in challenges.values()):
        return None
    return {
        key: progress.model(make) if type(progress) is Counting else progress
        for key, progress in challenges.items()
    }


# -- a quest's attempt on a step's path -----------------------------------------------------------


class Questing:
    """A quest's attempt as a step in place leaves it (mechanics/quests.py on a run with
    `run.working`): what `QuestProgress` holds — `started_at`, `done`, `completed`, read as its
    fields —, its model made only when the public state is (`Working.public()`, `quests_of`).
    Never changed once made, as a model is not: an attempt that moves on is a new one."""

    __slots__ = ("completed", "done", "started_at")

    def __init__(self, started_at: dt.datetime | None, done: list[int], completed: bool) -> None:
        self.started_at = started_at
        self.done = done
        self.completed = completed

    def model(self, make: Any) -> Any:
        """The `QuestProgress` (`make`: started_at, done, completed → the model)."""
        return make(self.started_at, self.done, self.completed)


def quests_of(quests: dict[str, Any], make: Any) -> dict[str, Any] | None:
    """`quests` with every `Questing` made into its model (`Questing.model`); None when it holds
    none (the state's own dict is kept)."""
    if not any(type(attempt) is Questing for attempt in quests.values()):
        return None
    return {
        key: attempt.model(make) if type(attempt) is Questing else attempt for key, attempt in quests.items()
    }
