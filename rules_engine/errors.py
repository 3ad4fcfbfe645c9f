"""The one error hierarchy, and the structured diagnostics every error carries.

Every diagnostic's code is registered in `codes.py` (its meaning, stage, severity and exit
status; docs/errors.md is the index made from it): a `Diagnostic` with another code is refused.
Text for people is produced in `render.py`, never here.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules_engine.codes import CODES, Severity
from rules_engine.source import Span

__all__ = [
    "ConditionError",
    "ConditionSyntaxError",
    "ConditionTypeError",
    "ContextError",
    "Diagnostic",
    "EvaluationError",
    "EventError",
    "LoopBudgetError",
    "ProgramError",
    "RulesEngineError",
    "Severity",
    "StateError",
    "StoreError",
    "YamlSyntaxError",
]


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a program, an expression or an input, at one place."""

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR
    # Where in a JSON input (an event, a state) the problem is, as data; a caller that knows the
    # file maps it to a span (`rules_engine.engine.inputs.locate`).
    path: tuple[str | int, ...] | None = None

    def __post_init__(self) -> None:
        # One dict lookup, and only where a problem is reported: never on an event that goes well.
        if self.code not in CODES:
            raise ValueError(f"{self.code} is not a registered diagnostic code (rules_engine/codes.py)")

    def to_json(self) -> dict[str, object]:
        span = self.span
        return {
            "code": self.code,
            "severity": str(self.severity),
            "file": span.file.name if span else None,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "path": list(self.path) if self.path is not None else None,
            "message": self.message,
            "hint": self.hint,
        }


class RulesEngineError(Exception):
    """Base of every error the engine raises on purpose; carries one or more diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        summary = f"{first.code}: {first.message}" if first else type(self).__name__
        if first and first.span:
            summary = f"{first.span}: {summary}"
        super().__init__(summary)

    def __reduce__(self) -> tuple[type[RulesEngineError], tuple[list[Diagnostic]]]:
        """Pickled with its diagnostics, so that an error crosses a process boundary intact
        (a worker pool sending it back, for instance); `Exception`'s own way would call the
        class with the summary text."""
        return (type(self), (self.diagnostics,))

    @property
    def code(self) -> str:
        return self.diagnostics[0].code if self.diagnostics else ""

    @property
    def span(self) -> Span | None:
        return self.diagnostics[0].span if self.diagnostics else None


class ProgramError(RulesEngineError):
    """A program file is not valid; all of its problems are collected, not just the first.

    They come from every stage at once (structure, model, references, conditions): a caller that
    needs to tell them apart reads each diagnostic's stage, `codes.CODES[d.code].stage`."""


class YamlSyntaxError(ProgramError):
    """The file is not well-formed YAML, or uses YAML the loader refuses (duplicate keys, aliases)."""


class ConditionError(RulesEngineError):
    """An expression in the condition language is wrong."""


class ConditionSyntaxError(ConditionError):
    """The expression cannot be parsed, or is over the size and nesting limits."""


class ConditionTypeError(ConditionError):
    """The expression parses but names something unknown or mixes types."""


class EvaluationError(RulesEngineError):
    """The input an expression runs on is wrong: a bad context, a missing required value."""


class ContextError(EvaluationError):
    """A context (event, basket, customer) does not match the declared attributes."""


class EventError(EvaluationError):
    """An event is malformed or does not fit the program (currency, unknown coupon …); nothing is applied."""


class LoopBudgetError(EventError):
    """An expression's loops would go past the work allowed for one event (RE470): the event is
    refused like a malformed one, nothing applied, and the next event runs as usual."""


class StateError(EvaluationError):
    """A customer state snapshot is malformed."""


class StoreError(RulesEngineError):
    """A store cannot be opened or used: a bad URL, a database of another schema version, a
    server that does not answer. Raised before anything is written."""
