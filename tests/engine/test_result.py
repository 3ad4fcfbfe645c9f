"""`result.settled` is a second constructor of `Result` (its slots set directly, for speed): it
must stay `Result(...)` field for field, in the same order, whatever fields are added later."""

from __future__ import annotations

import dataclasses
import inspect

from rules_engine.engine.later import Later, StreamResult
from rules_engine.engine.result import Result, settled


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


def test_a_settled_result_is_a_result_as_any_other() -> None:
    """`settled` sets the slots on an instance of a plain class of the same slots and then makes it
    a `Result` (`__class__` assignment, result._twin): the object is of the class asked for, exactly,
    and copies, pickles, replaces and hashes as one made by `Result(...)`."""
    import copy
    import pickle

    values = {f.name: f"value of {f.name}" for f in _fields()}
    made = settled(**values)  # type: ignore[arg-type]
    expected = Result(**values)  # type: ignore[arg-type]
    assert type(made) is Result
    assert type(settled(**values, kind=StreamResult)) is StreamResult  # type: ignore[arg-type]
    assert pickle.loads(pickle.dumps(made)) == expected
    assert copy.copy(made) == expected and copy.deepcopy(made) == expected
    assert dataclasses.replace(made, event="other") == dataclasses.replace(expected, event="other")
    assert hash(made) == hash(expected) and repr(made) == repr(expected)
    assert not hasattr(made, "__dict__")  # the slots only, as `Result`'s


def test_the_slots_class_settled_fills_has_results_slots() -> None:
    """A field added to `Result` is a slot of its plain twin too (made from `Result.__slots__`)."""
    from rules_engine.engine.result import _RESULT_SLOTS

    assert _RESULT_SLOTS.__slots__ == Result.__slots__
    assert [f.name for f in dataclasses.fields(Result)] == list(Result.__slots__)


def test_award_of_and_discount_of_make_what_their_classes_make() -> None:
    """`award_of` and `discount_of` set the slots on their plain twins (result._twin): the same
    objects as `Award(...)` and `Discount(...)`, of exactly those classes, frozen."""
    import pickle
    from decimal import Decimal

    from rules_engine.engine.result import Award, Discount, award_of, discount_of

    shares = ((0, "LATTE", Decimal(3)),)
    award = award_of("base", Decimal(3), shares, None)
    assert type(award) is Award and award == Award("base", Decimal(3), shares, None)
    assert (award.rule, award.points, award.lines, award.available_at) == ("base", Decimal(3), shares, None)
    discount = discount_of("refill", Decimal("1.50"), shares)
    assert type(discount) is Discount and discount == Discount("refill", Decimal("1.50"), shares)
    assert pickle.loads(pickle.dumps(award)) == award and hash(discount) == hash(
        Discount("refill", Decimal("1.50"), shares)
    )
    for made in (award, discount):
        try:
            made.rule = "x"  # type: ignore[misc]
        except dataclasses.FrozenInstanceError:
            pass
        else:  # pragma: no cover
            raise AssertionError("a made award or discount can be changed")
