"""One worker process of `loyalty run --workers N`: what the parent tells it (`WorkerSpec`),
what it runs (its customers' lines through `replay.replay_numbered`, on a store connection and
batches of its own) and what it says back per line (`_Said`).

Separate from replay_workers.py, which holds the parent (routing lines, the window, putting the
acknowledgements back in file order; its docstring tells the whole design): this is the code that
runs in the child, and what both sides exchange.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import os
import queue
import signal
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import AnyEvent
from rules_engine.engine.reader import parse_event
from rules_engine.errors import Diagnostic, StoreError
from rules_engine.replay import Counted, replay_numbered
from rules_engine.service import Decided, Handled, Loyalty
from rules_engine.store.sql import SqlStore

Render = Callable[[int, Decided, bool], "str | None"]
"""What a worker makes of an outcome to print: (line number, what was decided, duplicate) → a line
of text, or None for nothing (module-level, so that it can be sent to a spawned worker); given the
engine's `Result`, it builds the `Outcome` only if it needs one (`outcome_text`: for --json)."""

_POLL = 1.0
"""Seconds between a waiting worker's checks that its parent is alive (where no signal says so)."""


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to replay its lines: the engine (inherited when forked; `load_engine`
    builds it in a spawned worker), the store's URL (each worker opens its own), the service's
    horizon settings, the batch size and how outcomes are rendered (None: none are built)."""

    load_engine: Callable[[], Engine]
    db: str
    open_store: Callable[[str, str], Any]
    """(url, program) → the worker's store (the caller's `open_store` with its options)."""
    horizon: Any
    now: Any
    batch: int
    name: str
    render: Render | None
    latest: dt.datetime | None = None
    """The store's latest event time when the run began: where the horizon starts from (`_Horizon`)."""

    @property
    def guarded(self) -> bool:
        """Whether lines are checked against a horizon measured from the events (no `now`)."""
        return self.horizon is not None and self.now is None


class _Duplicate(str):
    """The text of an outcome of an event processed before (`line N: … already processed`)."""

    __slots__ = ()


UNKNOWN_REFERRER = "RE607"


@dataclass
class _Said:
    """One line acknowledged by a worker: what to tell, in order (text to print, problems), and
    what it counted; `worker`: which worker said it."""

    told: tuple[str | Diagnostic, ...]
    counted: Counted
    worker: int = -1
    settled: bool = False
    """The referrer's reward the line owes is settled: given or refused (`_Parent._owed`)."""
    owes: tuple[str, dt.datetime] | None = None
    """The referral code the line owes a reward not given to, and the purchase's time, when it
    qualified (`referral_qualified_at`): for the parent to look the referrer up (`_Parent._owed`)."""
    created: bool = False
    """The line's event was its customer's first in the store (it made the referral code known)."""

    @property
    def unknown_referrer(self) -> bool:
        return any(isinstance(item, Diagnostic) and item.code == UNKNOWN_REFERRER for item in self.told)

    def with_referrer(self, again: _Said) -> _Said:
        """This line's acknowledgement with the referrer's reward its redelivery gave (`again`):
        without the warning that the referrer was unknown, nor the redelivery's own duplicate."""
        if again.unknown_referrer:  # unknown still: no customer of the store had the code before
            return replace(self, settled=True)
        told = [i for i in self.told if not (isinstance(i, Diagnostic) and i.code == UNKNOWN_REFERRER)]
        warned = len(self.told) - len(told)
        told += [item for item in again.told if not isinstance(item, _Duplicate)]
        counts = [a + b for a, b in zip(self.counted.counts, again.counted.counts, strict=True)]
        counts[_DUPLICATES] -= 1
        counts[_WARNINGS] -= warned
        counted = Counted(self.counted.number, tuple(counts), self.counted.earned + again.counted.earned)
        return replace(self, told=tuple(told), counted=counted, settled=True)


_DUPLICATES, _PROBLEMS, _WARNINGS = 1, 2, 3
"""Where `Counted.counts` has the duplicates, the problems and the warnings (replay._COUNTS)."""


