"""Connections the service accepts send at once (TCP_NODELAY), however uvicorn bound the socket.

With `--workers 2` every request on a kept-alive connection took 40–50 ms more than with one: the
socket uvicorn binds for several workers has protocol number 0, asyncio then leaves Nagle's
algorithm on, and the response's body waited for the client's delayed acknowledgement.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import pytest
import uvicorn
from uvicorn.server import ServerState

from rules_engine.http import protocol as protocols
from rules_engine.http.loop import LOOP, ServiceLoop
from rules_engine.http.protocol import PROTOCOL, NoDelayH11Protocol

T = TypeVar("T")

# Every protocol class serve may name: h11's always, httptools' where httptools is installed.
CLASSES: list[type] = [NoDelayH11Protocol]
if hasattr(protocols, "NoDelayHttpToolsProtocol"):
    from rules_engine.http.direct import EventsProtocol

    CLASSES += [protocols.NoDelayHttpToolsProtocol, EventsProtocol]  # serve's: the events route's own


async def _accepted_nodelay(listener: socket.socket, kind: type) -> int:
    loop = asyncio.get_running_loop()
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # the trap
        config = uvicorn.Config(app=lambda scope, receive, send: None, http=PROTOCOL)
        config.load()
        protocol = kind(config=config, server_state=ServerState(), app_state={})
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, accepted)
        try:
            return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            transport.close()
    finally:
        client.close()


@pytest.mark.parametrize("kind", CLASSES, ids=lambda kind: kind.__name__)
def test_a_connection_on_a_socket_bound_as_uvicorn_binds_for_workers_sends_at_once(kind: type) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # protocol 0, as uvicorn's bind_socket
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        # a thread of its own: a loop may be running in this one (Playwright's, from the browser tests)
        with ThreadPoolExecutor(1) as thread:
            assert thread.submit(asyncio.run, _accepted_nodelay(listener, kind)).result() != 0
    finally:
        listener.close()


def test_serve_names_the_protocol_uvicorn_imports_in_each_worker() -> None:
    config = uvicorn.Config(app=lambda scope, receive, send: None, http=PROTOCOL)
    config.load()
    assert config.http_protocol_class is CLASSES[-1]  # httptools' (direct.py's) when it is installed


def test_httptools_parses_when_it_is_installed() -> None:
    """The http extra installs httptools: serve then parses in C, not in h11's Python."""
    pytest.importorskip("httptools")
    assert PROTOCOL.endswith(":EventsProtocol")
    assert issubclass(CLASSES[-1], protocols.NoDelayHttpToolsProtocol)


class _Recorded:
    """A transport that records what is written to it, and whether it was closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


def _on_service_loop(main: Coroutine[Any, Any, None]) -> None:
    _service_loop_result(main)


def test_a_turns_writes_go_out_as_one_when_the_turn_ends() -> None:
    """A response's head and body (two writes from uvicorn) leave in one `send`; writes of
    later turns in their own."""
    recorded = _Recorded()

    async def main() -> None:
        joined = protocols._joined(cast(asyncio.Transport, recorded))
        joined.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        joined.write(b"{}")
        assert recorded.writes == []  # held until the turn ends
        await asyncio.sleep(0)
        assert recorded.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        joined.write(bytearray(b"next"))
        await asyncio.sleep(0)
        joined.writelines([b"a", memoryview(b"b")])
        await asyncio.sleep(0)
        assert recorded.writes[1:] == [b"next", b"ab"]

    _on_service_loop(main())


def test_closing_sends_what_is_held_first_and_aborting_or_losing_the_connection_drops_it() -> None:
    closed, aborted = _Recorded(), _Recorded()

    async def main() -> None:
        joined = protocols._joined(cast(asyncio.Transport, closed))
        joined.write(b"head")
        joined.write(b"body")
        joined.close()  # uvicorn closes right after the body for `Connection: close`
        assert closed.writes == [b"headbody"] and closed.closed
        dropped = protocols._joined(cast(asyncio.Transport, aborted))
        dropped.write(b"never")
        dropped.abort()
        await asyncio.sleep(0)
        assert aborted.writes == [] and aborted.closed
        lost = _Recorded()
        late = protocols._joined(cast(asyncio.Transport, lost))
        late.write(b"too late")
        lost.closed = True  # the connection was lost before the turn ended
        await asyncio.sleep(0)
        assert lost.writes == []

    _on_service_loop(main())


def test_on_another_loop_the_protocol_writes_to_the_transport_itself() -> None:
    recorded = _Recorded()

    async def main() -> None:
        transport = cast(asyncio.Transport, recorded)
        assert protocols._joined(transport) is transport

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, main()).result()


@pytest.mark.parametrize("kind", CLASSES, ids=lambda kind: kind.__name__)
def test_a_served_answer_arrives_whole_on_the_service_loop(kind: type) -> None:
    """uvicorn's protocols on the service's loop, a response with its body and one closed after
    it (`Connection: close`): the client reads both answers whole."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        await receive()
        body = scope["path"].encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        config = uvicorn.Config(app=app, http=kind, loop=LOOP, lifespan="off")
        config.load()
        server = await loop.create_server(
            lambda: kind(config=config, server_state=ServerState(), app_state={}), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        answers = await asyncio.wait_for(reader.read(), 10)  # to the end: the server closed it
        writer.close()
        server.close()
        return answers.split(b"HTTP/1.1 ")[1:]

    first, second = _service_loop_result(main())
    assert first.startswith(b"200 OK\r\n") and first.endswith(b"\r\n\r\n/first")
    assert second.startswith(b"200 OK\r\n") and b"connection: close" in second.lower()
    assert second.endswith(b"/second")


def _service_loop_result(main: Coroutine[Any, Any, T]) -> T:
    # a thread of its own: a loop may be running in this one (Playwright's, from the browser tests)
    def run() -> T:
        with asyncio.Runner(loop_factory=ServiceLoop) as runner:
            return runner.run(main)

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(run).result()
