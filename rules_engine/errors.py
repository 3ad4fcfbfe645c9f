"""The one error hierarchy, and the structured diagnostics every error carries.

Every diagnostic's code is registered in `codes.py` (its meaning, stage, severity and exit
status; docs/errors.md is the index made from it): a `Diagnostic` with another code is refused.
Text for people is produced in `render.py`, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rules_engine.codes import CODES, Severity
from rules_engine.source import Span

if TYPE_CHECKING:
    from pydantic import ValidationError

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
    "PydanticIssue",
    "RulesEngineError",
    "Severity",
    "StateError",
    "StoreError",
    "YamlSyntaxError",
    "diagnostics_from_pydantic",
    "path_text",
    "pydantic_issues",
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
        # A dict lookup, and only where a problem is reported: no diagnostic is made for an event
        # that goes well, and beside making the frozen dataclass it is lost in the noise.
        registered = CODES.get(self.code)
        if registered is None:
            raise ValueError(f"{self.code} is not a registered diagnostic code (rules_engine/codes.py)")
        if registered.severity != self.severity:
            raise ValueError(f"{self.code} is registered as {registered.severity}, not {self.severity}")

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


class TransientError(StoreError):
    """The database ended a transaction so that another could go on (PostgreSQL's deadlock
    detection, a serialization failure): nothing of it was written, and the same transaction
    tried again succeeds (`loyalty run` tries a line again: replay.py `TRIES`)."""


# -- pydantic's errors as diagnostics ------------------------------------------------------------


@dataclass(frozen=True)
class PydanticIssue:
    """One of pydantic's errors, read once, in the terms a converter to diagnostics needs."""

    kind: str  # pydantic's error type: "missing", "extra_forbidden", "string_type" …
    loc: tuple[str | int, ...]  # pydantic's location, union branch tags included
    path: tuple[str | int, ...]  # the location in the data: the branch tags dropped
    message: str  # pydantic's message, without the "Value error, " of a validator's ValueError
    input: Any  # the value that failed

    def where(self, root: str) -> str:
        """The path as text, `items[0].price`; `root` when the problem is the whole input."""
        return path_text(self.path) or root


def shown(value: str) -> str:
    """A value as a validator's message may quote it: a lone UTF-16 surrogate escaped (`\\ud800`).

    JSON text and program files refuse lone surrogates before validation, but data given from
    Python can hold them, and pydantic cannot encode a message that quotes one: it raises
    UnicodeEncodeError instead of reporting the problem."""
    return value.encode("utf-8", "backslashreplace").decode()


def quoted(value: str, most: int = 40) -> str:
    """A value as a message quotes it (`repr`): its start and its length when it is longer than
    `most` characters, so that a hostile 10 KB id is not answered back whole."""
    if len(value) <= most:
        return repr(value)
    return f"{value[:most]!r}… ({len(value):,} characters)"


def path_text(path: Sequence[str | int]) -> str:
    """A path into JSON-like data as people write it: `items[0].price`."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def pydantic_issues(error: ValidationError, data: Any) -> list[PydanticIssue]:
    """Each of pydantic's errors about `data` (the input it validated), its location in the data."""
    return [
        PydanticIssue(
            kind=str(item["type"]),
            loc=tuple(item["loc"]),
            path=_path_in(tuple(item["loc"]), data),
            message=str(item["msg"]).removeprefix("Value error, "),
            input=item.get("input"),
        )
        for item in error.errors(include_url=False)
    ]


def _path_in(loc: tuple[str | int, ...], data: Any) -> tuple[str | int, ...]:
    """`loc` without the tags pydantic inserts for a union's branch (`purchase` in
    `("purchase", "items", 0)`): a step that is not in the data, unless it is the last one (a
    missing field, which is the point)."""
    path: list[str | int] = []
    node = data
    for position, step in enumerate(loc):
        in_list = isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        if in_list or (isinstance(node, dict) and step in node):
            node = node[step]
        elif isinstance(step, str) and position < len(loc) - 1:
            continue  # a branch tag: the data goes on below it, unchanged
        else:
            node = None
        path.append(step)
    return tuple(path)


def diagnostics_from_pydantic(
    error: ValidationError | Sequence[PydanticIssue],
    code: str | Callable[[PydanticIssue], str],
    *,
    data: Any,
    root: str = "input",
    message: Callable[[PydanticIssue], str] | None = None,
    hint: str | Callable[[PydanticIssue], str | None] | None = None,
    span: Callable[[PydanticIssue], Span | None] | None = None,
) -> list[Diagnostic]:
    """One diagnostic per problem pydantic found in `data`, in pydantic's order.

    Args:
        error: pydantic's error, or its issues already read (`pydantic_issues`) and filtered.
        code: the code of every diagnostic, or a function of the issue.
        data: the input that was validated; its shape tells a union's tags from real fields.
        root: what to call the whole input in messages (`event`, `state`).
        message: the text; by default the path and pydantic's message, `items[0].qty: Field required`.
        hint: one hint for all, or a function of the issue.
        span: the place in a file (a YAML source map's), when the caller knows one; each
            diagnostic carries the issue's `path` too, for JSON inputs located later.
    """
    issues = error if isinstance(error, Sequence) else pydantic_issues(error, data)
    return [
        Diagnostic(
            code if isinstance(code, str) else code(issue),
            message(issue) if message is not None else f"{issue.where(root)}: {issue.message}",
            span(issue) if span is not None else None,
            hint if hint is None or isinstance(hint, str) else hint(issue),
            path=issue.path,
        )
        for issue in issues
    ]
