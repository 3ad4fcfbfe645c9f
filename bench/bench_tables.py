"""The memory a transaction table costs `loyalty simulate`: peak RSS of turning a table into
events, at two sizes, the bounded reader against the whole-table one.

    .venv/bin/python bench/bench_tables.py                       # 200,000 and 2,000,000 rows: minutes
    .venv/bin/python bench/bench_tables.py --rows 20000,200000   # a smaller pair
    .venv/bin/python bench/bench_tables.py --quick               # seconds, rough numbers (the smoke test)

A CSV table of basket lines is made for each size (polars, deterministic: three lines a basket,
a customer per 60 lines, one basket in 40 with a returned line, two stores), then turned into
events (`rules_engine.simulate.tables.write_events`, written to /dev/null) by each reader in a
process of its own, so that each peak is its own: the process's peak resident set size
(`VmHWM`; Linux only) and its resident size once polars and the package are imported (the
floor) are printed with the CPU time. The whole-table reader is the one before chunks and
partitions, kept as the tests' reference (tests/simulate/whole_table.py).

Target (issue 18: "memory bounded by the batch size, not the history"): the bounded reader's
peak above the floor grows less than 1.5x from the smaller table to the larger (×10 rows),
printed `[met]` or `[MISSED]`; the whole-table reader's growth is printed beside it. Memory, not
time, is what is judged here; the CPU time is shown so that a regression in speed is seen.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout
sys.path.insert(0, str(ROOT / "bench"))

TARGET = 1.5
"""The bounded reader's peak above the floor may grow at most this much for ten times the rows."""


def make_table(rows: int, path: Path) -> None:
    import polars as pl

    index = pl.int_range(0, rows, eager=False)
    frame = (
        pl.LazyFrame()
        .select(index.alias("i"))
        .with_columns((pl.col("i") // 3).alias("b"))
        .select(
            pl.format("c{}", (pl.col("b") * 2_654_435_761) % max(1, rows // 60)).alias("customer"),
            (pl.datetime(2026, 1, 1, time_zone="UTC") + pl.duration(seconds=pl.col("b") * 37))
            .dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            .alias("time"),
            pl.format("r{}", pl.col("b")).alias("basket"),
            pl.format("SKU-{}", pl.col("i") % 50).alias("sku"),
            pl.format("cat-{}", pl.col("i") % 7).alias("category"),
            pl.format("{}.50", 100 + pl.col("i") % 400).alias("price"),
            pl.when((pl.col("b") % 40 == 39) & (pl.col("i") % 3 == 0))
            .then(pl.lit("-1"))
            .otherwise(pl.lit("1"))
            .alias("quantity"),
            pl.format("store-{}", pl.col("b") % 2).alias("store"),
        )
    )
    frame.collect().write_csv(path)


def child(reader: str, table: str) -> None:
    """One reader over one table in this process; prints what it measured as JSON."""
    import polars  # noqa: F401 (imported before the floor is read, as both readers import it)

    from rules_engine.simulate import tables
    from rules_engine.simulate.tables import ColumnMapping

    floor = _rss_now()
    if reader == "whole":
        from tests.simulate.whole_table import write_events
    else:
        write_events = tables.write_events
    started = time.process_time()
    with open(os.devnull, "w", encoding="utf-8") as out:
        done = write_events(Path(table), ColumnMapping({}), "UTC", out)
    cpu = time.process_time() - started
    peak = _status("VmHWM")
    print(json.dumps({"floor": floor, "peak": peak, "cpu": cpu, "rows": done.rows, "baskets": done.baskets}))


def _rss_now() -> int:
    return _status("VmRSS")


def _status(name: str) -> int:
    """A size from /proc/self/status, in bytes. The peak is `VmHWM`, this process's own since it
    began: `ru_maxrss` is not, as Linux keeps across `exec` the peak of the process that forked
    it (here the parent, which has just made a table of millions of rows)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(name)


def measure(reader: str, table: Path) -> dict[str, float]:
    found = subprocess.run(
        [sys.executable, __file__, "--child", reader, str(table)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(found.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="200000,2000000", help="two table sizes, comma-separated")
    parser.add_argument("--quick", action="store_true", help="small tables: rough numbers in seconds")
    parser.add_argument("--no-whole", action="store_true", help="measure the bounded reader only")
    parser.add_argument("--child", nargs=2, metavar=("READER", "TABLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    from timing import machine

    sizes = [2_000, 20_000] if args.quick else [int(n) for n in args.rows.split(",")]
    m = machine()
    print(
        f"bench_tables: {m['date']}, {m['implementation']} {m['python']}, {m['cpus']} CPUs, "
        f"{m['platform']}; peak RSS of one process per reader and size"
        + ("; --quick: rough numbers" if args.quick else "")
    )
    readers = ["bounded"] if args.no_whole else ["bounded", "whole"]
    found: dict[tuple[str, int], dict[str, float]] = {}
    print(
        f"{'reader':<9} {'rows':>10} {'table MB':>9} {'floor MB':>9} {'peak MB':>8} {'above floor':>12} "
        f"{'CPU s':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-tables-") as folder:
        for size in sizes:
            table = Path(folder) / f"lines-{size}.csv"
            make_table(size, table)
            megabytes = table.stat().st_size / 1e6
            for reader in readers:
                one = found[reader, size] = measure(reader, table)
                assert one["rows"] == size
                above = (one["peak"] - one["floor"]) / 1e6
                print(
                    f"{reader:<9} {size:>10,} {megabytes:>9.1f} {one['floor'] / 1e6:>9.0f} "
                    f"{one['peak'] / 1e6:>8.0f} {above:>12.0f} {one['cpu']:>7.1f}",
                    flush=True,
                )
            table.unlink()
    small, large = sizes[0], sizes[-1]
    for reader in readers:
        growth = _above(found[reader, large]) / _above(found[reader, small])
        line = f"{reader}: peak above the floor x{growth:.2f} for x{large / small:g} rows"
        if reader == "bounded":
            mark = "[met]" if growth <= TARGET else "[MISSED]"
            print(f"  {mark} {line} (target: at most x{TARGET})")
        else:
            print(f"  {line}")
    return 0


def _above(one: dict[str, float]) -> float:
    return max(1.0, one["peak"] - one["floor"])


if __name__ == "__main__":
    sys.exit(main())
