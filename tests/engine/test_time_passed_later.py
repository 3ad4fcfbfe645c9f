"""`Engine.process` makes time passing's `PointsChange`s and expiry `LedgerEntry`s when the
result's are read (points.time_passed, settle.outcome's `time_passed`): what a reader sees is exactly what
`points.time_passes` makes, in front of the event's own, and the result equals the one whose
fields hold them made — for every way of reading it (the fields, `ledger_points()`, the outcome's
JSON, equality, pickling, a late event's catch-up).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
import textwrap
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine import points
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.result import Result
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState

PROGRAM = """\
program: t
version: 3
timezone: Europe/Paris
currency: EUR
points: {pending: 2d, expire_after: 10d}
late_events: {accept_within: 7d}
earn:
  - {id: base, rate: 1 per 1}
  - {id: bonus, award: 5, when: basket.total >= 20}
catalog:
  - {id: mug, name: A mug, cost: 5, reward: {badge: mug}}
badges:
  - {id: mug, name: Mug}
"""
ENGINE = Engine(load_program_text(textwrap.dedent(PROGRAM), "t.yaml"))
EXPLAINING = Engine(load_program_text(textwrap.dedent(PROGRAM), "t.yaml"), generated=False)
START = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def purchase(n: int, at: dt.datetime, amount: str) -> dict[str, Any]:
    return {
        "id": f"p{n}",
        "type": "purchase",
        "time": at.isoformat(),
        "customer": "c1",
        "items": [{"sku": "X", "category": "coffee", "price": Decimal(amount), "qty": 1}],
    }


def made(result: Result) -> Result:
    """`result` with every field read and held as a plain `Result` (nothing left to make)."""
    names = [f.name for f in dataclasses.fields(Result) if f.init and not f.name.startswith("_")]
    return Result(**{name: getattr(result, name) for name in names})


def walked(
    state: CustomerState, moment: dt.datetime
) -> tuple[list[tuple[Any, ...]], list[tuple[str, Decimal]]]:
    """What time does to `state`'s lots up to `moment`, by the rule, from a look at every lot: the
    changes (lots with points whose wait ended since the latest event, lots with points due to
    expire) by time, kind and lot, and the expiry entries' lots and points in the lots' order —
    what `points.time_passes` makes from the lots it keeps (`lifecycle.Gone`, `ripening.ripened`)."""
    since = state.last_event_at
    ripe = [
        ("available", lot.id, lot.points, lot.available_at)
        for lot in state.lots
        if lot.points > 0
        and since is not None
        and since < lot.available_at <= moment
        and lot.available_at > lot.earned_at
    ]
    due = [
        lot
        for lot in state.lots
        if lot.points > 0 and lot.expires_at is not None and lot.expires_at <= moment
    ]
    expired = [("expire", lot.id, lot.points, lot.expires_at) for lot in due]
    changes = sorted([*ripe, *expired], key=lambda change: (change[3], change[0], change[1]))
    return changes, [(lot.id, -lot.points) for lot in due]


def check(engine: Engine, event: dict[str, Any], state: CustomerState | None, explain: bool) -> Result:
    """Process `event`; hold its time-passing part to `points.time_passes`'s and to the rule
    (`walked`), and the result to its made copy, read every way. Returns the result (its state
    for the next event)."""
    result = engine.process(event, state, explain=explain)
    if state is not None:
        moment = dt.datetime.fromisoformat(event["time"])
        _, changes, entries = points.time_passes(engine.program, state, moment, event["id"])
        ruled, gone = walked(state, moment)
        assert [(c.kind, c.lot, c.points, c.at) for c in changes] == ruled
        assert [(entry.lot, entry.points) for entry in entries] == gone
        assert result.points_changes[: len(changes)] == tuple(changes)
        assert result.ledger[: len(entries)] == tuple(entries)
    plain = made(result)
    assert result == plain and plain == result
    assert result.ledger_points() == [(entry.kind, entry.points) for entry in plain.ledger]
    assert result.outcome().model_dump_json() == plain.outcome().model_dump_json()
    assert made(pickle.loads(pickle.dumps(result))) == plain
    return result


def test_expiry_and_ripening_read_as_made() -> None:
    state = None
    for n in range(6):  # a lot a day, each pending two days
        state = check(ENGINE, purchase(n, START + dt.timedelta(days=n), "25.00"), state, False).state
    later = check(ENGINE, purchase(9, START + dt.timedelta(days=13), "3.00"), state, False)
    kinds = [change.kind for change in later.points_changes]
    assert kinds.count("expire") == 8 and kinds.count("available") == 4  # days 0-3 gone, 4-5 ripe
    assert [entry.kind for entry in later.ledger] == ["expire"] * 8 + ["earn"]
    assert later.ledger[0].event == "p9"  # named after the event that found them due


def test_a_redemption_burns_after_time_passed() -> None:
    state = None
    for n in range(3):
        state = ENGINE.process(purchase(n, START + dt.timedelta(days=n), "25.00"), state).state
    redeem = {"id": "r1", "type": "redeem", "time": (START + dt.timedelta(days=11)).isoformat()}
    result = check(ENGINE, {**redeem, "customer": "c1", "item": "mug"}, state, False)
    kinds = [change.kind for change in result.points_changes]
    assert kinds[-1] == "burn" and kinds[:-1].count("expire") == 4  # time first, then the burn
    assert [entry.kind for entry in result.ledger][-1] == "burn"


def test_a_late_event_catches_up_on_the_changes_read() -> None:
    state = None
    for n in range(4):
        state = ENGINE.process(purchase(n, START + dt.timedelta(days=n), "25.00"), state).state
    latest = ENGINE.process(purchase(8, START + dt.timedelta(days=30), "1.00"), state).state
    late = check(ENGINE, purchase(9, START + dt.timedelta(days=24), "40.00"), latest, False)
    assert [change.kind for change in late.points_changes].count("available") == 2  # by day 30


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=14 * 24), min_size=1, max_size=12),
    amounts=st.lists(st.sampled_from(["0.50", "3.00", "19.99", "25.00", "120.00"]), min_size=12, max_size=12),
    explain=st.booleans(),
)
def test_random_streams_read_as_made(gaps: list[int], amounts: list[str], explain: bool) -> None:
    """Random gaps (hours) between purchases: lots ripen and expire at random events, on the
    generated path and the explaining one."""
    engine = EXPLAINING if explain else ENGINE
    state = None
    at = START
    for n, (gap, amount) in enumerate(zip(gaps, amounts, strict=False)):
        at += dt.timedelta(hours=gap)
        state = check(engine, purchase(n, at, amount), state, explain).state
