"""The reference for tests/simulate/test_tables.py: `write_events` as it was before tables were
read in chunks (rules_engine/simulate/tables.py before 2026-12-02), reading the table whole into
one polars frame and grouping every line in memory. Kept verbatim, its mapping and error classes
taken from the module, so that the bounded reader can be compared with it on any table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from rules_engine import jsonio
from rules_engine.errors import Diagnostic, Severity

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


from rules_engine.simulate.table_values import RETURNED, bad_value, value_checks  # noqa: E402
from rules_engine.simulate.tables import ColumnMapping, Converted, TableError, return_id  # noqa: E402


def is_table(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".parquet", ".pq", ".tsv")


def write_events(table: Path, mapping: ColumnMapping, zone: str, out: IO[str]) -> Converted:
    """Read the table, check it, and write its events as JSON lines in time order.

    Raises:
        TableError: RE481 unreadable, RE714 a mapped column missing, RE480 a bad value.
    """
    import polars as pl

    frame, first_row = _read(table)
    used = {name: mapping.column(name) or name for name in FIELDS}
    missing = [f"{name} ({used[name]})" for name in REQUIRED if used[name] not in frame.columns]
    if used["price"] not in frame.columns and used["amount"] not in frame.columns:
        missing.append(f"price ({used['price']}) or amount ({used['amount']})")
    if missing:
        raise TableError(
            [
                Diagnostic(
                    "RE714",
                    f"{table}: no column for {', '.join(missing)}; "
                    f"its columns are {', '.join(frame.columns)}",
                    hint="map each field to a column: --column customer=household_id …, or --mapping FILE",
                )
            ]
        )
    present = {name: column for name, column in used.items() if column in frame.columns}
    if isinstance(frame.schema[present["time"]], pl.Datetime):  # Parquet: a timestamp column
        aware = frame.schema[present["time"]].time_zone is not None
        shown = frame.get_column(present["time"]).dt.strftime(
            "%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if aware else "")
        )
        frame = frame.with_columns(shown.alias(present["time"]))
    frame = frame.select([pl.col(column).cast(pl.String).alias(name) for name, column in present.items()])
    frame = frame.with_row_index("row", offset=first_row)
    where = {name: present[name] for name in present}
    _check(frame, where, table)
    timezone = mapping.timezone or zone
    times = _times(frame, table, where, timezone)
    frame = frame.with_columns(times.alias("moment")).sort(["moment", "customer", "basket", "row"])
    return _events(frame, present, out, table)


def _read(table: Path) -> tuple[Any, int]:
    """The table (every column as it is) and the number of its first data row as a person counts
    rows: 2 in a CSV file (after the header line), 1 in Parquet."""
    import polars as pl

    try:
        if table.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(table), 1
        separator = "\t" if table.suffix.lower() == ".tsv" else ","
        return pl.read_csv(table, infer_schema=False, separator=separator), 2
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


def _check(frame: Any, where: Mapping[str, str], table: Path) -> None:
    """Every value of the mapped columns that cannot be read, first row first (RE480)."""
    problems = []
    for name, bad, what in value_checks(
        where
    ):  # the checks of a value are the same: the reading is the point
        found = frame.filter(bad).select("row", name).head(5)
        for row, value in found.iter_rows():
            problems.append((row, name, value, what))
    if problems:
        problems.sort(key=lambda p: (p[0], p[1]))
        raise TableError(
            [bad_value(table, row, where[name], value, what) for row, name, value, what in problems[:10]]
        )


def _times(frame: Any, table: Path, where: Mapping[str, str], timezone: str) -> Any:
    """The time column as moments: ISO 8601 text with an offset, or without one in `timezone`
    (each distinct text parsed once)."""
    import polars as pl

    zone = ZoneInfo(timezone)
    parsed: dict[str, dt.datetime | None] = {}
    for text in frame.get_column("time").unique().to_list():
        parsed[text] = _moment(text, zone)
    bad = [(row, text) for row, text in frame.select("row", "time").iter_rows() if parsed.get(text) is None]
    if bad:
        raise TableError(
            [
                Diagnostic(
                    "RE480",
                    f"{table}: row {row}, column {where['time']!r}: {text!r} is not a time",
                    hint="ISO 8601, e.g. 2026-03-01 10:15:00 (in the mapping's or program's time zone) or "
                    "2026-03-01T10:15:00+01:00",
                )
                for row, text in bad[:10]
            ]
        )
    return frame.get_column("time").replace_strict(parsed, return_dtype=pl.Datetime("us", "UTC"))


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


def _events(frame: Any, present: Mapping[str, str], out: IO[str], table: Path) -> Converted:
    """Baskets from the sorted lines, written as events (the module docstring)."""
    done = Converted(rows=len(frame))
    bought: dict[str, list[tuple[str, dict[str, Decimal]]]] = {}  # customer → (purchase id, sku → qty left)
    for customer, basket, rows in _baskets(frame):
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
            out.write(jsonio.dumps(event) + "\n")
            done.baskets += 1
            left: dict[str, Decimal] = {}
            for item in items:
                left[item["sku"]] = left.get(item["sku"], Decimal(0)) + item["qty"]
            bought.setdefault(customer, []).append((basket, left))
        if back:
            done.returns += _returns(basket, base, back, bought.get(customer, []), out, done, table)
    return done


def _baskets(frame: Any) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(customer, basket id, its rows) in time order; a basket's rows stay together."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    order: list[tuple[str, str]] = []
    for row in frame.iter_rows(named=True):
        key = (row["customer"].strip(), row["basket"].strip())
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(row)
    for key in order:
        yield key[0], key[1], groups.pop(key)


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
    done: Converted,
    table: Path,
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
            if len(done.warnings) < 10:
                done.warnings.append(
                    Diagnostic(
                        "RE482",
                        f"{table}: row {row['row']}: a return of {quantity} × {sku} that no earlier "
                        f"purchase of customer {base['customer']!r} has: skipped",
                        hint="a return is matched to the customer's latest earlier purchase of the SKU",
                        severity=Severity.WARNING,
                    )
                )
    for n, (purchase, items) in enumerate(by_purchase.items(), start=1):
        event = {"id": return_id(basket, n), "type": "return", **base, "purchase": purchase, "items": items}
        out.write(jsonio.dumps(event) + "\n")
    return len(by_purchase)
