"""Replaying a stream of events through a store: many customers, in file order (`loyalty run`).

Input: a JSON Lines file, one event per line (numbers exact). Each line is one transaction of
the store (memory, SQLite or PostgreSQL): a bad line (not UTF-8, not JSON, not a valid event, refused by
the engine) is reported with its line number and skipped, and touches nothing; an event the
store has processed before is reported as such and applied no second time, so replaying a file
into a database again changes nothing.

Output: running totals (`Replay`), never the customers' states: a year of history for many
customers is more than memory holds, and the store keeps them anyway. Outcomes and problems go to
callbacks as they come, so a run that is killed has already reported what it met. A replay stops
early, between two events, when `stop()` says so (Ctrl-C in `loyalty run`) or when the store fails
(RE605, naming the line and the event: the events before it are committed, running the same file
again applies the rest, each once).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from rules_engine import jsonio
from rules_engine.engine.outcome import Outcome
from rules_engine.errors import Diagnostic, EventError, Severity, StoreError
from rules_engine.service import Loyalty
from rules_engine.source import SourceFile, Span

ZERO = Decimal(0)


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
    points: dict[str, Decimal] = field(default_factory=dict)
    """Points earned in this run by every customer an event named (0 for one whose events had
    all been processed before): the customers of the run, and what `--by-customer` shows."""
    line: int = 0
    stopped: str | None = None
    failure: Diagnostic | None = None

    @property
    def customers(self) -> int:
        return len(self.points)

    def count(self, outcome: Outcome) -> None:
        """Add an applied outcome's ledger entries to the totals (as the books count them:
        a positive adjustment as issued, a negative one as reversed)."""
        for entry in outcome.new_ledger_entries:
            if entry.kind == "earn" or (entry.kind == "adjust" and entry.points > 0):
                self.issued += entry.points
            elif entry.kind == "burn":
                self.redeemed -= entry.points
            elif entry.kind == "expire":
                self.expired -= entry.points
            else:
                self.reversed -= entry.points


OnOutcome = Callable[[int, Outcome, bool], None]
"""Called with (line number, outcome, duplicate) for every outcome, in file order: an event
applied, or one processed before (`duplicate`, its original outcome), then a referrer's reward
it gave."""

OnProblem = Callable[[Diagnostic], None]
"""Called with every problem (a refused line) and warning, as it is found."""


def replay(
    loyalty: Loyalty,
    path: str | Path,
    on_outcome: OnOutcome | None = None,
    *,
    on_problem: OnProblem | None = None,
    stop: Callable[[], bool] | None = None,
    on_line: Callable[[int], None] | None = None,
) -> Replay:
    """Process every event of a JSON Lines file in order, each in its own store transaction, one
    line at a time; see the module docstring.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as lines:
        return replay_lines(
            loyalty,
            str(path),
            bounded_lines(lines),
            on_outcome,
            on_problem=on_problem,
            stop=stop,
            on_line=on_line,
        )


def replay_lines(
    loyalty: Loyalty,
    name: str,
    lines: Iterable[bytes | None],
    on_outcome: OnOutcome | None = None,
    *,
    into: Replay | None = None,
    on_problem: OnProblem | None = None,
    stop: Callable[[], bool] | None = None,
    on_line: Callable[[int], None] | None = None,
) -> Replay:
    """`replay` over lines already open (`name` is the file's name in diagnostics; a line that is
    None was too long to read, and is reported as such). `stop` is
    asked before each line; `on_line` is told each line number once the line is done. The
    totals go into `into` when given, so that a caller interrupted by an exception (a second
    Ctrl-C) still has them."""
    result = Replay() if into is None else into
    report = on_problem or (lambda _: None)
    for number, raw in enumerate(lines, start=1):
        if stop is not None and stop():
            result.stopped = "interrupted"
            break
        result.line = number
        if raw is None:
            result.problems += 1
            report(_too_long(name, number))
            continue
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte order mark is no event
        _line(loyalty, result, on_outcome, report, name, number, raw.rstrip(b"\n").rstrip(b"\r"))
        if result.failure is not None:
            result.stopped = "failed"
            break
        if on_line is not None:
            on_line(number)
    return result


