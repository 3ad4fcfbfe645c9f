"""Instructions of the generated `decide` alone per coffee-club purchase, counted by callgrind.

    .venv/bin/python bench/decide_instructions.py                # ~1-2 minutes
    .venv/bin/python bench/decide_instructions.py --keep out.cg  # then: callgrind_annotate out.cg
    .venv/bin/python bench/decide_instructions.py --time         # CPU time instead (noisy machine)
    .venv/bin/python bench/decide_instructions.py --open         # open_run and the attributes' check

`bench/instructions.py` counts a whole event; this counts the part the generated function decides
(pricing and earning, engine.md "Two paths"), to see what a change to the generator buys. A child
builds instructions.py's row (coffee-club, 10-line purchases, 40 customers with 15 earlier
purchases), runs the first 300 events of its stream through the engine, and opens each event's run
as `Engine.process` opens it (time passed, the run, the custom attributes checked) before the event
is processed; then it decides those runs inside `functools.reduce`, and callgrind counts only what
runs inside that C function (`--toggle-collect`): decide and what it calls, per event, with the
garbage collector off (when a collection falls depends on everything that ran before: it moves
the count by several percent from one change to the next). `--keep`
keeps callgrind's file, whose C functions (`callgrind_annotate --inclusive=yes`) say where the
instructions go. `--open` counts instead what opens each of those runs, as a step opens it
(`open_run`, then `conditions.check_attributes`), on the same events and states. Without valgrind
it says so and exits 0.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
EVENTS, HISTORY, CUSTOMERS, EACH = 300, 15, 40, 10


def runs(copies: int, opening: list[tuple[Any, ...]] | None = None) -> tuple[Any, list[list[Any]]]:
    """The generated function, and `copies` lists of the stream's first runs, not decided yet
    (and, in `opening`, the arguments of `open_run` each covered run was opened with)."""
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
        if opening is not None and covers(run):
            opening.append((engine.plan, b"", event, before, False, BudgetSnapshot(), list(changes)))
        current[event.customer] = engine.process(event, state).state
    return fast.decide, made


def child(opening: bool = False) -> None:
    """Decide the runs inside `functools.reduce`: callgrind counts only what runs inside it (with
    `opening`, open them there instead)."""
    if opening:
        from rules_engine.engine import conditions
        from rules_engine.engine.run import open_run

        arguments: list[tuple[Any, ...]] = []
        runs(1, arguments)
        print(len(arguments))
        gc.collect()
        gc.disable()
        check = conditions.check_attributes
        functools.reduce(lambda _, given: check(open_run(*given)), arguments, None)
        return
    function, (made,) = runs(1)
    print(len(made))
    gc.collect()
    gc.disable()  # a collection's cost depends on what ran before: left out of the count
    functools.reduce(lambda _, run: function(run), made, None)


def counted(keep: Path | None, opening: bool = False) -> tuple[int, int]:
    """The instructions callgrind counts inside `functools.reduce` (decide and its callees, and a
    lambda's call per run), and how many runs it decided."""
    out = keep or Path(tempfile.mkdtemp()) / "callgrind.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--collect-atstart=no",
        "--toggle-collect=functools_reduce",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        *(["--open"] if opening else []),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = (
        re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(), re.MULTILINE) if out.exists() else None
    )
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1)), int(done.stdout.split()[-1])


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
    parser.add_argument("--open", action="store_true", help="count open_run, not decide")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--keep", type=Path, help="keep callgrind's output here (callgrind_annotate reads it)"
    )
    args = parser.parse_args()
    if args.child:
        child(args.open)
        return
    if args.time:
        timed(args.rounds)
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instructions not counted (apt-get install valgrind); skipped")
        return
    instructions, count = counted(args.keep, args.open)
    per_event = instructions / count / 1000
    what = "open_run and the attributes' check" if args.open else "the generated decide"
    print(f"coffee-club, 10-line purchases: {what}, {per_event:,.1f}k instructions per event")


if __name__ == "__main__":
    main()
