"""A kept-alive connection is closed after the same idle time as uvicorn closes it.

uvicorn arms a keep-alive timer after every answer and cancels it when the next request's bytes
come; the service's protocols (protocol.py `NoDelayHttpToolsProtocol`, and `EventsProtocol`, its
subclass) note when the connection fell idle and keep one timer at a time. Both run here on a
loop whose clock and timers the test moves (`Clock`), fed the same answers and request bytes at
the same moments (hypothesis), and each must close the connection at the same moment: when an
answer has been followed by `timeout_keep_alive` seconds without a byte.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from rules_engine.http import protocol as protocols
from rules_engine.http.direct import EventsProtocol

TIMEOUT = 5.0


class _Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """The loop as the protocol uses it for its timers: `time`, `call_at`, `call_later`."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[tuple[float, int, _Timer]] = []
        self.order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> _Timer:
        timer = _Timer(when, lambda: callback(*args))
        heapq.heappush(self.timers, (when, next(self.order), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> _Timer:
        return self.call_at(self.now + delay, callback, *args)

    def advance(self, to: float) -> None:
        """The clock moved to `to`, every timer due by then run in order, as the loop runs them."""
        while self.timers and self.timers[0][0] <= to:
            when, _, timer = heapq.heappop(self.timers)
            self.now = max(self.now, when)
            if not timer.cancelled:
                timer.callback()
        self.now = to

    def armed(self) -> int:
        return sum(not timer.cancelled for _, _, timer in self.timers)


class Transport:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.closed_at: float | None = None

    def is_closing(self) -> bool:
        return self.closed_at is not None

    def close(self) -> None:
        if self.closed_at is None:
            self.closed_at = self.clock.now

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        pass


def _connection(kind: type, clock: Clock, request_timeout: float = 10_000.0) -> tuple[Any, Transport]:
    """A connection made at the clock's time, whose requests have `request_timeout` seconds to
    arrive whole (protocol.py `request_timeout`; by default more than any test here plays, so that
    only the keep-alive timer closes it)."""
    config = uvicorn.Config(app=lambda scope, receive, send: None, timeout_keep_alive=int(TIMEOUT))
    config.load()
    protocol = kind(config=config, server_state=ServerState(), app_state={}, _loop=clock)
    transport = Transport(clock)
    kept, protocols._TIMEOUT = protocols._TIMEOUT, request_timeout
    try:
        protocol.connection_made(transport)
    finally:
        protocols._TIMEOUT = kept
    return protocol, transport


def _bytes(protocol: Any) -> None:
    """What `data_received` does when a request's bytes come: busy again and, for the service's
    protocols, the request begun (the parser's `on_message_begin`)."""
    protocol._unset_keepalive_if_required()
    if type(protocol) is not HttpToolsProtocol:
        protocol._reading()


def _answer(protocol: Any) -> None:
    """A request read whole (`on_message_complete`'s part of it) and answered."""
    if type(protocol) is not HttpToolsProtocol:
        protocol._read_whole()
    protocol.on_response_complete()


Step = tuple[float, str]


def _closed_at(kind: type, steps: list[Step]) -> tuple[float | None, int]:
    """When a connection of `kind` is closed, the steps played at their moments (seconds after
    the start: an answer written, or a request's bytes received), then 60 idle seconds; and how
    many timers were ever armed."""

    async def play() -> tuple[float | None, int]:
        clock = Clock()
        protocol, transport = _connection(kind, clock)
        start = clock.now
        for at, step in steps:
            clock.advance(start + at)
            if transport.is_closing():
                break
            if step == "answer":
                _answer(protocol)
            else:
                _bytes(protocol)
        clock.advance(clock.now + 60)
        closed = None if transport.closed_at is None else transport.closed_at - start
        return closed, next(clock.order)

    return asyncio.run(play())


_STEPS = st.lists(
    st.tuples(st.floats(min_value=0, max_value=8, allow_nan=False), st.sampled_from(["answer", "bytes"])),
    max_size=12,
).map(lambda steps: list(itertools.accumulate(steps, lambda total, step: (total[0] + step[0], step[1]))))


@settings(max_examples=300, deadline=None)
@given(_STEPS)
def test_closed_when_uvicorn_closes_it(steps: list[Step]) -> None:
    """The same moment of closing as uvicorn's own timer, whatever the answers and bytes."""
    expected, _ = _closed_at(HttpToolsProtocol, steps)
    for kind in (protocols.NoDelayHttpToolsProtocol, EventsProtocol):
        assert _closed_at(kind, steps)[0] == expected


def test_one_timer_for_many_answers() -> None:
    """A busy connection arms a timer per idle spell, not per answer: 100 requests answered within
    a second arm one (uvicorn's arms 100), and the connection still closes 5 s after the last."""
    steps = [
        (index * 0.01 + part, step)
        for index in range(100)
        for part, step in ((0, "bytes"), (0.005, "answer"))
    ]
    closed, armed = _closed_at(protocols.NoDelayHttpToolsProtocol, steps)
    assert closed == pytest.approx(0.995 + TIMEOUT)
    assert armed <= 3  # the connection's (its first request's time), the first answer's, once more at 5 s
    assert _closed_at(HttpToolsProtocol, steps)[1] == 100


def test_a_lost_connection_drops_its_timer() -> None:
    async def lose() -> int:
        clock = Clock()
        protocol, _ = _connection(protocols.NoDelayHttpToolsProtocol, clock)
        protocol.on_response_complete()
        protocol.connection_lost(None)
        return clock.armed()

    assert asyncio.run(lose()) == 0


def _played(kind: type, steps: list[Step], paused: bool = False) -> tuple[float | None, list[bytes]]:
    """When a connection of `kind` with 30 s for a request is closed, the steps played at their
    moments and then 120 idle seconds, and what was written to it (`paused`: the server stopped
    reading from it, as for a pipelined request waiting for the one before)."""

    async def play() -> tuple[float | None, list[bytes]]:
        clock = Clock()
        protocol, transport = _connection(kind, clock, request_timeout=30.0)
        written: list[bytes] = []
        transport.write = written.append  # type: ignore[method-assign]
        protocol.flow.read_paused = paused
        start = clock.now
        for at, step in steps:
            clock.advance(start + at)
            if transport.is_closing():
                break
            (_answer if step == "answer" else _bytes)(protocol)
        clock.advance(clock.now + 120)
        return (None if transport.closed_at is None else transport.closed_at - start), written

    return asyncio.run(play())


@pytest.mark.parametrize("kind", [protocols.NoDelayHttpToolsProtocol, EventsProtocol])
def test_a_connection_that_sends_nothing_is_closed_after_the_request_timeout(kind: type) -> None:
    """uvicorn holds it open for good: thousands of them took the worker's file descriptors."""
    assert _closed_at(HttpToolsProtocol, [])[0] is None
    closed, written = _played(kind, [])
    assert closed == 30.0 and written == []  # nothing was asked: nothing to answer


@pytest.mark.parametrize("kind", [protocols.NoDelayHttpToolsProtocol, EventsProtocol])
def test_a_request_not_whole_in_time_is_answered_408_and_closed(kind: type) -> None:
    steps = [(1.0, "bytes"), (1.5, "answer"), (3.0, "bytes"), (20.0, "bytes")]  # the 2nd never whole
    assert _closed_at(HttpToolsProtocol, steps)[0] is None

    closed, written = _played(kind, steps)

    assert closed == 33.0  # 30 s after its first bytes, however many came since
    answer = b"".join(written)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n")
    problem = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert (problem["status"], problem["code"]) == (408, "RE811")
    assert "not received whole within 30 s" in problem["detail"]


@pytest.mark.parametrize("kind", [protocols.NoDelayHttpToolsProtocol, EventsProtocol])
def test_requests_whole_in_time_leave_the_connection_to_the_keep_alive(kind: type) -> None:
    steps = [(29.0, "bytes"), (29.5, "answer"), (33.0, "bytes"), (62.0, "answer")]  # each within 30 s
    closed, written = _played(kind, steps)
    assert closed == 62.0 + TIMEOUT and written == []
    assert _closed_at(HttpToolsProtocol, steps)[0] == closed


def test_a_request_the_server_stopped_reading_waits_on_the_server_not_the_client() -> None:
    closed, written = _played(protocols.NoDelayHttpToolsProtocol, [(1.0, "bytes")], paused=True)
    assert closed is None and written == []
