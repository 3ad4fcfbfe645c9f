"""The HTTP service, `loyalty serve`: events, customers, redemptions and programs over a
versioned, authenticated API (FastAPI on uvicorn; docs/service.md).

The modules, by what they hold:

  app.py       create_app(settings): the factory, the OpenAPI schema
  runtime.py   Settings, and what one app holds while it runs (programs, store pools, metrics)
  running.py   the programs of the folder: loaded, checked, replaced atomically on upload
  stores.py    store connections shared by the request threads, a pool per program
  auth.py      API keys with scopes, as a FastAPI security dependency (keys: store/keys.py)
  problems.py  every error as application/problem+json (RFC 9457) with the engine's codes
  models.py    what the routes take and answer (derived from the engine's own models)
  observe.py   the middleware: request ids, the body size limit, metrics, the log line
  metrics.py   Prometheus metrics (prometheus-client)
  logs.py      JSON log lines
  routes/      one router per resource: events, customers, programs, health
  server.py    running it under uvicorn: workers, signals, the logging configuration
  protocol.py  uvicorn's HTTP protocol with TCP_NODELAY on every connection
  loop.py      the service's event loop: answers handed back without a wake-up each
  shortcut.py  the events route without FastAPI's machinery; with SQLite, events stored in groups
  threads.py   where events run: threads of our own, or one thread taking the events in groups
"""

from __future__ import annotations

from rules_engine.http.app import create_app
from rules_engine.http.runtime import Settings

__all__ = ["Settings", "create_app"]
