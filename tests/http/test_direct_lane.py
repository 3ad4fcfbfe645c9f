"""The events protocol's requests waiting for the lane (direct_request.py `Direct`, the lane's receiver:
threads.py `Lane.submit`), where a server on sockets cannot hold them: a request cancelled at the
lane when the shutdown's grace runs out is answered with uvicorn's 500 and its late answer dropped;
a lane that refuses the call (shut down) fails the request as the ASGI way's `await lane.run`
does. The protocol is fed raw bytes on a transport that keeps what is written (as
bench/bench_protocol.py feeds it), the lane held by a stub of `submit`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from rules_engine import jsonio
from rules_engine.http import Settings, create_app
from rules_engine.http.direct import EventsProtocol
from rules_engine.http.direct_request import Direct
from rules_engine.store.keys import new_key
from tests.http.conftest import purchase


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


Held = list[tuple[Any, Any]]
Check = Callable[[EventsProtocol, _Transport, Held], Coroutine[Any, Any, None]]


def _served(program_dir: Path, tmp_path: Path, submit: Callable[..., None] | None, check: Check) -> None:
    """A request posted to a protocol whose lane's `submit` holds each call (or is `submit`),
    then `check` run with what was held."""
    settings = Settings(programs=program_dir, db=str(tmp_path / "loyalty.db"), docs=False, key_cache=600)
    app = create_app(settings)
    runtime = app.state.runtime
    token, key = new_key(["events:write"], [])
    with runtime.stores.keys() as store:
        store.add_key(key)
    runtime.keys.read(key.id)  # cached: the request goes the plain way, to `submit`
    held: Held = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        runtime.lane.submit = submit or (lambda on, program, asked, receiver: held.append((asked, receiver)))
        config = uvicorn.Config(app=app, http=EventsProtocol, access_log=False, log_level="critical")
        config.load()
        protocol = EventsProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        transport = _Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        body = jsonio.dumps(purchase(1)).encode()
        head = (
            b"POST /v1/programs/coffee-club/events HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nAuthorization: Bearer " + token.encode() + b"\r\n"
        )
        protocol.data_received(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await check(protocol, transport, held)

    try:
        asyncio.run(main())
    finally:
        runtime.stores.close()


def test_a_request_cancelled_at_the_lane_gets_uvicorns_500_and_its_late_answer_is_dropped(
    program_dir: Path, tmp_path: Path
) -> None:
    async def check(protocol: EventsProtocol, transport: _Transport, held: Held) -> None:
        assert len(held) == 1  # handed over from the parser's callback
        receiver = held[0][1]
        assert type(receiver) is Direct and receiver in protocol.tasks  # waited for at shutdown
        assert transport.written == []
        assert receiver.cancel("the grace ran out") is True
        assert b"".join(transport.written).startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert transport.written[-1].endswith(b"\r\n\r\nInternal Server Error")
        assert transport.closed and receiver not in protocol.tasks
        written = list(transport.written)
        assert receiver.cancel() is False  # once
        assert receiver.cancelled()  # the lane hands it nothing more, and anything handed is dropped
        receiver.set_result((b'{"late": true}', 1))
        receiver.set_exception(RuntimeError("late"))
        assert transport.written == written

    _served(program_dir, tmp_path, None, check)


def test_a_lane_that_refuses_the_call_fails_the_request_as_the_asgi_way_does(
    program_dir: Path, tmp_path: Path
) -> None:
    def refused(on: Any, program: str, asked: Any, receiver: Any) -> None:
        raise RuntimeError("the event lane is shut down")

    async def check(protocol: EventsProtocol, transport: _Transport, held: Held) -> None:
        for _ in range(20):
            await asyncio.sleep(0.05)
            if transport.written:
                break
        answer = b"".join(transport.written)
        assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), answer[:200]
        assert b'"code":"RE809"' in answer.replace(b" ", b"")  # `Observe`'s unexpected error
        assert not protocol.tasks

    _served(program_dir, tmp_path, refused, check)
