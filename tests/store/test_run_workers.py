"""`loyalty run --workers N`: the stream split by customer over worker processes must show what one
process shows — the same lines in file order, the same problems, totals, exit codes — and leave
the same store; killed (the parent with SIGKILL, or one worker), stopped (Ctrl-C) or not, a rerun
applies each event exactly once.

SQLite always, PostgreSQL when a server is given (tests/postgres.py). What crosses customers is
applied when a worker reaches it, not in file order (docs/cli.md): the program here has no
program-wide budget, and the streams compared state for state have no referrals; with referrals,
the lines printed, the balances (and the ledger) are compared.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.program.validate import load_program_text
from rules_engine.replay_workers import owner, route
from rules_engine.store import Store, open_store
from tests.store.streams import PROGRAM, reference, stream
from tests.store.test_workers import LAUNCH, consistent

ROOT = Path(__file__).resolve().parents[2]
NO_BUDGET = PROGRAM.replace(LAUNCH, "")
SECRET = "store tests"
ENGINE = Engine(load_program_text(NO_BUDGET, "store-test.yaml"), secret=SECRET.encode())
COFFEE = ROOT / "programs" / "coffee-club.yaml"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A fresh database per call: `database()` gives another one of the same kind."""
    if request.param == "sqlite":
        counter = iter(range(100))
        yield lambda: str(tmp_path / f"loyalty-{next(counter)}.db")
        return
    from tests import postgres

    url = postgres.server_url()
    opened: list[Any] = []

    def fresh() -> str:
        manager = postgres.fresh_database(url)
        opened.append(manager)
        return manager.__enter__()

    yield fresh
    for manager in opened:
        manager.__exit__(None, None, None)


def files(tmp_path: Path, lines: list[bytes], name: str = "events") -> tuple[Path, Path]:
    program = tmp_path / "store-test.yaml"
    program.write_text(NO_BUDGET)
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return program, path


def encoded(events: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(event).encode() for event in events]


def own(seed: int, customers: int, events: int) -> list[dict[str, Any]]:
    """A stream whose events each touch their own customer only: signups without a referral code."""
    made = stream(seed=seed, customers=customers, events=events)
    return [{k: v for k, v in event.items() if k != "referral_code"} for event in made]


def balances(store: Store) -> dict[str, Decimal]:
    return {
        customer: sum((lot.points for lot in state.lots), Decimal(0)) for customer, state in store.states()
    }


def cli(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "cli.py"), *args]


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        cli("run", *args), capture_output=True, env={**os.environ, "LOYALTY_SECRET": SECRET}, cwd=ROOT
    )


def ledger_sums(store: Store) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for row in store.ledger():
        sums[row.customer] = sums.get(row.customer, Decimal(0)) + row.entry.points
    return sums


def test_a_customer_is_owned_by_the_same_worker_in_every_process() -> None:
    # CRC-32 of the UTF-8 id: not Python's hash, which is salted per process
    assert [owner(c, 4) for c in ("anna", "boris", "c000001", "")] == [3, 3, 1, 0]
    assert owner("\ud800", 3) in range(3)  # a lone surrogate JSON can carry: routed, not a crash
    line = b'{"id": "e1", "customer": "anna", "type": "app_open"}'
    assert route(line, 7, 4) == owner("anna", 4)
    for unroutable in (None, b"\xff{}", b"not json", b'{"customer": 5}', b"[1]", b""):
        assert route(unroutable, 7, 4) == 7 % 4


@pytest.mark.parametrize("options", [["--by-customer"], ["--json", "--batch", "7"], ["-q"]])
def test_n_workers_print_what_one_prints_and_leave_the_same_store(
    tmp_path: Path, database: Any, options: list[str]
) -> None:
    events = own(seed=21, customers=9, events=300)
    lines = encoded(events)
    lines[40:40] = [b"", b"not json", b'{"id": "x", "type": "purchase"}', b"\xff\xfe"]
    lines.append(lines[10])  # a redelivery: already processed
    program, path = files(tmp_path, lines)
    runs = {}
    for workers in (1, 3):
        db = database()
        done = run(str(program), str(path), "--db", db, "--workers", str(workers), *options)
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        with open_store(db, "store-test") as store:
            consistent(store)
            states = dict(store.states())
            runs[workers] = (done.returncode, done.stdout, done.stderr, states, ledger_sums(store))
    assert runs[1][0] == 1  # the bad lines and the refused redemptions
    assert runs[3][:3] == runs[1][:3]
    assert runs[3][3] == runs[1][3] == reference(ENGINE, events)
    assert runs[3][4] == runs[1][4]


