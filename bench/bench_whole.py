"""What a whole purchase step generated for coffee-club costs, part by part, beside the hand-written.

    .venv/bin/python bench/bench_whole.py                # ~2 minutes: 3,000 events after 15 purchases
    .venv/bin/python bench/bench_whole.py --quick        # seconds, rough numbers
    .venv/bin/python bench/bench_whole.py --instructions # cachegrind: instructions per event, load-proof

The spike of issue 13 (rules_engine/engine/whole/): one generated step per program deciding a
purchase on a slotted state of ints, whose result makes the engine's `Result` only when read. The
stream is bench_streams.py's main row (300 customers with 15 earlier purchases, 10 ten-line
purchases each, in time order). First every candidate's answer is checked against `Engine.process`
event by event (the whole step's `result()` read in full equal to `process`'s result, state
included); then the candidates run the stream interleaved, in a rotating order, CPU time, GC on:

- `hand-written`: bench/handwritten_coffee.py, the baseline (ints in, ints out; nothing public);
- `whole: decision`: the lines read into ints, time passing looked at, the generated pricing and
  earning (no mechanics, no state update);
- `whole: step`: the whole step: + the mechanics (badges, challenge, quest, tier) and the state
  update in place, with its lazy record;
- `whole: + Result`: + `result()`, the engine's `Result` (awards with their shares, discounts,
  totals, the trace's verdicts, badges, tier change; its state and ledger made when read);
- `whole: read in full`: + everything read: the state (`public()`), the ledger, the trace's models,
  the tier progress, the points changes;
- `Stream.step` and `Stream.step, read in full`: the step in place on working states
  (`Stream(engine, whole=False)`: `Stream.step` takes the whole step itself now), the same reads.

A purchase the whole step does not decide (None) goes through `Engine.process` and the customer's
whole state is made again from the result's state, as a caller would; the table says how many the
step took. Printed: µs per event (median round), the ratio to the hand-written, and `[met]` /
`[MISSED]` for the issue's targets (within 1.5× of the hand-written, ≥ 50,000 events/s).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import bench_streams as streams  # noqa: E402
from timing import cachegrind  # noqa: E402

from rules_engine import collector  # noqa: E402
from rules_engine.engine.evaluator import Engine  # noqa: E402
from rules_engine.engine.result import Result  # noqa: E402
from rules_engine.engine.stream import Stream  # noqa: E402
from rules_engine.engine.whole.state import WholeState  # noqa: E402
from rules_engine.engine.whole.step import WholeStep  # noqa: E402
from rules_engine.state.customer import CustomerState  # noqa: E402

HAND_RATIO = 1.5
EVENTS_PER_S = 50_000
LEVELS = {  # how far a whole step's run goes (`_whole_run`)
    "whole: decision": 0,
    "whole: step": 1,
    "whole: + Result": 2,
    "whole: + its state": 3,
    "whole: read in full": 4,
    "whole: + outcome JSON": 5,
}
CANDIDATES = ("hand-written", *LEVELS, "Stream.step", "Stream.step, read in full", "Stream.step, + JSON")
FIRST, LAST = 100, 400  # cachegrind: the events counted are those between two runs' ends


def read_in_full(result: Result) -> None:
    """Read every public answer of a result: what a caller showing or storing all of it reads."""
    result.state  # noqa: B018 - read for its cost
    result.ledger  # noqa: B018
    result.totals  # noqa: B018
    result.tier_progress  # noqa: B018
    result.points_changes  # noqa: B018
    list(result.trace)
    for award in result.awards:
        tuple(award.lines)


def _whole_run(
    engine: Engine, step: WholeStep, events: Sequence[Any], states: dict[str, CustomerState], level: int
) -> tuple[Callable[[], None], Callable[[], None], list[int]]:
    """A run of the stream through the whole step, to `level` (`LEVELS`): 0 the decision, 1 the step,
    2 the result, 3 and its state, 4 the result read in full, 5 and the outcome's JSON; the events
    it does not take through `process`."""
    fresh: list[dict[str, WholeState]] = []
    taken = [0]
    decimals = step.decimals

    def prepare() -> None:
        fresh.append({customer: WholeState.of(state, decimals) for customer, state in states.items()})

    def run() -> None:
        current = fresh.pop()
        count = 0
        for event in events:
            state = current[event.customer]
            if level == 0:
                read = step.read(event)
                if read is not None and step.decision(event, state, read) is not None:
                    count += 1
                continue
            made = step.step(event, state)
            if made is None:
                result = engine.process(event, state.public())
                current[event.customer] = WholeState.of(result.state, decimals)
                continue
            count += 1
            if level >= 2:
                result = made.result()
                if level == 3:
                    result.state  # noqa: B018 - read for its cost
                elif level >= 4:
                    read_in_full(result)
                    if level == 5:
                        result.model_dump_json()
        taken[0] = count

    return run, prepare, taken


def _stream_run(
    engine: Engine, events: Sequence[Any], states: dict[str, CustomerState], read: int
) -> tuple[Callable[[], None], Callable[[], None]]:
    streaming = Stream(engine, whole=False)  # the step in place: what the whole step is set against
    fresh: list[dict[str, Any]] = []

    def prepare() -> None:
        fresh.append({customer: streaming.working(state) for customer, state in states.items()})

    def run() -> None:
        current = fresh.pop()
        for event in events:
            result = streaming.step(event, current[event.customer])
            if read:
                read_in_full(result)
                if read == 2:
                    result.model_dump_json()

    return run, prepare


def agreement(
    engine: Engine, step: WholeStep, events: Sequence[Any], states: dict[str, CustomerState]
) -> int:
    """Each event through `process` and through the whole step, the whole step's result read in
    full compared with `process`'s; the number of events that differ (each printed)."""
    current: dict[str, CustomerState] = dict(states)
    wholes = {customer: WholeState.of(state, step.decimals) for customer, state in states.items()}
    names = [n for n in Result.__dataclass_fields__ if n != "_outcome"]
    bad = 0
    for event in events:
        expected = engine.process(event, current[event.customer])
        made = step.step(event, wholes[event.customer])
        if made is None:
            wholes[event.customer] = WholeState.of(expected.state, step.decimals)
        else:
            got = made.result()
            differ = [n for n in names if getattr(got, n) != getattr(expected, n)]
            if differ:
                bad += 1
                print(f"DISAGREES: {event.id}: {', '.join(differ)}")
        current[event.customer] = expected.state
    return bad


