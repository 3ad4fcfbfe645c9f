"""The events shortcut (rules_engine/http/shortcut.py) answers exactly as FastAPI's route does.

Two servers, one with the shortcut and one without (`Settings(shortcut=False)`), each on its own
store, get the same requests in the same order: every answer — status, headers, body, byte for
byte — must be the same. The requests are drawn by hypothesis from what a client can get wrong
and right: keys (none, malformed, unknown, another scheme, without the scope, limited to another
program), programs that do and do not run, query strings the shortcut takes and those it leaves
to FastAPI, bodies that are events (new ones, redeliveries, the same id with another payload,
one dated before the customer's latest) and bodies that are not (empty, not UTF-8, not JSON, a
key twice, too large, not an event). The two stores stay in step across examples, as both see
the same sequence.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.http import Settings, create_app
from rules_engine.http.app import Service
from rules_engine.http.direct_request import Direct
from rules_engine.http.shortcut import Shortcut
from rules_engine.store.keys import new_key
from tests.conftest import ROOT
from tests.http.conftest import PROGRAMS, Server, counters, purchase, serving

NOW = dt.datetime(2026, 12, 8, 12, 0, tzinfo=dt.UTC)
MAX_BODY = 2048


@dataclass
class Pair:
    fast: Server
    plain: Server
    tokens: dict[str, str]


def _settings(folder: Path, db: str, *, shortcut: bool) -> Settings:
    return Settings(
        programs=folder, db=db, max_body=MAX_BODY, clock=lambda: NOW, shortcut=shortcut, docs=False
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    servers = []
    keys = {
        "writer": new_key(["events:write"], []),
        "reader": new_key(["customers:read"], []),
        "elsewhere": new_key(["events:write"], ["book-nook"]),
        "admin": new_key(["admin"], []),
    }
    folders = []
    for name in ("fast", "plain"):
        folder = tmp_path_factory.mktemp(f"programs-{name}")
        for program in PROGRAMS:
            (folder / f"{program}.yaml").write_bytes((ROOT / "programs" / f"{program}.yaml").read_bytes())
        folders.append((folder, str(tmp_path_factory.mktemp(f"db-{name}") / "loyalty.db")))
    with (
        serving(_settings(*folders[0], shortcut=True)) as fast,
        serving(_settings(*folders[1], shortcut=False)) as plain,
    ):
        for server in (fast, plain):
            with server.runtime.stores.keys() as store:
                for _, key in keys.values():
                    store.add_key(key)
        servers = [fast, plain]
        yield Pair(*servers, tokens={name: token for name, (token, _) in keys.items()})


def _event(number: int, customer: str, price: str, minutes: int) -> bytes:
    at = NOW - dt.timedelta(hours=2) + dt.timedelta(minutes=minutes)
    return jsonio.dumps(purchase(number, customer, price=price, at=at)).encode()


AUTHORIZATION = st.sampled_from(
    [
        None,
        "writer",
        "reader",
        "elsewhere",
        "admin",
        "Basic abc",
        "Bearer lk_nope_nope",
        "Bearer",
        "bearer:writer",
    ]
)
PROGRAM = st.sampled_from(["coffee-club", "book-nook", "no-such-program"])
QUERY = st.sampled_from(
    ["", "trace=true", "trace=false", "trace=1", "trace=no", "trace=maybe", "x=1", "trace=true&trace=false"]
)
EVENT = st.builds(
    _event,
    st.integers(1, 4),
    st.sampled_from(["ann", "bob"]),
    st.sampled_from(["320.00", "180.50", "0.10"]),
    st.integers(0, 100),
)
NOT_AN_EVENT = st.sampled_from(
    [
        b"",
        b"   ",
        b"\xff\xfe",
        b"{not json",
        b'{"id": "a", "id": "b"}',
        b"[1, 2]",
        b'{"id": "x-1", "type": "purchase"}',
        b'{"id": "x-2", "type": "purchase", "time": "yesterday", "customer": "ann", "items": []}',
        b'{"id": "x-3", "type": "purchase", "time": "2026-12-08T10:00:00+00:00", "customer": "ann",'
        b' "items": [{"sku": "A", "price": 1e400, "qty": 1}]}',
        b'{"pad": "' + b"x" * MAX_BODY + b'"}',
        # read from the text (events.handle_text): a key twice in a line, an escape, a custom type
        b'{"id": "x-4", "type": "purchase", "time": "2026-12-08T10:00:00+00:00", "customer": "ann",'
        b' "items": [{"sku": "A", "price": 1, "qty": 1, "qty": 2}]}',
        b'{"id": "x-5", "type": "purchase", "time": "2026-12-08T10:00:00+00:00", "customer": "\\u0061nn",'
        b' "items": [{"sku": "A", "price": 1, "qty": 1}]}',
        b'{"id": "x-6", "type": "newsletter_signup", "time": "2026-12-08T10:00:00+00:00", "customer": "bob"}',
        b'{"id": "x-7", "type": "signup", "time": "2026-12-08T10:00:00+00:00", "customer": "bob",'
        b' "extra": 1}',
    ]
)
REQUEST = st.tuples(AUTHORIZATION, PROGRAM, QUERY, st.one_of(EVENT, NOT_AN_EVENT), st.integers(0, 10**6))


def _send(server: Server, tokens: dict[str, str], request: tuple[Any, ...]) -> httpx.Response:
    authorization, program, query, body, number = request
    headers = {"Content-Type": "application/json", "X-Request-Id": f"req-{number}"}
    if authorization is not None:
        if authorization == "bearer:writer":  # the scheme's case does not matter
            headers["Authorization"] = f"bearer {tokens['writer']}"
        elif authorization in tokens:
            headers["Authorization"] = f"Bearer {tokens[authorization]}"
        else:
            headers["Authorization"] = authorization
    url = f"{server.url}/v1/programs/{program}/events" + (f"?{query}" if query else "")
    return httpx.post(url, content=body, headers=headers, timeout=30.0)


@given(requests=st.lists(REQUEST, min_size=1, max_size=6))
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_shortcut_answers_as_fastapi_does(pair: Pair, requests: list[tuple[Any, ...]]) -> None:
    for request in requests:
        fast = _send(pair.fast, pair.tokens, request)
        plain = _send(pair.plain, pair.tokens, request)
        assert fast.status_code == plain.status_code, (request, fast.text, plain.text)
        assert fast.content == plain.content, request
        assert _headers(fast) == _headers(plain), request


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    """Every header but the date, which the server writes from its clock."""
    return [(name, value) for name, value in response.headers.multi_items() if name != "date"]


def test_the_shortcut_takes_the_plain_forms_and_leaves_the_rest_to_fastapi(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain forms are taken by the shortcut, or before it by the protocol's direct way
    (direct.py, the server's protocol): either way by the same steps (`shortcut.answer`)."""
    taken: list[str] = []
    event = Shortcut._event
    start = Direct.start

    async def counted(self: Shortcut, scope: Any, *args: Any) -> None:
        taken.append(scope["query_string"].decode())
        await event(self, scope, *args)

    def counted_direct(self: Direct) -> None:
        taken.append(self.query.decode())
        start(self)

    monkeypatch.setattr(Shortcut, "_event", counted)
    monkeypatch.setattr(Direct, "start", counted_direct)
    for number, query in enumerate(["", "trace=true", "trace=false", "trace=1", "trace=yes", "x=1"]):
        request = ("writer", "coffee-club", query, _event(900 + number, "cyd", "320.00", 50), number)
        answer = _send(pair.fast, pair.tokens, request)
        assert answer.status_code == 200, answer.text
        assert _send(pair.plain, pair.tokens, request).content == answer.content
        assert ("trace" in jsonio.loads(answer.text)["outcome"]) == (
            query in ("trace=true", "trace=1", "trace=yes")
        )
    assert taken == ["", "trace=true", "trace=false"]


