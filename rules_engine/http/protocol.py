"""uvicorn's HTTP/1.1 protocol with Nagle's algorithm turned off on every connection, parsing with
httptools (C) when it is installed, h11 (pure Python) otherwise.

With `--workers N` uvicorn binds the listening socket itself, as `socket.socket(AF_INET)`, whose
protocol number is 0; asyncio turns on TCP_NODELAY only for sockets whose protocol number says TCP,
so the connections those workers accepted kept Nagle's algorithm. A response goes out in two
writes (head, then body), and the body waited for the client's delayed acknowledgement: every
request on a kept-alive connection took 40–50 ms more with two workers than with one (measured:
/healthz 0.3 ms with one worker, 44 ms with two). Setting the option where the connection is made
holds whichever way the socket was bound.

The parser: uvicorn's `http="auto"` picks httptools when it can be imported; naming a protocol
class (as `serve` must, for the option above) bypasses that choice, so it is made here. h11 parsed
and wrote every request in Python: with httptools (the `http` extra installs it) the server spends
less CPU per request (bench/README.md, "Service benchmark").
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def _no_delay(transport: asyncio.BaseTransport) -> None:
    connection = transport.get_extra_info("socket")
    if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """`H11Protocol` that sends each write at once (TCP_NODELAY) on TCP connections."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)


PROTOCOL = f"{__name__}:{NoDelayH11Protocol.__name__}"
"""The class as uvicorn's `http` setting names it (imported by name in each worker)."""

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: h11 it is
    pass
else:

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        """`HttpToolsProtocol` that sends each write at once (TCP_NODELAY) on TCP connections."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            _no_delay(transport)
            super().connection_made(transport)

    PROTOCOL = f"{__name__}:{NoDelayHttpToolsProtocol.__name__}"
