"""The app factory: `create_app(settings)` builds the whole service, with nothing global.

    from rules_engine.http import Settings, create_app
    app = create_app(Settings(programs=Path("programs/live"), db="loyalty.db"))   # any ASGI server

Every program of the folder is loaded and checked first: a program with an error stops the
factory with a `ProgramError` (all of its problems), before anything listens. Then: the routes
(one router per resource), the error handlers (problems.py), the middleware (observe.py) and the
OpenAPI 3.1 schema, at `/openapi.json` with a docs page at `/docs`. The events route, the one
called on every sale, is served first by a shortcut that skips FastAPI's dependency solving
(shortcut.py), its FastAPI route kept for the schema and for the requests the shortcut leaves.
Under `loyalty serve` (httptools) the protocol itself serves those requests, without ASGI
(direct.py `EventsProtocol`, with `Observe`'s and the shortcut's functions); under any other
server, or when the protocol leaves one to ASGI, `Service` takes them before FastAPI's own
layers (`Service.front`).
The request bodies the routes read themselves (events, with exact numbers) are described there by
the engine's own JSON Schemas, so the schema is what the service really takes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from types import FrameType
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from rules_engine import collector
from rules_engine.engine.events import AnyEvent
from rules_engine.errors import StoreError
from rules_engine.http import problems
from rules_engine.http.models import DRY_RUN_SCHEMA, AdjustmentRequest, CodesRequest, Redemption, VoidRequest
from rules_engine.http.observe import Observe
from rules_engine.http.problems import ServiceError
from rules_engine.http.routes import coupons, customers, events, health, programs
from rules_engine.http.runtime import Runtime, Settings
from rules_engine.http.shortcut import GROUP, Shortcut, decide_group, takes
from rules_engine.http.stores import Stores
from rules_engine.http.threads import Again, Lane, Release
from rules_engine.state.customer import CustomerState
from rules_engine.store.sqlite_sync import commit_behind

log = logging.getLogger("rules_engine.http")

_DESCRIPTION = """\
Events, customers, redemptions and programs of the loyalty rules engine.

