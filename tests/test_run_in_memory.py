"""`loyalty run` without `--db`: the memory store that keeps what the run reads back (RunMemoryStore).

The run in memory must say, line by line, what the same run into a database says — outcomes,
"already processed", problems (RE443 for a reused id included), totals and the final states —
while keeping no outcome JSON and no ledger row per event.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from rules_engine import jsonio
from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.result import Result
from rules_engine.replay import _COUNTS, replay
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.store import memory
from rules_engine.store.base import Change
from rules_engine.store.memory import MemoryStore, RunMemoryStore
from tests.conftest import ROOT

ENV = {"LOYALTY_SECRET": None}


def _generated(tmp_path: Path, program: str, seed: int) -> Path:
    out = tmp_path / f"{program}-{seed}.jsonl"
    args = ["generate", str(ROOT / "programs" / f"{program}.yaml"), "--out", str(out)]
    result = CliRunner().invoke(
        app, [*args, "--customers", "12", "--days", "40", "--seed", str(seed)], env=ENV
    )
    assert result.exit_code == 0, result.output
    return out


def _troubled(source: Path, seed: int) -> Path:
    """The stream with redeliveries (the same line again, and the same event written otherwise:
    keys reordered, amounts with trailing zeros), bad lines (not JSON, not an event) and an id
    reused for another event, each placed after the line it repeats."""
    rng = random.Random(seed)
    lines = source.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    for number, line in enumerate(lines):
        out.append(line)
        if number and rng.random() < 0.12:
            repeated = lines[rng.randrange(number)]
            earlier = jsonio.loads(repeated)
            kind = rng.choice(["again", "rewritten", "reused", "bad json", "bad event"])
            if kind == "again":
                out.append(repeated)
            elif kind == "rewritten":
                for item in earlier.get("items", []):
                    if "price" in item:
                        item["price"] = Decimal(item["price"]).quantize(Decimal("0.0001"))
                out.append(jsonio.dumps(dict(reversed(list(earlier.items())))))
            elif kind == "reused":
                out.append(jsonio.dumps({**earlier, "store": "another-store"}))
            elif kind == "bad json":
                out.append('{"id": "broken", "type": ')
            else:
                out.append(
                    jsonio.dumps({**earlier, "id": f"{earlier['id']}-x", "time": "2026-01-01T10:00:00"})
                )
    path = source.with_name(f"troubled-{source.name}")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _run(tmp_path: Path, program: str, stream: Path, name: str, *options: str) -> dict[str, Any]:
    states, problems = tmp_path / f"{name}.states.json", tmp_path / f"{name}.problems.jsonl"
    args = ["run", str(ROOT / "programs" / f"{program}.yaml"), str(stream), *options]
    result = CliRunner().invoke(
        app, [*args, "--state-out", str(states), "--problems", str(problems)], env=ENV
    )
    return {
        "exit": result.exit_code,
        "stdout": result.stdout.replace(str(problems), "PROBLEMS"),
        "problems": problems.read_text(encoding="utf-8"),
        "states": states.read_text(encoding="utf-8") if states.exists() else None,
    }


def _agree(tmp_path: Path, program: str, stream: Path, *options: str) -> dict[str, Any]:
    memory_run = _run(tmp_path, program, stream, "memory", *options)
    stored = _run(
        tmp_path, program, stream, "db", "--db", str(tmp_path / "db.sqlite"), "--horizon", "none", *options
    )
    assert memory_run == stored
    (tmp_path / "db.sqlite").unlink()
    return memory_run


EXAMPLES = [
    ("coffee-club", ROOT / "programs" / "events" / "coffee-club.jsonl"),
    ("coffee-club", ROOT / "programs" / "events" / "coffee-club-december.jsonl"),
]


@pytest.mark.parametrize(("program", "stream"), EXAMPLES, ids=[path.name for _, path in EXAMPLES])
def test_the_example_streams_run_in_memory_as_into_a_database(
    program: str, stream: Path, tmp_path: Path
) -> None:
    for options in ([], ["--json"], ["--by-customer"]):
        _agree(tmp_path, program, stream, *options)


@pytest.mark.parametrize(("program", "seed"), [("coffee-club", 3), ("fashion-house", 5), ("book-nook", 8)])
def test_a_generated_stream_with_redeliveries_bad_lines_and_a_reused_id_runs_in_memory_as_into_a_database(
    program: str, seed: int, tmp_path: Path
) -> None:
    stream = _troubled(_generated(tmp_path, program, seed), seed)
    text = _agree(tmp_path, program, stream, "--by-customer")
    assert "already processed, nothing applied" in text["stdout"]
    assert '"RE443"' in text["problems"] and '"RE414"' in text["problems"] and '"RE410"' in text["problems"]
    _agree(tmp_path, program, stream, "--json")


def test_the_run_in_memory_keeps_no_outcome_and_no_ledger_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the run's store holds per event is a digest, a time and an owed referral code: no
    outcome's JSON (~3.6 KB an event) and no ledger row, which nothing in a run reads back."""
    made: list[RunMemoryStore] = []

    class Watched(RunMemoryStore):
        def __init__(self, program: str) -> None:
            super().__init__(program)
            made.append(self)

    monkeypatch.setattr(memory, "RunMemoryStore", Watched)
    stream = _troubled(_generated(tmp_path, "coffee-club", 4), 4)
    result = _run(tmp_path, "coffee-club", stream, "memory", "-q")
    assert result["exit"] == 1  # the bad lines
    [store] = made
    applied = int(result["stdout"].split(" events processed")[0].split()[-1])
    assert applied > 50
    assert store._outcomes == {} and store._ledger == []
    records = [record for seen in store._seen.values() for record in seen.values()]
    assert len(records) == store.processed() == applied
    assert all(type(record) is bytes and len(record) == 32 + 8 for record in records)  # digest, time
    for customer, seen in store._seen.items():
        for event in seen:
            kept = store._event(customer, event)
            assert (
                kept is not None and kept.outcome == "" and kept.digest is not None and len(kept.digest) == 64
            )
            assert kept.at is not None and kept.at.utcoffset() == dt.timedelta(0)
    with pytest.raises(NotImplementedError):
        store.ledger()


