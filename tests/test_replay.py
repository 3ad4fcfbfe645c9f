"""`rules_engine.replay`: running totals, problems as they come, a stop between events, a store
failure that names the line and the event, and a hostile line that is one bad line, reported at
its place, while the stream goes on (issue 11)."""

from __future__ import annotations

import gc
import json
import sqlite3
import tracemalloc
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine import jsonio
from rules_engine import replay as replay_module
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.errors import Diagnostic, StoreError, TransientError
from rules_engine.replay import replay
from rules_engine.service import Handled, Loyalty
from rules_engine.store.sqlite import SqliteStore
from rules_engine.tally import CustomerTally
from tests.conftest import ROOT
from tests.store import streams

PROGRAM = ROOT / "programs" / "coffee-club.yaml"
DECEMBER = ROOT / "programs" / "events" / "coffee-club-december.jsonl"
STREAM = ROOT / "programs" / "events" / "coffee-club.jsonl"


def test_the_totals_add_up_to_the_balances_the_store_holds() -> None:
    loyalty = Loyalty.in_memory(Engine.from_file(PROGRAM))
    result = replay(loyalty, DECEMBER)
    assert (result.applied, result.problems, result.customers) == (7, 0, 2)
    balances = sum((lot.points for _, state in loyalty.store.states() for lot in state.lots), Decimal(0))
    assert result.issued - result.redeemed - result.expired - result.reversed == balances == 242
    assert result.points.as_dict() == {"anna": Decimal(92), "boris": Decimal(637)}


def test_problems_are_reported_as_they_are_met_and_a_stop_ends_between_events() -> None:
    seen: list[tuple[str, int | None]] = []
    applied: list[int] = []

    def problem(diagnostic: Diagnostic) -> None:
        seen.append((diagnostic.code, diagnostic.span.line if diagnostic.span else None))

    def stop() -> bool:
        return len(seen) == 2  # after line 6, the second bad one, before line 7

    result = replay(
        Loyalty.in_memory(Engine.from_file(PROGRAM)),
        STREAM,
        lambda number, _, __: applied.append(number),
        on_problem=problem,
        stop=stop,
    )
    assert seen == [("RE414", 5), ("RE410", 6)]
    assert (result.applied, result.problems, result.line, result.stopped) == (4, 2, 6, "interrupted")


def test_a_store_failure_stops_the_replay_at_the_line_and_names_the_event(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = SqliteStore(path, "coffee-club", timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)

    def lock_after(number: int) -> None:
        if number == 2:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock from now on

    try:
        result = replay(Loyalty(Engine.from_file(PROGRAM), store), DECEMBER, on_line=lock_after)
    finally:
        other.rollback()
        other.close()
    assert (result.applied, result.line, result.stopped) == (2, 3, "failed")
    failure = result.failure
    assert failure is not None and failure.code == "RE605"
    assert failure.span is not None and failure.span.line == 3
    assert "line 3: event 's3' of customer 'anna'" in failure.message and "locked" in failure.message
    assert store.processed() == 2
    store.close()


def _new_customers(path: Path, first: int, count: int) -> Path:
    """A stream of `count` purchases, each by a customer of its own (ids from `first` on)."""
    events = [
        {
            "id": f"e{n}",
            "type": "purchase",
            "time": "2026-12-08T09:00:00+01:00",
            "customer": f"card-{n}",
            "items": [{"sku": "MUG", "price": 30, "qty": 1}],
        }
        for n in range(first, first + count)
    ]
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def test_what_a_replay_keeps_in_memory_does_not_grow_with_its_customers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every customer's last state kept for the closing summary took 3.8 GB for 10,000 customers;
    then one number per customer, still a dict. Now the tally moves to disk past `SPILL` customers:
    300 customers leave no more in Python's memory than 50 (measured by tracemalloc, with a
    store on disk, whose page cache is SQLite's own and bounded; a small program, since tracemalloc
    slows everything down)."""
    monkeypatch.setattr(CustomerTally, "SPILL", 10)
    engine = streams.engine()

    def kept(customers: int, name: str) -> int:
        """Bytes still held after the replay that were allocated by the replay's own code (the
        engine's and pydantic's caches, a few bytes per distinct value, are not the replay's)."""
        stream = _new_customers(tmp_path / f"{name}.jsonl", 0, customers)
        with SqliteStore(tmp_path / f"{name}.db", "store-test", synchronous="normal") as store:
            gc.collect()
            tracemalloc.start()
            result = replay(Loyalty(engine, store, horizon=None), stream, batch=200)
            gc.collect()
            mine = tracemalloc.Filter(True, replay_module.__file__)
            held = tracemalloc.take_snapshot().filter_traces([mine])
            tracemalloc.stop()
            assert (result.applied, result.customers) == (customers, customers)
            assert result.points.get("card-1") == 40  # 30 and the launch bonus (its budget lasts 6 customers)
            assert sum(points for _, points in result.points.items()) == 30 * customers + 60
            result.points.close()
        return sum(stat.size for stat in held.statistics("filename"))

    small, large = kept(50, "small"), kept(300, "large")
    assert large - small < 5_000, (small, large)  # a dict of 250 more customers: about 40 KB


