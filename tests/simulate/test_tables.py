"""Transaction tables read in chunks and partitions (rules_engine/simulate/tables.py) give exactly
the events, counts, warnings and errors of reading the table whole (tests/simulate/whole_table.py,
the reader before): on random tables with ties in time, customers and baskets written with spaces
around them, returns as negative quantities or a flag, several stores, bad values; in CSV and in
Parquet; with chunks and partitions of any size. And the reader is bounded: it is given chunks of
at most `chunk_rows` rows, and each partition it groups holds whole customers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.events import MAX_ID, validate_event
from rules_engine.simulate import chunks, tables
from rules_engine.simulate.tables import ColumnMapping, Converted, TableError, write_events
from tests.simulate import whole_table
from tests.steps import python_steps

ZONE = "Europe/Moscow"
HEADER = (
    "household",
    "ts",
    "receipt",
    "product",
    "dept",
    "unit_price",
    "line_amount",
    "units",
    "shop",
    "ret",
)
MAPPING = ColumnMapping(
    {
        "customer": "household",
        "time": "ts",
        "basket": "receipt",
        "sku": "product",
        "category": "dept",
        "price": "unit_price",
        "amount": "line_amount",
        "quantity": "units",
        "store": "shop",
        "return": "ret",
    }
)
WITHOUT_PRICE = ColumnMapping({k: v for k, v in MAPPING.columns.items() if k != "price"})
WITHOUT_AMOUNT = ColumnMapping({k: v for k, v in MAPPING.columns.items() if k != "amount"})

_TIMES = [
    "2026-03-01 10:00:00",
    "2026-03-01T10:00:00+03:00",  # the same moment as the line above in Europe/Moscow: a tie
    "2026-03-01 09:59:59",
    "2026-03-02T08:00:00Z",
    "2026-03-05 12:30:00.250",
    "2026-04-01 00:00:00",
]
_row = st.fixed_dictionaries(
    {
        "household": st.sampled_from(["c1", " c1", "c2 ", "c2", "c3", "Ünï", "c4"]),
        "ts": st.sampled_from(_TIMES),
        "receipt": st.sampled_from(["r1", "r2", " r2", "r3", "r4", "r5"]),
        "product": st.sampled_from(["LATTE-L", "TEA", "CROISSANT", " MUG"]),
        "dept": st.sampled_from(["coffee", "pastry", "", 'bread, "fresh"', "two\nlines", '27" screens']),
        "unit_price": st.sampled_from(["320.00", "1.5", "99", "0.10"]),
        "line_amount": st.sampled_from(["640", "3", "10.01", "99"]),
        "units": st.sampled_from(["1", "2", "-1", "-2", "3", "0.5"]),
        "shop": st.sampled_from(["", "moscow-1", "spb-2"]),
        "ret": st.sampled_from(["", "false", "true", "R", "S", "0"]),
    }
)
_bad = st.sampled_from(
    [
        ("unit_price", "3x0"),
        ("units", "two"),
        ("ts", "yesterday"),
        ("household", ""),
        ("receipt", "  "),
        ("ret", "maybe"),
        ("unit_price", "9" * 16),
        ("units", "0.0000000001"),
        ("household", "h" * 201),
        ("dept", "d" * 201),
    ]
)


@st.composite
def _tables(draw: st.DrawFn) -> list[dict[str, str]]:
    rows = draw(st.lists(_row, min_size=0, max_size=40))
    if rows and draw(st.integers(0, 9)) == 0:  # now and then, bad values
        for _ in range(draw(st.integers(1, 3))):
            column, value = draw(_bad)
            rows[draw(st.integers(0, len(rows) - 1))] = {**rows[0], column: value}
    return rows


def _csv(rows: list[dict[str, str]], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(HEADER))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _parquet(rows: list[dict[str, str]], path: Path, *, timestamps: bool) -> Path:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(HEADER, pl.String))
    if timestamps:  # a timestamp column, as an export from a database writes it
        frame = frame.with_columns(pl.col("ts").str.to_datetime(strict=False, time_zone="UTC"))
        frame = frame.filter(pl.col("ts").is_not_null())
    frame = frame.with_columns(pl.col("unit_price").cast(pl.Float64, strict=False))
    frame.write_parquet(path)
    return path


def _both(
    table: Path, mapping: ColumnMapping, chunk_rows: int, partition_rows: int, block_bytes: int = 4096
) -> tuple[tuple[str, Any], tuple[str, Any]]:
    def run(write: Any, **sizes: int) -> tuple[str, Any]:
        out = io.StringIO()
        try:
            done: Converted = write(table, mapping, ZONE, out, **sizes)
        except TableError as problem:
            return "error", [(d.code, d.message, d.hint) for d in problem.diagnostics]
        warnings = [(d.code, d.message) for d in done.warnings]
        return out.getvalue(), (done.rows, done.baskets, done.returns, done.skipped, warnings)

    return run(whole_table.write_events), run(
        write_events, chunk_rows=chunk_rows, partition_rows=partition_rows, block_bytes=block_bytes
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=_tables(),
    chunk_rows=st.integers(1, 12),
    partition_rows=st.integers(1, 50),
    block_bytes=st.integers(1, 400),
    form=st.sampled_from(["csv", "parquet", "parquet-timestamps", "csv-amounts"]),
)
def test_chunks_and_partitions_give_what_the_whole_table_gives(
    tmp_path: Path,
    rows: list[dict[str, str]],
    chunk_rows: int,
    partition_rows: int,
    block_bytes: int,
    form: str,
) -> None:
    mapping = MAPPING
    if form == "csv-amounts":
        mapping = WITHOUT_PRICE
    if form.startswith("csv"):
        table = _csv(rows, tmp_path / "lines.csv")
    else:
        table = _parquet(rows, tmp_path / "lines.parquet", timestamps=form == "parquet-timestamps")
    whole, bounded = _both(table, mapping, chunk_rows, partition_rows, block_bytes)
    assert bounded == whole


def _history_table(history: Path, path: Path) -> list[dict[str, str]]:
    """A generated history's purchases and returns as basket lines (returns as negative
    quantities), a store per customer: several thousand rows."""
    rows = []
    for line in history.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["type"] not in ("purchase", "return"):
            continue
        sign = -1 if event["type"] == "return" else 1
        for n, item in enumerate(event["items"]):
            rows.append(
                {
                    "household": event["customer"],
                    "ts": event["time"],
                    "receipt": event["id"],
                    "product": item["sku"],
                    "dept": item.get("category", ""),
                    "unit_price": str(item.get("price", "1")),
                    "line_amount": "",
                    "units": str(sign * item["qty"]),
                    "shop": f"store-{int(event['customer'][1:]) % 3}" if n == 0 else "",
                    "ret": "",
                }
            )
    _csv(rows, path)
    return rows


def test_a_generated_history_as_a_table_gives_the_same_events(coffee_history: Path, tmp_path: Path) -> None:
    rows = _history_table(coffee_history, tmp_path / "lines.csv")
    whole, bounded = _both(tmp_path / "lines.csv", WITHOUT_AMOUNT, 500, 1_000)
    assert whole[0] != "error" and whole[1][1] > 100, "baskets were made"
    assert bounded == whole
    assert bounded[1][0] == len(rows)


def test_the_reader_holds_a_chunk_and_a_partition_of_whole_customers(
    coffee_history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _history_table(coffee_history, tmp_path / "lines.csv")
    chunks: list[int] = []
    partitions: list[list[str]] = []
    chunked, converted = tables._chunks, tables._convert

    def counted_chunks(source: Any, table: Path) -> Any:
        for chunk in chunked(source, table):
            chunks.append(len(chunk))
            yield chunk

    def seen_partition(partition: Path, *args: Any) -> Any:
        if partition.stat().st_size:
            held = pl.read_ndjson(partition, schema={"customer": pl.String})
            partitions.append(held.get_column("customer").str.strip_chars().to_list())
        return converted(partition, *args)

    monkeypatch.setattr(tables, "_chunks", counted_chunks)
    monkeypatch.setattr(tables, "_convert", seen_partition)
    write_events(
        tmp_path / "lines.csv",
        WITHOUT_AMOUNT,
        ZONE,
        io.StringIO(),
        chunk_rows=64,
        partition_rows=400,
        block_bytes=2000,
    )
    assert sum(chunks) == len(rows) and max(chunks) <= 64
    assert len(chunks) >= len(rows) // 64
    wanted = -(-len(rows) // 400)
    assert 1 < len(partitions) <= wanted, "partitions with customers in them"
    owners: dict[str, int] = {}
    for index, customers in enumerate(partitions):
        for customer in customers:
            assert owners.setdefault(customer, index) == index, "a customer is in one partition only"
    assert sum(map(len, partitions)) == len(rows)
    assert max(map(len, partitions)) < len(rows) / 2, "no partition holds most of the table"


_HEAD = "household,ts,receipt,product,unit_price\n"
_LINE = 'c{n},2026-03-0{d} 10:00:00,r{n},"SKU ""{n}""\nsecond line",1{n}.50\n'


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (
            "crlf.csv",
            (_HEAD + "".join(_LINE.format(n=n, d=n % 9 + 1) for n in range(9))).replace("\n", "\r\n"),
        ),
        ("bom.csv", "\ufeff" + _HEAD + "".join(_LINE.format(n=n, d=1) for n in range(5))),
        ("no-final-break.csv", _HEAD + "c1,2026-03-01 10:00:00,r1,A,1\nc2,2026-03-01 10:00:00,r2,B,2"),
        ("blank-lines.csv", _HEAD + "c1,2026-03-01 10:00:00,r1,A,1\n\n\nc2,2026-03-02 10:00:00,r2,B,2\n\n"),
        ("header-only.csv", _HEAD),
        ("header-no-break.csv", _HEAD.strip()),
        ("empty.csv", ""),
        ("quoted-header.csv", '"house\nhold",ts,receipt,product,unit_price\nc1,2026-03-01 10:00:00,r1,A,1\n'),
        ("ragged.csv", _HEAD + "c1,2026-03-01 10:00:00,r1,A,1\nc2,2026-03-01 10:00:00,r2,B,2,extra\n"),
        ("quoted-after-header.csv", _HEAD + 'c1,2026-03-01 10:00:00,r1,"A, ""b""",1\n' * 6),
        ("tabs.tsv", _HEAD.replace(",", "\t") + "c1\t2026-03-01 10:00:00\tr1\tA, B\t1\n"),
    ],
)
@pytest.mark.parametrize("block_bytes", [1, 7, 54, 64, 4096])
def test_csv_blocks_are_cut_between_rows(tmp_path: Path, name: str, content: str, block_bytes: int) -> None:
    table = tmp_path / name
    table.write_bytes(content.encode("utf-8"))
    mapping = ColumnMapping(
        {"customer": "household", "time": "ts", "basket": "receipt", "sku": "product", "price": "unit_price"}
    )
    whole, bounded = _both(table, mapping, 3, 2, block_bytes)
    assert bounded == whole


