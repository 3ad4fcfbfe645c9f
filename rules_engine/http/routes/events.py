"""`POST /v1/programs/{program}/events` and `…/dry-run`: an event decided, stored or not.

An event is processed by `service.Loyalty.handle` in one store transaction: exactly once by its
id. A redelivery (same id, same payload) is answered with the original outcome — decided by the
version that ran then, which the answer names — and changes nothing; the same id with another
payload is refused (409, RE443). A refused event (422) wrote nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import Response

from rules_engine.errors import RulesEngineError
from rules_engine.http.auth import authorize
from rules_engine.http.models import Balance, DryRunResult, EventResult
from rules_engine.http.problems import ServiceError
from rules_engine.http.routes import exact, json_body, json_request, problems
from rules_engine.http.runtime import Runtime, runtime
from rules_engine.service import Handled, Loyalty
from rules_engine.state.customer import CustomerState, parse_state
from rules_engine.store.keys import ApiKey

router = APIRouter(prefix="/v1/programs/{program}", tags=["events"])

_KNOWN_TYPES = {"purchase", "return", "signup", "app_open", "review", "survey", "redeem", "referral_reward"}


@router.post(
    "/events",
    summary="Process one event, exactly once",
    response_model=None,
    responses={200: {"model": EventResult}, **problems(400, 401, 403, 404, 409, 413, 422, 503)},
    openapi_extra=json_request("Event", description="The event: purchase, return, signup, app_open …"),
)
def post_event(
    program: str,
    request: Request,
    _caller: Annotated[ApiKey, Security(authorize, scopes=["events:write"])],
    service: Annotated[Runtime, Depends(runtime)],
    event: Annotated[Any, Depends(json_body)],
) -> Response:
    """Process the event in one store transaction. Idempotent by event id: a redelivery returns
    the original outcome (`duplicate: true`) and changes nothing."""
    return event_result(handle(service, program, event, request))


def handle(service: Runtime, program: str, event: Any, request: Request) -> Handled:
    """The event through `Loyalty.handle` with the program's running version, on a borrowed
    store; counted in the metrics."""
    running = service.programs.get(program)
    kind = _kind(event)
    if isinstance(event, dict) and isinstance(event.get("id"), str):
        request.state.event_id = event["id"]
    settings = service.settings
    try:
        with service.stores.borrow(program) as store:
            loyalty = Loyalty(running.engine, store, horizon=settings.horizon, now=settings.clock)
            handled = loyalty.handle(event)
    except RulesEngineError:
        service.metrics.event(program, kind, "refused")
        raise
    service.metrics.event(program, kind, "duplicate" if handled.duplicate else "applied")
    return handled


def event_result(handled: Handled) -> Response:
    outcome = handled.outcome
    body = {
        "program": outcome.program,
        "version": outcome.version,
        "duplicate": handled.duplicate,
        "outcome": outcome.model_dump(mode="python", exclude={"state"}),
        "balance": Balance.of(outcome.state, outcome.customer).model_dump(mode="python"),
        "referrer": None
        if handled.referrer is None
        else handled.referrer.model_dump(mode="python", exclude={"state"}),
    }
    return exact(body, version=outcome.version)


@router.post(
    "/dry-run",
    summary="Decide one event without storing anything",
    response_model=None,
    responses={200: {"model": DryRunResult}, **problems(400, 401, 403, 404, 413, 422, 503)},
    openapi_extra=json_request("DryRun", description="The event, and the state to decide it against"),
)
def dry_run(
    program: str,
    _caller: Annotated[ApiKey, Security(authorize, scopes=["events:write"])],
    service: Annotated[Runtime, Depends(runtime)],
    body: Annotated[Any, Depends(json_body)],
    explain: Annotated[bool, Query(description="Every condition with its values, near-miss hints")] = False,
) -> Response:
    """Decide the event against the given state, or the customer's stored one (a new customer's
    when the store has none): nothing is stored. Budgets are not consulted, as in `loyalty
    dry-run`."""
    running = service.programs.get(program)
    if not isinstance(body, dict) or "event" not in body or set(body) - {"event", "state"}:
        raise ServiceError(
            "RE805",
            "a dry-run body is an object with `event` and, if you like, `state`",
            hint='{"event": {"id": …, "type": "purchase", …}, "state": {…}}',
        )
    event = body["event"]
    state: CustomerState | None
    if body.get("state") is not None:
        state = parse_state(body["state"])
    else:
        customer = event.get("customer") if isinstance(event, dict) else None
        state = None
        if isinstance(customer, str):
            with service.stores.borrow(program) as store:
                state = store.state(customer)
    outcome = running.engine.process(event, state, explain=explain).outcome()
    answer = {
        "program": outcome.program,
        "version": outcome.version,
        "outcome": outcome.model_dump(mode="python"),
    }
    return exact(answer, version=outcome.version)


def _kind(event: Any) -> str:
    """The event's type as a metrics label: the known types, `custom` or `malformed` (a label per
    custom type would let clients grow the series without bound)."""
    kind = event.get("type") if isinstance(event, dict) else None
    if not isinstance(kind, str):
        return "malformed"
    return kind if kind in _KNOWN_TYPES else "custom"