def test_the_tally_adds_exactly_stages_until_committed_and_spills_to_disk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(CustomerTally, "SPILL", 2)
    tally = CustomerTally()
    tally.add("b", Decimal("0.1"))
    tally.add("a", Decimal("0.2"))
    tally.commit()
    tally.add("a", Decimal("100"))
    tally.discard()  # a batch rolled back counts for nothing
    assert (tally.as_dict(), len(tally)) == ({"a": Decimal("0.2"), "b": Decimal("0.1")}, 2)
    for customer in "abcde":
        tally.add(customer, Decimal("0.1"))
    tally.commit()  # more than SPILL: on disk now
    assert tally._disk is not None and not tally._held
    tally.add("a", Decimal("1"))
    tally.commit()
    assert tally.as_dict() == {
        "a": Decimal("1.3"),
        "b": Decimal("0.2"),
        "c": Decimal("0.1"),
        "d": Decimal("0.1"),
        "e": Decimal("0.1"),
    }
    assert (len(tally), tally.get("a"), tally.get("zz")) == (5, Decimal("1.3"), 0)
    tally.close()


def test_in_batches_a_line_is_told_only_once_its_batch_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "batched.db"
    store = SqliteStore(path, "coffee-club")
    reader = sqlite3.connect(path)
    told: list[tuple[int, bool]] = []

    def committed(number: int, outcome: Outcome, duplicate: bool) -> None:
        found = reader.execute("SELECT count(*) FROM events WHERE event = ?", (outcome.event,)).fetchone()[0]
        told.append((number, found == 1))

    result = replay(Loyalty(Engine.from_file(PROGRAM), store, horizon=None), DECEMBER, committed, batch=3)
    assert (result.applied, result.problems) == (7, 0)
    assert told == [(n, True) for n in range(1, 8)]
    again = replay(Loyalty(Engine.from_file(PROGRAM), store, horizon=None), DECEMBER, batch=3)
    assert (again.applied, again.duplicates, store.processed()) == (0, 7, 7)
    reader.close()
    store.close()


class _Failing(Loyalty):
    """Fails (RE605, as a deadlock or a lock timeout would) on the event of one line: `times` times."""

    def __init__(
        self, store: SqliteStore, event: str, times: int, kind: type[StoreError] = StoreError
    ) -> None:
        super().__init__(Engine.from_file(PROGRAM), store, horizon=None)
        self.event = event
        self.times = times
        self.kind = kind

    def handle(self, event: Any, *, explain: bool = False) -> Handled:
        given = event.get("id") if isinstance(event, dict) else event.id  # the run gives it parsed
        if given == self.event and self.times > 0:
            self.times -= 1
            raise self.kind([Diagnostic("RE605", "deadlock detected")])
        return super().handle(event, explain=explain)


