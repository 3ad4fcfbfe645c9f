"""The whole step's state: one customer's `CustomerState` as a slotted object of ints and tuples.

The generated whole step (generate.py) changes it in place at every purchase it decides, as the
hand-written processor (bench/handwritten_coffee.py) changes its `CoffeeState`: lots, counters,
the tier's activity, the challenge's and quest's progress as ints, tuples and deques. The public
`CustomerState` is made from it only when read (`public()`), with the engine's own makers for
each part (state/compact.py: a lot's, an activity's, the sums' model from their tuples; the
purchase history as `history.Bought`), so that `WholeState.of(state).public() == state` and, after
any steps, `public()` equals the state `Engine.process` would have left (tests/engine/
test_whole.py). The parts a purchase never changes (profile, coupons, streaks, …) stay the
state's own (`base`).

Input: a `CustomerState` (or None: a new customer). Output: `public()`, a `CustomerState`.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from itertools import compress, count, repeat
from operator import is_
from typing import Any

from rules_engine.engine.trusted import counted_line, trusted
from rules_engine.engine.whole.reminded import counted, listed
from rules_engine.state.compact import (
    ACT_MODEL_OF,
    LOT_MODEL_OF,
    ActivityTuple,
    LotTuple,
    SumsTuple,
    activity_model,
    activity_tuple,
    lot_model,
    lot_tuple,
    sums_model,
    sums_tuple,
    units_of,
)
from rules_engine.state.customer import (
    ChallengeProgress,
    CountedPurchase,
    CustomerState,
    DeferredMessage,
    OlderPurchases,
    PastLine,
    QuestProgress,
)
from rules_engine.state.public_parts import moved_ids, moved_models
from rules_engine.state.working import KEPT_IDS

_QUEST_GIVEN = set(QuestProgress.model_fields)
_CHALLENGE_GIVEN = set(ChallengeProgress.model_fields)
_EMPTY = CustomerState()
_COUNTED_GIVEN = set(CountedPurchase.model_fields)
_ONE, _ZERO = Decimal(1), Decimal(0)


class WholeState:
    """A customer's state for the whole step (the module docstring). `changed` is False while it
    still stands for `base` as it is (then `public()` is `base`)."""

    __slots__ = (
        "activity",
        "badge_set",
        "badges",
        "base",
        "bought",
        "capped",
        "challenges",
        "changed",
        "checked",
        "counters",
        "customer",
        "decimals",
        "deferred",
        "ids",
        "last",
        "last_event_at",
        "lots",
        "made",
        "notified",
        "older",
        "pending",
        "pending_tail",
        "popped",
        "purchases",
        "quests",
        "reached",
        "reminded",
        "reminded_lots",
        "reminded_made",
        "reminded_until",
        "seen",
        "since_at",
        "sums",
        "tier",
        "tier_since",
        "visits",
    )

    base: CustomerState
    changed: bool
    made: CustomerState | None
    """`public()`'s state, kept until the next step changes this one (which sets it None)."""
    last: CustomerState
    """The public state the long lists last stood for (`base`, then each one `public()` made): the
    next `public()` makes its lots, activity and ids as that state's lists moved on by what the
    steps since changed at their ends (`public_parts`), not as copies of every element."""
    decimals: int
    customer: str | None
    tier: str | None
    tier_since: dt.datetime | None
    visits: int
    badges: list[str]
    badge_set: set[str]
    bought: int
    ids: deque[str]
    seen: set[str]
    last_event_at: dt.datetime | None
    lots: deque[LotTuple]
    pending: list[str] | None
    pending_tail: bool
    """`pending` is known to name the lots' tail, in order (looked at once; the step keeps it so:
    it drops the lots whose wait ended from its head and appends its awards' at both ends)."""
    counters: dict[str, dict[str, int | Decimal]]
    activity: deque[ActivityTuple]
    sums: SumsTuple | None
    since_at: int
    """Where the first `activity` entry at or after the sums' start was (-1: not known): a hint the
    step confirms before it uses it (step.py `_moved`)."""
    challenges: dict[str, list[Any]]  # id → [window, progress, completed, counted]
    quests: dict[str, list[Any]]  # id → [started_at, done, completed]
    purchases: Sequence[PastLine]
    older: OlderPurchases | None
    reminded: list[str] | None
    """The lots reminded of (`base.reminded` until an expiry takes some away: then a new list);
    None while counted (`reminded_lots`) and changed since the ids were last made (reminded.py)."""
    reminded_lots: int
    """How many lots at the head of `lots` the reminder reminded of, standing for `reminded`
    (whole/reminded.py); -1: `reminded` is the list itself."""
    reminded_made: tuple[int, list[str]] | None
    """The ids last made from the count, and `popped` then (reminded.py `listed`)."""
    popped: int
    """How many lots left the head of `lots` (expired) since this state was made."""
    checked: int
    """While counting: how many lots at the head of `lots` the reminder reached, their ids distinct
    (whole/reminded.py); at least `reminded_lots`."""
    reached: set[str] | None
    """While counting: the ids of those lots, and perhaps of some that left (whole/reminded.py)."""
    deferred: list[DeferredMessage]
    """The messages waiting (`base.deferred` until one is sent or deferred)."""
    notified: list[dt.datetime]
    """When the messages the frequency cap counts went out (`base.notified` until one is sent)."""
    reminded_until: Any
    """Up to when (epoch seconds) every lot with points is known to be among `reminded`."""
    capped: list[Any] | None
    """The reminder's verdicts of the frequency cap, remembered until its period ends (reminder.py
    `Notices._remember`); None: none yet."""

    @classmethod
    def of(
        cls,
        state: CustomerState | None,
        decimals: int,
        lots: Sequence[LotTuple] = (),
        activity: Sequence[ActivityTuple] = (),
        ids: Sequence[str] | None = None,
        seen: set[str] | None = None,
        exact: bool = False,
    ) -> WholeState:
        """The whole step's form of `state` (None: a new customer); `decimals`: the currency's.
        `lots`, `activity`: tuples made already of some of the state's models (a working state's
        deques), taken over by the model each holds rather than made again (`_tuples`; the deque
        itself when it holds exactly the state's lots, or activities); `ids` and `seen`: the state's
        processed ids and their set, made already (a working state's: taken over, a thousand ids
        neither copied nor hashed again); `exact`: `lots` and `activity` are exactly the tuples of
        the state's lots and activity (the working state knows it: taken over without comparing
        each tuple's model, `_tuples`). `Working.made_parts()` gives the five, and the working
        state lets them go when it holds the whole state (`Working.hold`): this one changes them
        in place. Taken over, not copied, they are not new to the collector either: a copy of
        a long history's containers is walked by its young passes until it is promoted."""
        made = cls.__new__(cls)
        base = _EMPTY if state is None else state
        made.base = base
        made.changed = False
        made.made = None
        made.last = base
        made.decimals = decimals
        made.customer = base.customer
        made.lots = _tuples(base.lots, lots, LOT_MODEL_OF, lot_tuple, True, exact)
        made.pending = None if base.pending_lots is None else list(base.pending_lots)
        if state is None:
            made.pending = []
        made.pending_tail = False
        made.counters = {
            rule: {k: units_of(v) for k, v in kept.items()} for rule, kept in base.counters.items()
        }
        made.tier = base.tier
        made.tier_since = base.tier_since
        made.activity = _tuples(
            base.activity, activity, ACT_MODEL_OF, lambda a: activity_tuple(a, decimals), True, exact
        )
        sums = None if base.activity_sums is None else sums_tuple(base.activity_sums, decimals)
        spend = None if sums is None else sums[1]
        if sums is not None and isinstance(spend, Decimal) and spend == 0 and _coarser(spend, decimals):
            # No spend yet (an app open or a sign-up made the sums): `0` at a coarser exponent
            # than the currency's, which the step's spend, at the currency's, replaces in the sum
            # (`Decimal("0") + Decimal("3.20")` is `3.20`): the whole step's int 0 gives the same.
            sums = (sums[0], 0, *sums[2:])
        made.sums = sums
        made.since_at = -1
        made.visits = base.visits
        made.badges = list(base.badges)
        made.badge_set = set(base.badges)
        made.purchases = base.purchases
        made.older = base.older_purchases
        made.bought = len(base.purchases) + (base.older_purchases.lines if base.older_purchases else 0)
        made.challenges = {
            key: [p.window, units_of(p.progress), list(p.completed), dict(p.counted)]
            for key, p in base.challenges.items()
        }
        made.quests = {key: [q.started_at, list(q.done), q.completed] for key, q in base.quests.items()}
        if type(ids) is deque and ids.maxlen == KEPT_IDS and seen is not None:
            made.ids, made.seen = ids, seen  # a working state's: taken over (see above)
        else:
            made.ids = deque(base.processed if ids is None else ids, maxlen=KEPT_IDS)
            made.seen = set(base.processed if seen is None else seen)
        made.last_event_at = base.last_event_at
        made.reminded = base.reminded
        made.reminded_lots, made.reached = counted(made.lots, base.reminded)
        made.checked = made.reminded_lots if made.reminded_lots > 0 else 0
        made.reminded_made = None
        made.popped = 0
        made.reminded_until = 0
        made.capped = None
        made.notified = base.notified
        made.deferred = base.deferred
        return made

    def public(self) -> CustomerState:
        """The `CustomerState` this stands for (made at the first call after a change, then kept)."""
        if not self.changed:
            return self.base
        if self.made is not None:
            return self.made
        decimals = self.decimals
        purchases, older = self.purchases, self.older
        kept = getattr(purchases, "kept", None)
        if kept is not None:  # a `history.Bought` chain: its lines made and cut now
            purchases, older = kept(older)
        # The long lists as windows on the storage of the lists of the state made last (or read),
        # moved on by what the steps changed at their ends (state/public_parts.py: the same
        # elements as lists made from every tuple): a year's lots, activity, ids and lines are
        # neither copied nor walked in Python at every read (a store writing each event's state).
        last = self.last
        reminded = listed(self)  # the list, or made from the count (whole/reminded.py)
        update: dict[str, Any] = {
            "customer": self.customer,
            "tier": self.tier,
            "lots": moved_models(self.lots, last.lots, LOT_MODEL_OF, _lot_model),
            "pending_lots": self.pending,
            "counters": {
                rule: {k: Decimal(v) if type(v) is int else v for k, v in kept_.items()}
                for rule, kept_ in self.counters.items()
            },
            "purchases": purchases,  # a state's list or a window on its storage: never changed
            "older_purchases": older,
            "visits": self.visits,
            "badges": list(self.badges),
            "tier_since": self.tier_since,
            "activity": moved_models(
                self.activity, last.activity, ACT_MODEL_OF, lambda made: activity_model(made, decimals, False)
            ),
            "activity_sums": None if self.sums is None else sums_model(self.sums, decimals, False),
            "last_event_at": self.last_event_at,
            "challenges": {key: _challenge(*p) for key, p in self.challenges.items()},
            "quests": {
                key: trusted(QuestProgress, {"started_at": s, "done": list(d), "completed": c}, _QUEST_GIVEN)
                for key, (s, d, c) in self.quests.items()
            },
            "processed": moved_ids(self.ids, last.processed, len(self.seen) == len(self.ids)),
            **({"reminded": reminded} if reminded is not self.base.reminded else {}),
            **({"notified": self.notified} if self.notified is not self.base.notified else {}),
            **({"deferred": self.deferred} if self.deferred is not self.base.deferred else {}),
            "coupons": self.base.coupons,  # unchanged, but set by every event's settle: as the
            "entries": self.base.entries,  # engine's state, in the fields set
        }
        made = self.made = self.last = self.base.model_copy(update=update)
        return made


