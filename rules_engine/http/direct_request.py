"""One events request served by `EventsProtocol` (direct.py) without ASGI: `Direct`.

The same steps, in the same order, with the same functions as `Observe` around the shortcut — the
request id (`Observe.request_id`), the declared size against `Settings.max_body` (RE804), the key,
the body and the event (`shortcut.answer`), a refusal answered by `problems.refused` (an
unexpected error by `problems.unexpected`), the metrics and the log line (`Observe.record`) — and
the answer written as uvicorn writes it (its status line, its `date` header, `connection: close`
when the connection is not kept alive), head and body in one write. An ordinary event — its key
cached (`auth.check_cached`), its body whole — takes no task: it is read and handed to the lane
from the parser's callback (`Direct._go`), and answered by the lane as its receiver (threads.py
`Lane.submit`), no coroutine, future or scheduled callback of its own; anything else (a key to
read, any refusal, a body larger than the parser's buffer, `Expect: 100-continue`, a client gone)
goes on a task that does every step from the start, as `Observe` and the shortcut do
(`Direct.run`: none of the steps the plain way took changed anything). `Expect: 100-continue`
(sent when the body is first waited for, as uvicorn's `receive` sends it), a client gone before
its answer (nothing written, logged as the ASGI way logs it) and graceful shutdown (the connection
closes once its answer is out; the request, task or not, is among the server's tasks, and
cancelled at the grace's end with uvicorn's 500) behave as uvicorn's. The answer is joined in one
go (`Direct._answered`) and written at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from rules_engine.errors import RulesEngineError
from rules_engine.http.auth import bearer_token, check_cached
from rules_engine.http.observe import GONE, too_large
from rules_engine.http.problems import refused, unexpected
from rules_engine.http.routes import events
from rules_engine.http.shortcut import SCOPES, Asked, answer, headers

if TYPE_CHECKING:
    from rules_engine.http.direct import EventsProtocol, Served

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CLOSE = b"connection: close\r\n"
_VERSION, _LENGTH, _TYPE = headers(b"", 0)
_VERSION_IS = _VERSION[0] + b": "
_LENGTH_IS = b"\r\n" + _LENGTH[0] + b": "
_JSON_ID_IS = b"\r\n" + _TYPE[0] + b": " + _TYPE[1] + b"\r\nx-request-id: "
"""The pieces of an answer's head around its values, as `write` writes `shortcut.headers`."""
_OK: tuple[object, bytes] = (None, b"")
"""The server's default headers last seen (uvicorn's list, renewed with the date each second),
and a 200's status line with them (`_status_ok`)."""


def _status_ok(defaults: list[tuple[bytes, bytes]]) -> bytes:
    """A 200's status line and the server's default headers, as `Direct.write` writes them."""
    global _OK
    known = _OK  # one read: another server's loop (a thread) may replace it meanwhile
    if known[0] is not defaults:
        known = _OK = (defaults, STATUS_LINE[200] + b"".join(b"%s: %s\r\n" % pair for pair in defaults))
    return known[1]


_FAILED = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"21"),
    (b"connection", b"close"),
]
"""The headers of uvicorn's answer when the app fails before answering (`send_500_response`)."""


_Begun = tuple[dict[str, Any], float, bool]
"""A request's state (its id), when it began, and whether its route is known (`Direct._begin`)."""
_QUEUED, _WAITING, _LANE, _TASK = range(4)
"""A direct request's way: behind the one before it on the connection, waiting for its body (the
plain way), at the lane (the plain way), on a task (`Direct._task`)."""


class _Answered:
    """The `message_event` of a request once answered (`Direct._send`): the protocol may still
    `set()` it when the connection is lost, and nothing waits for it any more. A request is its
    own `message_event` while it may wait (`Direct.set`); left so once answered, every request was
    a reference cycle (the request, its body and headers: ~6 objects) that only the garbage
    collector freed. They were most of what made its young collections come, every ~1,700
    requests at 64 in flight, each a ~40 ms pause that walked every customer state made since
    the last one: the p99 at 64 in flight (bench/README.md, "The collector's pause")."""

    __slots__ = ()

    def set(self) -> None:
        pass


_ANSWERED = _Answered()


