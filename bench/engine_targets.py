"""Issue 12's targets for `Engine.process` (part 1 of the engine-core redesign), for bench_engine.py.

Judged on streams of coffee-club 10-line purchases, each customer's state carried from event to
event, garbage collection on, CPU time, the median of interleaved rounds, beside the hand-written
coffee-club processor (handwritten_coffee.py) timed in the same run and first checked to make the
same decisions event by event. The machinery is bench_streams.py's (its agreement stream, the
histories, the timed streams, the check); this module picks the rows and candidates issue 12 is
judged on and says [met] or [MISSED]: bench_engine.py prints them, and no other bench does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import bench_streams as streams

from rules_engine.engine.evaluator import Engine

EVENTS_PER_S = 25_000  # explain off, customers with 15 earlier purchases, one core
EXPLAIN_RATIO = 3.0  # explain on's us per event over explain off's
HISTORY_RATIO = 1.3  # after 1,000 earlier purchases over after 15, explain off
STREAM_CANDIDATES = ("hand-written", "engine, explain off", "engine, explain on")


@dataclass
class Streams:
    """Issue 12's rows: the streams timed (bench_streams.Row, after 15 and 1,000 earlier purchases),
    and how many events the engine and the hand-written processor were compared on."""

    rows: list[streams.Row]
    compared: int
    disagreements: list[str]
    rounds: int

    def row(self, history: int) -> streams.Row | None:
        return next((row for row in self.rows if row.history == history), None)


def measure_streams(quick: bool, progress: Callable[[str], None]) -> Streams:
    """Issue 12's rows by bench_streams.py's machinery: its agreement stream, then each row's
    histories and stream run through the engine and the hand-written processor and compared event
    by event; then the streams timed, explain off and on beside the hand-written (GC on, rounds
    interleaved). Nothing is timed once they disagree."""
    settings = streams.QUICK if quick else streams.FULL
    engine = Engine.from_file(streams.COFFEE)
    check = streams.Check()
    progress(f"the agreement stream ({settings.agreement_events:,} events)")
    streams.run_both(engine, streams.agreement_stream(settings), {}, {}, check, explain_too=True)
    rows: list[streams.Row] = []
    for spec in (spec for spec in settings.rows if spec[0] in (15, 1000)):
        row, events, engine_states, hand_states = streams.build_row(engine, spec, check, progress)
        if check.disagreements:
            break
        rounds, names = settings.rounds, STREAM_CANDIDATES
        streams.measure_row(
            engine, engine, row, events, engine_states, hand_states, rounds, progress, names=names
        )
        rows.append(row)
    return Streams([] if check.disagreements else rows, check.events, check.disagreements, settings.rounds)


def targets(found: Streams | None) -> list[tuple[str, bool | None, str]]:
    """Issue 12's targets: (the target, met or not (None: not measured), the figures), judged on the
    median round; the hand-written processor's figures of the same run beside them."""
    wanted = [
        f">= {EVENTS_PER_S:,} events/s per core, explain off (15 earlier purchases)",
        f"explain on <= {EXPLAIN_RATIO:g}x explain off",
        f"1,000 earlier purchases within {HISTORY_RATIO:g}x of 15, explain off",
    ]
    base = found.row(15) if found is not None else None
    if base is None:
        why = "not measured" if found is None or not found.disagreements else "the engine DISAGREES"
        return [(target, None, why) for target in wanted]
    off_us, hand_us = base.median_us("engine, explain off"), base.median_us("hand-written")
    on_ratio = base.median_us("engine, explain on") / off_us
    judged: list[tuple[str, bool | None, str]] = [
        (wanted[0], 1e6 / off_us >= EVENTS_PER_S, f"{1e6 / off_us:,.0f} (hand-written {1e6 / hand_us:,.0f})"),
        (wanted[1], on_ratio <= EXPLAIN_RATIO, f"{on_ratio:.2f}x"),
    ]
    longest = found.row(1000) if found is not None else None
    if longest is None:
        judged.append((wanted[2], None, "no row of 1,000 earlier purchases (--quick)"))
    else:
        grows = longest.median_us("engine, explain off") / off_us
        hand_grows = longest.median_us("hand-written") / hand_us
        judged.append((wanted[2], grows <= HISTORY_RATIO, f"{grows:.2f}x (hand-written {hand_grows:.2f}x)"))
    return judged


def render_streams(found: Streams) -> list[str]:
    """The streams' table: each row's candidates, events/s and us per event (median), x hand."""
    lines = [
        f"issue 12: coffee-club purchase streams, 10-line baskets; CPU time, GC on (the thresholds of"
        f" `loyalty run`), median of {found.rounds} rounds"
    ]
    if found.disagreements:
        lines += [f"  DISAGREES: {problem}" for problem in found.disagreements[:10]]
        return lines
    lines.append(
        f"  the engine and the hand-written processor agree on all {found.compared:,} events compared"
    )
    for row in found.rows:
        hand_us = row.median_us("hand-written")
        for name in STREAM_CANDIDATES:
            us = row.median_us(name)
            lines.append(
                f"  after {row.history:>5,} earlier purchases, {row.events:>5,} events  {name:<20}"
                f" {1e6 / us:>9,.0f} events/s {us:>9,.1f} us/event {us / hand_us:>6.1f}x hand"
            )
    return lines
