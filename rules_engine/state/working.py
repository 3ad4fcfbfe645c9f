"""A customer's working state: the compact, mutable form of a `CustomerState` that a stream carries.

Why. `Engine.process` takes a frozen pydantic `CustomerState` and returns a new one for every event:
lots with their `LotLine`s, activity records, cap counters as dicts of decimals, the ids of the
latest events as a list. Most of an event's cost is that data, not the decisions: the hand-written
processor for coffee-club (bench/handwritten_coffee.py) makes the same decisions about 15 times
faster by changing one slotted object of ints, tuples and deques in place. The engine is moving to
that design (issues 12 and 13): the callers that carry a customer's state from one event to the next
— `loyalty run`, the stores' write-behind, `simulate`, the service's workers — will carry a
`Working` and let a step generated per program change it in place (engine/stream.py), and the
public `CustomerState` (its JSON, what stores write, what `Engine.process` takes) will be made from
it only when someone reads it.

The contract: `Working.of(state, plan).public()` gives back `state` exactly — an equal model with
the same JSON, every decimal with its exponent (`1.50` stays `1.50`), every time with its UTC offset
— for every state, whoever wrote it (tests/engine/test_working.py). A working state equals another
when their public states are equal.

What is compact (what a purchase reads and writes), each in the order an event reads it:

- `lots`: a deque of tuples (`LOT_*` say which element is which) in the state's order: expiry
  order, in every state an event has brought to the bounded shape (docs/engine.md, "The bounded
  state"). Times as epoch seconds (`int`; a `Decimal` of seconds when the time has microseconds),
  a lot that never expires at `NEVER` (so the deque's first element is the next to expire and the
  keys compare as numbers), points as an `int` (a decimal at exponent 0: every point the engine
  gives) or the `Decimal` itself for any other; what the round trip needs besides: the times'
  timezone, the lines (the `LotLine`s, untouched: only a return reads them), and the `Lot` model
  the tuple was made from;
- `balance` and `pending`: the points of the lots available, and still pending, at the latest
  event: added up when first read, then running sums that a step keeps, so it never adds the lots
  up (an `int`, a `Decimal` if a lot's is);
- `counters`: per capped rule, its current periods' points (ints where exact);
- `tier`, `tier_since`, `activity` (a deque of tuples in time order, money in the currency's minor
  units) with its running sums `sums` — a step's tiers move these in place, and the cold state then
  reads the activity through `activity_view` (mechanics/tiers_working.py); `visits`; `badges` as a
  list in order and a set for `in`;
  `last_event_at`; `customer`; `pending_lots` (the ids of the lots still pending);
- `ids` and `seen`: the ids of the latest events processed, a ring (a deque whose `maxlen` is the
  engine's bound, `KEPT_IDS`) and a set of the same ids for the duplicate check.

Everything else (the profile, coupons, purchase lines, challenges, quests, streaks, referrals,
offers, notifications, …) is `cold`: the `CustomerState`'s own values, kept as they are in the state
the working state was made from, and copied into `public()`'s state unchanged.

What it costs (bench/README.md, "The working state"): making one is a pass over the state's lots,
activity and ids; `load`ing the state an event left into the working state of the state before it
pops and appends what moved (state/working_load.py). `public()` gives back the state it stands for
when nothing changed since (`_state`), and otherwise builds only what changed: a lot's or an
activity's tuple still carries the model it was made from, reused as it is. A step that changes a
working state in place therefore (1) calls `changed()`, which drops `_state` (and the windows `load`
moves), and (2) puts new tuples with no model (`None` in the last element) where it changes a lot or
an activity; `public()` then makes their models, exactly from the tuple's values. The long lists are
the previous public state's (`_made`) moved on by what changed at the deques' ends, the unchanged
part not walked (state/public_parts.py): `public()` after a step costs what the step changed.

Made when read. A stream whose event went through `process` hands the working state the result's
state with `defer(state)`: the compact parts are made from it only when one is first read (the
deques moved over every state deferred since); a step in place (engine/step.py) changes the lots,
the pending lots, the ids and the clock here, and hands over the rest of the new state as the cold
part with `moved_on(cold)`: the compact parts the cold state holds are made from it when first
read. Either way a read of an attribute not made yet goes through `__getattr__`, so no caller sees
a part out of date. The values and the tuples (times as seconds, ints where exact, the models and
back) are state/compact.py's.

Input: a `CustomerState` (or None: a new customer) and what the working state needs of the program
(`Facts`: the currency's minor unit, which `engine.plan.Plan` has). Output: a `Working`; its
`public()` the `CustomerState` again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from rules_engine.state.compact import (
    LOT_MODEL,
    ActivityTuple,
    ActivityView,
    LazyLines,
    LotTuple,
    Seconds,
    SumsTuple,
    Units,
    Window,
    Zone,
    balance_of,
    exponent,
    read_lot,
    sums_model,
)
from rules_engine.state.customer import (
    ActivitySums,
    CustomerState,
    Lot,
    parse_state,
)
from rules_engine.state.working_load import KEPT_IDS as KEPT_IDS
from rules_engine.state.working_load import load_others, load_parts, load_rest, viewed_by
from rules_engine.state.working_public import adopt, built
from rules_engine.unvalidated import replaced

_DEFERRED = (
    "_sums",
    "activity",
    "badge_set",
    "badges",
    "cold",
    "counters",
    "customer",
    "ids",
    "last_event_at",
    "last_zone",
    "lots",
    "pending_lots",
    "seen",
    "sums",
    "tier",
    "tier_since",
    "tier_zone",
    "visits",
)
"""The attributes `Working.defer` leaves unset until read: every one `load` sets but `_state`."""
_DEFERRED_SET = frozenset(_DEFERRED)
_HELD = CustomerState()  # what `hold` defers to: never loaded
_FROM_COLD = (
    "activity",
    "badge_set",
    "badges",
    "counters",
    "customer",
    "sums",
    "tier",
    "tier_since",
    "tier_zone",
    "visits",
)
"""The attributes `Working.moved_on` leaves to be made from the cold state when read."""
_TIER_PARTS = ("activity", "sums", "tier", "tier_since", "tier_zone")
"""The parts a step keeps itself when its tiers moved the working state in place
(mechanics/tiers_working.py): the cold state reads the activity through `activity_view`."""
_FROM_COLD_REST = tuple(name for name in _FROM_COLD if name not in _TIER_PARTS)
"""What `moved_on` leaves to be made from the cold state after such a step."""


class Held(Protocol):
    """A whole step's state a working state holds (engine/whole/state.py `WholeState`)."""

    customer: str | None
    seen: set[str]
    lots: deque[LotTuple]
    activity: deque[ActivityTuple]

    def public(self) -> CustomerState: ...