def test_with_referrals_the_lines_balances_and_ledger_are_the_same(tmp_path: Path, database: Any) -> None:
    """A referrer's reward is applied by the referee's worker, whoever owns the referrer, when it
    gets there: the referrer's history may list it after their own later events."""
    events = stream(seed=21, customers=9, events=300)
    program, path = files(tmp_path, encoded(events))
    runs = []
    for workers in (1, 3):
        db = database()
        done = run(str(program), str(path), "--db", db, "--workers", str(workers), "--by-customer")
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        with open_store(db, "store-test") as store:
            consistent(store)
            assert balances(store) == ledger_sums(store)
            runs.append((done.returncode, done.stdout, done.stderr, ledger_sums(store)))
    assert runs[0] == runs[1]
    assert b":referrer:" in runs[0][1]


def test_a_generated_history_gives_the_same_lines_and_balances(tmp_path: Path) -> None:
    """`loyalty generate`'s stream: sign-ups with referral codes, returns, reviews, coupons."""
    stream_path = tmp_path / "year.jsonl"
    made = subprocess.run(
        cli("generate", str(COFFEE), "-o", str(stream_path), "--customers", "60", "--days", "45"),
        capture_output=True,
        cwd=ROOT,
    )
    assert made.returncode == 0, made.stderr.decode()
    outputs = []
    for workers in ("1", "2"):
        db = tmp_path / f"{workers}.db"
        states = tmp_path / f"{workers}.json"
        done = run(str(COFFEE), str(stream_path), "--db", str(db), "--workers", workers, "--by-customer",
                   "--state-out", str(states))  # fmt: skip
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        kept = json.loads(states.read_text())
        held = {c: sum(Decimal(str(lot["points"])) for lot in state["lots"]) for c, state in kept.items()}
        outputs.append((done.returncode, done.stdout, done.stderr, held))
    assert outputs[0] == outputs[1]


BAD_LINES = [b"\xc3(", b"{nope", b'{"id": "q"}', b'{"customer": 1}', b"[]"]
MARCH = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
EVENT_KINDS = st.sampled_from(["purchase", "purchase", "app_open", "redeem", "signup", "blank", "bad"])


@st.composite
def messy_streams(draw: st.DrawFn) -> list[bytes]:
    """Events of a few customers in time order, with bad lines, redeliveries and a BOM among them;
    signups name a referrer seen before, one yet to come, or one who never comes. Or out of time
    order across customers: a customer's first line may be earlier than the lines before it (a
    referrer's first event on a line after a friend's purchase, at an earlier time)."""
    lines: list[bytes] = []
    minute = 0
    back = draw(st.sampled_from([0, 0, 3000]))
    seen: set[str] = set()
    for index in range(draw(st.integers(1, 40))):
        kind = draw(EVENT_KINDS)
        minute += draw(st.integers(0, 600))
        customer = draw(st.sampled_from(["anna", "boris", "chen", "dana", "emil"]))
        earlier = draw(st.integers(0, back)) if customer not in seen else 0
        seen.add(customer)
        time_ = (MARCH + dt.timedelta(minutes=minute - earlier)).isoformat()
        event: dict[str, Any] = {"id": f"e{index}", "customer": customer, "time": time_}
        if kind == "blank":
            lines.append(b"   ")
        elif kind == "bad":
            lines.append(draw(st.sampled_from(BAD_LINES)))
        elif kind == "purchase":
            price = draw(st.integers(1, 90))
            event |= {"type": "purchase", "items": [{"sku": "s", "category": "c", "price": price, "qty": 1}]}
            lines.append(json.dumps(event).encode())
        elif kind == "signup":
            referrer = draw(st.sampled_from(["anna", "boris", "chen", "dana", "emil"]))
            event |= {
                "type": "signup",
                "referral_code": referral_code("store-test", referrer, SECRET.encode()),
            }
            lines.append(json.dumps(event).encode())
        elif kind == "redeem":
            event |= {"type": "redeem", "reward": "mug"}
            lines.append(json.dumps(event).encode())
        else:
            event |= {"type": "app_open"}
            lines.append(json.dumps(event).encode())
        if lines and draw(st.booleans()) and draw(st.booleans()):
            lines.append(draw(st.sampled_from(lines)))  # a redelivery (or a bad line again)
    if draw(st.booleans()):
        lines[0] = b"\xef\xbb\xbf" + lines[0]
    return lines


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=messy_streams(), workers=st.integers(2, 4), batch=st.sampled_from(["1", "3", "500"]))
def test_any_stream_gives_the_same_output_on_n_workers_as_on_one(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], workers: int, batch: str
) -> None:
    folder = tmp_path_factory.mktemp("messy")
    program, path = files(folder, lines)
    # a referrer's reward may be applied after their later lines (docs/cli.md): the same points,
    # in another order in their history
    referred = any(b'"referral_code"' in line for line in lines)
    results = []
    for count in (1, workers):
        db = folder / f"{count}.db"
        args = ["run", str(program), str(path), "--db", str(db), "--batch", batch, "--horizon", "none"]
        done = CliRunner().invoke(
            app, [*args, "--workers", str(count), "--by-customer"], env={"LOYALTY_SECRET": SECRET}
        )
        assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
        with open_store(str(db), "store-test") as store:
            consistent(store)
            kept = balances(store) if referred else dict(store.states())
            results.append((done.exit_code, done.stdout, done.stderr, kept))
    assert results[0] == results[1]


