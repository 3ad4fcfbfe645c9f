"""`loyalty simulate` against the plain loop: what batching, processes and `--compare` cost.

    .venv/bin/python bench/bench_simulate.py                # 1,000,000 events: hours at today's engine speed
    .venv/bin/python bench/bench_simulate.py --events 20000 # a few minutes
    .venv/bin/python bench/bench_simulate.py --quick        # seconds, rough numbers (the smoke test)

A coffee-club history of about `--events` events is generated (`loyalty generate`, fixed seed),
then timed four ways, interleaved: each round times every row once, in turn, and `--repeat`
rounds are made (the best of each row is kept, as bench/timing.py's benchmarks keep theirs), so
that a burst of other work on the machine slows one round of every row rather than all the
rounds of one. A first run of each, untimed, warms the caches (the engine's, the time zones') that
every later run finds ready. Times are wall-clock (two processes run in parallel, which this
process's CPU time would not see); the CPU time of every process (this one and its workers) is
printed beside them, and the load average, since on a machine whose cores are shared the
two-process row measures the sharing as much as the code:

1. the plain loop: the engine alone over the same events in one process: each line decoded,
   `Engine.process(event, state)` with each customer's state carried in a dict, nothing else;
2. `simulate` on one process (batches of whole customers, the figures tallied as it goes);
3. `simulate` on two processes;
4. `simulate --compare` (two versions of the program over the same history, each event decoded
   once), on one process.

First the figures must agree: the points the plain loop issues, redeems, expires and reverses
are the simulation's (coffee-club has no referral nor budget, so no second pass is needed: the
same work is timed). A disagreement is printed as DISAGREES and the script exits 1.

Targets (the issue): simulate on one process within 1.5× the plain loop's time; two processes
at least 1.7× faster than one; --compare at most 2.2× a single version. Each is printed `[met]`
or `[MISSED]`; the script exits 0 either way (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from timing import machine

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.reader import parse_event
from rules_engine.errors import EventError
from rules_engine.simulate import build_report, simulate
from rules_engine.simulate.generate import generate_file
from rules_engine.state.customer import CustomerState

ROOT = Path(__file__).resolve().parent.parent
COFFEE = ROOT / "programs" / "coffee-club.yaml"
DAYS = 365
EVENTS_PER_CUSTOMER = 80  # about what one generated coffee-club customer has in a year

TARGET_ONE = 1.5
TARGET_TWO = 1.7
TARGET_COMPARE = 2.2


def plain_loop(engine: Engine, events: Path) -> tuple[int, dict[str, Decimal]]:
    """The engine alone: every line decoded and processed, each customer's state kept."""
    states: dict[str, CustomerState] = {}
    totals = dict.fromkeys(("issued", "redeemed", "expired", "reversed"), Decimal(0))
    count = 0
    with open(events, "rb") as lines:
        for raw in lines:
            event = parse_event(jsonio.loads(raw.decode("utf-8")))
            try:
                outcome = engine.process(event, states.get(event.customer))
            except EventError:
                continue
            count += 1
            states[event.customer] = outcome.state
            for entry in outcome.new_ledger_entries:
                kind = {"earn": "issued", "burn": "redeemed", "expire": "expired"}.get(entry.kind, "reversed")
                totals[kind] += entry.points if kind == "issued" else -entry.points
    return count, totals


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the workers)."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    theirs = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + theirs.ru_utime + theirs.ru_stime