class Direct:
    """One events request served by `EventsProtocol`: what uvicorn's `RequestResponseCycle` holds
    that the protocol reads (`response_complete`, `keep_alive`, `disconnected`, `message_event`),
    the body as it comes, and the request's task."""

    __slots__ = (
        "begun",
        "body",
        "default_headers",
        "disconnected",
        "expect_100_continue",
        "head",
        "http_version",
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
        "way",
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
        self.http_version = parser.get_http_version()  # the parser is gone once the client is
        self.keep_alive = self.http_version != "1.0" and parser.should_keep_alive()
        self.body: list[bytes] = []
        self.size = 0
        self.more_body = True
        self.response_complete = False
        self.disconnected = False
        self.message_event: Direct | _Answered = self  # the protocol sets it when the connection is lost
        self.waiter: asyncio.Future[None] | None = None
        self.way = _QUEUED
        self.begun: _Begun | None = None
        """Set while the request waits for the lane (`_go`), taken by its answer (`_decided`)."""

    def start(self) -> None:
        """The request's turn on its connection (at once, or when the one before it is answered):
        the plain way once its body is whole (`_go`), the task's way at once for what needs a
        wait before the body (`Expect: 100-continue`) or a body larger than the parser's buffer."""
        self.way = _WAITING
        if self.expect_100_continue or self.size > HIGH_WATER_LIMIT:
            self._task(None)
        elif not self.more_body:
            self._go()

    # The parser's side
    def received(self, body: bytes) -> None:
        if self.response_complete:
            return
        self.body.append(body)
        self.size += len(body)
        if self.size > HIGH_WATER_LIMIT:
            self.protocol.flow.pause_reading()
            if self.way == _WAITING:  # the task reads it as `Observe` does (RE804 past the limit)
                self._task(None)
        self.set()

    def complete(self) -> None:
        if self.response_complete:
            return
        self.more_body = False
        if self.way == _WAITING:
            self._go()
        else:
            self.set()

    def set(self) -> None:
        """Wake the request waiting for its body (the protocol calls it on a lost connection)."""
        if self.way == _WAITING:  # lost while its body came: the task's way finds it gone
            if self.disconnected:
                self._task(None)
            return
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # The plain way: no task
    def _go(self) -> None:
        """The request whose body is whole, when it needs no wait but the lane's: its key cached
        and allowed (`auth.check_cached`), its event read, handed to the lane (`Lane.submit`:
        `set_result`, `set_exception`). Anything else (a key to read, a refusal, no lane) goes the
        task's way, which does every step again from the start, as `Observe` and the shortcut do
        them (none of the steps taken here changes anything: the same request id and clock too)."""
        begun = self._begin()
        state, _, routed = begun
        served = self.served
        runtime = served.runtime
        lane = runtime.lane
        if not routed or lane is None or self.size > served.limit:
            self._task(begun)
            return
        if check_cached(runtime, bearer_token(self.head), SCOPES, self.program, state) is None:
            self._task(begun)
            return
        body = self.body
        try:
            asked = Asked(events.parse_text(body[0] if len(body) == 1 else b"".join(body)), state, self.trace)
        except Exception:
            self._task(begun)
            return
        self.way = _LANE
        self.begun = begun
        try:
            lane.submit(self.protocol.loop, self.program, asked, self)
        except Exception as error:  # the lane is shut down: as `lane.run` raises it to the task
            self.begun = None
            self._task(begun, error)
            return
        self.protocol.tasks.add(self)  # type: ignore[arg-type]  # waited for at shutdown, as a task is (`cancel`)

    def cancelled(self) -> bool:  # the lane's answer (threads.py `Receiver`), on the loop
        """Whether the answer is no longer wanted: the request was cancelled at the lane (`cancel`)."""
        return self.begun is None

    def set_result(self, answer: tuple[bytes, int]) -> None:
        """The lane's answer, written."""
        begun = self._decided()
        if begun is not None:
            self._answered(begun, answer)

    def set_exception(self, error: BaseException) -> None:
        """The lane's error: answered on the task's way (a BaseException as a cancelled task's)."""
        begun = self._decided()
        if begun is None:
            return
        if isinstance(error, Exception):
            self._task(begun, error)
        else:
            self._failed(error)
            self._record(begun, 500)

    def _decided(self) -> _Begun | None:
        """The request taken off the lane's wait: its `_begin`, None if it was not waiting
        (cancelled meanwhile: answered then)."""
        begun = self.begun
        if begun is None or self.way != _LANE:
            return None
        self.begun = None
        self.protocol.tasks.discard(self)
        return begun

    def _answered(self, begun: _Begun, answer: tuple[bytes, int]) -> None:
        """The event's answer written (`write`'s bytes for `headers(body, version)`, made in one
        go: the status line and the server's default headers joined once a second, when uvicorn
        renews them with the date), and recorded."""
        body, version = answer
        if self.disconnected or self.response_complete:
            self._record(begun, 200)
            return
        self._send(
            b"".join(
                (
                    _status_ok(self.default_headers),
                    _VERSION_IS,
                    str(version).encode(),
                    _LENGTH_IS,
                    str(len(body)).encode(),
                    _JSON_ID_IS,
                    begun[0]["request_id"].encode(),
                    b"\r\n\r\n" if self.keep_alive else b"\r\n" + _CLOSE + b"\r\n",
                    body,
                )
            )
        )
        self._record(begun, 200)

    def cancel(self, msg: Any = None) -> bool:
        """The grace after SIGTERM ran out with the request still at the lane (uvicorn cancels
        its tasks): answered as a cancelled task's request is (uvicorn's 500)."""
        begun = self._decided()
        if begun is None:
            return False
        self._failed(asyncio.CancelledError(msg))
        self._record(begun, 500)
        return True

    # The task's way
    def _task(self, begun: _Begun | None, error: Exception | None = None) -> None:
        """The request on a task of its own, among the server's (uvicorn's `_start_asgi_task`):
        `run`, or `error` answered when the plain way met it."""
        self.way = _TASK
        protocol = self.protocol
        loop = protocol.loop
        work = self.run(begun) if error is None or begun is None else self._refuse(begun, error)
        if protocol.config.reset_contextvars:
            task = loop.create_task(work, context=contextvars.Context())
        else:
            task = loop.create_task(work)
        tasks = protocol.tasks
        task.add_done_callback(tasks.discard)
        tasks.add(task)

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

    def _begin(self) -> _Begun:
        """The request's state with its id (`Observe.request_id`), its start, and whether its
        route is known: not for a declared size over the limit, which `Observe` refuses first."""
        request_id = b""
        declared = None
        for name, value in self.head:  # the last of each, as `Observe`'s dict of the headers
            if name == b"x-request-id":
                request_id = value
            elif name == b"content-length":
                declared = value
        served = self.served
        state: dict[str, Any] = {"request_id": served.observe.request_id(request_id)}
        routed = declared is None or not declared.isdigit() or int(declared) <= served.limit
        return state, time.perf_counter(), routed

    async def run(self, begun: _Begun | None = None) -> None:
        """`Observe` around the shortcut, for this request."""
        served = self.served
        begun = begun or self._begin()
        state = begun[0]
        status = 500
        try:
            try:
                if not begun[2]:
                    raise too_large(served.limit)
                body, version = await answer(
                    served.runtime, self.head, self.program, self.trace, state, self.receive
                )
                status = 200
                self.write(200, headers(body, version), body, state["request_id"])
            except ClientDisconnect:
                status = GONE
            except Exception as error:
                status = await self._answer(state, error)
        except BaseException as error:  # cancelled (the grace ran out): uvicorn's `run_asgi`
            self._failed(error)
        finally:
            self._record(begun, status)

    async def _refuse(self, begun: _Begun, error: Exception) -> None:
        """`run`'s end for an error the plain way met at the lane."""
        status = 500
        try:
            status = await self._answer(begun[0], error)
        except BaseException as failed:
            self._failed(failed)
        finally:
            self._record(begun, status)

    async def _answer(self, state: dict[str, Any], error: Exception) -> int:
        """The problem for `error`, as the shortcut answers a refusal and `Observe` anything else."""
        if isinstance(error, RulesEngineError):
            response = await refused(self.request(state), error)
        else:
            response = await unexpected(self.request(state), error)
        self.write(response.status_code, response.raw_headers, bytes(response.body), state["request_id"])
        return response.status_code

    def _failed(self, error: BaseException) -> None:
        """uvicorn's `run_asgi` for an app that raised (a cancelled task): logged, and its 500."""
        self.protocol.logger.error("Exception in ASGI application\n", exc_info=error)
        self.keep_alive = False
        self.write(500, _FAILED, b"Internal Server Error", None)

    def _record(self, begun: _Begun, status: int) -> None:
        state, started, routed = begun
        seconds = time.perf_counter() - started
        served = self.served
        if routed:
            served.observe.record("POST", served.route, self.program, state, status, seconds)
        else:  # `Observe` refused it before the route was known
            served.observe.record("POST", "unmatched", None, state, status, seconds)

    def request(self, state: dict[str, Any]) -> Request:
        """A Starlette request of this one's scope, as uvicorn would have made it, for the
        problem's functions (its path in `instance`, the id in `request_id`)."""
        protocol = self.protocol
        scope = {
            "type": "http",
            "http_version": self.http_version,
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
        self._send(b"".join(parts))

    def _send(self, answer: bytes) -> None:
        """A whole answer's bytes written (`write`), the connection closed if not kept alive."""
        protocol = self.protocol
        protocol.write_whole(answer)
        self.response_complete = True
        self.message_event = _ANSWERED  # no longer its own: no reference cycle left (`_Answered`)
        if not self.keep_alive:
            protocol.transport.close()
        protocol.on_response_complete()
