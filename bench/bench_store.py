"""What does keeping the state cost? Events per second through the stores, against the engine alone.

    .venv/bin/python bench/bench_store.py            # the full run, about a minute
    .venv/bin/python bench/bench_store.py --quick    # a few seconds, numbers only roughly right
    .venv/bin/python bench/bench_store.py --json     # the same results as one JSON document
    make bench-store                                 # with a throwaway PostgreSQL server

The stream: coffee-club purchases (programs/coffee-club.yaml), 3-line baskets, for 200
customers, in time order. Every row processes the same stream, from an empty store:

- engine alone: `Engine.process`, the states chained in a dict — the baseline of the ratios;
- memory store: `Loyalty` with the memory store (the service's own overhead: the transaction,
  the ledger diff, the stored outcome);
- SQLite (a file in a temporary folder, `synchronous=FULL`, and once with `?synchronous=normal`)
  and PostgreSQL (the server named by LOYALTY_TEST_POSTGRES, a new database per row), with 1 and
  4 worker processes. Workers take the customers by hash, so each customer's events stay in
  order; a row's time runs from the moment all workers are ready to the moment the last is done.

Without LOYALTY_TEST_POSTGRES the PostgreSQL rows say so and are skipped. The machine has 2
cores: 4 workers share them (and the server), so the 4-worker rows show contention as much as
parallelism. A benchmark, not a test: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from timing import machine

from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.store import open_store

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "programs" / "coffee-club.yaml"
CUSTOMERS = 200
_LINES = [
    ("LATTE-L", "coffee", "320.00", 1),
    ("CROISSANT", "pastry", "180.50", 2),
    ("BEANS-250", "beans", "420.00", 1),
]


def events(count: int) -> list[dict[str, Any]]:
    start = 1_796_000_000  # 2026-11-30, Moscow morning
    return [
        {
            "id": f"bench-{n}",
            "type": "purchase",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + n * 37)),
            "customer": f"card-{n % CUSTOMERS}",
            "items": [
                {"sku": sku, "category": category, "price": Decimal(price), "qty": qty}
                for sku, category, price, qty in _LINES
            ],
        }
        for n in range(count)
    ]


@dataclass
class Row:
    name: str
    workers: int
    events: int
    seconds: float | None = None
    skipped: str | None = None

    @property
    def per_second(self) -> float | None:
        return None if self.seconds is None else self.events / self.seconds


def engine_alone(stream: list[dict[str, Any]]) -> float:
    engine = Engine.from_file(PROGRAM)
    states: dict[str, CustomerState] = {}
    began = time.perf_counter()
    for event in stream:
        states[event["customer"]] = engine.process(event, states.get(event["customer"])).state
    return time.perf_counter() - began


def memory_store(stream: list[dict[str, Any]]) -> float:
    loyalty = Loyalty.in_memory(Engine.from_file(PROGRAM))
    began = time.perf_counter()
    for event in stream:
        loyalty.process(event)
    return time.perf_counter() - began


def _worker(url: str, part: list[dict[str, Any]], ready: Any, go: Any, done: Any) -> None:
    engine = Engine.from_file(PROGRAM)
    with open_store(url, engine.program.program) as store:
        loyalty = Loyalty(engine, store)
        ready.release()
        go.wait()
        for event in part:
            loyalty.process(event)
    done.release()


def with_workers(url: str, stream: list[dict[str, Any]], workers: int) -> float:
    """Seconds for `workers` processes to put the stream through the store at `url` (migrated first)."""
    open_store(url, "coffee-club").close()
    parts: list[list[dict[str, Any]]] = [[] for _ in range(workers)]
    for event in stream:
        parts[zlib.crc32(event["customer"].encode()) % workers].append(event)
    context = multiprocessing.get_context("fork")
    ready, done, go = context.Semaphore(0), context.Semaphore(0), context.Event()
    processes = [context.Process(target=_worker, args=(url, part, ready, go, done)) for part in parts]
    for process in processes:
        process.start()
    for _ in processes:
        ready.acquire()
    began = time.perf_counter()
    go.set()
    for _ in processes:
        done.acquire()
    seconds = time.perf_counter() - began
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a worker failed (exit {process.exitcode})")
    with open_store(url, "coffee-club") as store:
        if store.processed() != len(stream):
            raise RuntimeError(f"{store.processed()} events stored, {len(stream)} sent")
    return seconds


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


def measure(quick: bool) -> list[Row]:
    count = 300 if quick else 3000
    stream = events(count)
    rows = [
        Row("engine alone", 1, count, engine_alone(stream)),
        Row("memory store", 1, count, memory_store(stream)),
    ]
    server = os.environ.get("LOYALTY_TEST_POSTGRES")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}?synchronous=normal"
        rows.append(Row("SQLite normal", 1, count, with_workers(url, stream, 1)))
    for workers in (1, 4):
        with tempfile.TemporaryDirectory() as folder:
            rows.append(
                Row("SQLite", workers, count, with_workers(str(Path(folder) / "bench.db"), stream, workers))
            )
    for workers in (1, 4):
        if server is None:
            rows.append(Row("PostgreSQL", workers, count, skipped="LOYALTY_TEST_POSTGRES is not set"))
            continue
        url, drop = _postgres_database(server)
        try:
            rows.append(Row("PostgreSQL", workers, count, with_workers(url, stream, workers)))
        finally:
            drop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough numbers")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    options = parser.parse_args()
    rows = measure(options.quick)
    baseline = rows[0].per_second or 1.0
    if options.json:
        document = {
            "machine": machine(),
            "rows": [{**asdict(row), "per_second": row.per_second} for row in rows],
            "baseline": "engine alone",
        }
        print(json.dumps(document, indent=2))
        return
    print(f"# store benchmark: coffee-club, 3-line baskets, {CUSTOMERS} customers")
    facts = machine()
    where = f"{facts['implementation']} {facts['python']}, {facts['cpus']} CPUs, {facts['platform']}"
    rough = " (--quick: rough numbers)" if options.quick else ""
    print(f"# {facts['date']}, {where}; one pass over {rows[0].events} events per row{rough}")
    print(f"{'store':<14} {'workers':>7} {'events':>7} {'events/s':>10} {'x engine alone':>15}")
    for row in rows:
        if row.per_second is None:
            print(f"{row.name:<14} {row.workers:>7} {row.events:>7}   skipped: {row.skipped}")
            continue
        ratio = row.per_second / baseline
        print(f"{row.name:<14} {row.workers:>7} {row.events:>7} {row.per_second:>10,.0f} {ratio:>15.2f}")


if __name__ == "__main__":
    main()
