"""`result.settled` is a second constructor of `Result` (its slots set directly, for speed): it
must stay `Result(...)` field for field, in the same order, whatever fields are added later."""

from __future__ import annotations

import dataclasses
import inspect

from rules_engine.engine.result import Result, settled


def _fields() -> list[dataclasses.Field[object]]:
    return [f for f in dataclasses.fields(Result) if f.name != "_outcome"]


def test_settled_takes_every_field_of_result_in_order() -> None:
    parameters = list(inspect.signature(settled).parameters)
    assert parameters == [f.name for f in _fields()]


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
