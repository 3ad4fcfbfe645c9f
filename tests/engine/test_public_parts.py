"""A working state's public state made from what changed (state/public_parts.py) equals the one made
from scratch, and the earlier public states it moved on from stay what they were.

`Working.public()` after steps reuses the lists of the public state the deques last stood for: the
previous list's window moved on by the elements that left the head and the new tuples' models, or
the spent lots a step put back at the head before it. Held here: on deques changed as a step
changes them (hypothesis: pops at the head, some put back, new tuples with or without their
models, the ring of ids), the list is every tuple's model in order, the kept ones the same objects;
and on long coffee-club streams with returns, redemptions, app opens, redeliveries and gaps of
days, `public()` read after any subset of the events equals `Engine.process`'s state and
`public(fresh=True)`, the earlier public states unchanged (their JSON taken when made), and the
window path taken for the steps' purchases (a silent fallback to the whole pass would pass).
"""

from __future__ import annotations

import random
from collections import deque
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.state.public_parts import moved_ids, moved_models
from rules_engine.state.shared import SharedList, window
from rules_engine.store import open_store
from tests.engine.test_stream_step import _events
from tests.engine.test_working import COFFEE, same


class _Model:
    """A model stand-in: compared by identity only, as the alignment compares."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


def _model_of(made: tuple[Any, ...]) -> Any:
    return made[-1]


def _make(made: tuple[Any, ...]) -> _Model:
    return _Model(made[0])


_OPS = st.lists(
    st.tuples(
        st.integers(0, 6),  # lots popped at the head
        st.lists(st.booleans(), max_size=6),  # which popped ones are put back (spent lots)
        st.integers(0, 5),  # new tuples appended
        st.booleans(),  # the new tuples given their models already (a step's run read them)
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 300), ops=st.lists(_OPS, min_size=1, max_size=4))
def test_a_deque_changed_at_its_ends_gives_every_tuple_s_model_kept_ones_reused(
    start: int, ops: list[list[tuple[int, list[bool], int, bool]]]
) -> None:
    """Rounds of steps, `moved_models` after each round: the list is the tuples' models in order
    (those made now kept in their tuples), an element kept from the previous list the same object,
    and every earlier list unchanged."""
    counter = iter(range(10**9))
    tuples: deque[tuple[Any, ...]] = deque()
    for _ in range(start):
        value = next(counter)
        tuples.append((value, _Model(value)))
    before = moved_models(tuples, None, _model_of, _make)
    made: list[tuple[Any, list[Any]]] = [(before, list(before))]
    for steps in ops:
        for popped_count, back, appended_count, with_model in steps:
            popped = [tuples.popleft() for _ in range(min(popped_count, len(tuples)))]
            tuples.extendleft(reversed([lot for lot, kept in zip(popped, back, strict=False) if kept]))
            for _ in range(appended_count):
                value = next(counter)
                tuples.append((value, _Model(value) if with_model else None))
        models = moved_models(tuples, before, _model_of, _make)
        assert list(models) == [lot[-1] for lot in tuples]  # each tuple's own model, in order
        assert all(
            model is not None and model.value == lot[0] for model, lot in zip(models, tuples, strict=True)
        )
        previous = {id(model) for model in before}
        reused = [model for model in models if id(model) in previous]
        assert len(reused) == len([lot for lot in tuples if any(lot[-1] is m for m in before)])
        before = models
        made.append((models, list(models)))
    for models, elements in made:  # a window moved on never changes the list it moved from
        assert list(models) == elements


def test_a_window_moved_on_shares_the_previous_list_s_storage() -> None:
    tuples = deque((value, _Model(value)) for value in range(400))
    before = moved_models(tuples, None, _model_of, _make)
    before = SharedList(list(before), 0, len(before))
    for _ in range(3):
        tuples.popleft()
    tuples.extend([(1000, None), (1001, None)])
    models = moved_models(tuples, before, _model_of, _make)
    assert type(models) is SharedList and window(models)[0] is window(before)[0]
    assert list(models) == [lot[-1] for lot in tuples] and models[-1].value == 1001
    assert tuples[-1][-1] is models[-1]  # made once, kept in its tuple


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 40), rounds=st.lists(st.integers(0, 30), min_size=1, max_size=6))
def test_the_ring_of_ids_moves_its_list_on(start: int, rounds: list[int]) -> None:
    counter = iter(range(10**9))
    ring: deque[str] = deque((f"e{next(counter)}" for _ in range(start)), maxlen=25)
    before: Any = list(ring)
    for count in rounds:
        ring.extend(f"e{next(counter)}" for _ in range(count))
        ids = moved_ids(ring, before, True)
        assert list(ids) == list(ring)
        before = ids
    assert list(moved_ids(ring, ["other"], True)) == list(ring)  # not moved from it: a copy


def _decided(engine: Engine, event: dict[str, Any], state: CustomerState | None) -> Any:
    try:
        return engine.process(event, state)
    except EventError:
        return None


_STREAMS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_STREAMS
@given(seed=st.integers(0, 10**6), every=st.integers(1, 5))
def test_public_states_read_after_any_steps_equal_process_and_the_fresh_ones(seed: int, every: int) -> None:
    """A coffee-club customer's year (returns, redemptions spending lots, lots expiring, messages
    waiting, tier reviews), the public state read after a random subset of the events (about one
    in `every`)."""
    engine = Engine(load_program(COFFEE), secret=b"s")
    streaming = Stream(engine, whole=False)  # the step in place (engine/step.py)
    working = streaming.working(None)
    rng = random.Random(seed)
    state: CustomerState | None = None
    made: list[tuple[CustomerState, str]] = []
    moved = 0
    for event in _events(seed, 260):
        expected = _decided(engine, event, state)
        if expected is None:
            try:
                streaming.step(event, working)
            except EventError:
                continue
            raise AssertionError(f"{event} was refused by process, not by the stream")
        streaming.step(event, working)
        state = expected.state
        if rng.randrange(every) == 0:
            before = made[-1][0] if made else None
            public = working.public()
            same(public, state)
            same(working.public(fresh=True), state)
            if before is not None and type(public.lots) is SharedList and type(before.lots) is SharedList:
                moved += window(public.lots)[0] is window(before.lots)[0]
            made.append((public, public.model_dump_json()))
    same(working.public(), state)
    for public, text in made:  # every earlier public state as it was made
        assert public.model_dump_json() == text
    assert streaming.taken > 100
    assert moved or len(made) < 20, "the lots' window never moved on"


def test_a_sql_store_carrying_working_states_moves_its_held_lists_windows_on(tmp_path: Path) -> None:
    """With `?working=1` the store holds each written state with its long lists on storages of its
    own (store/lists.py `owned`); the working state adopts that state (`Working.adopt`), so the next
    step's public state is those lists' windows moved on, which the store writes as the rows that
    changed, not compared element by element and copied again at every event. What the database
    holds is what `Engine.process` gives, and the refused event leaves the working state as it was."""
    engine = Engine(load_program(COFFEE), secret=b"s")
    purchases = [e for e in _events(4, 400) if e["type"] == "purchase"]
    state: CustomerState | None = None
    for event in purchases[:150]:
        state = engine.process(event, state).state
    assert state is not None and len(state.lots) >= 128 and len(state.processed) >= 128
    url = f"sqlite:///{tmp_path / 'carried.db'}?working=1"
    with open_store(url, engine.program.program) as store:
        loyalty = Loyalty(engine, store, horizon=None)
        # The step in place: a whole step's public state has lists of its own, which the store
        # copies (bench/README.md, "The whole step behind `Stream.step`": left for later).
        loyalty._stream = Stream(engine, whole=False)
        loyalty.put("c1", state)
        storages: dict[str, Any] = {}
        stepped = 0
        for event in purchases[150:170]:
            expected = engine.process(event, state)
            loyalty.process(event)
            state = expected.state
            held = store._cache._held["c1"].state  # type: ignore[attr-defined]
            same(held, state)
            now = {part: window(getattr(held, part))[0] for part in ("lots", "processed", "purchases")}
            if storages:
                stepped += all(now[part] is storages[part] for part in now)
            storages = now
        assert loyalty._stream.taken >= 15
        assert stepped >= 15, "the held lists were copied again instead of moved on"
    with open_store(url, engine.program.program) as store:  # read back from the rows (validated:
        read = store.state("c1")  # every field given)
        assert read == state and read is not None and read.model_dump_json() == state.model_dump_json()


def test_a_working_state_adopts_only_a_copy_of_its_own_public_state() -> None:
    engine = Engine(load_program(COFFEE), secret=b"s")
    streaming = Stream(engine, whole=False)  # the step in place (engine/step.py)
    working = streaming.working(None)
    events = [e for e in _events(6, 60) if e["type"] == "purchase"]
    for event in events[:5]:
        streaming.step(event, working)
    public = working.public()
    other = engine.process(events[5], public).state
    working.adopt(other)  # another state: ignored
    assert working.public() is public
    copy = public.model_copy(update={"lots": list(public.lots), "processed": list(public.processed)})
    working.adopt(copy)
    assert working.public() is copy
    result = streaming.step(events[5], working)
    same(result.state, other)
    same(working.public(fresh=True), other)
