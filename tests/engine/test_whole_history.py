"""The whole step on a long history: a stored state loaded or deferred, fallbacks between purchases.

A customer's working state comes from a store (`Working.of` of the stored state, or `defer` of it
on a working state a store carries), and between two purchases the whole step decides, an app
open or a return goes through `process`. The whole state the step makes then takes over the tuples
the working state holds (`Working.made_parts`: those made, those stashed, or those of the whole
state held before the fallback), each by the model it holds: the same answers as `process`, event
by event (test_whole_stream.py `decided`), and the public state after a purchase holds the stored
state's own lot models where the lots did not change.
"""

from __future__ import annotations

from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.history import CHAINED, Bought
from rules_engine.engine.stream import Stream
from rules_engine.engine.whole.state import WholeState
from rules_engine.state.customer import CustomerState, parse_state
from rules_engine.state.shared import SharedList, window
from rules_engine.state.working import Working
from tests.engine.test_whole_stream import COFFEE, LONG, decided

SPLIT = 330  # the stored state: a year of purchases and more; the rest of LONG follows it


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_file(COFFEE)


@pytest.fixture(scope="module")
def stored(engine: Engine) -> CustomerState:
    """The customer's state after the first events of LONG, as a store reads it back (JSON)."""
    state = None
    for event in LONG[:SPLIT]:
        state = engine.process(event, state).state
    assert state is not None
    return parse_state(state.model_dump(mode="json"))


class _Deferring(Stream):
    """A stream whose working states are made as a store carries them: a working state that stood
    for an earlier state, told to stand for the stored one (`Working.defer`)."""

    def working(self, state: Any = None) -> Working:
        working = super().working(None)
        working.defer(state)
        return working


@pytest.mark.parametrize("make", [Stream, _Deferring], ids=["loaded", "deferred"])
def test_a_stored_long_history_then_purchases_and_fallbacks_give_process_answers(
    engine: Engine, stored: CustomerState, make: type[Stream]
) -> None:
    stream = make(engine)
    rest = LONG[SPLIT:]
    made = decided(stream, engine, rest, stored)
    # most purchases (not those with a tier review due, a challenge or a quest completing)
    assert stream.wholes >= 0.7 * sum(event["type"] == "purchase" for event in rest)
    first = next(result for result, whole in made if whole and result is not None)
    kept = {id(lot) for lot in stored.lots}
    assert sum(id(lot) in kept for lot in first.state.lots) >= len(stored.lots) - 10


def test_a_purchase_after_an_app_open_takes_over_the_whole_states_tuples(
    engine: Engine, stored: CustomerState
) -> None:
    """Purchases and app opens in turn: each purchase's whole state is made again after the app
    open (`process`'s), from the tuples of the whole state held before it."""
    purchases = [event for event in LONG[SPLIT:] if event["type"] == "purchase"][:12]
    events: list[dict[str, Any]] = []
    for event in purchases:
        events.append(event)
        events.append({"id": f"o-{event['id']}", "type": "app_open", "time": event["time"], "customer": "c"})
    stream = Stream(engine)
    made = decided(stream, engine, events, stored)
    assert [whole for _, whole in made] == [True, False] * len(purchases)


def test_purchases_no_one_reads_keep_a_bounded_chain_and_the_same_state(engine: Engine) -> None:
    """A stream whose states no one reads (`loyalty run -q`): the whole step's purchase history
    (`history.Bought`, each purchase's event lines made into the state's lines only when read) is
    made and cut every `CHAINED` purchases, as the step in place cuts it, so a working state
    carried for years does not keep every event's lines alive; the state read at the end is
    `process`'s all the same."""
    purchases = [event for event in LONG if event["type"] == "purchase"][: 2 * CHAINED + 10]
    stream = Stream(engine)
    working = stream.working(None)
    state = None
    depths = []
    for event in purchases:
        state = engine.process(event, state).state
        stream.step(event, working)
        whole = working.whole  # None after a purchase the whole step declined (`process`'s)
        held = whole.purchases if isinstance(whole, WholeState) else None
        depths.append(held.depth if isinstance(held, Bought) else 0)
    assert stream.wholes >= 0.7 * len(purchases)
    assert max(depths) < CHAINED
    assert depths.count(0) >= 2  # made twice over the stream, not once when read
    assert state is not None
    assert working.public().model_dump_json() == state.model_dump_json()


def test_states_read_before_stay_as_they_were(engine: Engine, stored: CustomerState) -> None:
    """The whole state takes over the working state's deques, ids and their set and changes them in
    place (`Working.made_parts`, `hold`): every state read before — the stored one, each result's,
    the working state's public one between events, a step in place's after an app open — is still
    what it was after the purchases, app opens and returns that follow."""
    events = []
    for number, event in enumerate(LONG[SPLIT : SPLIT + 45]):
        events.append(event)
        if number % 4 == 1:
            events.append(
                {"id": f"o-{event['id']}", "type": "app_open", "time": event["time"], "customer": "c"}
            )
    stream = Stream(engine)
    working = stream.working(stored)
    kept = [(stored, stored.model_dump_json())]
    for event in events:
        result = stream.step(event, working)
        kept.append((result.state, result.state.model_dump_json()))
        public = working.public()
        kept.append((public, public.model_dump_json()))
    assert stream.wholes >= 20
    for state, json in kept:
        assert state.model_dump_json() == json


def test_public_states_after_purchases_are_windows_moved_on_not_copies(
    engine: Engine, stored: CustomerState
) -> None:
    """Read after every purchase the whole step decides (a store writing each event's state), the
    public state's long lists — lots, activity, ids, purchase lines — are the previous public
    state's lists moved on over the same storage (`public_parts`: what left the head and what was
    appended), not copies of a year of elements; and each state is `process`'s, the ones read
    before unchanged."""
    purchases = [event for event in LONG[SPLIT:] if event["type"] == "purchase"][:20]
    stream = Stream(engine)
    working = stream.working(stored)
    state: CustomerState | None = stored
    before: CustomerState | None = None
    kept: list[tuple[CustomerState, str]] = []
    moved = 0
    for event in purchases:
        state = engine.process(event, state).state
        wholes = stream.wholes
        stream.step(event, working)
        public = working.public()
        assert public.model_dump_json() == state.model_dump_json()
        kept.append((public, public.model_dump_json()))
        if stream.wholes > wholes and before is not None:
            for name in ("lots", "activity", "processed", "purchases"):
                assert type(getattr(public, name)) is SharedList, name
                assert window(getattr(public, name))[0] is window(getattr(before, name))[0], name
            moved += 1
        before = public if stream.wholes > wholes else None
    assert moved >= 10
    for public, json in kept:
        assert public.model_dump_json() == json
