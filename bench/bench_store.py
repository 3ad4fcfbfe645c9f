"""What does keeping the state cost, and does it grow with a customer's history? CPU per event through
the stores, against the memory store, at 15, 100 and 1,000 earlier purchases per customer (issue 14).

    .venv/bin/python bench/bench_store.py            # the full run, a few minutes
    .venv/bin/python bench/bench_store.py --quick    # seconds, numbers only roughly right
    .venv/bin/python bench/bench_store.py --json     # the same results as one JSON document
    .venv/bin/python bench/bench_store.py --rounds 9 # more interleaved rounds (default 3)
    .venv/bin/python bench/bench_store.py --pages    # SQLite's pages written a commit, by table (not timed)
    make bench-store                                 # with a throwaway PostgreSQL server

The stream: coffee-club purchases (programs/coffee-club.yaml), 3-line baskets. Each customer
first gets a history of earlier purchases (one every 8 hours, through the engine alone, then put
into each store as it is), then the measured purchases. Candidates, each from a fresh copy of the
same stores:

- memory: `Loyalty` with the memory store (`loyalty run` without --db): the baseline;
- SQLite per event: a file in a temporary folder, `synchronous=normal`, a transaction per event
  (the service);
- SQLite batched: the same, the measured events in groups of 500 (`loyalty run --db`'s default),
  each event through `Loyalty.handle` as `loyalty run` does (its outcome built only if read; the
  other candidates call `process`, which returns it, as the service answers);
- SQLite per event, working / SQLite batched, working: the same with `?working=1`, the store
  holding working states and the service stepping the customers' purchases in place (sql_writing.py);
- PostgreSQL per event: the server named by LOYALTY_TEST_POSTGRES, a new database per run
  (skipped without it). Its server's CPU is not the process's: its row shows wall time too.

Time is the process's CPU time (`time.process_time`, the collector on, as a service runs), so a
busy machine changes it less than wall time; candidates run interleaved, in rotating order, and
the table gives the minimum and the median of the rounds. The database size per event is the
SQLite file's growth (checkpointed) over the measured events. Targets (issue 14): SQLite batched
≤ 1.5× the memory store and per event ≤ 3×; 1,000 earlier purchases ≤ 1.3× the cost at 15. A
benchmark, not a test: it exits 0 whatever the numbers.

`--pages` counts instead what an SQLite commit writes, which a busy machine does not change: the
same stream (20 customers, 10 purchases each) a transaction per event and in one group, the
write-ahead log's frames read back after the run (automatic checkpoints off, so that the log holds
every frame) and each page named by the table or index it belongs to (SQLite's `dbstat`); with the
database's growth per event and the statements run per event (`set_trace_callback`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from timing import machine

from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.store import Store, open_store
from rules_engine.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "programs" / "coffee-club.yaml"
HISTORIES = (15, 100, 1000)
BATCH = 500
_LINES = [
    ("LATTE-L", "coffee", "320.00", 1),
    ("CROISSANT", "pastry", "180.50", 2),
    ("BEANS-250", "beans", "420.00", 1),
]
_START = 1_764_000_000  # 2025-11-24
_EVERY = 8 * 3600


def purchase(customer: str, n: int, prefix: str) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{customer}-{n}",
        "type": "purchase",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(_START + n * _EVERY)),
        "customer": customer,
        "items": [
            {"sku": sku, "category": category, "price": Decimal(price), "qty": qty}
            for sku, category, price, qty in _LINES
        ],
    }


@dataclass
class Setup:
    """One history length: the customers' states after it, and the measured stream."""

    history: int
    states: dict[str, CustomerState]
    stream: list[dict[str, Any]]


def setup(engine: Engine, history: int, customers: int, each: int) -> Setup:
    """The template customer's history through the engine alone, copied to every customer (the
    states are equal up to the name; each customer's measured purchases follow it, interleaved)."""
    state: CustomerState | None = None
    for n in range(history):
        state = engine.process(purchase("template", n, "h"), state).state
    assert state is not None
    names = [f"card-{c}" for c in range(customers)]
    states = {name: state.model_copy(update={"customer": name}) for name in names}
    stream = [purchase(name, history + n, "m") for n in range(each) for name in names]
    return Setup(history, states, stream)


@dataclass
class Row:
    name: str
    history: int
    events: int
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    bytes_per_event: float | None = None
    skipped: str | None = None

    def us(self, how: Callable[[list[float]], float] = min) -> float | None:
        return None if not self.cpu else how(self.cpu) / self.events * 1e6

    def wall_us(self) -> float | None:
        return None if not self.wall else min(self.wall) / self.events * 1e6


Prepared = tuple[Loyalty, Callable[[], None], Callable[[], float | None]]
"""A candidate ready to run: its Loyalty, how to run the stream, the database's growth after."""


def _prepare(url: str, engine: Engine, states: dict[str, CustomerState]) -> tuple[Loyalty, Store]:
    store = open_store(url, engine.program.program)
    loyalty = Loyalty(engine, store, horizon=None)
    with store.group():
        for customer, state in states.items():
            loyalty.put(customer, state)
    return loyalty, store


