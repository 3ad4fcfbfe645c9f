"""`POST /v1/programs/{program}/events` served by the HTTP protocol itself, without ASGI.

The events route is what a till calls on every sale; under uvicorn every request of it went
through uvicorn's ASGI machinery (a scope dict, a `RequestResponseCycle` with its event, the
`receive` and `send` messages and their checks, uvicorn's proxy-headers middleware), then
`Service`, `Observe` and the shortcut, each a layer of calls and closures, ~100 µs of the loop's
CPU a request among them (none over ~10 µs alone), on the interpreter the lane's thread needs to
decide and write the events.

`EventsProtocol` is `loyalty serve`'s protocol (protocol.py's, httptools parsing): when a
request's head is parsed it recognises the requests the shortcut takes (`shortcut.takes`: POST,
the route's path, no query or exactly `trace=true|false`), and serves them with a `Direct` cycle
of its own: the body gathered from the parser's callbacks, then the same steps, in the same
order, with the same functions as `Observe` around the shortcut — the request id
(`Observe.request_id`), the declared size against `Settings.max_body` (RE804), the key, the body
and the event (`shortcut.answer`), a refusal answered by `problems.refused` (an unexpected error
by `problems.unexpected`), the metrics and the log line (`Observe.record`) — and the answer
written as uvicorn writes it (its status line, its `date` header, `connection: close` when the
connection is not kept alive), head and body in one write. Keep-alive, pipelining (a request
waits for the one before it on the connection, reading paused), `Expect: 100-continue` (sent
when the body is first waited for, as uvicorn's `receive` sends it), a client gone before its
answer (nothing written, logged as the ASGI way logs it), graceful shutdown (the connection closes
once its answer is out; the request's task is among the server's, cancelled at the grace's end
with uvicorn's 500) are uvicorn's own: the protocol's state and its `on_response_complete`.

Every other request — another route or method, a query the shortcut leaves to FastAPI, an
upgrade, a root path, uvicorn's `limit_concurrency`, OpenTelemetry configured (`Service`'s
check, at most once a second), an app that is not the service with its shortcut — goes to
uvicorn's ASGI way as before. tests/http/test_direct.py sends the same requests, raw bytes over
sockets, to a server on this protocol and to one on uvicorn's and compares every answer byte for
byte (but the date).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import urllib.parse
from typing import Any, cast

import httptools
from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from rules_engine.errors import RulesEngineError
from rules_engine.http.app import Service
from rules_engine.http.observe import Observe, too_large
from rules_engine.http.problems import refused, unexpected
from rules_engine.http.protocol import NoDelayHttpToolsProtocol
from rules_engine.http.shortcut import _PATH, _TRACE, Shortcut, answer, headers

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CLOSE = b"connection: close\r\n"
_FAILED = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"21"),
    (b"connection", b"close"),
]
"""The headers of uvicorn's answer when the app fails before answering (`send_500_response`)."""