def bounded_lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """The lines of a stream, each read no further than `jsonio.MAX_TEXT` bytes: a longer line
    is None (the rest of it skipped unread into memory), so one huge line is one bad line."""
    while True:
        raw = stream.readline(jsonio.MAX_TEXT + 1)
        if not raw:
            return
        if len(raw) <= jsonio.MAX_TEXT or raw.endswith(b"\n"):
            yield raw
            continue
        while raw and not raw.endswith(b"\n"):
            raw = stream.readline(1024 * 1024)
        yield None


def _too_long(name: str, number: int) -> Diagnostic:
    limit = jsonio.MAX_TEXT // (1024 * 1024)
    return Diagnostic(
        "RE414",
        f"{name}: line {number} is longer than {limit} MiB: skipped unread",
        hint=f"one event per line, each at most {limit} MiB",
    )


def _line(
    loyalty: Loyalty,
    result: Replay,
    on_outcome: OnOutcome | None,
    report: OnProblem,
    name: str,
    number: int,
    raw: bytes,
) -> None:
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
    if not line.strip():
        return
    source = SourceFile(name, line, first_line=number)
    span = Span(source, 0, len(line))
    try:
        data = jsonio.loads(line)
    except jsonio.JsonError as problem:
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
    try:
        handled = loyalty.handle(data)
    except EventError as error:
        result.problems += 1
        for d in error.diagnostics:
            report(replace(d, message=f"line {number}: {d.message}", span=_field(source, d) or span))
        return
    except StoreError as error:
        result.failure = _store_failed(error, number, data, span)
        return
    if handled.unknown_referrer is not None:
        result.warnings += 1
        report(
            Diagnostic(
                "RE607",
                f"line {number}: the referral code {handled.unknown_referrer} names no customer the "
                "store knows: the referrer's reward was not given",
                span,
                hint="process an event of the referrer's (or import their state) first, then "
                "deliver this event again: the reward is given then, once",
                severity=Severity.WARNING,
            )
        )
    applied = [] if handled.duplicate else [handled.outcome]
    if handled.duplicate:
        result.duplicates += 1
        result.points.setdefault(handled.outcome.customer, ZERO)
        if on_outcome is not None:
            on_outcome(number, handled.outcome, True)
    if handled.referrer is not None and handled.referrer_applied:
        applied.append(handled.referrer)  # on a redelivery too: a reward owed until now
    for done in applied:
        result.applied += 1
        result.count(done)
        result.points[done.customer] = result.points.get(done.customer, ZERO) + done.totals.points
        if on_outcome is not None:
            on_outcome(number, done, False)


def _store_failed(error: StoreError, number: int, data: Any, span: Span) -> Diagnostic:
    """The store's error (RE605), at the line and naming the event it was processing."""
    said = error.diagnostics[0]
    event = data.get("id") if isinstance(data, dict) else None
    customer = data.get("customer") if isinstance(data, dict) else None
    what = f"event {event!r} of customer {customer!r}" if event is not None else "the event"
    return Diagnostic(
        said.code,
        f"line {number}: {what}: {said.message}",
        span,
        hint="nothing of this event was written, and the run stopped here; every line before it "
        "is done. Run the same file again when the database answers: events already applied are "
        "skipped, the rest applied once",
    )


def _field(source: SourceFile, diagnostic: Diagnostic) -> Span | None:
    """The span of the field a diagnostic names in an event's line: the caret goes under it.

    The line is walked once for all its diagnostics (`_spans` keeps the last line's), not once
    for each: 10,000 refused prices on one line took an hour to place.
    """
    if diagnostic.path is None:
        return None
    found = _spans(source.text).find(diagnostic.path)
    return None if found is None else Span(source, *found)


@functools.lru_cache(maxsize=1)
def _spans(line: str) -> jsonio.ValueSpans:
    return jsonio.value_spans(line)
