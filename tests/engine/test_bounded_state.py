"""The bounded state (docs/engine.md): what a customer's state keeps does not grow with history,
states written by the previous version load and are brought to shape, decisions do not change."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.history import purchases_use
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program
from rules_engine.state.customer import CustomerState, LedgerEntry
from tests.conftest import ROOT
from tests.engine.books import balanced

COFFEE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml", secret=b"test-secret")
MSK = dt.timezone(dt.timedelta(hours=3))
START = dt.datetime(2024, 1, 1, 8, 30, tzinfo=MSK)
ITEMS = [
    {"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 2},
    {"sku": "CROISSANT", "category": "pastry", "price": Decimal("180.50"), "qty": 1},
    {"sku": "GIFT-500", "category": "gift_card", "price": Decimal("500.00"), "qty": 1},
]


def purchase(number: int, time: dt.datetime, lines: int = 3) -> dict[str, Any]:
    return {
        "id": f"p{number}",
        "type": "purchase",
        "time": time.isoformat(),
        "customer": "c1",
        "items": ITEMS[:lines],
    }


def history(gaps: list[int]) -> list[dict[str, Any]]:
    """Purchases `gaps` hours apart, from 2024-01-01."""
    events, time = [], START
    for number, gap in enumerate(gaps):
        time += dt.timedelta(hours=gap)
        events.append(purchase(number, time, lines=1 + number % 3))
    return events


def run(
    engine: Engine,
    events: list[dict[str, Any]],
    state: CustomerState | None = None,
    books: list[LedgerEntry] | None = None,
) -> CustomerState:
    """The state after `events`; each result's ledger entries added to `books`, if given."""
    for event in events:
        result = engine.process(event, state)
        state = result.state
        if books is not None:
            books += result.ledger
    assert state is not None
    return state


@settings(max_examples=4, deadline=None)
@given(st.lists(st.integers(min_value=20, max_value=24 * 9), min_size=250, max_size=300))
def test_a_state_keeps_what_its_windows_need_not_its_whole_history(gaps: list[int]) -> None:
    """Coffee-club points expire after 365 days and its tier window is 365 days: after years of
    purchases every part of the state holds about a year (two for the activity), not the history."""
    events = history(gaps)
    books: list[LedgerEntry] = []
    state = run(COFFEE, events, books=books)
    now = dt.datetime.fromisoformat(events[-1]["time"])
    year_ago = now - dt.timedelta(days=367)
    assert all(lot.expires_at is not None and lot.expires_at > now for lot in state.lots if lot.points)
    assert all(lot.earned_at > year_ago for lot in state.lots)
    assert "ledger" not in state.model_dump()  # history: the results' and the store's, not the state's
    assert balanced(state, books)
    assert all(line.date > year_ago.date() - dt.timedelta(days=2) for line in state.purchases)
    lines = sum(1 + n % 3 for n in range(len(events)))  # every line ever bought is still counted
    older = state.older_purchases
    assert len(state.purchases) + (older.lines if older is not None else 0) == lines
    assert all(a.at > now - dt.timedelta(days=731) for a in state.activity)
    assert all(len(periods) == 1 for periods in state.counters.values())  # per_day caps: today only
    assert len(state.processed) <= 1000
    assert set(state.pending_lots or ()) == {lot.id for lot in state.lots if lot.available_at > now}
    assert [lot.expires_at for lot in state.lots] == sorted(
        lot.expires_at for lot in state.lots if lot.expires_at
    )


def _as_the_previous_version_wrote_it(state: CustomerState) -> dict[str, Any]:
    """A state in the shape of the versions before: its ledger (one entry per line), no index of
    pending lots, no running sums, every purchase line (here: the ones still there), lots in earned
    order."""
    data = state.model_dump(mode="json")
    for key in ("pending_lots", "activity_sums", "older_purchases"):
        data.pop(key)
    ledger = []
    for lot in data["lots"]:
        entry = {"event": lot["event"], "rule": lot["rule"], "kind": "earn", "points": lot["points"]}
        entry.update(lot=f"{lot['event']}/{lot['rule']}", at=lot["earned_at"], version=3)
        lines = lot["lines"]
        if not lines:
            ledger.append({**entry, "line": None})
        ledger += [{**entry, "points": part["points"], "line": part["line"]} for part in lines]
    data["ledger"] = ledger
    data["lots"] = sorted(data["lots"], key=lambda lot: (lot["earned_at"], lot["event"], lot["rule"]))
    return data


