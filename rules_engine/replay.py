"""Replaying a stream of events through a store: many customers, in file order (`loyalty run`).

Input: a JSON Lines file, one event per line (numbers exact). Each line is one transaction of
the store (memory, SQLite or PostgreSQL), or, with `batch=N`, N lines are committed together (group
commit: one transaction per batch, written behind: store/batch.py). A bad line (not UTF-8, not JSON, not a
valid event, refused by the engine) is reported with its line number and skipped, and touches
nothing; an event the store has processed before is reported as such and applied no second time, so
replaying a file into a database again changes nothing.

Output: running totals (`Replay`), never the customers' states: a year of history for many
customers is more than memory holds, and the store keeps them anyway. What is kept per customer is
one number (points earned in the run, for `--by-customer`), in a tally that moves to a temporary
file on disk past a few thousand customers, so memory stays flat however many customers a stream
has (`CustomerTally`, tally.py).

Outcomes and problems go to callbacks once their line is acknowledged: committed (with its batch),
so a run that is killed has reported only what the store holds, and running the same file again
applies the rest, each event once. A replay stops early, between two events, when `stop()` says so
(Ctrl-C in `loyalty run`; the batch so far is committed) or when the store fails. A batch that fails
(a locked database, a deadlock between workers) is rolled back and done again one line per
transaction, so that a failure that stays is placed at its line (RE605, naming the line and the
event: the events before it are committed); one whose commit failed (another process wrote what it
read, store/sql_writing.py's optimistic groups; a deadlock) is first done again once as a batch.

The lines are read bounded, and a problem placed at its line and field, by replay_input.py;
replay_worker.py and replay_workers.py run a replay on several processes that own their customers.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from rules_engine import jsonio
from rules_engine.engine.event_text import parse_event_text
from rules_engine.engine.later import LaterResult, StreamResult
from rules_engine.engine.outcome import Outcome
from rules_engine.engine.result import Result
from rules_engine.errors import Diagnostic, EventError, Severity, StoreError, TransientError
from rules_engine.replay_input import bounded_lines, field_span, store_failed, too_long, whole_line
from rules_engine.service import Decided, Handled, Loyalty
from rules_engine.source import SourceFile, Span
from rules_engine.tally import CustomerTally

ZERO = Decimal(0)

DEFAULT_BATCH = 500
"""Events per transaction in `loyalty run --db` unless `--batch` says otherwise."""

TRIES = 5
"""How often a line is tried, on its own, when the database gives its transaction up for another's
sake (`TransientError`: a deadlock between processes writing one database) before the run stops."""

_BATCH_BYTES = 16 * 1024 * 1024
"""A batch also ends past this many bytes of lines: they are kept until it commits (to be done
again one by one if it fails), and a line may be up to 8 MiB."""


# The running counts of a `Replay` that a rolled-back batch takes back (its points tally has its own).
_COUNTS = ("applied", "duplicates", "problems", "warnings", "issued", "redeemed", "expired", "reversed")
_counts = operator.attrgetter(*_COUNTS)  # one C call for the tuple: a group per line in memory


@dataclass
class Replay:
    """What a replay did, as running totals: events applied, events processed before, lines
    refused, points by ledger kind, and what each customer it met earned. `line` is the last
    line read; `stopped` says why it ended early: "interrupted" (`stop()` said so, between two
    events), "failed" (`failure` is the store's error, RE605), or what a caller that caught an
    exception sets ("interrupted at once" in `loyalty run`)."""

    applied: int = 0
    duplicates: int = 0
    problems: int = 0
    warnings: int = 0
    issued: Decimal = ZERO
    redeemed: Decimal = ZERO
    expired: Decimal = ZERO
    reversed: Decimal = ZERO
    points: CustomerTally = field(default_factory=CustomerTally)
    """Points earned in this run by every customer an event named (0 for one whose events had
    all been processed before): the customers of the run, and what `--by-customer` shows."""
    line: int = 0
    stopped: str | None = None
    failure: Diagnostic | None = None

    @property
    def customers(self) -> int:
        return len(self.points)

    def _saved(self) -> tuple[Any, ...]:
        """The counts, to go back to (`_restore`) if the batch in progress is rolled back."""
        return _counts(self)

    def _restore(self, saved: tuple[Any, ...]) -> None:
        """Back to the counts `_saved` gave: a batch rolled back counts for nothing."""
        for name, value in zip(_COUNTS, saved, strict=True):
            setattr(self, name, value)
        self.points.discard()

    def add(self, counted: Counted) -> None:
        """Add what one line of another replay counted (a worker's: `replay_workers`); the points
        are staged in the tally until `points.commit()`."""
        for name, value in zip(_COUNTS, counted.counts, strict=True):
            setattr(self, name, getattr(self, name) + value)
        for customer, points in counted.earned:
            self.points.add(customer, points)

    def count(self, outcome: Decided) -> None:
        """Add an applied event's ledger entries to the totals (as the books count them:
        a positive adjustment as issued, a negative one as reversed)."""
        made = (
            outcome.ledger_points()
            if isinstance(outcome, Result)
            else [(entry.kind, entry.points) for entry in outcome.new_ledger_entries]
        )
        for kind, points in made:
            if kind == "earn" or (kind == "adjust" and points > 0):
                self.issued += points
            elif kind == "burn":
                self.redeemed -= points
            elif kind == "expire":
                self.expired -= points
            else:
                self.reversed -= points


OnOutcome = Callable[[int, Outcome, bool], None]
"""Called with (line number, outcome, duplicate) for every outcome, in file order: an event
applied, or one processed before (`duplicate`, its original outcome; from a store that keeps no
outcomes, `loyalty run`'s in memory, the engine's answer for a duplicate, with no effects), then
a referrer's reward it gave. Without it, no outcome is built: the totals come from the engine's
results."""

OnDecided = Callable[[int, Decided, bool], None]
"""As `OnOutcome`, but given what the service has of the event (`Decided`: the engine's `Result`
of an event applied now), not its `Outcome`: building that (the awards' and effects' models, the
state) costs more than deciding a purchase's points; `loyalty run` builds it only for --json, and
prints its line from the `Result` itself."""

OnProblem = Callable[[Diagnostic], None]
"""Called with every problem (a refused line) and warning, as it is found."""


@dataclass(frozen=True)
class Counted:
    """What one acknowledged line added to a replay's totals: the differences of the running
    counts (in the order of `Replay`'s fields: applied, duplicates, problems, warnings, issued,
    redeemed, expired, reversed) and the points each customer it named earned. A worker of
    `replay_worker` sends these to the parent, which adds them up in file order (`Replay.add`)."""

    number: int
    counts: tuple[Any, ...]
    earned: tuple[tuple[str, Decimal], ...]


OnCounted = Callable[[Counted], None]

OnHandled = Callable[[int, Handled], None]
"""Called with (line number, what the service answered) for a line handled, as it is handled:
before its batch commits, and again if the batch is done again."""


def replay(
    loyalty: Loyalty,
    path: str | Path,
    on_outcome: OnOutcome | None = None,
    *,
    on_decided: OnDecided | None = None,
    on_problem: OnProblem | None = None,
    stop: Callable[[], bool] | None = None,
    on_line: Callable[[int], None] | None = None,
    batch: int = 1,
) -> Replay:
    """Process every event of a JSON Lines file in order, each in its own store transaction (or
    `batch` lines to a transaction), one line at a time; see the module docstring.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as lines:
        return replay_lines(
            loyalty,
            str(path),
            bounded_lines(lines),
            on_outcome,
            on_decided=on_decided,
            on_problem=on_problem,
            stop=stop,
            on_line=on_line,
            batch=batch,
        )


def replay_lines(
    loyalty: Loyalty,
    name: str,
    lines: Iterable[bytes | None],
    on_outcome: OnOutcome | None = None,
    *,
    on_decided: OnDecided | None = None,
    into: Replay | None = None,
    on_problem: OnProblem | None = None,
    stop: Callable[[], bool] | None = None,
    on_line: Callable[[int], None] | None = None,
    batch: int = 1,
) -> Replay:
    """`replay` over lines already open (`name` is the file's name in diagnostics; a line that is
    None was too long to read, and is reported as such). `stop` is asked before each line;
    `on_line` is told each line number once the line is acknowledged (its batch committed). The
    totals go into `into` when given, so that a caller interrupted by an exception (a second
    Ctrl-C) still has them: those of the batches committed. `batch`: lines per transaction."""
    return replay_numbered(
        loyalty,
        name,
        enumerate(lines, start=1),
        on_outcome,
        on_decided=on_decided,
        into=into,
        on_problem=on_problem,
        stop=stop,
        on_line=on_line,
        batch=batch,
    )


def replay_numbered(
    loyalty: Loyalty,
    name: str,
    numbered: Iterable[tuple[int, bytes | None]],
    on_outcome: OnOutcome | None = None,
    *,
    on_decided: OnDecided | None = None,
    into: Replay | None = None,
    on_problem: OnProblem | None = None,
    stop: Callable[[], bool] | None = None,
    on_line: Callable[[int], None] | None = None,
    batch: int = 1,
    idle: Callable[[], bool] | None = None,
    on_counted: OnCounted | None = None,
    on_handled: OnHandled | None = None,
) -> Replay:
    """`replay_lines` over lines that carry their own numbers (in increasing order, not
    necessarily consecutive: a worker of `replay_worker` gets the lines of its customers). `idle`,
    asked before each line after a batch's first, says that the next line is not there yet: the
    batch then ends and commits rather than holding the lines it has, unacknowledged, while it
    waits (a worker whose parent waits for those acknowledgements). `on_counted` is told what each
    line added to the totals, once it is acknowledged, after `on_line`. `on_decided` is told what
    `on_outcome` is, but as the service has it (`OnDecided`), in the same order. `on_handled` is
    told what the service answered a line (not refused) at once, before it commits."""
    result = Replay() if into is None else into
    report = on_problem or (lambda _: None)
    run = _Run(loyalty, result, on_outcome, report, name, on_line, on_counted, on_decided, on_handled)
    lines = iter(numbered)
    if batch == 1:
        return run.each(lines, stop)
    while True:
        taking = _Taking(lines, batch, stop, result, idle)
        run.group(taking, grouped=batch > 1)
        if result.failure is not None and batch > 1 and run.commit_failed and len(taking.taken) > 1:
            # Its commit failed (another process wrote what an optimistic batch read, a deadlock
            # with another worker): once more as a batch, read afresh.
            result.failure = None
            run.group(taking.taken, grouped=True)
        if result.failure is not None and batch > 1 and taking.taken:
            # The batch was rolled back (a deadlock with another worker, a lock held too long):
            # once more, a transaction per line, so that a failure that stays is placed at its line.
            result.failure = None
            for one in taking.taken:
                for attempt in range(TRIES):  # a deadlock again: the others have gone on since
                    run.group([one], grouped=False)
                    if result.failure is None or not run.transient or attempt == TRIES - 1:
                        break
                    result.failure = None
                    _pause(attempt)
                if result.failure is not None:
                    break
        if result.failure is not None:
            result.stopped = "failed"
        if result.stopped is not None or taking.ended:
            return result


def _pause(attempt: int) -> None:
    """A moment before a transaction the database gave up is tried again (`TRIES`), longer each
    time and never the same for two processes, so that those that met are not in step again."""
    time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))