def test_workers_need_a_store_they_share() -> None:
    for options in ([], ["--db", "memory:"]):
        done = CliRunner().invoke(app, ["run", str(COFFEE), str(COFFEE), *options, "--workers", "2"])
        assert done.exit_code == 2
        assert "error[RE710]: --workers 2 needs a store the workers share" in done.stderr
        assert "hint: give --db with an SQLite file or postgresql://" in done.stderr


def start(program: Path, path: Path, db: str, *options: str) -> subprocess.Popen[bytes]:
    """The run in a process group of its own, as a shell starts a job."""
    return subprocess.Popen(
        cli("run", str(program), str(path), "--db", db, *options),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "LOYALTY_SECRET": SECRET},
        cwd=ROOT,
        start_new_session=True,
    )


def gone(group: int) -> None:
    """Wait until no process of the group is left (the workers die with their parent)."""
    for _ in range(500):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError("worker processes outlived their parent")


def workers_of(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def told(stdout: bytes, *, whole: bool = True) -> list[str]:
    """The outcome lines printed (`line N: …`); not the last one unless `whole` (a kill may cut it)."""
    lines = stdout.decode().splitlines()
    return [line for line in (lines if whole else lines[:-1]) if line.startswith("line ")]


def number(line: str) -> int:
    return int(line.split(":")[0].removeprefix("line "))


def one_worker(tmp_path: Path, program: Path, path: Path) -> list[str]:
    """What one process prints for the whole stream, on a database of its own."""
    done = run(str(program), str(path), "--db", str(tmp_path / "alone.db"))
    assert done.returncode in (0, 1), done.stderr.decode()
    return told(done.stdout)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_parent_killed_mid_run_loses_only_what_it_had_not_printed(tmp_path: Path, database: Any) -> None:
    events = own(seed=22, customers=10, events=400)
    program, path = files(tmp_path, encoded(events))
    alone = one_worker(tmp_path, program, path)
    db = database()
    store = open_store(db, "store-test")
    for stop_at in (60, 200):
        process = start(program, path, db, "--workers", "3", "--batch", "10")
        while store.processed() < stop_at and process.poll() is None:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)  # the parent alone
        printed, _ = process.communicate()
        assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
        gone(process.pid)
        assert stop_at <= store.processed() < len(events)
        consistent(store)
        lines = told(printed, whole=False)
        if stop_at == 60:  # the first run: what it printed reads as one process's first lines
            assert lines == alone[: len(lines)]
        applied = {event for _, state in store.states() for event in state.processed}
        assert {line.split()[2] for line in lines} <= applied
    process = start(program, path, db, "--workers", "3", "--batch", "10")
    _, err = process.communicate(timeout=300)
    assert process.returncode in (0, 1) and b"Traceback" not in err, err.decode()
    consistent(store)
    assert dict(store.states()) == reference(ENGINE, events)
    assert ledger_sums(store) == balances(store)
    store.close()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_ctrl_c_stops_every_worker_and_tells_the_lines_done_in_order(tmp_path: Path) -> None:
    events = own(seed=23, customers=8, events=400)
    program, path = files(tmp_path, encoded(events))
    alone = one_worker(tmp_path, program, path)
    db = str(tmp_path / "loyalty.db")
    store = open_store(db, "store-test")
    process = start(program, path, db, "--workers", "2", "--batch", "5")
    while store.processed() < 80 and process.poll() is None:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    out, err = process.communicate(timeout=120)
    said = " ".join(err.decode().split())
    assert process.returncode == 130, said
    stopped = int(said.split("stopped after line ")[1].split()[0])
    assert told(out) == [line for line in alone if number(line) <= stopped]
    assert stopped < len(events)
    again = start(program, path, db, "--workers", "2")
    _, err = again.communicate(timeout=300)
    assert again.returncode in (0, 1), err.decode()
    consistent(store)
    assert dict(store.states()) == reference(ENGINE, events)
    store.close()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_worker_that_dies_stops_the_run_at_its_first_line_not_done(tmp_path: Path) -> None:
    events = own(seed=24, customers=8, events=400)
    program, path = files(tmp_path, encoded(events))
    alone = one_worker(tmp_path, program, path)
    db = str(tmp_path / "loyalty.db")
    store = open_store(db, "store-test")
    process = start(program, path, db, "--workers", "2", "--batch", "5")
    while store.processed() < 60 and process.poll() is None:
        time.sleep(0.005)
    os.kill(workers_of(process.pid)[0], signal.SIGKILL)
    out, err = process.communicate(timeout=120)
    said = " ".join(err.decode().split())
    assert process.returncode == 1, said
    assert "error[RE462]" in said and "ended unexpectedly (exit status -9)" in said
    failed = int(said.split("error[RE462]: line ")[1].split(":")[0])
    assert told(out) == [line for line in alone if number(line) < failed]
    consistent(store)
    again = start(program, path, db, "--workers", "2")
    _, err = again.communicate(timeout=300)
    assert again.returncode in (0, 1), err.decode()
    consistent(store)
    assert dict(store.states()) == reference(ENGINE, events)
    store.close()


