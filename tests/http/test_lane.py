"""The events' lane (rules_engine/http/threads.py `Lane`): one thread, calls taken in the order they
came, those waiting together with the same key handed over as one group. Run on asyncio's own loop
and on the service's loop (loop.py), as test_threads.py runs `Threads`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import pytest

from rules_engine.http.loop import ServiceLoop
from rules_engine.http.threads import Lane, More, Reply

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(params=["asyncio", "service"])
def run(request: pytest.FixtureRequest) -> Run[Any]:
    if request.param == "asyncio":
        return asyncio.run

    def on_service_loop(main: Coroutine[Any, Any, T]) -> T:
        with asyncio.Runner(loop_factory=ServiceLoop) as runner:
            return runner.run(main)

    return on_service_loop


class Recorder:
    """A lane's function that notes each group (key, arguments) and answers each call with its
    argument doubled; the first group waits for `release`, so that the next calls queue up."""

    def __init__(self) -> None:
        self.groups: list[tuple[str, list[int]]] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, key: str, arguments: Sequence[int], reply: Reply, more: More) -> None:
        if not self.groups:
            self.started.set()
            assert self.release.wait(5)
        self.groups.append((key, list(arguments)))
        for index, argument in enumerate(arguments):
            reply(index, argument * 2)


def _late() -> BaseException:
    return TimeoutError("waited too long")


async def _queue_behind_the_first(
    lane: Lane[int], recorder: Recorder, calls: list[tuple[str, int]]
) -> list[Any]:
    """The first call runs and holds the lane; the others queue; then all are let go."""
    first = asyncio.ensure_future(lane.run(*calls[0]))
    await asyncio.to_thread(recorder.started.wait, 5)
    rest = [asyncio.ensure_future(lane.run(key, argument)) for key, argument in calls[1:]]
    await asyncio.sleep(0.05)  # every call queued before the lane is free again
    recorder.release.set()
    return list(await asyncio.gather(first, *rest, return_exceptions=True))


def test_the_calls_waiting_together_go_as_one_group_in_order_a_new_key_starting_the_next(
    run: Run[Any],
) -> None:
    recorder = Recorder()
    lane: Lane[int] = Lane("test-lane", recorder, most=32, wait=30, late=_late)
    calls = [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("b", 4), ("b", 5), ("a", 6)]
    try:
        answers = run(_queue_behind_the_first(lane, recorder, calls))
    finally:
        lane.shutdown()
    assert answers == [0, 2, 4, 6, 8, 10, 12]
    assert recorder.groups == [("a", [0]), ("a", [1, 2, 3]), ("b", [4, 5]), ("a", [6])]
    assert (lane.groups, lane.calls) == (4, 7)


def test_after_is_called_on_the_lanes_thread_once_each_group_is_done_failed_or_not(run: Run[Any]) -> None:
    """What a service's worker freezes after each group (collector.py `after_work`): called once
    a group's function has returned or raised, on the lane's thread, before the next group."""
    recorder = Failing()
    seen: list[tuple[int, str]] = []
    lane: Lane[int] = Lane(
        "test-lane",
        recorder,
        most=32,
        wait=30,
        late=_late,
        after=lambda: seen.append((len(recorder.groups), threading.current_thread().name)),
    )
    try:
        run(_queue_behind_the_first(lane, recorder, [("a", 0), ("a", 1), ("a", 2), ("b", 3)]))
    finally:
        lane.shutdown()
    assert seen == [(1, "test-lane"), (2, "test-lane"), (3, "test-lane")]


def test_a_group_is_never_larger_than_most(run: Run[Any]) -> None:
    recorder = Recorder()
    lane: Lane[int] = Lane("test-lane", recorder, most=3, wait=30, late=_late)
    try:
        answers = run(_queue_behind_the_first(lane, recorder, [("a", n) for n in range(8)]))
    finally:
        lane.shutdown()
    assert answers == [2 * n for n in range(8)]
    assert [arguments for _, arguments in recorder.groups] == [[0], [1, 2, 3], [4, 5, 6], [7]]


class BrokenError(Exception):
    pass


class Failing(Recorder):
    """After the first group: answers a group's first call (twice: the second is ignored), then raises."""

    def __call__(self, key: str, arguments: Sequence[int], reply: Reply, more: More) -> None:
        if not self.groups:
            super().__call__(key, arguments, reply, more)
            return
        self.groups.append((key, list(arguments)))
        reply(0, "first")
        reply(0, "twice")
        raise BrokenError("the rest failed")


