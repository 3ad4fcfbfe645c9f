"""The events' threads (rules_engine/http/threads.py): what the events shortcut relies on when it
hands an event to a thread and awaits its answer. Every test runs on asyncio's own loop (where
answers come back by `call_soon_threadsafe`) and on the service's loop (loop.py: `hand_back`), the
one `loyalty serve` runs."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from rules_engine.http.loop import ServiceLoop
from rules_engine.http.threads import Threads

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(params=["asyncio", "service"])
def run(request: pytest.FixtureRequest) -> Run[Any]:
    """`asyncio.run` on asyncio's default loop, or on the service's loop."""
    if request.param == "asyncio":
        return asyncio.run

    def on_service_loop(main: Coroutine[Any, Any, T]) -> T:
        with asyncio.Runner(loop_factory=ServiceLoop) as runner:
            return runner.run(main)

    return on_service_loop


WHO = contextvars.ContextVar("WHO", default="nobody")


def test_a_call_answers_with_its_result_on_another_thread(run: Run[Any]) -> None:
    threads = Threads(4, "test")

    async def main() -> tuple[int, str]:
        return await threads.run(lambda a, b: (a + b, threading.current_thread().name), 2, 3)

    try:
        total, name = run(main())
    finally:
        threads.shutdown()
    assert total == 5
    assert name.startswith("test-") and name != threading.current_thread().name


def test_an_exception_is_raised_to_the_caller_as_it_was_raised(run: Run[Any]) -> None:
    threads = Threads(2, "test")

    class RefusedError(Exception):
        pass

    def refuse() -> None:
        raise RefusedError("no")

    async def main() -> None:
        with pytest.raises(RefusedError, match="no"):
            await threads.run(refuse)
        assert await threads.run(lambda: "still works") == "still works"

    try:
        run(main())
    finally:
        threads.shutdown()


def test_one_thread_runs_the_calls_in_the_order_they_were_made(run: Run[Any]) -> None:
    threads = Threads(1, "test")
    done: list[int] = []

    def note(number: int) -> int:
        time.sleep(0.001 * (number % 3))  # some calls take longer: the order must not change
        done.append(number)
        return number

    async def main() -> list[int]:
        return list(await asyncio.gather(*(threads.run(note, n) for n in range(30))))

    try:
        answers = run(main())
    finally:
        threads.shutdown()
    assert answers == list(range(30))
    assert done == list(range(30))


def test_calls_run_at_once_up_to_the_size_and_no_more(run: Run[Any]) -> None:
    threads = Threads(3, "test")
    lock = threading.Lock()
    running = 0
    most = 0

    def busy() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async def main() -> None:
        await asyncio.gather(*(threads.run(busy) for _ in range(12)))

    try:
        run(main())
    finally:
        threads.shutdown()
    assert most == 3
    assert len(threads._workers) == 3


def test_a_worker_is_started_only_when_none_is_free(run: Run[Any]) -> None:
    threads = Threads(8, "test")

    async def main() -> None:
        for n in range(20):  # one at a time: the first worker takes them all
            assert await threads.run(lambda n=n: n) == n

    try:
        run(main())
    finally:
        threads.shutdown()
    assert len(threads._workers) == 1


def test_a_call_runs_in_a_copy_of_the_callers_context(run: Run[Any]) -> None:
    threads = Threads(2, "test")

    def read_and_set() -> str:
        seen = WHO.get()
        WHO.set("the thread")  # in the copy only
        return seen

    async def main() -> tuple[str, str]:
        WHO.set("the caller")
        seen = await threads.run(read_and_set)
        return seen, WHO.get()

    try:
        assert run(main()) == ("the caller", "the caller")
    finally:
        threads.shutdown()


def test_shutdown_lets_the_calls_in_flight_finish_and_refuses_new_ones(run: Run[Any]) -> None:
    threads = Threads(2, "test")
    started = threading.Event()
    finished: list[int] = []

    def slow(number: int) -> int:
        started.set()
        time.sleep(0.05)
        finished.append(number)
        return number

    async def main() -> list[int]:
        calls = [asyncio.ensure_future(threads.run(slow, n)) for n in range(5)]
        await asyncio.sleep(0)  # the calls are queued
        await asyncio.to_thread(started.wait, 5)
        await asyncio.to_thread(threads.shutdown)  # waits for the workers: every queued call runs
        with pytest.raises(RuntimeError, match="shut down"):
            await threads.run(slow, 99)
        return list(await asyncio.gather(*calls))

    answers = run(main())
    assert answers == [0, 1, 2, 3, 4]
    assert sorted(finished) == [0, 1, 2, 3, 4]
    assert not any(worker.is_alive() for worker in threads._workers)


def test_a_cancelled_caller_does_not_stop_the_call_nor_the_worker(run: Run[Any]) -> None:
    threads = Threads(1, "test")
    release = threading.Event()
    finished: list[str] = []

    def wait() -> str:
        release.wait(5)
        finished.append("waited")
        return "waited"

    async def main() -> str:
        call = asyncio.ensure_future(threads.run(wait))
        await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        release.set()
        return await threads.run(lambda: "next")

    try:
        assert run(main()) == "next"
    finally:
        threads.shutdown()
    assert finished == ["waited"]


def test_a_call_made_while_shutting_down_runs_or_is_refused_never_left_waiting(run: Run[Any]) -> None:
    for _ in range(20):
        threads = Threads(2, "test")

        async def main(threads: Threads = threads) -> list[str]:
            async def call(n: int) -> str:
                try:
                    return str(await threads.run(lambda: n))
                except RuntimeError:
                    return "refused"

            stopping = asyncio.ensure_future(asyncio.to_thread(threads.shutdown))
            answers = await asyncio.wait_for(asyncio.gather(*(call(n) for n in range(50))), 10)
            await stopping
            return answers

        answers = run(main())
        assert all(a == "refused" or a == str(n) for n, a in enumerate(answers))
