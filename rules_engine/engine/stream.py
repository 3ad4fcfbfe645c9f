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

Today the step is correct by construction: it is `Engine.process` on the public state, and the
working state is then loaded from the result's state. That is slower than calling `process` alone
(bench/README.md, "The working state"): the seam is built before what it is for. Next comes a step
generated per program (as engine/generate.py generates a purchase's pricing and earning) that
decides the events it covers — a purchase on the generated path, to begin with — on the working
state's ints, tuples and deques, changing them in place, with the `Result` made from what it decided;
every other event keeps going through `process` as below. Differential tests then hold the two equal,
as tests/engine/test_working.py holds this one to `Engine.process` today.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules_engine.engine import step
from rules_engine.engine.evaluator import BudgetSnapshot, Engine
from rules_engine.engine.events import AnyEvent, parse_event
from rules_engine.engine.result import Result
from rules_engine.state.customer import CustomerState
from rules_engine.state.working import Working

__all__ = ["Stream"]


class Stream:
    """Events of many customers, each decided on the customer's working state (module docstring).
    Holds nothing per customer: the caller keeps each customer's `Working`. Safe to share between
    threads as the engine is, each working state being one thread's at a time."""

    __slots__ = ("engine", "taken")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.taken = 0
        """How many events the step in place decided (engine/step.py); the others went through
        `process`. Counted for the tests and benches that check the fast path ran."""

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
        to the state after it: the `Result` of `engine.process(event, working.public(), budgets=…)`.

        Raises:
            EventError: as `Engine.process` raises it; `working` is left as it was.
        """
        parsed = parse_event(event)
        result = step.purchase(self.engine, parsed, working, budgets)
        if result is not None:
            self.taken += 1
            return result
        result = self.engine.process(parsed, working.public(), budgets=budgets)
        working.defer(result.state)  # the compact parts made when first read (Working.defer)
        return result