def test_a_state_of_the_previous_version_loads_and_decides_the_same() -> None:
    events = history([30] * 40)
    state = run(COFFEE, events[:-1])
    old = _as_the_previous_version_wrote_it(state)
    assert any(entry["line"] is not None for entry in old["ledger"])
    from_old = COFFEE.process(events[-1], old)
    from_new = COFFEE.process(events[-1], state)
    assert from_old.effects == from_new.effects and from_old.totals == from_new.totals
    assert set(from_old.state.pending_lots or ()) == set(from_new.state.pending_lots or ())
    assert {lot.id: lot for lot in from_old.state.lots} == {lot.id: lot for lot in from_new.state.lots}
    assert from_old.state.activity_sums == from_new.state.activity_sums
    assert from_old.ledger == from_new.ledger
    assert "ledger" not in from_old.state.model_dump()  # the old state's ledger is not carried on


def test_a_ledger_entry_of_the_previous_version_is_an_entry_of_one_line() -> None:
    """A store's ledger rows written before entries held their lines name one line each."""
    (earned, expired) = (
        LedgerEntry.model_validate(
            {"event": "p1", "rule": "base", "kind": "earn", "points": 5, "lot": "p1/base",
             "at": "2026-12-01T10:00:00Z", "line": 2}
        ),
        LedgerEntry.model_validate(
            {"event": "p1", "rule": "base", "kind": "expire", "points": -5, "lot": "p1/base",
             "at": "2027-12-01T10:00:00Z", "line": None}
        ),
    )  # fmt: skip
    assert [[(p.line, p.points) for p in e.lines] for e in (earned, expired)] == [[(2, 5)], []]


def test_what_a_program_reads_of_the_history_decides_what_is_kept(tmp_path: Any) -> None:
    assert purchases_use(COFFEE.compiled) == "count"  # len(customer.purchases) == 0, a badge
    base = (ROOT / "programs" / "coffee-club.yaml").read_text()
    reading = base.replace(
        "when: len(customer.purchases) == 0", 'when: not any(p.sku == "LATTE-L" for p in customer.purchases)'
    )
    (tmp_path / "reading.yaml").write_text(reading)
    engine = Engine(load_program(tmp_path / "reading.yaml"))
    assert purchases_use(engine.compiled) == "lines"
    state = run(engine, history([24 * 5] * 100))  # 500 days
    assert len(state.purchases) == sum(1 + n % 3 for n in range(100)) and state.older_purchases is None


def test_len_of_the_purchases_counts_every_line_after_old_ones_are_left_out(tmp_path: Any) -> None:
    base = (ROOT / "programs" / "coffee-club.yaml").read_text()
    counting = base.replace("when: len(customer.purchases) == 0", "when: len(customer.purchases) >= 250")
    (tmp_path / "counting.yaml").write_text(counting)
    engine = Engine(load_program(tmp_path / "counting.yaml"))
    events = history([24 * 5] * 120)  # 1 to 3 lines, 240 lines in all, over 600 days
    state = run(engine, events)
    assert state.older_purchases is not None and len(state.purchases) < 240
    assert "first-cup" not in state.badges
    later = engine.process(purchase(200, dt.datetime(2025, 9, 1, 9, tzinfo=MSK), lines=3), state)  # 243 lines
    assert "first-cup" not in later.state.badges
    latest = engine.process(purchase(201, dt.datetime(2025, 9, 2, 9, tzinfo=MSK)), later.state)  # 246
    again = engine.process(purchase(202, dt.datetime(2025, 9, 3, 9, tzinfo=MSK)), latest.state)  # 249
    once_more = engine.process(purchase(203, dt.datetime(2025, 9, 4, 9, tzinfo=MSK)), again.state)  # 252
    assert "first-cup" not in once_more.state.badges  # it saw 249 earlier lines
    last = engine.process(purchase(204, dt.datetime(2025, 9, 5, 9, tzinfo=MSK)), once_more.state)
    assert "first-cup" in last.state.badges  # 252 earlier lines


