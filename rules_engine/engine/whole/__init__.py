"""The whole step (issue 13): a covered program's purchase decided as one generated step on ints.

`WholeStep(engine)` compiles, for a program `covers` takes, the pricing and earning of a purchase
as one generated function on ints (generate.py, conditions.py) and the purchase mechanics on a
slotted state of ints and tuples (step.py, state.py); `step(event, state)` decides a purchase in
place and returns a record (result.py) whose `result()` is the `Result` `Engine.process` gives,
each field made when read, or None for a purchase it does not decide. `Stream.step` runs it
first for such a program (path.py: the `WholeState` a customer's `Working` holds); the others
go the engine's other ways (docs/engine.md, "The whole step").
"""

from __future__ import annotations

from rules_engine.engine.whole.covers import covers

__all__ = ["covers"]
