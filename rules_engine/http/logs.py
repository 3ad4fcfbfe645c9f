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
import math
from typing import Any

ACCESS = "rules_engine.http.access"

# One encoder for every line: `json.dumps` with options builds a new one per call (a third of a
# request line's cost).
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def time_text(created: float) -> str:
    """`datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`, the same text,
    with the date and the second made once a second (`_SECOND`): most of a request line's time.
    The timestamp is split as `fromtimestamp` splits it (`modf`, the microseconds rounded half to
    even, carried into the second at a million); tests/http/test_logs.py holds the two equal."""
    global _SECOND
    if not created >= 0:  # before 1970 (or not a number): `fromtimestamp`'s own way
        return dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")
    fraction, whole = math.modf(created)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        micro -= 1_000_000
        whole += 1.0
    second = _SECOND
    if second[0] != whole:
        text = dt.datetime.fromtimestamp(whole, dt.UTC).isoformat(timespec="seconds")[:-6]
        second = _SECOND = (whole, text)
    return f"{second[1]}.{micro // 1000:03d}+00:00"


_SECOND: tuple[float, str] = (-1.0, "")
"""The last second `time_text` wrote, and its text up to the seconds (replaced whole, in one
assignment: any thread may log)."""


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, the `fields` it carries, and the
    exception's type and traceback when it has one (the log is the one place a traceback goes)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time_text(record.created),
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
