"""What the HTTP service costs: purchases through `loyalty serve` on loopback, against the same
events through `Loyalty.handle` in process.

    .venv/bin/python bench/bench_service.py                       # the full run, a few minutes
    .venv/bin/python bench/bench_service.py --quick               # seconds, rough numbers (the smoke test)
    .venv/bin/python bench/bench_service.py --postgres URL        # PostgreSQL rows too
    .venv/bin/python bench/bench_service.py --json                # the results as one JSON document
    .venv/bin/python bench/bench_service.py --repeat 1            # each cell once (a third of the time)
    .venv/bin/python bench/bench_service.py --workers 1 --concurrency 1 16   # only those rows
    .venv/bin/python bench/bench_service.py --working             # SQLite with working states (?working=1)
    .venv/bin/python bench/bench_service.py --stores postgresql   # only the PostgreSQL rows (with a URL)
    make bench-service                                            # with a throwaway PostgreSQL server

A bounded load: each cell sends a fixed number of coffee-club purchases (1,200: 3-line baskets,
dated within the last hour, many customers, each event its own id) and stops. 1,200 rather than
the 400 of before 2026-12-06: a run's p99 is then its 12th slowest request, not its 4th. Runs of
400 (0.2 s at two workers' 2,000 requests/s) of one tree gave p99s 40-53 ms best and 45-64 median
over four rounds; runs of 1,200, 40-46 and 43-47 (bench/README.md, History 2026-12-06). A cell is one store
(SQLite: a new file; PostgreSQL: the database at the URL, new customers per run), one number of
worker processes (1, 2) and one concurrency (1, 16, 64: that many requests in flight, each
client connection kept alive and sent its next request as soon as the last was answered).

The client is a few lines of asyncio over raw HTTP/1.1 in this process, so that measuring does
not cost more CPU than serving. For each run: requests/s (wall), the latency of every request
(p50, p99), and the CPU time of the server processes (supervisor and workers, from /proc) per
request; and the client's own CPU per request (this process's CPU time during the load, the
`client` column, a median): the load shares the 2 cores with the server; the event loops' share
of the server's CPU (`loop`: the worker processes' main threads) and the voluntary context
switches of all its threads per request (`cs/req`), from /proc per thread; the events a
transaction stored (`ev/tx`, from the server's `loyalty_event_group_size`: SQLite and PostgreSQL;
0 where it is not counted); PostgreSQL's own server processes' CPU per request (`db ms`, from /proc:
the backends share the 2 cores with the workers, and are not in `CPU ms/req`); the garbage
collector's walks in the workers during the load and the milliseconds they held them in all
(`gc n / ms`, from the server's `loyalty_collector_pause_seconds`: every request in flight waits
a walk out, so one inside a run is most of its p99); and the machine's
load average (`load`), all medians; with several workers, each worker's part of each run (the
client connections it held, its requests' p50 / p99, from the answers' `x-request-id`: `shares`).
The in-process row
sends the same events through `Loyalty.handle` on the same kind of store, one after another,
in CPU time (`time.process_time`), configured as the server's worker is (the horizon from the
system clock, the garbage collector tuned for events). The ratio HTTP / in-process is server
CPU per request over in-process CPU per event: what the HTTP layer adds to the work of an
event, independent of how loaded the machine is (wall-clock ratios are printed too). Since the
load of a shared machine drifts over the minutes of a whole run, each run of a cell is also
paired with an in-process round of as many events right after it (the `paired` column: best /
median of the runs' ratios), and the ratio target is judged on the median of those pairs. At
concurrency 64 the floor of the mean latency that the measured CPU allows is printed beside p99
(`latency_floor`).

With SQLite, the server stores the events that wait together in one transaction (docs/service.md,
"SQLite: one event thread"), while the in-process rows call `Loyalty.handle` one event after
another, a transaction each, as a caller that has one event at a time does: at concurrency 16 and
64 the ratio holds that gain too, at concurrency 1 (no event ever waits for another) none.

Each cell is run `repeat` times; the table gives the best (min latency, max requests/s) and the
median. Targets (issue 17): HTTP ≤ 1.5× in-process at concurrency 16; p99 < 50 ms at
concurrency 64. A benchmark, not a test: it exits 0 whatever the numbers, 1 only when requests
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import gc
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from timing import machine

from rules_engine import collector, jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.http.runtime import system_clock
from rules_engine.http.server import tune_collector
from rules_engine.http.stores import SERVICE_CACHE, SERVICE_ELEMENTS
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.keys import new_key

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "programs" / "coffee-club.yaml"
RATIO_TARGET = 1.5  # HTTP CPU per request / in-process CPU per event, at concurrency 16
P99_TARGET_MS = 50.0  # at concurrency 64
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Settings:
    requests: int
    concurrency: tuple[int, ...]
    workers: tuple[int, ...]
    repeat: int
    customers: int


FULL = Settings(requests=1200, concurrency=(1, 16, 64), workers=(1, 2), repeat=3, customers=300)
QUICK = Settings(requests=80, concurrency=(1, 16), workers=(1,), repeat=1, customers=80)

PRODUCTS = (
    ("LATTE-L", "coffee", "320.00"),
    ("CROISSANT", "pastry", "180.50"),
    ("BEANS-250", "beans", "420.00"),
    ("ESPRESSO", "coffee", "150.00"),
    ("JUICE", "drinks", "155.00"),
)


def events(count: int, customers: int, run: str) -> list[dict[str, Any]]:
    """`count` purchases, oldest first, spread over `customers` (a customer's events a few
    hundred requests apart, so that they arrive in order even 64 at a time)."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    made = []
    for i in range(count):
        lines = [PRODUCTS[(i + k) % len(PRODUCTS)] for k in range(3)]
        made.append(
            {
                "id": f"{run}-{i}",
                "type": "purchase",
                "time": (start + dt.timedelta(milliseconds=i)).isoformat(),
                "customer": f"{run}-c{i % customers}",
                "items": [
                    {"sku": sku, "category": category, "price": Decimal(price), "qty": 1 + (i + k) % 2}
                    for k, (sku, category, price) in enumerate(lines)
                ],
            }
        )
    return made


