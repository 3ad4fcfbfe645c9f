"""What does an event cost when its customer's state is read back from the database? Eager (every
row of the long lists validated at the read, as before store/lazy.py) against lazy (a long list's
rows validated when the event first reads them), at 15, 100 and 1,000 earlier purchases.

    .venv/bin/python bench/bench_read_back.py                      # histories 15 100 1000, 3 rounds
    .venv/bin/python bench/bench_read_back.py --histories 1000 --rounds 5

A replay whose customers interleave reads most of its events' states back (bench_replay.py
`--shares`): that is the case measured here, with a store that holds nothing between groups
(`cache=0`). The customers (bench_store.py's: coffee-club, 3-line purchases, one every 8 hours) get
their history through the engine, are put into one SQLite file, and each round copies the file
twice and runs the same purchases (`--each` per customer, interleaved, in groups of 500 through
`Loyalty.handle`, as `loyalty run --db` does) into each copy, eager and lazy in turn (the order
alternates). A group reads a customer once (its later events find the state the group holds): with
the defaults, one read per customer and run, one for every 10 events, so the µs an event are a
tenth of a read's plus an event's. CPU time
(`time.process_time`), the minimum over the rounds; the elements the states read held and those
parsed per event. The two copies' databases are compared at the end of each round: the same rows.
A benchmark, not a test: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_store import BATCH, setup
from timing import machine

from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.store import lists, open_store

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("customers", "customer_lists", "events", "ledger")


def run(url: str, engine: Engine, stream: list[dict[str, Any]], lazy: bool, counted: dict[str, int]) -> float:
    lists.LAZY = LAZY if lazy else ()
    store = open_store(url, engine.program.program, cache=0)
    loyalty = Loyalty(engine, store, horizon=None)
    load = store._load  # type: ignore[attr-defined]

    def counted_load(customer: str) -> Any:
        held = load(customer)
        if held is not None:
            counted["elements"] += held.weight
            counted["parsed"] += held.weight - sum(
                len(values)
                for part, values in held.elements.items()
                if part in lists.LAZY and len(values) >= 128
            )
        return held

    store._load = counted_load  # type: ignore[attr-defined]
    started = time.process_time()
    for start in range(0, len(stream), BATCH):
        with store.group():
            for event in stream[start : start + BATCH]:
                loyalty.handle(event)
    spent = time.process_time() - started
    store.close()
    lists.LAZY = LAZY
    return spent


LAZY = lists.LAZY
COUNTED: dict[str, int] = {"elements": 0, "parsed": 0}
"""Where the lazily parsed elements are counted (the parsers wrapped once, below)."""


def _counting(parse: Any) -> Any:
    def call(text: str) -> Any:
        COUNTED["parsed"] += 1
        return parse(text)

    return call


for _part, _parse in list(lists._PARSERS.items()):
    lists._PARSERS[_part] = _counting(_parse)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--histories", type=int, nargs="+", default=[15, 100, 1000])
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--each", type=int, default=10, help="measured purchases per customer")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml", secret=b"bench")
    print(f"# {machine()['date']}, {machine()['cpus']} CPUs; cache=0: a customer read back once a run")
    print(f"{'history':>8} {'eager µs':>9} {'lazy µs':>9} {'lazy/eager':>10} {'elements':>9} {'parsed':>7}")
    parsed_lazy: dict[str, int] = {"elements": 0, "parsed": 0}
    for history in args.histories:
        s = setup(engine, history, args.customers, args.each)
        with tempfile.TemporaryDirectory(prefix="bench-read-back-") as folder:
            base = Path(folder) / "base.db"
            store = open_store(f"sqlite:///{base}", engine.program.program)
            loyalty = Loyalty(engine, store, horizon=None)
            with store.group():
                for customer, state in s.states.items():
                    loyalty.put(customer, state)
            store.close()
            times: dict[bool, list[float]] = {False: [], True: []}
            for round_ in range(args.rounds):
                dumps = {}
                for lazy in (False, True) if round_ % 2 == 0 else (True, False):
                    path = Path(folder) / f"{'lazy' if lazy else 'eager'}.db"
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{path}{suffix}").unlink(missing_ok=True)
                    shutil.copy(base, path)
                    COUNTED.update(elements=0, parsed=0)
                    times[lazy].append(
                        run(f"sqlite:///{path}?synchronous=normal", engine, s.stream, lazy, COUNTED)
                    )
                    if lazy:
                        parsed_lazy = dict(COUNTED)
                    with sqlite3.connect(path) as db:
                        dumps[lazy] = {
                            t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4").fetchall() for t in TABLES
                        }
                for table in TABLES:  # the revisions are random (a customer's first row): not compared
                    if table != "customers":
                        assert dumps[True][table] == dumps[False][table], table
                    else:
                        assert [r[:3] for r in dumps[True][table]] == [r[:3] for r in dumps[False][table]]
        events = len(s.stream)
        eager, lazy_us = min(times[False]) / events * 1e6, min(times[True]) / events * 1e6
        print(
            f"{history:>8} {eager:>9.0f} {lazy_us:>9.0f} {lazy_us / eager:>10.2f}"
            f" {parsed_lazy['elements'] / events:>9.0f} {parsed_lazy['parsed'] / events:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
