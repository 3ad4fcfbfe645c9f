"""`POST /v1/programs/{program}/events`, the route a till calls on every sale, served without
FastAPI's routing and dependency solving.

FastAPI solved the route's five dependencies (the key, the bearer header, the runtime, the body,
the `trace` query) on every request, through its generic machinery: signature inspection, caches,
parameter validation, exit stacks, a dozen layers of routing. Measured on the loop thread of a
server under load, that was 40 % of the CPU spent beside the event's own work, the largest part
of what the HTTP layer cost per event (bench/README.md, "Service benchmark").

This middleware takes those requests first and does the same steps, in the same order, calling
the same functions the FastAPI route calls: the bearer header (`auth.bearer`), the key and its
scope (`auth.authorize`), the body (`routes.json_body`), then the event through `events.handle`
and `events.event_result` on a thread (`Runtime.threads`), as FastAPI runs a sync route on its
thread pool. Errors become the
same problems (`problems.refused`); an unexpected one goes up to `Observe`, as from a route.

Only the plain forms are taken: no query string, or exactly `trace=true` / `trace=false`, with
no root path. Anything else (`?trace=1`, `?trace=maybe`, a query parameter the route does not
know, a trailing slash, another method) goes to FastAPI, which validates and answers it as it
always did. So the route's behaviour is FastAPI's by construction, and its OpenAPI description
stays where it was: the FastAPI route is still registered, and is the fallback.
tests/http/test_shortcut.py sends the same requests to an app with and without the shortcut and
compares every answer byte for byte.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re

from fastapi.routing import APIRoute
from fastapi.security import SecurityScopes
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from rules_engine.errors import RulesEngineError
from rules_engine.http.auth import authorize, bearer
from rules_engine.http.problems import refused
from rules_engine.http.routes import events, json_body
from rules_engine.http.runtime import Runtime

_PATH = re.compile(r"/v1/programs/([^/]+)/events")
"""The route's path, as Starlette compiles `{program}` (`[^/]+`)."""
_TRACE = {b"": False, b"trace=false": False, b"trace=true": True}
"""The query strings taken here, and the `trace` each means; any other goes to FastAPI."""
_SCOPES = SecurityScopes(["events:write"])


class Shortcut:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.route = _route()
        """The FastAPI route it stands in for, put in `scope["route"]` as FastAPI does: the
        metrics and the log line name the route by its template."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            trace = _TRACE.get(scope["query_string"])
            found = _PATH.fullmatch(scope["path"]) if trace is not None else None
            if found is not None:
                await self._event(scope, receive, send, found.group(1), trace is True)
                return
        await self.app(scope, receive, send)

    async def _event(self, scope: Scope, receive: Receive, send: Send, program: str, trace: bool) -> None:
        scope["route"] = self.route
        scope["path_params"] = {"program": program}
        request = Request(scope, receive, send)
        try:
            await authorize(_SCOPES, request, await bearer(request))
            event = await json_body(request)
            response = await _on_thread(self.runtime, program, event, request, trace)
        except RulesEngineError as error:
            response = await refused(request, error)
        await response(scope, receive, send)


async def _on_thread(
    runtime: Runtime, program: str, event: object, request: Request, trace: bool
) -> Response:
    """`_decide` on one of the runtime's threads, in a copy of this context (as Starlette's
    `run_in_threadpool` runs a sync route, for less CPU: `Runtime.threads`)."""
    call = functools.partial(contextvars.copy_context().run, _decide, runtime, program, event, request, trace)
    return await asyncio.get_running_loop().run_in_executor(runtime.threads, call)


def _decide(runtime: Runtime, program: str, event: object, request: Request, trace: bool) -> Response:
    """The FastAPI route's body (`events.post_event`), on a thread: the store blocks."""
    return events.event_result(events.handle(runtime, program, event, request), trace=trace)


def _route() -> APIRoute:
    for route in events.router.routes:
        if isinstance(route, APIRoute) and route.endpoint is events.post_event:
            return route
    raise LookupError("the events route is not in routes/events.py")