def test_the_front_takes_the_events_before_fastapi_only_while_telemetry_is_off(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Service.front` takes the shortcut's requests before FastAPI's layers, asking FastAPI's
    telemetry check at most once a second; while telemetry is on, the events go through FastAPI
    (the shortcut takes them inside) and are answered the same. The server's protocol serves
    them itself (direct.py) on the same condition: its requests are counted with the front's."""
    app = pair.fast.app
    assert isinstance(app, Service) and app.front is not None
    fronted: list[str] = []
    front = app.front
    start = Direct.start

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        fronted.append(scope["path"])
        await front(scope, receive, send)

    def counted_direct(self: Direct) -> None:
        fronted.append(self.path)
        start(self)

    monkeypatch.setattr(app, "front", counted)
    monkeypatch.setattr(Direct, "start", counted_direct)
    telemetry: Any = app._native_telemetry  # FastAPI's own, as `Service` asks it
    monkeypatch.setattr(app, "_untraced_until", -1.0)
    for number, on in enumerate([False, True, False]):
        monkeypatch.setattr(telemetry, "enabled", lambda on=on: on)
        monkeypatch.setattr(app, "_untraced_until", -1.0)  # the next request asks again
        minutes = 70 + 2 * number
        request = ("writer", "coffee-club", "", _event(1960 + number, "fay", "320.00", minutes), number)
        answer = _send(pair.fast, pair.tokens, request)
        assert answer.status_code == 200, answer.text
        assert answer.content == _send(pair.plain, pair.tokens, request).content
        assert len(fronted) == (1 if number < 2 else 2)
        wrong = ("writer", "coffee-club", "trace=1", _event(1970 + number, "fay", "320.00", minutes + 1), 1)
        assert _send(pair.fast, pair.tokens, wrong).content == _send(pair.plain, pair.tokens, wrong).content
        assert len(fronted) == (1 if number < 2 else 2)  # a form the shortcut leaves: FastAPI's
    monkeypatch.setattr(telemetry, "enabled", lambda: True)  # asked again only after a second:
    # the last answer holds until `_untraced_until` (pinned ahead here, so that a loaded machine
    # taking more than a second between the two requests cannot make this one ask again)
    monkeypatch.setattr(app, "_untraced_until", time.monotonic() + 3600)
    request = ("writer", "coffee-club", "", _event(1980, "fay", "320.00", 90), 2)
    assert _send(pair.fast, pair.tokens, request).content == _send(pair.plain, pair.tokens, request).content
    assert len(fronted) == 3


def test_the_metrics_count_as_fastapi_counts(pair: Pair) -> None:
    """Requests by route template and status, events by type and result: the same counts."""
    request = ("writer", "coffee-club", "", _event(950, "dee", "320.00", 60), 1)
    for server in (pair.fast, pair.plain):
        assert _send(server, pair.tokens, request).status_code == 200
    counts = [counters(httpx.get(f"{server.url}/metrics").text) for server in (pair.fast, pair.plain)]
    assert (
        'loyalty_http_requests_total{method="POST",route="/v1/programs/{program}/events",status="200"}'
        in counts[0]
    )
    assert counts[0] == counts[1]


def test_events_that_find_the_store_busy_are_answered_503_after_the_pools_wait(pair: Pair) -> None:
    """Events through the shortcut that find the store's connection busy past the pool's wait
    are answered 503 RE810 (a redelivery is safe); once it is free, events go through again."""
    runtime = pair.fast.runtime
    requests = [("writer", "coffee-club", "", _event(970 + n, "eve", "320.00", 70 + n), n) for n in range(3)]
    runtime.stores.wait = 0.5
    try:
        with runtime.stores.borrow("coffee-club"), ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(_send, pair.fast, pair.tokens, request) for request in requests[:2]]
            answers = [future.result(timeout=30) for future in waiting]
        assert [(a.status_code, a.json()["code"], a.headers["retry-after"]) for a in answers] == [
            (503, "RE810", "1")
        ] * 2
        assert _send(pair.fast, pair.tokens, requests[2]).status_code == 200
    finally:
        runtime.stores.wait = 30.0


def test_an_exception_after_the_answer_began_is_logged_and_raised_as_fastapi_does(
    program_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception `Observe` lets through (half an answer is out) is logged by the app's handler
    under the request id and raised again for the server, as Starlette's error middleware does for
    a request that goes through FastAPI."""
    app = create_app(Settings(programs=program_dir, db=str(tmp_path / "loyalty.db")))
    assert isinstance(app, Service)

    async def half(scope: Any, receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["request_id"] = "req-half"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("after the start")

    app.front = half
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    scope = {
        "type": "http", "method": "POST", "path": "/v1/programs/coffee-club/events", "query_string": b"",
        "root_path": "", "headers": [], "scheme": "http", "server": ("127.0.0.1", 8000),
        "http_version": "1.1",
    }  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="rules_engine.http"), pytest.raises(RuntimeError):
        asyncio.run(app(scope, receive, send))
    assert [message["type"] for message in sent] == ["http.response.start"]
    logged = [record for record in caplog.records if record.getMessage() == "unexpected error"]
    assert len(logged) == 1 and getattr(logged[0], "request_id", None) == "req-half"
