"""Transaction tables (CSV or Parquet, one row per basket line) into events, with a column mapping.

Retailers export receipts as lines: customer, time, receipt id, product, price, quantity. The
mapping says which column is which (`ColumnMapping`, from `--column NAME=COLUMN` flags or a small
YAML file); polars reads the table (columnar, typed, fast on millions of rows), checks every
value (a bad one stops the run with its row number and column, RE480), and groups the lines into
baskets. Each basket becomes a `purchase` event, in time order; lines with a negative quantity
(or a true return flag) become a `return` event of the customer's latest earlier purchase that
had the SKU (a returned line no earlier purchase has is skipped with a warning, RE482).

Memory is bounded by a chunk of rows and a partition of whole customers, not by the table
(`write_events`): a table of any length is read in chunks by polars' streaming engine and its
rows spread over partition files by customer, as a history is cut into batches (batches.py);
each partition is then grouped into events on its own, and the partitions' events merged back
into the order the whole table sorted gives.

The events are written as JSON lines (`write_events`), the input `loyalty simulate` replays, so a
table and a JSONL history go through exactly the same path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import yaml

from rules_engine import jsonio
from rules_engine.engine.events import MAX_ID
from rules_engine.errors import Diagnostic, RulesEngineError, Severity
from rules_engine.simulate.chunks import (
    BLOCK_BYTES,
    MAX_ROW_BYTES,
    LoneCarriageReturnError,
    Table,
    UnclosedQuoteError,
    open_table,
)
from rules_engine.simulate.table_values import RETURNED, bad_value, value_checks
from rules_engine.zones import zone_named

FIELDS = (
    "customer",
    "time",
    "basket",
    "sku",
    "category",
    "price",
    "amount",
    "quantity",
    "store",
    "channel",
    "return",
)
"""What a mapping may name; `customer`, `time`, `basket`, `sku` and one of `price` or `amount`
are needed, `quantity` defaults to 1."""
REQUIRED = ("customer", "time", "basket", "sku")


class TableError(RulesEngineError):
    """A table that cannot become events: a bad mapping (RE714), an unreadable table (RE481), a
    bad value (RE480, with its row and column)."""


@dataclass(frozen=True)
class ColumnMapping:
    columns: Mapping[str, str]
    """Field → the table's column."""
    timezone: str | None = None
    """For times written without an offset; the program's time zone when not given."""

    def column(self, name: str) -> str | None:
        return self.columns.get(name)


def mapping_from(flags: list[str], path: Path | None) -> ColumnMapping:
    """The mapping of `--mapping FILE` and `--column NAME=COLUMN` flags (the flags win); a field
    not mapped is read from the column of its own name.

    Raises:
        TableError: RE714, a flag or file that is not a mapping, or names an unknown field.
    """
    columns: dict[str, str] = {}
    timezone = None
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as problem:
            raise TableError([_usage(f"--mapping {path}: cannot read the mapping: {problem}")]) from None
        if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
            raise TableError([_usage(f"--mapping {path}: a mapping is `columns: {{field: column}}`")])
        for name, column in (data.get("columns") or {}).items():
            columns[str(name)] = str(column)
        if data.get("timezone") is not None:
            timezone = str(data["timezone"])
        unknown = set(data) - {"columns", "timezone"}
        if unknown:
            raise TableError(
                [_usage(f"--mapping {path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")]
            )
    for flag in flags:
        name, equals, column = flag.partition("=")
        if not equals or not name.strip() or not column.strip():
            raise TableError([_usage(f"--column {flag!r}: not FIELD=COLUMN")])
        columns[name.strip()] = column.strip()
    for name in columns:
        if name not in FIELDS:
            raise TableError([_usage(f"no field {name!r} to map a column to")])
    if timezone is not None and zone_named(timezone) is None:
        raise TableError([_usage(f"--mapping: timezone {timezone!r} is no IANA time zone")])
    return ColumnMapping(columns, timezone)


def _usage(message: str) -> Diagnostic:
    return Diagnostic(
        "RE714",
        message,
        hint="map fields to columns: --column customer=household_id --column time=ts …, or a YAML "
        "file `columns: {customer: household_id, time: ts}` (docs/simulate.md, the column mapping)",
    )


