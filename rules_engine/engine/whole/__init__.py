"""The whole-step generator (experimental, issue 13): a covered program's purchase as one step on ints.

`WholeStep(engine)` compiles, for a program `covers` takes, the pricing and earning of a purchase
as one generated function on ints (generate.py, conditions.py) and the purchase mechanics on a
slotted state of ints and tuples (step.py, state.py); `step(event, state)` decides a purchase in
place and returns a lazy result (result.py) whose `result()` is the `Result` `Engine.process`
gives, or None for a purchase it does not decide. Not wired into `Stream.step` or
`Engine.process`: a spike that measures what the whole step costs (bench/bench_whole.py,
bench/README.md) while it must still give the engine's public answers.
"""

from __future__ import annotations

from rules_engine.engine.whole.covers import covers

__all__ = ["covers"]
