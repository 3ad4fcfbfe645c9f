"""Instructions per event as more customers are interleaved, counted by cachegrind (issue 14).

    .venv/bin/python bench/instructions_customers.py                        # 100, 1,000, 10,000 customers
    .venv/bin/python bench/instructions_customers.py --customers 100 1000 --histories 15 100 --mode stream

The engine keeps memos beside a customer's lists (the processed ids' set, the pending lots'
reading, the lots' return-window close and reminder reach). Kept in per-process tables bounded at
256 entries, they were all forgotten before a customer's next event once more than 256 customers
were interleaved, and each event paid their rebuilding. This counts what an event costs at several
numbers of customers interleaved round-robin (every other customer's event between two of one
customer's: the worst case), each customer starting from a history of H earlier purchases (one of
four histories run through the engine, shared by `model_copy` as bench_streams.py does).

For each (customers N, history H) it runs `valgrind --tool=cachegrind` twice on a child of itself
that builds the customers, processes each customer's first event (N events: each customer's lists
become its own), collects and freezes what exists (`gc.freeze`: the collector's walks over N
customers' histories are not the memos' cost), then processes M more events (the second one of the
first M customers, round-robin on when M is more; M = 0 in the first run). The difference of the two
counts over M is the cost of an event. `--mode`: `process` (Engine.process on public states),
`stream` (Stream.step on working states), `loyalty` (Loyalty with the memory store) or `run`
(Loyalty with the memory store of `loyalty run`, on working states, as `loyalty run` without its
reader).

The counts move by up to ~120k an event with where CPython 3.11's method cache puts the types'
attribute look-ups (a cache indexed by the type's version tag, given in the order types are first
looked up, and the name's address): two trees that differ by a few lines can land on different
collisions. `--shift K` takes K version tags before anything is imported, which moves every
type's: compare two trees at several K (bench/README.md, "memo").
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import sys
from pathlib import Path
from typing import Any

from timing import cachegrind

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
COUNTED = 200  # events counted (M): the second event of the first M customers
TEMPLATES = 4
DAY = 86_400


def child(customers: int, history: int, counted: int, mode: str, shift: int = 0) -> None:
    """Build `customers` customers of `history` purchases, give each its first event, freeze, then
    process `counted` events more (the module docstring). `shift`: that many type version tags taken
    first (`--shift`)."""
    name = "x"
    for i in range(shift):  # every later type's version tag, so the method cache's layout, moves
        getattr(type(f"Shift{i}", (), {name: i})(), name)  # a look-up: the type's tag taken
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    import bench_streams

    from rules_engine.engine.evaluator import Engine
    from rules_engine.state.customer import CustomerState

    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    built: list[CustomerState] = []
    for template in range(TEMPLATES):
        state: CustomerState | None = None
        for generated in bench_streams.history(template, history, seed=history):
            state = engine.process(generated.engine, state).state
        assert state is not None
        built.append(state)
    names = [f"c{c:05d}" for c in range(customers)]
    start = {name: built[c % TEMPLATES].model_copy(update={"customer": name}) for c, name in enumerate(names)}
    baskets = [random.Random(history), random.Random(history + 1)]  # the first round's, the others'

    def event(round_: int, c: int) -> Any:
        # the same events for customer c whatever the number of customers: the counted events are
        # the same at 100 and 10,000 customers (4 s apart: 10,000 customers within a day)
        now = bench_streams.STREAM_START + round_ * DAY + 7 * 3600 + c * 4
        lines = bench_streams._basket(baskets[min(round_, 1)], 10, False)
        return bench_streams._generated((f"s-{names[c]}-{round_}", names[c], now, lines)).engine

    first = [event(0, c) for c in range(customers)]
    second = [event(1 + i // customers, i % customers) for i in range(counted)]
    step = _stepper(engine, mode, start)
    for e in first:
        step(e)
    gc.collect()
    gc.freeze()
    for e in second:
        step(e)


def _stepper(engine: Any, mode: str, start: dict[str, Any]) -> Any:
    """A function that processes one event against the customers' states, in `mode`."""
    if mode == "process":
        current = dict(start)

        def process(event: Any) -> None:
            current[event.customer] = engine.process(event, current[event.customer]).state

        return process
    if mode == "stream":
        from rules_engine.engine.stream import Stream

        streaming = Stream(engine)
        workings = {customer: streaming.working(state) for customer, state in start.items()}

        def step(event: Any) -> None:
            streaming.step(event, workings[event.customer])

        return step
    from rules_engine.service import Loyalty
    from rules_engine.store.memory import MemoryStore, RunMemoryStore

    store = (RunMemoryStore if mode == "run" else MemoryStore)(engine.program.program)
    store._states.update(start)
    loyalty = Loyalty(engine, store, horizon=None)
    return loyalty.process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100, 1000, 10000], metavar="N")
    parser.add_argument("--histories", type=int, nargs="+", default=[15, 100], metavar="H")
    parser.add_argument("--mode", choices=("process", "stream", "loyalty", "run"), default="process")
    parser.add_argument(
        "--shift", type=int, default=0, metavar="K", help="K type version tags taken first (the module doc)"
    )
    parser.add_argument("--child", type=int, nargs=3, metavar=("N", "H", "M"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        customers, history, last = args.child
        child(customers, history, last, args.mode, args.shift)
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instructions not counted (apt-get install valgrind); skipped")
        return
    script = str(Path(__file__).resolve())
    print(f"coffee-club, 10-line purchases, {args.mode}, round-robin: instructions per event (cachegrind)")
    for history in args.histories:
        for customers in args.customers:
            counts = [
                cachegrind(
                    script,
                    [str(customers), str(history), str(m), "--mode", args.mode, "--shift", str(args.shift)],
                    f"{customers}x{history}",
                )
                for m in (0, COUNTED)
            ]
            per_event = (counts[1] - counts[0]) / COUNTED
            print(
                f"  {history:>5,} earlier purchases, {customers:>7,} customers  {per_event / 1000:10,.1f}k",
                flush=True,
            )


if __name__ == "__main__":
    main()