class _Taking:
    """The next batch's lines: up to `size` (and about `_BATCH_BYTES`), each kept in `taken` (to be
    done again one by one if the batch fails); `stop` is asked before each line, `idle` before each
    line after the first (`replay_numbered`)."""

    def __init__(
        self,
        numbered: Iterator[tuple[int, bytes | None]],
        size: int,
        stop: Callable[[], bool] | None,
        result: Replay,
        idle: Callable[[], bool] | None = None,
    ) -> None:
        self.numbered = numbered
        self.size = size
        self.stop = stop
        self.result = result
        self.idle = idle
        self.taken: list[tuple[int, bytes | None]] = []
        self.ended = False

    def __iter__(self) -> Iterator[tuple[int, bytes | None]]:
        held = 0
        while len(self.taken) < self.size and held <= _BATCH_BYTES:
            if self.stop is not None and self.stop():
                self.result.stopped = "interrupted"
                return
            if self.taken and self.idle is not None and self.idle():
                return  # nothing more to read now: this batch commits
            item = next(self.numbered, None)
            if item is None:
                self.ended = True
                return
            self.taken.append(item)
            held += 0 if item[1] is None else len(item[1])
            yield item


class _LineFailedError(Exception):
    """A line failed in the store: its batch is rolled back."""


@dataclass
class _Run:
    """A replay's callbacks and totals, and the acknowledgements of the batch in progress: what is
    told about its lines (outcomes, problems, progress) waits until it commits."""

    loyalty: Loyalty
    result: Replay
    on_outcome: OnOutcome | None
    report: OnProblem
    name: str
    on_line: Callable[[int], None] | None
    on_counted: OnCounted | None = None
    on_decided: OnDecided | None = None
    on_handled: OnHandled | None = None
    acks: list[Callable[[], None]] = field(default_factory=list)
    commit_failed: bool = False
    """The last group failed at its commit, not at one of its lines."""
    transient: bool = False
    """The last failure was the database's for another transaction's sake (`TransientError`)."""
    grouped: bool = False
    """Whether the lines in progress are one group (told once it commits)."""
    earned: list[tuple[str, Decimal]] = field(default_factory=list)
    """The points each customer earned on the line in progress, for `on_counted`."""

    def group(self, items: Iterable[tuple[int, bytes | None]], *, grouped: bool) -> None:
        """The lines in one transaction (`grouped`) or each in its own; what they did is told once
        committed, and counts for nothing if rolled back."""
        result = self.result
        saved = result._saved()
        self.acks = []
        self.commit_failed = False
        lines = iter(items)
        first = next(lines, None)
        if first is None:
            return
        result.line = first[0]  # a group that cannot begin fails at its first line
        self.grouped = grouped
        try:
            with self.loyalty.store.group() if grouped else contextlib.nullcontext():
                for number, raw in itertools.chain([first], lines):
                    result.line = number
                    before = result._saved() if self.on_counted is not None else ()
                    self.earned = []
                    self._one(number, raw)
                    if result.failure is not None:
                        raise _LineFailedError
                    if self.on_line is not None:
                        self.acks.append(functools.partial(self.on_line, number))
                    if self.on_counted is not None:
                        counts = tuple(a - b for a, b in zip(result._saved(), before, strict=True))
                        counted = Counted(number, counts, tuple(self.earned))
                        self.acks.append(functools.partial(self.on_counted, counted))
        except _LineFailedError:
            result._restore(saved)
            return
        except StoreError as error:  # the commit itself failed
            self.transient = isinstance(error, TransientError)
            failure = store_failed(error, result.line, None, None)
            result._restore(saved)
            result.failure = failure
            self.commit_failed = True
            return
        except BaseException:
            result._restore(saved)
            raise
        result.points.commit()
        acks, self.acks = self.acks, []
        for ack in acks:
            ack()

    def each(self, lines: Iterator[tuple[int, bytes | None]], stop: Callable[[], bool] | None) -> Replay:
        """`replay_numbered` with a transaction per line (`batch=1`, `loyalty run` in memory):
        what `group` does for a group of one line, without a group's machinery around each line
        (its `_Taking`, a generator, a chain, a null context, the counts saved twice): ~10 µs a
        line of the ~60 a run spends around the step. `stop` is asked before each line is read, as
        `_Taking` asks it; a line's failure stops the run there (`idle` is for batches only)."""
        result = self.result
        self.grouped = False
        acks: list[Callable[[], None]]
        while True:
            if stop is not None and stop():
                result.stopped = "interrupted"
                return result
            item = next(lines, None)
            if item is None:
                return result
            number, raw = item
            result.line = number
            saved = result._saved()
            self.acks = acks = []
            self.earned = []
            try:  # `_alone`, inline: a call a line
                self._one(number, raw)
            except StoreError as error:  # as `group`'s commit failing: none outside a group
                self.transient = isinstance(error, TransientError)
                result.failure = store_failed(error, number, None, None)
            except BaseException:
                result._restore(saved)
                raise
            if result.failure is not None and self.transient:  # as a batch's line done on its own
                for attempt in range(TRIES - 1):  # a deadlock again: the others have gone on since
                    result._restore(saved)
                    result.failure = None
                    _pause(attempt)
                    self.acks = acks = []
                    self.earned = []
                    self._alone(number, raw, saved)
                    if result.failure is None or not self.transient:
                        break
            if result.failure is not None:
                result._restore(saved)
                result.stopped = "failed"
                return result
            if self.on_line is not None:
                acks.append(functools.partial(self.on_line, number))
            if self.on_counted is not None:
                counts = tuple(a - b for a, b in zip(result._saved(), saved, strict=True))
                acks.append(functools.partial(self.on_counted, Counted(number, counts, tuple(self.earned))))
            result.points.commit()
            self.acks = []
            for ack in acks:
                ack()

    def _alone(self, number: int, raw: bytes | None, saved: tuple[Any, ...]) -> None:
        """One line in its own transaction (`each`): a store's failure is the run's `failure`."""
        self.transient = False
        try:
            self._one(number, raw)
        except StoreError as error:  # as `group`'s commit failing: none outside a group
            self.transient = isinstance(error, TransientError)
            self.result.failure = store_failed(error, number, None, None)
        except BaseException:
            self.result._restore(saved)
            raise

    def _one(self, number: int, raw: bytes | None) -> None:
        if raw is None:
            self.result.problems += 1
            self._tell(too_long(self.name, number))
            return
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte order mark is no event
        _line(self, number, raw.rstrip(b"\n").rstrip(b"\r"))

    def earn(self, customer: str, points: Decimal) -> None:
        """The points a customer earned on the line (0: a customer of the run all the same)."""
        self.result.points.add(customer, points)
        if self.on_counted is not None:
            self.earned.append((customer, points))

    def _tell(self, diagnostic: Diagnostic) -> None:
        self.acks.append(functools.partial(self.report, diagnostic))

    def _told(self, number: int, decided: Decided, duplicate: bool) -> None:
        """The outcome goes to `on_outcome` once acknowledged: built (`Result.outcome()`) only
        when there is someone to tell (not with `loyalty run -q`); what was decided goes to
        `on_decided` as it is, for a listener that builds the outcome only if it needs it."""
        if self.on_decided is not None:
            if self.grouped and isinstance(decided, StreamResult):
                # Told once the group commits, when the customer's working state (an SQL store's,
                # `?working=1`) may have moved on: its state is read now (engine/stream.py).
                decided.state  # noqa: B018
            self.acks.append(functools.partial(self.on_decided, number, decided, duplicate))
        if self.on_outcome is not None:
            outcome = decided.outcome() if isinstance(decided, Result) else decided
            self.acks.append(functools.partial(self.on_outcome, number, outcome, duplicate))


