"""Instructions per event of `loyalty run` in memory and of its parts, counted by cachegrind: load-proof.

    .venv/bin/python bench/instructions_run.py                    # every part, ~10 minutes
    .venv/bin/python bench/instructions_run.py quiet cli engine   # only these

bench_reader.py times the run; on this shared 2-core machine those times move with the other
jobs, the instructions an event executes do not. For each part the script runs `valgrind
--tool=cachegrind` twice on a child of itself that reads bench_reader's stream (coffee-club's
10-line purchase, 100 customers in turn) and runs the first K lines of it (K = 200, then 600); the
difference of the two counts over the 400 lines between them is the cost of a line, without the
interpreter's start and the program's compilation. The parts:

- `quiet`: `replay_lines` with no listener (`loyalty run -q` in memory), the store carrying working
  states (`Stream.step`), with CPython's default collector settings; `public`: the same with the
  store holding public states (every event through `Engine.process`: `RunMemoryStore.carries_working`
  off); `tuned`: `quiet` with the collector set as `loyalty run` sets it once the program is
  loaded (`collector.tune_for_events` with `RUN_THRESHOLDS`: what the CLI's run counts); `nogc`:
  `quiet` with the collector off (`tuned` less `nogc` is what the collector's passes cost a line in
  instructions — not in time: its walks miss the caches, which instructions do not see;
  `bench_reader.py --collector` times them);
- `cli`: the `loyalty run` command itself, a line per event written to /dev/null; `cli-public`:
  the same on public states;
- `engine`: `Engine.process` alone on the parsed events, each customer's state in a dict; `step`:
  `Stream.step` alone, each customer's `Working` in a dict;
- `read`: `parse_event_text` of each line (engine/event_text.py: what the run reads a line with);
  `loads`: `jsonio.loads` and `parse_event` of each line (the run's reading before it);
  `digest`: `event_digest` of each event.

Without valgrind it says so and exits 0 (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from timing import cachegrind

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FIRST, LAST = 200, 600  # the lines counted are those between the two runs' ends
PARTS = ("quiet", "public", "tuned", "nogc", "cli", "cli-public", "engine", "step", "digest", "read", "loads")
PARSED = ("engine", "step", "digest")  # the parts that take the events parsed


def child(part: str, lines: int) -> None:
    """Run `part` over the first `lines` lines (the events of the parts that take them parsed are
    parsed for all LAST lines, so that parsing is not counted in them)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    from bench_reader import PROGRAM, stream

    from rules_engine import collector, jsonio
    from rules_engine.cli import app
    from rules_engine.engine.canonical import event_digest
    from rules_engine.engine.evaluator import Engine
    from rules_engine.engine.event_text import parse_event_text
    from rules_engine.engine.reader import parse_event
    from rules_engine.engine.stream import Stream
    from rules_engine.replay import replay_lines
    from rules_engine.service import Loyalty
    from rules_engine.state.working import Working
    from rules_engine.store.memory import RunMemoryStore

    engine = Engine.from_file(PROGRAM)
    texts = stream(100, 10)[:LAST]
    parsed = [parse_event(jsonio.loads(text)) for text in texts][:lines] if part in PARSED else []
    texts = texts[:lines]
    RunMemoryStore.carries_working = not part.endswith("public")
    if part == "tuned":
        collector.tune_for_events(
            collector.RUN_THRESHOLDS
        )  # as `loyalty run` does once the program is loaded
    elif part == "nogc":
        gc.disable()
    if part in ("quiet", "public", "tuned", "nogc"):
        store = RunMemoryStore(engine.program.program)
        replay_lines(Loyalty(engine, store, horizon=None), "bench.jsonl", [text.encode() for text in texts])
    elif part in ("cli", "cli-public"):
        with tempfile.TemporaryDirectory() as folder:
            events = Path(folder) / "bench.jsonl"
            events.write_text("\n".join(texts) + "\n", encoding="utf-8")
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                app(["run", str(PROGRAM), str(events)], standalone_mode=False)
    elif part == "engine":
        states: dict[str, Any] = {}
        for event in parsed:
            states[event.customer] = engine.process(event, states.get(event.customer)).state
    elif part == "step":
        steps = Stream(engine)
        working: dict[str, Working] = {}
        for event in parsed:
            held = working.get(event.customer)
            if held is None:
                held = working[event.customer] = steps.working()
            steps.step(event, held)
    elif part == "read":
        for text in texts:
            parse_event_text(text)
    elif part == "loads":
        for text in texts:
            parse_event(jsonio.loads(text))
    elif part == "digest":
        for event in parsed:
            event_digest(event)


def counted(part: str, lines: int) -> int:
    """The instructions cachegrind counts for a child run of `part` over `lines` lines."""
    return cachegrind(str(Path(__file__).resolve()), [part, str(lines)], f"{part}, {lines} lines")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parts = ", ".join(PARTS)
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"what to count (default all): {parts}")
    parser.add_argument("--child", nargs=2, metavar=("PART", "LINES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown:
        parser.error(f"no part {', '.join(unknown)}: choose from {', '.join(PARTS)}")
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instructions not counted (apt-get install valgrind); skipped")
        return
    print("bench_reader's stream (coffee-club, 10-line purchases): instructions per line (cachegrind)")
    for part in args.parts or PARTS:
        print(f"counting {part} ...", file=sys.stderr, flush=True)
        per_line = (counted(part, LAST) - counted(part, FIRST)) / (LAST - FIRST)
        print(f"  {part:<12} {per_line / 1000:10,.1f}k", flush=True)


if __name__ == "__main__":
    main()
