"""A history cut into batches of whole customers: one pass over the events, each line appended to
the batch file its customer hashes to, so that a worker holds one batch in memory, never the
history.

Input: events as JSON lines (`loyalty run`'s input, or what `rules_engine/simulate/tables.py`
makes of a transaction table). Output: `Batches`, the batch files (`<line>\\t<customer>\\t<event>`
records, in file order; the customer id as a JSON string, so that it holds no tab) in a temporary
folder, with what the pass learnt: how many events and customers,
the first and last moment, the lines that are no event at all (not UTF-8, not JSON, no customer:
problems, counted and skipped as `loyalty run` skips them).

Only the customer and the time are read here (the standard library's JSON, fast); the worker
decodes each event once, exactly (`rules_engine.jsonio`).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rules_engine import jsonio
from rules_engine.errors import Diagnostic
from rules_engine.replay_input import too_long

KEPT_PROBLEMS = 20
"""Problems a simulation reports in full, the first by line (all are counted)."""

Problem = tuple[int, Diagnostic]
"""A problem and the line it is at: the report's samples are the first by line, whichever batch
found them (a batch runs customer after customer, not in line order)."""

BATCH_BYTES = 4 * 1024 * 1024
"""About this many bytes of events per batch (the memory a worker holds is a few times this)."""


@dataclass
class Batches:
    folder: Path
    paths: list[Path]
    events: int = 0
    customers: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    problems: list[Problem] = field(default_factory=list)
    bad_lines: int = 0

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def note(self, number: int, problem: Diagnostic) -> None:
        """A line that is no event: counted, and its problem kept while fewer than `KEPT_PROBLEMS`."""
        self.bad_lines += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append((number, problem))

    def months(self, zone: dt.tzinfo) -> tuple[str, ...]:
        """Every month from the first event's to the last's, in the program's time zone."""
        if self.first is None or self.last is None:
            return ()
        start, end = self.first.astimezone(zone), self.last.astimezone(zone)
        months = []
        year, month = start.year, start.month
        while (year, month) <= (end.year, end.month):
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return tuple(months)


def first_problems(problems: Iterable[Problem]) -> list[Problem]:
    """The first `KEPT_PROBLEMS` by line (those of one line in the order they were found)."""
    return sorted(problems, key=lambda problem: problem[0])[:KEPT_PROBLEMS]


def batch_count(size: int, workers: int, batch_bytes: int = BATCH_BYTES) -> int:
    """Enough batches to keep each about `batch_bytes`, and at least four per worker (so that a
    slow batch does not leave the other cores idle at the end)."""
    return max(1, min(4096, max(size // batch_bytes + 1, 4 * workers)))


def split(lines: Iterable[bytes | None], name: str, count: int) -> Batches:
    """Cut the lines into `count` batch files by customer (crc32 of the id). A line None is one
    too long to read (`replay_input.bounded_lines`): a problem (RE414), as `loyalty run` says."""
    folder = Path(tempfile.mkdtemp(prefix="loyalty-simulate-"))
    paths = [folder / f"batch-{index:04d}.tsv" for index in range(count)]
    batches = Batches(folder, paths)
    files: list[IO[str]] = [open(path, "w", encoding="utf-8", newline="\n") for path in paths]  # noqa: SIM115
    customers: set[str] = set()
    try:
        for number, raw in enumerate(lines, start=1):
            if raw is None:  # it was skipped as a blank line, without a word
                batches.note(number, too_long(name, number))
                continue
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            found = _customer(raw, name, number, batches)
            if found is None:
                continue
            customer, moment, text = found
            batches.events += 1
            code = zlib.crc32(customer.encode("utf-8"))
            customers.add(customer)
            if moment is not None:
                if batches.first is None or moment < batches.first:
                    batches.first = moment
                if batches.last is None or moment > batches.last:
                    batches.last = moment
            files[code % count].write(f"{number}\t{json.dumps(customer)}\t{text}\n")
    except BaseException:
        for file in files:
            file.close()
        batches.close()
        raise
    for file in files:
        file.close()
    batches.customers = len(customers)
    return batches


def _customer(
    raw: bytes, name: str, number: int, batches: Batches
) -> tuple[str, dt.datetime | None, str] | None:
    """The line's customer, time and text; None (and a problem noted) for a line that is no event."""
    reason = None
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        reason, hint = "is not UTF-8 text", "save the file with UTF-8 encoding"
    else:
        try:
            data = _loads(text)
        except jsonio.JsonError as error:
            reason, hint = f"is not JSON: {error.message}", "one event per line, as a JSON object"
        else:
            customer = data.get("customer") if isinstance(data, dict) else None
            if not isinstance(customer, str) or not customer or "\n" in text:
                reason, hint = "is not an event with a customer", 'every event names its "customer"'
            else:
                return customer, _moment(data.get("time")), text
    batches.note(number, Diagnostic("RE414", f"{name}: line {number} {reason}", hint=hint))
    return None


def _loads(text: str) -> Any:
    """The line's value, read by the standard library's C parser (only the customer and the time
    are wanted here; the kernel reads each line again with `jsonio.loads`), or by `jsonio.loads`
    when that fails, which says why in its words: a 5,000-digit number (a ValueError of Python's
    int limit) and 100,000 nested brackets (a RecursionError) stopped `simulate` with a traceback.

    Raises:
        jsonio.JsonError: the line is not JSON we accept.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return jsonio.loads(text)


def _moment(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None
