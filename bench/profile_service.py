"""Where an HTTP request's CPU goes: the service's app called in process, no socket, no server.

    .venv/bin/python bench/profile_service.py                 # CPU per request, app vs Loyalty.handle
    .venv/bin/python bench/profile_service.py --profile 25    # and cProfile's 25 costliest functions
    .venv/bin/python bench/profile_service.py --query trace=true   # the answer with its trace
    .venv/bin/python bench/profile_service.py --inline        # the event on the loop: no hand-off
    .venv/bin/python bench/profile_service.py --instructions  # instructions per request (cachegrind)
    .venv/bin/python bench/profile_service.py --instructions --concurrency 64   # the lane in groups
    .venv/bin/python bench/profile_service.py --instructions --server --concurrency 64   # a real server
    .venv/bin/python bench/profile_service.py --concurrency 64 --parts   # 64 in flight; CPU by part
    .venv/bin/python bench/profile_service.py --concurrency 64 --parts --db URL   # on PostgreSQL
    .venv/bin/python bench/profile_service.py --instructions --concurrency 64 --db URL   # its worker's

`bench_service.py` measures the whole server over loopback (uvicorn's parsing, the sockets, the
client beside it on 2 cores). This one isolates what the app itself adds to an event's work: the
same coffee-club purchases (bench_service's `events`) sent through the ASGI app with a minimal
ASGI client (`scope`, `receive`, `send`: nothing of an HTTP library is measured), and through
`Loyalty.handle` on a store of the same kind, both in CPU time (`time.process_time`, every
thread: FastAPI runs the route on its thread pool). Rounds alternate app and handle, so that a
busy machine slows both alike; the best round of each is reported, and their ratio.

What it does not see: uvicorn's HTTP parsing and writes, and the supervisor with several workers.

`--concurrency N` keeps N requests in flight (each client sending its next when answered), so
that the events' lane groups those waiting together as the server does under load (the lane's
thread is real: not with `--profile` or `--inline`); `--parts` adds each part's CPU time per
request, measured on the thread that runs it (`PARTS`: the lane's group and what is in it, the
loop's reading, key and metrics), which is how bench/README.md's "Where a request's CPU goes at
concurrency 64" was measured, and beside it each part's wall time on its thread: what it waited
(for the server, for the interpreter's lock), not only what it ran.

`--db URL` runs the app and `Loyalty.handle` on that store rather than on new SQLite files: a
PostgreSQL URL (new customers every round, the database kept), where `--parts` adds the
PostgreSQL store's parts (`POSTGRES_PARTS`: the lane's reads ahead, its locks, its writes and
COMMIT, each with the wait for the server in its wall time).

`--instructions` counts instead of timing, load-proof on a shared machine: cachegrind runs a
child of this script twice per candidate (the app, `Loyalty.handle`; 60 then 260 purchases after a
warm-up, inline, with string hashing fixed) and the difference over the 200 between is the cost
of one request or event, without start-up. The fsync of each commit is the kernel's: not counted.
With `--concurrency N` (N > 1) the app's child keeps N requests in flight on the real threads (the
lane's groups, its hand-offs: cachegrind runs the threads one at a time), and both children
set the collector as a `loyalty serve` worker does (server.py `tune_collector`). With `--db URL`
(PostgreSQL) the children work on that database: what is counted is the worker's side of it
(psycopg, the statements built and sent, the answers read), not the server's, another process.

`--instructions --server` counts a real server instead: `loyalty serve`'s uvicorn settings
(server.py `uvicorn_options`: httptools, the service's loop, the lane, its collector) in the
child under cachegrind, loaded by a client in a process of its own (not counted) that sends 200
purchases to warm it up, then 200 or 1,000 more at `--concurrency`; the difference over the 800
is a request's whole cost on the server, uvicorn's parsing and writes and the collector's walks
included (start-up and shutdown cancel out). The app in process does not show what the collector
walks at 64 in flight: a server holds more per request (its connections, the requests read and
waiting), and reached the young collections' threshold ~20 times as often.

cProfile sees one thread, so with `--profile` the threads are bypassed: FastAPI's
`run_in_threadpool` runs the sync dependencies and routes inline on the event loop, and so does
the events shortcut's hand-off (`Threads.run`, or with SQLite the lane's, `Lane.run`), and the
profile shows them. The CPU figures
printed are then those of that inline app, without the cost of handing work to a thread (measure
without `--profile` for the figures that count). `--inline` does the same without the profiler:
the figures with and without it differ by what the hand-off costs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench_service import PROGRAM, events
from timing import cachegrind, machine

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.http import Settings, create_app
from rules_engine.http.runtime import system_clock
from rules_engine.http.server import tune_collector
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.keys import new_key

PATH = "/v1/programs/coffee-club/events"


class App:
    """The service's app with one key, called as an ASGI server would call it; on `db` (a
    database URL), or a new SQLite file in `folder`."""

    def __init__(self, folder: Path, query: str, db: str = "") -> None:
        programs = folder / "programs"
        programs.mkdir()
        shutil.copy(PROGRAM, programs)
        self.app = create_app(Settings(programs=programs, db=db or str(folder / "app.db")))
        token, key = new_key(["events:write"], [])
        with self.app.state.runtime.stores.keys() as store:
            store.add_key(key)
        self.token = token.encode()
        self.query = query.encode()

    async def post(self, body: bytes) -> tuple[int, bytes]:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": self.query,
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"authorization", b"Bearer " + self.token),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0
        answer = bytearray()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                answer.extend(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, bytes(answer)


def purchases(count: int) -> list[tuple[str, bytes]]:
    """`count` new purchases, two a customer, each with its customer's id."""
    made = events(count, max(1, count // 2), uuid.uuid4().hex[:8])
    return [(e["customer"], jsonio.dumps(e).encode()) for e in made]


def bodies(count: int) -> list[bytes]:
    return [body for _, body in purchases(count)]


def app_round(
    app: App, count: int, profiler: cProfile.Profile | None, concurrency: int = 1
) -> tuple[float, int]:
    """CPU ms per request over `count` new purchases, `concurrency` of them in flight (each
    client sending its next as soon as it is answered: the events' lane groups those waiting
    together, as the server does under load); and the answer's size."""
    sent = iter(purchases(count))

    async def run() -> tuple[float, int]:
        size = 0
        # Each customer's latest request: a customer's next purchase waits for its answer. With
        # fewer customers than requests in flight (the warm-up's 10, the first count's 30, at 64
        # in flight) two purchases of one customer would otherwise race to the lane, and the later
        # one, decided first, would be refused (RE440): a round keeps each customer's order.
        latest: dict[str, asyncio.Future[None]] = {}

        async def client() -> None:
            nonlocal size
            for customer, body in sent:
                before = latest.get(customer)
                latest[customer] = answered = asyncio.get_running_loop().create_future()
                if before is not None:
                    await before
                status, answer = await app.post(body)
                answered.set_result(None)
                if status != 200:
                    raise RuntimeError(f"{status}: {answer[:500]!r}")
                size = len(answer)

        if profiler:
            profiler.enable()
        cpu = time.process_time()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        cpu = time.process_time() - cpu
        if profiler:
            profiler.disable()
        return cpu / count * 1000, size

    return asyncio.run(run())


PARTS = (
    ("the lane's group (all of it)", "rules_engine.http.threads", "Lane", "_run"),
    ("  Loyalty.handle", "rules_engine.service", "Loyalty", "handle"),
    ("    Engine.process", "rules_engine.engine.evaluator", "Engine", "process"),
    ("    the stored outcome (Result.stored_json)", "rules_engine.engine.result", "Result", "stored_json"),
    (
        "    stored outcome + answer's (OutcomeTexts.write)",
        "rules_engine.engine.outcome_json",
        "OutcomeTexts",
        "write",
    ),
    ("    the event's digest (service.event_digest)", "rules_engine.service", None, "event_digest"),
    (
        "    the customer locked (sql_transactions.Staged)",
        "rules_engine.store.sql_transactions",
        "Staged",
        "__init__",
    ),
    (
        "      their state read back (SqlWriting._load)",
        "rules_engine.store.sql_writing",
        "SqlWriting",
        "_load",
    ),
    (
        "    the event id looked up (_stored_event)",
        "rules_engine.store.sql_transactions",
        None,
        "_stored_event",
    ),
    ("  the writes and commit (SqlWriting._flush)", "rules_engine.store.sql_writing", "SqlWriting", "_flush"),
    (
        "    the states' rows (SqlWriting._state_rows)",
        "rules_engine.store.sql_writing",
        "SqlWriting",
        "_state_rows",
    ),
    ("      the summaries (Summaries.write)", "rules_engine.store.summaries", "Summaries", "write"),
    ("    the outcomes packed (zstd: outcomes.pack)", "rules_engine.store.sql_writing", None, "pack"),
    (
        "    the statements (SqliteStore._execute_many)",
        "rules_engine.store.sqlite",
        "SqliteStore",
        "_execute_many",
    ),
    ("    COMMIT", "rules_engine.store.sqlite", "SqliteStore", "_commit"),
    ("  the answer (events.event_answer)", "rules_engine.http.routes.events", None, "event_answer"),
    ("  the program found (events.ready)", "rules_engine.http.routes.events", None, "ready"),
    ("  the answer handed back (threads._answer)", "rules_engine.http.threads", None, "_answer"),
    ("the event read on the loop (events.parse_text)", "rules_engine.http.routes.events", None, "parse_text"),
    ("the key found in the cache (KeyCache.cached)", "rules_engine.http.runtime", "KeyCache", "cached"),
    ("metrics and log line (Observe._record)", "rules_engine.http.observe", "Observe", "_record"),
)
"""`--parts`: what is timed, in the CPU time of the thread that runs it, and where it is."""

POSTGRES_PARTS = (
    (
        "  PostgreSQL: reads ahead (PostgresStore.read_ahead)",
        "rules_engine.store.postgres",
        "PostgresStore",
        "read_ahead",
    ),
    (
        "  PostgreSQL: the check and locks (_lock_unchanged)",
        "rules_engine.store.sql_locking",
        "SqlLocking",
        "_lock_unchanged",
    ),
    (
        "    the sorted locks (PostgresStore._lock_customers)",
        "rules_engine.store.postgres",
        "PostgresStore",
        "_lock_customers",
    ),
    (
        "  PostgreSQL: statements queued (_execute_many)",
        "rules_engine.store.postgres",
        "PostgresStore",
        "_execute_many",
    ),
    (
        "  PostgreSQL: a statement (PostgresStore._execute)",
        "rules_engine.store.postgres",
        "PostgresStore",
        "_execute",
    ),
    (
        "  PostgreSQL: the writes and COMMIT (_write_rows …)",
        "rules_engine.store.sql_writing",
        "SqlWriting",
        "_write_rows",
    ),
    (
        "  PostgreSQL: ROLLBACK (PostgresStore._rollback)",
        "rules_engine.store.postgres",
        "PostgresStore",
        "_rollback",
    ),
)
"""`--parts --db postgresql://…`: the PostgreSQL store's parts, timed as `PARTS`."""


def time_parts(parts: Sequence[tuple[str, str, str | None, str]] = PARTS) -> dict[str, list[float]]:
    """Wrap each of `parts` (functions, none a coroutine: an `await` that waits would count what
    the thread did meanwhile) to add up its thread CPU time, wall time and calls (`--parts`); the
    counts, by label. The wrappers cost ~1 µs a call: the parts' figures, not the whole, are what
    to read. Wall time on the part's thread: its CPU and what it waited (the database, the
    interpreter's lock while another thread ran)."""
    import importlib

    spent: dict[str, list[float]] = {}
    for label, module_name, owner, name in parts:
        module = importlib.import_module(module_name)
        holder = getattr(module, owner) if owner else module
        original = getattr(holder, name)
        spent[label] = tally = [0.0, 0.0, 0.0]

        def timed(*args: Any, _original: Any = original, _tally: list[float] = tally, **kwargs: Any) -> Any:
            began, wall = time.thread_time(), time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                _tally[0] += time.thread_time() - began
                _tally[1] += 1
                _tally[2] += time.perf_counter() - wall

        setattr(holder, name, timed)
    return spent


def handle_round(loyalty: Loyalty, count: int) -> float:
    """CPU ms per event of `Loyalty.handle` over `count` new purchases, read as the service reads them."""
    sent = [jsonio.loads(body.decode()) for body in bodies(count)]
    cpu = time.process_time()
    for event in sent:
        loyalty.handle(event)
    return (time.process_time() - cpu) / count * 1000


def inline_thread_pool() -> None:
    """Run FastAPI's sync dependencies and routes, and the events shortcut's event, on the event
    loop (for cProfile's one thread, or `--inline`)."""
    import fastapi.dependencies.utils
    import fastapi.routing

    from rules_engine.http.threads import Lane, Threads

    async def inline(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    async def here(self: Threads, func: Any, *args: Any) -> Any:
        return func(*args)

    async def alone(self: Lane[Any], key: str, argument: Any) -> Any:
        """The lane's function on the loop, for a group of this one call (requests are sent one
        at a time here: the lane would take each alone too)."""
        answers: list[Any] = []
        self.function(key, [argument], lambda index, value: answers.append(value), list)
        if isinstance(answers[0], BaseException):
            raise answers[0]
        return answers[0]

    fastapi.routing.run_in_threadpool = inline  # type: ignore[attr-defined]
    fastapi.dependencies.utils.run_in_threadpool = inline  # type: ignore[attr-defined]
    Threads.run = here  # type: ignore[method-assign,assignment]
    Lane.run = alone  # type: ignore[method-assign]


FIRST, LAST = 60, 260
"""`--instructions`: the requests counted are those between two child runs' ends."""


DB_VARIABLE = "PROFILE_SERVICE_DB"
"""`--instructions --db URL`: the children's database, handed down in their environment."""


def child(kind: str, count: int, concurrency: int = 1) -> None:
    """`--instructions`' child: `count` requests (`app`) or events (`handle`), after a warm-up;
    inline (no thread hand-off: one thread, counted alike run to run) for one request at a time;
    with more in flight, on the app's threads, the collector set as a server's worker sets it.
    On the database `DB_VARIABLE` names (`--db`), else on new SQLite files."""
    if concurrency == 1:
        inline_thread_pool()
    db = os.environ.get(DB_VARIABLE, "")
    with tempfile.TemporaryDirectory(prefix="profile-service-") as temporary:
        folder = Path(temporary)
        if kind == "app":
            app = App(folder, "", db)
            app_round(app, 20, None, concurrency)
            if concurrency > 1:
                tune_collector()
            app_round(app, count, None, concurrency)
            return
        with open_store(db or str(folder / "handle.db"), "coffee-club") as store:
            loyalty = Loyalty(Engine.from_file(PROGRAM), store, now=system_clock)
            handle_round(loyalty, 20)
            if concurrency > 1:
                tune_collector()
            handle_round(loyalty, count)


SERVED = 200, 1_000
"""`--instructions --server`: the requests counted are those between two servers' runs."""


def serve_child(count: int, concurrency: int) -> None:
    """`--instructions --server`'s child: a server as `loyalty serve` runs one worker, until a
    client (a process of its own: `client`) has sent it 200 purchases, then `count` more."""
    import subprocess
    import threading

    import uvicorn
    from bench_service import free_port

    from rules_engine.http.server import Listen, export, uvicorn_options
    from rules_engine.store.keys import new_key

    with tempfile.TemporaryDirectory(prefix="profile-service-") as temporary:
        folder = Path(temporary)
        (folder / "programs").mkdir()
        shutil.copy(PROGRAM, folder / "programs")
        db = str(folder / "served.db")
        token, key = new_key(["events:write"], [])
        with open_store(db, "coffee-club") as store:
            store.add_key(key)
        export(Settings(programs=folder / "programs", db=db))
        port = free_port()
        options = uvicorn_options(Listen(port=port, log_level="warning"))
        server = uvicorn.Server(uvicorn.Config(**{**options, "workers": None}))

        failed: list[int] = []

        def load() -> None:
            try:
                while not server.started:
                    time.sleep(0.1)
                asked = [str(port), token, str(count), str(concurrency)]
                done = subprocess.run([sys.executable, __file__, "--client", *asked], check=False)
                if done.returncode != 0:
                    failed.append(done.returncode)
            finally:
                server.should_exit = True

        threading.Thread(target=load, daemon=True).start()
        server.run()
        if failed:
            raise SystemExit(f"the client failed (exit status {failed[0]})")


def client(port: int, token: str, count: int, concurrency: int) -> None:
    """`serve_child`'s client: 200 purchases, then `count` (bench_service's, over keep-alive
    connections, `concurrency` of them)."""
    from bench_service import _load

    for number in (200, count):
        load = asyncio.run(_load(port, token, bodies(number), concurrency))
        if set(load.statuses) != {200}:
            raise SystemExit(f"the server answered {load.statuses}")


def instructions(concurrency: int, served: bool, db: str = "") -> int:
    """Instructions per request and per event, counted by cachegrind (load-proof: the timed
    figures move with whatever else the machine runs); on `db` (`--db`): the worker's own, not
    the database server's (another process)."""
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instructions not counted (apt-get install valgrind); skipped")
        return 0
    script = str(Path(__file__).resolve())
    if served:
        first, last = (
            cachegrind(script, ["server", str(n), str(concurrency)], f"server, {n}") for n in SERVED
        )
        per_request = (last - first) / (SERVED[1] - SERVED[0])
        print("coffee-club purchases, SQLite, a server as `loyalty serve` runs one worker; cachegrind")
        print(f"{concurrency} in flight: {per_request / 1000:,.1f}k instructions per request")
        return 0
    counted = {}
    if db:
        os.environ[DB_VARIABLE] = db
    for kind in ("app", "handle"):
        first, last = (
            cachegrind(script, [kind, str(n), str(concurrency)], f"{kind}, {n}") for n in (FIRST, LAST)
        )
        counted[kind] = (last - first) / (LAST - FIRST)
    how = "inline" if concurrency == 1 else f"{concurrency} in flight, the collector as serve sets it"
    where = "PostgreSQL (the worker's instructions)" if db else "SQLite"
    print(f"coffee-club purchases (half of them a customer's first), {where}, {how}; cachegrind")
    print(f"app (ASGI, in process): {counted['app'] / 1000:,.1f}k instructions per request")
    print(f"Loyalty.handle:         {counted['handle'] / 1000:,.1f}k instructions per event")
    print(f"app / handle:           {counted['app'] / counted['handle']:.2f}x")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="purchases per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--query", default="", help="the events route's query string, e.g. trace=true")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile's N costliest")
    parser.add_argument("--inline", action="store_true", help="the event on the loop's thread (no hand-off)")
    parser.add_argument(
        "--concurrency", type=int, default=1, metavar="N", help="requests in flight (the lane groups them)"
    )
    parser.add_argument("--parts", action="store_true", help="thread CPU per part of a request (PARTS)")
    parser.add_argument(
        "--db", default="", metavar="URL", help="the store's URL (PostgreSQL: new customers each round)"
    )
    parser.add_argument("--instructions", action="store_true", help="count instructions (cachegrind)")
    parser.add_argument("--server", action="store_true", help="--instructions: of a real server")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "COUNT", "CONCURRENCY"), help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=4, metavar=("PORT", "TOKEN", "COUNT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(int(args.client[0]), args.client[1], int(args.client[2]), int(args.client[3]))
        return 0
    if args.child:
        if args.child[0] == "server":
            serve_child(int(args.child[1]), int(args.child[2]))
        else:
            child(args.child[0], int(args.child[1]), int(args.child[2]))
        return 0
    if args.instructions:
        return instructions(args.concurrency, args.server, args.db)
    profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waits
    if profiler or args.inline:
        inline_thread_pool()
    if args.instructions and args.server and args.db:
        parser.error("--instructions --server counts SQLite only")
    postgres = args.db.startswith(("postgresql://", "postgres://"))
    spent = time_parts((*PARTS, *POSTGRES_PARTS) if postgres else PARTS) if args.parts else None
    with tempfile.TemporaryDirectory(prefix="profile-service-") as temporary:
        folder = Path(temporary)
        app = App(folder, args.query, args.db)
        engine = Engine.from_file(PROGRAM)
        with open_store(args.db or str(folder / "handle.db"), "coffee-club") as store:
            loyalty = Loyalty(engine, store, now=system_clock)  # as the app's: no store query per event
            app_round(app, 20, None)  # imports, caches, the first connection
            handle_round(loyalty, 20)
            app_ms: list[float] = []
            handle_ms: list[float] = []
            size = 0
            parts = {label: [0.0, 0.0, 0.0] for label in spent or {}}
            for _ in range(args.rounds):
                before = {label: list(tally) for label, tally in (spent or {}).items()}
                ms, size = app_round(app, args.requests, profiler, args.concurrency)
                for label, tally in (spent or {}).items():  # the app's rounds only, not handle's
                    parts[label] = [parts[label][i] + tally[i] - before[label][i] for i in (0, 1, 2)]
                app_ms.append(ms)
                handle_ms.append(handle_round(loyalty, args.requests))
    m = machine()
    print(f"{m['date']}, {m['implementation']} {m['python']}, {m['cpus']} CPUs; best of {args.rounds} rounds")
    inlined = "; the event on the loop (no hand-off)" if profiler or args.inline else ""
    query = args.query or "(none)"
    where = "PostgreSQL" if postgres else "SQLite" if not args.db else args.db
    print(
        f"{args.requests} coffee-club purchases per round, {args.concurrency} in flight, {where}; "
        f"query {query!r}{inlined}"
    )
    print(f"app (ASGI, in process): {min(app_ms):.2f} ms CPU per request; answer {size:,} bytes")
    print(f"Loyalty.handle:         {min(handle_ms):.2f} ms CPU per event")
    print(f"app / handle:           {min(app_ms) / min(handle_ms):.2f}x")
    if spent is not None:
        requests = args.requests * args.rounds
        print(f"\nthread CPU and wall time per request, by part ({requests} requests; calls per request):")
        for label, (seconds, calls, wall) in parts.items():
            print(
                f"  {label:<54} {seconds / requests * 1e6:7.1f} µs  wall {wall / requests * 1e6:7.1f} µs"
                f"  ({calls / requests:.2f})"
            )
    if profiler:
        print()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
