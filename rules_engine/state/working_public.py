"""A working state's public `CustomerState`, made from its compact parts: `built`, and `adopt`.

Why apart from state/working.py: `Working` holds a customer's state compact and mutable for the
steps that change it in place; making the public state back is the other direction, read by the
stores and by whoever asks a step's result for its state. It reuses what it can: the parts a step
left in the cold state as they are, and the long lists moved on from the public state the working
state last stood for (state/public_parts.py). `adopt` lets a SQL store's held copy of that state
be the one the next public state moves on from.

Input: a `Working`. Output: the `CustomerState` it stands for, equal to one made from scratch
(`Working.public(fresh=True)`, tests/engine/test_working.py and test_public_parts.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rules_engine.state.compact import (
    ACT_MODEL_OF,
    LOT_MODEL_OF,
    ActivityView,
    activity_model,
    challenges_of,
    decimal_of,
    lot_model,
    models_of,
    moment_of,
    quests_of,
    sums_model,
)
from rules_engine.state.customer import ChallengeProgress, CustomerState, QuestProgress
from rules_engine.state.public_parts import moved_ids, moved_models
from rules_engine.state.purchases import Bought
from rules_engine.state.shared import window
from rules_engine.unvalidated import replaced, trusted

if TYPE_CHECKING:
    from rules_engine.state.working import Working

_HOT_DEFAULTS: dict[str, Any] = {
    "customer": None,
    "tier": None,
    "lots": [],
    "pending_lots": None,
    "counters": {},
    "visits": 0,
    "badges": [],
    "tier_since": None,
    "activity": [],
    "activity_sums": None,
    "last_event_at": None,
    "processed": [],
}
"""The fields a working state holds compact, with the model's defaults (for the fields set)."""

_ADOPTED = ("lots", "activity", "processed", "purchases")
"""The long lists `adopt` compares by their ends."""


def adopt(working: Working, state: CustomerState) -> None:
    """Stand for `state`: the public state this working state last gave, or a copy of it with its
    long lists put on storages of their own (a SQL store's held state, store/lists.py `owned`), the
    same elements. `working.public()` then gives it, and after the next step moves its windows on,
    which the store compares by their bounds, not element by element (state/public_parts.py); and a
    state loaded next that is `state`'s lists moved on (an `advance` written with a state of its own:
    sql_writing.py `_carried_on`) is loaded by what moved, not by every lot. Anything else (told by
    the lists' ends and the clock) is ignored."""
    current = working._state
    if current is None or state.last_event_at != current.last_event_at:
        return
    if current is not state:
        for name in _ADOPTED:
            mine, theirs = getattr(current, name), getattr(state, name)
            if len(mine) != len(theirs) or (
                mine and (mine[0] is not theirs[0] or mine[-1] is not theirs[-1])
            ):
                return
        if working._behind is current:
            working._behind = state
        cold = working.cold  # (a deferred state is loaded here: `Working.defer`)
        if cold is current:
            working.cold = state
        elif cold.purchases is not state.purchases:  # a step's lines (`Bought`): the held ones now
            working.cold = replaced(
                cold, {"purchases": state.purchases, "older_purchases": state.older_purchases}
            )
        working._state = working._made = state
    if working._behind is not None:  # deferred: the stashed deques stand for the windows they had
        return
    # What `load` moves on from: the lots' deque, the ids' ring and the activity's deque stand for
    # `state`'s lists element by element, also after a step, which forgot the windows (`moved_on`);
    # but the activity's deque is left to the cold state after some steps (`_FROM_COLD`: `public()`
    # took the activity from it), and is then taken by the models, as before.
    working._lots_from = window(state.lots)
    working._ids_from = window(state.processed)
    if "activity" not in working._cold_names:
        working._activity_from = window(state.activity)


