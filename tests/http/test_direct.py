"""The events route served by the protocol itself (rules_engine/http/direct.py) answers exactly as
uvicorn's ASGI way does.

Two servers on the same settings, each on its own store, one on `loyalty serve`'s protocol
(`EventsProtocol`: the events route served without ASGI) and one on the protocol it subclasses
(`NoDelayHttpToolsProtocol`: every request through uvicorn's ASGI cycle, `Service`, `Observe`
and the shortcut), get the same bytes over raw sockets, in the same order, on connections of
their own; every byte they answer must be the same but the `date` header (the server's clock)
and the request ids each makes up (32 hex digits, masked). What is sent is what a client gets
right and wrong: events new and redelivered, the same id with another payload, bodies that are
not JSON, empty, too large (declared, or chunked past the limit), chunked bodies, another
content type, no key, a wrong one, a key without the scope or limited to another program, an
unknown program, `?trace=true`, HTTP/1.0 and `Connection: close`, `Expect: 100-continue` (with a
key that passes, and one refused before the body is asked for), pipelined requests mixed with
other routes, and bytes split anywhere (hypothesis). The metrics' counters and the access log's
lines must come out the same too.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.errors import Diagnostic, StoreError
from rules_engine.http import Settings
from rules_engine.http.direct import EventsProtocol
from rules_engine.http.direct_request import Direct
from rules_engine.http.protocol import NoDelayHttpToolsProtocol
from rules_engine.http.routes import events
from rules_engine.store.keys import new_key
from tests.conftest import ROOT
from tests.http.conftest import PROGRAMS, Server, counters, purchase, serving

NOW = dt.datetime(2026, 12, 8, 12, 0, tzinfo=dt.UTC)
MAX_BODY = 2048
_DATE = re.compile(rb"\r\ndate: [^\r]*")
_MADE_ID = re.compile(rb"[0-9a-f]{32}")


@dataclass
class Pair:
    direct: Server
    asgi: Server
    tokens: dict[str, str]

    def both(self) -> tuple[Server, Server]:
        return self.direct, self.asgi


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    keys = {
        "writer": new_key(["events:write"], []),
        "reader": new_key(["customers:read"], []),
        "elsewhere": new_key(["events:write"], ["book-nook"]),
    }
    made = []
    for name in ("direct", "asgi"):
        folder = tmp_path_factory.mktemp(f"programs-{name}")
        for program in PROGRAMS:
            (folder / f"{program}.yaml").write_bytes((ROOT / "programs" / f"{program}.yaml").read_bytes())
        db = str(tmp_path_factory.mktemp(f"db-{name}") / "loyalty.db")
        made.append(
            Settings(programs=folder, db=db, max_body=MAX_BODY, clock=lambda: NOW, docs=False, key_cache=600)
        )
    with serving(made[0], EventsProtocol) as direct, serving(made[1], NoDelayHttpToolsProtocol) as asgi:
        for server in (direct, asgi):
            with server.runtime.stores.keys() as store:
                for _, key in keys.values():
                    store.add_key(key)
        yield Pair(direct, asgi, {name: token for name, (token, _) in keys.items()})


def _event(number: int, customer: str = "ann", price: str = "320.00") -> bytes:
    at = NOW - dt.timedelta(hours=2) + dt.timedelta(minutes=number)
    return jsonio.dumps(purchase(number, customer, price=price, at=at)).encode()


def request(
    body: bytes,
    *,
    key: str | None = "writer",
    program: str = "coffee-club",
    query: str = "",
    extra: tuple[str, ...] = (),
    chunked: bool = False,
    version: str = "1.1",
    path: str | None = None,
    method: str = "POST",
) -> Callable[[dict[str, str]], bytes]:
    """A request's bytes, once the tokens are known (`key` names one; any other text is sent as
    the `Authorization` header itself)."""

    def made(tokens: dict[str, str]) -> bytes:
        target = path or f"/v1/programs/{program}/events" + (f"?{query}" if query else "")
        lines = [f"{method} {target} HTTP/{version}", "Host: 127.0.0.1", "Content-Type: application/json"]
        if key is not None:
            lines.append(f"Authorization: Bearer {tokens[key]}" if key in tokens else f"Authorization: {key}")
        lines += extra
        if chunked:
            lines.append("Transfer-Encoding: chunked")
            half = len(body) // 2
            sent = b"".join(
                b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]) if part
            )
            sent += b"0\r\n\r\n"
        else:
            lines.append(f"Content-Length: {len(body)}")
            sent = body
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + sent

    return made


class Connection:
    """A raw HTTP/1.1 connection: bytes sent as given, answers read one by one."""

    def __init__(self, server: Server) -> None:
        host, port = server.url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> bytes:
        """The next answer (an interim `100 Continue` is one), its date and made-up ids masked."""
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = self.buffer[:end]
        found = re.search(rb"\r\ncontent-length: (\d+)", head)
        end += int(found.group(1)) if found else 0
        while len(self.buffer) < end:
            self._more()
        whole, self.buffer = self.buffer[:end], self.buffer[end:]
        return _MADE_ID.sub(b"<id>", _DATE.sub(b"\r\ndate: <date>", whole))

    def closed(self) -> bool:
        """Whether the server closed the connection (waits up to a second)."""
        self.sock.settimeout(1)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(30)

    def _more(self) -> None:
        data = self.sock.recv(65536)
        assert data, f"the connection closed with {self.buffer!r} read"
        self.buffer += data

    def close(self) -> None:
        self.sock.close()


def exchange(
    server: Server, tokens: dict[str, str], requests: list[Callable[[dict[str, str]], bytes]], cuts: list[int]
) -> tuple[list[bytes], bool]:
    """The requests sent on one connection, back to back (pipelined), their bytes cut at `cuts`
    (each piece sent on its own, a moment after the one before): the answers, and whether the
    server closed the connection after them."""
    data = b"".join(made(tokens) for made in requests)
    connection = Connection(server)
    try:
        start = 0
        for cut in sorted({min(max(cut, 1), len(data)) for cut in cuts} | {len(data)}):
            connection.send(data[start:cut])
            start = cut
            time.sleep(0.002)
        answers = [connection.answer() for _ in requests]
        return answers, connection.closed()
    finally:
        connection.close()


def same(
    pair: Pair, requests: list[Callable[[dict[str, str]], bytes]], cuts: list[int] | None = None
) -> list[bytes]:
    """The answers of the two servers to the same bytes, which must be the same."""
    direct = exchange(pair.direct, pair.tokens, requests, cuts or [])
    asgi = exchange(pair.asgi, pair.tokens, requests, cuts or [])
    assert direct == asgi
    return direct[0]


def test_an_event_its_redelivery_and_its_conflict_are_answered_alike(pair: Pair) -> None:
    first = _event(1)
    answers = same(pair, [request(first, extra=("X-Request-Id: mine-1",))])
    assert answers[0].startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nx-request-id: mine-1\r\n" in answers[0]
    again = same(pair, [request(first)])[0]
    assert b'"duplicate":true' in again.replace(b" ", b"") and b"x-request-id: <id>" in again
    other = _event(1, price="321.00")  # the same id, another payload
    assert same(pair, [request(other)])[0].startswith(b"HTTP/1.1 409 ")


@pytest.mark.parametrize(
    "made",
    [
        request(b"{not json"),
        request(b""),
        request(b"\xff\xfe"),
        request(b'{"id": "x-1", "type": "purchase"}'),
        request(b'{"pad": "' + b"x" * MAX_BODY + b'"}'),  # declared too large: before the key
        request(b'{"pad": "' + b"x" * MAX_BODY + b'"}', key=None),
        request(b'{"pad": "' + b"x" * MAX_BODY + b'"}', chunked=True),  # found too large reading
        request(b'{"pad": "' + b"x" * MAX_BODY + b'"}', chunked=True, key="reader"),
        request(_event(2), chunked=True),
        request(_event(3), extra=("Content-Type: text/plain",)),
        request(_event(4), key=None),
        request(_event(4), key="Bearer lk_nope_nope"),
        request(_event(4), key="Basic abc"),
        request(_event(4), key="reader"),
        request(_event(4), key="elsewhere"),
        request(_event(4), program="no-such-program"),
        request(_event(5), query="trace=true"),
        request(_event(6), query="trace=1"),  # FastAPI's, on both
        request(_event(7), extra=("X-Request-Id: not an id!",)),
        request(_event(8), program="caf%C3%A9"),
    ],
)
def test_each_kind_of_request_is_answered_alike(pair: Pair, made: Callable[[dict[str, str]], bytes]) -> None:
    same(pair, [made])


def test_connection_close_and_http_1_0_close_the_connection_after_the_answer(pair: Pair) -> None:
    for made in (
        request(_event(20), extra=("Connection: close",)),
        request(_event(21), version="1.0"),
        request(b"{not json", version="1.0"),
    ):
        direct = exchange(pair.direct, pair.tokens, [made], [])
        assert direct == exchange(pair.asgi, pair.tokens, [made], [])
        assert direct[1] and b"\r\nconnection: close\r\n" in direct[0][0]
    kept = exchange(pair.direct, pair.tokens, [request(_event(22))], [])
    assert kept == exchange(pair.asgi, pair.tokens, [request(_event(22))], [])  # the stores in step
    assert not kept[1] and b"connection: close" not in kept[0][0]


def test_pipelined_requests_are_answered_in_order_among_other_routes(pair: Pair) -> None:
    health = request(b"", path="/healthz", method="GET", key=None)
    answers = same(
        pair,
        [
            request(_event(30)),
            health,
            request(_event(31), key=None),
            request(_event(30)),
            health,
            request(b"{"),
        ],
    )
    assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 401 Unauthorized",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 400 Bad Request",
    ]


def _expecting(
    server: Server, tokens: dict[str, str], made: Callable[[dict[str, str]], bytes]
) -> list[bytes]:
    """A request with `Expect: 100-continue`: its head alone, then what the server answers; the
    body sent only after a `100 Continue`."""
    data = made(tokens)
    head, body = data.split(b"\r\n\r\n", 1)
    connection = Connection(server)
    try:
        connection.send(head + b"\r\nExpect: 100-continue\r\n\r\n")
        answers = [connection.answer()]
        if answers[0].startswith(b"HTTP/1.1 100 "):
            connection.send(body)
            answers.append(connection.answer())
        return answers
    finally:
        connection.close()


def test_expect_100_continue_is_answered_when_the_body_is_asked_for(pair: Pair) -> None:
    for made, statuses in (
        (request(_event(40)), [b"100", b"200"]),
        (request(_event(41), key=None), [b"401"]),  # refused before the body is read: no 100
        (request(b'{"pad": "' + b"x" * MAX_BODY + b'"}'), [b"413"]),
    ):
        direct = _expecting(pair.direct, pair.tokens, made)
        assert direct == _expecting(pair.asgi, pair.tokens, made)
        assert [answer.split(b" ")[1] for answer in direct] == statuses


def test_a_client_gone_before_its_answer_leaves_the_connection_and_the_server_well(pair: Pair) -> None:
    for server in pair.both():
        connection = Connection(server)
        whole = request(_event(50))(pair.tokens)
        connection.send(whole[:-5])  # the body cut short, then gone
        connection.close()
    for server in pair.both():
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/healthz").status_code == 200
    same(pair, [request(_event(51))])


_PIECES = st.lists(
    st.sampled_from(
        [
            (lambda n: request(_event(60 + n))),
            (lambda n: request(_event(60 + n), chunked=True)),
            (lambda n: request(_event(60 + n), key=None)),
            (lambda n: request(b"[1, 2]")),
            (lambda n: request(_event(60 + n), query="trace=false")),
        ]
    ),
    min_size=1,
    max_size=4,
)


@given(
    kinds=_PIECES,
    numbers=st.lists(st.integers(0, 30), min_size=4, max_size=4),
    cuts=st.lists(st.integers(1, 3000), max_size=6),
)
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_requests_cut_anywhere_are_answered_alike(
    pair: Pair, kinds: list[Callable[[int], Any]], numbers: list[int], cuts: list[int]
) -> None:
    same(pair, [kind(number) for kind, number in zip(kinds, numbers, strict=False)], cuts)


def test_the_metrics_and_the_log_lines_come_out_alike(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rules_engine.http.access")
    made = [
        request(_event(70), extra=("X-Request-Id: log-1",)),
        request(_event(70)),
        request(b"{", key="reader"),
        request(b'{"pad": "' + b"x" * MAX_BODY + b'"}'),
        request(_event(71), key="elsewhere"),
    ]
    lines: list[list[dict[str, Any]]] = []
    for server in pair.both():
        caplog.clear()
        exchange(server, pair.tokens, made, [])
        deadline = time.monotonic() + 10
        while len(caplog.records) < len(made) and time.monotonic() < deadline:
            time.sleep(0.01)
        lines.append(
            [
                {name: value for name, value in record.fields.items() if name != "ms"}  # type: ignore[attr-defined]
                for record in caplog.records
                if record.name == "rules_engine.http.access"
            ]
        )
    for line in lines[0] + lines[1]:
        line["request_id"] = _MADE_ID.sub(b"<id>", line["request_id"].encode()).decode()
    assert lines[0] == lines[1] and len(lines[0]) == len(made)
    assert [line.get("route") for line in lines[0]][3] == "unmatched"  # declared too large
    counts = [counters(httpx.get(f"{server.url}/metrics").text) for server in pair.both()]
    assert counts[0] == counts[1]
    assert 'loyalty_http_requests_total{method="POST",route="unmatched",status="413"}' in counts[0]


def test_the_direct_way_served_the_events(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above is between two ways only if the direct one took the events."""
    served: list[str] = []
    start = Direct.start

    def counted(self: Direct) -> None:
        served.append(self.program)
        start(self)

    monkeypatch.setattr(Direct, "start", counted)
    same(pair, [request(_event(80)), request(b"", path="/healthz", method="GET", key=None)])
    same(pair, [request(_event(81), query="trace=yes")])
    assert served == ["coffee-club"]


