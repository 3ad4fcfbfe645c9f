"""`Engine.process` makes its result's totals, tier progress and earn ledger entries when they are
first read (settle.outcome): a caller that keeps the new state and reads the points or
`ledger_points()` makes no `LedgerEntry` and no `Totals`. What a reader gets is what the eager
makers give: each earn entry `records.earn_entry`'s for the same award, after what the stages booked
(expiry, a redemption), and the totals the run's sums.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.later import Later, LaterLedger, held
from rules_engine.engine.result import Result
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState
from rules_engine.state.records import awards_records, earn_entry

ROOT = Path(__file__).resolve().parents[2]
COFFEE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
EXPLAINING = Engine(COFFEE.compiled, generated=False)
SHORT = """\
program: short
version: 2
timezone: Europe/Moscow
currency: RUB
points: {pending: 2d, expire_after: 10d, value: 1}
earn:
  - {id: base, rate: 1 per 100}
  - {id: coffee, award: 5, when: "any(item.category == 'coffee' for item in basket.items)"}
catalog:
  - {id: mug, name: A mug, cost: 5, reward: {badge: mug}}
badges:
  - {id: mug, name: Mug}
"""
SHORT_ENGINE = Engine(load_program_text(SHORT, "short.yaml"))
MSK = dt.timezone(dt.timedelta(hours=3))
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=MSK)
LINES = [
    ("LATTE-L", "coffee", "320.00"),
    ("CROISSANT", "pastry", "180.00"),
    ("ESPRESSO", "coffee", "150.00"),
    ("GIFT-500", "gift_card", "500.00"),
]


def purchase(n: int, at: dt.datetime, lines: list[tuple[int, int]]) -> dict[str, Any]:
    items = [
        {"sku": LINES[i][0], "category": LINES[i][1], "price": Decimal(LINES[i][2]), "qty": qty}
        for i, qty in lines
    ]
    return {"id": f"p{n}", "type": "purchase", "time": at.isoformat(), "customer": "c1", "items": items}


def eager_earn_entries(engine: Engine, event: dict[str, Any], result: Result) -> list[Any]:
    """The earn entry `records.earn_entry` makes of each of the result's awards, as settle made
    them before: the lot's id, the event's time, the version, the rule's hash, the award's lines."""
    time = dt.datetime.fromisoformat(event["time"])
    quantities = [Decimal(item["qty"]) for item in event["items"]] + [Decimal(1)]
    records = awards_records([award.lines for award in result.awards], quantities)
    hashes = engine.plan.rule_hashes
    return [
        earn_entry(
            event["id"],
            award.rule,
            award.points,
            f"{event['id']}/{award.rule}",
            time,
            engine.program.version,
            hashes.get(award.rule),
            parts,
        )
        for award, (_, parts) in zip(result.awards, records, strict=True)
    ]


def check(engine: Engine, event: dict[str, Any], state: CustomerState | None) -> CustomerState:
    result = engine.process(event, state)
    if event["type"] == "redeem":
        booked = [(entry.kind, entry.points) for entry in result.ledger]
        assert result.ledger_points() == booked and "burn" in dict(booked)
        return result.state
    new = result.state
    assert type(held(result, "totals")) is Later  # nothing read yet: nothing made
    ledger = held(result, "ledger")
    if result.awards:
        assert isinstance(ledger, LaterLedger)
    pairs = result.ledger_points()
    assert held(result, "ledger") is ledger  # the points read without making the entries
    entries = result.ledger
    assert pairs == [(entry.kind, entry.points) for entry in entries]
    earn = [entry for entry in entries if entry.kind == "earn"]
    assert earn == eager_earn_entries(engine, event, result)
    assert entries[len(entries) - len(earn) :] == tuple(earn)  # after what the stages booked
    assert result.ledger is entries  # made once, then kept
    assert result.totals.points == sum((award.points for award in result.awards), Decimal(0))
    assert result.points == result.totals.points
    return new


def test_a_stream_reads_as_the_eager_makers_give_it() -> None:
    state = None
    for n in range(12):
        lines = [(0, 1 + n % 3), (1, 1), (2, 2), (3, 1)][: 1 + n % 4]
        state = check(COFFEE, purchase(n, START + dt.timedelta(days=3 * n, hours=n % 5), lines), state)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=12 * 24), min_size=1, max_size=10),
    baskets=st.lists(
        st.lists(st.tuples(st.integers(0, len(LINES) - 1), st.integers(1, 4)), min_size=1, max_size=6),
        min_size=10,
        max_size=10,
    ),
    redeem_at=st.integers(0, 9),
    program=st.sampled_from(["coffee", "coffee explaining", "short"]),
)
def test_random_streams_read_as_the_eager_makers_give_them(
    gaps: list[int], baskets: list[list[tuple[int, int]]], redeem_at: int, program: str
) -> None:
    """Random gaps (hours) across the pending period and expiry, random baskets, both paths; in
    the short program lots expire (booked before the earn entries) and a redemption may burn."""
    engine = {"coffee": COFFEE, "coffee explaining": EXPLAINING, "short": SHORT_ENGINE}[program]
    state = None
    at = START
    for n, (gap, lines) in enumerate(zip(gaps, baskets, strict=False)):
        at += dt.timedelta(hours=gap)
        state = check(engine, purchase(n, at, lines), state)
        if n == redeem_at and engine is SHORT_ENGINE and state.available(at) >= 5:
            redeem = {
                "id": f"r{n}",
                "type": "redeem",
                "time": at.isoformat(),
                "customer": "c1",
                "item": "mug",
            }
            state = check(engine, redeem, state)


def test_what_time_and_the_stages_booked_comes_before_the_earn_entries() -> None:
    state = None
    for n in range(14):  # a lot a day, each living ten days: from day 10 one expires at each event
        state = check(SHORT_ENGINE, purchase(n, START + dt.timedelta(days=n), [(0, 1)]), state)
    event = {**purchase(14, START + dt.timedelta(days=14), [(0, 1)]), "paid_with_points": "5.00"}
    check(SHORT_ENGINE, event, state)
    result = SHORT_ENGINE.process(event, state)
    kinds = [entry.kind for entry in result.ledger]  # day 4's two lots, the burns, this event's two
    assert (
        kinds[:2] == ["expire", "expire"] and set(kinds[2:-2]) == {"burn"} and kinds[-2:] == ["earn", "earn"]
    )
