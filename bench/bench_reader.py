"""What does reading an event cost, with the fast reader and with the pydantic model alone (issue 13)?

    .venv/bin/python bench/bench_reader.py            # the full run, about a minute
    .venv/bin/python bench/bench_reader.py --quick    # seconds, numbers only roughly right
    .venv/bin/python bench/bench_reader.py --json     # the same results as one JSON document
    .venv/bin/python bench/bench_reader.py --collector 3000   # the collector's share of a run

Two measurements, each with two candidates run interleaved, in a rotating order, for several
rounds, in the process's CPU time (`time.process_time`), the garbage collector on (as a service
runs); the tables give the minimum and the median of the rounds:

1. Parsing bench_engine.py's 10-line coffee-club purchase (the JSON-like dict): `parse_event`
   (the fast reader, engine/reader.py) against `validate_event` (the pydantic model alone, what
   `parse_event` did before), in µs per event, and their ratio.
2. `loyalty run` in memory with JSON parsing included: `replay_lines` (what `loyalty run` without
   --db runs) over a JSON Lines text of 10-line coffee-club purchases (customers in turn, a few
   hours apart), a new memory store for each round; once as it is, once with the reader switched
   off (every event through the model). Events per second, against the issue's target of 20,000
   per core; and the share of the run's time that reading takes: the JSON text read
   (`jsonio.loads`) and `parse_event` of each line, timed alone over the same lines, beside
   `parse_event_text` (engine/event_text.py: the text read in one go, what the run reads each line
   with) and `event_digest` of each event (what the run's store keeps of it); and the run
   with its store holding public states (`RunMemoryStore.carries_working` off: every event through
   `Engine.process`, as before the run carried `Working` states through `Stream.step`). Beside them,
   the engine alone on the same events (`Engine.process`, already parsed, each customer's state
   kept in a dict, no store): the run's time over the engine's is what the run spends around
   the engine (the digest, the store, the outcome it keeps, the replay's per-line work).

`--collector CUSTOMERS` measures something else, alone in its process: the run's stream for that
many customers (8 purchases each), replayed once with the collector set as `loyalty run` sets it
(collector.py's `tune_for_events` with `RUN_THRESHOLDS`, or `--thresholds YOUNG,MIDDLE,FULL`; it
freezes what the process holds: so not beside the rows above), and the CPU time spent in the
collector's passes (timed by a `gc.callbacks` hook) against the run's; with the collections of
each generation and the objects they found unreachable (cyclic garbage: what reference counting
did not free). The rows above keep CPython's default settings.

Before timing, every event of the stream is read both ways and the two must be equal (else
DISAGREES, exit 1). A benchmark, not a test: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from bench_engine import COFFEE_EVENT
from timing import machine

from rules_engine import jsonio
from rules_engine.engine import reader
from rules_engine.engine.canonical import event_digest
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.event_text import parse_event_text
from rules_engine.engine.events import validate_event
from rules_engine.engine.reader import parse_event
from rules_engine.replay import replay_lines
from rules_engine.service import Loyalty
from rules_engine.store.memory import RunMemoryStore

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "programs" / "coffee-club.yaml"
TARGET_RUN = 20_000  # events/s per core, `loyalty run` in memory, JSON parsing included (issue 13)


@dataclass(frozen=True)
class Plan:
    rounds: int
    parses: int  # events parsed per round, per candidate
    customers: int
    each: int  # events per customer in the run's stream


FULL = Plan(rounds=7, parses=4000, customers=100, each=10)
QUICK = Plan(rounds=2, parses=200, customers=10, each=3)


@dataclass
class Row:
    name: str
    events: int
    cpu: list[float] = field(default_factory=list)

    def us(self, how: Callable[[list[float]], float] = min) -> float:
        return how(self.cpu) / self.events * 1e6

    def per_s(self, how: Callable[[list[float]], float] = min) -> float:
        return self.events / how(self.cpu)


def stream(customers: int, each: int) -> list[str]:
    """The run's JSON Lines: coffee-club's 10-line purchase for each customer in turn, 5 hours apart."""
    lines = []
    for n in range(each):
        for c in range(customers):
            event = copy.deepcopy(COFFEE_EVENT)
            minutes = (n * customers + c) * 300 // customers
            event["id"] = f"evt-{n}-{c}"
            event["customer"] = f"card-{c}"
            event["time"] = (
                f"2026-12-{1 + minutes // 1440:02d}T{minutes // 60 % 24:02d}:{minutes % 60:02d}:00+03:00"
            )
            lines.append(jsonio.dumps(event))
    return lines


def _timed(run: Callable[[], Any]) -> float:
    gc.collect()
    start = time.process_time()
    run()
    return time.process_time() - start


def _interleaved(
    candidates: dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]],
    rows: dict[str, Row],
    rounds: int,
) -> None:
    """Each candidate's run once a round, in a rotating order (`prepare` first, untimed)."""
    names = list(candidates)
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            run, prepare = candidates[name]
            if prepare is not None:
                prepare()
            rows[name].cpu.append(_timed(run))


