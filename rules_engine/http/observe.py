"""The middleware every request passes: its id, the body size limit, metrics and the log line.

A pure ASGI middleware (Starlette's `BaseHTTPMiddleware` costs a task per request):

- the request id is the client's `X-Request-Id` when it is a short token, a new one otherwise
  (32 hex digits: 16 drawn at random when the app is built, then a counter: unique in the
  process and between processes, without `uuid4`'s read of the system's random source on every
  request); it is sent back in `X-Request-Id`, put in every problem and in the log line;
- a body larger than `Settings.max_body` is refused with 413 (RE804): at once when its
  `Content-Length` says so, or as soon as the bytes read pass the limit (a chunked upload);
- when the response is sent: the request counter and latency histogram by route template, and
  one JSON log line (logs.py);
- an unexpected exception is answered here (RE809, 500), not by Starlette's outermost
  middleware: that one sends the answer and raises the exception again, and uvicorn then closes
  the connection under the client, whose next request on it was reset (seen under load).
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rules_engine.http.logs import ACCESS
from rules_engine.http.problems import ServiceError, problem_response, unexpected
from rules_engine.http.runtime import Runtime

access = logging.getLogger(ACCESS)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class Observe:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = self.request_id(headers.get(b"x-request-id", b""))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        answered = False
        limit = self.runtime.settings.max_body

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                response = problem_response(Request(scope), too_large(limit).diagnostics)
                await response(scope, receive, send_with_id)
            else:
                await self.app(scope, receive_limited, send_with_id)
        except ClientDisconnect:
            if answered:
                raise
            status = GONE  # nobody to answer, and not the service's failure: no traceback logged
        except Exception as error:
            if answered:  # half an answer is out: only closing the connection tells the client
                raise
            response = await unexpected(Request(scope), error)
            await response(scope, receive, send_with_id)
        finally:
            self._record(scope, state, status, time.perf_counter() - started)

    def request_id(self, given: bytes) -> str:
        """The request's id: the client's `X-Request-Id` when it is a short token (`given`, b""
        for none), a new one otherwise (module docstring)."""
        if not given:  # most requests: no id of the client's
            return f"{self._prefix}{next(self._count):016x}"
        text = given.decode("latin-1")
        return text if _REQUEST_ID.fullmatch(text) else f"{self._prefix}{next(self._count):016x}"

    def _record(self, scope: Scope, state: dict[str, Any], status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        program = scope.get("path_params", {}).get("program")
        self.record(scope["method"], route, program, state, status, seconds)

    def record(
        self, method: str, route: str, program: str | None, state: dict[str, Any], status: int, seconds: float
    ) -> None:
        """A request answered: counted in the metrics, and its log line (logs.py)."""
        self.runtime.metrics.request(method, route, status, seconds)
        if not access.isEnabledFor(logging.INFO):
            return
        fields = {
            "request_id": state.get("request_id"),
            "method": method,
            "route": route,
            "status": status,
            "ms": round(seconds * 1000, 2),
            "event": state.get("event_id"),
            "program": program,
            "key": state.get("key_id"),
            "problem": state.get("problem"),
        }
        access.info("request", extra={"fields": {k: v for k, v in fields.items() if v is not None}})


GONE = 499
"""The status a request is logged and counted with when its client went away (or was timed out,
protocol.py RE811) before its body was whole: nothing is answered (nginx's "client closed
request"); before, it was logged as an unexpected error, 500 with a traceback."""


def too_large(limit: int) -> ServiceError:
    """RE804 (413): a body larger than `limit` bytes."""
    return ServiceError(
        "RE804",
        f"the request body is larger than {limit:,} bytes",
        hint="split the basket into several events, or raise the limit (`loyalty serve --max-body`)",
    )
