"""`POST /v1/programs/{program}/events` and `…/dry-run`: an event decided, stored or not.

An event is processed by `service.Loyalty.handle` in one store transaction: exactly once by its
id. A redelivery (same id, same payload) is answered with the original outcome — decided by the
version that ran then, which the answer names — and changes nothing; the same id with another
payload is refused (409, RE443). A refused event (422) wrote nothing.

An event's answer leaves out the trace (why each rule did or did not give something) unless the
caller asks with `?trace=true`: a till needs the effects, the totals and the balance, and the
trace is most of an outcome's bytes. Answers are written by `answers.py` (pydantic's serializer,
exact numbers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import Response

from rules_engine import jsonio
from rules_engine.engine.event_text import parse_event_text
from rules_engine.engine.events import AnyEvent
from rules_engine.engine.outcome_json import UnexpectedValueError
from rules_engine.engine.reader import parse_event
from rules_engine.engine.result import Result
from rules_engine.errors import EventError, RulesEngineError, StoreError
from rules_engine.http import answers
from rules_engine.http.auth import authorize
from rules_engine.http.models import Balance, DryRunResult, EventResult
from rules_engine.http.problems import FAILURES, ServiceError
from rules_engine.http.routes import VERSION_HEADER, body_text, json_body, json_request, not_json, problems
from rules_engine.http.running import Running
from rules_engine.http.runtime import Runtime, runtime
from rules_engine.service import Handled, Loyalty
from rules_engine.state.customer import CustomerState, parse_state
from rules_engine.store.keys import ApiKey

log = logging.getLogger("rules_engine.http")
router = APIRouter(prefix="/v1/programs/{program}", tags=["events"])

TRACE = "Answer with the outcome's trace: why every rule did or did not give something"
"""`?trace=true`, on the routes that answer with an event's outcome."""

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
    trace: Annotated[bool, Query(description=TRACE)] = False,
) -> Response:
    """Process the event in one store transaction. Idempotent by event id: a redelivery returns
    the original outcome (`duplicate: true`) and changes nothing."""
    return event_result(handle(service, program, event, request.scope.setdefault("state", {})), trace=trace)


@dataclass(frozen=True, slots=True)
class Ready:
    """An event read and checked against its program, to be decided (`decide`)."""

    running: Running
    """The program's running version when the event was read: it decides the event."""
    kind: str
    """The event's type as a metrics label (`_kind`)."""
    event: AnyEvent


def handle(service: Runtime, program: str, event: Any, state: dict[str, Any]) -> Handled:
    """The event through `Loyalty.handle` with the program's running version, on a borrowed
    store; counted in the metrics. Its id goes in the request's `state` (the ASGI scope's, which
    `request.state` writes to) for the log line."""
    return decide(service, program, read(service, program, event, state))


def read(service: Runtime, program: str, event: Any, state: dict[str, Any]) -> Ready:
    """`handle`'s first half: the program's running version (RE803 first), the event read (a
    refused one counted), its id in `state`."""
    running = service.programs.get(program)
    kind = _kind(event)
    if isinstance(event, dict) and isinstance(event.get("id"), str):
        state["event_id"] = event["id"]
    try:
        # Read before the connection is borrowed: with SQLite one event holds the database at a
        # time (across workers too, stores.py), so what needs no store is done outside.
        parsed = parse_event(event)
    except RulesEngineError:
        service.metrics.event(program, kind, "refused")
        raise
    return Ready(running, kind, parsed)


def handle_text(service: Runtime, program: str, body: bytes, state: dict[str, Any]) -> Handled:
    """`handle(service, program, parse_json(body), state)`, the event read from its JSON text
    (`read_text`)."""
    return decide(service, program, read_text(service, program, body, state))


def read_text(service: Runtime, program: str, body: bytes, state: dict[str, Any]) -> Ready:
    """`read(service, program, parse_json(body), state)`, the event read from its JSON text by
    `parse_event_text` (engine/event_text.py: the C scanner, no Python hook per object, the event
    built by the fast reader): the same event, the same errors in the same order — RE805 for a
    body that is not JSON we accept, then the program, then RE410 for an event refused as
    `parse_event` refuses it — the same metrics and log line. What the events shortcut calls."""
    return ready(service, program, parse_text(body), state)


def parse_text(body: bytes) -> AnyEvent | str:
    """`read_text`'s first half, which needs neither the program nor the store: the event read
    from the body, or the body's text when it holds an event `parse_event` refuses (`ready` then
    refuses it as `read` does: the program first). The events shortcut calls it on the event loop
    before it hands the event to the lane (shortcut.py), so that with several SQLite workers the
    lane, which holds the database, does not read it.

    Raises:
        ServiceError: RE805, a body that is not JSON we accept.
    """
    text = body_text(body)
    try:
        return parse_event_text(text)
    except jsonio.JsonError as problem:
        raise not_json(problem) from None
    except EventError:  # refused: as `read` refuses it (the program first), counted, logged
        return text


def ready(service: Runtime, program: str, parsed: AnyEvent | str, state: dict[str, Any]) -> Ready:
    """`read_text`'s second half, from what `parse_text` gave: the program's running version (RE803),
    the event's id in `state`."""
    if isinstance(parsed, str):
        return read(service, program, jsonio.loads(parsed), state)
    running = service.programs.get(program)
    state["event_id"] = parsed.id
    return Ready(running, parsed.type if parsed.type in _KNOWN_TYPES else "custom", parsed)


def decide(service: Runtime, program: str, ready: Ready) -> Handled:
    """The event decided and stored in a transaction of its own, on a borrowed store; counted."""
    settings = service.settings
    try:
        with service.stores.borrow(program) as store:
            loyalty = Loyalty(
                ready.running.engine, store, horizon=settings.horizon, now=settings.clock, texts=answers.TEXTS
            )
            handled = loyalty.handle(ready.event)
    except RulesEngineError:
        service.metrics.event(program, ready.kind, "refused")
        raise
    _count(service, program, ready.kind, handled)
    return handled


