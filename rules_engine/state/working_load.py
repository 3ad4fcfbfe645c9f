"""Loading a `CustomerState` into a `Working`: the compact parts made from it, the deques moved on.

Why apart from state/working.py: `Working` says what a working state holds and how a step, a
deferral or a whole step's state move it on; this module is the one direction from a public state
to those parts, called by `Working.load` (and `of`), by a deferred load's catch-up and by the parts
`moved_on` left to be made from the cold state. It is where a load's cost is: an event's new state
is the state before it with a few elements changed, and the deques follow it by those elements
only (the comment above `_lots_of`), not by a pass over a year of lots.

Input: a `Working` and the `CustomerState` it is to stand for. Output: the working state's compact
parts set (the module's functions write the working state's attributes, as state/working_public.py
reads them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rules_engine.state.compact import (
    ACT_MODEL_OF,
    LOT_MODEL_OF,
    ActivityTuple,
    ActivityView,
    LotTuple,
    activity_tuple,
    lot_tuple,
    moved_by,
    sums_tuple,
    time_of,
    units_of,
)
from rules_engine.state.customer import Activity, CustomerState, Lot
from rules_engine.state.shared import window

if TYPE_CHECKING:
    from rules_engine.state.working import Working

KEPT_IDS = 1000
"""The ids of the latest events a state keeps: the engine's bound (`settle.PROCESSED_KEPT`, which a
test holds equal to this)."""


def viewed_by(state: CustomerState, working: Working) -> bool:
    """Whether `state`'s activity is `working`'s deque (`activity_view`: after a step's tiers)."""
    activity: Any = state.activity
    return type(activity) is ActivityView and activity.working is working


def load_parts(working: Working, state: CustomerState) -> None:
    """Every compact part of `working` made from `state`, which it then stands for."""
    working.cold = working._state = working._made = state
    load_rest(working, state)
    working.last_event_at, working.last_zone = time_of(state.last_event_at)
    working.lots = _lots_of(working, state.lots)
    working._sums = None
    working.pending_lots = None if state.pending_lots is None else list(state.pending_lots)
    working.pending_tail = None
    working.lots_view = None
    working.due_at = 0
    _ids_of(working, state.processed)


def load_rest(working: Working, state: CustomerState) -> None:
    """The compact parts besides the lots, the ids and the clock (working.py `_FROM_COLD`)."""
    load_others(working, state)
    working.tier = state.tier
    working.tier_since, working.tier_zone = time_of(state.tier_since)
    activity = state.activity
    if viewed_by(state, working):
        return  # the deque and its sums are this state's already (`moved_on`)
    working.activity = _activity_of(working, activity)
    sums = state.activity_sums
    working.sums = None if sums is None else sums_tuple(sums, working._decimals)


def load_others(working: Working, state: CustomerState) -> None:
    """The compact parts besides the tier parts (working.py `_FROM_COLD_REST`)."""
    working.customer = state.customer
    working.visits = state.visits
    working.badges = list(state.badges)
    working.badge_set = set(state.badges)
    working.counters = {
        rule: {key: units_of(points) for key, points in periods.items()}
        for rule, periods in state.counters.items()
    }


# What a load takes over from the state the working state stood for before: an event's new state
# is that state with a few elements changed, its long lists (state/shared.py) windows on the same
# storage moved by the elements that left the head and those appended. When the new window is
# the one last loaded, moved so (`moved`), and nothing changed the deque since (`changed()`
# forgets the windows), only those elements are popped and made; otherwise the tuples of the
# models the new list shares with the deque are taken over by the models' identity (each tuple
# holds its model, so no id is reused while the old tuples live) and the others made.


def _lots_of(working: Working, lots: Sequence[Lot]) -> deque[LotTuple]:
    return _deque_of(working, "lots", lots, LOT_MODEL_OF, lot_tuple)


def _activity_of(working: Working, activity: Sequence[Activity]) -> deque[ActivityTuple]:
    if type(activity) is ActivityView:  # a step's cold state: the models its deque holds
        activity = list(activity)
    decimals = working._decimals
    return _deque_of(working, "activity", activity, ACT_MODEL_OF, lambda a: activity_tuple(a, decimals))


def _deque_of(working: Working, name: str, models: Sequence[Any], model_of: Any, make: Any) -> deque[Any]:
    """The deque `name` (`lots`, `activity`) for the list `models`, as the comment above says."""
    old: deque[Any] | None = getattr(working, name, None)
    moved = moved_by(getattr(working, f"_{name}_from", None), models)
    setattr(working, f"_{name}_from", window(models))
    if old is not None and moved is not None:
        for _ in range(moved[0]):
            old.popleft()
        old.extend(map(make, moved[1]))
        return old
    if old:
        known = dict(zip(map(id, map(model_of, old)), old, strict=True))
        return deque([known.get(id(model)) or make(model) for model in models])
    return deque(map(make, models))


def _ids_of(working: Working, processed: Sequence[str]) -> None:
    moved = moved_by(getattr(working, "_ids_from", None), processed)
    working._ids_from = window(processed)
    if moved is not None:
        ids, seen = working.ids, working.seen
        for _ in range(moved[0]):
            seen.discard(ids.popleft())
        ids.extend(moved[1])
        seen.update(moved[1])
        if len(ids) == len(processed) and len(seen) == len(ids):  # the ids distinct, as the
            return  # engine keeps them (a state written by hand may repeat one: made again)
    working.ids = deque(processed, maxlen=max(KEPT_IDS, len(processed)))  # a longer one, written
    working.seen = set(processed)  # by hand, stays whole: its next event cuts it (settle.kept)