def test_every_block_size_cuts_between_rows(tmp_path: Path) -> None:
    """Quoted fields with separators, doubled quotes and line breaks in them, at every place a
    block may end (the first block read after the header too)."""
    table = tmp_path / "quoted.csv"
    table.write_text(_HEAD + "".join(_LINE.format(n=n, d=n % 3 + 1) for n in range(4)), encoding="utf-8")
    mapping = ColumnMapping(
        {"customer": "household", "time": "ts", "basket": "receipt", "sku": "product", "price": "unit_price"}
    )
    for block_bytes in range(1, len(table.read_bytes()) + 2):
        whole, bounded = _both(table, mapping, 2, 2, block_bytes)
        assert whole[0] != "error" and bounded == whole, block_bytes


def _naive_break(data: bytes, *, last: bool) -> int:
    """The first or last line break with an even number of quotes before it, by counting."""
    breaks = [
        at for at in range(len(data)) if data[at : at + 1] == b"\n" and data.count(b'"', 0, at) % 2 == 0
    ]
    return (breaks[-1] if last else breaks[0]) if breaks else -1


@given(st.binary(max_size=80).map(lambda raw: bytes(b'"\na,'[byte % 4] for byte in raw)), st.booleans())
def test_a_line_break_outside_quotes_is_found_as_counting_quotes_finds_it(data: bytes, last: bool) -> None:
    assert chunks._break(data, last=last) == _naive_break(data, last=last)