# -- the server ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    key: str
    folder: Path

    def pids(self) -> list[int]:
        """The server and its descendants (uvicorn's workers, their multiprocessing helpers)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def cpu(self) -> float:
        """CPU seconds the server's processes have used so far (user + system)."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / TICKS

    def threads(self) -> Threads:
        """The CPU seconds of the processes' main threads (the event loops) so far, and the
        context switches of all their threads (voluntary: a thread waited; involuntary: it was
        preempted), from /proc per thread."""
        loop, voluntary, involuntary = 0, 0, 0
        for pid in self.pids():
            try:
                tasks = list(Path(f"/proc/{pid}/task").iterdir())
            except OSError:
                continue
            for task in tasks:
                try:
                    stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
                    status = (task / "status").read_text()
                except OSError:
                    continue
                if task.name == str(pid):
                    loop += int(stat[11]) + int(stat[12])
                voluntary += int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
                involuntary += int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        return Threads(loop / TICKS, voluntary, involuntary)


@dataclass(frozen=True)
class Threads:
    loop_cpu: float
    voluntary: int
    involuntary: int


def start_server(db: str, workers: int, folder: Path) -> Server:
    programs = folder / "programs"
    programs.mkdir(exist_ok=True)
    shutil.copy(PROGRAM, programs)
    token, key = new_key(["events:write"], [])
    with open_store(db, "coffee-club") as store:
        store.add_key(key)
    port = free_port()
    command = [
        sys.executable, "-m", "rules_engine.cli", "serve", str(programs), "--db", db,
        "--port", str(port), "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    log = (folder / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, port, token, folder)
    deadline = time.monotonic() + 90
    ready = 0
    while ready < 3 * workers:  # several answers: every worker is likely up
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError((folder / f"serve-{port}.log").read_text(errors="replace"))
        try:
            status = asyncio.run(_get(port, "/readyz"))
        except OSError:
            status = 0
        ready = ready + 1 if status == 200 else 0
        time.sleep(0.1)
    return server


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10)


