"""Instructions of `Working.public()` after a step, and of the step, at customer histories: load-proof.

    .venv/bin/python bench/instructions_public.py                       # 15, 100 and 1,000 earlier purchases
    .venv/bin/python bench/instructions_public.py --histories 15 1000

A store that carries working states (`?working=1`, store/sql_writing.py) writes the public state of
every event, so what `public()` costs after a step is its cost per event (bench/README.md, "A working
state's public state in proportion to what changed"). For each history the script runs cachegrind
three times on a child of itself that builds one coffee-club customer's history through
`Engine.process` (bench_store.py's 3-line purchases, 8 hours apart), makes its working state, and
then decides `EVENTS` more purchases with `Stream.step`: none; every one; every one with
`working.public()` read after it. The differences over the `EVENTS` purchases are the step's cost
and `public()`'s, per event, garbage collection on. Each run takes up to a minute (the longest
history is built under cachegrind). A benchmark, not a test: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from timing import cachegrind

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
EVENTS = 150


def child(history: int, events: int, public: bool) -> None:
    """The history, then `events` purchases stepped in place (`public`: the public state read after each)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    from bench_store import PROGRAM, purchase

    from rules_engine.engine.evaluator import Engine
    from rules_engine.engine.stream import Stream

    engine = Engine.from_file(PROGRAM)
    state = None
    for n in range(history):
        state = engine.process(purchase("c", n, "h"), state).state
    stream = Stream(engine)
    working = stream.working(state)
    for n in range(events):
        stream.step(purchase("c", history + n, "m"), working)
        if public:
            working.public()
    assert stream.taken == events, "a purchase went through process: not what is counted"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, nargs="+", default=[15, 100, 1000])
    parser.add_argument("--child", nargs=3, metavar=("HISTORY", "EVENTS", "PUBLIC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        history, events, public = args.child
        child(int(history), int(events), public == "1")
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing counted")
        return
    script = str(Path(__file__).resolve())
    print(f"# Stream.step and Working.public() after it, coffee-club 3-line purchases, {EVENTS} events")
    print(f"{'history':>8} {'step / event':>14} {'public() / event':>17}")
    for history in args.histories:
        counts = [
            cachegrind(script, [str(history), str(events), public], f"history {history}")
            for events, public in ((0, "0"), (EVENTS, "0"), (EVENTS, "1"))
        ]
        step = (counts[1] - counts[0]) / EVENTS
        public_cost = (counts[2] - counts[1]) / EVENTS
        print(f"{history:>8} {step / 1000:>13,.1f}k {public_cost / 1000:>16,.1f}k", flush=True)


if __name__ == "__main__":
    main()
