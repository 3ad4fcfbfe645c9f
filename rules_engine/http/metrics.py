"""What `/metrics` shows Prometheus (prometheus-client's text format).

- `loyalty_http_requests_total{method, route, status}` and
  `loyalty_http_request_duration_seconds{method, route, status}` (a histogram): every request, by
  route template (`/v1/programs/{program}/events`, never the customer's id, so the series stay few);
- `loyalty_events_total{program, type, result}`: events by type and what became of them:
  `applied`, `duplicate` (a redelivery) or `refused` (with a code);
- `loyalty_program_reloads_total{program, result}`: uploads and reloads, `replaced` or `refused`;
- `loyalty_event_group_size{program}` (a histogram; SQLite only): the events route's events stored
  in one transaction — those that waited together (shortcut.py `decide_group`), 1 for an event
  alone; its sum over its count is the events a commit;
- `loyalty_collector_pause_seconds{generation}` (a histogram): how long each of the garbage
  collector's walks held the worker (`collector_pauses`, from the app's start to its end). Every
  request in flight waits a walk out, so the walks are the service's latency tail at 64 in flight:
  a young walk came every ~1,700-3,000 requests of the benchmark's and took 35-100 ms, until the
  event thread froze what each group leaves (collector.py `after_work`); now a full walk comes
  when the objects made have doubled (bench/README.md, "The collector's pause"); `_count` says
  how often, `_sum` how long in all.

Each app has a registry of its own (no global state: tests build many apps). With several worker
processes (`loyalty serve --workers N`), prometheus-client's multiprocess mode adds the workers'
counts up: `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start,
and `/metrics` then reads every worker's files.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_GROUPS = (1, 2, 4, 8, 16, 32, 64)
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_PAUSES = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_PAUSES_KEPT = 4096
"""The most pauses noted and not yet observed (`Metrics._paused`): a worker that answers nothing
keeps the latest."""


class _Request:
    """A request series' values, as its counter's `inc()` and its histogram's `observe` change
    them: the count, the latency's sum, and the bucket of the first bound not below it (found by
    `bisect_left` rather than `observe`'s walk over the bounds; nothing else is skipped but their
    checks, which a label's child with a non-negative amount passes). tests/http/test_metrics.py
    holds the text they render equal to `inc()` and `observe`'s."""

    __slots__ = ("bounds", "buckets", "count", "sum")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self.count = counter._value
        self.sum = histogram._sum
        self.buckets = histogram._buckets
        self.bounds = histogram._upper_bounds


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "loyalty_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "loyalty_http_request_duration_seconds",
            "Time from a request's first byte to its last response byte, by route template and status.",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "loyalty_events",
            "Events received, by type and result: applied, duplicate (a redelivery) or refused.",
            ["program", "type", "result"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "loyalty_program_reloads",
            "Program uploads and reloads, by result: replaced or refused.",
            ["program", "result"],
            registry=self.registry,
        )
        self.groups = Histogram(
            "loyalty_event_group_size",
            "Events stored in one transaction by the events route (SQLite: those that waited together).",
            ["program"],
            buckets=_GROUPS,
            registry=self.registry,
        )
        self.pauses = Histogram(
            "loyalty_collector_pause_seconds",
            "How long each of the garbage collector's walks held the worker, by generation (0: young).",
            ["generation"],
            buckets=_PAUSES,
            registry=self.registry,
        )
        self._pause_children = [self.pauses.labels(str(generation)) for generation in range(3)]
        self._paused: deque[tuple[int, float]] = deque(maxlen=_PAUSES_KEPT)
        """The collector's pauses not yet observed (`collector_pauses`), each generation's and seconds."""

        # Each series' child, by its labels: `labels()` checks and converts the values and takes
        # a lock on every call (5.5 µs a request for the two request series, 2.3 with these).
        self._requests: dict[tuple[str, str, int], _Request] = {}
        self._events: dict[tuple[str, str, str], Any] = {}

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        if self._paused:
            self._fold()
        series = self._requests.get((method, route, status))
        if series is None:
            code = str(status)
            series = _Request(
                self.requests.labels(method, route, code), self.latency.labels(method, route, code)
            )
            self._requests[method, route, status] = series
        series.count.inc(1)
        series.sum.inc(seconds)
        series.buckets[bisect_left(series.bounds, seconds)].inc(1)

    def event(self, program: str, kind: str, result: str) -> None:
        counter = self._events.get((program, kind, result))
        if counter is None:
            counter = self._events[program, kind, result] = self.events.labels(program, kind, result)
        counter.inc()

    def group(self, program: str, size: int) -> None:
        self.groups.labels(program).observe(size)

    def reload(self, program: str, result: str) -> None:
        self.reloads.labels(program, result).inc()

    def collector_pauses(self) -> Callable[[], None]:
        """Every collection's pause observed in `loyalty_collector_pause_seconds` from now on
        (`gc.callbacks`: a walk is timed from its start to its end, on the thread that made it,
        which holds the interpreter's lock throughout); what it returns stops it. The app's
        lifespan calls it: the callbacks are the process's, so each app removes its own.

        The callback only notes the pause (`_paused`); the next request's metrics or `/metrics`
        observe it (`_fold`). A walk starts at whatever allocation passes the threshold, also one
        made while prometheus-client holds a value's lock — with several workers one lock for
        every value of the process, not reentrant (its multiprocess mode, creating a new series):
        observing from the callback there would wait for that lock forever."""
        paused = self._paused
        began = 0.0

        def timed(phase: str, info: dict[str, int]) -> None:
            nonlocal began
            if phase == "start":
                began = time.perf_counter()
            else:
                paused.append((info["generation"], time.perf_counter() - began))

        gc.callbacks.append(timed)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(timed)

        return stop

    def _fold(self) -> None:
        """The pauses noted since (`collector_pauses`) observed, oldest first."""
        paused, children = self._paused, self._pause_children
        while paused:
            generation, seconds = paused.popleft()
            children[generation].observe(seconds)

    def render(self) -> bytes:
        self._fold()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