def _file_size(path: Path) -> int:
    """The database file's size once the whole log is in it: the checkpoint tried again while the
    store's background checkpoint holds SQLite's checkpoint lock (busy: store/sqlite_log.py)."""
    with sqlite3.connect(path) as db:
        while db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
            time.sleep(0.01)
    return path.stat().st_size


@contextmanager
def candidate(name: str, engine: Engine, s: Setup, folder: Path, server: str | None) -> Iterator[Prepared]:
    """A fresh store for one timed run of `name`; closed (and dropped) afterwards."""
    if name == "memory":
        loyalty, store = _prepare("memory:", engine, s.states)
        yield loyalty, lambda: _each(loyalty, s.stream), lambda: None
        return
    if name.startswith("SQLite"):
        path = folder / f"{uuid.uuid4().hex}.db"
        working = "&working=1" if name.endswith(", working") else ""
        loyalty, store = _prepare(f"sqlite:///{path}?synchronous=normal{working}", engine, s.states)
        before = _file_size(path)
        batched = name.startswith("SQLite batched")
        run = (lambda: _batched(loyalty, s.stream)) if batched else (lambda: _each(loyalty, s.stream))
        try:
            yield loyalty, run, lambda: (_file_size(path) - before) / len(s.stream)
        finally:
            store.close()
            for leftover in folder.glob(f"{path.name}*"):
                leftover.unlink()
        return
    assert server is not None
    url, drop = _postgres_database(server)
    try:
        loyalty, store = _prepare(url, engine, s.states)
        try:
            yield loyalty, lambda: _each(loyalty, s.stream), lambda: None
        finally:
            store.close()
    finally:
        drop()


def _each(loyalty: Loyalty, stream: list[dict[str, Any]]) -> None:
    for event in stream:
        loyalty.process(event)


def _batched(loyalty: Loyalty, stream: list[dict[str, Any]]) -> None:
    """As `loyalty run --db -q` does: `handle`, whose outcome is built only if read (a replay reads
    its totals), where `process` builds it (with the state: the service's answer)."""
    for start in range(0, len(stream), BATCH):
        with loyalty.store.group():
            for event in stream[start : start + BATCH]:
                loyalty.handle(event)


