"""`result.settled` is a second constructor of `Result` (its slots set directly, for speed): it
must stay `Result(...)` field for field, in the same order, whatever fields are added later."""

from __future__ import annotations

import dataclasses
import inspect

from rules_engine.engine.result import Later, Result, StreamResult, settled


def _fields() -> list[dataclasses.Field[object]]:
    return [f for f in dataclasses.fields(Result) if f.name != "_outcome"]


def test_settled_takes_every_field_of_result_in_order() -> None:
    parameters = list(inspect.signature(settled).parameters)
    assert parameters == [*(f.name for f in _fields()), "kind"]  # `kind`: which class (a subclass)


def test_settled_makes_the_result_that_result_makes() -> None:
    # a distinct object per field, so a value set into the wrong slot shows
    values = {f.name: object() for f in _fields()}
    made = settled(**values)  # type: ignore[arg-type]
    expected = Result(**values)  # type: ignore[arg-type]
    for f in dataclasses.fields(Result):
        assert getattr(made, f.name) is getattr(expected, f.name), f.name
    assert made._outcome is None
    assert made == expected


def test_settled_result_is_frozen() -> None:
    made = settled(**{f.name: None for f in _fields()})  # type: ignore[arg-type]
    try:
        made.event = "x"  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:  # pragma: no cover
        raise AssertionError("a settled result can be changed")


def test_a_stream_result_reads_its_later_state_and_ledger_and_equals_the_result() -> None:
    """`StreamResult` (a step decided in place, engine/step.py): its state and ledger made when
    first read, then kept; equal to the `Result` of the same values, both ways."""
    values: dict[str, object] = {f.name: object() for f in _fields()}
    state, ledger = values["state"], values["ledger"]
    made_state: list[int] = []
    later = {**values, "state": Later(lambda: made_state.append(1) or state), "ledger": Later(lambda: ledger)}
    made = settled(**later, kind=StreamResult)  # type: ignore[arg-type]
    assert isinstance(made, StreamResult) and not made_state
    assert made.state is state and made.state is state and made_state == [1]  # made once
    assert made.ledger is ledger
    expected = Result(**values)  # type: ignore[arg-type]
    assert made == expected and expected == made
    assert hash(made) == hash(expected)
