"""The streaming API: `Stream(engine).step(event, working)` changes a customer's working state in place.

A caller that carries each customer's state from one event to the next (`loyalty run`, a store's
write-behind, `simulate`, the service's workers) has no use for a new frozen `CustomerState` per
event: it needs the decision, and the state ready for the customer's next event. That caller keeps
a `Working` (state/working.py) per customer and calls `step`; the public `CustomerState` is made
from the working state (`working.public()`) only when someone reads it — a store writing it, an
answer showing it.

The contract, which callers may rely on from now on: `stream.step(event, working)` returns the same
`Result` that `engine.process(event, working.public())` returns, and leaves `working` standing for
that result's state (`working.public() == result.state`, the same JSON). An event the engine refuses
(`EventError`) leaves `working` as it was, and the stream goes on with the customer's next event.

How a step decides. First, for a program the whole step covers (engine/whole/: programs shaped
like coffee-club; `Stream(engine, whole=False)` turns it off), a purchase it takes is decided by
one step generated for the program on the `WholeState` the customer's working state holds
(`Working.hold`, engine/whole/path.py), its result a `LaterResult` (result.py) whose fields are
made when read; `Stream.wholes` counts those. Every other event goes on as follows (the working
state making its compact parts from the whole state's public one when first read).
Then a purchase the generated path takes, for a customer the engine has seen,
is decided **in place** (engine/step.py): time passing on the working state's deque of lots, the
generated pricing and earning and the purchase mechanics on a run whose state reads the lots
through a view of the deque, and settle on the working state (the awards' lots appended as
tuples, their `LotLine`s made only with the lot's model; the ids' ring, the clock; the rest of the
new state, the run's own, kept as the working state's cold part). Every other event — a return, a
redemption, a sign-up, an app open, a late event, a redelivery, a purchase with a coupon, a
program with a return window, anything the step does not cover — goes through `Engine.process`
on `working.public()`, and the working state then stands for the result's state, its compact
parts made from it only when first read (`Working.defer`). `Stream.taken` counts the events the
whole step or the step in place decided.

The result of a step in place is a `StreamResult` (result.py): the same fields as `process`'s,
its `state` and `ledger` made when first read. Its state is the working state's public one, so it
is read **before the working state moves on** (the customer's next step, a load, a change); read
after that, it raises `StateMovedOnError`, rather than give a later state. Once read, it is kept.
A caller that keeps results past the customer's next event reads `result.state` first, or keeps
`working.public()`. Measured in bench/README.md ("The working state").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules_engine.engine import step
from rules_engine.engine.evaluator import BudgetSnapshot, Engine
from rules_engine.engine.events import AnyEvent, Purchase
from rules_engine.engine.reader import parse_event
from rules_engine.engine.result import Result
from rules_engine.engine.whole.covers import covers
from rules_engine.engine.whole.path import WholePath
from rules_engine.state.customer import CustomerState
from rules_engine.state.working import Working

__all__ = ["Stream"]


class Stream:
    """Events of many customers, each decided on the customer's working state (module docstring).
    Holds nothing per customer: the caller keeps each customer's `Working`. Safe to share between
    threads as the engine is, each working state being one thread's at a time."""

    __slots__ = ("_whole", "engine", "taken", "wholes")

    def __init__(self, engine: Engine, *, whole: bool = True) -> None:
        """`whole`: decide the purchases of a program the whole step covers with it (engine/whole/);
        False: never (the differential tests and the benches compare the two)."""
        self.engine = engine
        self._whole: WholePath | bool | None = whole  # True: made at the first purchase
        self.wholes = 0
        """How many of the events `taken` counts the whole step decided (engine/whole/path.py)."""
        self.taken = 0
        """How many events the whole step or the step in place decided (engine/whole/,
        engine/step.py); the others went through `process`. Counted for the tests and benches that
        check the fast path ran (steps of many threads on one stream may miss a count: nothing
        decides by it)."""

    def working(self, state: CustomerState | Mapping[str, Any] | None = None) -> Working:
        """The working state of `state` (None: a new customer) for this stream's program."""
        return Working.of(state, self.engine.plan)

    def step(
        self,
        event: AnyEvent | Mapping[str, Any],
        working: Working,
        *,
        budgets: BudgetSnapshot | None = None,
    ) -> Result:
        """Decide `event` for the customer whose working state is `working`, and change `working`
        to the state after it: the `Result` of `engine.process(event, working.public(), budgets=…)`
        (a purchase decided in place: its `state` read before `working` moves on, the module
        docstring).

        Raises:
            EventError: as `Engine.process` raises it; `working` is left as it was.
        """
        parsed = parse_event(event)
        path = self._whole
        if path is not False and parsed.__class__ is Purchase:
            if path is True:
                path = self._whole = WholePath(self.engine) if covers(self.engine.plan) else None
            if path is not None:
                result = path.purchase(parsed, working)
                if result is not None:
                    self.taken += 1
                    self.wholes += 1
                    return result
        result = step.purchase(self.engine, parsed, working, budgets)
        if result is not None:
            self.taken += 1
            return result
        result = self.engine.process(parsed, working.public(), budgets=budgets)
        working.defer(result.state)  # the compact parts made when first read (Working.defer)
        return result