def database_cpu(db: str) -> float:
    """CPU seconds PostgreSQL's server has used so far, when `db` is a PostgreSQL URL whose server
    runs on this machine and its processes can be read (0.0 otherwise: SQLite works in the
    worker's own process, already counted): the postmaster's own and reaped children's time,
    and each live child's (a backend per connection, the writer, the checkpointer …). On a
    shared 2-core machine it is the other half of what a request costs."""
    if not db.startswith(("postgresql://", "postgres://")):
        return 0.0
    import psycopg

    try:
        with psycopg.connect(db, autocommit=True) as connection:
            row = connection.execute("SHOW data_directory").fetchone()
        assert row is not None
        postmaster = int((Path(row[0]) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, psycopg.Error):
        return 0.0
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == postmaster:
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime (reaped children)
        elif int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICKS


# -- the client: HTTP/1.1 with keep-alive over asyncio streams ---------------------------------------
async def _read_response(reader: asyncio.StreamReader) -> int:
    return (await _read_answer(reader))[0]


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
    """The response's status, the worker that answered it (its `x-request-id` without the
    16 hex digits of the worker's count: observe.py, the rest is a prefix drawn per worker) and
    its body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    worker = ""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"x-request-id":
            worker = value.strip()[:-16].decode("latin-1")
    body = await reader.readexactly(length)
    return status, worker, body


def failure(status: int, body: bytes) -> str:
    """A failed answer as the report counts it: its status and the problem's error code
    (`application/problem+json`'s `code`, docs/service.md), e.g. "503 RE810"; the status alone
    when the body is not a problem."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        code = None
    return f"{status} {code}" if isinstance(code, str) else str(status)


async def _get(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        return await _read_response(reader)
    finally:
        writer.close()


_SUMS = {
    "transactions": "loyalty_event_group_size_count{",
    "stored": "loyalty_event_group_size_sum{",
    "pauses": "loyalty_collector_pause_seconds_count{",
    "paused": "loyalty_collector_pause_seconds_sum{",
}


def server_sums(port: int) -> dict[str, float]:
    """From the server's /metrics so far: its transactions and the events the events route stored
    in them (`loyalty_event_group_size`'s count and sum: SQLite only; zeros elsewhere), and the
    garbage collector's walks and the seconds they held the workers
    (`loyalty_collector_pause_seconds`), all generations and workers added up."""

    async def metrics() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()

    found = dict.fromkeys(_SUMS, 0.0)
    for line in asyncio.run(metrics()).decode().splitlines():
        for name, start in _SUMS.items():
            if line.startswith(start):
                found[name] += float(line.rsplit(" ", 1)[1])
    return found


@dataclass
class Load:
    seconds: float
    latencies: list[float]
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    """The failed answers by status and error code (`failure`)."""
    workers: list[str] = field(default_factory=list)
    """The worker that answered each request (`_read_answer`), in the order of `latencies`."""
    connections: list[str] = field(default_factory=list)
    """The worker each client connection was served by (that of its first answer)."""


async def _load(port: int, key: str, bodies: list[bytes], concurrency: int) -> Load:
    path = "/v1/programs/coffee-club/events"
    queue = iter(range(len(bodies)))
    latencies = [0.0] * len(bodies)
    workers = [""] * len(bodies)
    connections: list[str] = []
    statuses: dict[int, int] = {}
    failures: dict[str, int] = {}

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        first = True
        try:
            for index in queue:
                body = bodies[index]
                request = (
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                began = time.perf_counter()
                writer.write(request)
                await writer.drain()
                status, worker, answer = await _read_answer(reader)
                latencies[index] = time.perf_counter() - began
                statuses[status] = statuses.get(status, 0) + 1
                if status != 200:
                    what = failure(status, answer)
                    failures[what] = failures.get(what, 0) + 1
                workers[index] = worker
                if first:
                    connections.append(worker)
                    first = False
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Load(time.perf_counter() - began, latencies, statuses, failures, workers, connections)


@dataclass(frozen=True)
class Share:
    """One worker's part of a run: the client connections it held, its requests, their p50 and p99."""

    connections: int
    requests: int
    p50_ms: float
    p99_ms: float


def shares(load: Load) -> list[Share]:
    """Each worker's part of a run, the one holding most connections first (`Load.workers`): with
    `--workers 2` the run's p99 is the busier worker's."""
    answered: dict[str, list[float]] = {}
    for worker, latency in zip(load.workers, load.latencies, strict=True):
        answered.setdefault(worker, []).append(latency)
    found = [
        Share(
            load.connections.count(worker),
            len(latencies),
            percentile(latencies, 0.50) * 1000,
            percentile(latencies, 0.99) * 1000,
        )
        for worker, latencies in answered.items()
    ]
    return sorted(found, key=lambda share: (-share.connections, -share.requests))


# -- one run of a cell ---------------------------------------------------------------------------------
@dataclass
class Run:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # the server's CPU per request
    failed: int
    client_cpu_ms: float = 0.0  # the load's own CPU per request (this process): it shares the cores
    paired_ms: float = 0.0
    """`Loyalty.handle`'s CPU per event in a round run right after this one (`http_run`)."""
    loop_cpu_ms: float = 0.0
    """The event loops' share of `cpu_ms` (the worker processes' main threads)."""
    switches: float = 0.0
    """Voluntary context switches of the server's threads per request (waits: I/O, the
    interpreter's lock, the queue, the pools)."""
    preempted: float = 0.0
    """Involuntary context switches per request (the scheduler took the core)."""
    load: float = 0.0
    """The machine's load average (1 minute) at the run's end."""
    per_commit: float = 0.0
    """Events the server stored a transaction (SQLite: those that waited together; 0: not known)."""
    db_cpu_ms: float = 0.0
    """PostgreSQL's server processes' CPU per request (`database_cpu`; 0: SQLite, or not readable)."""
    pauses: int = 0
    """The garbage collector's walks in the workers during the load (`server_sums`)."""
    paused_ms: float = 0.0
    """How long they held the workers in all: every request in flight waited each out."""
    shares: list[Share] = field(default_factory=list)
    """Each worker's connections, requests, p50 and p99 (`shares`), the one holding most first."""
    failures: dict[str, int] = field(default_factory=dict)
    """The failed requests by status and error code (`failure`): what `failed` counts."""

    @property
    def paired_ratio(self) -> float:
        """Server CPU per request over the paired in-process round's CPU per event."""
        return self.cpu_ms / self.paired_ms


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def http_run(db: str, workers: int, concurrency: int, settings: Settings, folder: Path, paired: str) -> Run:
    """One run of a cell, and right after it the same number of events through `Loyalty.handle`
    on `paired` (another database of the same kind): the ratio of the two is taken seconds apart,
    so a machine whose load drifts over the minutes of a whole run (other jobs starting and
    stopping) slows both alike. The separate in-process rows moved by up to 2x between the start
    and the end of a run on a shared machine."""
    server = start_server(db, workers, folder)
    try:
        bodies = [jsonio.dumps(e).encode() for e in events(settings.requests, settings.customers, _run_id())]
        warm = [jsonio.dumps(e).encode() for e in events(min(20, settings.requests), 20, _run_id())]
        asyncio.run(_load(server.port, server.key, warm, min(concurrency, 4)))  # imports, pools, caches
        sums_before = server_sums(server.port)
        db_before = database_cpu(db)
        cpu_before, client_before, threads_before = server.cpu(), time.process_time(), server.threads()
        load = asyncio.run(_load(server.port, server.key, bodies, concurrency))
        cpu, client = server.cpu() - cpu_before, time.process_time() - client_before
        db_cpu = database_cpu(db) - db_before
        threads = server.threads()
        sums = {name: value - sums_before[name] for name, value in server_sums(server.port).items()}
    finally:
        stop_server(server)
    failed = sum(count for status, count in load.statuses.items() if status != 200)
    baseline = in_process_run(paired, settings)
    return Run(
        requests_per_s=len(bodies) / load.seconds,
        p50_ms=percentile(load.latencies, 0.50) * 1000,
        p99_ms=percentile(load.latencies, 0.99) * 1000,
        cpu_ms=cpu / len(bodies) * 1000,
        failed=failed,
        client_cpu_ms=client / len(bodies) * 1000,
        paired_ms=baseline.cpu_ms,
        loop_cpu_ms=(threads.loop_cpu - threads_before.loop_cpu) / len(bodies) * 1000,
        switches=(threads.voluntary - threads_before.voluntary) / len(bodies),
        preempted=(threads.involuntary - threads_before.involuntary) / len(bodies),
        load=os.getloadavg()[0],
        per_commit=_ratio(sums["stored"], sums["transactions"]),
        pauses=int(sums["pauses"]),
        paused_ms=sums["paused"] * 1000,
        db_cpu_ms=db_cpu / len(bodies) * 1000,
        shares=shares(load),
        failures=load.failures,
    )


def _ratio(events: float, transactions: float) -> float:
    return events / transactions if transactions else 0.0


@dataclass
class InProcess:
    events_per_s: float  # wall
    cpu_ms: float  # CPU per event
    db_cpu_ms: float = 0.0  # PostgreSQL's server's CPU per event (`database_cpu`)


def in_process_run(db: str, settings: Settings) -> InProcess:
    """`Loyalty.handle` as the server's worker runs it: the horizon measured from the system clock
    (the service's `Settings.clock`; without `now`, `Loyalty` asks the store for its latest event
    time on every event, a query the server never makes) and the garbage collector tuned as
    `loyalty serve` tunes its workers (server.py `tune_collector`, and `collector.after_work` after
    each event as the worker's event thread after each group; put back afterwards, for the client)."""
    engine = Engine.from_file(PROGRAM)
    made = events(settings.requests, settings.customers, _run_id())
    bodies = [jsonio.loads(jsonio.dumps(e)) for e in made]  # as the service reads them: exact numbers
    thresholds = gc.get_threshold()
    # the store `serve` opens (http/stores.py): the same customers held between events, so the
    # ratio compares the HTTP layer and the grouping, not two cache sizes
    with open_store(
        db, "coffee-club", default_cache=SERVICE_CACHE, default_cache_budget=SERVICE_ELEMENTS
    ) as store:
        loyalty = Loyalty(engine, store, now=system_clock)
        tune_collector()
        try:
            for warm in events(min(20, settings.requests), 20, _run_id()):
                loyalty.handle(warm)
            db_cpu = database_cpu(db)
            began, cpu = time.perf_counter(), time.process_time()
            for body in bodies:
                loyalty.handle(body)
                collector.after_work()  # as the worker's event thread after each group
            cpu, wall = time.process_time() - cpu, time.perf_counter() - began
            db_cpu = database_cpu(db) - db_cpu
        finally:
            collector.untune(thresholds)
    return InProcess(len(bodies) / wall, cpu / len(bodies) * 1000, db_cpu / len(bodies) * 1000)


def _run_id() -> str:
    return uuid.uuid4().hex[:8]


# -- the table -----------------------------------------------------------------------------------------
@dataclass
class Cell:
    store: str
    workers: int
    concurrency: int
    runs: list[Run]

    def best(self, name: str, low: bool = True) -> float:
        values = [getattr(r, name) for r in self.runs]
        return float(min(values) if low else max(values))

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(r, name) for r in self.runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough numbers")
    parser.add_argument(
        "--postgres", default=os.environ.get("LOYALTY_TEST_POSTGRES", ""), help="a database URL"
    )
    parser.add_argument("--json", action="store_true", help="the results as one JSON document on stdout")
    parser.add_argument("--repeat", type=int, default=0, help="runs per cell (default: 3, --quick 1)")
    parser.add_argument(
        "--workers", type=int, nargs="+", metavar="N", help="only these numbers of workers (default: 1 2)"
    )
    parser.add_argument(
        "--concurrency", type=int, nargs="+", metavar="C", help="only these concurrencies (default: 1 16 64)"
    )
    parser.add_argument("--requests", type=int, default=0, help="purchases per run (1,200; --quick 80)")
    parser.add_argument(
        "--stores",
        nargs="+",
        choices=("sqlite", "postgresql"),
        default=("sqlite", "postgresql"),
        help="only these stores (default: both; PostgreSQL only with a URL)",
    )
    parser.add_argument(
        "--working", action="store_true", help="SQLite with working states (?working=1, docs/stores.md)"
    )
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    if args.repeat:
        settings = dataclasses.replace(settings, repeat=args.repeat)
    if args.workers:
        settings = dataclasses.replace(settings, workers=tuple(args.workers))
    if args.concurrency:
        settings = dataclasses.replace(settings, concurrency=tuple(args.concurrency))
    if args.requests:
        settings = dataclasses.replace(settings, requests=args.requests)
    if args.stores == ["postgresql"] and not args.postgres:
        parser.error("--stores postgresql needs --postgres URL (or LOYALTY_TEST_POSTGRES)")
    stores = ([("SQLite", "")] if "sqlite" in args.stores else []) + (
        [("PostgreSQL", args.postgres)] if args.postgres and "postgresql" in args.stores else []
    )
    cells: list[Cell] = []
    baselines: dict[str, list[InProcess]] = {}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-service-") as temporary:
        folder = Path(temporary)
        for name, url in stores:

            def database(tag: str, url: str = url) -> str:
                path = folder / f"{tag}-{uuid.uuid4().hex[:6]}.db"
                return url or (f"sqlite:///{path}?working=1" if args.working else str(path))

            baselines[name] = []
            for round_ in range(settings.repeat):
                print(f"measuring {name}: in process, run {round_ + 1}", file=sys.stderr)
                baselines[name].append(in_process_run(database("in-process"), settings))
                for workers in settings.workers:
                    for concurrency in settings.concurrency:
                        print(
                            f"measuring {name}: {workers} worker(s), concurrency {concurrency}",
                            file=sys.stderr,
                        )
                        run = http_run(
                            database("http"), workers, concurrency, settings, folder, database("paired")
                        )
                        cell = next(
                            (
                                c
                                for c in cells
                                if (c.store, c.workers, c.concurrency) == (name, workers, concurrency)
                            ),
                            None,
                        )
                        if cell is None:
                            cell = Cell(name, workers, concurrency, [])
                            cells.append(cell)
                        cell.runs.append(run)
    elapsed = time.perf_counter() - began
    failed = sum(run.failed for cell in cells for run in cell.runs)
    if args.json:
        document = {
            "machine": machine(),
            "settings": asdict(settings),
            "in_process": {name: [asdict(b) for b in runs] for name, runs in baselines.items()},
            "cells": [asdict(cell) for cell in cells],
        }
        print(json.dumps(document, indent=2))
        return 1 if failed else 0
    report(settings, cells, baselines, elapsed, args.quick, bool(args.postgres), tuple(args.stores))
    return 1 if failed else 0


def report(
    settings: Settings,
    cells: list[Cell],
    baselines: dict[str, list[InProcess]],
    elapsed: float,
    quick: bool,
    postgres: bool,
    chosen: tuple[str, ...] = ("sqlite", "postgresql"),
) -> None:
    m = machine()
    mode = "--quick: rough numbers" if quick else f"{settings.repeat} runs per cell, best / median"
    print(f"{m['date']}, {m['implementation']} {m['python']}, {m['cpus']} CPUs, {m['platform']}; {mode}")
    print(f"{settings.requests} purchases per run, {settings.customers} customers; {elapsed:.0f} s in total")
    if "postgresql" not in chosen:
        print("PostgreSQL: not asked for (--stores)")
    elif not postgres:
        print("PostgreSQL: skipped (give --postgres URL or set LOYALTY_TEST_POSTGRES)")
    print()
    for name, runs in baselines.items():
        cpu = [b.cpu_ms for b in runs]
        rate = [b.events_per_s for b in runs]
        print(
            f"in process ({name}, Loyalty.handle): {max(rate):,.0f} / {statistics.median(rate):,.0f} "
            "events/s, "
            f"{min(cpu):.2f} / {statistics.median(cpu):.2f} ms CPU per event"
            + (
                f", {statistics.median(b.db_cpu_ms for b in runs):.2f} ms of the database's"
                if name != "SQLite"
                else ""
            )
        )
    print()
    header = (
        f"{'store':<10} {'workers':>7} {'conc.':>5}  {'requests/s':>15}  {'p50 ms':>13}  {'p99 ms':>13}"
        f"  {'CPU ms/req':>13}  {'x in-proc':>9}  {'paired':>15}  {'client':>6}  {'loop':>5}  {'cs/req':>6}"
        f"  {'load':>4}  {'ev/tx':>5}  {'db ms':>5}  {'gc n / ms':>12}  {'failed':>6}"
    )
    print(header)
    print("-" * len(header))
    for cell in cells:
        base = min(b.cpu_ms for b in baselines[cell.store])
        ratio = cell.best("cpu_ms") / base
        print(
            f"{cell.store:<10} {cell.workers:>7} {cell.concurrency:>5}  "
            f"{cell.best('requests_per_s', low=False):>6,.0f} / {cell.median('requests_per_s'):>6,.0f}  "
            f"{cell.best('p50_ms'):>5.1f} / {cell.median('p50_ms'):>5.1f}  "
            f"{cell.best('p99_ms'):>5.1f} / {cell.median('p99_ms'):>5.1f}  "
            f"{cell.best('cpu_ms'):>5.2f} / {cell.median('cpu_ms'):>5.2f}  "
            f"{ratio:>8.2f}x  {cell.best('paired_ratio'):>5.2f}x / {cell.median('paired_ratio'):>5.2f}x  "
            f"{cell.median('client_cpu_ms'):>6.2f}  {cell.median('loop_cpu_ms'):>5.2f}  "
            f"{cell.median('switches'):>6.1f}  {cell.median('load'):>4.1f}  "
            f"{cell.median('per_commit'):>5.1f}  {cell.median('db_cpu_ms'):>5.2f}  "
            f"{cell.median('pauses'):>4.0f} / {cell.median('paused_ms'):>5.1f}  "
            f"{sum(r.failed for r in cell.runs):>6}"
        )
    split = [cell for cell in cells if cell.workers > 1 and cell.concurrency > 1]
    if split:
        print()
        print("per worker (each run: the client connections each worker held; p50 / p99 ms of its requests):")
        for cell in split:
            parts = "; ".join(
                "/".join(str(s.connections) for s in run.shares)
                + " conn., "
                + ", ".join(f"{s.p50_ms:.1f} / {s.p99_ms:.1f}" for s in run.shares)
                for run in cell.runs
            )
            print(f"  {cell.store}, {cell.workers} workers, concurrency {cell.concurrency}: {parts}")
    failing = [cell for cell in cells if any(run.failures for run in cell.runs)]
    if failing:
        print()
        print("failed requests (by status and error code, all runs of the cell):")
        for cell in failing:
            counted: dict[str, int] = {}
            for run in cell.runs:
                for what, count in run.failures.items():
                    counted[what] = counted.get(what, 0) + count
            parts = ", ".join(f"{what}: {count}" for what, count in sorted(counted.items()))
            print(f"  {cell.store}, {cell.workers} workers, concurrency {cell.concurrency}: {parts}")
    print()
    print("targets:")
    for cell in cells:
        base = min(b.cpu_ms for b in baselines[cell.store])
        where = f"{cell.store}, {cell.workers} worker(s)"
        if cell.concurrency == 16:
            ratio = cell.best("cpu_ms") / base
            paired = cell.median("paired_ratio")
            wall = max(b.events_per_s for b in baselines[cell.store]) / cell.best("requests_per_s", low=False)
            mark = "[met]" if paired <= RATIO_TARGET else "[MISSED]"
            print(
                f"  {mark} HTTP <= {RATIO_TARGET}x in-process at concurrency 16 ({where}): {paired:.2f}x CPU "
                f"per event, paired (the median; best runs against the best in-process row: "
                f"{ratio:.2f}x; wall clock: {wall:.2f}x)"
            )
        if cell.concurrency == 64:
            p99 = cell.best("p99_ms")
            mark = "[met]" if p99 < P99_TARGET_MS else "[MISSED]"
            floor = latency_floor(cell)
            print(
                f"  {mark} p99 < {P99_TARGET_MS:.0f} ms at concurrency 64 ({where}): {p99:.1f} ms best, "
                f"{cell.median('p99_ms'):.1f} ms median; the floor of the mean from the CPU: {floor:.0f} ms"
            )


def latency_floor(cell: Cell) -> float:
    """The least mean latency the measured CPU allows at the cell's concurrency (Little's law: N
    requests in flight, each answered after the CPU of every request ahead of it): N × the CPU
    per request over the cores that can work on it. One worker is one process, held to one core
    by the GIL; the server's workers, the client and PostgreSQL's server together have the
    machine's cores."""
    server, client = cell.median("cpu_ms"), cell.median("client_cpu_ms")
    cores = os.cpu_count() or 1
    per_request = max(server / min(cell.workers, cores), (server + client + cell.median("db_cpu_ms")) / cores)
    return cell.concurrency * per_request


if __name__ == "__main__":
    sys.exit(main())
