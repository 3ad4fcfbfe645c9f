"""Instructions of `Working.public()` after a step, and of the step, at customer histories: load-proof.

    .venv/bin/python bench/instructions_public.py                       # 15, 100 and 1,000 earlier purchases
    .venv/bin/python bench/instructions_public.py --histories 15 1000
    .venv/bin/python bench/instructions_public.py --store   # Loyalty.process on SQLite, ?working=0 / 1
    .venv/bin/python bench/instructions_public.py --advance # the same, an advance before each purchase

A store that carries working states (`?working=1`, store/sql_writing.py) writes the public state of
every event, so what `public()` costs after a step is its cost per event (bench/README.md, "A working
state's public state in proportion to what changed"). For each history the script runs cachegrind
three times on a child of itself that builds one coffee-club customer's history through
`Engine.process` (bench_store.py's 3-line purchases, 8 hours apart), makes its working state, and
then decides `EVENTS` more purchases with `Stream.step`: none; every one; every one with
`working.public()` read after it. The differences over the `EVENTS` purchases are the step's cost
and `public()`'s, per event, garbage collection on. Each run takes up to a minute (the longest
history is built under cachegrind). `--store` counts instead what a service's event costs
(`Loyalty.process`, as bench_store.py's per-event rows) on SQLite (`synchronous=normal`) without and
with working states (`?working=1`), the customer's working state made by a first event before the
counted ones: the per-event cost once a customer is held, without `Working.of` (the history's
objects frozen out of the collector's walks, `gc.freeze`, or a full collection of them lands in one
of the two runs only). `--advance`: the same, each purchase after an `advance` of the customer to an
hour before it (housekeeping, which writes a state of its own without a step). A benchmark, not a
test: it exits 0 whatever the numbers.
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
STORE_EVENTS = 60


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


def store_child(history: int, events: int, working: bool) -> None:
    """The history put into a fresh SQLite store, one purchase through `Loyalty.process` (the
    working state made), then `events` more."""
    import gc
    import tempfile

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    from bench_store import PROGRAM, purchase

    from rules_engine.engine.evaluator import Engine
    from rules_engine.service import Loyalty
    from rules_engine.store import open_store

    engine = Engine.from_file(PROGRAM)
    state = None
    for n in range(history):
        state = engine.process(purchase("c", n, "h"), state).state
    assert state is not None
    gc.collect()
    gc.freeze()  # the history's garbage and objects out of the collector's walks: a full collection
    # of them falls in one run and not the other, and moves a count by more than the difference
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db?synchronous=normal&working={int(working)}"
        with open_store(url, engine.program.program) as store:
            loyalty = Loyalty(engine, store, horizon=None)
            loyalty.put("c", state)
            for n in range(events + 1):
                loyalty.process(purchase("c", history + n, "m"))


def advance_child(history: int, cycles: int, working: bool) -> None:
    """As `store_child`, but each of the `cycles` is an `advance` of the customer to an hour before
    their next purchase (a nightly housekeeping pass: it writes a state of its own), then the
    purchase."""
    import datetime as dt
    import gc
    import tempfile

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    from bench_store import PROGRAM, purchase

    from rules_engine.engine.evaluator import Engine
    from rules_engine.service import Loyalty
    from rules_engine.store import open_store

    engine = Engine.from_file(PROGRAM)
    state = None
    for n in range(history):
        state = engine.process(purchase("c", n, "h"), state).state
    assert state is not None
    gc.collect()
    gc.freeze()  # as in `store_child`
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db?synchronous=normal&working={int(working)}"
        with open_store(url, engine.program.program) as store:
            loyalty = Loyalty(engine, store, horizon=None)
            loyalty.put("c", state)
            loyalty.process(purchase("c", history, "m"))
            for n in range(history + 1, history + 1 + cycles):
                event = purchase("c", n, "m")
                loyalty.advance("c", dt.datetime.fromisoformat(event["time"]) - dt.timedelta(hours=1))
                loyalty.process(event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, nargs="+", default=[15, 100, 1000])
    parser.add_argument(
        "--store", action="store_true", help="Loyalty.process on SQLite, without and with working states"
    )
    parser.add_argument("--advance", action="store_true", help="as --store, an advance before each purchase")
    parser.add_argument(
        "--child", nargs=4, metavar=("KIND", "HISTORY", "EVENTS", "FLAG"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        kind, history, events, flag = args.child
        run = {"store": store_child, "advance": advance_child}.get(kind, child)
        run(int(history), int(events), flag == "1")
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing counted")
        return
    script = str(Path(__file__).resolve())
    if args.store or args.advance:
        store(script, args.histories, "advance" if args.advance else "store")
        return
    print(f"# Stream.step and Working.public() after it, coffee-club 3-line purchases, {EVENTS} events")
    print(f"{'history':>8} {'step / event':>14} {'public() / event':>17}")
    for history in args.histories:
        counts = [
            cachegrind(script, ["public", str(history), str(events), public], f"history {history}")
            for events, public in ((0, "0"), (EVENTS, "0"), (EVENTS, "1"))
        ]
        step = (counts[1] - counts[0]) / EVENTS
        public_cost = (counts[2] - counts[1]) / EVENTS
        print(f"{history:>8} {step / 1000:>13,.1f}k {public_cost / 1000:>16,.1f}k", flush=True)


def store(script: str, histories: list[int], kind: str = "store") -> None:
    what = "an advance and a purchase" if kind == "advance" else "events"
    print(
        f"# Loyalty.process on SQLite, coffee-club 3-line purchases, {STORE_EVENTS} {what}, the customer held"
    )
    print(f"{'history':>8} {'?working=0':>12} {'?working=1':>12} {'ratio':>7}")
    for history in histories:
        per = []
        for working in ("0", "1"):
            counts = [
                cachegrind(script, [kind, str(history), str(events), working], f"{kind}, history {history}")
                for events in (0, STORE_EVENTS)
            ]
            per.append((counts[1] - counts[0]) / STORE_EVENTS)
        print(
            f"{history:>8} {per[0] / 1000:>11,.1f}k {per[1] / 1000:>11,.1f}k {per[1] / per[0]:>6.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
