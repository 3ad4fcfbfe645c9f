"""A customer: `GET …/customers/{customer}`, their ledger (`…/ledger`, paginated), and
`POST …/customers/{customer}/redemptions` (points spent on a catalog item)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import Response
from pydantic import ValidationError

from rules_engine.engine.events import MAX_ID
from rules_engine.errors import diagnostics_from_pydantic, quoted
from rules_engine.http.auth import authorize
from rules_engine.http.models import (
    AdjustmentRequest,
    AdjustmentResult,
    Balance,
    CustomerView,
    ErasureResult,
    EventResult,
    LedgerPage,
    Redemption,
    VoidRequest,
    VoidResult,
)
from rules_engine.http.problems import ServiceError
from rules_engine.http.routes import exact, json_body, json_request, problems
from rules_engine.http.routes.events import TRACE, event_result, handle
from rules_engine.http.runtime import Runtime, runtime
from rules_engine.service import Loyalty
from rules_engine.store.keys import ApiKey
from rules_engine.tools.adjustments import Adjustment
from rules_engine.tools.standing import tier_progress
from rules_engine.tools.voids import Void

router = APIRouter(prefix="/v1/programs/{program}/customers/{customer}", tags=["customers"])


@router.get(
    "",
    summary="A customer's balance, tier, lots, coupons, badges and progress",
    response_model=None,
    responses={200: {"model": CustomerView}, **problems(401, 403, 404, 503)},
)
def get_customer(
    program: str,
    customer: str,
    request: Request,
    _caller: Annotated[ApiKey, Security(authorize, scopes=["customers:read"])],
    service: Annotated[Runtime, Depends(runtime)],
) -> Response:
    running = service.programs.get(program)
    request.state.program_version = running.version
    _held(customer)
    with service.stores.borrow(program) as store:
        state = store.state(customer)
    if state is None:
        raise _unknown(customer)
    progress = tier_progress(running.engine.program, state, service.settings.clock())
    body = {
        "program": program,
        "version": running.version,
        "balance": Balance.of(state, customer).model_dump(mode="python"),
        "tier_progress": None if progress is None else progress.model_dump(mode="python"),
        "state": state.model_dump(mode="python"),
    }
    return exact(body, version=running.version)


@router.delete(
    "",
    summary="Erase a customer's personal data; the books keep an anonymised ledger (support desk)",
    response_model=None,
    responses={200: {"model": ErasureResult}, **problems(401, 403, 404, 503)},
)
def delete_customer(
    program: str,
    customer: str,
    request: Request,
    caller: Annotated[ApiKey, Security(authorize, scopes=["admin"])],
    service: Annotated[Runtime, Depends(runtime)],
) -> Response:
    """The profile, history and identifiers are deleted; the ledger rows and the open points lots
    stay under a random pseudonym, so the liability is unchanged. A second erasure is 404 (RE606)."""
    running = service.programs.get(program)
    request.state.program_version = running.version
    _held(customer)
    with service.stores.borrow(program) as store:
        loyalty = Loyalty(running.engine, store, horizon=service.settings.horizon, now=service.settings.clock)
        erased = loyalty.erase(customer, operator=caller.id, at=service.settings.clock())
    body = {"program": program, "version": running.version, "erasure": erased.model_dump(mode="python")}
    return exact(body, version=running.version)


@router.get(
    "/ledger",
    summary="A customer's ledger entries, oldest first, a page at a time",
    response_model=None,
    responses={200: {"model": LedgerPage}, **problems(401, 403, 404, 422, 503)},
)
def get_ledger(
    program: str,
    customer: str,
    request: Request,
    _caller: Annotated[ApiKey, Security(authorize, scopes=["customers:read"])],
    service: Annotated[Runtime, Depends(runtime)],
    after: Annotated[
        int, Query(ge=0, le=2**62, description="Entries after this `seq` (0: from the first)")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many entries")] = 100,
) -> Response:
    running = service.programs.get(program)
    request.state.program_version = running.version
    _held(customer)
    with service.stores.borrow(program) as store:
        if store.state(customer) is None:
            raise _unknown(customer)
        rows = list(store.ledger(customer=customer, after=after, limit=limit + 1))  # one more: a next page?
    page = rows[:limit]
    body = {
        "program": program,
        "customer": customer,
        "entries": [{**row.entry.model_dump(mode="python"), "seq": row.seq} for row in page],
        "next_after": page[-1].seq if len(rows) > limit else None,
    }
    return exact(body, version=running.version)


@router.post(
    "/redemptions",
    summary="Spend points on a catalog item, exactly once",
    response_model=None,
    responses={200: {"model": EventResult}, **problems(400, 401, 403, 404, 409, 413, 422, 503)},
    openapi_extra=json_request("Redemption", description="The redemption's id and the catalog item"),
)
def post_redemption(
    program: str,
    customer: str,
    request: Request,
    _caller: Annotated[ApiKey, Security(authorize, scopes=["redemptions:write"])],
    service: Annotated[Runtime, Depends(runtime)],
    body: Annotated[Any, Depends(json_body)],
    trace: Annotated[bool, Query(description=TRACE)] = False,
) -> Response:
    """A `redeem` event for this customer: the points are burnt oldest first; too few available
    points refuse it (422, RE430) and nothing is spent, and so does an item whose `stock` is all
    redeemed (422, RE456). Idempotent by its id, like any event."""
    try:
        redemption = Redemption.model_validate(body)
    except ValidationError as error:
        raise _invalid(error, body) from None
    moment = redemption.time or service.settings.clock()
    event = {
        "id": redemption.id,
        "type": "redeem",
        "customer": customer,
        "time": moment,
        "item": redemption.item,
    }
    return event_result(handle(service, program, event, request.scope.setdefault("state", {})), trace=trace)


@router.post(
    "/adjustments",
    summary="Credit or debit points by hand, with a reason (support desk)",
    response_model=None,
    responses={200: {"model": AdjustmentResult}, **problems(400, 401, 403, 404, 409, 413, 422, 503)},
    openapi_extra=json_request("AdjustmentRequest", description="The adjustment's id, points and reason"),
)
def post_adjustment(
    program: str,
    customer: str,
    request: Request,
    caller: Annotated[ApiKey, Security(authorize, scopes=["admin"])],
    service: Annotated[Runtime, Depends(runtime)],
    body: Annotated[Any, Depends(json_body)],
) -> Response:
    """Booked as ledger kind `adjust` naming the operator (the key's id); a debit takes spendable
    points oldest first and is refused (RE432) beyond them. Exactly once by its id."""
    try:
        asked = AdjustmentRequest.model_validate(body)
    except ValidationError as error:
        raise _invalid(error, body) from None
    adjustment = Adjustment(
        id=asked.id,
        customer=customer,
        points=asked.points,
        reason=asked.reason,
        operator=caller.id,
        at=service.settings.clock(),
    )
    return _desk(service, request, program, customer, "adjustment", adjustment)


@router.post(
    "/voids",
    summary="Void a mistaken event: undo what it did, or say why not (support desk)",
    response_model=None,
    responses={200: {"model": VoidResult}, **problems(400, 401, 403, 404, 409, 413, 422, 503)},
    openapi_extra=json_request("VoidRequest", description="The void's id, the event to void and why"),
)
def post_void(
    program: str,
    customer: str,
    request: Request,
    caller: Annotated[ApiKey, Security(authorize, scopes=["admin"])],
    service: Annotated[Runtime, Depends(runtime)],
    body: Annotated[Any, Depends(json_body)],
) -> Response:
    """Reverses the event's points, tier progress, challenge and quest steps and coupons as ledger
    entries naming it (`rule` `void:<event>`); refused (422, RE446) with every reason when later
    events depend on it. Exactly once by its id."""
    try:
        asked = VoidRequest.model_validate(body)
    except ValidationError as error:
        raise _invalid(error, body) from None
    void = Void(
        id=asked.id,
        customer=customer,
        voided=asked.event,
        reason=asked.reason,
        operator=caller.id,
        at=service.settings.clock(),
    )
    return _desk(service, request, program, customer, "void", void)


def _desk(
    service: Runtime, request: Request, program: str, customer: str, kind: str, asked: Adjustment | Void
) -> Response:
    """A support-desk operation (`kind`: "adjustment" or "void") applied once through the
    service, answered with what was applied, whether it was a repeat, and the balance of the state
    it saved (a read after it could meet the customer erased in between)."""
    running = service.programs.get(program)
    request.state.program_version = running.version
    _held(customer)
    with service.stores.borrow(program) as store:
        loyalty = Loyalty(running.engine, store, horizon=service.settings.horizon, now=service.settings.clock)
        booked = loyalty.adjust(asked) if isinstance(asked, Adjustment) else loyalty.void(asked)
    applied = booked.applied
    body = {
        "program": program,
        "version": applied.version,
        "duplicate": booked.duplicate,
        kind: applied.model_dump(mode="python"),
        "balance": Balance.of(booked.state, customer).model_dump(mode="python"),
    }
    return exact(body, version=applied.version)


def _held(customer: str) -> None:
    """Refuse (404, RE606) a customer id no store can hold — longer than an event's ids may be
    (`MAX_ID`) or with a NUL — before a store is asked: PostgreSQL fails on a NUL in text, which
    answered 503 (RE810) for a customer that simply is not there."""
    if len(customer) > MAX_ID or "\x00" in customer:
        raise _unknown(customer)


def _unknown(customer: str) -> ServiceError:
    return ServiceError(
        "RE606",
        f"no customer {quoted(customer)} in this program's store",
        hint="customer ids are as the events name them",
    )


def _invalid(error: ValidationError, body: Any) -> ServiceError:
    return ServiceError.of(diagnostics_from_pydantic(error, "RE805", data=body, root="redemption"))