def measure(quick: bool) -> int:
    engine = Engine.from_file(streams.COFFEE)
    step = WholeStep(engine)
    settings = streams.QUICK if quick else streams.FULL
    spec = settings.rows[0]
    print(f"building {spec[2]} customers with {spec[0]} earlier purchases ...", file=sys.stderr, flush=True)
    _, generated, states, hand_states = streams.build_row(engine, spec, streams.Check(), lambda _: None)
    events = [g.engine for g in generated]
    print(f"checking {len(events):,} events against Engine.process ...", file=sys.stderr, flush=True)
    bad = agreement(engine, step, events, states)
    print(f"agreement: {len(events):,} events, {bad} disagreeing (the whole step's result read in full)")
    runs: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {}
    hand_run = streams.hand_run([g.hand for g in generated], hand_states)
    runs["hand-written"] = (hand_run.run, hand_run.prepare)
    taken: list[int] = [0]
    for name, level in LEVELS.items():
        run, prepare, taken = _whole_run(engine, step, events, states, level)
        runs[name] = (run, prepare)
    runs["Stream.step"] = _stream_run(engine, events, states, 0)
    runs["Stream.step, read in full"] = _stream_run(engine, events, states, 1)
    runs["Stream.step, + JSON"] = _stream_run(engine, events, states, 2)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    rounds = settings.rounds + 2
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*collector.THRESHOLDS)
    try:
        for r in range(rounds):
            print(f"round {r + 1} of {rounds}", file=sys.stderr, flush=True)
            order = list(CANDIDATES)
            for name in order[r % len(order) :] + order[: r % len(order)]:
                run, prepare = runs[name]
                prepare()
                gc.collect()
                start = time.process_time()
                run()
                seconds[name].append(time.process_time() - start)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    count = len(events)
    hand_us = statistics.median(seconds["hand-written"]) / count * 1e6
    print(
        f"coffee-club, {count:,} ten-line purchases after {spec[0]} earlier ones;"
        f" CPU time, GC on, {rounds} rounds"
    )
    print(f"the whole step took {taken[0]:,} of {count:,} events (the others went through Engine.process)")
    print(
        f"  {'candidate':28} {'median us/ev':>12} {'best us/ev':>10} {'x hand':>7}  within 1.5x  >=50,000/s"
    )
    for name in CANDIDATES:
        us = statistics.median(seconds[name]) / count * 1e6
        best = min(seconds[name]) / count * 1e6
        ratio = us / hand_us
        within = "[met]" if ratio <= HAND_RATIO else "[MISSED]"
        rate = "[met]" if us <= 1e6 / EVENTS_PER_S else "[MISSED]"
        print(f"  {name:28} {us:12.1f} {best:10.1f} {ratio:6.2f}x  {within:11}  {rate}")
    return 1 if bad else 0