def _coarser(value: Decimal, decimals: int) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -decimals


def _tuples(
    models: Sequence[Any],
    known: Sequence[Any],
    model_of: Any,
    make: Any,
    take: bool = False,
    exact: bool = False,
) -> deque[Any]:
    """The tuples of `models` (`make`): those among `known` whose model is one of them taken over.
    A long history's state has a year of lots and activities, whose tuples its working state has
    made already (each tuple holds the model it was made from, or that was made from it: the same
    values); made again, they would cost the whole step's first purchase tens of milliseconds.
    `take`: `known` itself when it is a deque of exactly those tuples (the caller lets it go);
    `exact`: the caller knows it is (a working state standing for the state it was made from):
    taken without comparing every model (a year of lots: ~0.5 million instructions), its ends
    looked at only, as a guard."""
    if not known:
        return deque(map(make, models))
    same = len(known) == len(models)
    if same and exact and take and type(known) is deque and _ends(known, models, model_of):
        return known
    if same and all(map(is_, map(model_of, known), models)):
        if take and type(known) is deque:
            return known
        return deque(known)  # the usual case, tuple by tuple: checked and copied in C
    by_model = dict(zip(map(id, map(model_of, known)), known, strict=True))
    found = list(map(by_model.get, map(id, models)))  # the models are alive: their ids are theirs
    for index in compress(count(), map(is_, found, repeat(None))):  # the few none holds, found in C
        found[index] = make(models[index])
    return deque(found)