def decide_together(
    service: Runtime,
    program: str,
    readies: list[Ready],
    joined: Callable[[], Sequence[Ready]] | None = None,
) -> list[Handled | Exception] | None:
    """The events decided in order and stored in one transaction (`Store.group`: one commit, one
    disk flush), each all or nothing within it as on its own: a refused event changes nothing,
    and is answered with its error in its place. Counted once committed. `joined`, called once
    the store is borrowed, gives the events that join the group then: added to `readies` (the
    list is extended in place), after the others. An event that is alone after that is stored in a
    transaction of its own, as `decide` stores it (a group of one cost ~3 % more instructions a
    request: counted at concurrency 1); what refuses it is raised, as from `decide`.

    None when the group was rolled back after the store was borrowed (the store failed, or an
    event failed in a way that leaves the group unwritable: store/batch.py): nothing of it was
    applied, and each event is to be decided again on its own (`decide`), as replay.py does.

    Raises:
        ServiceError: RE810, no connection came in time (nothing was tried).
        RulesEngineError: the one event alone was refused (or failed: any exception).
    """
    settings = service.settings
    results: list[Handled | Exception] = []
    borrowed = alone = False
    try:
        with service.stores.borrow(program) as store:
            borrowed = True
            if joined is not None:
                readies += joined()
            if len(readies) == 1:  # alone after all: its own transaction, as `decide` stores it
                alone = True
                ready = readies[0]
                loyalty = Loyalty(
                    ready.running.engine,
                    store,
                    horizon=settings.horizon,
                    now=settings.clock,
                    texts=answers.TEXTS,
                )
                results.append(loyalty.handle(ready.event))
            else:
                made: dict[int, Loyalty] = {}  # one per engine (a reload may come between two events)
                with store.group():
                    for ready in readies:
                        try:
                            engine = ready.running.engine
                            kept = made.get(id(engine))
                            if kept is None:
                                kept = made[id(engine)] = Loyalty(
                                    engine,
                                    store,
                                    horizon=settings.horizon,
                                    now=settings.clock,
                                    texts=answers.TEXTS,
                                )
                            results.append(kept.handle(ready.event))
                        except StoreError as error:
                            if error.code in FAILURES:
                                raise  # the transaction may be gone: the whole group again, one by one
                            results.append(error)
                        except Exception as error:  # this event's own: refused, or unexpected (500)
                            results.append(error)
    except Exception as error:
        if not borrowed or alone:  # refused, as `decide` refuses an event alone
            if isinstance(error, RulesEngineError):
                for ready in readies:
                    service.metrics.event(program, ready.kind, "refused")
            raise
        log.warning(
            "a group of %d events was rolled back: each is decided again", len(readies), exc_info=True
        )
        return None
    for ready, answer in zip(readies, results, strict=True):
        if isinstance(answer, Handled):
            _count(service, program, ready.kind, answer)
        elif isinstance(answer, RulesEngineError):
            service.metrics.event(program, ready.kind, "refused")
    return results


def _count(service: Runtime, program: str, kind: str, handled: Handled) -> None:
    service.metrics.event(program, kind, "duplicate" if handled.duplicate else "applied")


_WITH_TRACE = {"outcome": {"state"}, "referrer": {"state"}}
_WITHOUT_TRACE = {"outcome": {"state", "trace"}, "referrer": {"state", "trace"}}


def event_result(handled: Handled, *, trace: bool = False) -> Response:
    """The answer `models.EventResult` describes: the outcome without the customer's state (and
    without its trace unless asked), the balance, the referrer's reward."""
    return _json(event_answer(handled, trace=trace), handled.decided.version)


def event_answer(handled: Handled, *, trace: bool = False) -> bytes:
    """`event_result`'s body (the events shortcut sends it with its own headers). An event the
    engine decided now is written from its `Result` (`answers.event_answer_of`: the same bytes,
    without building its `Outcome`); one a store kept, from its outcome."""
    decided, referred = handled.decided, handled.referred
    answered = handled.answered
    if answered is not None and not trace and referred is None and isinstance(decided, Result):
        return answers.event_answer_from(decided, handled.duplicate, answered)
    if isinstance(decided, Result) and (referred is None or isinstance(referred, Result)):
        try:
            return answers.event_answer_of(decided, handled.duplicate, referred, trace=trace)
        except UnexpectedValueError:  # a value the models write their own way: through the outcomes
            pass
    outcome = handled.outcome
    body: answers.EventAnswer = {
        "program": outcome.program,
        "version": outcome.version,
        "duplicate": handled.duplicate,
        "outcome": outcome,
        "balance": Balance.of(outcome.state, outcome.customer),
        "referrer": handled.referrer,
    }
    return answers.EVENT.dumps(body, exclude=_WITH_TRACE if trace else _WITHOUT_TRACE)


def _json(body: bytes, version: int) -> Response:
    return Response(body, headers={VERSION_HEADER: str(version)}, media_type="application/json")


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
    answer: answers.DryRunAnswer = {
        "program": outcome.program,
        "version": outcome.version,
        "outcome": outcome,
    }
    return _json(answers.DRY_RUN.dumps(answer), outcome.version)


def _kind(event: Any) -> str:
    """The event's type as a metrics label: the known types, `custom` or `malformed` (a label per
    custom type would let clients grow the series without bound)."""
    kind = event.get("type") if isinstance(event, dict) else None
    if not isinstance(kind, str):
        return "malformed"
    return kind if kind in _KNOWN_TYPES else "custom"
