"""Does a replay's memory stay flat as it meets more customers? RSS and CPU time of `loyalty run`
every N lines of a generated stream (issue 14: "memory flat in customers", under 500 MB).

    .venv/bin/python bench/bench_replay.py --stream /tmp/year.jsonl --events 200000
    .venv/bin/python bench/bench_replay.py --customers 2000          # generates its own stream first
    .venv/bin/python bench/bench_replay.py --stream S --db memory    # without --db (RunMemoryStore)
    .venv/bin/python bench/bench_replay.py --stream S --cache 256    # the store URL's ?cache=256
    .venv/bin/python bench/bench_replay.py --stream S --workers 1 2 --repeat 3   # run --workers rows
    .venv/bin/python bench/bench_replay.py --stream S --events 100000 --shares   # where the CPU goes

The run is the command a user types, `loyalty run PROGRAM EVENTS --db URL -q --horizon none`, in a
process of its own (this checkout's cli.py): the bench measures what the command does, defaults
included, not a copy of it. The database is a new SQLite file in a temporary folder
(`synchronous=normal`) unless `--db` names another store; `--cache N` and `--batch-elements N` add
`?cache=N` and `?batch_elements=N` to its URL, `--working` `?working=1` (the store carries working
states: store/sql_writing.py). The stream is `--stream` (its first `--events`
lines), or one `loyalty generate` makes for `--customers` coffee-club customers (seed 1, no
coupons: the year of docs/stores.md is `--customers 12500`).

While the run goes on, the bench reads, every 50 ms, how far the run has read its events file
(/proc/PID/fdinfo: the file's position, turned into a line number) and, at each `--every` lines,
its RSS (VmRSS in /proc/PID/status) and CPU time (user + system, /proc/PID/stat). A line is read a
little before it is acknowledged (a batch of 500 is committed after its last line is read). At the
end: the run's total CPU time and peak RSS (from wait4), and two verdicts, [met] or [MISSED]: the
peak RSS under the target (500 MB), and RSS flat: the highest RSS of the last quarter of the samples
no more than 1.1× the highest of the second quarter. Linux only (/proc). A benchmark, not a test:
it exits 0 whatever the numbers (not if the run itself fails).

`--workers 1 2` (issue 14, "workers that own their customers"): instead of the samples, a row per
worker count, `loyalty run … --workers N` on the same stream, each run on a new database; the
counts alternate (1, 2, 1, 2, … `--repeat` times each), so that a change in the machine's load
falls on all of them. Each row: wall time and CPU time (the run's processes, workers included:
wait4), min and median, events per second by the minimum wall time, and the speed-up against the
first count measured in the same run (its minimum wall time over the row's).

`--shares` (issue 14's 60 s target: what stands between): instead of the command in a process of
its own, the same replay in this process (`replay_lines` on `open_store` with `loyalty run`'s
replay defaults, `--batch` lines a group, collector tuned as the command tunes it), with the CPU
time (`time.process_time`) of its parts taken around the store's and the engine's methods: the
states read back from the database (`_load`: the customers the cache did not hold), the engine's
decision (`Engine.process`), the group's writes (`_flush`: summaries, list rows, event rows with
their compressed outcome, ledger rows) and its commit, and the rest (reading the lines, the
service around the engine: the outcome's JSON, the event's digest, the per-event lookups). At each
`--every` lines (a multiple of the batch: a line is told once its batch commits) a row of each
part's µs an event over those lines, the states read and their list
elements per event, and how many of those elements were parsed (validated into models: all of a
short list's at the read, a long list's only those the event read, store/lazy.py; `--eager`
validates every element at the read, as the store did before, for a before/after in one run); at
the end the whole run's, and the 1,000,000-event time it projects (the last interval's cost an
event, on one process). SQLite or PostgreSQL (`--db`); not `--db memory`.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import machine

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "programs" / "coffee-club.yaml"
TARGET_MB = 500
"""Issue 14: a replay of a 1,000,000-event stream stays under this much RSS."""
FLAT = 1.1
"""RSS is flat when the last quarter's highest is at most this many times the second quarter's."""
POLL = 0.05
"""Seconds between two looks at the run."""
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Sample:
    lines: int
    rss_mb: float
    cpu_s: float


@dataclass
class Report:
    command: list[str]
    lines: int
    samples: list[Sample] = field(default_factory=list)
    cpu_s: float = 0.0
    peak_mb: float = 0.0
    returncode: int = 0
    under_target: bool = False
    flat: bool | None = None
    """None: too few samples to tell (fewer than four)."""
    growth: float | None = None
    """Highest RSS of the last quarter of the samples over the second quarter's."""


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--stream", type=Path, help="a JSON Lines stream of events (else one is generated)")
    parser.add_argument("--customers", type=int, default=2000, help="customers of the generated stream")
    parser.add_argument("--events", type=int, help="replay only the first N lines of the stream")
    parser.add_argument("--every", type=int, default=25_000, help="a sample every N lines")
    parser.add_argument("--db", help="the store's URL (default: a new SQLite file); 'memory': no --db")
    parser.add_argument("--cache", type=int, help="?cache=N in the store URL (customers' states held)")
    parser.add_argument("--batch-elements", type=int, help="?batch_elements=N in the store URL")
    parser.add_argument(
        "--working",
        action="store_true",
        help="?working=1 in the store URL (the store carries working states)",
    )
    parser.add_argument("--batch", type=int, help="loyalty run --batch N (default: the command's)")
    parser.add_argument("--program", type=Path, default=PROGRAM)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    parser.add_argument("--workers", type=int, nargs="+", help="rows of `run --workers N` instead of samples")
    parser.add_argument("--repeat", type=int, default=3, help="with --workers: runs of each count")
    parser.add_argument("--shares", action="store_true", help="in process: where the CPU goes (docstring)")
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="with --shares: gc.freeze() after each batch commits (an experiment: the collector's walks)",
    )
    parser.add_argument(
        "--eager",
        action="store_true",
        help="with --shares: a state read validates all its elements at once (before store/lazy.py)",
    )
    parser.add_argument(
        "--pragma",
        action="append",
        default=[],
        help="with --shares on SQLite: PRAGMA NAME=VALUE on the store's connection once opened",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as folder:
        stream = _stream(args, Path(folder))
        if args.shares:
            parts = shares(args, stream, Path(folder))
            if args.json:
                print(json.dumps({"machine": machine(), "rows": [asdict(row) for row in parts]}, indent=2))
            return
        if args.workers:
            rows = compare(args, stream, Path(folder))
            if args.json:
                print(json.dumps({"machine": machine(), "rows": [asdict(row) for row in rows]}, indent=2))
            if any(code not in (0, 1) for row in rows for code in row.returncodes):
                sys.exit("loyalty run failed")
            return
        report = measure(args, stream, Path(folder))
    if args.json:
        print(json.dumps({"machine": machine(), **asdict(report)}, indent=2))
    else:
        _verdicts(report, args.every)
    if report.returncode not in (0, 1):  # 1: lines refused by the engine, reported and skipped
        sys.exit(f"loyalty run failed (exit {report.returncode})")


def _stream(args: argparse.Namespace, folder: Path) -> Path:
    """The stream to replay: --stream's first --events lines, or a generated one."""
    source = args.stream
    if source is None:
        source = folder / "generated.jsonl"
        _loyalty(
            "generate", str(args.program), "--customers", str(args.customers), "--seed", "1",
            "--no-coupons", "--out", str(source),
        )  # fmt: skip
    if args.events is None:
        return Path(source)
    head = folder / "head.jsonl"
    with open(source, "rb") as lines, open(head, "wb") as out:
        for n, line in enumerate(lines):
            if n >= args.events:
                break
            out.write(line)
    return head


def _loyalty(*arguments: str) -> None:
    command = [sys.executable, str(ROOT / "cli.py"), *arguments]
    subprocess.run(command, check=True, cwd=ROOT, stdout=sys.stderr)  # stdout: the results only


def _url(args: argparse.Namespace, folder: Path) -> str | None:
    if args.db == "memory":
        return None
    url = args.db or f"sqlite:///{folder / 'replay.db'}?synchronous=normal"
    working = 1 if args.working else None
    for name, value in (("cache", args.cache), ("batch_elements", args.batch_elements), ("working", working)):
        if value is not None:
            url += f"{'&' if '?' in url else '?'}{name}={value}"
    return url


def measure(args: argparse.Namespace, stream: Path, folder: Path) -> Report:
    starts = _line_starts(stream)
    url = _url(args, folder)
    command = [sys.executable, str(ROOT / "cli.py"), "run", str(args.program), str(stream), "-q"]
    command += ["--horizon", "none"] + ([] if url is None else ["--db", url])
    command += [] if args.batch is None else ["--batch", str(args.batch)]
    report = Report(command=command[1:], lines=len(starts))
    if not args.json:  # the samples as they come: a long run shows where it is
        print(f"# {machine()['date']}, {machine()['cpus']} CPUs, load {os.getloadavg()[0]:.2f} at the start")
        print("# " + " ".join(report.command))
        print(f"{'lines':>10} {'RSS MB':>8} {'CPU s':>8}", flush=True)
    environment = {**os.environ, "LOYALTY_SECRET": os.environ.get("LOYALTY_SECRET", "bench")}
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL)
    fd: str | None = None
    due = args.every
    while True:
        time.sleep(POLL)
        try:
            fd = fd or _events_fd(process.pid, stream)
            position = _position(process.pid, fd) if fd is not None else 0
            status = _status(process.pid)
        except (FileNotFoundError, ProcessLookupError):
            break  # gone: wait4 below
        if status is None:
            break  # a zombie: its memory is gone, the end is near
        line = bisect.bisect_right(starts, position - 1)  # lines started before the position: read
        while line >= due:
            report.samples.append(Sample(due, status[0], status[1]))
            if not args.json:
                print(f"{due:>10,} {status[0]:>8.0f} {status[1]:>8.1f}", flush=True)
            due += args.every
    _, code, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(code)
    report.returncode = process.returncode
    report.cpu_s = usage.ru_utime + usage.ru_stime
    report.peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    report.under_target = report.peak_mb < TARGET_MB
    if len(report.samples) >= 4:
        quarter = len(report.samples) // 4
        second = max(s.rss_mb for s in report.samples[quarter : 2 * quarter])
        last = max(s.rss_mb for s in report.samples[-quarter:])
        report.growth = last / second
        report.flat = report.growth <= FLAT
    return report