def test_a_stray_quote_is_refused_at_its_line_in_bounded_work(tmp_path: Path) -> None:
    """One `"` never closed would make the rest of the file one row, held whole (and cutting the
    blocks by counting quotes before each line break took minutes on 12 MB): past `max_row` bytes
    it is RE481, naming the line, whatever the file's size."""
    table = tmp_path / "stray.csv"
    stray = 'TV 27" screen'
    rows = [
        f"c{n % 30},2026-03-01 10:{n % 60:02}:00,r{n},{stray if n == 10 else 'A'},1\n" for n in range(20_000)
    ]
    table.write_text(_HEAD + "".join(rows), encoding="utf-8")
    mapping = ColumnMapping(
        {"customer": "household", "time": "ts", "basket": "receipt", "sku": "product", "price": "unit_price"}
    )
    with python_steps(200_000), pytest.raises(TableError) as refused:
        write_events(table, mapping, "UTC", io.StringIO(), block_bytes=4096, max_row=64 * 1024)
    [problem] = refused.value.diagnostics
    assert problem.code == "RE481" and "line 12 or after" in problem.message
    assert problem.hint is not None and '"27"" monitor"' in problem.hint


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_a_table_whose_lines_end_with_cr_alone_is_refused_not_read_as_no_rows(
    tmp_path: Path, ending: str
) -> None:
    """A classic Mac text file ends its lines with CR alone, which polars does not take for a line
    break: the whole file was one header line, every row a column, and simulate said "0 events",
    exit 0. Now it is RE481 with how to save it; LF and CRLF files read as always."""
    table = tmp_path / "mac.csv"
    rows = [f"c{n},2026-03-01 10:0{n}:00,r{n},A,1" for n in range(3)]
    table.write_bytes(ending.join([_HEAD.rstrip("\n"), *rows, ""]).encode())
    mapping = ColumnMapping(
        {"customer": "household", "time": "ts", "basket": "receipt", "sku": "product", "price": "unit_price"}
    )
    if ending != "\r":
        assert write_events(table, mapping, "UTC", io.StringIO()).rows == 3
        return
    with pytest.raises(TableError) as refused:
        write_events(table, mapping, "UTC", io.StringIO())
    [problem] = refused.value.diagnostics
    assert problem.code == "RE481" and "carriage return alone" in problem.message
    assert problem.hint is not None and "LF or CRLF" in problem.hint


