"""The routes, one module per resource (FastAPI's "bigger applications" layout): `events` (events,
dry-runs), `customers` (a customer, their ledger, redemptions), `programs` (the list, one
program, uploads, the ledger export), `health` (/healthz, /readyz, /metrics).

What they share is here: reading a JSON body with exact numbers, answering with exact numbers,
the problem responses every route documents, and the request bodies' schemas by reference.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from rules_engine import jsonio
from rules_engine.http.problems import MEDIA_TYPE, ServiceError
from rules_engine.http.problems import VERSION_HEADER as VERSION_HEADER  # for the routes and the shortcut


async def json_body(request: Request) -> Any:
    """The request body, read as JSON with exact numbers (Decimal, never float) and jsonio's limits."""
    return parse_json(await request.body())


async def read_json(receive: Receive) -> Any:
    """`json_body` straight from the ASGI `receive` (no request object): the body's messages
    joined as `Request.body` joins them (`read_body`), then read as JSON.

    Raises:
        ServiceError: RE805, the body is not JSON we accept (RE804 from `Observe`'s `receive`).
        ClientDisconnect: the client went away before the body was whole, as from `Request.body`.
    """
    return parse_json(await read_body(receive))


async def read_body(receive: Receive) -> bytes:
    """The request body straight from the ASGI `receive`, its messages joined as `Request.body`
    joins them (the events shortcut reads the event from it: `events.handle_text`).

    Raises:
        ClientDisconnect: the client went away before the body was whole, as from `Request.body`.
    """
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """A request body read as JSON with exact numbers; see `json_body`.

    Raises:
        ServiceError: RE805, not UTF-8, empty, or not JSON we accept.
    """
    text = body_text(raw)
    try:
        return jsonio.loads(text)
    except jsonio.JsonError as problem:
        raise not_json(problem) from None


def body_text(raw: bytes) -> str:
    """A request body's text, before it is read as JSON (`parse_json`).

    Raises:
        ServiceError: RE805, not UTF-8 or empty.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ServiceError("RE805", "the request body is not UTF-8 text") from None
    if not text.strip():
        raise ServiceError("RE805", "the request body is empty", hint="send a JSON object")
    return text


def not_json(problem: jsonio.JsonError) -> ServiceError:
    """RE805 for a body that is not JSON we accept (`parse_json`)."""
    return ServiceError(
        "RE805",
        f"the request body is not JSON we accept, at character {problem.position}: {problem.message}",
        hint=problem.hint or "send one JSON object",
    )


async def text_body(request: Request) -> str:
    """The request body as UTF-8 text (a program upload)."""
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ServiceError("RE805", "the request body is not UTF-8 text") from None


def exact(body: Any, *, status: int = 200, version: int | None = None) -> Response:
    """A JSON answer with exact numbers, naming the deciding program version when there is one."""
    headers = {VERSION_HEADER: str(version)} if version is not None else None
    return Response(jsonio.dumps(body), status, headers=headers, media_type="application/json")


def json_request(schema: str, *, description: str) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body is read by `json_body`: its schema by name."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
    }


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The problem responses a route documents (`responses=`), each as problem+json."""
    words = {
        400: "The body is not JSON we accept (RE805).",
        401: "No API key, or not a valid one (RE801).",
        403: "The key lacks the scope or the program (RE802).",
        404: "No such program (RE803) or customer (RE606).",
        409: "A conflict with what is stored or running (RE443, RE806).",
        413: "The body is too large (RE804).",
        422: "Refused, with every problem's code, place and hint: nothing was applied.",
        503: "The store does not answer, or the service is stopping (RE810): retry.",
    }
    return {
        status: {
            "description": words[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