@pytest.mark.parametrize("batch", ["1", "20"])
def test_a_store_failure_in_one_worker_ends_the_run_at_its_line_as_with_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: str
) -> None:
    """The other workers finish the lines before it and take none after it: the same lines, totals
    and RE605 as one process gives (forked workers inherit the failing store). Not the same states:
    a worker may have committed a few lines past it (docs/cli.md), never told, as after a kill."""
    from rules_engine.errors import Diagnostic, StoreError
    from rules_engine.service import Loyalty

    handle = Loyalty.handle

    def failing(self: Loyalty, event: Any, **options: Any) -> Any:
        if (event["id"] if isinstance(event, dict) else event.id) == "e25-150":  # the run gives it parsed
            raise StoreError([Diagnostic("RE605", "sqlite:///x.db: the database failed: disk I/O error")])
        return handle(self, event, **options)

    monkeypatch.setattr(Loyalty, "handle", failing)
    # Only forked workers inherit the failure patched in here; the workers fork when this process
    # runs no other thread, and in the whole suite idle threads of earlier tests may still run
    # (with spawn the workers would not fail, and the outputs differ).
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    program, path = files(tmp_path, encoded(own(seed=25, customers=9, events=300)))
    outputs = []
    for workers in ("1", "3"):
        db = str(tmp_path / f"{workers}.db")
        done = CliRunner().invoke(app, ["run", str(program), str(path), "--db", db, "--batch", batch,
                                        "--workers", workers])  # fmt: skip
        outputs.append((done.exit_code, done.stdout, done.stderr))
    assert outputs[0] == outputs[1]
    assert "error[RE605]: line 151: event 'e25-150'" in outputs[0][2]
    assert "line 151" not in outputs[0][1]


def purchase(event: str, customer: str, hour: int) -> dict[str, Any]:
    items = [{"sku": "S", "category": "goods", "price": "30", "qty": 1}]
    moment = f"2026-12-01T{hour:02d}:00:00+00:00"
    return {"id": event, "type": "purchase", "time": moment, "customer": customer, "items": items}


def test_an_optimistic_group_writes_nothing_if_another_process_wrote_what_it_read(tmp_path: Path) -> None:
    """SQLite workers read their batch without the write lock (`SqlStore.optimistic`) and take it to
    write; a customer another process wrote in between (a referrer rewarded by another worker)
    fails the batch, nothing of it written, for the replay to do again an event at a time."""
    from rules_engine.errors import StoreError
    from rules_engine.service import Loyalty

    db = str(tmp_path / "x.db")
    mine, theirs = open_store(db, "store-test"), open_store(db, "store-test")
    mine.optimistic = True  # type: ignore[attr-defined]
    worker, other = Loyalty(ENGINE, mine, horizon=None), Loyalty(ENGINE, theirs, horizon=None)
    other.handle(purchase("e1", "anna", 8))
    with pytest.raises(StoreError, match="another process wrote what the batch read"), mine.group():
        worker.handle(purchase("e2", "anna", 9))
        worker.handle(purchase("e3", "boris", 9))
        other.handle(purchase("e4", "anna", 10))  # not blocked: the group holds no lock yet
    assert theirs.processed() == 2  # e1 and e4: nothing of the group
    with mine.group():  # nothing changed under it: written
        worker.handle(purchase("e5", "boris", 11))
        worker.handle(purchase("e6", "anna", 11))
    assert theirs.processed() == 4
    states = dict(theirs.states())
    assert states["anna"].processed[-3:] == ["e1", "e4", "e6"] and states["boris"].processed == ["e5"]
    consistent(theirs)
    mine.close()
    theirs.close()