def test_the_service_builds_no_outcome_for_a_store_that_keeps_none() -> None:
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    event = json.loads((ROOT / "programs" / "events" / "coffee-club.jsonl").read_text().splitlines()[0])
    lean = Loyalty(engine, RunMemoryStore(engine.program.program))
    handled = lean.handle(event)
    assert isinstance(handled.decided, Result) and handled.decided._outcome is None
    full = Loyalty(engine, MemoryStore(engine.program.program))
    kept = full.handle(event)
    # kept for redeliveries: its JSON written from the result (engine/outcome_json.py), no outcome built
    assert isinstance(kept.decided, Result) and kept.decided._outcome is None
    stored = full.store._event(event["customer"], event["id"])  # type: ignore[attr-defined]
    assert handled.outcome == kept.outcome  # built when read, the same
    assert stored is not None and stored.outcome == kept.outcome.model_dump_json(exclude={"state"})


def test_a_redelivery_in_memory_is_the_engines_duplicate_answer_with_the_current_state() -> None:
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    first, later = (
        json.loads(line)
        for line in (ROOT / "programs" / "events" / "coffee-club.jsonl").read_text().splitlines()[:2]
    )
    loyalty = Loyalty(engine, RunMemoryStore(engine.program.program))
    applied = loyalty.handle(first)
    loyalty.handle({**later, "customer": first["customer"]})
    again = loyalty.handle(first)
    assert again.duplicate and not applied.duplicate
    outcome = again.outcome
    assert (outcome.event, outcome.customer) == (first["id"], first["customer"])
    assert outcome.effects.points == [] and outcome.totals.points == 0
    assert [t.code for t in outcome.trace] == ["duplicate"]
    assert outcome.state == loyalty.store.state(first["customer"])


def test_replay_without_a_listener_counts_the_same_totals(tmp_path: Path) -> None:
    """The totals come from the engine's results, whether outcomes are built for a listener or not."""
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    stream = _troubled(_generated(tmp_path, "coffee-club", 6), 6)
    heard: list[Any] = []
    quiet = replay(Loyalty(engine, RunMemoryStore(engine.program.program)), stream)
    told = replay(
        Loyalty(engine, MemoryStore(engine.program.program)), stream, lambda *args: heard.append(args)
    )
    assert heard
    for name in (
        "applied",
        "duplicates",
        "problems",
        "warnings",
        "issued",
        "redeemed",
        "expired",
        "reversed",
    ):
        assert getattr(quiet, name) == getattr(told, name), name
    assert quiet.points.as_dict() == told.points.as_dict()


@given(
    at=st.datetimes(
        min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2999, 12, 31), timezones=st.timezones()
    ),
    digest=st.one_of(st.none(), st.binary(min_size=32, max_size=32).map(bytes.hex)),
    owes=st.one_of(st.none(), st.text(min_size=1, max_size=8)),
    timed=st.booleans(),
)
def test_what_the_run_keeps_of_an_event_reads_back_as_it_was_given(
    at: dt.datetime, digest: str | None, owes: str | None, timed: bool
) -> None:
    """The record packs the digest and the time into one bytes object: both come back (the time
    as the same moment in UTC, as the database stores give it), with the owed referral code."""
    store = RunMemoryStore("p")
    state = CustomerState(customer="c")
    with store.transaction("c") as transaction:
        transaction.save(Change(state=state, event="e", digest=digest, at=at if timed else None, owes=owes))
    kept = store._event("c", "e")
    assert kept is not None
    assert (kept.digest, kept.owes) == (digest, owes)
    # compared in UTC: a local time in a fold (the hour a clock goes back) compares unequal to
    # any other zone's time (PEP 495), though it is the moment `astimezone` gives
    assert kept.at == (at.astimezone(dt.UTC) if timed else None)
    assert kept.at is None or kept.at.utcoffset() == dt.timedelta(0)