@pytest.mark.parametrize("size", [150, 189, 190, 196, 200])
def test_return_ids_fit_an_event_id_stay_unique_and_the_same(tmp_path: Path, size: int) -> None:
    """simulate makes a return's event id from its basket's (`BASKET:return:N`): a basket id of 190
    characters or more made one over 200, which the engine then refused (RE410). Now one that would
    not fit is cut and carries a digest of the basket's whole id: within 200, the same every time,
    and two baskets sharing their first 190 characters give two ids."""
    stem = "b" * (size - 1)
    rows = [
        {**dict.fromkeys(HEADER, ""), "household": "c1", "ts": "2026-03-01 10:00:00", "receipt": stem + "P"},
        {**dict.fromkeys(HEADER, ""), "household": "c1", "ts": "2026-03-02 10:00:00", "receipt": stem + "Q"},
        {**dict.fromkeys(HEADER, ""), "household": "c1", "ts": "2026-03-03 10:00:00", "receipt": stem + "X"},
        {**dict.fromkeys(HEADER, ""), "household": "c1", "ts": "2026-03-04 10:00:00", "receipt": stem + "Y"},
    ]
    for row in rows:
        row.update({"product": "TEA", "unit_price": "10", "units": "2"})
    for row in rows[2:]:
        row.update({"units": "1", "ret": "true"})
    table = _csv(rows, tmp_path / "long-baskets.csv")
    written = []
    for _ in range(2):
        out = io.StringIO()
        write_events(table, WITHOUT_AMOUNT, ZONE, out)
        written.append(out.getvalue())
    assert written[0] == written[1]  # deterministic
    events = [json.loads(line) for line in written[0].splitlines()]
    returns = [event for event in events if event["type"] == "return"]
    assert len(returns) == 2
    ids = [event["id"] for event in returns]
    assert len(set(ids)) == 2 and all(len(i) <= MAX_ID for i in ids)
    if size + len(":return:1") <= MAX_ID:
        assert ids == [f"{stem}X:return:1", f"{stem}Y:return:1"]
    for event in events:
        validate_event(event)  # the engine reads every one: no id over 200
    assert tables.return_id(stem + "X", 1) == ids[0]
