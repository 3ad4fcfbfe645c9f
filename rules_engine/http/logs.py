"""Structured logs: one JSON object per line, for the service's own lines and uvicorn's.

Every request gets one line (observe.py): its id, method, route template, status, latency and,
where there is one, the event id, the program, the key's id and the problem's code. Customer ids
are personal data (an erasure must be able to reach every copy), so no line carries a path:
routes are logged as templates (`/v1/programs/{program}/customers/{customer}`).

    {"time": "2026-12-08T08:15:00.123+00:00", "level": "info", "logger": "rules_engine.http.access",
     "message": "request", "request_id": "5f0c…", "method": "POST",
     "route": "/v1/programs/{program}/events", "status": 200, "ms": 3.1, "event": "evt-42",
     "program": "coffee-club", "key": "3fa9c1d20b7e"}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

ACCESS = "rules_engine.http.access"

# One encoder for every line: `json.dumps` with options builds a new one per call (a third of a
# request line's cost).
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, the `fields` it carries, and the
    exception's type and traceback when it has one (the log is the one place a traceback goes)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line.setdefault("request_id", request_id)
        if record.exc_info:
            line["error"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            line["traceback"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


def configure(level: str = "info") -> dict[str, Any]:
    """The logging configuration (`logging.config.dictConfig` form) `loyalty serve` hands to
    uvicorn: every logger of the service and of uvicorn writes JSON lines to stderr, and uvicorn's
    own access log is off (observe.py writes a richer line per request)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    loud = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "rules_engine.http": {"handlers": ["stderr"], "level": loud, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": loud, "propagate": False},
            "uvicorn.error": {"level": loud},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