def _line(run: _Run, number: int, raw: bytes) -> None:
    result, report, name = run.result, run._tell, run.name
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        shown = raw.decode("utf-8", errors="replace")
        at = len(raw[: error.start].decode("utf-8", errors="replace"))
        result.problems += 1
        report(
            Diagnostic(
                "RE414",
                f"line {number} is not UTF-8 text (byte 0x{raw[error.start]:02X} here)",
                Span(SourceFile(name, shown, first_line=number), at, at + 1),
                hint="save the file with UTF-8 encoding",
            )
        )
        return
    if not line or line.isspace():  # `not line.strip()`, without a copy of the line
        return
    try:
        event = parse_event_text(line)
        handled = run.loyalty.handle(event)
    except jsonio.JsonError as problem:
        source = SourceFile(name, line, first_line=number)
        at = min(problem.position, len(line))
        result.problems += 1
        report(
            Diagnostic(
                "RE414",
                f"line {number} is not JSON: {problem.message.removeprefix('not valid JSON: ')}",
                Span(source, at, min(at + 1, len(line))),
                hint=problem.hint or "one event per line, as a JSON object",
            )
        )
        return
    except EventError as error:
        source = SourceFile(name, line, first_line=number)
        result.problems += 1
        for d in error.diagnostics:
            span = field_span(source, d) or Span(source, 0, len(line))
            report(replace(d, message=f"line {number}: {d.message}", span=span))
        return
    except StoreError as error:
        run.transient = isinstance(error, TransientError)
        result.failure = store_failed(error, number, event, whole_line(name, number, line))
        return
    if run.on_handled is not None:
        run.on_handled(number, handled)
    if handled.unknown_referrer is not None:
        result.warnings += 1
        report(
            Diagnostic(
                "RE607",
                f"line {number}: the referral code {handled.unknown_referrer} names no customer the "
                "store knew at the purchase's time: the referrer's reward was not given",
                whole_line(name, number, line),
                hint="process an event of the referrer's dated before the purchase (or import "
                "their state) first, then deliver this event again: the reward is given then, once",
                severity=Severity.WARNING,
            )
        )
    decided = handled.decided
    applied = [] if handled.duplicate else [decided]
    if handled.duplicate:
        result.duplicates += 1
        run.earn(decided.customer, ZERO)
        run._told(number, decided, True)
    if handled.referred is not None and handled.referrer_applied:
        applied.append(handled.referred)  # on a redelivery too: a reward owed until now
    for done in applied:
        result.applied += 1
        result.count(done)
        run.earn(done.customer, earned(done))
        run._told(number, done, False)


def earned(decided: Decided) -> Decimal:
    """The points an applied event's awards gave (`totals.points`), added up from its awards as
    the engine adds them up for its totals (engine/settle.py): a step's totals are made only when
    read (engine/step.py), which `loyalty run -q` has no other reason to do. The whole step's
    result (`LaterResult`) tells them from its ints, its awards left unmade."""
    if not isinstance(decided, Result):
        return decided.totals.points
    if decided.__class__ is LaterResult:
        return decided.points
    points = ZERO
    for award in decided.awards:
        points += award.points
    return points
