"""Running the service under uvicorn: `loyalty serve PROGRAM_DIR --db URL`.

uvicorn imports the app by name and builds it with `app_from_environment` in each worker process,
so the settings travel in environment variables (`LOYALTY_SERVE_*`, set here); the secret stays
in LOYALTY_SECRET, where the command line reads it too.

- **Workers**: `--workers N` starts N processes sharing the port (uvicorn's supervisor restarts
  one that dies; supervise.py passes SIGTERM on to them at once, ends by it, and stops a worker
  whose master is gone). With PostgreSQL they share the load under the store's row locks; with SQLite
  they decide their events at once and take the database's write lock in turn to write them
  (`Settings.speculate`, routes/events.py); a memory store cannot be shared (RE709).
- **Shutdown**: on SIGTERM (or Ctrl-C) uvicorn stops accepting connections, lets the requests in
  flight finish (up to `GRACE` seconds), then the app closes its store connections. An event is
  acknowledged only once its transaction has committed, so nothing acknowledged is lost; an event
  whose request was cut off is either wholly applied or not at all, and re-sending it is safe.
- **Logs**: JSON lines on stderr (logs.py), one per request.
- **Metrics** with several workers: prometheus-client's multiprocess mode, in a temporary folder
  made here and removed at exit (metrics.py).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from rules_engine import collector
from rules_engine.dsl.values import parse_duration
from rules_engine.http.app import create_app
from rules_engine.http.logs import configure
from rules_engine.http.loop import LOOP
from rules_engine.http.protocol import PROTOCOL, REQUEST_TIMEOUT
from rules_engine.http.runtime import MAX_BODY, Settings
from rules_engine.http.supervise import end_by, end_with_master, supervise
from rules_engine.service import DEFAULT_HORIZON

STARTUP_FAILURE = 3
"""The status uvicorn ends with when the app fails to start (or the port cannot be bound)."""

GRACE = 30
"""Seconds the requests in flight get to finish after SIGTERM."""

THRESHOLDS = (100_000, 10, 100)
"""The collector's thresholds in a worker (`tune_collector`): a young collection every 100,000
allocations (net of those freed) rather than `collector.THRESHOLDS`' 10,000. A worker's lane
(threads.py) decides up to 64 events together and holds what they made (their states, results,
answers) until the group's transaction has committed: 10,000 was reached every ~40 requests at
concurrency 64, each time walking objects that were all still alive, which then survived into the
middle generation and were walked again there (8 middle collections in 4,000 requests). Measured
on a server at concurrency 64 (4,000 requests, the collector's own CPU time from `gc.callbacks`):
97 young and 8 middle collections, ~680 ms, against 1 young one, ~1 ms, at 100,000 — the group's
objects are freed before the count gets there (bench/README.md, "lane"). Cycles are still
collected, a little later; a young collection walks at most ~100,000 objects. Since 2026-12-07
the lane freezes what each group leaves alive (collector.py `after_work`), which sets the count
back to zero: these thresholds are for what runs outside it (reads, a worker without a lane)."""

_PROGRAMS = "LOYALTY_SERVE_PROGRAMS"
_DB = "LOYALTY_SERVE_DB"
_MAX_BODY = "LOYALTY_SERVE_MAX_BODY"
_HORIZON = "LOYALTY_SERVE_HORIZON"
_WORKERS = "LOYALTY_SERVE_WORKERS"


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    request_timeout: float = 60.0
    """Seconds a connection has to send a request whole (protocol.py `request_timeout`)."""


def app_from_environment() -> FastAPI:
    """The app as `serve` configured it (uvicorn calls this in every worker), the worker's
    collector set for events once its programs are loaded (`tune_collector`)."""
    horizon = os.environ.get(_HORIZON, "")
    workers = int(os.environ.get(_WORKERS, "1"))
    app = create_app(
        Settings(
            programs=Path(os.environ[_PROGRAMS]),
            db=os.environ[_DB],
            secret=os.environ.get("LOYALTY_SECRET", "").encode(),
            horizon=None if horizon == "none" else (parse_duration(horizon) or DEFAULT_HORIZON),
            max_body=int(os.environ.get(_MAX_BODY, MAX_BODY)),
            speculate=workers > 1,
        )
    )
    if workers > 1:
        end_with_master()
    tune_collector()
    return app


def tune_collector() -> None:
    """The collector of a worker whose programs are loaded: `collector.tune_for_requests` with the
    service's `THRESHOLDS`, the lane freezing what each group leaves (bench_service.py's
    in-process row is tuned alike)."""
    collector.tune_for_requests(THRESHOLDS)


def serve(settings: Settings, listen: Listen, listening: Callable[[int], None] | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C; see the module docstring. The caller has checked the
    programs and opened the store once (migrating it) before, so that a problem is reported
    once, before anything listens. `listening` is told the port once the socket listens (the
    port bound, `--port 0`'s too): `loyalty serve` says "serving … on http://…" then, not before
    — a script that waited for that line connected to nothing (exit 3 if it cannot be bound)."""
    import uvicorn

    export(settings)
    os.environ[_WORKERS] = str(listen.workers)
    os.environ[REQUEST_TIMEOUT] = str(listen.request_timeout)
    metrics_dir = None
    if listen.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="loyalty-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    stopped_by = None
    try:
        config = uvicorn.Config(**uvicorn_options(listen))
        sock = config.bind_socket()  # uvicorn.run's own step: its message, exit 3 if it fails
        sock.listen(config.backlog)  # connections wait from now on, until a worker takes them
        if listening is not None:
            listening(sock.getsockname()[1])
        if listen.workers > 1:
            stopped_by = supervise(config, sock)  # supervise.py: why not uvicorn.run's
        else:
            server = uvicorn.Server(config)
            server.run(sockets=[sock])  # ends by the signal it was stopped with
            if not server.started:  # the app failed to start: as uvicorn.run ends then
                sys.exit(STARTUP_FAILURE)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    end_by(stopped_by)


def export(settings: Settings) -> None:
    """The settings in the environment, where `app_from_environment` reads them in each worker."""
    os.environ[_PROGRAMS] = str(settings.programs.resolve())
    os.environ[_DB] = settings.db
    os.environ[_MAX_BODY] = str(settings.max_body)
    os.environ[_HORIZON] = _duration(settings.horizon)


def uvicorn_options(listen: Listen) -> dict[str, Any]:
    """uvicorn's settings for `serve` (`uvicorn.run`'s, or a `uvicorn.Config`'s: bench/
    profile_service.py `--server` serves with them, in its own process)."""
    return {
        "app": "rules_engine.http.server:app_from_environment",
        "factory": True,
        "host": listen.host,
        "port": listen.port,
        "workers": listen.workers,
        "log_config": configure(listen.log_level),
        "log_level": listen.log_level,
        "access_log": False,
        "timeout_graceful_shutdown": GRACE,
        # A worker still importing on a busy machine is not dead: the default 5 s got workers
        # restarted in a loop on two loaded cores.
        "timeout_worker_healthcheck": 30,
        "server_header": False,
        "http": PROTOCOL,  # TCP_NODELAY on every connection (protocol.py says why)
        "loop": LOOP,  # answers from the events' threads collected without a wake-up each (loop.py)
    }


def _duration(horizon: dt.timedelta | None) -> str:
    if horizon is None:
        return "none"
    return f"{int(horizon.total_seconds())}s"