class _ModelOnly:
    """The reader switched off: `parse_event` then validates every event with the model."""

    def __enter__(self) -> None:
        self.saved = reader.read_event
        reader.read_event = lambda data, *_: None

    def __exit__(self, *_: object) -> None:
        reader.read_event = self.saved


class _PublicStates:
    """The run's store holding public `CustomerState`s, each event through `Engine.process` (what
    `loyalty run` did before it carried `Working` states through `Stream.step`)."""

    def __enter__(self) -> None:
        RunMemoryStore.carries_working = False

    def __exit__(self, *_: object) -> None:
        RunMemoryStore.carries_working = True


def measure(plan: Plan, progress: Callable[[str], None]) -> dict[str, Any]:
    disagreements: list[str] = []
    progress("parsing a 10-line purchase")
    event = COFFEE_EVENT
    if parse_event(event) != validate_event(event) or reader.read_event(event) is None:
        disagreements.append("the bench purchase: the reader and the model differ, or the reader defers")
    parse = {name: Row(name, plan.parses) for name in ("model", "reader")}

    def parses(function: Callable[[Any], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(plan.parses):
                function(event)

        return run

    _interleaved(
        {"model": (parses(validate_event), None), "reader": (parses(parse_event), None)}, parse, plan.rounds
    )

    progress("loyalty run in memory")
    engine = Engine.from_file(PROGRAM)
    lines = stream(plan.customers, plan.each)
    for number, line in enumerate(lines, 1):
        data = jsonio.loads(line)
        if parse_event(data) != validate_event(data):
            disagreements.append(f"line {number}: the reader and the model read it differently")
        if parse_event_text(line) != parse_event(data):
            disagreements.append(f"line {number}: parse_event_text reads it otherwise than parse_event")
    encoded = [line.encode() for line in lines]
    parsed = [parse_event(jsonio.loads(line)) for line in lines]
    names = (
        "loyalty run, model",
        "loyalty run, reader",
        "loyalty run, public states",
        "the engine alone",
        "jsonio.loads alone",
        "jsonio.loads + parse_event",
        "parse_event_text",
        "event_digest",
    )
    run = {name: Row(name, len(lines)) for name in names}
    loyalty: list[Loyalty] = []

    def fresh() -> None:
        loyalty[:] = [Loyalty(engine, RunMemoryStore(engine.program.program), horizon=None)]

    def replay() -> None:
        result = replay_lines(loyalty[0], "bench.jsonl", encoded)
        if result.problems or result.applied != len(lines):
            disagreements.append(f"the run applied {result.applied} of {len(lines)} events")

    def model_replay() -> None:
        with _ModelOnly():
            replay()

    def public_replay() -> None:
        with _PublicStates():
            replay()

    def engine_alone() -> None:
        states: dict[str, Any] = {}
        for event in parsed:
            states[event.customer] = engine.process(event, states.get(event.customer)).state

    def loading() -> None:
        for line in lines:
            jsonio.loads(line)

    def reading() -> None:
        for line in lines:
            parse_event(jsonio.loads(line))

    def reading_text() -> None:
        for line in lines:
            parse_event_text(line)

    def digesting() -> None:
        for event in parsed:
            event_digest(event)

    _interleaved(
        {
            "loyalty run, model": (model_replay, fresh),
            "loyalty run, reader": (replay, fresh),
            "loyalty run, public states": (public_replay, fresh),
            "the engine alone": (engine_alone, None),
            "jsonio.loads alone": (loading, None),
            "jsonio.loads + parse_event": (reading, None),
            "parse_event_text": (reading_text, None),
            "event_digest": (digesting, None),
        },
        run,
        plan.rounds,
    )
    model, fast = parse["model"], parse["reader"]
    with_reader, with_model = run["loyalty run, reader"], run["loyalty run, model"]
    return {
        "machine": machine(),
        "plan": asdict(plan),
        "parse": [
            asdict(row) | {"us_min": row.us(), "us_median": row.us(statistics.median)}
            for row in parse.values()
        ],
        "parse_ratio": model.us() / fast.us(),
        "run": [
            asdict(row)
            | {
                "us_min": row.us(),
                "us_median": row.us(statistics.median),
                "events_per_s": row.per_s(),
                "events_per_s_median": row.per_s(statistics.median),
            }
            for row in run.values()
        ],
        "run_ratio": with_model.us() / with_reader.us(),
        "working_ratio": run["loyalty run, public states"].us() / with_reader.us(),
        "around_engine": with_reader.us() / run["the engine alone"].us(),
        "around_engine_median": with_reader.us(statistics.median)
        / run["the engine alone"].us(statistics.median),
        "reading_share": run["jsonio.loads + parse_event"].us() / with_reader.us(),
        "parse_share": (run["jsonio.loads + parse_event"].us() - run["jsonio.loads alone"].us())
        / with_reader.us(),
        "target": {"events_per_s": TARGET_RUN, "met": with_reader.per_s() >= TARGET_RUN},
        "disagreements": disagreements,
    }


def collector_share(customers: int, thresholds: tuple[int, int, int] | None = None, each: int = 8) -> str:
    """`--collector`: the share of a run's CPU time the collector's passes take, set as `loyalty
    run` sets them (module docstring). A lasting change to the process's collector: run it alone."""
    from rules_engine import collector

    engine = Engine.from_file(PROGRAM)
    encoded = [line.encode() for line in stream(customers, each)]
    collector.tune_for_events(collector.RUN_THRESHOLDS if thresholds is None else thresholds)
    spent = {0: 0.0, 1: 0.0, 2: 0.0}
    counts = {0: 0, 1: 0, 2: 0}
    found = [0]
    began = [0.0]

    def hook(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.process_time()
            return
        spent[info["generation"]] += time.process_time() - began[0]
        counts[info["generation"]] += 1
        found[0] += info["collected"]

    gc.callbacks.append(hook)
    try:
        start = time.process_time()
        result = replay_lines(
            Loyalty(engine, RunMemoryStore(engine.program.program), horizon=None), "b", encoded
        )
        total = time.process_time() - start
    finally:
        gc.callbacks.remove(hook)
    lines = len(encoded)
    passes = sum(spent.values())
    shown = ", ".join(f"{n:,}" for n in gc.get_threshold())
    return "\n".join(
        [
            f"# the collector's share of loyalty run in memory: {machine()['date']}, thresholds ({shown})",
            f"{lines:,} lines ({customers:,} customers, {each} purchases each; {result.applied:,} applied):"
            f" {total:.2f} s of CPU, {total / lines * 1e6:.1f} us a line",
            f"  the collector's passes: {passes:.2f} s, {passes / total:.1%} of the run"
            f" (young {spent[0]:.2f} s in {counts[0]}, middle {spent[1]:.2f} s in {counts[1]},"
            f" full {spent[2]:.2f} s in {counts[2]})",
            f"  objects found unreachable (cycles reference counting did not free): {found[0]:,},"
            f" {found[0] / lines:.1f} a line",
        ]
    )


def render(results: dict[str, Any], quick: bool) -> str:
    m, plan = results["machine"], results["plan"]
    mode = "--quick: rough numbers" if quick else "full run"
    where = f"{m['date']}, {m['implementation']} {m['python']}, {m['cpus']} CPUs, {m['platform']}"
    out = [f"# reader benchmark: {where}"]
    out.append(f"# {mode}; {plan['rounds']} interleaved rounds; CPU time; min and median of the rounds")
    out.append("")
    out.append(f"parsing bench_engine's 10-line purchase ({plan['parses']:,} a round):")
    out.append(f"  {'candidate':<34} {'min us':>8} {'median us':>10}")
    labels = {"model": "validate_event (the model alone)", "reader": "parse_event (the fast reader)"}
    for row in results["parse"]:
        out.append(f"  {labels[row['name']]:<34} {row['us_min']:>8.1f} {row['us_median']:>10.1f}")
    out.append(f"  the model / the reader: {results['parse_ratio']:.2f}x")
    out.append("")
    events = results["run"][0]["events"]
    out.append(
        f"loyalty run in memory, JSON parsing included ({events:,} 10-line purchases, "
        f"{plan['customers']} customers):"
    )
    out.append(f"  {'candidate':<34} {'min us':>8} {'median us':>10} {'events/s':>9} {'median':>9}")
    for row in results["run"]:
        out.append(
            f"  {row['name']:<34} {row['us_min']:>8.1f} {row['us_median']:>10.1f} "
            f"{row['events_per_s']:>9,.0f} {row['events_per_s_median']:>9,.0f}"
        )
    out.append(
        f"  with the model / with the reader: {results['run_ratio']:.2f}x; of the run with the reader, "
        f"reading takes {results['reading_share']:.1%} (parse_event {results['parse_share']:.1%})"
    )
    out.append(f"  on public states / on working states (Stream.step): {results['working_ratio']:.2f}x")
    out.append(
        f"  the run / the engine alone: {results['around_engine']:.2f}x (medians "
        f"{results['around_engine_median']:.2f}x): the rest is the run's work around the engine"
    )
    out.append("")
    target = results["target"]
    fast = next(row for row in results["run"] if row["name"] == "loyalty run, reader")
    verdict = "[met]" if target["met"] else "[MISSED]"
    out.append(
        f"target: {verdict} loyalty run in memory >= {target['events_per_s']:,} events/s per core: "
        f"{fast['events_per_s']:,.0f}"
    )
    for problem in results["disagreements"]:
        out.append(f"DISAGREES: {problem}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short run with rough numbers (smoke test)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    parser.add_argument(
        "--collector",
        type=int,
        metavar="CUSTOMERS",
        help="only the collector's share of a run over this many customers (module docstring)",
    )
    parser.add_argument(
        "--thresholds",
        metavar="YOUNG,MIDDLE,FULL",
        help="with --collector: these thresholds rather than loyalty run's (collector.RUN_THRESHOLDS)",
    )
    args = parser.parse_args(argv)
    if args.collector is not None:
        chosen = tuple(int(n) for n in args.thresholds.split(",")) if args.thresholds else None
        if chosen is not None and len(chosen) != 3:
            parser.error("--thresholds takes three numbers: YOUNG,MIDDLE,FULL")
        print(collector_share(args.collector, chosen))
        return 0

    def progress(what: str) -> None:
        print(f"measuring {what} ...", file=sys.stderr, flush=True)

    results = measure(QUICK if args.quick else FULL, progress)
    print(json.dumps(results, indent=2) if args.json else render(results, args.quick))
    return 1 if results["disagreements"] else 0


if __name__ == "__main__":
    sys.exit(main())