@dataclass
class Converted:
    baskets: int = 0
    returns: int = 0
    rows: int = 0
    warnings: list[Diagnostic] = field(default_factory=list)
    skipped: int = 0


def is_table(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".parquet", ".pq", ".tsv")


CHUNK_ROWS = 50_000
"""Rows read from the table at a time, in file order (chunks.py)."""
PARTITION_ROWS = 100_000
"""About this many rows per partition: a partition (whole customers) is sorted and grouped into
baskets in memory, as a batch is replayed in memory (batches.py)."""
MAX_PARTITIONS = 512
"""Partition files open at once (each is written to in turn, then merged from); a table of more
than 51 million rows has larger partitions rather than more."""


def write_events(
    table: Path,
    mapping: ColumnMapping,
    zone: str,
    out: IO[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
    partition_rows: int = PARTITION_ROWS,
    block_bytes: int = BLOCK_BYTES,
    max_row: int = MAX_ROW_BYTES,
) -> Converted:
    """Read the table, check it, and write its events as JSON lines in time order.

    Memory is bounded by a chunk and a partition, not by the table (docs/simulate.md, "How it
    runs"): the table is read `chunk_rows` rows at a time (a CSV file parsed `block_bytes` at a
    time: chunks.py), each chunk checked and its rows appended to the partition file their
    customer hashes to (in a temporary folder); then each
    partition, which holds whole customers, is sorted and grouped into baskets and events, and
    the partitions' events, each file in time order, are merged into `out` in the order the
    whole table sorted would give them: (time, customer, basket, row) of each basket's first
    line. The events are exactly those of reading the table whole (a test compares them).

    Raises:
        TableError: RE481 unreadable, RE714 a mapped column missing, RE480 a bad value.
    """
    source = _guarded(
        table,
        lambda: open_table(table, chunk_rows=chunk_rows, block_bytes=block_bytes, max_row=max_row),
    )
    columns = source.columns
    used = {name: mapping.column(name) or name for name in FIELDS}
    missing = [f"{name} ({used[name]})" for name in REQUIRED if used[name] not in columns]
    if used["price"] not in columns and used["amount"] not in columns:
        missing.append(f"price ({used['price']}) or amount ({used['amount']})")
    if missing:
        for _ in _chunks(source, table):  # a table that cannot be read says so first (RE481)
            pass
        raise TableError(
            [
                Diagnostic(
                    "RE714",
                    f"{table}: no column for {', '.join(missing)}; its columns are {', '.join(columns)}",
                    hint="map each field to a column: --column customer=household_id …, or --mapping FILE",
                )
            ]
        )
    present = {name: column for name, column in used.items() if column in columns}
    parts = max(1, min(MAX_PARTITIONS, -(-source.rows // max(1, partition_rows))))
    with tempfile.TemporaryDirectory(prefix="loyalty-table-") as folder:
        where = Path(folder)
        partitions = [where / f"rows-{index:04d}.jsonl" for index in range(parts)]
        rows = _partition(source, present, table, mapping.timezone or zone, partitions)
        done = Converted(rows=rows)
        warnings: list[tuple[tuple[Any, ...], Diagnostic]] = []
        keyed = []
        for index, partition in enumerate(partitions):
            events = where / f"events-{index:04d}.tsv"
            with open(events, "w", encoding="utf-8", newline="\n") as stream:
                found = _convert(partition, present, stream, table)
            partition.unlink()
            done.baskets += found.baskets
            done.returns += found.returns
            done.skipped += found.skipped
            warnings.extend(found.keyed_warnings)
            keyed.append(events)
        warnings.sort(key=lambda pair: pair[0])
        done.warnings = [warning for _, warning in warnings[:10]]
        _merge(keyed, out)
    return done


def _guarded(table: Path, read: Any) -> Any:
    """`read()`, a failure to read the table made RE481."""
    import polars as pl

    try:
        return read()
    except LoneCarriageReturnError as problem:
        raise TableError(
            [
                Diagnostic(
                    "RE481",
                    f"cannot read the table {table}: {problem}",
                    hint="save it with LF or CRLF line endings (a spreadsheet's 'CSV UTF-8' does)",
                )
            ]
        ) from None
    except UnclosedQuoteError as problem:
        raise TableError(
            [
                Diagnostic(
                    "RE481",
                    f"cannot read the table {table}: {problem}",
                    hint="a field that holds a quote is written in quotes, the quote doubled: "
                    '"27"" monitor"; find the stray quote from that line on',
                )
            ]
        ) from None
    except (OSError, pl.exceptions.PolarsError) as problem:
        reason = (
            problem.strerror
            if isinstance(problem, OSError) and problem.strerror
            else str(problem).splitlines()[0]
        )
        raise TableError(
            [
                Diagnostic(
                    "RE481",
                    f"cannot read the table {table}: {reason}",
                    hint="save it as UTF-8 text (a spreadsheet's 'CSV UTF-8'), with a header line"
                    if "utf-8" in reason.lower()
                    else "a CSV file with a header line, or Parquet",
                )
            ]
        ) from None


def _chunks(source: Table, table: Path) -> Iterator[Any]:
    """The table's rows in file order, a chunk at a time (chunks.py), a failure to read made RE481."""
    pieces = _guarded(table, source.chunks)
    while True:
        chunk = _guarded(table, lambda: next(pieces, None))
        if chunk is None:
            return
        yield chunk


def _partition(
    source: Table,
    present: Mapping[str, str],
    table: Path,
    timezone: str,
    partitions: list[Path],
) -> int:
    """Every row checked and appended, with its row number and moment, to the partition of its
    customer (crc32 of the id as `_baskets` groups it, stripped).

    Raises:
        TableError: RE480, the first bad values, as reading the table whole reports them: the
            first five of each check in row order, then (if none) the first ten bad times.
    """
    import polars as pl

    zone = ZoneInfo(timezone)
    problems: list[tuple[int, str, Any, str]] = []
    bad_times: list[tuple[int, str]] = []
    counted: dict[tuple[str, str], int] = {}
    offset = source.first_row
    files = [open(path, "wb") for path in partitions]  # noqa: SIM115 (closed below)
    try:
        for chunk in _chunks(source, table):
            frame = _strings(chunk, source.columns, present).with_row_index("row", offset=offset)
            offset += len(frame)
            problems.extend(_problems(frame, present, counted))
            parsed = {text: _moment(text, zone) for text in frame.get_column("time").unique().to_list()}
            if len(bad_times) < 10:
                bad_times.extend(
                    (row, text)
                    for row, text in frame.select("row", "time").iter_rows()
                    if parsed.get(text) is None
                )
                del bad_times[10:]
            if problems or bad_times:
                continue  # the run stops: nothing more to write
            moments = frame.get_column("time").replace_strict(parsed, return_dtype=pl.Datetime("us", "UTC"))
            owners = {
                c: zlib.crc32(c.strip().encode("utf-8")) % len(files)
                for c in frame.get_column("customer").unique().to_list()
            }
            frame = frame.with_columns(
                moments.dt.epoch("us").alias("moment"),
                pl.col("customer").replace_strict(owners, return_dtype=pl.Int64).alias("part"),
            )
            for (index,), rows in frame.partition_by("part", as_dict=True, include_key=False).items():
                rows.write_ndjson(files[int(index)])
    finally:
        for file in files:
            file.close()
    if problems:
        problems.sort(key=lambda p: (p[0], p[1]))
        raise TableError(
            [bad_value(table, row, present[name], value, what) for row, name, value, what in problems[:10]]
        )
    if bad_times:
        raise TableError(
            [
                Diagnostic(
                    "RE480",
                    f"{table}: row {row}, column {present['time']!r}: {text!r} is not a time",
                    hint="ISO 8601, e.g. 2026-03-01 10:15:00 (in the mapping's or program's time zone) or "
                    "2026-03-01T10:15:00+01:00",
                )
                for row, text in bad_times
            ]
        )
    return offset - source.first_row


def _strings(chunk: Any, columns: Any, present: Mapping[str, str]) -> Any:
    """The mapped columns as text under their fields' names; a timestamp column (Parquet) as ISO
    8601 text, with its offset when it has a time zone."""
    import polars as pl

    time = present["time"]
    if isinstance(columns[time], pl.Datetime):
        aware = columns[time].time_zone is not None
        shown = chunk.get_column(time).dt.strftime("%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if aware else ""))
        chunk = chunk.with_columns(shown.alias(time))
    return chunk.select([pl.col(column).cast(pl.String).alias(name) for name, column in present.items()])


def _problems(
    frame: Any, where: Mapping[str, str], counted: dict[tuple[str, str], int]
) -> list[tuple[int, str, Any, str]]:
    """The values of the mapped columns that cannot be read (RE480), chunk after chunk: the first
    five of each check (`counted` keeps how many each has found so far)."""
    problems = []
    for name, bad, what in value_checks(where):
        left = 5 - counted.get((name, what), 0)
        if left <= 0:
            continue
        found = frame.filter(bad).select("row", name).head(left)
        for row, value in found.iter_rows():
            problems.append((row, name, value, what))
        counted[name, what] = counted.get((name, what), 0) + len(found)
    return problems


def _moment(text: str | None, zone: ZoneInfo) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().removesuffix(" UTC"))
    except ValueError:
        return None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC)


def _convert(partition: Path, present: Mapping[str, str], out: IO[str], table: Path) -> _Partial:
    """One partition's rows (whole customers) as events, each line keyed for `_merge`."""
    import polars as pl

    done = _Partial()
    if partition.stat().st_size == 0:
        return done
    schema = {"row": pl.Int64, "moment": pl.Int64, **dict.fromkeys(present, pl.String)}
    frame = pl.read_ndjson(partition, schema=schema)
    frame = frame.with_columns(
        pl.col("moment").alias("us"),
        pl.from_epoch("moment", time_unit="us").dt.replace_time_zone("UTC").alias("moment"),
    ).sort(["moment", "customer", "basket", "row"])
    # A basket is its customer and basket id as written, stripped (as a person reads them); its
    # lines are brought together at the place of its first line, in the order they sort in.
    customers = {text: text.strip() for text in frame.get_column("customer").unique().to_list()}
    baskets = {text: text.strip() for text in frame.get_column("basket").unique().to_list()}
    frame = (
        frame.with_columns(
            pl.col("customer").replace_strict(customers, return_dtype=pl.String).alias("who"),
            pl.col("basket").replace_strict(baskets, return_dtype=pl.String).alias("which"),
            pl.int_range(pl.len()).alias("rank"),
        )
        .with_columns(pl.col("rank").min().over(["who", "which"]).alias("first"))
        .sort("first", maintain_order=True)
    )
    _events(_baskets(frame), out, table, done)
    return done


@dataclass
class _Partial:
    """What one partition gave: `Converted`'s counts, and its first warnings with the key of the
    basket that raised each (the partitions' warnings are put back in the table's order)."""

    baskets: int = 0
    returns: int = 0
    skipped: int = 0
    keyed_warnings: list[tuple[tuple[Any, ...], Diagnostic]] = field(default_factory=list)


def _events(
    baskets: Iterator[tuple[tuple[Any, ...], str, str, list[dict[str, Any]]]],
    out: IO[str],
    table: Path,
    done: _Partial,
) -> None:
    """Baskets from the sorted lines, written as events (the module docstring), each line as
    `key<TAB>event` (`_merge`)."""
    bought: dict[str, list[tuple[str, dict[str, Decimal]]]] = {}  # customer → (purchase id, sku → qty left)
    for key, customer, basket, rows in baskets:
        prefix = json.dumps(key) + "\t"
        moment: dt.datetime = rows[0]["moment"]
        sold: list[tuple[dict[str, Any], Decimal]] = []
        back: list[tuple[dict[str, Any], Decimal]] = []
        for row in rows:
            quantity = Decimal(row["quantity"]) if row.get("quantity") is not None else Decimal(1)
            flagged = str(row.get("return") or "").strip().lower() in RETURNED
            (back if flagged or quantity < 0 else sold).append((row, abs(quantity)))
        base = {"time": moment.isoformat().replace("+00:00", "Z"), "customer": customer}
        for extra in ("store", "channel"):
            value = rows[0].get(extra)
            if value:
                base[extra] = value
        if sold:
            items = [_item(row, quantity) for row, quantity in sold]
            event = {"id": basket, "type": "purchase", **base, "items": items}
            out.write(prefix + jsonio.dumps(event) + "\n")
            done.baskets += 1
            left: dict[str, Decimal] = {}
            for item in items:
                left[item["sku"]] = left.get(item["sku"], Decimal(0)) + item["qty"]
            bought.setdefault(customer, []).append((basket, left))
        if back:
            done.returns += _returns(basket, base, back, bought.get(customer, []), out, done, table, key)


def _baskets(frame: Any) -> Iterator[tuple[tuple[Any, ...], str, str, list[dict[str, Any]]]]:
    """(key, customer, basket id, its rows) in time order; the rows of a basket come together
    (`_convert`). The key is what its first row sorts by: moment, customer, basket, row."""
    rows: list[dict[str, Any]] = []
    for row in frame.iter_rows(named=True):
        if rows and row["first"] != rows[0]["first"]:
            yield _basket(rows)
            rows = []
        rows.append(row)
    if rows:
        yield _basket(rows)


def _basket(rows: list[dict[str, Any]]) -> tuple[tuple[Any, ...], str, str, list[dict[str, Any]]]:
    head = rows[0]
    return (head["us"], head["customer"], head["basket"], head["row"]), head["who"], head["which"], rows


def _merge(files: list[Path], out: IO[str]) -> None:
    """The partitions' events, each file in its baskets' order, into one stream in that order."""
    streams = [open(path, encoding="utf-8", newline="\n") for path in files]  # noqa: SIM115
    try:
        for _, text in heapq.merge(*map(_keyed, streams), key=lambda pair: pair[0]):
            out.write(text)
    finally:
        for stream in streams:
            stream.close()


def _keyed(stream: IO[str]) -> Iterator[tuple[tuple[Any, ...], str]]:
    for line in stream:
        key, _, text = line.partition("\t")
        yield tuple(json.loads(key)), text


def _item(row: Mapping[str, Any], quantity: Decimal) -> dict[str, Any]:
    item: dict[str, Any] = {"sku": row["sku"].strip()}
    if row.get("category"):
        item["category"] = row["category"].strip()
    if row.get("price") is not None:
        price = abs(Decimal(row["price"]))
    else:
        amount = abs(Decimal(row["amount"]))
        try:
            price = amount / quantity if quantity else amount
        except InvalidOperation:
            price = amount
        if price * quantity != amount:  # not a whole price per unit: the line as one unit
            price, quantity = amount, Decimal(1)
    item["price"] = price
    item["qty"] = quantity
    return item


def _returns(
    basket: str,
    base: dict[str, Any],
    back: list[tuple[dict[str, Any], Decimal]],
    purchases: list[tuple[str, dict[str, Decimal]]],
    out: IO[str],
    done: _Partial,
    table: Path,
    key: tuple[Any, ...],
) -> int:
    """The returned lines as return events, each of the latest earlier purchase with the SKU."""
    by_purchase: dict[str, list[dict[str, Any]]] = {}
    for row, quantity in back:
        sku = row["sku"].strip()
        for purchase, left in reversed(purchases):
            if left.get(sku, Decimal(0)) >= quantity:
                left[sku] -= quantity
                by_purchase.setdefault(purchase, []).append({"sku": sku, "qty": quantity})
                break
        else:
            done.skipped += 1
            if len(done.keyed_warnings) < 10:
                done.keyed_warnings.append(
                    (
                        key,
                        Diagnostic(
                            "RE482",
                            f"{table}: row {row['row']}: a return of {quantity} × {sku} that no earlier "
                            f"purchase of customer {base['customer']!r} has: skipped",
                            hint="a return is matched to the customer's latest earlier purchase of the SKU",
                            severity=Severity.WARNING,
                        ),
                    )
                )
    for n, (purchase, items) in enumerate(by_purchase.items(), start=1):
        event = {"id": return_id(basket, n), "type": "return", **base, "purchase": purchase, "items": items}
        out.write(json.dumps(key) + "\t" + jsonio.dumps(event) + "\n")
    return len(by_purchase)


def return_id(basket: str, n: int) -> str:
    """The id of a basket's `n`-th return event: `BASKET:return:N`, unless that is longer than an
    event id may be (events.py `MAX_ID`: a basket id of 190 characters or more), when the basket's
    id is cut and a digest of it whole added (`BASKET-START~DIGEST:return:N`): always within the
    bound, the same for the same basket, and two baskets' never the same."""
    whole = f"{basket}:return:{n}"
    if len(whole) <= MAX_ID:
        return whole
    digest = hashlib.sha256(basket.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    tail = f"~{digest}:return:{n}"
    return basket[: MAX_ID - len(tail)] + tail