def _ends(known: deque[Any], models: Sequence[Any], model_of: Any) -> bool:
    """Whether the first and the last tuple hold the first and the last model (`exact`'s guard)."""
    return model_of(known[0]) is models[0] and model_of(known[-1]) is models[-1]


def _lot_model(lot: LotTuple) -> Any:
    return lot_model(lot, False)


def _challenge(
    window: str, progress: int | Decimal, completed: list[str], counted: dict[str, Any]
) -> ChallengeProgress:
    for key, record in counted.items():
        if type(record) is tuple:  # made once, kept in place of the lines and parts
            counted[key] = _record(*record)
    records = dict(counted)
    values = {
        "window": window,
        "progress": Decimal(progress) if type(progress) is int else progress,
        "completed": list(completed),
        "counted": records,
    }
    return trusted(ChallengeProgress, values, _CHALLENGE_GIVEN)


def _record(lines: list[Any], parts: list[int], added: int) -> CountedPurchase:
    """The record a challenge keeps of a purchase it counted (what a return takes back), made when
    the public state is: the whole step keeps the lines and each one's part."""
    made = [
        counted_line(i, line[0], line[4].qty, _ONE if part else _ZERO)
        for i, (line, part) in enumerate(zip(lines, parts, strict=True))
    ]
    return trusted(CountedPurchase, {"added": Decimal(added), "by_line": True, "lines": made}, _COUNTED_GIVEN)
