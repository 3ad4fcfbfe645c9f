"""The `loyalty` command line: a thin typer layer over the public API.

Exit codes: 0 success, 1 a program, expression or input error (reported on stderr with file,
line, column and a hint), 2 a usage error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console

from rules_engine import jsonio
from rules_engine.dsl.expression import compile_expression
from rules_engine.errors import ContextError, Diagnostic, RulesEngineError
from rules_engine.render import styled_diagnostic, trace_tree
from rules_engine.source import SourceFile, Span

app = typer.Typer(
    name="loyalty",
    help="Loyalty rules engine: check expressions, validate and dry-run programs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _consoles() -> tuple[Console, Console]:
    return Console(highlight=False), Console(stderr=True, highlight=False)


def _fail(diagnostics: list[Diagnostic], err: Console) -> NoReturn:
    for index, diagnostic in enumerate(diagnostics):
        if index:
            err.print()
        err.print(styled_diagnostic(diagnostic), soft_wrap=True)
    raise typer.Exit(1)


def _read_context(path: Path, err: Console) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as problem:
        _fail(
            [
                Diagnostic(
                    "RE405", f"cannot read context file {path}: {problem.strerror}", hint="check the path"
                )
            ],
            err,
        )
    try:
        data = jsonio.loads(text)
    except json.JSONDecodeError as problem:
        source = SourceFile(str(path), text)
        span = Span(source, problem.pos, problem.pos + 1)
        _fail(
            [
                Diagnostic(
                    "RE405",
                    f"the context file is not valid JSON: {problem.msg}",
                    span,
                    hint='a context is {"event": {...}, "basket": {...}, "customer": {...}}',
                )
            ],
            err,
        )
    except ValueError as problem:
        _fail(
            [Diagnostic("RE405", f"the context file has {problem}", hint="write numbers as plain digits")],
            err,
        )
    if not isinstance(data, dict):
        _fail(
            [
                Diagnostic(
                    "RE401",
                    "a context file holds one JSON object",
                    hint='write {"event": {...}, "basket": {...}, "customer": {...}}',
                )
            ],
            err,
        )
    return data


@app.command()
def check(
    expression: Annotated[str, typer.Argument(help="The expression, e.g. 'basket.total >= 50'.")],
    context: Annotated[
        Path | None,
        typer.Option("--context", "-c", help="JSON file with event, basket, customer (and item) objects."),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show every sub-expression with its value.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"value": …, "type": "…"}.')] = False,
    python: Annotated[
        bool, typer.Option("--python", help="Show the Python the expression compiles to.")
    ] = False,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="Program timezone for event.time, e.g. Europe/Moscow.")
    ] = None,
) -> None:
    """Check an expression, then evaluate it against a context and print its value."""
    out, err = _consoles()
    zone = None
    if timezone is not None:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            _fail(
                [
                    Diagnostic(
                        "RE406", f"unknown timezone `{timezone}`", hint="use an IANA name, e.g. Europe/Moscow"
                    )
                ],
                err,
            )
    data = _read_context(context, err) if context is not None else {}
    try:
        compiled = compile_expression(expression, per_item="item" in data)
        normalized = compiled.context(data, timezone=zone)
        trace = compiled.explain(normalized) if explain else None
        value = compiled.evaluate(normalized)
    except ContextError as problem:
        if context is None:
            problem.diagnostics[:] = [
                Diagnostic(d.code, d.message, d.span, "give the values with --context FILE.json")
                for d in problem.diagnostics
            ]
        _fail(problem.diagnostics, err)
    except RulesEngineError as problem:
        _fail(problem.diagnostics, err)
    if as_json:
        out.print(jsonio.dumps({"value": value, "type": str(compiled.type)}), markup=False)
        return
    if python:
        out.print(compiled.python_source, markup=False)
    if trace is not None:
        out.print(trace_tree(trace, compiled.origin))
        return
    from rules_engine.dsl.values import display

    out.print(display(value), markup=False)


@app.callback()
def _root() -> None:
    """Loyalty rules engine."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
