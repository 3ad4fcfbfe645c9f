"""`POST /v1/programs/{program}/events`, the route a till calls on every sale, served without
FastAPI's routing and dependency solving.

FastAPI solved the route's five dependencies (the key, the bearer header, the runtime, the body,
the `trace` query) on every request, through its generic machinery: signature inspection, caches,
parameter validation, exit stacks, a dozen layers of routing. Measured on the loop thread of a
server under load, that was 40 % of the CPU spent beside the event's own work, the largest part
of what the HTTP layer cost per event (bench/README.md, "Service benchmark").

This middleware takes those requests first and does the same steps, in the same order, with the
same functions the FastAPI route calls underneath: the bearer header (`auth.bearer_token`, read
from the scope's headers as FastAPI's `HTTPBearer` reads it), the key and its scope
(`auth.check`), the body (`routes.read_body`, straight from `receive`), then the event read from
it and decided through `events.handle_text` and `events.event_answer` on a thread
(`Runtime.threads`, threads.py), as FastAPI runs a sync route on its thread pool; the answer is
sent with the headers Starlette's `Response` would give it. With SQLite and PostgreSQL the event
goes to the lane instead (`Runtime.lane`, threads.py `Lane`): one thread, and the events waiting
together stored in one transaction (`decide_group`), each answered as it would be alone. No request object
is built on the way (Starlette's `Request`, its headers, its state): only an error, the rare case,
builds one for its problem (`problems.refused`); an unexpected one goes up to `Observe`, as from
a route.

Only the plain forms are taken: no query string, or exactly `trace=true` / `trace=false`, with
no root path. Anything else (`?trace=1`, `?trace=maybe`, a query parameter the route does not
know, a trailing slash, another method) goes to FastAPI, which validates and answers it as it
always did. So the route's behaviour is FastAPI's by construction, and its OpenAPI description
stays where it was: the FastAPI route is still registered, and is the fallback.
tests/http/test_shortcut.py sends the same requests to an app with and without the shortcut and
compares every answer byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from rules_engine.engine.events import AnyEvent
from rules_engine.errors import RulesEngineError
from rules_engine.http.auth import bearer_token, check
from rules_engine.http.problems import refused
from rules_engine.http.routes import VERSION_HEADER, events, read_body
from rules_engine.http.running import Running
from rules_engine.http.runtime import Runtime
from rules_engine.http.threads import Again, More, Reply
from rules_engine.service import Handled

_PATH = re.compile(r"/v1/programs/([^/]+)/events")
"""The route's path, as Starlette compiles `{program}` (`[^/]+`)."""
_TRACE = {b"": False, b"trace=false": False, b"trace=true": True}
"""The query strings taken here, and the `trace` each means; any other goes to FastAPI."""
SCOPES = ("events:write",)
"""The key's scope the route needs."""
_VERSION = VERSION_HEADER.lower().encode("latin-1")
_JSON = (b"content-type", b"application/json")