def test_a_return_of_a_purchase_the_state_no_longer_holds_says_so() -> None:
    events = history([24 * 30] * 30)  # 900 days: the first purchases' lots, lines and activity left out
    state = run(COFFEE, events)
    assert state.older_purchases is not None
    back = {
        "id": "r1",
        "type": "return",
        "time": (dt.datetime.fromisoformat(events[-1]["time"]) + dt.timedelta(hours=1)).isoformat(),
        "customer": "c1",
        "purchase": "p0",
        "items": [{"sku": "LATTE-L", "qty": 1}],
    }
    with pytest.raises(EventError) as refused:
        COFFEE.process(back, state)
    (problem,) = refused.value.diagnostics
    assert problem.code == "RE437"
    assert f"made on or before {state.older_purchases.until.isoformat()}" in problem.message


def _redeem(number: int, time: dt.datetime) -> dict[str, Any]:
    return {"id": f"x{number}", "type": "redeem", "time": time.isoformat(), "customer": "c1",
            "item": "free-latte"}  # fmt: skip


def _return(number: int, time: dt.datetime, of: str) -> dict[str, Any]:
    items = [{"sku": "LATTE-L", "qty": 1}]
    return {"id": f"r{number}", "type": "return", "time": time.isoformat(), "customer": "c1", "purchase": of,
            "items": items}  # fmt: skip


@settings(max_examples=6, deadline=None)
@given(
    st.lists(st.integers(min_value=24 * 2, max_value=24 * 10), min_size=130, max_size=160),  # > 2 years
    st.lists(
        st.tuples(
            st.sampled_from(["purchase", "redeem", "return"]), st.integers(min_value=1, max_value=24 * 12)
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_the_state_passed_in_is_never_changed(gaps: list[int], after: list[tuple[str, int]]) -> None:
    """A state is a value: the engine adds to the lists it made for the event (expiry copies the
    lots, a purchase the activity) in place, never to the caller's. After a long
    history every event expires lots, trims the activity and leaves purchase lines out: the state
    passed in dumps the same after each event, and the same event on it decides the same again."""
    events = history(gaps)
    books: list[LedgerEntry] = []
    state = run(COFFEE, events, books=books)
    time = dt.datetime.fromisoformat(events[-1]["time"])
    for number, (kind, gap) in enumerate(after):
        time += dt.timedelta(hours=gap)
        if kind == "purchase":
            event = purchase(1000 + number, time)
        elif kind == "redeem":
            event = _redeem(number, time)
        else:
            event = _return(number, time, of=events[-1 - number]["id"])
        was = state.model_dump(mode="json")
        try:
            first = COFFEE.process(event, state)
        except EventError:  # not enough points, a line already returned: refused, nothing changed
            assert state.model_dump(mode="json") == was
            continue
        assert state.model_dump(mode="json") == was
        second = COFFEE.process(event, state)
        assert second.state.model_dump(mode="json") == first.state.model_dump(mode="json")
        assert second.outcome().model_dump(mode="json") == first.outcome().model_dump(mode="json")
        books += first.ledger
        assert balanced(first.state, books)
        state = first.state


def test_a_weekly_challenge_keeps_its_first_and_latest_completed_windows_not_every_one() -> None:
    """five-coffees-a-week completed every week for 20 weeks: the reward each week, refused again
    within a week, and the state holding the first and the latest completed windows only."""
    events = history([24] * 140)  # daily: each purchase has a coffee line, 7 a week
    state: CustomerState | None = None
    rewarded: list[str] = []
    refused_again = 0
    for event in events:
        result = COFFEE.process(event, state)
        state = result.state
        for entry in result.trace:
            if entry.rule == "challenge:five-coffees-a-week":
                if entry.code == "fired":
                    rewarded.append(state.challenges["five-coffees-a-week"].window)
                refused_again += entry.code == "capped"
    assert state is not None
    assert len(rewarded) >= 19 and len(set(rewarded)) == len(rewarded)  # once a week, every week
    assert refused_again >= 2 * 19  # the 6th and 7th coffee of a week: already completed
    assert state.challenges["five-coffees-a-week"].completed == [rewarded[0], rewarded[-1]]
