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
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import Response

from rules_engine import jsonio
from rules_engine.engine.event_text import parse_event_text
from rules_engine.engine.events import AnyEvent, Purchase
from rules_engine.engine.outcome_json import UnexpectedValueError
from rules_engine.engine.reader import parse_event
from rules_engine.engine.result import Result
from rules_engine.errors import EventError, RulesEngineError, StoreError, TransientError
from rules_engine.http import answers
from rules_engine.http.auth import authorize
from rules_engine.http.models import Balance, DryRunResult, EventResult
from rules_engine.http.problems import FAILURES, ServiceError
from rules_engine.http.routes import VERSION_HEADER, body_text, json_body, json_request, not_json, problems
from rules_engine.http.running import Running
from rules_engine.http.runtime import Runtime, runtime
from rules_engine.service import Handled, Loyalty
from rules_engine.state.customer import CustomerState, parse_state
from rules_engine.store.base import Store
from rules_engine.store.keys import ApiKey
from rules_engine.store.sql_locking import OutdatedError
from rules_engine.store.sql_writing import SqlWriting

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


@dataclass(slots=True)
class Ready:
    """An event read and checked against its program, to be decided (`decide`). Not frozen
    (nothing changes it): made for every request, as `shortcut.Asked` is."""

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
    """`handle`'s first half: the program's running version (RE803 first, then noted in `state`
    for a refusal's header), the event read (a refused one counted), its id in `state`."""
    running = service.programs.get(program)
    state["program_version"] = running.version
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


def ready(
    service: Runtime,
    program: str,
    parsed: AnyEvent | str,
    state: dict[str, Any],
    running: Running | None = None,
) -> Ready:
    """`read_text`'s second half, from what `parse_text` gave: the program's running version (RE803),
    the event's id in `state`. `running`: the program's running version, found already for the
    events read together (shortcut.py `decide_group`: one look, and its `stat` of the program's
    file, a group rather than an event); a refused event (`parsed` a text) looks again, as `read`."""
    if isinstance(parsed, str):
        return read(service, program, jsonio.loads(parsed), state)
    if running is None:
        running = service.programs.get(program)
    state["event_id"], state["program_version"] = parsed.id, running.version
    return Ready(running, parsed.type if parsed.type in _KNOWN_TYPES else "custom", parsed)


TRIES = 3
"""How often an event is decided in a transaction of its own (`decide`) while the database gives
that transaction up for another's sake (`TransientError`: a deadlock between two workers' groups on
PostgreSQL, a serialization failure) before it is answered 503 (RE810, `Retry-After`): the store's
business, not the client's, as long as it passes."""


def decide(service: Runtime, program: str, ready: Ready) -> Handled:
    """The event decided and stored in a transaction of its own, on a borrowed store; counted. One
    the database gave up for another's (nothing of it written) is decided again, up to `TRIES`
    times in all; a group rolled back is decided again an event at a time here, so its events too."""
    settings = service.settings
    for attempt in range(1, TRIES + 1):
        try:
            with service.stores.borrow(program) as store:
                loyalty = Loyalty(
                    ready.running.engine,
                    store,
                    horizon=settings.horizon,
                    now=settings.clock,
                    texts=answers.TEXTS,
                )
                handled = loyalty.handle(ready.event)
            break
        except TransientError as error:
            if attempt < TRIES:
                log.info("event %s given up by the database (%s): decided again", ready.event.id, error.code)
                time.sleep(random.uniform(0.001, 0.01) * attempt)  # not in step with the other again
                continue
            service.metrics.event(program, ready.kind, "refused")
            raise
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

    With several SQLite workers (`Settings.speculate`) the group is decided outside the database's
    gate instead (`_speculate`): the workers' engines run at once, and each holds the gate only to
    check what its group read and write it. Its events are answered as above (one alone too, in
    its place rather than raised). PostgreSQL's groups are always decided so, their customers
    locked in sorted order to write (`Stores.sorted_locks`); one that cannot be (an event alone, a
    budget, stock, bulk codes: `_speculating`) is not tried: None.

    None when the group was rolled back after the store was borrowed (the store failed, or an
    event failed in a way that leaves the group unwritable: store/batch.py), or not tried
    (PostgreSQL, above): nothing of it was applied, and each event is to be decided again on its
    own (`decide`), as replay.py does — the one event alone too when the database gave its
    transaction up for another's (`TransientError`: `decide` tries it again).

    Raises:
        ServiceError: RE810, no connection (or turn at the gate) came in time (nothing was tried).
        RulesEngineError: the one event alone was refused (or failed: any exception).
    """
    results: list[Handled | Exception] | None
    lane = _speculating(service, program, readies)
    if lane is not None and joined is not None:  # no wait for the gate first: those queued now
        readies += joined()
        joined = None
        lane = _speculating(service, program, readies)  # the events that joined, too
    if service.stores.sorted_locks and (lane is None or len(readies) == 1):
        return None  # PostgreSQL: a group it cannot decide optimistically, an event at a time
    if lane is not None:
        results = _speculate(service, program, lane, readies)
        if results is None:
            return None
    else:
        results = _together(service, program, readies, joined)
        if results is None:
            return None
    for ready, answer in zip(readies, results, strict=True):
        if isinstance(answer, Handled):
            _count(service, program, ready.kind, answer)
        elif isinstance(answer, RulesEngineError):
            service.metrics.event(program, ready.kind, "refused")
    return results


def _together(
    service: Runtime,
    program: str,
    readies: list[Ready],
    joined: Callable[[], Sequence[Ready]] | None,
) -> list[Handled | Exception] | None:
    """`decide_together` on a borrowed store, which holds the database's gate (SQLite) all along."""
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
                results = _group(service, store, readies)
    except Exception as error:
        if not borrowed or (alone and not isinstance(error, TransientError)):  # as `decide` refuses it
            if isinstance(error, RulesEngineError):
                for ready in readies:
                    service.metrics.event(program, ready.kind, "refused")
            raise
        log.warning(
            "a group of %d events was rolled back: each is decided again", len(readies), exc_info=True
        )
        return None
    return results


