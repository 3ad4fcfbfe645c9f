"""Event ids reused after the customer's processed ids forgot them, while their lots live.

A state keeps the ids of its latest 1,000 events (`settle.PROCESSED_KEPT`): an event id older
than that is taken as new, and its purchase's lots get the ids (`event/rule`) of lots that may still
be alive. The points reminder records lots by id (`CustomerState.reminded`), expiry takes the ids
of the lots it removes out of it, and the paths keep memos of how far the reminder reached
(`lot_memos.keep_reminded`, the whole step's count of the lots at the deque's head): a memo that
took one id for one lot would let a path skip a lot that another path reminds of again.

Four paths decide each event and must agree, event by event — the outcome's JSON and the state's:
`Engine.process` on the state carried in memory (its memos kept on its lists), `Engine.process`
on the state read back from its JSON (no memo: the plain engine), and `Stream.step` with the
whole step and in place, each on its own working state. Between two events the customer's
processed ids are now and then forgotten (the state's `processed` emptied, each path going on
from that state), and purchases draw their ids from a small pool, so that ids come back while
their lots live.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError
from rules_engine.state.customer import CustomerState, parse_state
from rules_engine.state.working import Working
from tests.engine.test_whole_reminder import (
    MSK,
    engine_of,
    purchase,
    reminder_streams,
    reminder_variants,
    variant,
)


def forgotten(state: CustomerState) -> CustomerState:
    """`state` with its processed ids forgotten (as 1,000 later events would), its lists shared."""
    return state.model_copy(update={"processed": []})


class Paths:
    """The four paths of the module docstring, each with the customer's state as it left it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.carried: CustomerState | None = None  # `process`, the state in memory
        self.read: CustomerState | None = None  # `process`, the state read back from its JSON
        self.whole = Stream(engine)
        self.in_place = Stream(engine, whole=False)
        self.workings: dict[str, Working] = {
            "whole": self.whole.working(None),
            "in place": self.in_place.working(None),
        }

    def forget(self) -> None:
        if self.carried is None or self.read is None:
            return
        self.carried, self.read = forgotten(self.carried), forgotten(self.read)
        for name, stream in (("whole", self.whole), ("in place", self.in_place)):
            self.workings[name] = stream.working(forgotten(self.workings[name].public()))

    def decide(self, event: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
        """Each path's answer to `event`: (outcome JSON, state JSON, reminded), or the codes refused."""
        made: dict[str, tuple[Any, ...]] = {}
        for name in ("carried", "read", "whole", "in place"):
            try:
                if name == "carried":
                    result = self.engine.process(event, self.carried)
                    self.carried = result.state
                elif name == "read":
                    state = (
                        None if self.read is None else parse_state(json.loads(self.read.model_dump_json()))
                    )
                    result = self.engine.process(event, state)
                    self.read = result.state
                else:
                    stream = self.whole if name == "whole" else self.in_place
                    result = stream.step(event, self.workings[name])
            except EventError as error:
                made[name] = ("refused", [d.code for d in error.diagnostics])
                continue
            made[name] = (
                result.outcome().model_dump_json(),
                result.state.model_dump_json(),
                list(result.state.reminded),
            )
        return made


def agree(made: dict[str, tuple[Any, ...]], event: dict[str, Any]) -> None:
    reference = made["read"]
    for name, answer in made.items():
        assert answer[:2] == reference[:2], (name, event["id"], {n: a[-1] for n, a in made.items()})


@st.composite
def reused(draw: st.DrawFn) -> tuple[str, list[tuple[dict[str, Any], bool]]]:
    """A coffee-club variant whose points expire within weeks (test_whole_reminder.py), and one
    customer's events with the purchases' ids from a pool of a few, each with whether the
    processed ids are forgotten before it."""
    text = draw(reminder_variants(), label="program")
    pool = draw(st.integers(1, 8), label="pool")
    events: list[tuple[dict[str, Any], bool]] = []
    for event in draw(reminder_streams(), label="events"):
        event = {**event, "customer": "c"}
        if event["type"] == "purchase":
            event["id"] = f"p{draw(st.integers(0, pool))}"
        events.append((event, draw(st.integers(0, 3)) == 0))
    return text, events


@settings(max_examples=60, deadline=None)
@given(drawn=reused())
def test_reused_ids_give_one_answer_on_every_path(
    drawn: tuple[str, list[tuple[dict[str, Any], bool]]],
) -> None:
    text, events = drawn
    paths = Paths(engine_of(text))
    for event, forget in events:
        if forget:
            paths.forget()
        agree(paths.decide(event), event)


def test_a_lot_sharing_its_id_with_one_that_expired_is_reminded_of_again() -> None:
    """`p0`'s lot (expiring on day 10) is reminded of on day 4. The processed ids forgotten, a
    purchase on day 5 reuses `p0`: its lot (expiring on day 15) has the id `p0/base`, reminded of
    already, so the reminder on day 9 skips it. On day 11 the first lot has expired and its id left
    the reminded: the second is within reach and not reminded of, and is reminded of again — on
    every path, the state carried in memory (its memo of how far the reminder reached) too."""
    engine = engine_of(variant(expire="10d", pending="12h", before="7d", cap=None, quiet=None))
    start = dt.datetime(2026, 3, 2, 11, tzinfo=MSK)
    paths = Paths(engine)
    days = [(0, "p0"), (4, "p1"), (5, "p0"), (9, "p2"), (11, "p3")]
    reminded: list[list[str]] = []
    for number, (day, event_id) in enumerate(days):
        if event_id == "p0" and number:
            paths.forget()
        event = {**purchase(number, start + dt.timedelta(days=day)), "id": event_id}
        made = paths.decide(event)
        agree(made, event)
        reminded.append(made["carried"][2])
    assert [r.count("p0/base") for r in reminded] == [0, 1, 1, 1, 1]
    assert reminded[3][-1] != "p0/base"  # day 9: the second `p0/base` skipped, its id known
    assert "p0/base" in reminded[4][reminded[4].index("p1/base") :]  # day 11: reminded of again
