"""The simulation: a history through one program version (or two, `--compare`), on every core.

    from rules_engine.simulate import simulate
    result = simulate("history.jsonl", ["programs/coffee-club.yaml"], workers=2)
    report = build_report(result)               # rules_engine/simulate/report.py

The history is cut into batches of whole customers (`batches.py`); each batch is replayed by the
kernel (`kernel.py`) in a process pool (`workers` processes; 1: in this process, no pool); what
crosses customers is settled between passes (`crossing.py`), re-running only the batches it
changes; the batches' tallies are then added up (`tally.py`). The figures do not depend on the
number of processes nor on the order the batches finish in.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path

from rules_engine import collector
from rules_engine.engine.evaluator import Engine
from rules_engine.errors import Diagnostic
from rules_engine.replay_input import bounded_lines
from rules_engine.simulate import crossing
from rules_engine.simulate.batches import Batches, batch_count, first_problems, split
from rules_engine.simulate.kernel import BatchResult, BudgetTable, Job, engine_for, replay_batch
from rules_engine.simulate.tally import History, Tally, Versus

Progress = Callable[[int, int], None]
"""Told (events replayed so far, events in all) as batches finish; a pass after the first counts
its batches' events again on top (the total grows with it). The first call, (0, 0), comes as soon
as the worker processes are started, before the history is read: a display that runs a thread of
its own starts it then, not before (`_Pool`)."""


@dataclass
class Simulation:
    """The merged figures of a simulation, before they become a report."""

    source: str
    programs: list[str]
    engines: list[Engine]
    batches: Batches
    tallies: list[Tally]
    history: History
    versus: Versus | None
    problems: list[Diagnostic]
    passes: int
    customers: int
    settled: bool
    """Whether the last pass gave back what it was told (false only past `MAX_PASSES`)."""
    unknown_referrers: list[int] = field(default_factory=list)
    """Per version: owed referrer rewards whose code named no customer known by then."""


def lines_of(path: str | Path) -> Iterable[bytes | None]:
    """The file's lines, None for one too long to read (`bounded_lines`)."""
    with open(path, "rb") as stream:
        yield from bounded_lines(stream)


def simulate(
    events: str | Path,
    programs: Sequence[str | Path],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    source: str | None = None,
    batch_bytes: int | None = None,
) -> Simulation:
    """Replay a JSON Lines history through one program (or two); see the module docstring.

    Raises:
        ProgramError: a program does not load.
        OSError: the events cannot be read.
    """
    paths = [str(Path(p).resolve()) for p in programs]
    engines = [engine_for(p) for p in paths]
    count = (os.cpu_count() or 1) if workers is None else max(1, workers)
    with _Pool(count, paths) as pool:
        if progress is not None:
            progress(0, 0)
        size = os.path.getsize(events)
        parts = batch_count(size, count) if batch_bytes is None else batch_count(size, count, batch_bytes)
        batches = split(lines_of(events), str(events), parts)
        try:
            return _run(batches, paths, engines, pool, progress, source or str(events))
        finally:
            batches.close()


def _run(
    batches: Batches,
    paths: list[str],
    engines: list[Engine],
    pool: _Pool,
    progress: Progress | None,
    source: str,
) -> Simulation:
    months = batches.months(engines[0].zone)
    versions = range(len(engines))
    rewards: list[crossing.Rewards] = [{} for _ in versions]
    used: list[BudgetTable | None] = [None for _ in versions]
    done = [0, batches.events]

    parts = len(batches.paths)

    def job(index: int) -> Job:
        mine = tuple(
            {c: given for c, given in version.items() if zlib.crc32(c.encode("utf-8")) % parts == index}
            for version in rewards
        )
        return Job(index, str(batches.paths[index]), tuple(paths), months, mine, tuple(used))

    results: dict[int, BatchResult] = {}
    passes = 0
    settled = True
    unknown = [0 for _ in versions]
    wanted = set(range(len(batches.paths)))
    while wanted:
        passes += 1
        if passes > 1:
            done[1] += sum(results[i].events for i in wanted)
        for result in pool.run([job(i) for i in sorted(wanted)]):
            results[result.index] = result
            done[0] += result.events
            if progress is not None:
                progress(done[0], done[1])
        wanted = set()
        for v in versions:
            found = [results[i].crossings[v] for i in sorted(results)]
            given, unknown[v] = crossing.settle_referrals(found)
            for customer in crossing.changed_referrers(rewards[v], given):
                wanted.add(zlib.crc32(customer.encode("utf-8")) % len(batches.paths))
            rewards[v] = given
            table, capped = crossing.settle_budgets(engines[v], found)
            consistent = not capped if used[v] is None else crossing.same_budgets(used[v], table)
            if not consistent:
                used[v] = table
                wanted = set(range(len(batches.paths)))
        if wanted and passes >= crossing.MAX_PASSES:
            settled = False
            break
    tallies = [Tally() for _ in versions]
    history = History()
    versus = Versus() if len(engines) == 2 else None
    problems = list(batches.problems)
    customers = 0
    for index in sorted(results):
        result = results[index]
        for v in versions:
            tallies[v].merge(result.tallies[v])
        history.merge(result.history)
        if versus is not None and result.versus is not None:
            versus.merge(result.versus)
        problems.extend(result.problems)
        customers += result.customers
    for tally in tallies:
        tally.problems += batches.bad_lines
    return Simulation(
        source,
        paths,
        engines,
        batches,
        tallies,
        history,
        versus,
        [diagnostic for _, diagnostic in first_problems(problems)],
        passes,
        customers,
        settled,
        unknown,
    )