Every route under `/v1` needs an API key (`Authorization: Bearer lk_…`, made by
`loyalty keys create`) with the scope the route names. Errors are `application/problem+json`
(RFC 9457) with the engine's stable codes (`RE…`, docs/errors.md). Numbers are exact: send money
as JSON numbers (`320.00`), read them back digit for digit.
"""


def not_ready_on_signal(service: Runtime) -> Callable[[], None]:
    """From the moment SIGTERM (or SIGINT) arrives, /readyz answers 503 — not only once the
    requests in flight have finished and the app shuts down — so a load balancer polling it stops
    sending new work at once. The server's own handler (uvicorn's, installed before the app starts)
    still runs after ours. Signals reach the main thread only: an app served from another thread
    (the tests' `serving`) keeps the server's handlers as they are. Returns what puts them back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    signals = (signal.SIGTERM, signal.SIGINT)
    previous: dict[int, Any] = {number: signal.getsignal(number) for number in signals}

    def stopping(number: int, frame: FrameType | None) -> None:
        service.ready = False
        handler = previous[number]
        if callable(handler):
            handler(number, frame)
        elif handler == signal.SIG_DFL:
            signal.signal(number, signal.SIG_DFL)
            signal.raise_signal(number)

    for number in signals:
        signal.signal(number, stopping)

    def restore() -> None:
        for number, handler in previous.items():
            if signal.getsignal(number) is stopping:
                signal.signal(number, handler)

    return restore


TELEMETRY_CHECK = 1.0
"""Seconds the front trusts that FastAPI's OpenTelemetry instrumentation is off before asking
again (`Service`)."""


class Service(FastAPI):
    """FastAPI, with the events shortcut's requests taken before FastAPI's own layers when they
    come through ASGI. Under `loyalty serve` most events requests never do: the protocol serves
    them itself (direct.py `EventsProtocol`, with `front`'s parts, asking `_untraced` as
    `__call__` does). What comes here is every events request under another ASGI server, and
    under `serve` those the protocol leaves to ASGI (OpenTelemetry configured, a root path,
    `limit_concurrency`).

    Every request passes five layers before the app's middleware: FastAPI's OpenTelemetry check,
    Starlette's app (`scope["app"]`), its error middleware, FastAPI's exception telemetry and its
    body limit (off unless `max_body_size` is set). For the requests the shortcut takes
    (shortcut.py) they do nothing while no telemetry is configured, or what `__call__` does too:
    an exception that `Observe` lets through (half an answer is out; it answers all others) the
    error middleware hands to the app's handler, which logs it, and raises again; the body limit
    is `Observe`'s. But the telemetry check asks OpenTelemetry for its three providers, each
    reading the environment: 14-25 µs on every request (timeit, a busy machine), a sixth of the
    app's own work on a request beside the event (136-140 µs in process, the event stubbed).

    So `front` (`Observe` around the shortcut) takes those requests first, with `scope["app"]`
    set as Starlette sets it, and asks FastAPI's own check at most once a second
    (`TELEMETRY_CHECK`): while it says telemetry is on, every request goes through FastAPI (and
    the shortcut still takes the events inside), so a provider configured while the service runs
    instruments the events route too within a second. tests/http/test_shortcut.py compares the
    answers with and without the shortcut byte for byte.
    """

    front: ASGIApp | None = None
    _untraced_until = -1.0
    """Until when (`time.monotonic`) telemetry is known to be off."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.front
        if front is not None and not self.root_path and takes(scope) is not None and self._untraced():
            scope["app"] = self
            try:
                await front(scope, receive, send)
            except Exception as error:
                # `Observe` answers every exception but one raised once half an answer is out; that
                # one Starlette's error middleware hands to the app's handler (which logs it under
                # the request id) and raises again, for the server to close the connection
                await problems.unexpected(Request(scope), error)
                raise
            return
        await super().__call__(scope, receive, send)

    def _untraced(self) -> bool:
        now = time.monotonic()
        if now < self._untraced_until:
            return True
        telemetry = getattr(self, "_native_telemetry", None)  # FastAPI's own condition (`__call__`)
        if telemetry is not None and telemetry.enabled():
            return False
        self._untraced_until = now + TELEMETRY_CHECK
        return True


def _decide_group(service: Runtime, program: str, asked: Any, reply: Any, more: Any) -> Again | None:
    """shortcut.py `decide_group`, its SQLite commits not syncing the log: `_deliver` syncs it
    before the group's answers leave (store/sqlite_sync.py)."""
    commit_behind()
    return decide_group(service, program, asked, reply, more)


def _deliver(stores: Stores, program: str, release: Release, again: Again | None = None) -> None:
    """The lane's group answered (threads.py `Lane`'s `deliver`): once SQLite's log is on disk
    when the lane's connection commits without syncing it (store/sqlite_sync.py); with
    PostgreSQL, once the group's COMMIT, left in flight, came back (`Stores.after_commit`), a
    failed one answering RE810 (503: maybe not stored, safe to send again); at once otherwise.
    A failed sync fails the group's events with RE810 (503): committed, maybe not
    durable, safe to send again (a redelivery is answered with the stored outcome)."""
    sync = stores.log_sync
    if sync is None:  # PostgreSQL: once the group's COMMIT came back (store/postgres_flights.py)
        stores.after_commit(program, partial(_committed, release, again))
        return

    def synced(error: OSError | None) -> None:
        release(None if error is None else _not_durable(error))

    sync.after(synced)


def _committed(release: Release, again: Again | None, error: StoreError | None) -> None:
    """A PostgreSQL group's COMMIT came back: its answers leave; failed (rolled back), each event
    is decided again on its own (`again`, shortcut.py `decide_group`), as a group that rolls back
    before its COMMIT is sent, its answer given then."""
    if error is None:
        release(None)
    else:  # (logged by the store)
        release(again if again is not None else error)


def _not_durable(error: OSError) -> ServiceError:
    log.error("the database's log could not be synced to disk: %s", error)
    return ServiceError(
        "RE810",
        "the event was stored, but the store could not confirm that it is on disk",
        hint="retry: a redelivered event is answered as it was stored, never applied twice",
        headers={"Retry-After": "1"},
    )


def _unreachable_app(scope: Scope, receive: Receive, send: Send) -> Any:
    raise RuntimeError("the front takes only the requests the shortcut takes")


def create_app(settings: Settings) -> FastAPI:
    """The service for these settings; see the module docstring.

    Raises:
        ProgramError: a program of the folder has errors, or the folder has none.
    """
    service = Runtime.start(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.ready = True
        restore = not_ready_on_signal(service)
        unwatch = service.metrics.collector_pauses()
        try:
            yield
        finally:
            service.ready = False
            unwatch()
            restore()
            service.threads.shutdown(wait=False)  # in flight: finished by now
            if service.lane is not None:
                service.lane.shutdown(wait=False)
            service.stores.close()

    app = Service(
        title="Loyalty rules engine",
        version=_version(),
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs else None,
        redoc_url=None,
    )
    app.state.runtime = service
    problems.install(app)
    for router in (events.router, customers.router, coupons.router, programs.router, health.router):
        app.include_router(router)
    if settings.shortcut:
        if service.stores.serial:  # one event thread, groups committed together (threads.py `Lane`)
            stores = service.stores
            service.lane = Lane(
                "loyalty-events",
                partial(decide_group if stores.log_sync is None else _decide_group, service),
                most=GROUP,
                wait=stores.wait,
                late=stores.late,
                deliver=None if stores.log_sync is None and not stores.behind else partial(_deliver, stores),
                after=collector.after_work,
            )
        app.add_middleware(Shortcut, runtime=service)  # inside Observe: added first
        app.front = Observe(Shortcut(_unreachable_app, service), service)
    app.add_middleware(Observe, runtime=service)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, extra in _request_schemas().items():
                for inner, definition in extra.pop("$defs", {}).items():
                    components.setdefault(inner, definition)
                components.setdefault(name, extra)
            app.openapi_schema = document
        return app.openapi_schema

    return schema


_REF = "#/components/schemas/{model}"


def _request_schemas() -> dict[str, dict[str, Any]]:
    """The schemas of the bodies the routes read themselves, and of problems, by component name."""
    models: dict[str, type[BaseModel]] = {
        "CustomerState": CustomerState,
        "Redemption": Redemption,
        "AdjustmentRequest": AdjustmentRequest,
        "VoidRequest": VoidRequest,
        "CodesRequest": CodesRequest,
        "Problem": problems.Problem,
    }
    found = {name: model.model_json_schema(ref_template=_REF) for name, model in models.items()}
    event: TypeAdapter[Any] = TypeAdapter(AnyEvent)
    found["Event"] = event.json_schema(ref_template=_REF)
    found["DryRun"] = dict(DRY_RUN_SCHEMA)
    return found


def _version() -> str:
    try:
        return version("rules-engine")
    except PackageNotFoundError:
        return "0"
