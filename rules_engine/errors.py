"""The one error hierarchy, and the structured diagnostics every error carries.

Codes are stable (dbt-style) so tests, tools and marketers' searches can rely on them:
RE1xx program YAML and schema, RE2xx condition syntax and limits, RE3xx types and names,
RE4xx runtime input (contexts, events), RE5xx lint warnings,
RE6xx stores (databases). Text for people is produced in `render.py`, never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rules_engine.source import Span


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


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

    def to_json(self) -> dict[str, object]:
        span = self.span
        return {
            "code": self.code,
            "severity": str(self.severity),
            "file": span.file.name if span else None,
            "line": span.line if span else None,
            "column": span.column if span else None,
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
    """A program file is not valid; all of its problems are collected, not just the first."""


class YamlSyntaxError(ProgramError):
    """The file is not well-formed YAML, or uses YAML the loader refuses (duplicate keys, aliases)."""


class SchemaError(ProgramError):
    """The YAML is well-formed but its structure does not match the program schema."""


class ModelError(ProgramError):
    """The structure is right but the content is not: references, thresholds, conditions."""


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
