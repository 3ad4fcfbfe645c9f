"""Replaying a stream of events through a store: many customers, in file order (`loyalty run`).

Input: a JSON Lines file, one event per line (numbers exact). Each line is one transaction of
the store (memory, SQLite or PostgreSQL): a bad line (not UTF-8, not JSON, not a valid event, refused by
the engine) is reported with its line number and skipped, and touches nothing; an event the
store has processed before is reported as such and applied no second time, so replaying a file
into a database again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from rules_engine import jsonio
from rules_engine.engine.outcome import Outcome
from rules_engine.errors import Diagnostic, EventError, Severity
from rules_engine.service import Loyalty
from rules_engine.source import SourceFile, Span
from rules_engine.state.customer import CustomerState


@dataclass
class Replay:
    """What a replay leaves when it is over: how many events it applied, how many had been
    processed before, every customer's final state and what they earned in the run, the bad
    lines. The outcomes themselves go to `on_outcome` as they come, not into a list: a year of
    history is more outcomes than memory holds."""

    applied: int = 0
    duplicates: int = 0
    states: dict[str, CustomerState] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    points: dict[str, Decimal] = field(default_factory=dict)


OnOutcome = Callable[[int, Outcome, bool], None]
"""Called with (line number, outcome, duplicate) for every outcome, in file order: an event
applied, or one processed before (`duplicate`, its original outcome), then a referrer's reward
it gave."""


def replay(loyalty: Loyalty, path: str | Path, on_outcome: OnOutcome | None = None) -> Replay:
    """Process every event of a JSON Lines file in order, each in its own store transaction, one
    line at a time; see the module docstring.

    Raises:
        OSError: the file cannot be read.
    """
    result = Replay()
    name = str(path)
    with open(path, "rb") as lines:
        for number, raw in enumerate(_bounded_lines(lines), start=1):
            if raw is None:
                result.problems.append(_too_long(name, number))
                continue
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte order mark is no event
            _line(loyalty, result, on_outcome, name, number, raw.rstrip(b"\n").rstrip(b"\r"))
    return result


def _bounded_lines(stream: BinaryIO) -> Iterator[bytes | None]:
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
    loyalty: Loyalty, result: Replay, on_outcome: OnOutcome | None, name: str, number: int, raw: bytes
) -> None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        shown = raw.decode("utf-8", errors="replace")
        at = len(raw[: error.start].decode("utf-8", errors="replace"))
        result.problems.append(
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
        result.problems.append(
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
        result.problems += [
            Diagnostic(d.code, f"line {number}: {d.message}", _field(source, d) or span, d.hint)
            for d in error.diagnostics
        ]
        return
    if handled.unknown_referrer is not None:
        result.warnings.append(
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
        result.states[handled.outcome.customer] = handled.outcome.state
        if on_outcome is not None:
            on_outcome(number, handled.outcome, True)
    if handled.referrer is not None and handled.referrer_applied:
        applied.append(handled.referrer)  # on a redelivery too: a reward owed until now
    for done in applied:
        result.applied += 1
        result.states[done.customer] = done.state
        result.points[done.customer] = result.points.get(done.customer, Decimal(0)) + done.totals.points
        if on_outcome is not None:
            on_outcome(number, done, False)


def _field(source: SourceFile, diagnostic: Diagnostic) -> Span | None:
    """The span of the field a diagnostic names in an event's line: the caret goes under it."""
    if diagnostic.path is None:
        return None
    found = jsonio.value_span(source.text, diagnostic.path)
    return None if found is None else Span(source, *found)
