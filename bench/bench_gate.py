"""How much of a worker's event thread holds SQLite's gate across `serve` workers: the part the
other workers wait for (rules_engine/http/stores.py, routes/events.py `decide_together`).

    .venv/bin/python bench/bench_gate.py                       # groups of 16, 4 and 1
    .venv/bin/python bench/bench_gate.py --group 16 --one-worker   # as one worker decides them

Groups of G purchases (3-line baskets, coffee-club) over 300 customers, each decided by
`decide_together` on an SQLite file as a worker of several decides it (`Settings.speculate` on;
`--one-worker`: off), in this process: the thread CPU time of each group from its start to the
gate taken (`outside`, what the workers do at once) and from the gate to its end (`inside`, what
they do in turn), per event, after a third of the groups as warm-up. Thread CPU time, not wall
time: steadier on a loaded machine than latencies, and a ratio within one run. On a tree without
`speculate` (before it), every group is decided under the gate. A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from rules_engine import jsonio
from rules_engine.http import Settings
from rules_engine.http import stores as stores_module
from rules_engine.http.routes import events
from rules_engine.http.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
CUSTOMERS = 300


def measure(group: int, rounds: int, *, speculate: bool) -> tuple[float, float]:
    """(outside, inside) the gate, thread CPU ms per event."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    draw = random.Random(7)
    options: dict[str, Any] = {}
    if "speculate" in {field.name for field in dataclasses.fields(Settings)}:
        options["speculate"] = speculate
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as folder:
        runtime = Runtime.start(
            Settings(
                programs=ROOT / "programs", db=f"{folder}/gate.db", clock=lambda: now, docs=False, **options
            )
        )
        taken: list[float] = []
        enter = stores_module._Gate.enter

        def entering(gate: Any, wait: float) -> None:
            if not taken:
                taken.append(time.thread_time())
            enter(gate, wait)

        stores_module._Gate.enter = entering  # type: ignore[method-assign,assignment]
        outside = inside = 0.0
        count = 0
        try:
            for number in range(rounds):
                readies = []
                for place in range(group):
                    sent = number * group + place
                    body = {
                        "id": f"e{sent}",
                        "type": "purchase",
                        "time": (now - dt.timedelta(hours=1) + dt.timedelta(milliseconds=sent)).isoformat(),
                        "customer": f"c{draw.randrange(CUSTOMERS)}",
                        "items": [
                            {"sku": f"S{k}", "category": "coffee", "price": Decimal("4.50"), "qty": 1}
                            for k in range(3)
                        ],
                    }
                    parsed = events.parse_text(jsonio.dumps(body).encode())
                    readies.append(events.ready(runtime, "coffee-club", parsed, {}))
                taken.clear()
                began = time.thread_time()
                answers = events.decide_together(runtime, "coffee-club", readies)
                ended = time.thread_time()
                if answers is None or any(isinstance(answer, Exception) for answer in answers):
                    raise SystemExit(f"a group failed: {answers}")
                if number >= rounds // 3:
                    outside += taken[0] - began
                    inside += ended - taken[0]
                    count += group
        finally:
            stores_module._Gate.enter = enter  # type: ignore[method-assign]
            runtime.stores.close()
    return outside / count * 1e3, inside / count * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--group", type=int, nargs="+", default=[16, 4, 1], help="events a group")
    parser.add_argument("--events", type=int, default=960, help="events a group size (at least 3 groups)")
    parser.add_argument("--one-worker", action="store_true", help="speculate off, as one worker decides")
    arguments = parser.parse_args()
    for group in arguments.group:
        rounds = max(3, arguments.events // group)
        outside, inside = measure(group, rounds, speculate=not arguments.one_worker)
        share = inside / (inside + outside)
        print(
            f"group {group:>2}: outside the gate {outside:.3f} ms an event, inside {inside:.3f}; "
            f"inside {share:.1%} of the thread's CPU"
        )


if __name__ == "__main__":
    main()