class _Pool:
    """The batches' runner: a process pool, or this process when `workers` is 1 (no pickling, no
    start-up: the plain loop).

    A worker's start-up is what two processes pay over one, whatever the history's size
    (bench/README.md, "Simulate"), so the workers are started the cheapest safe way:

    - **fork** on Linux, when this process runs no other thread: a worker is a copy of this
      process, with the package imported and the programs compiled (`simulate` compiles them
      before the pool starts: `engine_for`'s cache is inherited), in a few milliseconds. A fork
      copies only the calling thread, so a lock another thread held (a progress bar's, the
      console's) would stay held in the worker for ever: hence no fork beside another thread,
      and `Progress` is first told (0, 0) once the workers exist, for a caller to start its
      display thread after them. macOS forks unsafely (its system frameworks), so only Linux.
    - otherwise **forkserver** (spawn where there is none): each worker imports the package
      and compiles the programs in its initializer, which starts when the pool does, before the
      history is cut into batches, so the two overlap.

    Either way every worker is started when the pool is entered, not at its first batch.
    """

    def __init__(self, workers: int, programs: list[str]) -> None:
        self.workers = workers
        self.programs = programs
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> _Pool:
        if self.workers > 1:
            context, initializer = _start_method()
            self.executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=initializer, initargs=(self.programs,)
            )
            for _ in range(self.workers):  # a fork pool forks them all at the first submit
                self.executor.submit(os.getpid)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def run(self, jobs: list[Job]) -> Iterable[BatchResult]:
        if self.executor is None:
            # What is alive now (the package, the compiled programs, the caller's objects) outlives
            # the batches: frozen, the collector's full passes skip it (bench/README.md,
            # "Simulate"). Only when nobody else froze objects, since unfreezing is for everyone.
            freeze = gc.get_freeze_count() == 0
            if freeze:
                gc.freeze()
            try:
                for one in jobs:
                    yield replay_batch(one)
            finally:
                if freeze:
                    gc.unfreeze()
            return
        futures: list[Future[BatchResult]] = [self.executor.submit(replay_batch, one) for one in jobs]
        for future in as_completed(futures):
            yield future.result()


def _start_method() -> tuple[BaseContext, Callable[[list[str]], None]]:
    """The workers' start method and initializer (`_Pool`)."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork"), _forked
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["rules_engine.simulate.kernel"])
        return context, _started
    return multiprocessing.get_context("spawn"), _started


def _forked(programs: list[str]) -> None:
    """A forked worker: what it inherited (the modules, the compiled programs) lives as long as
    it does, so the garbage collector is told to leave it alone (`gc.freeze`): its collections
    then walk only what the worker itself allocates (and never touch, so never copy, the
    parent's pages). It collects less often too, as any process that now processes events
    (collector.py); the parent froze what it held before forking (`loyalty simulate`)."""
    gc.freeze()
    gc.set_threshold(*collector.THRESHOLDS)


def _started(programs: list[str]) -> None:
    """A worker started afresh: it compiles the programs now, while the parent cuts the batches,
    then sets its collector for events (collector.py)."""
    for path in programs:
        engine_for(path)
    collector.tune_for_events()
