"""Who may call what: API keys with scopes, as a FastAPI security dependency.

A client sends `Authorization: Bearer lk_<id>_<secret>` (`loyalty keys create` makes one). Every
route but the health checks, the metrics and the docs declares the scope it needs:

    caller: Annotated[ApiKey, Security(authorize, scopes=["events:write"])]

The key is looked up in the store by its id and its secret compared with the stored digest in
constant time (`store/keys.py`). No key, a malformed one, an unknown or a revoked one: 401
(RE801). A key without the scope, or limited to other programs than the path's: 403 (RE802).
`admin` allows everything. The routes that read the program list need a valid key and no scope.

A key read from the store is trusted for `Settings.key_cache` seconds (1 by default; `KeyCache`):
every request of a busy client would otherwise read its key again. So a key revoked with `loyalty
keys revoke` stops working within that second, in every worker; a new key works at once (an id
the cache does not know is always read). The secret is compared on every request, cached or not.
A key in use is read again in the background once three quarters of that second have passed, so that no
request of a busy client waits for its reading (`KeyCache.due`).

`authorize` runs on the event loop (FastAPI hands a sync dependency to its thread pool, a hop that
cost more than the check): only a key the cache does not hold is read on a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from starlette.concurrency import run_in_threadpool

from rules_engine.http.problems import ServiceError
from rules_engine.http.runtime import KeyCache, Runtime
from rules_engine.store.keys import ApiKey, parse_token

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="lk_<id>_<secret>",
    description="An API key made by `loyalty keys create`: `Authorization: Bearer lk_…`.",
)


async def authorize(
    scopes: SecurityScopes,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """The caller's key, checked for the route's scopes and for the program in its path. (The
    runtime is read from the request: one dependency fewer for FastAPI to solve per request.)"""
    token = None if credentials is None else credentials.credentials
    state: dict[str, Any] = request.scope.setdefault("state", {})  # what `request.state` writes to
    program = request.path_params.get("program")
    return await check(request.app.state.runtime, token, scopes.scopes, program, state)


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer …` header among an ASGI scope's raw headers, read
    exactly as `bearer` (FastAPI's `HTTPBearer`) reads it through a request: the first such
    header (named in lower case, as ASGI servers give them and as Starlette compares them),
    latin-1, the scheme any case, the token stripped; None for no header, another scheme or no
    token. The events shortcut reads it here, without building a request."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if not (scheme and token) or scheme.lower() != "bearer":
                return None
            return token
    return None


async def check(
    service: Runtime, token: str | None, scopes: Sequence[str], program: str | None, state: dict[str, Any]
) -> ApiKey:
    """The key of `token`, if it is known and allows every scope for the program (None: a route
    without a program); its id goes in the request's `state` (the log line names it) as soon as
    it is known, before the scopes are checked.

    Raises:
        ServiceError: RE801 no key or not a valid one, RE802 the key lacks a scope or the program.
    """
    key = await _known_key(service, token)
    state["key_id"] = key.id
    for scope in scopes:
        if not key.allows(scope, program):
            if key.programs and program is not None and program not in key.programs:
                message = f"key {key.id} is limited to program(s) {', '.join(key.programs)}, not {program}"
            else:
                message = f"key {key.id} lacks the scope {scope}"
            raise ServiceError("RE802", message, hint=f"use a key with the scope {scope} (or admin)")
    if program is not None and key.programs and program not in key.programs:
        raise ServiceError("RE802", f"key {key.id} is limited to program(s) {', '.join(key.programs)}")
    return key


def check_cached(
    service: Runtime, token: str | None, scopes: Sequence[str], program: str | None, state: dict[str, Any]
) -> ApiKey | None:
    """`check` when it needs no wait: the key of `token` held by the cache, valid, allowing every
    scope for the program — its id put in `state` and the key returned, as `check` does (a key
    due to be read again is, in the background). None in every other case, changing nothing:
    `check` is to be awaited, and raises what refuses the request (the events route served by the
    protocol, direct.py)."""
    if not token:
        return None
    parsed = parse_token(token)
    if parsed is None:
        return None
    keys = service.keys
    key = keys.cached(parsed[0])
    if key is None or not key.matches_parsed(parsed) or key.revoked_at is not None:
        return None
    for scope in scopes:
        if not key.allows(scope, program):
            return None
    if program is not None and key.programs and program not in key.programs:
        return None
    if keys.due(parsed[0]):
        asyncio.get_running_loop().run_in_executor(None, keys.refresh, parsed[0])
    state["key_id"] = key.id
    return key


async def _read(keys: KeyCache, key_id: str) -> ApiKey | None:
    """The key read from the store for a request that did not find it in the cache, on a thread:
    one reading for every request that misses it meanwhile. After an idle second a busy client's
    requests all missed at once, and each read the key (with SQLite, behind the events being
    stored)."""
    loop = asyncio.get_running_loop()
    reading = keys.reading.get(key_id)
    if reading is None or reading.get_loop() is not loop:
        reading = loop.create_task(run_in_threadpool(keys.read, key_id))
        keys.reading[key_id] = reading

        def done(task: asyncio.Task[ApiKey | None]) -> None:
            if keys.reading.get(key_id) is task:
                del keys.reading[key_id]
            if not task.cancelled():
                task.exception()  # retrieved: its waiters may all have gone (each raises it)

        reading.add_done_callback(done)
    found: ApiKey | None = await asyncio.shield(reading)
    return found


async def _known_key(service: Runtime, token: str | None) -> ApiKey:
    challenge = {"WWW-Authenticate": "Bearer"}
    if not token:
        raise ServiceError(
            "RE801",
            "no API key: send `Authorization: Bearer <key>`",
            hint="`loyalty keys create --db URL --scope S` makes one",
            headers=challenge,
        )
    parsed = parse_token(token)
    key = None
    if parsed is not None:
        keys = service.keys
        key = keys.cached(parsed[0])
        if key is None:
            key = await _read(keys, parsed[0])
        elif keys.due(parsed[0]):  # read again before the reading expires, nobody waiting for it
            asyncio.get_running_loop().run_in_executor(None, keys.refresh, parsed[0])
    if key is None or not key.matches_parsed(parsed) or key.revoked_at is not None:
        raise ServiceError(
            "RE801", "the API key is not valid (unknown, malformed or revoked)", headers=challenge
        )
    return key
