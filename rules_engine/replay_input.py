"""A replay's input: its lines, each read bounded, and what is wrong with one placed at its line.

Why apart from replay.py: reading a stream's lines and placing a problem in them (the field a
diagnostic names, the whole line, the store's failure at its line) needs neither the service nor
the engine; `simulate` reads its streams with `bounded_lines` too. replay.py runs the lines
through the service and keeps the running totals.

Input: a binary stream, or a line's text and its diagnostics. Output: the lines (None for one past
`jsonio.MAX_TEXT`), spans and diagnostics (RE414 a line too long, RE605 the store's failure).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import BinaryIO

from rules_engine import jsonio
from rules_engine.engine.events import AnyEvent
from rules_engine.errors import Diagnostic, StoreError
from rules_engine.source import SourceFile, Span
from rules_engine.store.sql import RETRY_HINT


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


def too_long(name: str, number: int) -> Diagnostic:
    """RE414 for a line `bounded_lines` gave as None: said once, and the replay goes on."""
    limit = jsonio.MAX_TEXT // (1024 * 1024)
    return Diagnostic(
        "RE414",
        f"{name}: line {number} is longer than {limit} MiB: skipped unread",
        hint=f"one event per line, each at most {limit} MiB",
    )


def whole_line(name: str, number: int, line: str) -> Span:
    """The whole line, where a diagnostic points at no field of it."""
    return Span(SourceFile(name, line, first_line=number), 0, len(line))


def store_failed(error: StoreError, number: int, event: AnyEvent | None, span: Span | None) -> Diagnostic:
    """The store's error (RE605), at the line and naming the event it was processing (without the
    event: a batch's commit failed, after its last line)."""
    said = error.diagnostics[0]
    what = f"event {event.id!r} of customer {event.customer!r}" if event is not None else "the event"
    return Diagnostic(
        said.code,
        f"line {number}: {what}: {said.message}",
        span,
        hint="nothing of this event was written, and the run stopped here; every line before it "
        "is done. Run the same file again when the database answers: events already applied are "
        "skipped, the rest applied once"
        if said.hint in (None, RETRY_HINT)
        else f"the run stopped here, every line before it done: {said.hint}",
    )


def field_span(source: SourceFile, diagnostic: Diagnostic) -> Span | None:
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
