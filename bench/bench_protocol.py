"""The event loop's side of an events request: `loyalty serve`'s protocol against uvicorn's ASGI way.

    .venv/bin/python bench/bench_protocol.py                  # CPU a request, both ways, alternated
    .venv/bin/python bench/bench_protocol.py --instructions   # instructions a request (callgrind)

The service's app (SQLite, coffee-club, one key) behind each protocol class, in process: `direct`
is serve's (`rules_engine/http/direct.py` `EventsProtocol`: the events route without ASGI), `asgi`
the class it subclasses (every request through uvicorn's ASGI cycle, `Service`, `Observe` and
the shortcut). Each is fed a purchase's raw request bytes on a fake transport, one request at a
time, and the answer waited for; the lane is stubbed, each request answered on the loop's next turn,
so what is measured is the loop's side alone: parsing, the key, the event's read, the answer's
write, metrics — not the event's decision and store. Instructions are load-proof: callgrind
counts 1,000 requests after a warm-up of 200, inside counting.py's window (string hashing fixed,
no address randomization, a full collection first), `--runs` times a way. (Until 2026-12-06 the
difference of two cachegrind runs of the whole child, 500 and 1,500 requests, with string
hashing random: two runs of one tree could differ by more than a change of a few per cent.)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from counting import count, spread, window
from uvicorn.server import ServerState

from rules_engine.http import Settings, create_app
from rules_engine.http.direct import EventsProtocol
from rules_engine.http.protocol import NoDelayHttpToolsProtocol
from rules_engine.store.keys import new_key

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "programs" / "coffee-club.yaml"
CLASSES = {"direct": EventsProtocol, "asgi": NoDelayHttpToolsProtocol}
ANSWER = b'{"answer":"' + b"x" * 1000 + b'"}'
WARM = 200
COUNTED = 1_000
"""`--instructions`: the requests counted, after `WARM`."""
BODY = (
    b'{"id": "evt-%d", "type": "purchase", "time": "2026-12-08T10:00:00+00:00", "customer": "ann",'
    b' "items": [{"sku": "LATTE-L", "category": "coffee", "price": 320.00, "qty": 2}]}'
)


class _Transport:
    """Records nothing: wakes the waiting request when its answer's last bytes are written."""

    def __init__(self) -> None:
        self.waiter: asyncio.Future[None] | None = None
        self.answers = 0

    def write(self, data: bytes) -> None:
        if data.endswith(ANSWER[-8:]) and self.waiter is not None and not self.waiter.done():
            self.answers += 1
            self.waiter.set_result(None)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def ready(way: str, folder: Path) -> tuple[Callable[[int], Awaitable[None]], Callable[[], int]]:
    """A connection of the service served the way named: how to send it request `number` and
    wait for its answer, and how to end it (the answers it gave)."""
    (folder / "programs").mkdir()
    shutil.copy(PROGRAM, folder / "programs")
    app = create_app(Settings(programs=folder / "programs", db=str(folder / "bench.db")))
    runtime = app.state.runtime
    token, key = new_key(["events:write"], [])
    with runtime.stores.keys() as store:
        store.add_key(key)
    loop = asyncio.get_running_loop()

    def lane(on: asyncio.AbstractEventLoop, program: str, asked: Any, receiver: Any) -> None:
        on.call_soon(receiver.set_result, (ANSWER, 3))

    runtime.lane.submit = lane  # how the protocol hands a request to the lane (threads.py `Lane.submit`)
    kind = CLASSES[way]
    config = uvicorn.Config(app=app, http=kind, access_log=False, log_level="warning")
    config.load()
    protocol = kind(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    transport = _Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    head = (
        b"POST /v1/programs/coffee-club/events HTTP/1.1\r\nHost: bench\r\n"
        b"Content-Type: application/json\r\nAuthorization: Bearer " + token.encode() + b"\r\n"
    )

    async def one(number: int) -> None:
        body = BODY % number
        transport.waiter = loop.create_future()
        protocol.data_received(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await transport.waiter

    def end() -> int:
        runtime.stores.close()
        return transport.answers

    return one, end


async def _requests(one: Callable[[int], Awaitable[None]], first: int, count: int) -> None:
    for number in range(first, first + count):
        await one(number)


async def served(way: str, count: int, folder: Path) -> float:
    """CPU seconds a request over `count` requests (after `WARM`), served the way named."""
    one, end = await ready(way, folder)
    await _requests(one, 0, WARM)
    started = time.process_time()
    await _requests(one, WARM, count)
    seconds = time.process_time() - started
    if end() != WARM + count:
        raise SystemExit(f"{way}: answers missing")
    return seconds / count


def counted_child(way: str, count: int) -> None:
    """`--instructions`' child: `count` requests after the warm-up, run inside counting's window
    (the loop run until they are answered, from `window`: callgrind counts that alone)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory(prefix="bench-protocol-") as temporary:
        one, end = loop.run_until_complete(ready(way, Path(temporary)))
        loop.run_until_complete(_requests(one, 0, WARM))
        window(lambda: loop.run_until_complete(_requests(one, WARM, count)))
        if end() != WARM + count:
            raise SystemExit(f"{way}: answers missing")
    loop.close()


def run_one(way: str, count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-protocol-") as temporary:
        return asyncio.run(served(way, count, Path(temporary)))


def instructions(ways: list[str], runs: int) -> None:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: instructions not counted (apt-get install valgrind); skipped")
        return
    script = str(Path(__file__).resolve())
    for way in ways:
        counts = [found / COUNTED for found in count(script, [way, str(COUNTED)], way, runs)]
        print(f"{way:7s} {spread(counts)} instructions a request (the loop's side; callgrind: min / median)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2_000, help="requests a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ways", nargs="+", choices=sorted(CLASSES), default=["asgi", "direct"])
    parser.add_argument("--instructions", action="store_true", help="count instructions (callgrind)")
    parser.add_argument("--runs", type=int, default=2, help="--instructions: counted runs a way")
    parser.add_argument("--child", nargs=2, metavar=("WAY", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        counted_child(args.child[0], int(args.child[1]))
        return 0
    if args.instructions:
        instructions(args.ways, args.runs)
        return 0
    found: dict[str, list[float]] = {way: [] for way in args.ways}
    for _ in range(args.rounds):
        for way in args.ways:
            found[way].append(run_one(way, args.requests))
    for way, seconds in found.items():
        best, median = min(seconds), sorted(seconds)[len(seconds) // 2]
        print(f"{way:7s} {best * 1e6:6.1f} / {median * 1e6:6.1f} µs of CPU a request (best / median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