PROGRAMS = ["coffee-club", "fashion-house", "book-nook", "corner-hardware", "volt-electronics"]


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_run_decides_on_working_states_as_on_public_ones(
    program: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's store carries each customer's `Working` and the service steps it in place
    (`Stream.step`); the same replay with the store holding public states (`Engine.process` on
    each) counts the same totals, tells the same outcomes, and leaves the same states (same JSON).
    The stream has redeliveries, bad lines and a reused id."""
    engine = Engine.from_file(ROOT / "programs" / f"{program}.yaml")
    stream = _troubled(_generated(tmp_path, program, 7), 7)

    def replayed(carries: bool) -> tuple[RunMemoryStore, Any, list[str]]:
        monkeypatch.setattr(RunMemoryStore, "carries_working", carries)
        store = RunMemoryStore(engine.program.program)
        told: list[str] = []
        result = replay(
            Loyalty(engine, store, horizon=None),
            stream,
            lambda n, o, d: told.append(f"{n} {d} {o.model_dump_json()}"),
        )
        return store, result, told

    stepped, on_working, told_working = replayed(True)
    processed, on_public, told_public = replayed(False)
    assert stepped._working and not processed._working  # the working path ran, and only with it
    assert on_working.applied > 50 and on_working.problems
    for name in _COUNTS:
        assert getattr(on_working, name) == getattr(on_public, name), name
    assert on_working.points.as_dict() == on_public.points.as_dict()
    assert told_working == told_public
    assert stepped.customers() == processed.customers()
    for customer in processed.customers():
        assert stepped.state(customer) == processed.state(customer)
        assert jsonio.dumps(_json(stepped, customer)) == jsonio.dumps(_json(processed, customer))


def _json(store: RunMemoryStore, customer: str) -> Any:
    state = store.state(customer)
    assert state is not None
    return state.model_dump(mode="python")


def test_a_state_put_into_the_run_store_is_stepped_from(tmp_path: Path) -> None:
    """A customer whose state came whole (an import) is held as that state, and their next event is
    decided on a working state made from it, which then stands for the customer's state."""
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    first, later = (
        json.loads(line)
        for line in (ROOT / "programs" / "events" / "coffee-club.jsonl").read_text().splitlines()[:2]
    )
    later = {**later, "customer": first["customer"]}
    reference = Loyalty(engine, MemoryStore(engine.program.program))
    reference.handle(first)
    imported = reference.store.state(first["customer"])
    assert imported is not None
    expected = reference.handle(later)
    store = RunMemoryStore(engine.program.program)
    loyalty = Loyalty(engine, store)
    loyalty.put(first["customer"], imported)
    assert store.state(first["customer"]) is imported and not store._working
    handled = loyalty.handle(later)
    assert first["customer"] in store._working and first["customer"] not in store._states
    assert handled.outcome == expected.outcome
    assert store.state(first["customer"]) == reference.store.state(first["customer"])


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_line_printed_from_a_result_is_the_line_of_its_outcome(program: str, tmp_path: Path) -> None:
    """`loyalty run` prints each event's line from the engine's `Result` (`on_decided`), building
    no `Outcome` for it: the same text as from the outcome, for every event, duplicate or not, of
    a stream with returns, redemptions, tier changes, redeliveries and bad lines; --json builds it."""
    from rules_engine.cli.replaying import outcome_text

    engine = Engine.from_file(ROOT / "programs" / f"{program}.yaml")
    stream = _troubled(_generated(tmp_path, program, 9), 9)
    seen: list[tuple[bool, bool]] = []  # (a Result, a duplicate) per event

    def decided(number: int, made: Any, duplicate: bool) -> None:
        # Read at once, as `loyalty run` does: a step's result stands for the customer's working
        # state only until that customer's next step (engine/step.py, `StateMovedOnError`).
        outcome = made.outcome() if isinstance(made, Result) else made
        for as_json in (False, True):
            assert outcome_text(number, made, duplicate, as_json=as_json) == outcome_text(
                number, outcome, duplicate, as_json=as_json
            )
        seen.append((isinstance(made, Result), duplicate))

    replay(Loyalty(engine, RunMemoryStore(engine.program.program), horizon=None), stream, on_decided=decided)
    assert sum(result for result, _ in seen) > 50 and any(duplicate for _, duplicate in seen)