@pytest.mark.parametrize("times", [1, 2])
def test_a_batch_that_fails_is_rolled_back_and_done_again_a_line_at_a_time(
    tmp_path: Path, times: int
) -> None:
    """Batches of 3: line 5 fails in the store. Its batch (lines 4–6) is rolled back, and done
    again a transaction per line: a failure that passes (a deadlock) costs nothing; one that stays
    is placed at line 5, with line 4 committed, as without batches. Nothing of a batch rolled back
    was told, nor counted."""
    store = SqliteStore(tmp_path / "busy.db", "coffee-club")
    told: list[int] = []

    def outcome(number: int, _: Outcome, __: bool) -> None:
        told.append(number)

    result = replay(_Failing(store, "s6", times), DECEMBER, outcome, batch=3)
    if times == 1:
        assert (result.applied, result.line, result.stopped, told) == (7, 7, None, list(range(1, 8)))
    else:
        assert (result.applied, result.line, result.stopped, told) == (4, 5, "failed", [1, 2, 3, 4])
        failure = result.failure
        assert failure is not None and failure.code == "RE605"
        assert "line 5: event 's6' of customer" in failure.message
    assert store.processed() == result.applied
    store.close()


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("times", [replay_module.TRIES - 1, replay_module.TRIES])
def test_a_line_the_database_gave_up_for_another_is_tried_again(
    tmp_path: Path, times: int, batch: int
) -> None:
    """PostgreSQL ends one of two deadlocked transactions (`TransientError`): four `loyalty run` on
    one database stopped for good at a line whose own transaction met one (RE605, `deadlock
    detected`). The line is tried again on its own, up to `TRIES` times, before the run stops; in
    batches (the batch failed once first) as with a transaction a line (`--batch 1`), and told once."""
    store = SqliteStore(tmp_path / "deadlocks.db", "coffee-club")
    told: list[int] = []

    def outcome(number: int, _: Outcome, __: bool) -> None:
        told.append(number)

    failing = _Failing(store, "s6", times + (batch > 1), TransientError)  # its own, after its batch
    result = replay(failing, DECEMBER, outcome, batch=batch)
    if times < replay_module.TRIES:
        assert (result.applied, result.stopped, result.failure, told) == (7, None, None, list(range(1, 8)))
    else:
        assert (result.applied, result.line, result.stopped, told) == (4, 5, "failed", [1, 2, 3, 4])
    assert failing.times == 0
    assert store.processed() == result.applied
    store.close()


def test_a_batch_that_cannot_begin_fails_at_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = SqliteStore(path, "coffee-club", timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)

    def lock_after_the_first_batch(number: int) -> None:
        if number == 3:
            other.execute("BEGIN IMMEDIATE")

    try:
        result = replay(
            Loyalty(Engine.from_file(PROGRAM), store, horizon=None),
            DECEMBER,
            on_line=lock_after_the_first_batch,
            batch=3,
        )
    finally:
        other.rollback()
        other.close()
    assert (result.applied, result.line, result.stopped) == (3, 4, "failed")
    failure = result.failure
    assert failure is not None and "line 4: event 's4'" in failure.message and "locked" in failure.message
    store.close()


# -- hostile lines -------------------------------------------------------------------------------

ENGINE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
GOOD = {
    "id": "ok",
    "type": "purchase",
    "time": "2026-12-08T09:00:00+03:00",
    "customer": "anna",
    "items": [{"sku": "LATTE", "category": "coffee", "price": 300, "qty": 1}],
}


@dataclass
class Run:
    applied: int
    problems: list[Diagnostic]


def run(path: Path) -> Run:
    problems: list[Diagnostic] = []
    result = replay(Loyalty.in_memory(ENGINE), path, on_problem=problems.append)
    assert result.problems == len(problems)
    return Run(result.applied, problems)