MadeParts = tuple[Sequence[LotTuple], Sequence[ActivityTuple], deque[str] | None, set[str] | None, bool]
"""`Working.made_parts()`: the lots' and the activity's tuples made, the ids and their set (None:
not standing for the state), and whether the deques stand for the state `public()` gives, tuple
by tuple (each tuple's model the list's element at its place)."""


class Facts(Protocol):
    """What a working state needs of the program: the currency's minor unit (`Plan.quantum`)."""

    @property
    def quantum(self) -> Decimal: ...


class Working:
    """One customer's state, compact and mutable (the module docstring): `Working.of(state, plan)`,
    `public()` the `CustomerState` it stands for."""

    __slots__ = (
        "_activity_from",
        "_behind",
        "_cold_behind",
        "_cold_names",
        "_decimals",
        "_ids_from",
        "_lots_from",
        "_made",
        "_stash",
        "_state",
        "_sums",
        "_unfilled",
        "activity",
        "activity_view",
        "badge_set",
        "badges",
        "cold",
        "counters",
        "customer",
        "due_at",
        "due_for",
        "ids",
        "last_event_at",
        "last_zone",
        "lots",
        "lots_view",
        "moves",
        "pending_lots",
        "pending_tail",
        "review",
        "seen",
        "sums",
        "sums_due",
        "tier",
        "tier_since",
        "tier_update",
        "tier_zone",
        "visits",
        "whole",
    )

    customer: str | None
    tier: str | None
    tier_since: Seconds | None
    tier_zone: Zone
    visits: int
    badges: list[str]
    badge_set: set[str]
    lots: deque[LotTuple]
    pending_lots: list[str] | None
    pending_tail: list[str] | None
    """`pending_lots` when it is known to name the deque's tail, in order, their waits ending in
    that order (a step keeps it so): the step then reads the pending lots without comparing their
    ids, and those whose wait ended are the first (engine/step.py)."""
    lots_view: Any
    """The step's view of the lots (engine/step.py `_Lots`), kept from step to step; None: made
    at the next step (a load drops it, as the lots may have changed in any way)."""
    due_at: Seconds
    """The first moment (epoch seconds) anything time does is due — a pending lot ripe, a lot
    expiring, a tier review, a message that waited —, as the latest step worked it out: a step
    before it skips time passing (engine/step.py `_due_at`). 0 (due at once) after anything else
    changed the working state (`of`, `load`, `defer`, `changed`, `copy`)."""
    due_for: Any
    """The program `due_at` was worked out for: a tier review's moment is the program version's (its
    window, hold and grace), so a step of another version (a reload) does not take the moment as
    its own (engine/step.py)."""
    review: tuple[Any, str, Any, Seconds] | None
    """The tier review's moment the latest step worked out, with what it depends on (the program's
    tiers, the tier, `tier_since`): found again while those stay (engine/step.py)."""
    counters: dict[str, dict[str, Units]]
    activity: deque[ActivityTuple]
    activity_view: ActivityView | None
    """The view of `activity` the cold state holds after a step moved it in place (compact.py
    `ActivityView`), made at the first such step and kept."""
    tier_update: Any
    """What a step's tiers (mechanics/tiers_working.py) decided on this working state, applied by
    the step once nothing can fall back (engine/step.py `_settled`); None between steps."""
    sums_due: Seconds
    """From when a step's run may read the running sums the cold state holds as a stand-in after a
    step's tiers moved them (a tier review, the downgrade reminder): made before such a run
    (engine/step.py `_sums_due`)."""
    sums: SumsTuple | None
    last_event_at: Seconds | None
    last_zone: Zone
    ids: deque[str]
    seen: set[str]
    moves: int
    """How many times this working state moved on (a load, a step, a change): what a result made
    lazily from it checks (engine/step.py)."""
    cold: CustomerState
    whole: Held | None
    """The whole step's state this working state stands for (`hold`); None: its own parts do."""
    _state: CustomerState | None
    _made: CustomerState | None
    """The public state the deques last stood for (`public()`'s, or the one loaded), kept across
    steps: their tuples taken from it carry its models, and `public()` reuses its lists
    (state/public_parts.py). None after `changed()`: the deques changed in any way."""
    _decimals: int
    _sums: tuple[Units, Units] | None
    _lots_from: Window | None
    _activity_from: Window | None
    _ids_from: Window | None
    _behind: CustomerState | None
    _cold_behind: deque[ActivityTuple] | None
    _cold_names: tuple[str, ...]
    """The attributes `moved_on` left to be made from the cold state (`_FROM_COLD`, or
    `_FROM_COLD_REST` after a step that kept the tier parts itself); () when none."""
    _stash: tuple[deque[LotTuple], deque[ActivityTuple], deque[str], set[str]] | None
    _unfilled: list[LazyLines]
    """The lines of the lot models a step's run read (`lot_model`), filled when `public()` is made."""

    @classmethod
    def of(cls, state: CustomerState | Mapping[str, Any] | None, plan: Facts) -> Working:
        """The working state of `state` (None: a new customer; JSON-like data is validated as
        `Engine.process` validates it) for the program `plan` describes."""
        working = cls.__new__(cls)
        working._decimals = -exponent(plan.quantum)
        working._behind = working._stash = working._cold_behind = working._made = None
        working._cold_names = ()
        working.activity_view = working.tier_update = working.whole = None
        working.sums_due = 0
        working.moves = 0
        working.review = working.due_for = None
        working._unfilled = []
        working.load(parse_state(state))
        return working

    def load(self, state: CustomerState) -> None:
        """Make this working state stand for `state`, as `Working.of` would (what a stream does with
        the state an event left while no generated step takes the events: engine/stream.py)."""
        if state is getattr(self, "_state", None):
            return  # it stands for it already (a duplicate event: the state came back unchanged)
        self._caught_up()
        load_parts(self, state)
        self.moves += 1

    def _caught_up(self) -> None:
        """Every compact part made (`defer` and `moved_on` leave some to be made when read)."""
        if self._behind is not None:
            self._catch_up()
        if self._cold_names:
            self._load_cold()

    def defer(self, state: CustomerState) -> None:
        """Make this working state stand for `state` as `load` does, the compact parts made only when
        first read: `public()` gives `state` back at once (a pointer), and a stream whose events all
        go through `process` (engine/stream.py) pays nothing per event for a load no one reads.

        How: the compact attributes are unset (their deques stashed, for `load`'s moves), so that
        reading any of them — from outside or from a method — goes through `__getattr__`, which
        loads the latest state deferred into the stashed deques (`_catch_up`), once for any number
        of deferred states: the windows moved since the last load are popped and appended at once."""
        if state is self._state:
            return
        whole, self.whole = self.whole, None
        if self._cold_names:
            self._load_cold()
        if self._behind is None:
            self._stash = (self.lots, self.activity, self.ids, self.seen)
            for name in _DEFERRED:
                delattr(self, name)
        elif whole is not None and self._stash is not None:
            # A whole state held since `hold` (its public state what `state` came from): its deques'
            # tuples are the newest, those stashed as old as the hold. They are stashed instead (no
            # window: a load takes them over by their models, not in place), so that the next
            # whole state (`made_parts`) or load makes only the tuples of what `state` changed.
            self._stash = (whole.lots, whole.activity, *self._stash[2:])
            self._lots_from = self._activity_from = None
        self._behind = self._state = state
        self.due_at = 0
        self.moves += 1

    def hold(self, whole: Held) -> None:
        """Stand for `whole`, the state a whole step (engine/whole/) decides a purchase on in place:
        the compact parts left to be made from its public state when first read (as `defer` leaves
        them), its ids read as they are (`seen`: a service asks at every event). Held again after
        each step: the working state moved on (`moves`)."""
        if self.whole is not whole:
            # `whole` may have taken over the deques, the ids and their set `made_parts` gave (it
            # changes them in place): a load makes its own again, by the models, never moving
            # those in place (`_deque_of`, `_ids_of` with no window), from here on
            self._lots_from = self._activity_from = self._ids_from = None
            self._state = None
            self.defer(_HELD)  # the parts unset; `_catch_up` loads `whole.public()`, not this
            self._state, self.whole = None, whole
        else:
            self.moves += 1

    def made_parts(self) -> MadeParts:
        """The deques of lots and of activity tuples this working state has made, and its ids
        with their set when they stand for its state, read without making a part left to be made
        (reading the attribute would): what a whole step's state takes over (engine/whole/state.py
        `WholeState.of`) — the tuples by the model each holds, making only those of models none
        holds; the deques themselves when they hold exactly the state's tuples, and the ids and
        their set (`hold` then lets them go: a year of lots and activities and a thousand ids are
        not copied, nor made young again for the collector to walk). Left to be made by `defer`
        (or `hold`): the
        deques it stashed, those of the state it stood for before (most of their models shared
        with the new one's), and no ids; by `moved_on`: the activity's deque before the step.
        Last, whether the deques are exactly the tuples of `public()`'s lots and activity (the state
        made or loaded last, nothing changed since: `_state`, the working state's own contract), so
        that the whole state takes them over without comparing a year of models one by one."""
        if self._behind is not None:
            stash = self._stash
            return ((), (), None, None, False) if stash is None else (stash[0], stash[1], None, None, False)
        names = self._cold_names
        activity = self._cold_behind if names is _FROM_COLD else self.activity
        exact = self._state is not None and not names
        return self.lots, activity if activity is not None else (), self.ids, self.seen, exact

    def cold_parts(self) -> CustomerState:
        """A state whose cold parts (the profile, messages, reminders, …) are this one's: read
        without making the compact parts (the whole step's look before it makes its state)."""
        return self._behind or self.cold

    def __getattr__(self, name: str) -> Any:
        """Only called for an attribute not set: a compact part `defer` or `hold` left to be made
        (or one a working state under construction does not have yet: then AttributeError)."""
        if name in _DEFERRED_SET:
            whole = object.__getattribute__(self, "whole")
            if whole is not None and name == "seen":
                return whole.seen
            if object.__getattribute__(self, "_behind") is not None:
                self._catch_up()
                return object.__getattribute__(self, name)
            if name in object.__getattribute__(self, "_cold_names"):
                self._load_cold()
                return object.__getattribute__(self, name)
        raise AttributeError(name)

    def moved_on(self, cold: CustomerState) -> None:
        """Say that a step changed this working state in place (engine/step.py): the lots, their
        running sums, `pending_lots`, the ids and `last_event_at` changed here, and `cold` is the
        state after the event in every other part (the event's run made it, its own lots, pending
        lots and ids left as they were: those are the compact parts'). The parts `cold` holds are
        made from it when first read (`_FROM_COLD`), as `defer` leaves them; `public()` builds the
        state again. When `cold` reads the activity through `activity_view`, the step moved the
        tier parts here itself (`_TIER_PARTS`, mechanics/tiers_working.py): only the others are
        left to be made."""
        self.cold = cold
        if self._state is not None:  # the deques moved on from it at their ends only: a base
            self._made = self._state  # for `public()` (state/public_parts.py)
        self._state = None
        self._lots_from = self._ids_from = None
        self.due_at = 0  # the step works it out again
        self.moves += 1
        names: tuple[str, ...] = _FROM_COLD
        if viewed_by(cold, self):
            names = _FROM_COLD_REST
            self._activity_from = None  # the deque moved in place: `load` takes it by the models
        behind = self._cold_names
        if behind is names:
            return
        if behind is _FROM_COLD:  # the tier parts not made since an earlier step: made now
            self._load_cold()
        elif behind:  # the others behind already: the tier parts join them
            self._cold_behind = self.activity
            for name in _TIER_PARTS:
                delattr(self, name)
            self._cold_names = _FROM_COLD
            return
        if names is _FROM_COLD:
            self._cold_behind = self.activity
        for name in names:
            delattr(self, name)
        self._cold_names = names

    def _load_cold(self) -> None:
        """Make the parts `moved_on` left to be made from the cold state (the activity's deque
        moved with the state's shared list, as `load` moves it)."""
        names, self._cold_names = self._cold_names, ()
        if names is _FROM_COLD:
            activity = self._cold_behind
            assert activity is not None
            self._cold_behind = None
            self.activity = activity
            load_rest(self, self.cold)
        else:
            load_others(self, self.cold)

    def _catch_up(self) -> None:
        """Load the state `defer` left to be made into the deques it stashed (the module docstring)."""
        state, stash, whole = self._behind, self._stash, self.whole
        if whole is not None:  # `hold`: the whole step's state made public
            state, self.whole = whole.public(), None
        assert state is not None and stash is not None
        self._behind = self._stash = None
        self.lots, self.activity, self.ids, self.seen = stash
        load_parts(self, state)
        self._state = state

    def lot_model(self, index: int) -> Lot:
        """The `Lot` of `lots[index]` for a step's run to read: the tuple's own, or made (and kept
        in the tuple) when a step made the tuple without one, its lines made when the public state
        is (`compact.read_lot`)."""
        lots = self.lots
        lot = lots[index]
        model = lot[LOT_MODEL]
        if model is None:
            unfilled = self._unfilled
            if len(unfilled) > 2 * len(lots) + 64:  # no public state made for long: lines made now
                self._fill()
            model = read_lot(lot, unfilled)
            lots[index] = (*lot[:LOT_MODEL], model)
        return model

    def _fill(self) -> None:
        """Make the lines of every lot model a step's run read without them (`lot_model`)."""
        for lines in self._unfilled:
            lines.lines()
        self._unfilled = []

    @property
    def customer_id(self) -> str | None:
        """The customer's id (`customer`; None for a customer not seen yet), read without making the
        compact parts a step (`moved_on`) or a fallback (`defer`) left to be made: a service asks it
        of every event, and reading `customer` itself would make them all (~20 µs an event)."""
        behind = self.whole or self._behind
        if behind is not None:
            return behind.customer
        if self._cold_names:
            return self.cold.customer
        return self.customer

    def changed(self) -> None:
        """Say that the compact parts were changed in place: `public()` builds its state again (and
        `load` no longer takes the deques for the lists they were made from)."""
        self._caught_up()
        self._state = self._made = None
        self._lots_from = self._activity_from = self._ids_from = None
        self.due_at = 0
        self.moves += 1

    @property
    def decimals(self) -> int:
        """The currency's decimals: money in the activity's tuples is in minor units of it."""
        return self._decimals

    def sums_model(self) -> ActivitySums | None:
        """The `ActivitySums` of `sums` (None: none kept), made once and kept in the tuple."""
        sums = self.sums
        if sums is None:
            return None
        model = sums[5]
        if model is None:
            model = sums_model(sums, self._decimals, False)
            self.sums = (*sums[:5], model)
        return model

    @property
    def balance(self) -> Units:
        """The points of the lots available at the latest event (not pending, not expired): added up
        when first read after `of` or `load`, then a running sum that a step changing the lots
        keeps (the setter). With no latest event, every lot's points."""
        return self._running()[0]

    @balance.setter
    def balance(self, points: Units) -> None:
        self._sums = (points, self._running()[1])

    @property
    def pending(self) -> Units:
        """The points of the lots still pending at the latest event (as `balance`)."""
        return self._running()[1]

    @pending.setter
    def pending(self, points: Units) -> None:
        self._sums = (self._running()[0], points)

    def _running(self) -> tuple[Units, Units]:
        sums = self._sums
        if sums is None:
            sums = self._sums = balance_of(self.lots, self.last_event_at)
        return sums

    def public(self, *, fresh: bool = False) -> CustomerState:
        """The `CustomerState` this working state stands for: the one it was made from while nothing
        changed; else one made from the compact parts and the cold ones, the models of unchanged
        lots and activities reused. `fresh`: every model made from the compact values alone, nothing
        reused (what the round-trip tests check)."""
        state = self._state
        if state is not None and not fresh:
            return state
        if self.whole is not None and not fresh:
            return self.whole.public()
        state = built(self, fresh, self._cold_names is _FROM_COLD)
        if not fresh:
            self._state = self._made = state
        return state

    def adopt(self, state: CustomerState) -> None:
        """Stand for `state`, a SQL store's copy of the public state this working state last gave
        (state/working_public.py `adopt`)."""
        adopt(self, state)

    def copy(self) -> Working:
        """An independent copy (for a caller that needs value semantics): changing one in place
        leaves the other as it was. Tuples, models and the cold state are immutable, so shared."""
        self._caught_up()
        other = Working.__new__(Working)
        for name in Working.__slots__:
            setattr(other, name, getattr(self, name))
        other.badges = list(self.badges)
        other.badge_set = set(self.badge_set)
        other.lots = deque(self.lots)
        other.pending_lots = None if self.pending_lots is None else list(self.pending_lots)
        other.counters = {rule: dict(periods) for rule, periods in self.counters.items()}
        other.activity = deque(self.activity)
        other.activity_view = None
        other.tier_update = None
        if viewed_by(self.cold, self):  # the copy's cold state reads its own deque
            other.activity_view = ActivityView(other)
            other.cold = replaced(self.cold, {"activity": other.activity_view})
        other.ids = deque(self.ids, maxlen=self.ids.maxlen)
        other.lots_view = None  # a view reads its own working state's lots
        other.due_at = 0  # its pending lots, a list of its own, are looked at again
        other.seen = set(self.seen)
        other._unfilled = list(self._unfilled)  # the same lists: filled by whichever makes its state
        return other

    def __eq__(self, other: object) -> bool:
        """Equal when the public states are."""
        if isinstance(other, Working):
            return self.public() == other.public()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Working({self.customer!r}, {len(self.lots)} lots, balance {self.balance})"
