"""A working state's public long lists made in proportion to what changed: `moved_models`, `moved_ids`.

Why. `Working.public()` after a step (state/working.py) must give the lots, the activity and the
ids of the latest events as lists. Made from the deques, each is a pass over the whole deque: a
year of a café regular's history holds ~3,400 lots, 1,000 activity records and 1,000 ids, and that
pass (and the models of the step's new tuples found by a Python loop over every element) was most
of `public()`'s ~490 µs after 1,000 purchases, against ~120 µs after 15 (bench/README.md, "A
working state's public state in proportion to what changed"). A SQL store carrying working states
makes the public state at every event, so that cost was the store's; and a plain list of
thousands of models made the store compare it with the list it wrote element by element, where a
window moved on the same storage is compared by its bounds (store/lists.py `_moved_window`).

How. The working state keeps the public state its deques last stood for (`Working._made`: the one
`public()` made, or the one it was loaded from), every tuple of the deques taken from it carrying
that state's model. A step changes the deques only at their ends (engine/step.py): lots expire
from the head (spent ones, with no points, put back at the head for returns), the event's lots and
activity are appended at the tail, the ring of ids drops its oldest. So the new list is the old
one's elements from some index on, the new tuples' models after them, and perhaps a few kept
elements before them: found by identity from the two ends (the tail's new tuples, then the head),
`O(what changed)` Python steps; with nothing kept before them, the new list is the old one's window
moved on its storage (`shared.appended`: no copy). Anything else (the alignment not found, a
caller's own change, announced with `Working.changed()`, which forgets `_made`) makes the list from
every tuple as before, the models of the tuples reused. Either way every element is the model of
its tuple at its place: equal to the list made from scratch (tests/engine/test_public_parts.py).

Input: the deque, the previous public list (or None), the tuples' model getter and how to make a
model. Output: the list of models, and the deque's new tuples given their models.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from itertools import compress, repeat
from operator import is_
from typing import Any

from rules_engine.state.shared import SharedList, ShortList, appended

_SCAN = 256
"""How far from each end the alignment looks: a step changes a few elements at the ends; past this,
the list is made from every tuple (what changed is then as long as what did not)."""


def moved_models(
    tuples: deque[Any],
    before: Sequence[Any] | None,
    model_of: Callable[[Any], Any],
    make: Callable[[Any], Any],
) -> list[Any] | SharedList[Any]:
    """The models of `tuples` (lots or activities: the model the last element), `before`'s elements
    reused where the deque kept them (the module docstring); the new tuples' models made (`make`)
    and kept in their tuples for the next time."""
    kind = type(before)
    if kind is not SharedList and kind is not list and kind is not ShortList:  # (a view: state/compact.py)
        before = None
    found = None if before is None else _aligned(tuples, before, model_of)
    if found is None:
        return _every(tuples, model_of, make)
    head, dropped, kept_end = found
    new = []
    for index in range(kept_end, len(tuples)):
        made = tuples[index]
        model = made[-1]
        if model is None:
            model = make(made)
            tuples[index] = (*made[:-1], model)
        new.append(model)
    assert before is not None
    if not head:
        return appended(before, new, dropped)
    kept = [model_of(tuples[index]) for index in range(head)]  # spent lots put back at the head
    return [*kept, *before[dropped:], *new]


def _aligned(
    tuples: deque[Any], before: Sequence[Any], model_of: Callable[[Any], Any]
) -> tuple[int, int, int] | None:
    """`(head, dropped, kept_end)` when `tuples[head:kept_end]` holds `before[dropped:]`'s models in
    order, `tuples[:head]` elements kept from `before`'s head and `tuples[kept_end:]` new ones;
    found from the ends by identity, None past `_SCAN` from either end. Only the run's two ends are
    compared: a step changes the deque at its ends only (the module docstring)."""
    size, length = len(tuples), len(before)
    if not size or not length:
        return None
    last = before[-1]
    index = size - 1
    stop = max(size - 1 - _SCAN, -1)
    while model_of(tuples[index]) is not last:  # the new tuples at the tail
        index -= 1
        if index == stop:
            return None
    kept_end = index + 1
    for head in range(min(kept_end, _SCAN)):  # spent lots put back at the head, then the kept run
        run = kept_end - head
        if run <= length and model_of(tuples[head]) is before[length - run]:
            if any(model_of(tuples[index]) is None for index in range(head)):
                return None
            return head, length - run, kept_end
    return None


def _every(tuples: deque[Any], model_of: Callable[[Any], Any], make: Callable[[Any], Any]) -> list[Any]:
    """The models of every tuple; those of the tuples with none made and kept in their tuples (their
    places found in C: a Python loop over thousands of elements was most of the cost)."""
    models = list(map(model_of, tuples))
    for index in list(compress(range(len(models)), map(is_, models, repeat(None)))):
        made = tuples[index]
        models[index] = model = make(made)
        tuples[index] = (*made[:-1], model)
    return models


def moved_ids(ids: deque[str], before: Sequence[str] | None, distinct: bool) -> list[str] | SharedList[str]:
    """The ring of the latest events' ids as a list: `before`'s window moved on by the ids that left
    the ring's head and those appended (`shared.appended`), when the ring is `before` so moved and
    its ids `distinct` (as the engine keeps them: then the last one's place is its only one); else
    a copy of the ring."""
    if before is not None and distinct and ids and before:
        size, length = len(ids), len(before)
        last = before[-1]
        index = size - 1
        stop = max(size - 1 - _SCAN, -1)
        while ids[index] is not last:
            index -= 1
            if index == stop:
                return list(ids)
        run = index + 1
        if run <= length and ids[0] is before[length - run]:
            return appended(before, [ids[i] for i in range(run, size)], length - run)
    return list(ids)
