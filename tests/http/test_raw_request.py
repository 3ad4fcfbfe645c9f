"""What the events shortcut reads from the ASGI scope and `receive` itself, without a request
object, reads exactly as FastAPI's request machinery reads it: the bearer token
(`auth.bearer_token` against FastAPI's `HTTPBearer`) and the JSON body (`routes.read_json`
against `routes.json_body` on a Starlette `Request`), over hypothesis-drawn headers and bodies.
tests/http/test_shortcut.py compares whole answers over HTTP; these reach the corners faster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import ClientDisconnect, Request

from rules_engine.http.auth import bearer, bearer_token
from rules_engine.http.problems import ServiceError
from rules_engine.http.routes import json_body, read_json

_SCHEMES = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Token", "", "Bearer:", "bearer\t"])
_TOKENS = st.sampled_from(["lk_ab_cd", "", " ", "  lk_x_y  ", "a b", "lk_é_ü", "\t"]) | st.text(
    st.characters(min_codepoint=32, max_codepoint=255), max_size=12
)
_SEPARATORS = st.sampled_from([" ", "  ", "", "\t", " \t "])


@st.composite
def _headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"127.0.0.1")]
    for _ in range(draw(st.integers(0, 2))):
        value = draw(_SCHEMES) + draw(_SEPARATORS) + draw(_TOKENS)
        name = draw(
            st.sampled_from([b"authorization", b"authorization", b"Authorization", b"x-authorization"])
        )
        headers.insert(draw(st.integers(0, len(headers))), (name, value.encode("latin-1")))
    return headers


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/v1/programs/coffee-club/events",
        "query_string": b"",
        "headers": headers,
    }


@given(_headers())
def test_the_bearer_token_is_read_as_fastapi_reads_it(headers: list[tuple[bytes, bytes]]) -> None:
    credentials = asyncio.run(bearer(Request(_scope(headers))))
    assert bearer_token(headers) == (None if credentials is None else credentials.credentials)


def _receiver(messages: list[dict[str, Any]]) -> Any:
    queued = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(queued, {"type": "http.disconnect"})

    return receive


async def _outcome(read: Any) -> tuple[str, Any]:
    try:
        return "body", await read
    except ServiceError as error:
        return "refused", [(d.code, d.message, d.hint) for d in error.diagnostics]
    except ClientDisconnect:
        return "disconnected", None


_BODIES = st.sampled_from(
    [
        b'{"id": "e1", "type": "purchase", "items": [{"price": 320.00}]}',
        b"",
        b"   ",
        b"\xff\xfe",
        b'{"a": 1, "a": 2}',
        b"[1, 2",
        b'"caf\xc3\xa9"',
        b"1e400",
        b"0.1",
        b"NaN",
    ]
) | st.binary(max_size=40)


@given(_BODIES, st.data())
def test_the_body_is_read_as_the_request_reads_it(body: bytes, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=3)))
    parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    if data.draw(st.booleans()):
        messages = messages[: data.draw(st.integers(0, len(messages) - 1))]  # the client went away
    raw = asyncio.run(_outcome(read_json(_receiver(messages))))
    through_request = asyncio.run(_outcome(json_body(Request(_scope([]), _receiver(messages)))))
    assert raw == through_request


def test_a_body_cut_short_by_the_client_is_a_disconnect() -> None:
    messages = [{"type": "http.request", "body": b'{"id":', "more_body": True}]
    with pytest.raises(ClientDisconnect):
        asyncio.run(read_json(_receiver(messages)))