def test_a_call_the_function_leaves_unanswered_gets_what_it_raised(run: Run[Any]) -> None:
    failing = Failing()
    lane: Lane[int] = Lane("test-lane", failing, most=32, wait=30, late=_late)
    try:
        answers = run(_queue_behind_the_first(lane, failing, [("a", n) for n in range(4)]))
        assert answers[:2] == [0, "first"]
        assert all(isinstance(answer, BrokenError) for answer in answers[2:])
        assert failing.groups == [("a", [0]), ("a", [1, 2, 3])]
        assert run(lane.run("a", 7)) == "first"  # the lane goes on
    finally:
        lane.shutdown()

    def answers_nothing(key: str, arguments: Sequence[int], reply: Reply, more: More) -> None:
        pass

    silent: Lane[int] = Lane("test-lane", answers_nothing, most=32, wait=30, late=_late)
    try:
        with pytest.raises(RuntimeError, match="no answer"):
            run(silent.run("a", 1))
    finally:
        silent.shutdown()


def test_a_call_that_waited_longer_than_wait_is_answered_late_without_running(run: Run[Any]) -> None:
    recorder = Recorder()
    now = [0.0]
    lane: Lane[int] = Lane("test-lane", recorder, most=32, wait=10, late=_late, clock=lambda: now[0])

    async def main() -> list[Any]:
        first = asyncio.ensure_future(lane.run("a", 1))
        await asyncio.to_thread(recorder.started.wait, 5)
        waiting = asyncio.ensure_future(lane.run("a", 2))
        await asyncio.sleep(0.05)
        now[0] = 11.0  # the second call has waited 11 s behind the first
        recorder.release.set()
        return list(await asyncio.gather(first, waiting, return_exceptions=True))

    try:
        first, second = run(main())
    finally:
        lane.shutdown()
    assert first == 2
    assert isinstance(second, TimeoutError)
    assert recorder.groups == [("a", [1])]  # the late one never ran


def test_shutdown_lets_the_queued_calls_finish_and_refuses_new_ones(run: Run[Any]) -> None:
    recorder = Recorder()
    lane: Lane[int] = Lane("test-lane", recorder, most=2, wait=30, late=_late)

    async def main() -> list[Any]:
        calls = [asyncio.ensure_future(lane.run("a", n)) for n in range(5)]
        await asyncio.to_thread(recorder.started.wait, 5)
        await asyncio.sleep(0.05)
        recorder.release.set()
        await asyncio.to_thread(lane.shutdown)  # waits for the thread: every queued call is made
        with pytest.raises(RuntimeError, match="shut down"):
            await lane.run("a", 99)
        return list(await asyncio.gather(*calls))

    assert run(main()) == [0, 2, 4, 6, 8]
    assert sum(len(arguments) for _, arguments in recorder.groups) == 5


class Joining(Recorder):
    """Like `Recorder`, but its first group, once let go, takes in the calls queued meanwhile
    (`more`), as the events' function does once it has the store; each group's arguments are
    noted with those that joined it."""

    def __call__(self, key: str, arguments: Sequence[int], reply: Reply, more: More) -> None:
        if self.groups:
            super().__call__(key, arguments, reply, more)
            return
        self.started.set()
        assert self.release.wait(5)
        everything = [*arguments, *more()]
        assert more() == []  # nothing new came: nothing more
        self.groups.append((key, everything))
        for index, argument in enumerate(everything):
            reply(index, argument * 2)


def test_the_calls_queued_while_a_group_waits_join_it_up_to_most_in_order(run: Run[Any]) -> None:
    joining = Joining()
    lane: Lane[int] = Lane("test-lane", joining, most=4, wait=30, late=_late)
    calls = [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("a", 4), ("b", 5), ("a", 6)]
    try:
        answers = run(_queue_behind_the_first(lane, joining, calls))
    finally:
        lane.shutdown()
    assert answers == [2 * n for n in range(7)]  # the joined calls answered through `reply` too
    assert joining.groups == [("a", [0, 1, 2, 3]), ("a", [4]), ("b", [5]), ("a", [6])]
    assert (lane.groups, lane.calls) == (4, 7)


def test_a_call_of_another_key_stops_the_joining_and_starts_the_next_group(run: Run[Any]) -> None:
    joining = Joining()
    lane: Lane[int] = Lane("test-lane", joining, most=32, wait=30, late=_late)
    calls = [("a", 0), ("a", 1), ("b", 2), ("a", 3)]
    try:
        answers = run(_queue_behind_the_first(lane, joining, calls))
    finally:
        lane.shutdown()
    assert answers == [0, 2, 4, 6]
    assert joining.groups == [("a", [0, 1]), ("b", [2]), ("a", [3])]


class Receiving:
    """A `Lane.submit` receiver (threads.py `Receiver`) that notes what it is handed, on which
    thread, and says it is `cancelled` when told to."""

    def __init__(self, loop: asyncio.AbstractEventLoop, cancelled: bool = False) -> None:
        self.loop = loop
        self.gone = cancelled
        self.got: list[tuple[str, Any]] = []
        self.done: asyncio.Future[None] = loop.create_future()
        self.thread = threading.get_ident()

    def cancelled(self) -> bool:
        return self.gone

    def set_result(self, result: Any) -> None:
        self.noted("result", result)

    def set_exception(self, exception: BaseException) -> None:
        self.noted("exception", exception)

    def noted(self, how: str, value: Any) -> None:
        assert threading.get_ident() == self.thread  # on the loop's thread, as a future is set
        self.got.append((how, value))
        self.done.set_result(None)