def built(working: Working, fresh: bool, whole: bool) -> CustomerState:
    """`Working.public()`'s state made (`fresh`: every model made from the compact values, nothing
    reused); `whole`: the step left every part `_FROM_COLD` names in the cold state, the tier parts
    too (working.py `moved_on`)."""
    if working._unfilled:
        working._fill()
    made = None if fresh else working._made  # its lists, moved on by what changed since
    hot: dict[str, Any] = {
        "lots": _models(working.lots, made, "lots", LOT_MODEL_OF, lambda lot: lot_model(lot, fresh), fresh),
        "pending_lots": None if working.pending_lots is None else list(working.pending_lots),
        "last_event_at": moment_of(working.last_event_at, working.last_zone),
        "processed": list(working.ids)
        if made is None
        else moved_ids(working.ids, made.processed, len(working.seen) == len(working.ids)),
    }
    cold = working.cold
    behind = () if fresh else working._cold_names
    if behind:  # the parts a step left in the cold state (`moved_on`): its own values, not made
        hot.update(customer=cold.customer, visits=cold.visits, badges=cold.badges, counters=cold.counters)
        activity: Any = cold.activity  # another working state's view (a copy's): made below
        if whole and type(activity) is not ActivityView:
            hot.update(tier=cold.tier, tier_since=cold.tier_since, activity=activity,
                       activity_sums=cold.activity_sums)  # fmt: skip
    if "visits" not in hot:
        hot.update(customer=working.customer, visits=working.visits, badges=list(working.badges), counters={
            rule: {key: decimal_of(points) for key, points in periods.items()}
            for rule, periods in working.counters.items()
        })  # fmt: skip
    if "tier" not in hot:
        decimals, sums = working._decimals, working.sums
        make = lambda a: activity_model(a, decimals, fresh)  # noqa: E731
        hot.update(tier=working.tier, tier_since=moment_of(working.tier_since, working.tier_zone),
                   activity=_models(working.activity, made, "activity", ACT_MODEL_OF, make, fresh),
                   activity_sums=None if sums is None else sums_model(sums, decimals, fresh))  # fmt: skip
    given = cold.__pydantic_fields_set__
    # As validation would record them: the fields given, and any field not at its default.
    # (Every default is None or empty: tested by `bool`, not by `!=`, which a `SharedList` answers
    # in Python.)
    fields = given | {
        name
        for name, value in hot.items()
        if (value is not None if _HOT_DEFAULTS[name] is None else bool(value))
    }
    purchases: Sequence[Any] = cold.purchases
    if type(purchases) is Bought:  # a step's purchase lines, made (engine/history.py)
        hot["purchases"], hot["older_purchases"] = purchases.kept(cold.older_purchases)
    challenges = challenges_of(cold.challenges, _challenge_model)  # a step's progress: its models
    if challenges is not None:
        hot["challenges"] = challenges
    quests = quests_of(cold.quests, _quest_model)  # a step's attempts (mechanics/quests.py): models
    if quests is not None:
        hot["quests"] = quests
    state = replaced(cold, hot)
    object.__setattr__(state, "__pydantic_fields_set__", fields)
    return state


def _challenge_model(window: str, progress: Decimal, completed: list[str], counted: Any) -> Any:
    """The `ChallengeProgress` of a step's `Counting` (compact.py)."""
    return trusted(ChallengeProgress, {"window": window, "progress": progress, "completed": completed,
                                       "counted": counted}, _CHALLENGE_FIELDS)  # fmt: skip


_CHALLENGE_FIELDS = {"window", "progress", "completed", "counted"}


def _models(
    tuples: deque[Any], made: CustomerState | None, name: str, model_of: Any, make: Any, fresh: bool
) -> Any:
    """A deque's models for `public()`: every one made when `fresh`; else the list `name` of the
    state the deque last stood for (`Working._made`) moved on by what changed (public_parts.py)."""
    if fresh:
        return models_of(tuples, model_of, make, True)
    return moved_models(tuples, None if made is None else getattr(made, name), model_of, make)


def _quest_model(started_at: Any, done: list[int], completed: bool) -> Any:
    """The `QuestProgress` of a step's `Questing` (compact.py)."""
    return trusted(
        QuestProgress, {"started_at": started_at, "done": done, "completed": completed}, _QUEST_FIELDS
    )


_QUEST_FIELDS = {"started_at", "done", "completed"}
