"""The garbage collector's settings for the processes `loyalty` runs itself: `loyalty run`, the
`loyalty serve` workers, `loyalty simulate` and its worker processes (docs/engine.md, "The
garbage collector").

Every event makes a new customer state of a few hundred objects that outlives the event, and no
reference cycles: every object of an event is freed by its reference count (a test holds the
engine's three paths to it, tests/engine/test_whole_stream.py; the whole step's result and its
record were one until 2026-12-05, ~120 objects a purchase that only the collector freed).
CPython's collector counts the survivors and, every 700 allocations or so, walks the young
ones; every 10 of those walks, the survivors of the last 10 again; every 10 of those, every
object the process holds: the loaded program, the imported packages and, in a replay, every
customer's state. On the stream benchmark that walking was a third of the CPU time
(bench/README.md, "Stream benchmark").

`tune_for_events` is called once the program is loaded: what exists then (modules, the compiled
program, the plan) is frozen out of the collector's walks for good, and the collector runs less
often. Cycles are still collected, later. A library sets none of this behind its user's back:
`Engine` never calls it; an application embedding the engine may call it at its own start-up.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 10, 100)
"""Young objects before a collection (700 by default), young collections before a middle one
(10, as the default), middle collections before a full walk (10 by default): a full walk at most
every ~10 million allocations, and never more often than CPython's own rule (a quarter of the
long-lived objects new since the last one) allows. The service's and `simulate`'s."""

RUN_THRESHOLDS = (10_000, 1_000, 100)
"""`loyalty run`'s: a middle collection every 1,000 young ones rather than 10. A run keeps every
customer's state it meets, so what survives a young collection is mostly state that lives until
the customer's next event, and a middle collection every 10 young ones walked it a second time
(`bench_reader.py --collector 3000`: the collector's passes 20-24 % of the run's CPU, the middle
ones over 40 % of that); every 1,000, only what is still alive then is walked, in one longer
pause (seconds, over a large run: no matter for a batch). Measured: 24,000 lines -11 % of the
run's CPU (no middle walk at all), 150,000 lines -2 % (both with the whole step's cycle, since
removed). Cycles that outlive a young collection wait for a middle one. Not the service's: a
request would wait for that pause."""


def tune_for_events(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Freeze what the process holds now (call it after the program is loaded) and collect less
    often (`thresholds`: `THRESHOLDS`, or `loyalty run`'s `RUN_THRESHOLDS`): for a process whose
    work from now on is processing events."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
