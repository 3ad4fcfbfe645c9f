"""The programs: `GET /v1/programs`, `GET /v1/programs/{program}` (its running version and content
hash), `PUT /v1/programs/{program}` (a new version, validated first, swapped in atomically),
`GET /v1/programs/{program}/catalog` (the catalog with the stock left) and
`GET /v1/programs/{program}/ledger/export` (the books, as `loyalty ledger export` gives them)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Security
from fastapi.responses import Response

from rules_engine.http.auth import authorize
from rules_engine.http.models import CatalogView, ProgramInfo, ProgramList, Uploaded
from rules_engine.http.problems import ServiceError
from rules_engine.http.routes import exact, problems, text_body
from rules_engine.http.running import Running
from rules_engine.http.runtime import Runtime, runtime
from rules_engine.store.keys import ApiKey
from rules_engine.tools import accounting
from rules_engine.tools.stock import catalog_stock

router = APIRouter(prefix="/v1/programs", tags=["programs"])


def info(running: Running) -> dict[str, object]:
    program = running.engine.program
    return ProgramInfo(
        program=program.program,
        name=program.name,
        version=program.version,
        digest=running.digest,
        loaded_at=running.loaded_at,
    ).model_dump(mode="python")


@router.get(
    "",
    summary="The programs this service runs (those the key may use)",
    response_model=None,
    responses={200: {"model": ProgramList}, **problems(401)},
)
def list_programs(
    caller: Annotated[ApiKey, Security(authorize)],
    service: Annotated[Runtime, Depends(runtime)],
) -> Response:
    shown = [p for p in service.programs.ids() if not caller.programs or p in caller.programs]
    return exact({"programs": [info(service.programs.get(p)) for p in shown]})


@router.get(
    "/{program}",
    summary="A program's running version and content hash",
    response_model=None,
    responses={200: {"model": ProgramInfo}, **problems(401, 403, 404)},
)
def get_program(
    program: str,
    _caller: Annotated[ApiKey, Security(authorize)],
    service: Annotated[Runtime, Depends(runtime)],
) -> Response:
    running = service.programs.get(program)
    return exact(info(running), version=running.version)


@router.put(
    "/{program}",
    summary="Upload a new version: validated, then swapped in atomically",
    response_model=None,
    responses={200: {"model": Uploaded}, **problems(400, 401, 403, 404, 409, 413, 422)},
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The program file's text (YAML), with a higher `version` than the running one.",
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
def put_program(
    program: str,
    _caller: Annotated[ApiKey, Security(authorize, scopes=["programs:write"])],
    service: Annotated[Runtime, Depends(runtime)],
    text: Annotated[str, Depends(text_body)],
) -> Response:
    """An invalid program is refused with every problem (422: code, line, column, hint in
    `errors`) and the running version keeps running; so is one whose version is not above it
    (409, RE806). A valid one replaces it for every request that starts after the answer."""
    running, replaced = service.programs.replace(program, text)
    body = {
        "replaced": replaced,
        "program": info(running),
        "warnings": [d.to_json() for d in running.warnings],
    }
    return exact(body, version=running.version)


@router.get(
    "/{program}/catalog",
    summary="The catalog, with each item's stock left",
    response_model=None,
    responses={200: {"model": CatalogView}, **problems(401, 403, 404, 503)},
)
def get_catalog(
    program: str,
    _caller: Annotated[ApiKey, Security(authorize)],
    service: Annotated[Runtime, Depends(runtime)],
) -> Response:
    """Every catalog item of the running version: its cost, its `stock`, how many were redeemed
    (program-wide, voids given back) and how many are left."""
    running = service.programs.get(program)
    with service.stores.borrow(program) as store:
        redeemed = store.redeemed()
    body = {
        "program": program,
        "version": running.version,
        "items": [item._asdict() for item in catalog_stock(running.engine.program, redeemed)],
    }
    return exact(body, version=running.version)


class ExportFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


@router.get(
    "/{program}/ledger/export",
    summary="The ledger as journal entries, with liability and breakage",
    response_model=None,
    responses={
        200: {
            "description": "The books (JSON), or the journal (CSV)",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **problems(401, 403, 404, 422, 503),
    },
)
def export_ledger(
    program: str,
    _caller: Annotated[ApiKey, Security(authorize, scopes=["customers:read"])],
    service: Annotated[Runtime, Depends(runtime)],
    start: Annotated[
        dt.date | None, Query(alias="from", description="First day, in the program's zone")
    ] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="Last day (included)")] = None,
    output: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.JSON,
) -> Response:
    """As `loyalty ledger export`: journal entries per day and kind, valued at the program's
    value per point; without `to`, whether the liability reconciles with every balance."""
    running = service.programs.get(program)
    if start and end and start > end:
        raise ServiceError("RE807", f"from {start} is after to {end}", hint="swap them")
    with service.stores.borrow(program) as store:
        books = accounting.read_books(store, running.engine.program, start=start, end=end)
    if output is ExportFormat.CSV:
        csv = accounting.to_csv(books)
        headers = {"Loyalty-Program-Version": str(running.version)}
        return Response(csv, headers=headers, media_type="text/csv; charset=utf-8")
    return exact(accounting.to_json(books), version=running.version)
