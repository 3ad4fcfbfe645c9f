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

One `send` per response: uvicorn writes a response's head when the app sends
`http.response.start` and its body at `http.response.body`, two writes back to back, so two
`send` calls and two TCP segments, each waking the client. On the service's loop (loop.py) the
protocol writes through `_Joined`, which holds the writes of one turn of the loop and sends them
together when the turn ends, before the loop polls again: head and body leave as one. Measured
with an app that answers as the events route does (a head and ~1 KB), uvicorn on loopback,
servers side by side: 9-10 µs less server CPU a request, 6-11 µs less for the client, ~20 % more
requests a second (bench/README.md, "Fewer wake-ups"). (An earlier try held the head alone and
put a `send` at ~0.5 µs, too little to see; on this machine under load each costs ~5 µs to the
sender and as much to the woken reader.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterable
from typing import Any, cast

from uvicorn.protocols.http.h11_impl import H11Protocol

from rules_engine import jsonio
from rules_engine.codes import CODES
from rules_engine.http.loop import ServiceLoop

log = logging.getLogger("rules_engine.http")


REQUEST_TIMEOUT = "LOYALTY_SERVE_REQUEST_TIMEOUT"
"""The environment variable `loyalty serve --request-timeout` sets (server.py `export`): the
seconds a connection has to send a request whole, from its first byte (or, for a connection's
first request, from the moment it was made); 60 unless it says otherwise."""


def request_timeout() -> float:
    """`REQUEST_TIMEOUT`'s seconds, read when a worker's first connection is made."""
    global _TIMEOUT
    if _TIMEOUT is None:
        _TIMEOUT = float(os.environ.get(REQUEST_TIMEOUT, "60"))
    return _TIMEOUT


_TIMEOUT: float | None = None


def _timed_out_answer(seconds: float) -> bytes:
    """The 408 a connection gets when a request it began did not arrive whole in time (RE811),
    problem+json as problems.py writes every refusal; no request id: none was made for it."""
    message = f"the request was not received whole within {seconds:g} s: the connection is closed"
    error = {
        "code": "RE811",
        "severity": "error",
        "message": message,
        "hint": "send each request at once, whole; behind a slow link, a reverse proxy that buffers "
        "request bodies (nginx does by default)",
    }
    problem = {
        "type": "urn:loyalty:error:RE811",
        "title": CODES["RE811"].title,
        "status": 408,
        "detail": message,
        "instance": "",
        "code": "RE811",
        "request_id": "",
        "errors": [error],
    }
    body = jsonio.dumps(problem).encode()
    head = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
        b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    return head + body


def _no_delay(transport: asyncio.BaseTransport) -> None:
    connection = transport.get_extra_info("socket")
    if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Joined:
    """A connection's transport whose writes of one turn of the loop go out as one: uvicorn
    writes a response's head and its body separately, two `send` calls and two segments the
    client wakes up for, where one does (module docstring). The first write of a turn is held and
    the next ones join it; all go out when the turn ends (`ServiceLoop.at_turn_end`), or at once
    when the transport is closed. Everything else is the transport's."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: ServiceLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if not held:
            self._loop.at_turn_end(self._flush)
        held.append(bytes(data))

    def write_whole(self, data: bytes) -> None:
        """`data`, a whole answer (direct.py writes head and body as one), written at once when
        nothing of this turn is held before it: holding it would join it to nothing."""
        if self._held:
            self.write(data)
        else:
            self._transport.write(data)

    def writelines(self, lines: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        held = self._held
        if held:
            self._held = []
            if not self._transport.is_closing():  # the connection was lost meanwhile: nobody reads
                self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(data) for data in self._held)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _joined(transport: asyncio.Transport) -> asyncio.Transport:
    """The transport the protocol writes to: `_Joined` on the service's loop (loop.py), which
    tells it when a turn ends; the transport itself on any other loop."""
    loop = asyncio.get_running_loop()
    if isinstance(loop, ServiceLoop):
        return cast(asyncio.Transport, _Joined(transport, loop))
    return transport


class NoDelayH11Protocol(H11Protocol):
    """`H11Protocol` that sends each write at once (TCP_NODELAY) on TCP connections."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(_joined(transport))


PROTOCOL = f"{__name__}:{NoDelayH11Protocol.__name__}"
"""The class as uvicorn's `http` setting names it (imported by name in each worker)."""

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: h11 it is
    pass
else:

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        """`HttpToolsProtocol` that sends each write at once (TCP_NODELAY) on TCP connections,
        with a keep-alive timer armed once per idle spell rather than once per answer (`_idle`),
        which also ends a request that does not arrive whole in time (`request_timeout`): uvicorn
        has no such limit, and a connection that sent half a request, or nothing, was held open
        for good — a slow or stuck client (or a hostile one, a few thousand of them) kept its
        socket, its memory and a file descriptor of the worker's until the worker ran out."""

        _idle_since: float | None = None
        """When the connection's last answer was written with nothing after it (`on_response_complete`);
        None while a request is being read or answered (`data_received`)."""
        _idle_timer: asyncio.TimerHandle | None = None
        _idle_deadline = 0.0
        """When `_idle_timer` fires."""
        _reading_since: float | None = None
        """When the request being read began to arrive (its first bytes' turn of the loop), or the
        connection was made, for its first request; None once it is read whole (`on_message_complete`)."""
        _begun = False
        """Some of the request being read has arrived: one that times out is answered (408)."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            _no_delay(transport)
            super().connection_made(_joined(transport))
            self.timeout_request = request_timeout()
            self._reading_since = now = self.loop.time()
            self._arm(now + self.timeout_request)

        def on_message_begin(self) -> None:
            self._reading()
            super().on_message_begin()

        def on_message_complete(self) -> None:
            self._read_whole()
            super().on_message_complete()

        def _read_whole(self) -> None:
            """The request being read arrived whole: its time no longer runs."""
            self._reading_since = None
            self._begun = False

        def _reading(self) -> None:
            """A request's first bytes: the time it has to arrive whole starts (unless the
            connection's first request's started when it was made); the timer armed if none is
            (on a kept-alive connection the idle one is, and stays: nothing per request)."""
            self._begun = True
            if self._reading_since is None:
                self._reading_since = now = self.loop.time()
                if self._idle_timer is None:
                    self._arm(now + self.timeout_request)

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            self._idle_since = None
            timer = self._idle_timer
            if timer is not None:
                self._idle_timer = None
                timer.cancel()
            # The connection's last request and those queued behind it refer back to the protocol
            # (a request's `protocol`, uvicorn's cycle's `on_response`): let go of them, or each
            # closed connection is a reference cycle of ~20 objects that only the garbage
            # collector frees (bench/README.md, "The collector's pause"). A request still being
            # decided keeps what it refers to until it is done; its answer goes nowhere.
            self.cycle = None  # type: ignore[assignment]
            self.pipeline.clear()

        def _unset_keepalive_if_required(self) -> None:
            """Busy again (a request's bytes, the connection lost): not idle. The timer, if one is
            armed, stays; when it fires it finds the connection busy or idle for less long, and
            waits (`_idle`)."""
            self._idle_since = None

        def on_response_complete(self) -> None:
            """uvicorn's, but for the keep-alive timer: uvicorn arms a new one (`call_later`) after
            every answer and cancels it when the next request's bytes come, a timer made, pushed
            on the loop's heap and cancelled per request; here the time the connection fell idle
            is noted, and one timer at a time checks it (`_idle`). The connection is closed, as
            uvicorn closes it, once it has been idle `timeout_keep_alive` seconds."""
            self.server_state.total_requests += 1
            if self.transport.is_closing():
                return
            self._idle_since = None
            self.flow.resume_reading()
            if self.pipeline:
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
            else:
                self._idle_since = now = self.loop.time()
                deadline = now + self.timeout_keep_alive
                timer = self._idle_timer
                if timer is None:
                    self._arm(deadline)
                elif self._idle_deadline > deadline:  # armed for a request's time: once a connection
                    timer.cancel()
                    self._arm(deadline)

        def _arm(self, deadline: float) -> None:
            self._idle_deadline = deadline
            self._idle_timer = self.loop.call_at(deadline, self._idle)

        def _idle(self) -> None:
            """The keep-alive timer: the connection closed if it has been idle since its deadline's
            `timeout_keep_alive` before (as uvicorn's timer would have fired then), else the timer
            armed again for when it will have been, if it is idle; a busy connection's is armed by
            its next answer."""
            self._idle_timer = None
            if self.transport.is_closing():
                return
            started = self._reading_since
            if started is not None:
                self._read_timer(started)
                return
            since = self._idle_since
            if since is None:
                return
            deadline = since + self.timeout_keep_alive
            if deadline <= self._idle_deadline:
                self.timeout_keep_alive_handler()
            else:
                self._arm(deadline)

        def _read_timer(self, started: float) -> None:
            """The timer, while a request is being read: the connection answered 408 (RE811, when
            some of it came) and closed once `timeout_request` has passed since it began, else the
            timer armed again for then. Not while the server itself stopped reading (a pipelined
            request waiting for the one before, a body the route has not taken yet): its time
            starts again when the timer finds it so."""
            fired = self._idle_deadline
            if self.flow.read_paused:
                self._reading_since = fired
                self._arm(fired + self.timeout_request)
                return
            deadline = started + self.timeout_request
            if deadline > fired:
                self._arm(deadline)
                return
            if self._begun:
                self.transport.write(_timed_out_answer(self.timeout_request))
                log.info(
                    "request timed out",
                    extra={"fields": {"status": 408, "code": "RE811", "seconds": self.timeout_request}},
                )
            self.transport.close()

    PROTOCOL = "rules_engine.http.direct:EventsProtocol"
    """With httptools: the subclass that serves the events route itself (direct.py)."""
