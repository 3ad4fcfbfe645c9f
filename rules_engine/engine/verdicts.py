"""The trace entries of rules that fired or did not, made from values already valid.

A stage records each decision as a `Verdict` (a tuple, a fraction of a `RuleTrace`'s cost); the
result makes the `RuleTrace` models only when its trace is read, spelt out as `unvalidated` makes
models. `Text` is an entry's words formatted only then. Apart from the state's records (`trusted`,
which re-exports these) because they are the trace's, not the state's.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from rules_engine.engine.outcome import ExplainNode, RuleTrace
from rules_engine.unvalidated import (
    _new,
    _set_dict,
    _set_extra,
    _set_fields,
    _set_private,
    _spelt_out,
)

_RULE_TRACE = ("rule", "kind", "fired", "code", "reason", "failing", "hint", "amount", "unit", "condition")
_RULE_TRACE_FAST = _spelt_out(RuleTrace, *_RULE_TRACE)
_OPTIONAL = _RULE_TRACE[5:]
# The fields set for each combination of optional fields given (bit i: _OPTIONAL[i] was given).
_RULE_TRACE_GIVEN = [
    {*_RULE_TRACE[:5], *(name for bit, name in enumerate(_OPTIONAL) if mask >> bit & 1)}
    for mask in range(1 << len(_OPTIONAL))
]


class _NotGiven:
    """The type of `_NOT_GIVEN`: a sentinel of its own type, so the annotations can name it."""


_NOT_GIVEN = _NotGiven()


def rule_trace(
    rule: str,
    kind: str,
    fired: bool,
    code: str,
    reason: str,
    *,
    failing: list[str] | _NotGiven | None = _NOT_GIVEN,
    hint: str | _NotGiven | None = _NOT_GIVEN,
    amount: Decimal | _NotGiven | None = _NOT_GIVEN,
    unit: str | _NotGiven | None = _NOT_GIVEN,
    condition: ExplainNode | _NotGiven | None = _NOT_GIVEN,
) -> RuleTrace:
    """`RuleTrace(rule=…, kind=…, fired=…, code=…, reason=…, **the optional fields given)`: the
    `verdict` of the same arguments, made a model at once."""
    return verdict(
        rule,
        kind,
        fired,
        code,
        reason,
        failing=failing,
        hint=hint,
        amount=amount,
        unit=unit,
        condition=condition,
    ).model()


class Text:
    """A trace entry's text (its `reason` or `hint`) formatted when the entry is made a model:
    `make(*args)`. A mechanic traces its progress at most purchases in words made of decimals and
    window names (`4 of 5 in the week (2026-W49)`), which a caller keeping only the state never
    reads; the `RuleTrace` gets the same string. Equal to that string (and hashed as it), so a
    `Verdict` holding one compares as the one holding the text."""

    __slots__ = ("_args", "_make", "_text")

    def __init__(self, make: Callable[..., str], *args: Any) -> None:
        self._make = make
        self._args = args
        self._text: str | None = None

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = self._text = self._make(*self._args)
            self._args = ()
        return text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Text, str)):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return repr(str(self))


class Verdict(NamedTuple):
    """A trace entry not made a model yet: what `rule_trace` takes, as a tuple (`verdict`).

    A stage records one in a fraction of a `RuleTrace`'s cost, and the result makes the models
    only when its trace is read (`result.RuleTraces`): a service that keeps the new state and
    answers with the points reads none. Its fields read as the model's (`rule`, `code` …)."""

    rule: str
    kind: str
    fired: bool
    code: str
    reason: str | Text
    """The text, or a `Text` formatted when the entry is made a model."""
    failing: Any
    hint: Any
    amount: Any
    unit: Any
    condition: Any
    given: int
    """Which optional fields were given (bit i: `failing`, `hint`, `amount`, `unit`, `condition`)."""

    def model(self) -> RuleTrace:
        """The `RuleTrace` that `rule_trace` makes of the same arguments."""
        return _rule_trace(*self)


_tuple_new = tuple.__new__


def verdict(
    rule: str,
    kind: str,
    fired: bool,
    code: str,
    reason: str | Text,
    *,
    failing: list[str] | _NotGiven | None = _NOT_GIVEN,
    hint: str | Text | _NotGiven | None = _NOT_GIVEN,
    amount: Decimal | _NotGiven | None = _NOT_GIVEN,
    unit: str | _NotGiven | None = _NOT_GIVEN,
    condition: ExplainNode | _NotGiven | None = _NOT_GIVEN,
) -> Verdict:
    """`rule_trace(…)`, its model made later (`Verdict.model`)."""
    given = (
        (failing is not _NOT_GIVEN)
        | (hint is not _NOT_GIVEN) << 1
        | (amount is not _NOT_GIVEN) << 2
        | (unit is not _NOT_GIVEN) << 3
        | (condition is not _NOT_GIVEN) << 4
    )
    return _tuple_new(
        Verdict,
        (
            rule,
            kind,
            fired,
            code,
            reason,
            failing if given & 1 else None,
            hint if given & 2 else None,
            amount if given & 4 else None,
            unit if given & 8 else None,
            condition if given & 16 else None,
            given,
        ),
    )


def simple_verdict(rule: str, kind: str, fired: bool, code: str, reason: str | Text) -> Verdict:
    """`verdict(rule, kind, fired, code, reason)`: no optional field (most refusals)."""
    return _tuple_new(Verdict, (rule, kind, fired, code, reason, None, None, None, None, None, 0))


# The `given` of a fired verdict (`fired_verdict`): its amount and unit (the generated code makes
# such a verdict itself, `code_writer.RUNTIME`'s `_vt`, without this function's call).
FIRED_GIVEN = 28


def fired_verdict(
    rule: str, kind: str, code: str, reason: str, amount: Decimal, unit: str, condition: ExplainNode | None
) -> Verdict:
    """`verdict(rule, kind, True, code, reason, amount=…, unit=…, condition=…)`: a rule that gave
    something (an earn rule's points, a discount's money), its condition's tree with explain."""
    return _tuple_new(Verdict, (rule, kind, True, code, reason, None, None, amount, unit, condition, 28))


def _rule_trace(
    rule: str,
    kind: str,
    fired: bool,
    code: str,
    reason: str | Text,
    failing: Any,
    hint: Any,
    amount: Any,
    unit: Any,
    condition: Any,
    given: int,
) -> RuleTrace:
    if type(reason) is Text:
        reason = str(reason)
    if type(hint) is Text:
        hint = str(hint)
    if not _RULE_TRACE_FAST:
        optional = zip(_OPTIONAL, (failing, hint, amount, unit, condition), strict=True)
        passed = {name: value for bit, (name, value) in enumerate(optional) if given >> bit & 1}
        return RuleTrace(rule=rule, kind=kind, fired=fired, code=code, reason=reason, **passed)
    model = _new(RuleTrace)
    _set_dict(
        model,
        {
            "rule": rule,
            "kind": kind,
            "fired": fired,
            "code": code,
            "reason": reason,
            "failing": failing if given & 1 and failing else [],
            "hint": hint if given & 2 else None,
            "amount": amount if given & 4 else None,
            "unit": unit if given & 8 else None,
            "condition": condition if given & 16 else None,
        },
    )
    _set_fields(model, _RULE_TRACE_GIVEN[given])
    _set_extra(model, None)
    _set_private(model, None)
    return model
