"""The garbage collector's settings for the processes `loyalty` runs itself: `loyalty run`, the
`loyalty serve` workers, `loyalty simulate` and its worker processes (docs/engine.md, "The
garbage collector").

Every event makes a new customer state of a few hundred objects that outlives the event, and no
reference cycles (every object of an event is freed by its reference count). CPython's collector
counts those survivors and, every 700 × 10 × 10 allocations or so, walks every object the process
holds: the loaded program, the imported packages and, in a replay, every customer's state. On the
stream benchmark that walking was a third of the CPU time (bench/README.md, "Stream benchmark").

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
long-lived objects new since the last one) allows."""


def tune_for_events() -> None:
    """Freeze what the process holds now (call it after the program is loaded) and collect less
    often: for a process whose work from now on is processing events."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
