"""Connections the service accepts send at once (TCP_NODELAY), however uvicorn bound the socket.

With `--workers 2` every request on a kept-alive connection took 40–50 ms more than with one: the
socket uvicorn binds for several workers has protocol number 0, asyncio then leaves Nagle's
algorithm on, and the response's body waited for the client's delayed acknowledgement.
"""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn
from uvicorn.server import ServerState

from rules_engine.http import protocol as protocols
from rules_engine.http.protocol import PROTOCOL, NoDelayH11Protocol

# Every protocol class serve may name: h11's always, httptools' where httptools is installed.
CLASSES: list[type] = [NoDelayH11Protocol]
if hasattr(protocols, "NoDelayHttpToolsProtocol"):
    CLASSES.append(protocols.NoDelayHttpToolsProtocol)


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
    assert config.http_protocol_class is CLASSES[-1]  # httptools' when it is installed


def test_httptools_parses_when_it_is_installed() -> None:
    """The http extra installs httptools: serve then parses in C, not in h11's Python."""
    pytest.importorskip("httptools")
    assert PROTOCOL.endswith(":NoDelayHttpToolsProtocol")