class Shortcut:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.route = _route()
        """The FastAPI route it stands in for, put in `scope["route"]` as FastAPI does: the
        metrics and the log line name the route by its template."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        taken = takes(scope)
        if taken is None:
            await self.app(scope, receive, send)
        else:
            await self._event(scope, receive, send, *taken)

    async def _event(self, scope: Scope, receive: Receive, send: Send, program: str, trace: bool) -> None:
        scope["route"] = self.route
        scope["path_params"] = {"program": program}
        state: dict[str, Any] = scope.setdefault("state", {})
        try:
            body, version = await answer(self.runtime, scope["headers"], program, trace, state, receive)
        except RulesEngineError as error:
            response = await refused(Request(scope, receive, send), error)
            await response(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers(body, version)})
        await send({"type": "http.response.body", "body": body})


async def answer(
    runtime: Runtime,
    head: list[tuple[bytes, bytes]],
    program: str,
    trace: bool,
    state: dict[str, Any],
    receive: Receive,
) -> tuple[bytes, int]:
    """What the route answers an events request with: the answer's body and the version that
    decided it — the key (`auth.check`) from the raw headers `head`, the body (`routes.read_body`)
    from `receive`, the event decided on a thread or the lane. The shortcut above and the
    protocol's direct way (direct.py) both call it.

    Raises:
        RulesEngineError: the request refused (its problem: `problems.refused`).
        ClientDisconnect: the client went away before the body was whole.
    """
    await check(runtime, bearer_token(head), SCOPES, program, state)
    event = await read_body(receive)
    lane = runtime.lane
    if lane is None:
        found: tuple[bytes, int] = await runtime.threads.run(_decide, runtime, program, event, state, trace)
        return found
    # one event thread, groups committed together (threads.py `Lane`); the event read here
    decided: tuple[bytes, int] = await lane.run(program, Asked(events.parse_text(event), state, trace))
    return decided


def headers(body: bytes, version: int) -> list[tuple[bytes, bytes]]:
    """The headers of an answer (`x-request-id` is `Observe`'s), as Starlette's `Response` names them."""
    return [(_VERSION, str(version).encode()), (b"content-length", str(len(body)).encode()), _JSON]


def takes(scope: Scope) -> tuple[str, bool] | None:
    """The program and the `trace` of a request the shortcut takes (module docstring); None for
    every other request: FastAPI's."""
    if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
        trace = _TRACE.get(scope["query_string"])
        if trace is not None:
            found = _PATH.fullmatch(scope["path"])
            if found is not None:
                return found.group(1), trace
    return None


def _decide(
    runtime: Runtime, program: str, event: bytes, state: dict[str, Any], trace: bool
) -> tuple[bytes, int]:
    """The FastAPI route's body (`events.post_event`), on a thread (the store blocks): the
    answer, and the version that decided it. The event is read from the body's text here
    (`events.handle_text`: the same event and errors as the route's `json_body`, for less)."""
    return _answer(events.handle_text(runtime, program, event, state), trace)


def _answer(handled: Handled, trace: bool) -> tuple[bytes, int]:
    return events.event_answer(handled, trace=trace), handled.decided.version


@dataclass(slots=True)
class Asked:
    """An events request handed to the lane (`decide_group`): its event as `events.parse_text`
    read it from the body (on the event loop), its scope's `state`, `trace`. Not frozen (nothing
    changes it): a frozen dataclass sets each field through `object.__setattr__`, three times
    the time of a plain one, on every request."""

    event: AnyEvent | str
    state: dict[str, Any]
    trace: bool


GROUP = 64
"""The most events the lane decides in one transaction (`decide_group`). 64 rather than 32
(until 2026-12-06): with 64 requests in flight a group capped at 32 could leave some of those
waiting behind a full group, so that they waited for the group running when they came, a whole
group of 32, and then their own — three groups' time where the others waited two. One SQLite
worker at concurrency 64, quiet, alternated (bench/README.md, "The lane's group"): p99 best
51.3–53.9 ms at 32, 43.5–53.9 (mostly 44–50) at 64, the CPU a request unchanged (a group still
takes ~30 events on average: those that waited)."""


def decide_group(
    runtime: Runtime, program: str, asked: Sequence[Asked], reply: Reply, more: More = list
) -> Again | None:
    """The lane's function (threads.py `Lane`): the events requests of one program that waited
    together, each answered as `_decide` answers it alone — the same answers, errors, metrics
    and log fields — but stored in one transaction (`events.decide_together`) when the store
    commits groups (SQLite, PostgreSQL: `Stores.groups`). Each is acknowledged only once that transaction
    committed, as an event alone is after its own. The events come read from their bodies (on the
    event loop: `events.parse_text`); their program is found first, outside the store, once for
    the events read together (`Programs.get` reads the program file's `stat`: a syscall that let
    the loop's thread take the interpreter, once an event until 2026-12-06), and an event refused is
    answered at once; a group that rolls back is decided again one event at a time.

    Once the store is borrowed (with several workers, once this worker's turn at the database has
    come), the requests that arrived while it waited join the group (`more`): with two workers
    each lane otherwise took its group when its last one ended, a few requests while its clients
    were still reading their answers, and left those that came next for one more turn of the
    other worker's (bench/README.md, "The service's tail at concurrency 64"). Several SQLite
    workers (`Settings.speculate`) decide a group before their turn at the database, and take in
    those queued when it starts (routes/events.py `decide_together`).

    Returns, when the events were stored in one transaction, how to answer them should that
    transaction fail once this returned (PostgreSQL's lane leaves its COMMIT in flight:
    store/postgres_flights.py; threads.py `Again`): each event of the group decided again on its
    own, as a group that rolls back here is; None otherwise."""
    taken = list(asked)
    readies: list[tuple[int, events.Ready]] = []

    def read(start: int, bodies: Sequence[Asked], look: Callable[[str], Running]) -> list[events.Ready]:
        found: list[events.Ready] = []
        if not bodies:  # none joined
            return found
        try:  # the program's running version once for the events read together (each looks if none)
            running: Running | None = look(program)
        except Exception:
            running = None
        for index, one in enumerate(bodies, start):
            try:
                ready = events.ready(runtime, program, one.event, one.state, running)
            except Exception as error:  # refused before the store: answered as `_decide` answers it
                reply(index, error)
            else:
                readies.append((index, ready))
                found.append(ready)
        return found

    def joined() -> list[events.Ready]:
        """The events that join the group once it holds the store, with the version this worker
        holds (`Programs.held`) — none when another worker replaced the program's file: they wait
        for the next group, which loads it before it takes the store. Loading it checks it against
        the store on a connection of the pool, which the group may hold: until 2026-12-07 an
        upload to one SQLite worker left another answering 503 for every group, each waiting 30 s
        for that connection."""
        if runtime.programs.changed(program):
            return []
        extra: list[Asked] = more()
        start = len(taken)
        taken.extend(extra)
        return read(start, extra, runtime.programs.held)

    read(0, asked, runtime.programs.get)
    together = None
    grouped = runtime.stores.groups
    if readies and grouped:
        try:
            together = events.decide_together(runtime, program, [ready for _, ready in readies], joined)
        except Exception as error:  # no connection (RE810), or the one event alone refused
            if len(readies) == 1:
                runtime.metrics.group(program, 1)  # an event alone: counted, as `decide` is below
            for index, _ in readies:
                reply(index, error)
            return None
    if grouped and readies:  # the events a transaction stored, or tried to (refused ones too)
        for size in [len(readies)] if together is not None else [1] * len(readies):
            runtime.metrics.group(program, size)
    for place, (index, ready) in enumerate(readies):
        try:
            handled = events.decide(runtime, program, ready) if together is None else together[place]
            if isinstance(handled, Exception):
                raise handled
            reply(index, _answer(handled, taken[index].trace))
        except Exception as error:
            reply(index, error)
    if together is None:
        return None
    alone = dict(readies)

    def again(index: int, value: Any) -> Any:
        ready = alone.get(index)
        if ready is None:  # refused before the store: as answered
            return value
        try:
            return _answer(events.decide(runtime, program, ready), taken[index].trace)
        except Exception as error:
            return error

    return again


def _route() -> APIRoute:
    for route in events.router.routes:
        if isinstance(route, APIRoute) and route.endpoint is events.post_event:
            return route
    raise LookupError("the events route is not in routes/events.py")
