"""A transaction table read a piece at a time, so that what is held is a piece, not the table.

`open_table(path)` gives the table's columns, the number of its first data row as a person
counts rows, about how many rows it has, and `chunks()`: its rows in file order, every column as
it is, at most `chunk_rows` at a time.

polars' own streaming readers were measured first (bench/README.md, "Tables"): `scan_csv` and
`scan_parquet` with `collect_batches`, `sink_batches` or a native `sink_parquet` all hold memory
that grows with the file (a 131 MB CSV: ~210 MB more than a 13 MB one, whatever the chunk size:
the CSV source keeps the file's bytes), so they bound nothing. Hence:

- **CSV**: the file is read in blocks of about `block_bytes`, each cut at the last line break
  outside quotes (an even number of `"` before it: RFC 4180 quoting, a quote inside a quoted
  field doubled), and each block parsed by `pl.read_csv` with the header line before it: the same
  parser, options and columns as reading the file whole (every column as text). A stray `"` in an
  unquoted field (`27" monitor`) makes a block longer, up to `MAX_ROW_BYTES`, past which it is
  refused (`UnclosedQuoteError`, RE481) rather than held whole; and it may cut a block wrongly if
  a later quoted field holds a line break;
- **Parquet**: `scan_parquet(path).slice(offset, chunk_rows)`, which reads only the row groups
  the slice needs (the file's row groups bound the memory: a writer's default is ~250,000 rows).

Failures (a file that cannot be read, that is not UTF-8, not Parquet) are polars' and the
system's own exceptions, and `UnclosedQuoteError`; `tables.py` turns them into RE481.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BLOCK_BYTES = 4 * 1024 * 1024
"""About this many bytes of a CSV file parsed at a time."""
MAX_ROW_BYTES = 64 * 1024 * 1024
"""The longest a row may be (a quoted field's line breaks included) before the quote is taken for
a stray one (`UnclosedQuoteError`)."""


@dataclass(frozen=True)
class Table:
    columns: dict[str, Any]
    """Column → its polars type (text for every column of a CSV file)."""
    first_row: int
    """The first data row as a person counts rows: 2 in a CSV file (after its header), 1 in Parquet."""
    rows: int
    """How many rows: exact for Parquet, estimated from the first block for CSV."""
    chunks: Callable[[], Iterator[Any]]
    """The rows in file order, in frames of at most `chunk_rows` (a fresh read at each call)."""


def open_table(
    path: Path, *, chunk_rows: int, block_bytes: int = BLOCK_BYTES, max_row: int = MAX_ROW_BYTES
) -> Table:
    """The table at `path` (Parquet for `.parquet`/`.pq`, else CSV, tab-separated for `.tsv`).

    Raises:
        OSError, polars.exceptions.PolarsError: the table cannot be read.
    """
    chunk_rows = max(1, chunk_rows)
    if path.suffix.lower() in (".parquet", ".pq"):
        return _parquet(path, chunk_rows)
    separator = "\t" if path.suffix.lower() == ".tsv" else ","
    return _csv(path, separator, chunk_rows, max(1, block_bytes), max_row)


def _parquet(path: Path, chunk_rows: int) -> Table:
    import polars as pl

    scan = pl.scan_parquet(path)
    columns = dict(scan.collect_schema())
    rows = scan.select(pl.len()).collect().item()

    def chunks() -> Iterator[Any]:
        for offset in range(0, rows, chunk_rows):
            yield scan.slice(offset, chunk_rows).collect()

    return Table(columns, 1, rows, chunks)


def _csv(path: Path, separator: str, chunk_rows: int, block_bytes: int, max_row: int) -> Table:
    import polars as pl

    def parse(data: bytes) -> Any:
        return pl.read_csv(io.BytesIO(data), infer_schema=False, separator=separator)

    with open(path, "rb") as stream:
        head, rest = _header(stream, block_bytes, max_row)
        if b"\r" in head.rstrip(b"\r\n"):
            raise LoneCarriageReturnError()
        columns = parse(head).columns
        first = next(_blocks(stream, rest, block_bytes, max_row), b"")  # whole rows, to count them
        sample = len(parse(head + first)) if first else 0
    size = path.stat().st_size
    rows = round(sample * (size - len(head)) / len(first)) if first else 0

    def chunks() -> Iterator[Any]:
        with open(path, "rb") as stream:
            head, first = _header(stream, block_bytes, max_row)
            for block in _blocks(stream, first, block_bytes, max_row):
                frame = parse(head + block)
                for offset in range(0, len(frame), chunk_rows):
                    yield frame.slice(offset, chunk_rows)

    return Table(dict.fromkeys(columns, pl.String), 2, rows, chunks)


class LoneCarriageReturnError(ValueError):
    """The header line holds a carriage return not followed by a line feed: the file's lines end
    with CR alone (a classic Mac text file), which polars does not take for a line break — the
    whole file read as one header line, every row a column: "0 events", and no word why.
    `tables.py` makes it RE481."""

    def __init__(self) -> None:
        super().__init__("its lines end with a carriage return alone (CR), as old Mac text files do")


class UnclosedQuoteError(ValueError):
    """A `"` opens a quoted field that does not close within `MAX_ROW_BYTES`: `tables.py` makes it
    RE481. Without the bound one stray quote (`27" monitor`) would make the rest of the file one
    row, held whole in memory."""

    def __init__(self, line: int, limit: int) -> None:
        super().__init__(
            f'a `"` on line {line:,} or after opens a quoted field that runs on for more than '
            f"{limit:,} bytes without closing"
        )
        self.line = line


def _header(stream: IO[bytes], block_bytes: int, limit: int) -> tuple[bytes, bytes]:
    """The header line (its line break included) and the bytes read after it."""
    data = b""
    while True:
        more = stream.read(block_bytes)
        data += more
        end = _break(data, last=False)
        if end >= 0:
            return data[: end + 1], data[end + 1 :]
        if not more:
            return data, b""
        if len(data) > limit:
            raise UnclosedQuoteError(1, limit)


def _blocks(stream: IO[bytes], carry: bytes, block_bytes: int, limit: int) -> Iterator[bytes]:
    """The rest of the file in blocks of whole rows, each about `block_bytes` (longer when a row
    is, up to `limit`); the last one may lack its final line break."""
    data = carry
    ended = False
    line = 2  # the line the block starts on, as a person counts (the header is line 1)
    while True:
        while not ended and len(data) < block_bytes:
            more = stream.read(block_bytes)
            ended = not more
            data += more
        cut = -1 if ended else _break(data, last=True)
        if cut < 0:
            if ended:
                if data:
                    yield data
                return
            if len(data) > limit:
                raise UnclosedQuoteError(line, limit)
            more = stream.read(block_bytes)  # a row longer than the block: read on
            ended = not more
            data += more
            continue
        yield data[: cut + 1]
        line += data.count(b"\n", 0, cut + 1)
        data = data[cut + 1 :]


def _break(data: bytes, *, last: bool) -> int:
    """The first (or last) line break outside quotes, or -1; `data` starts at a row's start.

    One pass in C (`split`): the pieces between quotes alternate outside, inside, outside… (a
    quote inside a quoted field is doubled, RFC 4180, which keeps the alternation), so a break
    outside quotes is a break in an even piece. Counting the quotes before each break instead
    was quadratic: one stray quote in a 12 MB file took minutes."""
    pieces = data.split(b'"')
    if last:
        end = len(data) + 1  # where the piece after the last one would start
        for index in range(len(pieces) - 1, -1, -1):
            piece = pieces[index]
            end -= len(piece) + 1
            if index % 2 == 0 and (at := piece.rfind(b"\n")) >= 0:
                return end + at
        return -1
    start = 0
    for index, piece in enumerate(pieces):
        if index % 2 == 0 and (at := piece.find(b"\n")) >= 0:
            return start + at
        start += len(piece) + 1
    return -1