def stream(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "bad",
    [
        "[" * 1000 + "]" * 1000,  # RecursionError aborted the run (issue 11)
        '{"id": "x", "id": "y"}',  # a duplicate key
        json.dumps({**GOOD, "id": "s", "customer": "caf\ud800"}),  # a lone surrogate
        json.dumps({**GOOD, "id": "n"}).replace("300", "1" + "0" * 5000),  # int() raised ValueError
    ],
)
def test_a_hostile_line_is_one_bad_line(tmp_path: Path, bad: str) -> None:
    result = run(stream(tmp_path, bad, json.dumps(GOOD)))
    assert [(p.code, p.span.line if p.span else None) for p in result.problems] == [("RE414", 1)]
    assert result.applied == 1  # the line after it


def test_a_line_over_the_limit_is_skipped_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonio, "MAX_TEXT", 1000)
    path = stream(
        tmp_path, json.dumps(GOOD), '{"id": "' + "x" * 5000 + '"}', json.dumps({**GOOD, "id": "ok2"})
    )
    result = run(path)
    assert [p.code for p in result.problems] == ["RE414"]
    assert "line 2 is longer than" in result.problems[0].message
    assert result.applied == 2


def test_the_caret_points_at_the_refused_field_not_the_whole_line(tmp_path: Path) -> None:
    line = json.dumps({**GOOD, "items": [{"sku": "A", "price": -5, "qty": 1}]})
    (problem,) = run(stream(tmp_path, line)).problems
    assert problem.code == "RE410"
    assert problem.span is not None
    assert line[problem.span.start : problem.span.end] == "-5"


def test_ten_thousand_refused_fields_on_one_line_are_placed_in_one_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one walk of the line per diagnostic: 1,000 prices of -1 took 38.5 s, 10,000 about an hour
    walks: list[int] = []
    walk = jsonio._walk

    def counted(text: str) -> Any:
        walks.append(len(text))
        return walk(text)

    monkeypatch.setattr(jsonio, "_walk", counted)
    items = [{"sku": f"S{n}", "category": "coffee", "price": -1, "qty": 1} for n in range(10_000)]
    line = json.dumps({**GOOD, "id": "many", "items": items})
    problems: list[Diagnostic] = []
    result = replay(
        Loyalty.in_memory(ENGINE), stream(tmp_path, line, json.dumps(GOOD)), on_problem=problems.append
    )
    assert len(problems) == 10_000 and {p.code for p in problems} == {"RE410"}
    assert all(
        p.span is not None and p.span.line == 1 and line[p.span.start : p.span.end] == "-1" for p in problems
    )
    assert problems[-1].span is not None and problems[-1].span.start == line.rindex("-1")
    assert len(walks) == 1
    assert (result.problems, result.applied) == (1, 1)  # one bad line, and the line after it ran


@pytest.mark.parametrize(
    "name", ["coffee-club", "book-nook", "corner-hardware", "fashion-house", "volt-electronics"]
)
def test_the_points_a_run_counts_are_each_events_total(name: str) -> None:
    """`replay.earned` adds up an applied event's awards rather than reading its totals (made
    only when read after a step): the same points as its totals, for the example programs' events
    decided in place (`Stream.step`) and through `Engine.process`."""
    from rules_engine.engine.event_text import parse_event_text
    from rules_engine.engine.result import Result
    from rules_engine.errors import EventError
    from rules_engine.store.memory import MemoryStore, RunMemoryStore

    engine = Engine.from_file(ROOT / "programs" / f"{name}.yaml")
    folder = ROOT / "programs" / "events"
    texts = [
        line
        for path in sorted(folder.glob(f"{name}*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts += [
        json.dumps(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob(f"{name}/**/*.json"))
    ]
    assert texts
    checked = 0
    for store in (RunMemoryStore(engine.program.program), MemoryStore(engine.program.program)):
        loyalty = Loyalty(engine, store, horizon=None)
        for text in texts:
            try:
                handled = loyalty.handle(parse_event_text(text))
            except (EventError, jsonio.JsonError):
                continue
            for decided in (handled.decided, handled.referred):
                if isinstance(decided, Result):
                    assert replay_module.earned(decided) == decided.totals.points
                    checked += 1
    assert checked > len(texts) // 2