def _work(
    spec: WorkerSpec,
    engine: Engine | None,
    index: int,
    inbox: Any,
    outbox: Any,
    limit: Any,
    parent: int,
) -> None:
    """A worker process: replay the lines the parent sends, acknowledging them once committed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with(parent)
    try:
        _replay_owned(spec, engine, index, inbox, outbox, limit, parent)
    except BaseException:
        outbox.send(("crashed", index, traceback.format_exc(limit=-3).strip().splitlines()[-1]))
        raise SystemExit(1) from None


def _die_with(parent: int) -> None:
    """Be killed with the parent (Linux), so that a kill -9 of `loyalty run` leaves no worker."""
    if sys.platform == "linux":
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before that
        os._exit(1)


def _replay_owned(
    spec: WorkerSpec, engine: Engine | None, index: int, inbox: Any, outbox: Any, limit: Any, parent: int
) -> None:
    engine = engine if engine is not None else spec.load_engine()
    said: list[_Said] = []
    told: list[str | Diagnostic] = []
    pending: deque[tuple[int, bytes | None, dt.datetime | None, bool]] = deque()
    reference: list[dt.datetime | None] = [None]
    again = [False]

    def send() -> None:
        if said:
            outbox.send(("said", index, list(said)))
            said.clear()

    def lines() -> Iterator[tuple[int, bytes | None]]:
        while True:
            send()
            if not pending:
                chunk = _get(inbox, parent)
                if chunk is None:
                    return
                pending.extend(chunk)
            number, raw, reference[0], again[0] = pending.popleft()
            if number >= limit.value:
                return
            yield number, raw

    def idle() -> bool:
        return not pending and inbox.empty()

    render = spec.render

    def on_decided(number: int, decided: Decided, duplicate: bool) -> None:
        if render is not None:
            text = render(number, decided, duplicate)
            if text is not None:
                told.append(_Duplicate(text) if duplicate else text)

    noted: dict[int, dict[str, Any]] = {}
    """What the service noted of each line handled and not yet acknowledged (`_Deferring.noted`)."""

    def on_handled(number: int, handled: Handled) -> None:
        noted[number] = loyalty.noted

    def on_counted(counted: Counted) -> None:
        facts = noted.pop(counted.number, None)
        if facts and not counted.counts[_PROBLEMS]:  # refused when done again: nothing to say
            said.append(_Said(tuple(told), counted, **facts))
        else:
            said.append(_Said(tuple(told), counted))
        told.clear()

    try:
        store = spec.open_store(spec.db, engine.program.program)
    except StoreError as error:
        outbox.send(("done", index, (None, error.diagnostics[0])))
        return
    if isinstance(store, SqlStore) and store.dialect == "sqlite":
        store.optimistic = True  # its customers are its own: read without the lock, check, write
    try:
        loyalty = (
            _Horizon(engine, store, horizon=spec.horizon, now=None, again=again, given=reference)
            if spec.guarded
            else _Deferring(engine, store, horizon=spec.horizon, now=spec.now, again=again)
        )
        result = replay_numbered(
            loyalty,
            spec.name,
            lines(),
            on_decided=on_decided if render is not None else None,
            on_problem=told.append,
            batch=spec.batch,
            idle=idle,
            on_counted=on_counted,
            on_handled=on_handled if loyalty.refers else None,
        )
    finally:
        store.close()
    send()
    failure = None if result.failure is None else (result.line, result.failure)
    outbox.send(("done", index, failure))


class _Deferring(Loyalty):
    """A worker's service: a referrer's reward is given only on the parent's redelivery of the
    line that owes it (`again`: the line in progress is one), once every line before it is done
    (`_Parent._owed`), where one process gives it: after the referrer's own earlier lines, which
    the reward, dated the purchase's time, would otherwise refuse (RE440) if their worker had not
    reached them yet. Not on the first delivery of a line the file repeats, either: it is no later.

    It notes (`noted`) the code and the time of a reward owed and not given (`owes`), and of every
    event whether it was its customer's first (`created`: it made the customer's code known), for
    the parent to tell whether the referrer became known from a line before the purchase's, as one
    process would have had them, or from a later one that their worker has committed already (a
    later line, at an earlier time)."""

    def __init__(self, *args: Any, again: list[bool], **options: Any) -> None:
        super().__init__(*args, **options)
        self.again = again
        self.refers = self.engine.program.referral is not None
        """Whether the program has referrals: nothing is noted otherwise."""
        self.noted: dict[str, Any] = {}
        """What the event in progress told of referrals (`_Said.owes`, `_Said.created`)."""

    def rewards_referrers(self) -> bool:
        return self.again[0]

    def handle(self, event: Any, *, explain: bool = False) -> Handled:
        self.noted = {}
        handled = super().handle(event, explain=explain)
        code = handled.unknown_referrer
        if code is not None and not handled.duplicate:
            self.noted["owes"] = (code, parse_event(event).time)
        return handled

    def _change(self, event: AnyEvent, new: bool, *args: Any) -> Any:
        if new and self.refers:
            self.noted["created"] = True
        return super()._change(event, new, *args)


class _Horizon(_Deferring):
    """A worker's service, whose horizon is measured from the reference the parent gave the line
    in progress: the latest time of the events before it in the file that the horizon let through,
    or of the store's when the run began. With one process that is the store's latest event; a
    worker's store holds only some of those (the other workers' are not all committed yet) and some
    of later lines, so it cannot be the reference. The moment is shown as the store gives it back."""

    def __init__(self, *args: Any, given: list[dt.datetime | None], **options: Any) -> None:
        super().__init__(*args, **options)
        self.given = given

    def reference(self) -> tuple[dt.datetime, str] | None:
        given = self.given[0]
        if given is None:
            return None
        store = self.store
        if isinstance(store, SqlStore):
            given = store.stored_time(given)
        return given, "the store's latest event"


def _get(inbox: Any, parent: int) -> Any:
    """The next message from the parent, waiting for it; exit if the parent is gone."""
    while True:
        try:
            return inbox.get(timeout=_POLL)
        except queue.Empty:
            if os.getppid() != parent:
                os._exit(1)