def _group(service: Runtime, store: Store, readies: Sequence[Ready]) -> list[Handled | Exception]:
    """The events decided in order in one `store.group()`: each one's `Handled`, or the exception
    that refused it (or failed it: a 500), in its place.

    Raises:
        StoreError: the store failed (RE605 …: the group is rolled back), or an optimistic group
            found what it read changed (`OutdatedError`).
        ServiceError: RE810, an optimistic group got no turn at the gate to write (rolled back).
    """
    settings = service.settings
    results: list[Handled | Exception] = []
    made: dict[int, Loyalty] = {}  # one per engine (a reload may come between two events)
    with store.group():
        if isinstance(store, SqlWriting) and store.optimistic:  # their reads at once (PostgreSQL)
            store.read_ahead([(ready.event.customer, ready.event.id) for ready in readies])
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
            except ServiceError:  # no turn at the gate for a write the batch made early (`_speculate`)
                raise
            except Exception as error:  # this event's own: refused, or unexpected (500)
                results.append(error)
    return results


def _speculating(service: Runtime, program: str, readies: Sequence[Ready]) -> SqlWriting | None:
    """The lane's own store, when the group is decided outside the gate (`_speculate`): with
    several SQLite workers (`Settings.speculate`) or PostgreSQL (any number of workers), unless an
    event reads what another worker's events change all the time — a program's budgets (every
    award spends from them) — or claims bulk coupon codes or limited catalog stock (their reads
    write a row when it is missing): those groups are decided under the gate, as with one worker
    (PostgreSQL: an event at a time, `decide_together`). (A referrer's state and code, the events
    and customers read are checked when the group writes; a group that finds them changed is
    decided again.) None otherwise, and for a store that carries working states (`?working=1`),
    or when the lane's store cannot be opened (the borrowed one then says why)."""
    stores = service.stores
    if not (stores.groups and (service.settings.speculate or stores.sorted_locks)):
        return None
    for ready in readies:
        event, engine = ready.event, ready.running.engine
        if engine.plan.budgeted or (isinstance(event, Purchase) and event.coupons):
            return None
        if engine.stock_keys(event):  # its count's row is made if missing: a write
            return None
    try:
        store = service.stores.lane_store(program)
    except StoreError:
        return None
    return store if isinstance(store, SqlWriting) and not store.carries_working else None


def _speculate(
    service: Runtime, program: str, store: SqlWriting, readies: Sequence[Ready]
) -> list[Handled | Exception] | None:
    """`decide_together`'s group decided outside SQLite's gate across workers (stores.py): on the
    lane's own connection, in an optimistic group (store/sql_writing.py), which reads without the
    write lock — the customers' states, whether each event id is stored, what the engine needs —
    and records what each event changes. Right before it writes, the group takes the gate and the
    write lock (`before_lock`), checks that what it read is what the database holds (the customers'
    revisions, referral codes), writes and commits once. When another worker (or this
    one's other requests) changed something it read, nothing was written and the group is decided
    again, still holding the gate, as `_together` decides it: the answers are those of a group
    decided under the gate, by construction. On PostgreSQL (no gate: `Stores.sorted_locks`) the
    group is decided again optimistically, once; changed again, None.

    None when the group was rolled back for another reason (the store failed …): each event is
    decided again on its own (`decide`).

    Raises:
        ServiceError: RE810, the gate did not come in time (nothing was written).
    """
    stores = service.stores
    held = False
    late: ServiceError | None = None

    def enter() -> None:
        nonlocal held, late
        if not held:
            try:
                stores.enter_gate()
            except ServiceError as error:
                late = error
                raise
            held = True

    try:
        store.optimistic, store.before_lock = True, enter
        try:
            return _group(service, store, readies)
        except OutdatedError:
            log.debug("a group of %d events read what changed: decided again", len(readies))
            if not stores.sorted_locks:
                store.optimistic = False  # the gate held (taken before the check): a locked group
                return _group(service, store, readies)
        try:  # PostgreSQL: no lock held (a locked group would lock out of order): optimistic again
            return _group(service, store, readies)
        except OutdatedError:
            log.debug("a group of %d events read what changed again: one at a time", len(readies))
            return None
    except Exception as error:
        if late is not None:  # refused, as `_together` refuses a group that got no connection
            for ready in readies:
                service.metrics.event(program, ready.kind, "refused")
            raise late from None
        if isinstance(error, StoreError) and error.code in FAILURES:
            stores.drop_lane_store(program)  # may be broken: a new one next time
        log.warning(
            "a group of %d events was rolled back: each is decided again", len(readies), exc_info=True
        )
        return None
    finally:
        store.before_lock = None
        if held:
            stores.leave_gate()


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
    request: Request,
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
    request.state.program_version = running.version
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
