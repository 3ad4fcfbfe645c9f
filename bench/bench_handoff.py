"""What the service's event loop saves (rules_engine/http/loop.py, protocol.py), measured apart
from the event's work, which on a shared machine moves more than these savings.

    .venv/bin/python bench/bench_handoff.py hops      # Threads.run: asyncio's loop vs the service's
    .venv/bin/python bench/bench_handoff.py answers   # uvicorn answering: one send vs two, and asyncio's loop

`hops`: `Threads.run` of a call (nothing, or 2,000 additions) awaited 4,000 times, one at a time
and sixteen at a time, on asyncio's own loop (answers by `call_soon_threadsafe`) and on the
service's loop (`hand_back`), rounds alternating; CPU time of the process per hop (both threads).

`answers`: three uvicorn servers side by side, each in its own process with the service's protocol
and an ASGI app that answers as the events route does (a head, then a ~1 KB body): on the service's
loop (the two writes joined, one `send`), on the service's loop with the writes apart (two), and on
asyncio's loop. The client (this process, raw HTTP/1.1 over keep-alive connections, 1 and 16 of
them) sends blocks of 4,000 requests to each in turn; CPU of each server's process per request,
from /proc, and of the client.

Medians of 6 rounds (min beside them). A benchmark: it asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from rules_engine.http.loop import LOOP, ServiceLoop
from rules_engine.http.threads import Threads

TICKS = os.sysconf("SC_CLK_TCK")
ROUNDS = 6
BODY = b'{"answer": "' + b"x" * 1000 + b'"}'
REQUEST = b"POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 300\r\n\r\n" + b"z" * 300


# -- hops ------------------------------------------------------------------------------------------------
def _work(additions: int) -> int:
    total = 0
    for number in range(additions):
        total += number
    return total


async def _hops(count: int, concurrency: int, additions: int) -> float:
    threads = Threads(40, "bench")

    async def caller(calls: int) -> None:
        for _ in range(calls):
            await threads.run(_work, additions)

    began = time.process_time()
    await asyncio.gather(*(caller(count // concurrency) for _ in range(concurrency)))
    spent = time.process_time() - began
    threads.shutdown()
    return spent / count * 1e6


def hops() -> None:
    for concurrency, additions in ((1, 0), (16, 0), (1, 2000), (16, 2000)):
        spent: dict[str, list[float]] = {"asyncio": [], "service": []}
        for _ in range(ROUNDS):
            spent["asyncio"].append(asyncio.run(_hops(4000, concurrency, additions)))
            with asyncio.Runner(loop_factory=ServiceLoop) as runner:
                spent["service"].append(runner.run(_hops(4000, concurrency, additions)))
        for loop, values in spent.items():
            print(
                f"concurrency {concurrency:>2}, {additions:>4} additions, {loop + ' loop':>12}: "
                f"{statistics.median(values):5.1f} µs CPU a hop (min {min(values):5.1f})"
            )


# -- answers ---------------------------------------------------------------------------------------------
def _serve(kind: str, port: int) -> None:
    """A server process: uvicorn, the service's protocol, on the loop `kind` names."""
    import uvicorn

    from rules_engine.http import protocol

    if kind == "two sends":
        protocol._joined = lambda transport: transport  # the writes apart, on the service's loop

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        length = str(len(BODY)).encode()
        headers = [(b"content-length", length), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": BODY})

    loop = "asyncio" if kind == "asyncio loop" else LOOP
    uvicorn.run(app, port=port, log_level="warning", http=protocol.PROTOCOL, loop=loop, lifespan="off")


async def _load(port: int, count: int, concurrency: int) -> None:
    async def client(requests: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(requests):
            writer.write(REQUEST)
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(len(BODY))
        writer.close()

    await asyncio.gather(*(client(count // concurrency) for _ in range(concurrency)))


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers() -> None:
    kinds = ("one send", "two sends", "asyncio loop")
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for kind in kinds:
            port = _free_port()
            servers[kind] = (subprocess.Popen([sys.executable, __file__, "serve", kind, str(port)]), port)
        for process, port in servers.values():
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("a server did not start") from None
                    time.sleep(0.2)
            asyncio.run(_load(port, 200, 4))  # warm
        for concurrency in (1, 16):
            server_us: dict[str, list[float]] = {kind: [] for kind in kinds}
            client_us: dict[str, list[float]] = {kind: [] for kind in kinds}
            rate: dict[str, list[float]] = {kind: [] for kind in kinds}
            for round_ in range(ROUNDS):
                for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
                    process, port = servers[kind]
                    before, client, began = _cpu(process.pid), time.process_time(), time.perf_counter()
                    asyncio.run(_load(port, 4000, concurrency))
                    rate[kind].append(4000 / (time.perf_counter() - began))
                    server_us[kind].append((_cpu(process.pid) - before) / 4000 * 1e6)
                    client_us[kind].append((time.process_time() - client) / 4000 * 1e6)
            for kind in kinds:
                served, clients = server_us[kind], client_us[kind]
                print(
                    f"concurrency {concurrency:>2}, {kind:>12}: server {statistics.median(served):5.1f} µs "
                    f"CPU a request (min {min(served):5.1f}), client {statistics.median(clients):5.1f} µs, "
                    f"{statistics.median(rate[kind]):,.0f} requests/s"
                )
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        for process, _ in servers.values():
            process.send_signal(signal.SIGTERM)
            process.wait(30)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        _serve(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["hops"]:
        hops()
    elif sys.argv[1:2] == ["answers"]:
        answers()
    else:
        sys.exit(__doc__)
