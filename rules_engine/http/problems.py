"""Every error the service answers with, as RFC 9457 `application/problem+json`.

One place maps errors to responses: the engine's own (`RulesEngineError`: the diagnostics it
carries, with their codes from `codes.py`, line and column where there is one, and hints), the
service's refusals (`ServiceError`, codes RE8xx), FastAPI's validation of parameters, Starlette's
404 and 405, and anything unexpected. A response never shows a stack trace, a file path of the
server or the text of a database error: a store failure says only that the store failed (the
details go to the log, under the request's id), an unexpected error only its request id.

    {"type": "urn:loyalty:error:RE430", "title": "a redemption needs more points than are available",
     "status": 422, "detail": "…", "instance": "/v1/programs/coffee-club/customers/c1/redemptions",
     "code": "RE430", "request_id": "…", "errors": [{"code": "RE430", "line": null, …}]}
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from rules_engine import jsonio
from rules_engine.codes import CODES, Stage
from rules_engine.errors import Diagnostic, RulesEngineError, StoreError, TransientError

MEDIA_TYPE = "application/problem+json"
VERSION_HEADER = "Loyalty-Program-Version"
"""Sent with every answer a program's running version decided: that version (docs/service.md,
Routes). A route notes it in the request's state (`program_version`) once it has found the
program, so that a refusal from there on carries it as the answer would have."""
log = logging.getLogger("rules_engine.http")

# The HTTP status of a refusal, by the stage of its first code; codes below override it.
_BY_STAGE = {
    Stage.EVENT: 422,
    Stage.STATE: 422,
    Stage.REDEEM_RETURN: 422,
    Stage.TIME: 422,
    Stage.INPUT: 400,
    Stage.STORE: 503,
}
_BY_CODE = {
    "RE443": 409,  # an event id reused with another payload: a conflict with what is stored
    "RE606": 404,  # no such customer
    "RE447": 404,  # no such event to void
    "RE611": 409,  # the version guard: a program the store's history refuses
    "RE612": 409,
    "RE613": 409,
    "RE444": 404,  # no such coupon
    "RE445": 422,  # codes refused
    "RE801": 401,
    "RE802": 403,
    "RE803": 404,
    "RE804": 413,
    "RE805": 400,
    "RE806": 409,
    "RE807": 422,
    "RE809": 500,
    "RE810": 503,
    "RE811": 408,
}


FAILURES = frozenset({"RE601", "RE602", "RE603", "RE605", "RE609"})
"""The store codes that mean the database failed or cannot be used (not a refusal of the request)."""


class ServiceError(RulesEngineError):
    """A request the service refuses itself (codes RE8xx, and RE606): answered with `status`."""

    def __init__(
        self, code: str, message: str, *, hint: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__([Diagnostic(code, message, hint=hint)])
        self.headers = headers or {}

    @classmethod
    def of(cls, diagnostics: Sequence[Diagnostic]) -> ServiceError:
        """A refusal with several problems (a body's fields, each at its path)."""
        error = cls(diagnostics[0].code, diagnostics[0].message, hint=diagnostics[0].hint)
        error.diagnostics = list(diagnostics)
        return error


class ProblemDetail(BaseModel):
    """One diagnostic: the code, where (for a program upload: line and column), what and how to fix."""

    code: str
    severity: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: list[str | int] | None = None
    """Where in the request body (an event's field: `["items", 0, "price"]`)."""
    message: str
    hint: str | None = None


class Problem(BaseModel):
    """An error, as RFC 9457 problem details, with the project's codes."""

    type: str = Field(examples=["urn:loyalty:error:RE430"])
    """`urn:loyalty:error:<code>`: docs/errors.md lists every code."""
    title: str
    """What the code means, in one line."""
    status: int
    detail: str
    """The first problem, in words."""
    instance: str
    """The request's path."""
    code: str
    """The first problem's code."""
    request_id: str
    """The request's id, as the service logs it (and sends in `X-Request-Id`)."""
    errors: list[ProblemDetail]
    """Every problem (a program upload has all of its problems here, each at its line and column)."""


def status_of(diagnostics: Sequence[Diagnostic]) -> int:
    first = diagnostics[0].code if diagnostics else "RE809"
    if first in _BY_CODE:
        return _BY_CODE[first]
    entry = CODES.get(first)
    if entry is None:
        return 500
    return _BY_STAGE.get(entry.stage, 422)


def problem_response(
    request: Request,
    diagnostics: Sequence[Diagnostic],
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The problem+json response for these diagnostics (the first one names the problem)."""
    code = diagnostics[0].code
    request_id = str(getattr(request.state, "request_id", ""))
    status = status or status_of(diagnostics)
    body = {
        "type": f"urn:loyalty:error:{code}",
        "title": CODES[code].title,
        "status": status,
        "detail": diagnostics[0].message,
        "instance": request.url.path,
        "code": code,
        "request_id": request_id,
        "errors": [d.to_json() for d in diagnostics],
    }
    request.state.problem = code
    version = getattr(request.state, "program_version", None)
    if version is not None and status < 500:  # a failure decided nothing
        headers = {VERSION_HEADER: str(version), **(headers or {})}
    return Response(jsonio.dumps(body), status, headers=headers, media_type=MEDIA_TYPE)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem response."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RulesEngineError, _engine_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected)


async def refused(request: Request, error: RulesEngineError) -> Response:
    """The problem response for an error of the engine or the service, as the handlers `install`
    registers answer it (for the events shortcut, which answers before FastAPI's handlers)."""
    if isinstance(error, ServiceError):
        return await _service_error(request, error)
    return await _engine_error(request, error)


async def _service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    return problem_response(request, error.diagnostics, headers=error.headers)


async def _engine_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RulesEngineError)
    if isinstance(error, StoreError) and error.code in FAILURES:
        # The driver's words may quote SQL or name the server: the log gets them, the client not.
        log.error("store failed: %s", "; ".join(d.message for d in error.diagnostics), extra=_ids(request))
        unavailable = Diagnostic(
            "RE810",
            "the store failed; nothing of this request was written",
            hint="retry: a redelivered event is never applied twice",
        )
        if isinstance(error, TransientError):  # tried again server-side already (events.py `TRIES`)
            unavailable = Diagnostic(
                "RE810",
                "the database gave this request's transaction up, again and again, for others "
                "writing the same customers (a deadlock); nothing of this request was written",
                hint="send it again as it is, after Retry-After: its event id makes that safe "
                "(a redelivered event is never applied twice)",
            )
        return problem_response(request, [unavailable], headers={"Retry-After": "1"})
    return problem_response(request, error.diagnostics)


async def _invalid_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    diagnostics = [
        Diagnostic(
            "RE807",
            f"{'.'.join(str(part) for part in issue.get('loc', ()))}: {issue.get('msg', 'invalid')}",
            path=tuple(_path_part(part) for part in issue.get("loc", ())),
        )
        for issue in error.errors()
    ] or [Diagnostic("RE807", "the request is not valid")]
    return problem_response(request, diagnostics)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        message = f"{request.method} is not a method of {request.url.path}"
        return problem_response(
            request, [Diagnostic("RE808", message)], status=405, headers=dict(error.headers or {})
        )
    message = f"no route {request.url.path}" if error.status_code == 404 else str(error.detail)
    hint = "the routes are listed at /docs and in /openapi.json"
    return problem_response(request, [Diagnostic("RE808", message, hint=hint)], status=error.status_code)


async def unexpected(request: Request, error: Exception) -> Response:
    """RE809, 500: the request id only, the exception in the log."""
    log.exception("unexpected error", exc_info=error, extra=_ids(request))
    failed = Diagnostic(
        "RE809",
        "the service failed unexpectedly; nothing is shown here but the request id, which the log has",
        hint="report the request id; a redelivered event is never applied twice",
    )
    return problem_response(request, [failed])


def _ids(request: Request) -> dict[str, Any]:
    return {"request_id": getattr(request.state, "request_id", None)}


def _path_part(part: Any) -> str | int:
    return part if isinstance(part, int) else str(part)
