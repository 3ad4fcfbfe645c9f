"""Replaying a stream of events through a store: many customers, in file order (`loyalty run`).

Input: a JSON Lines file, one event per line (numbers exact). Each line is one transaction of
the store (memory, SQLite or PostgreSQL): a bad line (not UTF-8, not JSON, not a valid event, refused by
the engine) is reported with its line number and skipped, and touches nothing; an event the
store has processed before is reported as such and applied no second time, so replaying a file
into a database again changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from rules_engine import jsonio
from rules_engine.engine.outcome import Outcome
from rules_engine.errors import Diagnostic, EventError, Severity
from rules_engine.service import Loyalty
from rules_engine.source import SourceFile, Span
from rules_engine.state.customer import CustomerState


@dataclass
class Replay:
    """What a replay produced: the outcomes applied, the events already processed before, every
    customer's final state, the bad lines."""

    outcomes: list[tuple[int, Outcome]] = field(default_factory=list)
    duplicates: list[tuple[int, Outcome]] = field(default_factory=list)
    states: dict[str, CustomerState] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    points: dict[str, Decimal] = field(default_factory=dict)


def replay(loyalty: Loyalty, path: str | Path) -> Replay:
    """Process every event of a JSON Lines file in order, each in its own store transaction;
    see the module docstring."""
    result = Replay()
    data = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")  # a byte order mark is no event
    lines = list(_lines(data))
    source = SourceFile(str(path), "\n".join(line for _, _, line, _ in lines))
    for number, offset, line, bad_byte in lines:
        if bad_byte is not None:
            at = offset + bad_byte[0]
            result.problems.append(
                Diagnostic(
                    "RE414",
                    f"line {number} is not UTF-8 text (byte 0x{bad_byte[1]:02X} here)",
                    Span(source, at, at + 1),
                    hint="save the file with UTF-8 encoding",
                )
            )
            continue
        if not line.strip():
            continue
        span = Span(source, offset, offset + len(line))
        try:
            data = jsonio.loads(line)
        except (json.JSONDecodeError, ValueError) as problem:
            result.problems.append(
                Diagnostic(
                    "RE414",
                    f"line {number} is not JSON: {problem}",
                    span,
                    hint="one event per line, as a JSON object",
                )
            )
            continue
        try:
            handled = loyalty.handle(data)
        except EventError as error:
            result.problems += [
                Diagnostic(d.code, f"line {number}: {d.message}", span, d.hint) for d in error.diagnostics
            ]
            continue
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
            result.duplicates.append((number, handled.outcome))
            result.states[handled.outcome.customer] = handled.outcome.state
        if handled.referrer is not None and handled.referrer_applied:
            applied.append(handled.referrer)  # on a redelivery too: a reward owed until now
        for done in applied:
            result.outcomes.append((number, done))
            result.states[done.customer] = done.state
            result.points[done.customer] = result.points.get(done.customer, Decimal(0)) + done.totals.points
    return result


def _lines(data: bytes) -> Iterator[tuple[int, int, str, tuple[int, int] | None]]:
    """(number, offset of the line in the text, the line, where its first byte that is not UTF-8
    is as (character in the line, byte)) for each line; such a line is shown with U+FFFD there."""
    offset = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        bad = None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw.decode("utf-8", errors="replace")
            bad = (len(raw[: error.start].decode("utf-8", errors="replace")), raw[error.start])
        yield number, offset, line.rstrip("\r"), bad
        offset += len(line) + 1