def test_a_submitted_call_is_answered_to_its_receiver_on_the_loop_as_run_awaits_it(run: Run[Any]) -> None:
    """`submit` (what the events protocol calls, direct.py) queues and groups calls as `run`
    does, and hands each answer — a value, the function's error, a late call's — to its
    receiver on the caller's loop; a receiver cancelled by then is handed nothing; a lane shut
    down refuses the call at once."""
    failing = Failing()
    now = [0.0]
    lane: Lane[int] = Lane("test-lane", failing, most=32, wait=10, late=_late, clock=lambda: now[0])

    async def main() -> list[Receiving]:
        loop = asyncio.get_running_loop()
        first, tardy = Receiving(loop), Receiving(loop)
        lane.submit(loop, "a", 1, first)
        await asyncio.to_thread(failing.started.wait, 5)
        lane.submit(loop, "a", 9, tardy)
        now[0] = 11.0  # `tardy` has waited 11 s behind the first
        answered, failed, cancelled = Receiving(loop), Receiving(loop), Receiving(loop, cancelled=True)
        lane.submit(loop, "a", 2, answered)
        lane.submit(loop, "a", 3, failed)
        lane.submit(loop, "a", 4, cancelled)
        await asyncio.sleep(0.05)  # all queued behind the first
        failing.release.set()
        await asyncio.wait_for(asyncio.gather(first.done, tardy.done, answered.done, failed.done), 5)
        await asyncio.to_thread(lane.shutdown)
        with pytest.raises(RuntimeError, match="shut down"):
            lane.submit(loop, "a", 6, Receiving(loop))
        return [first, tardy, answered, failed, cancelled]

    first, tardy, answered, failed, cancelled = run(main())
    assert first.got == [("result", 2)]
    assert [how for how, _ in tardy.got] == ["exception"]
    assert isinstance(tardy.got[0][1], TimeoutError)
    assert answered.got == [("result", "first")]
    assert [how for how, _ in failed.got] == ["exception"]
    assert isinstance(failed.got[0][1], BrokenError)
    assert cancelled.got == []  # the call was made (its group had it), its answer dropped
    assert failing.groups == [("a", [1]), ("a", [2, 3, 4])]  # the tardy one never ran


class Raising(Receiving):
    """A receiver whose `set_result` fails (a bug), after noting it."""

    def set_result(self, result: Any) -> None:
        super().set_result(result)
        raise BrokenError("the receiver failed")


def test_a_groups_held_answers_go_back_in_one_hand_off_each_given_even_if_one_fails() -> None:
    """With `deliver`, a group's answers are held until it releases them, then handed back to the
    service's loop together (one `hand_back`, not one a call), in order; a receiver that raises is
    reported to the loop's exception handler and the others still get theirs."""
    recorder = Recorder()
    released: list[str] = []

    def deliver(key: str, release: Any, returned: Any) -> None:
        released.append(key)
        release(None)

    lane: Lane[int] = Lane("test-lane", recorder, most=32, wait=30, late=_late, deliver=deliver)
    handed: list[int] = []
    reported: list[dict[str, Any]] = []

    async def main() -> list[Receiving]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ServiceLoop)
        loop.set_exception_handler(lambda _, context: reported.append(context))
        hand_back = loop.hand_back

        def counted(callback: Any, *args: Any) -> None:
            handed.append(len(args[0]))
            hand_back(callback, *args)

        loop.hand_back = counted  # type: ignore[method-assign]
        first = Receiving(loop)
        lane.submit(loop, "a", 1, first)
        await asyncio.to_thread(recorder.started.wait, 5)
        rest = [Receiving(loop), Raising(loop), Receiving(loop), Receiving(loop, cancelled=True)]
        for number, receiver in enumerate(rest, 2):
            lane.submit(loop, "a", number, receiver)
        await asyncio.sleep(0.05)
        recorder.release.set()
        await asyncio.wait_for(asyncio.gather(*(receiver.done for receiver in [first, *rest[:3]])), 5)
        return [first, *rest]

    try:
        with asyncio.Runner(loop_factory=ServiceLoop) as runner:
            first, answered, raising, after, cancelled = runner.run(main())
    finally:
        lane.shutdown()
    assert recorder.groups == [("a", [1]), ("a", [2, 3, 4, 5])]
    assert released == ["a", "a"]
    assert handed == [1, 4]  # one hand-off a group, with each of its answers
    assert [first.got, answered.got, raising.got, after.got] == [[("result", n * 2)] for n in (1, 2, 3, 4)]
    assert cancelled.got == []
    assert [type(context["exception"]) for context in reported] == [BrokenError]