def _postgres_database(server: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    base, _, _ = server.rpartition("/")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


NAMES = (
    "memory",
    "SQLite per event",
    "SQLite batched",
    "SQLite per event, working",
    "SQLite batched, working",
    "PostgreSQL per event",
)


def measure(quick: bool, progress: Callable[[str], None], rounds: int | None = None) -> list[Row]:
    customers, each, default = (2, 5, 1) if quick else (4, 10, 3)
    rounds = rounds or default
    server = os.environ.get("LOYALTY_TEST_POSTGRES")
    engine = Engine.from_file(PROGRAM)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        for history in HISTORIES:
            progress(f"history of {history} purchases")
            s = setup(engine, history, customers, each)
            mine = {name: Row(name, history, len(s.stream)) for name in NAMES}
            if server is None:
                mine["PostgreSQL per event"].skipped = "LOYALTY_TEST_POSTGRES is not set"
            names = [name for name in NAMES if mine[name].skipped is None]
            for turn in range(rounds):
                for name in names[turn % len(names) :] + names[: turn % len(names)]:
                    with candidate(name, engine, s, Path(folder), server) as (_, run, growth):
                        gc.collect()  # the garbage of the previous run is not this one's
                        gc.enable()
                        began, wall = time.process_time(), time.perf_counter()
                        run()
                        mine[name].cpu.append(time.process_time() - began)
                        mine[name].wall.append(time.perf_counter() - wall)
                        if mine[name].bytes_per_event is None:
                            mine[name].bytes_per_event = growth()
            rows.extend(mine.values())
    return rows


def verdict(met: bool) -> str:
    return "[met]" if met else "[MISSED]"


def targets(rows: list[Row]) -> list[str]:
    def us(name: str, history: int) -> float | None:
        return next((r.us() for r in rows if r.name == name and r.history == history), None)

    lines = []
    for name, limit in (
        ("SQLite batched", 1.5),
        ("SQLite per event", 3.0),
        ("SQLite batched, working", 1.5),
        ("SQLite per event, working", 3.0),
    ):
        for history in HISTORIES:
            mine, base = us(name, history), us("memory", history)
            if mine is None or base is None:
                continue
            ratio = mine / base
            lines.append(
                f"  {verdict(ratio <= limit)} {name} <= {limit}x the memory store at {history} earlier "
                f"purchases: {ratio:.2f}x ({mine:,.0f} vs {base:,.0f} us/event)"
            )
    for name in NAMES:
        long, short = us(name, HISTORIES[-1]), us(name, HISTORIES[0])
        if long is None or short is None:
            continue
        ratio = long / short
        lines.append(
            f"  {verdict(ratio <= 1.3)} {name}: {HISTORIES[-1]} earlier purchases <= 1.3x the cost at "
            f"{HISTORIES[0]}: {ratio:.2f}x ({long:,.0f} vs {short:,.0f} us/event)"
        )
    return lines


def pages(engine: Engine, history: int, quick: bool = False) -> list[str]:
    """What an SQLite commit writes (the module docstring, `--pages`), as lines to print."""
    s = setup(engine, history, *((4, 3) if quick else (20, 10)))
    lines = []
    for batched in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "pages.db"
            # checkpoint=commit: no background checkpoint starts the log again under the count
            url = f"sqlite:///{path}?synchronous=normal&checkpoint=commit"
            loyalty, store = _prepare(url, engine, s.states)
            assert isinstance(store, SqliteStore)
            db = store._db
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA wal_autocheckpoint = 0")
            size = path.stat().st_size
            statements = 0

            def traced(_: str) -> None:
                nonlocal statements
                statements += 1

            db.set_trace_callback(traced)
            (_batched if batched else _each)(loyalty, s.stream)
            db.set_trace_callback(None)
            frames = _wal_pages(Path(f"{path}-wal"))
            owner = dict(db.execute("SELECT pageno, name FROM dbstat").fetchall())
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            grown = path.stat().st_size - size
            store.close()
        events, commits = len(s.stream), sum(1 for _, commit in frames if commit)
        by: dict[str, int] = {}
        for page, _ in frames:
            name = owner.get(page, "(free)")
            by[name] = by.get(name, 0) + 1
        top = ", ".join(
            f"{name} {count / events:.2f}" for name, count in sorted(by.items(), key=lambda kv: -kv[1])[:6]
        )
        name = "SQLite batched" if batched else "SQLite per event"
        lines.append(
            f"{name:<17} {history:>7} {len(frames) / commits:>12.1f} {len(frames) / events:>11.2f} "
            f"{grown / events:>11,.0f} {statements / events:>10.1f}   {top}"
        )
    return lines


def _wal_pages(log: Path) -> list[tuple[int, bool]]:
    """The write-ahead log's frames: (page number, whether the frame ends a commit) for each."""
    data = log.read_bytes()
    size = int.from_bytes(data[8:12], "big")
    frames, at = [], 32
    while at + 24 + size <= len(data):
        frames.append((int.from_bytes(data[at : at + 4], "big"), data[at + 4 : at + 8] != bytes(4)))
        at += 24 + size
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough numbers")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    parser.add_argument(
        "--rounds",
        type=int,
        help="interleaved rounds (default 3): more for a steadier minimum on a busy machine",
    )
    parser.add_argument("--pages", action="store_true", help="count SQLite's pages a commit writes, by table")
    options = parser.parse_args()
    if options.pages:
        engine = Engine.from_file(PROGRAM)
        size = "4 customers x 3" if options.quick else "20 customers x 10"
        print(f"# SQLite pages written: coffee-club, 3-line baskets, {size} purchases after N earlier")
        print(
            f"{'store':<17} {'history':>7} pages/commit pages/event bytes/event statements   "
            "pages/event of each table or index"
        )
        for history in HISTORIES[:1] if options.quick else HISTORIES:
            for line in pages(engine, history, options.quick):
                print(line, flush=True)
        return
    rows = measure(
        options.quick, lambda what: print(f"# {what}", file=sys.stderr, flush=True), options.rounds
    )
    if options.json:
        document = {
            "machine": machine(),
            "rows": [
                {**asdict(row), "us_per_event": row.us(), "median_us": row.us(statistics.median)}
                for row in rows
            ],
            "baseline": "memory",
        }
        print(json.dumps(document, indent=2))
        return
    facts = machine()
    where = f"{facts['implementation']} {facts['python']}, {facts['cpus']} CPUs, {facts['platform']}"
    rough = " (--quick: rough numbers)" if options.quick else ""
    rounds = len(rows[0].cpu)
    print("# store benchmark: coffee-club, 3-line baskets, CPU per event after N earlier purchases")
    print(f"# {facts['date']}, {where}; {rounds} interleaved round(s), {rows[0].events} events each{rough}")
    print(
        f"{'store':<26} {'history':>7} {'min us':>8} {'median us':>9} {'x memory':>8} {'wall us':>8} "
        f"{'bytes/event':>11}"
    )
    for row in rows:
        if row.skipped is not None:
            print(f"{row.name:<26} {row.history:>7}   skipped: {row.skipped}")
            continue
        base = next(r.us() for r in rows if r.name == "memory" and r.history == row.history) or 1.0
        low, median, wall = row.us() or 0.0, row.us(statistics.median) or 0.0, row.wall_us() or 0.0
        size = "" if row.bytes_per_event is None else f"{row.bytes_per_event:,.0f}"
        print(
            f"{row.name:<26} {row.history:>7} {low:>8,.0f} {median:>9,.0f} {low / base:>8.2f} "
            f"{wall:>8,.0f} {size:>11}"
        )
    print()
    print("targets:")
    for line in targets(rows):
        print(line)


if __name__ == "__main__":
    main()