class EventsProtocol(NoDelayHttpToolsProtocol):
    """protocol.py's httptools protocol, serving the events route itself (module docstring)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.direct = _served(self)

    def on_headers_complete(self) -> None:
        direct = self.direct
        if direct is not None:
            taken = _takes(self)
            if taken is not None and direct.ready():
                cycle = Direct(self, direct, *taken)
                existing = self.cycle
                self.cycle = cast(Any, cycle)
                if existing is None or existing.response_complete:
                    cycle.start()
                else:  # pipelined: its turn comes when the one before is answered (`_start_asgi_task`)
                    self.flow.pause_reading()
                    self.pipeline.appendleft((cast(Any, cycle), cast(Any, None)))
                return
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


def _takes(protocol: EventsProtocol) -> tuple[str, bool, str, bytes] | None:
    """The program, `trace`, the path and the query of a request the shortcut would take
    (`shortcut.takes`, on the path and query uvicorn would put in the scope); None otherwise."""
    parser = protocol.parser
    if parser.get_method() != b"POST" or parser.should_upgrade():
        return None
    try:
        parsed = httptools.parse_url(protocol.url)
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


class Direct:
    """One events request served by `EventsProtocol`: what uvicorn's `RequestResponseCycle` holds
    that the protocol reads (`response_complete`, `keep_alive`, `disconnected`, `message_event`),
    the body as it comes, and the request's task."""

    __slots__ = (
        "body",
        "default_headers",
        "disconnected",
        "expect_100_continue",
        "head",
        "keep_alive",
        "message_event",
        "more_body",
        "path",
        "program",
        "protocol",
        "query",
        "response_complete",
        "served",
        "size",
        "trace",
        "waiter",
    )

    def __init__(
        self, protocol: EventsProtocol, served: Served, program: str, trace: bool, path: str, query: bytes
    ) -> None:
        self.protocol = protocol
        self.served = served
        self.program = program
        self.trace = trace
        self.path = path
        self.query = query
        self.head = protocol.headers
        self.expect_100_continue = protocol.expect_100_continue
        self.default_headers = protocol.server_state.default_headers
        parser = protocol.parser
        self.keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        self.body: list[bytes] = []
        self.size = 0
        self.more_body = True
        self.response_complete = False
        self.disconnected = False
        self.message_event = self  # uvicorn's protocol sets it when the connection is lost
        self.waiter: asyncio.Future[None] | None = None

    def start(self) -> None:
        """The request's task, among the server's (uvicorn's `_start_asgi_task`)."""
        protocol = self.protocol
        loop = protocol.loop
        if protocol.config.reset_contextvars:
            task = loop.create_task(self.run(), context=contextvars.Context())
        else:
            task = loop.create_task(self.run())
        tasks = protocol.tasks
        task.add_done_callback(tasks.discard)
        tasks.add(task)

    # The parser's side
    def received(self, body: bytes) -> None:
        if self.response_complete:
            return
        self.body.append(body)
        self.size += len(body)
        if self.size > HIGH_WATER_LIMIT:
            self.protocol.flow.pause_reading()
        self.set()

    def complete(self) -> None:
        if self.response_complete:
            return
        self.more_body = False
        self.set()

    def set(self) -> None:
        """Wake the request waiting for its body (the protocol calls it on a lost connection)."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # The request's side
    async def receive(self) -> dict[str, Any]:
        """The whole body as one `http.request` message (what `shortcut.answer` reads), RE804 as
        soon as more than the limit came, `http.disconnect` if the client went away first."""
        protocol = self.protocol
        if self.expect_100_continue:
            self.expect_100_continue = False
            if not protocol.transport.is_closing():
                protocol.transport.write(_CONTINUE)
        limit = self.served.limit
        while True:
            if self.disconnected:
                return {"type": "http.disconnect"}
            if self.size > limit:
                raise too_large(limit)
            if not self.more_body:
                body = self.body
                return {"type": "http.request", "body": body[0] if len(body) == 1 else b"".join(body)}
            protocol.flow.resume_reading()
            self.waiter = waiter = protocol.loop.create_future()
            await waiter

    async def run(self) -> None:
        served = self.served
        started = time.perf_counter()
        request_id = b""
        declared = None
        for name, value in self.head:  # the last of each, as `Observe`'s dict of the headers
            if name == b"x-request-id":
                request_id = value
            elif name == b"content-length":
                declared = value
        state: dict[str, Any] = {"request_id": served.observe.request_id(request_id)}
        status = 500
        routed = True  # `Observe` refuses a declared size before the route is known: "unmatched"
        try:
            try:
                if declared is not None and declared.isdigit() and int(declared) > served.limit:
                    routed = False
                    raise too_large(served.limit)
                body, version = await answer(
                    served.runtime, self.head, self.program, self.trace, state, self.receive
                )
                status = 200
                self.write(200, headers(body, version), body, state["request_id"])
            except RulesEngineError as error:
                response = await refused(self.request(state), error)
                status = response.status_code
                self.write(status, response.raw_headers, bytes(response.body), state["request_id"])
            except Exception as error:  # `Observe` answers it
                response = await unexpected(self.request(state), error)
                status = response.status_code
                self.write(status, response.raw_headers, bytes(response.body), state["request_id"])
        except BaseException as error:  # cancelled (the grace ran out): uvicorn's `run_asgi`
            protocol = self.protocol
            protocol.logger.error("Exception in ASGI application\n", exc_info=error)
            self.keep_alive = False
            self.write(500, _FAILED, b"Internal Server Error", None)
        finally:
            seconds = time.perf_counter() - started
            if routed:
                served.observe.record("POST", served.route, self.program, state, status, seconds)
            else:
                served.observe.record("POST", "unmatched", None, state, status, seconds)

    def request(self, state: dict[str, Any]) -> Request:
        """A Starlette request of this one's scope, as uvicorn would have made it, for the
        problem's functions (its path in `instance`, the id in `request_id`)."""
        protocol = self.protocol
        scope = {
            "type": "http",
            "http_version": protocol.parser.get_http_version(),
            "server": protocol.server,
            "client": protocol.client,
            "scheme": protocol.scheme,
            "method": "POST",
            "root_path": "",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": self.query,
            "headers": self.head,
            "state": state,
            "path_params": {"program": self.program},
        }
        return Request(scope)

    def write(
        self, status: int, head: list[tuple[bytes, bytes]], body: bytes, request_id: str | None
    ) -> None:
        """The answer, as uvicorn writes what the app sends, head and body in one write: its
        status line, the server's default headers (the date), the answer's, `x-request-id`
        (`Observe`'s; None: uvicorn's own answer), `connection: close` when the connection is
        not kept alive. Nothing to a connection lost (uvicorn's `send` writes nothing then, and
        the response never completes)."""
        if self.disconnected or self.response_complete:
            return
        parts = [STATUS_LINE[status]]
        for name, value in self.default_headers:
            parts += (name, b": ", value, b"\r\n")
        for name, value in head:
            parts += (name, b": ", value, b"\r\n")
        if request_id is not None:
            parts += (b"x-request-id: ", request_id.encode(), b"\r\n")
        if not self.keep_alive:
            parts.append(_CLOSE)
        parts += (b"\r\n", body)
        protocol = self.protocol
        transport = protocol.transport
        transport.write(b"".join(parts))
        self.response_complete = True
        if not self.keep_alive:
            transport.close()
        protocol.on_response_complete()
