"""uvicorn's HTTP/1.1 protocol with Nagle's algorithm turned off on every connection.

With `--workers N` uvicorn binds the listening socket itself, as `socket.socket(AF_INET)`, whose
protocol number is 0; asyncio turns on TCP_NODELAY only for sockets whose protocol number says TCP,
so the connections those workers accepted kept Nagle's algorithm. A response goes out in two
writes (head, then body), and the body waited for the client's delayed acknowledgement: every
request on a kept-alive connection took 40–50 ms more with two workers than with one (measured:
/healthz 0.3 ms with one worker, 44 ms with two). Setting the option where the connection is made
holds whichever way the socket was bound.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    """`H11Protocol` that sends each write at once (TCP_NODELAY) on TCP connections."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


PROTOCOL = f"{__name__}:{NoDelayH11Protocol.__name__}"
"""The class as uvicorn's `http` setting names it (imported by name in each worker)."""
