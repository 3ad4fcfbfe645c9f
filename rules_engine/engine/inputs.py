"""Event and customer-state files: JSON read with exact numbers, problems located in the file.

Input is a path; output is the JSON-like data (`dict`, `list`, `str`, `int`, `Decimal`, `bool`,
`None`) that `Engine.process` validates. Numbers never pass through float (`jsonio.loads`). A
file that cannot be read, is not UTF-8 or is not JSON raises an `EvaluationError` with code
RE414, and a syntax error carries the span of the character where the JSON went wrong.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from rules_engine import jsonio
from rules_engine.errors import Diagnostic, EvaluationError
from rules_engine.source import SourceFile, Span

_SHAPES = {
    "event": 'an event file holds one JSON object: {"id": …, "type": "purchase", "time": …, …}',
    "customer state": 'a customer state file holds one JSON object: {"tier": "gold", "lots": […], …}',
}


def read_json(path: str | Path, what: str = "event", *, name: str | None = None) -> Any:
    """Read one JSON file holding an event or a customer state (or every customer's states).

    Args:
        path: the file to read.
        what: what the file holds, for messages: "event", "customer state" or "customer states".
        name: how diagnostics name the file (default: the path as given).

    Raises:
        EvaluationError: RE414 when the file cannot be read, is not UTF-8 text, is larger than
            its limit (`jsonio.MAX_TEXT` for one event or state, `jsonio.MAX_FILE` for every
            customer's states) or is not JSON we accept (`jsonio.loads`).
    """
    shown = name or str(path)
    limit = jsonio.MAX_FILE if what == "customer states" else jsonio.MAX_TEXT
    try:
        text = jsonio.read_text(path, limit=limit)
    except OSError as problem:
        reason = (problem.strerror or type(problem).__name__).lower()
        raise EvaluationError(
            [Diagnostic("RE414", f"cannot read the {what} file {shown}: {reason}", hint="check the path")]
        ) from None
    except UnicodeDecodeError:
        raise EvaluationError(
            [
                Diagnostic(
                    "RE414",
                    f"the {what} file {shown} is not UTF-8 text",
                    hint="save the file with UTF-8 encoding",
                )
            ]
        ) from None
    except jsonio.JsonError as problem:
        raise EvaluationError(
            [Diagnostic("RE414", f"the {what} file {shown}: {problem.message}", hint=problem.hint)]
        ) from None
    try:
        return jsonio.loads(text, limit=limit)
    except jsonio.JsonError as problem:
        source = SourceFile(shown, text)
        raise EvaluationError(
            [
                Diagnostic(
                    "RE414",
                    f"the {what} file is {_reason(problem)}",
                    Span(source, problem.position, min(problem.position + 1, len(text))),
                    hint=problem.hint or _SHAPES.get(what),
                )
            ]
        ) from None


def _reason(problem: jsonio.JsonError) -> str:
    """`not valid JSON: …` as it is; any other refusal as `refused: …`."""
    return problem.message if problem.message.startswith("not ") else f"refused: {problem.message}"


def locate(diagnostics: list[Diagnostic], path: str | Path, *, name: str | None = None) -> list[Diagnostic]:
    """Give diagnostics that carry a JSON path the span of that place in the file.

    The field's value (or, for a missing field, the object it belongs in) gets a line, a column
    and a caret (`jsonio.value_span`). Diagnostics without a path, or a file that cannot be
    read again, keep the file's name in the message.
    """
    try:
        text: str | None = jsonio.read_text(path, limit=jsonio.MAX_FILE)
    except (OSError, ValueError):  # best effort: the file already parsed as JSON
        text = None
    return locate_in(diagnostics, text, name or str(path))


def locate_in(
    diagnostics: list[Diagnostic], text: str | None, name: str, first_line: int = 1
) -> list[Diagnostic]:
    """As `locate`, for a JSON text already read: a file's, or one line of a stream's."""
    source = SourceFile(name, text, first_line) if text is not None else None
    spans = None  # found on the first diagnostic that needs them: one walk of the text for all
    located = []
    for diagnostic in diagnostics:
        found = None
        if diagnostic.span is None and diagnostic.path is not None and text is not None:
            spans = spans or jsonio.value_spans(text)
            found = spans.find(diagnostic.path)
        if found is not None and source is not None:
            located.append(replace(diagnostic, span=Span(source, *found)))
        elif diagnostic.span is None:
            located.append(replace(diagnostic, message=f"{name}: {diagnostic.message}"))
        else:
            located.append(diagnostic)
    return located
