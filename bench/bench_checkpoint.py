"""Where SQLite's log is checkpointed, and what a group's commit waits for: purchases stored in
groups of 32 (`Store.group`, as `loyalty serve`'s lane stores the events waiting together) into a
fresh SQLite file, with `checkpoint="commit"` (SQLite's automatic checkpoint, inside the commit
that fills 1,000 pages) and `checkpoint="background"` (store/sqlite_log.py), alternated round
after round.

Per store and round: the commit's wall time (from the group's last event decided to the group's
block ended: its writes, COMMIT and its disk flush, and with `commit` the checkpoint when one
falls due), median / p90 / max; the transaction's start (`_begin`: with `background`, the copy of
what a background checkpoint missed), max; events/s (wall); the checkpoints run and the largest
log they found (pages). Wall time moves with the machine's load: compare the two rows of one
round, and give the load.

    .venv/bin/python bench/bench_checkpoint.py                    # 200 groups, 3 rounds
    .venv/bin/python bench/bench_checkpoint.py --groups 20 --rounds 1
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import PROGRAM, events

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.http.runtime import system_clock
from rules_engine.service import Loyalty
from rules_engine.store.sqlite import SqliteStore

GROUP = 32
CUSTOMERS = 300


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.9)], ordered[-1]


def run(engine: Engine, mode: Literal["commit", "background"], groups: int, folder: Path) -> dict[str, Any]:
    store = SqliteStore(folder / f"{mode}-{time.monotonic_ns()}.db", "coffee-club", checkpoint=mode)
    loyalty = Loyalty(engine, store, now=system_clock)
    bodies = [jsonio.loads(jsonio.dumps(e)) for e in events(groups * GROUP, CUSTOMERS, mode)]
    begins: list[float] = []
    inner = store._begin

    def timed_begin() -> None:
        began = time.perf_counter()
        inner()
        begins.append(time.perf_counter() - began)

    store._begin = timed_begin  # type: ignore[method-assign]
    commits: list[float] = []
    started = time.perf_counter()
    for first in range(0, len(bodies), GROUP):
        with store.group():
            for body in bodies[first : first + GROUP]:
                loyalty.handle(body)
            decided = time.perf_counter()
        commits.append(time.perf_counter() - decided)
    wall = time.perf_counter() - started
    log = store._log
    result = {
        "commit": [1000 * value for value in percentiles(commits)],
        "begin_max": 1000 * max(begins),
        "events_per_s": len(bodies) / wall,
        "checkpoints": "automatic" if log is None else f"{log.passes} + {log.tails} tails, {log.waits} waits",
        "largest": "" if log is None else str(log.largest),
    }
    store.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=200, help="groups of 32 purchases a run (200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each store once a round (3)")
    options = parser.parse_args()
    engine = Engine.from_file(PROGRAM)
    load = os.getloadavg()[0]
    print(f"# {options.groups} groups of {GROUP} purchases, {CUSTOMERS} customers; load {load:.1f}")
    print(" round  checkpoint   commit ms median / p90 / max   begin max ms  events/s  checkpoints  log")
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(1, options.rounds + 1):
            modes: tuple[Literal["commit", "background"], ...] = ("commit", "background")
            for mode in modes if round_ % 2 else modes[::-1]:
                row = run(engine, mode, options.groups, Path(folder))
                median, p90, most = row["commit"]
                print(
                    f" {round_:5d}  {mode:10s}   {median:8.1f} / {p90:6.1f} / {most:6.1f}"
                    f"   {row['begin_max']:12.1f}  {row['events_per_s']:8.0f}  {row['checkpoints']}"
                    f"  {row['largest']}"
                )
    print(f"# load {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