def _timed(label: str, run: Callable[[], object]) -> tuple[float, float, object]:
    """(wall-clock seconds, CPU seconds of every process, what `run` returned)."""
    print(f"measuring {label} ...", file=sys.stderr, flush=True)
    cpu, start = _cpu(), time.perf_counter()
    result = run()
    return time.perf_counter() - start, _cpu() - cpu, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="about how many events to generate")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each timing every row once")
    parser.add_argument("--quick", action="store_true", help="a tiny history: rough numbers in seconds")
    args = parser.parse_args()
    wanted = 1_500 if args.quick else args.events
    rounds = 1 if args.quick else max(1, args.repeat)
    m = machine()
    quick = "; --quick: rough numbers" if args.quick else ""
    print(
        f"bench_simulate: {m['date']}, {m['implementation']} {m['python']}, {m['cpus']} CPUs, "
        f"{m['platform']}; wall-clock time, best of {rounds} interleaved round(s){quick}"
    )
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as folder:
        events = Path(folder) / "history.jsonl"
        other = Path(folder) / "coffee-club-v4.yaml"
        other.write_text(
            COFFEE.read_text(encoding="utf-8")
            .replace("version: 3", "version: 4")
            .replace("threshold: 30000", "threshold: 20000"),
            encoding="utf-8",
        )
        engine = Engine.from_file(COFFEE)
        customers = max(1, wanted // EVENTS_PER_CUSTOMER)
        count = generate_file(
            engine.program, COFFEE.read_text(encoding="utf-8"), events, customers=customers, days=DAYS, seed=1
        )
        print(f"history: {count:,} events of {customers:,} customers over {DAYS} days (coffee-club)")
        rows: dict[str, Callable[[], object]] = {
            "plain loop (engine alone)": lambda: plain_loop(engine, events),
            "simulate, 1 process": lambda: simulate(events, [COFFEE], workers=1),
            "simulate, 2 processes": lambda: simulate(events, [COFFEE], workers=2),
            "simulate --compare, 1 process": lambda: simulate(events, [COFFEE, other], workers=1),
        }
        first = {label: _timed(f"{label} (warm-up)", run)[2] for label, run in rows.items()}
        best: dict[str, tuple[float, float]] = {}
        for turn in range(rounds):
            for label, run in rows.items():
                wall, cpu, _ = _timed(f"{label}, round {turn + 1} of {rounds}", run)
                if label not in best or wall < best[label][0]:
                    best[label] = (wall, cpu)
    load_after = os.getloadavg()
    plain, one, two, both = (best[label][0] for label in rows)
    plain_answer: tuple[int, dict[str, Decimal]] = first["plain loop (engine alone)"]  # type: ignore[assignment]
    applied, totals = plain_answer
    report = build_report(first["simulate, 1 process"])  # type: ignore[arg-type]
    disagree = []
    for kind, amount in totals.items():
        if report["cost"]["points"][kind] != int(amount):
            disagree.append(f"{kind}: plain loop {amount}, simulate {report['cost']['points'][kind]}")
    if report["run"]["applied"] != applied:
        disagree.append(f"applied: plain loop {applied}, simulate {report['run']['applied']}")
    if build_report(first["simulate, 2 processes"]) != report:  # type: ignore[arg-type]
        disagree.append("simulate on 2 processes gave another report than on 1")
    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, on {m['cpus']} CPUs")
    print()
    print(f"{'':34} {'seconds':>9} {'events/s':>10} {'CPU s':>9}")
    for label, (seconds, cpu) in best.items():
        print(f"{label:34} {seconds:9.2f} {count / seconds:10,.0f} {cpu:9.2f}")
    print()
    for text, value, met in (
        (f"simulate 1 process / plain loop <= {TARGET_ONE}", one / plain, one / plain <= TARGET_ONE),
        (f"simulate 1 process / 2 processes >= {TARGET_TWO}", one / two, one / two >= TARGET_TWO),
        (f"--compare / a single version <= {TARGET_COMPARE}", both / one, both / one <= TARGET_COMPARE),
    ):
        print(f"{text:48} {value:5.2f}  {'[met]' if met else '[MISSED]'}")
    print()
    if disagree:
        for line in disagree:
            print(f"DISAGREES: {line}")
        return 1
    print("no disagreement: the plain loop's points are the simulation's, 1 and 2 processes agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
