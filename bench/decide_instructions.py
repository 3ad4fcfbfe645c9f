"""Instructions of the generated `decide` alone per coffee-club purchase, counted by cachegrind.

    .venv/bin/python bench/decide_instructions.py            # cachegrind, ~2 minutes
    .venv/bin/python bench/decide_instructions.py --time     # CPU time instead (noisy machine)

`bench/instructions.py` counts a whole event; this counts the part the generated function decides
(pricing and earning, engine.md "Two paths"), to see what a change to the generator buys. A child
builds instructions.py's row (coffee-club, 10-line purchases, 40 customers with 15 earlier
purchases), runs the first 300 events of its stream through the engine, and opens each event's run
as `Engine.process` opens it (time passed, the run, the custom attributes checked) before the event
is processed; then it decides each of those runs with the generated function, or not. The
difference of the two counts over the 300 runs is decide's cost per event (the mechanics, settle
and the state are left out). Without valgrind it says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
EVENTS, HISTORY, CUSTOMERS, EACH = 300, 15, 40, 10


def runs(copies: int) -> tuple[Any, list[list[Any]]]:
    """The generated function, and `copies` lists of the stream's first runs, not decided yet."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    import bench_streams

    from rules_engine.engine import conditions
    from rules_engine.engine.evaluator import Engine
    from rules_engine.engine.generated import covers
    from rules_engine.engine.run import BudgetSnapshot, open_run

    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    spec = (HISTORY, 4, CUSTOMERS, EACH)
    _, stream, states, _ = bench_streams.build_row(engine, spec, bench_streams.Check(), lambda _: None)
    current = dict(states)
    made: list[list[Any]] = [[] for _ in range(copies)]
    fast = engine.generated
    assert fast is not None
    for generated in stream[:EVENTS]:
        event = generated.engine
        state = current[event.customer]
        before, changes, *_ = engine._elapse(state, event.time, event.id)
        for kept in made:
            run = open_run(engine.plan, b"", event, before, False, BudgetSnapshot(), list(changes))
            conditions.check_attributes(run)
            if covers(run):
                kept.append(run)
        current[event.customer] = engine.process(event, state).state
    return fast.decide, made


def child(decide: bool) -> None:
    function, (made,) = runs(1)
    print(len(made))
    if decide:
        for run in made:
            function(run)


def counted(decide: bool) -> tuple[int, int]:
    """The instructions cachegrind counts for a child run, and how many runs it decided."""
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "decide" if decide else "open",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"cachegrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", "")), int(done.stdout.split()[-1])


def timed(rounds: int) -> None:
    """CPU time of decide per run, min and median over `rounds` (each on fresh runs)."""
    function, made = runs(rounds)
    seconds = []
    for kept in made:
        start = time.process_time()
        for run in kept:
            function(run)
        seconds.append((time.process_time() - start) / len(kept))
    seconds.sort()
    print(
        f"decide, {len(made[0])} coffee-club purchases: min {seconds[0] * 1e6:.1f} µs,"
        f" median {seconds[len(seconds) // 2] * 1e6:.1f} µs per event (load {os.getloadavg()[0]:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true", help="CPU time, not instructions")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--child", choices=("decide", "open"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child == "decide")
        return
    if args.time:
        timed(args.rounds)
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instructions not counted (apt-get install valgrind); skipped")
        return
    (without, _), (with_decide, count) = counted(False), counted(True)
    per_event = (with_decide - without) / count / 1000
    print(f"coffee-club, 10-line purchases: the generated decide, {per_event:,.1f}k instructions per event")


if __name__ == "__main__":
    main()