def test_an_event_with_a_cached_key_takes_no_task_and_a_refusal_does(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain way (`Direct._go`: the key cached, the event handed to the lane, no task) is the
    one an ordinary event takes; a refusal is answered on a task, as `Observe` answers it."""
    same(pair, [request(_event(90))])  # the key read, if it was not (the cache holds it 600 s)
    tasks: list[str] = []
    made = Direct._task

    def counted(self: Direct, *args: Any) -> None:
        tasks.append(self.program)
        made(self, *args)

    monkeypatch.setattr(Direct, "_task", counted)
    assert same(pair, [request(_event(91))])[0].startswith(b"HTTP/1.1 200 ")
    assert tasks == []
    assert same(pair, [request(_event(92), key="reader")])[0].startswith(b"HTTP/1.1 403 ")
    assert tasks == ["coffee-club"]  # the direct server's; the other has no `Direct`


def test_answered_requests_are_freed_by_their_reference_counts(pair: Pair) -> None:
    """A request answered the direct way is freed when it is done, by its reference count: one
    left in a reference cycle waits for the garbage collector, and the collections that came for
    them paused a busy worker for tens of milliseconds, every ~1,700 requests at 64 in flight
    (direct_request.py `_Answered`). Seen with the collector saving what it finds unreachable rather than
    freeing it: none of these requests among it. (The connection's last request is another route:
    a connection's protocol holds its last request until it is itself freed.)"""
    requests = [
        request(_event(900, "gcy")),
        request(_event(900, "gcy")),  # its redelivery
        request(_event(901, "gcy"), query="trace=true"),
        request(_event(902, "gcy"), chunked=True),
        request(_event(903, "gcy"), key=None),  # refused: no key
        request(b'{"customer": "gcy"'),  # not JSON
        request(_event(904, "gcy")),
        request(b"", path="/healthz", method="GET"),
    ]
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        answers, _ = exchange(pair.direct, pair.tokens, requests, [])
        time.sleep(0.2)  # the server's side of the closed connection let go
        gc.collect()
        left = [
            found for found in gc.garbage if isinstance(found, Direct) and b'"gcy"' in b"".join(found.body)
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [
        b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK",
        b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK",
    ]  # fmt: skip
    assert left == []


def test_a_closed_connections_protocol_is_freed_by_its_reference_count(pair: Pair) -> None:
    """A connection closed, by the server after `Connection: close` or by the client after its
    answer, leaves its protocol and its last request to their reference counts: they referred to
    each other, ~20 objects a connection that only the garbage collector freed (protocol.py
    `connection_lost`). Seen as in the test above, on both servers."""
    closing = [request(_event(910, "gcz"), extra=("Connection: close",))]
    kept = [request(_event(911, "gcz")), request(_event(912, "gcz"))]
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        answers = [
            exchange(server, pair.tokens, sent, [])[0] for server in pair.both() for sent in (closing, kept)
        ]
        time.sleep(0.2)  # the server's side of the closed connections let go
        gc.collect()
        left = [
            type(found).__name__
            for found in gc.garbage
            if isinstance(found, NoDelayHttpToolsProtocol | Direct)
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert [answer.split(b"\r\n", 1)[0] for sent in answers for answer in sent] == [b"HTTP/1.1 200 OK"] * 6
    assert left == []


def test_a_refusal_for_a_client_gone_meanwhile_is_logged_as_the_asgi_way_logs_it(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The store fails an event whose client left while it waited: both servers log the request
    with the refusal's status, and nothing else. Until 2026-12-07 the direct way built the
    problem's request from the connection's parser, gone with the client: an AttributeError,
    logged as an exception in the application, and the request as a 500."""

    def failing(*_: Any, **__: Any) -> Any:
        time.sleep(0.3)  # the client is gone by then
        raise StoreError([Diagnostic("RE605", "the database failed")])

    monkeypatch.setattr(events, "decide_together", failing)
    monkeypatch.setattr(events, "decide", failing)
    caplog.set_level(logging.INFO)
    logged = []
    for number, server in enumerate(pair.both()):
        caplog.clear()
        connection = Connection(server)
        connection.send(request(_event(80 + number))(pair.tokens))
        time.sleep(0.05)
        connection.close()
        deadline = time.monotonic() + 10
        while (
            not any(r.name == "rules_engine.http.access" for r in caplog.records)
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        logged.append(
            [
                (record.name, getattr(record, "fields", {}).get("status"))
                for record in caplog.records
                if record.name.startswith(("rules_engine.http.access", "uvicorn.error"))
            ]
        )
    assert logged[0] == logged[1] == [("rules_engine.http.access", 503)], logged
