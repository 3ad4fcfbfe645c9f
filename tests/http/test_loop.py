"""The service's event loop (rules_engine/http/loop.py): calls handed back from other threads run
on the loop, in order, none lost, waking the loop only when it sleeps."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rules_engine.http import loop as loops
from rules_engine.http.loop import ServiceLoop

T = TypeVar("T")


def on_service_loop(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=ServiceLoop) as runner:
        return runner.run(main)


def test_calls_handed_back_run_on_the_loop_in_the_order_each_thread_handed_them() -> None:
    seen: list[tuple[int, int, bool]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ServiceLoop)
        here = threading.get_ident()
        done = loop.create_future()

        def note(sender: int, number: int) -> None:
            seen.append((sender, number, threading.get_ident() == here))
            if len(seen) == 4 * 500 and not done.done():
                done.set_result(None)

        def send(sender: int) -> None:
            for number in range(500):
                loop.hand_back(note, sender, number)
                if number % 50 == 0:
                    time.sleep(0.001)  # the loop falls asleep in between, and is woken

        senders = [threading.Thread(target=send, args=(s,)) for s in range(4)]
        for sender in senders:
            sender.start()
        await asyncio.wait_for(done, 10)
        for sender in senders:
            sender.join()

    on_service_loop(main())
    assert all(on_loop for _, _, on_loop in seen)
    for sender in range(4):
        assert [n for s, n, _ in seen if s == sender] == list(range(500))


def test_a_sleeping_loop_is_woken_by_a_call_handed_back() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ServiceLoop)
        answer = loop.create_future()
        handed = 0.0

        def later() -> None:
            nonlocal handed
            time.sleep(0.05)  # the loop is asleep in its selector by now: nothing else to do
            handed = time.monotonic()
            loop.hand_back(answer.set_result, "woken")

        threading.Thread(target=later).start()
        assert await asyncio.wait_for(answer, 30) == "woken"  # its only timer: 30 s away
        return time.monotonic() - handed

    assert on_service_loop(main()) < 5.0  # woken at once, not by the timer


def test_a_loop_that_is_awake_collects_the_calls_without_ringing(monkeypatch: pytest.MonkeyPatch) -> None:
    rung = 0
    ring = loops._Collecting.ring

    def counted(self: loops._Collecting) -> None:
        nonlocal rung
        rung += 1
        ring(self)

    monkeypatch.setattr(loops._Collecting, "ring", counted)
    got: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ServiceLoop)

        def send() -> None:
            for n in range(100):
                loop.hand_back(got.append, n)

        handing = threading.Thread(target=send)
        handing.start()
        handing.join()  # while the loop runs this coroutine: awake, not in its selector
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    on_service_loop(main())
    assert got == list(range(100))
    assert rung == 0


def test_no_call_is_lost_whenever_it_is_handed_back() -> None:
    """Calls handed back at random moments, the loop now asleep, now busy, now between the two:
    every future is resolved (a lost wake-up would leave one waiting until the timeout)."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ServiceLoop)
        futures = [loop.create_future() for _ in range(2000)]
        draw = random.Random(17)
        pauses = [draw.choice((0.0, 0.0, 0.0001, 0.0005)) for _ in futures]

        def send(part: int) -> None:
            for index in range(part, len(futures), 4):
                if pauses[index]:
                    time.sleep(pauses[index])
                loop.hand_back(futures[index].set_result, index)

        senders = [threading.Thread(target=send, args=(p,)) for p in range(4)]
        for sender in senders:
            sender.start()
        busy = time.monotonic() + 0.05
        while time.monotonic() < busy:  # some of them while the loop is busy
            await asyncio.sleep(0)
        answers = await asyncio.wait_for(asyncio.gather(*futures), 30)
        for sender in senders:
            sender.join()
        return sum(answers)

    assert on_service_loop(main()) == sum(range(2000))


def test_a_call_that_raises_is_reported_and_the_others_still_run() -> None:
    reported: list[BaseException] = []
    got: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ServiceLoop)
        loop.set_exception_handler(lambda _loop, context: reported.append(context["exception"]))
        done = loop.create_future()

        def fail() -> None:
            raise ValueError("broken")

        def send() -> None:
            loop.hand_back(got.append, "before")
            loop.hand_back(fail)
            loop.hand_back(got.append, "after")
            loop.hand_back(done.set_result, None)

        threading.Thread(target=send).start()
        await asyncio.wait_for(done, 10)

    on_service_loop(main())
    assert got == ["before", "after"]
    assert [str(error) for error in reported] == ["broken"]


def test_a_closed_loop_refuses_calls_and_lets_go_of_its_eventfd() -> None:
    def open_fds() -> int:
        return len(list(Path(f"/proc/{os.getpid()}/fd").iterdir()))

    before = open_fds()
    loop = ServiceLoop()
    assert open_fds() > before
    loop.close()
    assert open_fds() == before
    with pytest.raises(RuntimeError, match="closed"):
        loop.hand_back(print, "never")


def test_a_call_at_the_turns_end_runs_before_the_loop_sleeps_and_what_it_schedules_runs_at_once() -> None:
    order: list[str] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ServiceLoop)
        answer = loop.create_future()

        def at_end() -> None:
            order.append("turn's end")
            loop.call_soon(answer.set_result, "scheduled")  # as a write that failed schedules its close

        loop.at_turn_end(at_end)
        order.append("this turn")
        began = time.monotonic()
        assert await asyncio.wait_for(answer, 30) == "scheduled"  # its only timer: 30 s away
        return time.monotonic() - began

    assert on_service_loop(main()) < 5.0  # not left asleep until the timer
    assert order == ["this turn", "turn's end"]


def test_a_listening_socket_is_accepted_from_one_connection_a_turn_and_every_connection_is_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn asks asyncio to accept up to its backlog (2,048) connections a turn: with several
    workers on one socket, the first worker woken took a whole burst. The service's loop accepts
    one a turn (`ACCEPTS`); connections waiting together are all served, over several turns."""
    from asyncio import selector_events

    accepted_at_most: list[int] = []
    accept = getattr(selector_events.BaseSelectorEventLoop, "_accept_connection")  # noqa: B009

    def noting(self: Any, factory: Any, sock: Any, *args: Any) -> None:
        accepted_at_most.append(args[2])
        accept(self, factory, sock, *args)

    monkeypatch.setattr(selector_events.BaseSelectorEventLoop, "_accept_connection", noting)

    async def main() -> list[bytes]:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=2048)
        port = server.sockets[0].getsockname()[1]
        async with server:

            async def client(number: int) -> bytes:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(f"{number}\n".encode())
                answer = await reader.readline()
                writer.close()
                return answer

            return list(await asyncio.gather(*(client(n) for n in range(8))))

    assert on_service_loop(main()) == [f"{n}\n".encode() for n in range(8)]
    assert accepted_at_most and set(accepted_at_most) == {loops.ACCEPTS} == {1}
