"""`POST /v1/programs/{program}/events` served by the HTTP protocol itself, without ASGI.

The events route is what a till calls on every sale; under uvicorn every request of it went
through uvicorn's ASGI machinery (a scope dict, a `RequestResponseCycle` with its event, the
`receive` and `send` messages and their checks, uvicorn's proxy-headers middleware), then
`Service`, `Observe` and the shortcut, each a layer of calls and closures, on the interpreter
the lane's thread needs to decide and write the events. Counted (bench/bench_protocol.py, the
lane stubbed): the loop's side of a request 488.7k instructions that way, 367.2k this one.

`EventsProtocol` is `loyalty serve`'s protocol (protocol.py's, httptools parsing): when a
request's head is parsed it recognises the requests the shortcut takes (`shortcut.takes`: POST,
the route's path, no query or exactly `trace=true|false`), and serves them with a `Direct` cycle
of its own (direct_request.py: the body gathered from the parser's callbacks, then the same steps,
in the same order, with the same functions as `Observe` around the shortcut, and the answer
written as uvicorn writes it). Keep-alive, pipelining (a request waits for the one before it on
the connection, reading paused) and a client gone before its answer are uvicorn's own: the
protocol's state and its `on_response_complete` (with protocol.py's keep-alive timer, one an idle
spell, for uvicorn's one an answer). A direct request has no ASGI scope (`on_message_begin`: made
only for one that goes the ASGI way).

Every other request — another route or method, a query the shortcut leaves to FastAPI, an
upgrade, a root path, uvicorn's `limit_concurrency`, OpenTelemetry configured (`Service`'s
check, at most once a second), an app that is not the service with its shortcut — goes to
uvicorn's ASGI way as before. tests/http/test_direct.py sends the same requests, raw bytes over
sockets, to a server on this protocol and to one on uvicorn's and compares every answer byte for
byte (but the date).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from rules_engine.http.app import Service
from rules_engine.http.direct_request import Direct
from rules_engine.http.observe import Observe
from rules_engine.http.protocol import NoDelayHttpToolsProtocol
from rules_engine.http.shortcut import _PATH, _TRACE, Shortcut


class EventsProtocol(NoDelayHttpToolsProtocol):
    """protocol.py's httptools protocol, serving the events route itself (module docstring)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.direct = _served(self)
        self.write_whole = getattr(self.transport, "write_whole", self.transport.write)
        """How `Direct.write` writes an answer, head and body in one piece: at once (protocol.py
        `_Joined.write_whole`), not held for the loop's turn to end as uvicorn's two writes are."""

    def on_message_begin(self) -> None:
        """uvicorn's, but for the request's ASGI scope, made only for a request that goes the
        ASGI way (`on_headers_complete`): a direct one has no use for it."""
        self._reading()
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.scope = None  # type: ignore[assignment]

    def on_headers_complete(self) -> None:
        direct = self.direct
        if direct is not None:
            taken = _takes(self)
            if taken is not None and direct.ready():
                cycle = Direct(self, direct, *taken)
                existing = self.cycle
                self.cycle = cycle  # type: ignore[assignment]
                if existing is None or existing.response_complete:
                    cycle.start()
                else:  # pipelined: its turn comes when the one before is answered (`_start_asgi_task`)
                    self.flow.pause_reading()
                    self.pipeline.appendleft((cycle, None))  # type: ignore[arg-type]
                return
        self.scope = {  # what uvicorn's `on_message_begin` makes
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,  # type: ignore[typeddict-item]
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
        }
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if type(cycle) is Direct:
            cycle.start()
        else:
            super()._start_asgi_task(cycle, app)

    def on_body(self, body: bytes) -> None:
        cycle: Any = self.cycle
        if type(cycle) is Direct:
            cycle.received(body)
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._read_whole()
        cycle: Any = self.cycle
        if type(cycle) is Direct:
            cycle.complete()
        else:
            super().on_message_complete()


class Served:
    """What a connection's direct requests need of the app: its runtime, `Observe` (ids, the
    metrics and the log line), the route's template, and `Service`'s telemetry check."""

    __slots__ = ("limit", "observe", "route", "runtime", "service")

    def __init__(self, service: Service, observe: Observe, shortcut: Shortcut) -> None:
        self.service = service
        self.observe = observe
        self.runtime = shortcut.runtime
        self.route: str = shortcut.route.path
        self.limit = shortcut.runtime.settings.max_body

    def ready(self) -> bool:
        """Whether the request is served here: no OpenTelemetry configured (`Service`'s check)."""
        return self.service._untraced()


def _served(protocol: EventsProtocol) -> Served | None:
    """The app's parts when the app is the service with its shortcut (`Service.front`), as
    `loyalty serve` loads it (under uvicorn's proxy-headers middleware, which changes nothing the
    route reads); None for any other app or setting, whose requests all go the ASGI way."""
    config = protocol.config
    if config.root_path or config.limit_concurrency is not None:
        return None
    app = protocol.app
    if isinstance(app, ProxyHeadersMiddleware):
        app = app.app
    if not isinstance(app, Service) or app.root_path:
        return None
    front = app.front
    if isinstance(front, Observe) and isinstance(front.app, Shortcut):
        return Served(app, front, front.app)
    return None


_Taken = tuple[str, bool, str, bytes]
_TAKEN: dict[bytes, _Taken] = {}
"""`_takes`' answers by the request's target: a till posts to one (its program's) all day."""
_TAKEN_KEPT = 256
"""Targets `_TAKEN` holds at most (emptied when full: targets are the client's to choose)."""


def _takes(protocol: EventsProtocol) -> _Taken | None:
    """The program, `trace`, the path and the query of a request the shortcut would take
    (`shortcut.takes`, on the path and query uvicorn would put in the scope); None otherwise."""
    parser = protocol.parser
    if parser.get_method() != b"POST" or parser.should_upgrade():
        return None
    url = protocol.url
    taken = _TAKEN.get(url)
    if taken is None:
        taken = _target(url)
        if taken is not None:
            if len(_TAKEN) >= _TAKEN_KEPT:
                _TAKEN.clear()
            _TAKEN[url] = taken
    return taken


def _target(url: bytes) -> _Taken | None:
    """`_takes` for a POST to `url`, the request's target."""
    try:
        parsed = httptools.parse_url(url)
        path = parsed.path.decode("ascii")
    except Exception:  # uvicorn's way fails it as it always did
        return None
    query = parsed.query or b""
    trace = _TRACE.get(query)
    if trace is None:
        return None
    if "%" in path:
        path = urllib.parse.unquote(path)
    found = _PATH.fullmatch(path)
    if found is None:
        return None
    return found.group(1), trace, path, query