PARTS = (
    "the step (decision, mechanics, state update)",
    "Result (awards, shares, discounts, trace entries)",
    "  its state (public())",
    "  its ledger",
    "  its trace's models",
    "  its totals, tier progress, points changes",
    "  the outcome's JSON",
)


def parts(quick: bool) -> None:
    """Each public answer's share of a whole step read in full: the stream run once per round, the
    time of each part summed over the events (CPU time around each), the median round."""
    engine = Engine.from_file(streams.COFFEE)
    step = WholeStep(engine)
    settings = streams.QUICK if quick else streams.FULL
    _, generated, states, _ = streams.build_row(engine, settings.rows[0], streams.Check(), lambda _: None)
    events = [g.engine for g in generated]
    clock = time.thread_time  # CPU time: the machine is shared
    rounds: list[list[float]] = []
    gc.collect()
    gc.freeze()  # the built states are left out of the collector's scans, as `measure` does
    thresholds = gc.get_threshold()
    gc.set_threshold(*collector.THRESHOLDS)
    for _ in range(settings.rounds):
        wholes = {customer: WholeState.of(state, step.decimals) for customer, state in states.items()}
        spent = [0.0] * len(PARTS)
        gc.collect()
        for event in events:
            state = wholes[event.customer]
            t0 = clock()
            made = step.step(event, state)
            t1 = clock()
            if made is None:
                wholes[event.customer] = WholeState.of(
                    engine.process(event, state.public()).state, step.decimals
                )
                continue
            result = made.result()
            t2 = clock()
            result.state  # noqa: B018 - read for its cost
            t3 = clock()
            result.ledger  # noqa: B018
            t4 = clock()
            list(result.trace)
            t5 = clock()
            result.totals  # noqa: B018
            result.tier_progress  # noqa: B018
            result.points_changes  # noqa: B018
            t6 = clock()
            result.model_dump_json()
            t7 = clock()
            for n, (a, b) in enumerate(
                ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6), (t6, t7))
            ):
                spent[n] += b - a
        rounds.append(spent)
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    count = len(events)
    print(f"coffee-club, {count:,} purchases after 15 earlier ones: each part of a result read in full")
    print(f"  {'part':52} {'median us/ev':>12}")
    for n, name in enumerate(PARTS):
        us = statistics.median(r[n] for r in rounds) / count * 1e6
        print(f"  {name:52} {us:12.1f}")


def child(candidate: str, events: int) -> None:
    """Build bench/instructions.py's row (40 customers, 15 earlier purchases) and run the first
    `events` events of its stream through `candidate` (cachegrind counts this)."""
    engine = Engine.from_file(streams.COFFEE)
    spec = (15, 4, 40, 10)
    _, generated, states, hand_states = streams.build_row(engine, spec, streams.Check(), lambda _: None)
    chosen = generated[:events]
    models = [g.engine for g in chosen]
    if candidate == "hand-written":
        done = streams.hand_run([g.hand for g in chosen], hand_states)
        done.prepare()
        done.run()
        return
    if candidate.startswith("Stream.step"):
        read = {"Stream.step": 0, "Stream.step, read in full": 1}.get(candidate, 2)
        run, prepare = _stream_run(engine, models, states, read)
    else:
        run, prepare, _ = _whole_run(engine, WholeStep(engine), models, states, LEVELS[candidate])
    prepare()
    run()


def instructions(names: list[str]) -> None:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instructions not counted; skipped")
        return
    script = str(Path(__file__).resolve())
    counts: dict[str, float] = {}
    for name in names:
        print(f"counting {name} ...", file=sys.stderr, flush=True)
        first = cachegrind(script, [name, str(FIRST)], f"{name}, {FIRST} events")
        last = cachegrind(script, [name, str(LAST)], f"{name}, {LAST} events")
        counts[name] = (last - first) / (LAST - FIRST)
    print("coffee-club, 10-line purchases after 15 earlier ones: instructions per event (cachegrind)")
    hand_count = counts.get("hand-written")
    for name, count in counts.items():
        ratio = f"  {count / hand_count:5.2f}x hand" if hand_count else ""
        print(f"  {name:28} {count / 1000:10,.1f}k{ratio}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small stream: rough numbers")
    parser.add_argument(
        "--instructions",
        nargs="*",
        metavar="CANDIDATE",
        help="count instructions (all candidates if none named)",
    )
    parser.add_argument("--parts", action="store_true", help="the time of each public answer, read in full")
    parser.add_argument("--child", nargs=2, metavar=("CANDIDATE", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    if args.parts:
        parts(args.quick)
        return 0
    if args.instructions is not None:
        instructions(args.instructions or list(CANDIDATES))
        return 0
    return measure(args.quick)


if __name__ == "__main__":
    sys.exit(main())
