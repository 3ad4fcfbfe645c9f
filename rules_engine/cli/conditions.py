"""`loyalty check`: one expression, type-checked and evaluated against a context."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rules_engine import jsonio
from rules_engine.dsl.expression import compile_expression
from rules_engine.errors import (
    ContextError,
    Diagnostic,
    RulesEngineError,
)
from rules_engine.render import (
    trace_tree,
)

if TYPE_CHECKING:
    pass
from rules_engine.cli.common import (
    _consoles,
    _fail,
    _read_context,
    _usage,
    _with_hint,
    app,
)
from rules_engine.zones import zone_named


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
        zone = zone_named(timezone)
        if zone is None:
            _usage(
                Diagnostic(
                    "RE704", f"unknown timezone `{timezone}`", hint="use an IANA name, e.g. Europe/Moscow"
                ),
                err,
            )
    data = _read_context(context, err) if context is not None else {}
    try:
        compiled = compile_expression(expression, per_item="item" in data)
        normalized = compiled.context(data, timezone=zone)
        trace = compiled.explain(normalized) if explain else None
        value = compiled.evaluate(normalized)
    except ContextError as problem:
        hint = "give the values with --context FILE.json" if context is None else None
        _fail(_with_hint(problem.diagnostics, hint), err)
    except RulesEngineError as problem:
        _fail(problem.diagnostics, err)
    if python:
        out.print(compiled.python_source, markup=False, soft_wrap=True)
    if as_json:
        out.print(jsonio.dumps({"value": value, "type": str(compiled.type)}), markup=False, soft_wrap=True)
        return
    if trace is not None:
        out.print(trace_tree(trace, compiled.origin))
        return
    from rules_engine.dsl.values import display

    out.print(display(value), markup=False, soft_wrap=True)
