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

**A service's workers freeze as they go** (`tune_for_requests`, `after_work`). A young walk
walks what is young and alive: in a service, the customer states made since the last walk,
which its store holds between events (store/cache.py). With 64 requests in flight one came every
~2,600 requests and held the worker 36-98 ms, which every request waiting then waited out: most
of the p99 (bench/README.md, "The collector's pause"). Yet nothing it walks is garbage: requests,
connections and events make no reference cycles (tests/http/test_direct.py,
tests/engine/test_whole_stream.py), so every object of theirs is freed by its reference count.
So after each group of events the worker's event thread freezes what is alive (`gc.freeze()`,
a few pointer moves whatever it holds): young objects never pile up to a walk, and frozen ones
are still freed by their reference counts. What freezing would keep for good is a cycle alive at
the time (the standard library's asyncio transport is one, ~6 objects a closed connection): so
the objects made since the last full walk are counted, and once they are as many as were alive
after it (at least `FREEZE_FLOOR`), everything is unfrozen and walked once, then frozen again.
Memory then stays within about twice what is alive, and a full walk comes only when what is
alive has doubled or garbage cycles as many as `FREEZE_FLOOR` were made: in a worker whose
customers' states stay of a size, about never. Its pause is longer than a young walk's (it walks
everything alive) but far rarer: measured in process on the service benchmark's purchases (300
customers whose histories grow all along, `after_work` after every 32 events; one busy machine),
30,000 events cost 6 young walks of 81-101 ms of CPU before (one every ~5,300 events), and one
full walk of 392 ms at the 17,400th event after. At 64 requests in flight a pause holds the 64
waiting, so over any stretch of requests fewer of them wait one out (~0.5 % of the benchmark's,
where young walks held ~2.5 %): the p99 gains, the slowest half per cent lose.
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


FREEZE_FLOOR = 500_000
"""Objects made (net of those freed) since the last full walk before a service's worker walks
everything again (`after_work`), at the least: ~50-100 MB of Python objects, so that garbage
cycles frozen meanwhile never cost more than that."""


def tune_for_events(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Freeze what the process holds now (call it after the program is loaded) and collect less
    often (`thresholds`: `THRESHOLDS`, or `loyalty run`'s `RUN_THRESHOLDS`): for a process whose
    work from now on is processing events."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


class Freezing:
    """A service worker's way with the collector (module docstring): `after_work` once each group
    of events is done. Counts the objects made since the last full walk (net of those freed) and
    allows `allowed` of them before the next."""

    __slots__ = ("allowed", "made")

    def __init__(self, allowed: int) -> None:
        self.made = 0
        self.allowed = allowed

    def after_work(self) -> None:
        """What is alive frozen; or, once `allowed` objects were made since the last full walk,
        everything unfrozen, walked and frozen again, and as many allowed as are then alive (at
        least `FREEZE_FLOOR`)."""
        self.made += gc.get_count()[0]  # made since the last freeze, net of those freed
        if self.made < self.allowed:
            gc.freeze()
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.made, self.allowed = 0, max(FREEZE_FLOOR, gc.get_freeze_count())


_FREEZING: Freezing | None = None
"""The worker's, once `tune_for_requests` was called."""


def tune_for_requests(thresholds: tuple[int, int, int]) -> None:
    """`tune_for_events` for a service's worker, and `after_work` on from now on (module
    docstring): its event thread then freezes what each group of events left alive. `thresholds`
    stay for what runs outside the event thread (reads, a worker without one)."""
    global _FREEZING
    tune_for_events(thresholds)
    _FREEZING = Freezing(max(FREEZE_FLOOR, gc.get_freeze_count()))


def after_work() -> None:
    """`Freezing.after_work` in a worker `tune_for_requests` tuned; nothing anywhere else: the
    tests' processes and an application embedding the service keep their own collector."""
    if _FREEZING is not None:
        _FREEZING.after_work()


def untune(thresholds: tuple[int, int, int]) -> None:
    """The collector as it was before `tune_for_requests` (the service benchmark's in-process row,
    in the client's process; each test): `after_work` off, nothing frozen, `thresholds` again."""
    global _FREEZING
    _FREEZING = None
    gc.unfreeze()
    gc.set_threshold(*thresholds)