@dataclass
class WorkersRow:
    workers: int
    lines: int
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    returncodes: list[int] = field(default_factory=list)
    events_per_s: float = 0.0
    """Lines by the minimum wall time."""
    speedup: float = 0.0
    """The first row's minimum wall time over this row's."""


def compare(args: argparse.Namespace, stream: Path, folder: Path) -> list[WorkersRow]:
    """`loyalty run --workers N` for each N, alternating, `--repeat` times each (module docstring)."""
    lines = len(_line_starts(stream))
    rows = [WorkersRow(count, lines) for count in args.workers]
    environment = {**os.environ, "LOYALTY_SECRET": os.environ.get("LOYALTY_SECRET", "bench")}
    if not args.json:
        print(f"# {machine()['date']}, {machine()['cpus']} CPUs, load {os.getloadavg()[0]:.2f} at the start")
    for round in range(args.repeat):
        for row in rows:
            (folder / f"r{round}w{row.workers}").mkdir()
            url = _fresh(_url(args, folder / f"r{round}w{row.workers}"), f"r{round}w{row.workers}")
            command = [sys.executable, str(ROOT / "cli.py"), "run", str(args.program), str(stream), "-q"]
            command += ["--horizon", "none", "--db", url, "--workers", str(row.workers)]
            command += [] if args.batch is None else ["--batch", str(args.batch)]
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL)
            _, code, usage = os.wait4(process.pid, 0)
            row.wall_s.append(time.perf_counter() - started)
            row.cpu_s.append(usage.ru_utime + usage.ru_stime)
            row.peak_mb.append(usage.ru_maxrss / 1024)
            row.returncodes.append(os.waitstatus_to_exitcode(code))
            if not args.json:
                print(f"# round {round + 1}, {row.workers} worker(s): {row.wall_s[-1]:.1f} s wall, "
                      f"{row.cpu_s[-1]:.1f} s CPU", flush=True)  # fmt: skip
    for row in rows:
        row.events_per_s = lines / min(row.wall_s)
        row.speedup = min(rows[0].wall_s) / min(row.wall_s)
    if not args.json:
        batch = "" if args.batch is None else f" --batch {args.batch}"
        shown = _url(args, Path("DIR"))
        print(f"# {lines:,} lines, loyalty run … -q --horizon none --db {shown} --workers N{batch}")
        print(f"# load {os.getloadavg()[0]:.2f} at the end")
        print(f"{'workers':>7} {'wall s min/med':>15} {'CPU s min/med':>15} {'events/s':>9} {'speed-up':>8}")
        for row in rows:
            wall = f"{min(row.wall_s):.1f}/{statistics.median(row.wall_s):.1f}"
            cpu = f"{min(row.cpu_s):.1f}/{statistics.median(row.cpu_s):.1f}"
            print(f"{row.workers:>7} {wall:>15} {cpu:>15} {row.events_per_s:>9.0f} {row.speedup:>7.2f}×")
    return rows


