"""The whole step behind `Stream.step`: a covered purchase decided on the `WholeState` a `Working` holds.

`Stream.step` (engine/stream.py) gives a purchase of a program `covers` takes to `WholePath.purchase`
first. The customer's `Working` holds the `WholeState` the step decides on (`Working.hold`): made
from the working state's public state at the first purchase the step takes, then changed in place
at every purchase it decides, so the working state stands for the whole state's public one
(`working.public()` is `WholeState.public()`, made when read). Any event the step does not decide
— another kind, a purchase it declines (a coupon, a redelivery, a late event, a tier review or
its reminder due, …) — goes the stream's other ways on the working state, which then makes its compact
parts from the whole state's public state when first read (`Working._catch_up`) and stops holding
it; the next purchase the step takes makes a whole state again.

The result is the `WholeResult`'s `LaterResult` (engine/result.py): each field made when read. Its
state is the whole state's public one, read before the working state moves on (else
`StateMovedOnError`, as a step in place's).

Input: a parsed event, a `Working`. Output: a `Result`, or None (not decided, nothing changed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rules_engine.engine.result import Result
from rules_engine.engine.whole.state import WholeState
from rules_engine.engine.whole.step import WholeStep
from rules_engine.state.customer import CustomerState
from rules_engine.state.working import Working

if TYPE_CHECKING:
    from rules_engine.engine.evaluator import Engine


_NEW = CustomerState()


class WholePath:
    """A covered program's whole step as `Stream.step` runs it (module docstring)."""

    __slots__ = ("step",)

    def __init__(self, engine: Engine) -> None:
        self.step = WholeStep(engine)

    def purchase(self, event: Any, working: Working) -> Result | None:
        """The result of `event` decided by the whole step on the state `working` holds (made now
        when it holds none), `working` moved on; None, `working` as it was, when not decided."""
        step = self.step
        read = step.read(event)
        if read is None:
            return None
        whole = working.whole
        if not isinstance(whole, WholeState):
            # What the step declines on whatever the event, looked at before its state is made:
            # points tendered, a birthday on file. (Messages waiting and the points-expiring
            # reminder are the step's: it words them as the engine does, whole/reminder.py.)
            cold = working.cold_parts()
            if cold.tendered or cold.profile.birthday is not None:
                return None
            state = working.public()
            new = state.customer is None and state == _NEW  # a new customer: as `process` takes None
            whole = WholeState.of(None if new else state, step.decimals, *working.made_parts())
        made = step.step(event, whole, read)
        if made is None:
            return None
        working.hold(whole)
        made.working, made.moves = working, working.moves
        return made.result()
