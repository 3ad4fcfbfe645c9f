"""Event and customer-state files: JSON read with exact numbers, problems located in the file.

Input is a path; output is the JSON-like data (`dict`, `list`, `str`, `int`, `Decimal`, `bool`,
`None`) that `Engine.process` validates. Numbers never pass through float (`jsonio.loads`). A
file that cannot be read, is not UTF-8 or is not JSON raises an `EvaluationError` with code
RE414, and a syntax error carries the span of the character where the JSON went wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rules_engine import jsonio
from rules_engine.errors import Diagnostic, EvaluationError, RulesEngineError
from rules_engine.source import SourceFile, Span

_SHAPES = {
    "event": 'an event file holds one JSON object: {"id": …, "type": "purchase", "time": …, …}',
    "customer state": 'a customer state file holds one JSON object: {"tier": "gold", "lots": […], …}',
}


def read_json(path: str | Path, what: str = "event", *, name: str | None = None) -> Any:
    """Read one JSON file holding an event or a customer state.

    Args:
        path: the file to read.
        what: what the file holds, for messages: "event" or "customer state".
        name: how diagnostics name the file (default: the path as given).

    Raises:
        EvaluationError: RE414 when the file cannot be read, is not UTF-8 text or is not JSON.
    """
    shown = name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
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
    try:
        return jsonio.loads(text)
    except json.JSONDecodeError as problem:
        source = SourceFile(shown, text)
        raise EvaluationError(
            [
                Diagnostic(
                    "RE414",
                    f"the {what} file is not valid JSON: {problem.msg}",
                    Span(source, problem.pos, min(problem.pos + 1, len(text))),
                    hint=_SHAPES.get(what),
                )
            ]
        ) from None
    except ValueError as problem:  # NaN, Infinity
        raise EvaluationError(
            [
                Diagnostic(
                    "RE414",
                    f"the {what} file {shown} has a value JSON does not allow: {problem}",
                    hint="write numbers as plain digits",
                )
            ]
        ) from None


def locate(diagnostics: list[Diagnostic], path: str | Path) -> list[Diagnostic]:
    """Give diagnostics that carry a JSON path the span of that place in the file.

    JSON is YAML, so the program loader's source map serves: the field's value (or, for a
    missing field, the object it belongs in) gets a line, a column and a caret. Diagnostics
    without a path, or a file the loader cannot map, keep the file's name in the message.
    """
    from dataclasses import replace

    from rules_engine.program.loader import load_file

    try:
        _, source_map = load_file(path)
    except RulesEngineError:  # best effort: the file already parsed as JSON
        source_map = None
    located = []
    for diagnostic in diagnostics:
        if diagnostic.span is None and diagnostic.path is not None and source_map is not None:
            located.append(replace(diagnostic, span=source_map.span(diagnostic.path)))
        elif diagnostic.span is None:
            located.append(replace(diagnostic, message=f"{path}: {diagnostic.message}"))
        else:
            located.append(diagnostic)
    return located