SHARES = ("load", "engine", "flush", "commit")
"""The parts `--shares` times (module docstring); "rest" is the remainder."""


@dataclass
class SharesRow:
    lines: int
    """The last line of the interval."""
    events: int
    """Lines in the interval."""
    cpu_us: float
    """CPU µs an event over the interval, in all."""
    parts_us: dict[str, float]
    """CPU µs an event over the interval, part by part (SHARES and "rest")."""
    loads: float
    """States read from the database per event."""
    elements: float
    """List elements of those states per event."""
    parsed: float
    """Elements of the states read that the event parsed per event (store/lazy.py: a long list's
    rows are validated when first read; the short lists', and with --eager all, at the read)."""
    written_kb: float
    """KB the process wrote per event (`wchar` of /proc/self/io: the WAL and the checkpoints)."""
    gc_us: float
    """CPU µs an event in the cyclic collector's passes (`gc.callbacks`), inside the parts above."""


def shares(args: argparse.Namespace, stream: Path, folder: Path) -> list[SharesRow]:
    """The replay in this process, its parts timed (module docstring, `--shares`)."""
    from rules_engine import collector
    from rules_engine.engine.evaluator import Engine
    from rules_engine.replay import replay_lines
    from rules_engine.replay_input import bounded_lines
    from rules_engine.service import Loyalty
    from rules_engine.state.shared import window
    from rules_engine.store import lists, open_store
    from rules_engine.store.cache import REPLAY_ELEMENTS, REPLAY_SIZE
    from rules_engine.store.lazy import LazyRows

    url = _url(args, folder)
    if url is None:
        sys.exit("--shares measures a store: not --db memory")
    batch = args.batch or 500
    if args.every % batch:  # lines are told once their batch commits: a row per whole batches
        sys.exit(f"--shares: --every {args.every} must be a multiple of the batch ({batch} lines)")
    engine = Engine.from_file(args.program, secret=b"bench")
    collector.tune_for_events()
    store: Any = open_store(
        url, engine.program.program, default_cache=REPLAY_SIZE, default_cache_budget=REPLAY_ELEMENTS
    )
    for pragma in args.pragma:
        store._db.execute(f"PRAGMA {pragma}")
    spent = dict.fromkeys(SHARES, 0.0)
    counted: dict[str, float] = {"loads": 0, "elements": 0, "parsed": 0, "written": _written()}
    if args.eager:  # every element validated at the read, as before store/lazy.py: a before/after
        lists.LAZY = ()

    def counting(parse: Any) -> Any:
        def call(text: str) -> Any:
            counted["parsed"] += 1
            return parse(text)

        return call

    for part, parse in list(lists._PARSERS.items()):
        lists._PARSERS[part] = counting(parse)
    clock = time.process_time

    def timed(part: str, method: Any) -> Any:
        def call(*arguments: Any, **options: Any) -> Any:
            started = clock()
            try:
                return method(*arguments, **options)
            finally:
                spent[part] += clock() - started

        return call

    load = store._load

    def counted_load(customer: str) -> Any:
        held = load(customer)
        if held is not None:
            counted["loads"] += 1
            counted["elements"] += held.weight
            counted["parsed"] += held.weight - sum(
                len(values) for values in held.elements.values() if type(window(values)[0]) is LazyRows
            )
        return held

    collecting: dict[str, float] = {}

    def collector_pass(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting["since"] = clock()
        elif "since" in collecting:
            counted["gc"] += clock() - collecting.pop("since")

    counted["gc"] = 0.0
    gc.callbacks.append(collector_pass)
    store._load = timed("load", counted_load)
    store._flush = timed("flush", store._flush)
    store._commit = timed("commit", store._commit)
    engine.process = timed("engine", engine.process)  # type: ignore[method-assign]
    rows: list[SharesRow] = []
    if not args.json:
        print(f"# {machine()['date']}, {machine()['cpus']} CPUs, load {os.getloadavg()[0]:.2f} at the start")
        pragmas = "".join(f", PRAGMA {pragma}" for pragma in args.pragma)
        pragmas += ", gc.freeze() after each batch" if args.freeze else ""
        print(f"# in process: replay_lines(…, batch={batch}) into {url}{pragmas}")
        parts = " ".join(f"{part:>7}" for part in (*SHARES, "rest"))
        counts = f"{'loads':>6} {'elements':>8} {'parsed':>7} {'KB out':>7} {'gc':>6}"
        print(f"{'lines':>10} {'µs/event':>9} {parts} {counts}")
    before = {"cpu": clock(), "line": 0, **spent, **counted}

    def line_done(number: int) -> None:
        if args.freeze and number % batch == 0:  # committed: what the process holds now, out of the walks
            gc.freeze()
        if number % args.every == 0:
            rows.append(_interval(number, before, spent, counted, clock(), args.json))

    started = clock()
    with open(stream, "rb") as lines:
        replay_lines(
            Loyalty(engine, store, horizon=None),
            str(stream),
            bounded_lines(lines),
            on_line=line_done,
            batch=batch,
        )
    total_lines = len(_line_starts(stream))
    if total_lines % args.every:
        rows.append(_interval(total_lines, before, spent, counted, clock(), args.json))
    store.close()
    gc.callbacks.remove(collector_pass)
    if not args.json:
        whole = clock() - started
        each = whole / total_lines * 1e6
        print(f"# {total_lines:,} lines: {whole:.1f} s CPU in all, {each:.0f} µs an event;"
              f" load {os.getloadavg()[0]:.2f} at the end")  # fmt: skip
        last = rows[-1]
        print(f"# 1,000,000 events at the last interval's {last.cpu_us:.0f} µs an event: "
              f"{last.cpu_us:.0f} s of CPU (issue 14's target: 60 s of wall time)")  # fmt: skip
    return rows


def _interval(
    line: int,
    before: dict[str, float],
    spent: dict[str, float],
    counted: dict[str, float],
    now: float,
    quiet: bool,
) -> SharesRow:
    """The row of the lines since the last one; moves `before` on."""
    events = max(line - int(before["line"]), 1)
    cpu = (now - before["cpu"]) / events * 1e6
    parts = {part: (spent[part] - before[part]) / events * 1e6 for part in SHARES}
    parts["rest"] = cpu - sum(parts.values())
    row = SharesRow(
        line,
        events,
        cpu,
        parts,
        (counted["loads"] - before["loads"]) / events,
        (counted["elements"] - before["elements"]) / events,
        (counted["parsed"] - before["parsed"]) / events,
        (_written() - before["written"]) / events / 1024,
        (counted["gc"] - before["gc"]) / events * 1e6,
    )
    counted["written"] = _written()
    before.update(cpu=now, line=line, **spent, **counted)
    if not quiet:
        shown = " ".join(f"{parts[part]:>7.0f}" for part in (*SHARES, "rest"))
        counts = f"{row.loads:>6.2f} {row.elements:>8.1f} {row.parsed:>7.1f}"
        counts += f" {row.written_kb:>7.1f} {row.gc_us:>6.0f}"
        print(f"{line:>10,} {cpu:>9.0f} {shown} {counts}", flush=True)
    return row


def _written() -> int:
    """Bytes this process has written (/proc/self/io `wchar`); 0 where there is no such file."""
    try:
        with open("/proc/self/io") as io:
            for line in io:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _fresh(url: str | None, name: str) -> str:
    """A new, empty database for one run: a new SQLite file, or on a PostgreSQL server a new
    database `bench_replay_<pid>_<name>` (left for the server's owner to drop: a throwaway
    server, scripts/with-postgres.sh, drops them all)."""
    if url is None:
        sys.exit("--workers needs a store the workers share: not --db memory")
    if not url.startswith(("postgres://", "postgresql://")):
        return url
    import psycopg
    from psycopg import sql

    database = f"bench_replay_{os.getpid()}_{name}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + database + (f"?{query}" if query else "")


def _line_starts(stream: Path) -> list[int]:
    """The byte offset at which each line of the stream starts."""
    starts, offset = [], 0
    with open(stream, "rb") as lines:
        for line in lines:
            starts.append(offset)
            offset += len(line)
    return starts


def _events_fd(pid: int, stream: Path) -> str | None:
    """The run's file descriptor on the events file, once it has opened it."""
    wanted = str(stream.resolve())
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                return fd
        except OSError:
            continue
    return None


def _position(pid: int, fd: str) -> int:
    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
        for line in info:
            if line.startswith("pos:"):
                return int(line.split()[1])
    return 0


def _status(pid: int) -> tuple[float, float] | None:
    """(RSS in MB, CPU seconds) of the process; None once it has exited (a zombie)."""
    rss = None
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    if rss is None:
        return None
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)
    return rss, cpu


def _verdicts(report: Report, every: int) -> None:
    print(f"{report.lines:>10,} lines in all: {report.cpu_s:.1f} s CPU, peak RSS {report.peak_mb:.0f} MB")
    print(f"# load {os.getloadavg()[0]:.2f} at the end")
    verdict = "[met]" if report.under_target else "[MISSED]"
    print(f"peak RSS {report.peak_mb:.0f} MB < {TARGET_MB} MB: {verdict}")
    if report.growth is None:
        print(f"flat: fewer than 4 samples (one every {every:,} lines), not told")
    else:
        verdict = "[met]" if report.flat else "[MISSED]"
        growth = f"{report.growth:.2f}"
        print(f"flat: last quarter's highest RSS / second quarter's = {growth} <= {FLAT}: {verdict}")


if __name__ == "__main__":
    main()
