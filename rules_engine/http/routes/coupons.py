"""Bulk coupon codes (tools/coupon_codes.py): `POST /v1/programs/{program}/coupons/{coupon}/codes`
generates N codes (a JSON body) or imports a CSV file of codes (a `text/csv` body);
`GET …/codes` exports them, as CSV or JSON. Scope `admin`: codes are money off."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from rules_engine.errors import diagnostics_from_pydantic
from rules_engine.http.auth import authorize
from rules_engine.http.models import CodesRequest, CodesResult
from rules_engine.http.problems import ServiceError
from rules_engine.http.routes import VERSION_HEADER, exact, json_body, problems, text_body
from rules_engine.http.runtime import Runtime, runtime
from rules_engine.store.base import Store
from rules_engine.store.keys import ApiKey
from rules_engine.tools import coupon_codes

router = APIRouter(prefix="/v1/programs/{program}/coupons/{coupon}/codes", tags=["coupons"])


class CodesFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


@router.post(
    "",
    summary="Generate N unique codes for a coupon (JSON body), or import a CSV file of codes",
    response_model=None,
    responses={200: {"model": CodesResult}, **problems(400, 401, 403, 404, 413, 422, 503)},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CodesRequest"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def post_codes(
    program: str,
    coupon: str,
    request: Request,
    _caller: Annotated[ApiKey, Security(authorize, scopes=["admin"])],
    service: Annotated[Runtime, Depends(runtime)],
    batch: Annotated[str | None, Query(max_length=100, description="The batch's name (CSV imports)")] = None,
) -> Response:
    """Codes are kept all or none: an import with one bad, repeated or existing code adds nothing
    (422, RE445, every problem with its row).

    Async to read either body; the store's work then runs on the thread pool, as the other routes'
    does. (Until 2026-12-07 it ran on the event loop: while an import or a generation waited for
    the database, the worker answered nothing else — no event, no health check.)"""
    running = service.programs.get(program)
    definition = running.engine.program
    at = service.settings.clock()
    csv = request.headers.get("content-type", "").split(";")[0].strip().lower() == "text/csv"
    add: Callable[[Store], list[str]]
    if csv:
        text = await text_body(request)
        name = batch or f"import-{at:%Y%m%dT%H%M%S}"

        def add(store: Store) -> list[str]:
            return coupon_codes.import_codes(store, definition, coupon, text, batch=name, at=at)

    else:
        body: Any = await json_body(request)
        try:
            asked = CodesRequest.model_validate(body)
        except ValidationError as error:
            raise ServiceError.of(
                diagnostics_from_pydantic(error, "RE805", data=body, root="codes")
            ) from None
        name = asked.batch or f"batch-{at:%Y%m%dT%H%M%S}"

        def add(store: Store) -> list[str]:
            return coupon_codes.generate(
                store, definition, coupon, asked.count, batch=name, at=at, prefix=asked.prefix
            )

    request.state.program_version = running.version
    codes = await run_in_threadpool(_stored, service, program, add)
    result = {"program": program, "coupon": coupon, "batch": name, "count": len(codes), "codes": codes}
    return exact(result, version=running.version)


def _stored(service: Runtime, program: str, add: Callable[[Store], list[str]]) -> list[str]:
    """`add` on a connection to the program's store (blocking: on a thread)."""
    with service.stores.borrow(program) as store:
        return add(store)


@router.get(
    "",
    summary="A coupon's bulk codes, as CSV (default) or JSON",
    response_model=None,
    responses={
        200: {
            "description": "The codes: code, coupon, batch, created_at, claimed_at",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        },
        **problems(401, 403, 404, 503),
    },
)
def get_codes(
    program: str,
    coupon: str,
    request: Request,
    _caller: Annotated[ApiKey, Security(authorize, scopes=["admin"])],
    service: Annotated[Runtime, Depends(runtime)],
    output: Annotated[CodesFormat, Query(alias="format")] = CodesFormat.CSV,
) -> Response:
    running = service.programs.get(program)
    request.state.program_version = running.version
    coupon_codes.check_coupon(running.engine.program, coupon)
    with service.stores.borrow(program) as store:
        codes = store.coupon_codes(coupon)
    headers = {VERSION_HEADER: str(running.version)}
    if output is CodesFormat.CSV:
        return Response(coupon_codes.to_csv(codes), headers=headers, media_type="text/csv; charset=utf-8")
    rows = [
        {"code": c.code, "batch": c.batch, "created_at": c.created_at, "claimed_at": c.claimed_at}
        for c in codes
    ]
    return exact({"program": program, "coupon": coupon, "codes": rows}, version=running.version)
