"""Where an HTTP request's CPU goes: the service's app called in process, no socket, no server.

    .venv/bin/python bench/profile_service.py                 # CPU per request, app vs Loyalty.handle
    .venv/bin/python bench/profile_service.py --profile 25    # and cProfile's 25 costliest functions
    .venv/bin/python bench/profile_service.py --query trace=true   # the answer with its trace
    .venv/bin/python bench/profile_service.py --inline        # the event on the loop: no hand-off
    .venv/bin/python bench/profile_service.py --instructions  # instructions per request (cachegrind)

`bench_service.py` measures the whole server over loopback (uvicorn's parsing, the sockets, the
client beside it on 2 cores). This one isolates what the app itself adds to an event's work: the
same coffee-club purchases (bench_service's `events`) sent through the ASGI app with a minimal
ASGI client (`scope`, `receive`, `send`: nothing of an HTTP library is measured), and through
`Loyalty.handle` on a store of the same kind, both in CPU time (`time.process_time`, every
thread: FastAPI runs the route on its thread pool). Rounds alternate app and handle, so that a
busy machine slows both alike; the best round of each is reported, and their ratio.

What it does not see: uvicorn's HTTP parsing and writes, and the supervisor with several workers.

`--instructions` counts instead of timing, load-proof on a shared machine: cachegrind runs a
child of this script twice per candidate (the app, `Loyalty.handle`; 60 then 260 purchases after a
warm-up, inline, with string hashing fixed) and the difference over the 200 between is the cost
of one request or event, without start-up. The fsync of each commit is the kernel's: not counted.

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
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench_service import PROGRAM, events
from timing import cachegrind, machine

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.http import Settings, create_app
from rules_engine.http.runtime import system_clock
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.keys import new_key

PATH = "/v1/programs/coffee-club/events"


class App:
    """The service's app with one key, called as an ASGI server would call it."""

    def __init__(self, folder: Path, query: str) -> None:
        programs = folder / "programs"
        programs.mkdir()
        shutil.copy(PROGRAM, programs)
        self.app = create_app(Settings(programs=programs, db=str(folder / "app.db")))
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

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                answer.extend(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, bytes(answer)


def bodies(count: int) -> list[bytes]:
    return [jsonio.dumps(e).encode() for e in events(count, max(1, count // 2), uuid.uuid4().hex[:8])]


def app_round(app: App, count: int, profiler: cProfile.Profile | None) -> tuple[float, int]:
    """CPU ms per request over `count` new purchases; and the answer's size."""
    sent = bodies(count)

    async def run() -> tuple[float, int]:
        size = 0
        if profiler:
            profiler.enable()
        cpu = time.process_time()
        for body in sent:
            status, answer = await app.post(body)
            if status != 200:
                raise RuntimeError(f"{status}: {answer[:500]!r}")
            size = len(answer)
        cpu = time.process_time() - cpu
        if profiler:
            profiler.disable()
        return cpu / count * 1000, size

    return asyncio.run(run())


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
        self.function(key, [argument], lambda index, value: answers.append(value))
        if isinstance(answers[0], BaseException):
            raise answers[0]
        return answers[0]

    fastapi.routing.run_in_threadpool = inline  # type: ignore[assignment]
    fastapi.dependencies.utils.run_in_threadpool = inline  # type: ignore[assignment]
    Threads.run = here  # type: ignore[method-assign]
    Lane.run = alone  # type: ignore[method-assign]


FIRST, LAST = 60, 260
"""`--instructions`: the requests counted are those between two child runs' ends."""


def child(kind: str, count: int) -> None:
    """`--instructions`' child: `count` requests (`app`) or events (`handle`), after a warm-up,
    inline (no thread hand-off: one thread, counted alike run to run)."""
    inline_thread_pool()
    with tempfile.TemporaryDirectory(prefix="profile-service-") as temporary:
        folder = Path(temporary)
        if kind == "app":
            app = App(folder, "")
            app_round(app, 20, None)
            app_round(app, count, None)
            return
        with open_store(str(folder / "handle.db"), "coffee-club") as store:
            loyalty = Loyalty(Engine.from_file(PROGRAM), store, now=system_clock)
            handle_round(loyalty, 20)
            handle_round(loyalty, count)


def instructions() -> int:
    """Instructions per request and per event, counted by cachegrind (load-proof: the timed
    figures move with whatever else the machine runs)."""
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instructions not counted (apt-get install valgrind); skipped")
        return 0
    script = str(Path(__file__).resolve())
    counted = {}
    for kind in ("app", "handle"):
        first, last = (cachegrind(script, [kind, str(n)], f"{kind}, {n}") for n in (FIRST, LAST))
        counted[kind] = (last - first) / (LAST - FIRST)
    print("coffee-club purchases (half of them a customer's first), SQLite, inline; cachegrind")
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
    parser.add_argument("--instructions", action="store_true", help="count instructions (cachegrind)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    if args.instructions:
        return instructions()
    profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waits
    if profiler or args.inline:
        inline_thread_pool()
    with tempfile.TemporaryDirectory(prefix="profile-service-") as temporary:
        folder = Path(temporary)
        app = App(folder, args.query)
        engine = Engine.from_file(PROGRAM)
        with open_store(str(folder / "handle.db"), "coffee-club") as store:
            loyalty = Loyalty(engine, store, now=system_clock)  # as the app's: no store query per event
            app_round(app, 20, None)  # imports, caches, the first connection
            handle_round(loyalty, 20)
            app_ms: list[float] = []
            handle_ms: list[float] = []
            size = 0
            for _ in range(args.rounds):
                ms, size = app_round(app, args.requests, profiler)
                app_ms.append(ms)
                handle_ms.append(handle_round(loyalty, args.requests))
    m = machine()
    print(f"{m['date']}, {m['implementation']} {m['python']}, {m['cpus']} CPUs; best of {args.rounds} rounds")
    inlined = "; the event on the loop (no hand-off)" if profiler or args.inline else ""
    query = args.query or "(none)"
    print(f"{args.requests} coffee-club purchases per round, SQLite; query {query!r}{inlined}")
    print(f"app (ASGI, in process): {min(app_ms):.2f} ms CPU per request; answer {size:,} bytes")
    print(f"Loyalty.handle:         {min(handle_ms):.2f} ms CPU per event")
    print(f"app / handle:           {min(app_ms) / min(handle_ms):.2f}x")
    if profiler:
        print()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
