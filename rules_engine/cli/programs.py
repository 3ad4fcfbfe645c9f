"""The commands over program files: `validate`, `schema`, `compile`, `dry-run` and `test`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from rules_engine import jsonio
from rules_engine.errors import (
    Diagnostic,
    RulesEngineError,
    StateError,
)
from rules_engine.render import (
    styled_diagnostic,
)

if TYPE_CHECKING:
    pass
from rules_engine.cli.common import (
    _consoles,
    _engine,
    _fail,
    _in_file,
    _usage,
    _with_hint,
    app,
)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Program files, or folders to search for *.yaml.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as a JSON list.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    today: Annotated[
        str | None, typer.Option("--today", help="Date for lints about schedules in the past (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Validate program files: every error and warning at once, each with its place in the file."""

    from rules_engine.program.validate import validate_file

    out, err = _consoles()
    as_of = None
    if today is not None:
        try:
            as_of = dt.date.fromisoformat(today)
        except ValueError:
            _usage(Diagnostic("RE701", f"`{today}` is not a date", hint="write --today 2026-12-01"), err)
    files = _program_files(paths, err)
    results = [validate_file(path, today=as_of) for path in files]
    if as_json:
        problems = [
            {**d.to_json(), "file": d.span.file.name if d.span else result.file}
            for result in results
            for d in result.diagnostics
        ]
        out.print(json.dumps(problems, indent=2, ensure_ascii=False), markup=False, soft_wrap=True)
    else:
        for result in results:
            for diagnostic in result.diagnostics:
                err.print(styled_diagnostic(diagnostic), soft_wrap=True)
                err.print()
        for result in results:
            status = "ok" if result.ok(strict=strict) else "invalid"
            style = "green" if status == "ok" else "red"
            counts = f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
            out.print(f"[{style}]{status:7}[/{style}] {result.file}: {counts}", soft_wrap=True)
    if not all(result.ok(strict=strict) for result in results):
        raise typer.Exit(1)


def _program_files(paths: list[Path], err: Console) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*.y*ml") if p.suffix in (".yaml", ".yml") and ".tests." not in p.name
            )
        elif path.exists():
            files.append(path)
        else:
            _fail([Diagnostic("RE105", f"no such file or folder: {path}", hint="check the path")], err)
    if not files:
        _fail(
            [
                Diagnostic(
                    "RE105", "no program files (*.yaml) found", hint="name a file or a folder of programs"
                )
            ],
            err,
        )
    return files


@app.command()
def schema(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the JSON Schemas into.")] = Path(
        "schemas"
    ),
) -> None:
    """Write the JSON Schemas generated from the models (for editors and other tools)."""
    from rules_engine.schemas import write_schemas

    out, _ = _consoles()
    for path in write_schemas(out_dir):
        out.print(f"wrote {path}", markup=False, soft_wrap=True)


@app.command("compile")
def compile_command(
    program: Annotated[Path, typer.Argument(metavar="PROGRAM", help="The program file.", show_default=False)],
    python: Annotated[
        bool,
        typer.Option(
            "--python", help="Print the generated Python module of the program's pricing and earning."
        ),
    ] = False,
    whole: Annotated[
        bool,
        typer.Option(
            "--whole", help="Print the whole step's generated function (engine/whole/, run by Stream.step)."
        ),
    ] = False,
) -> None:
    """Compile a program and say what runs: whether its pricing and earning are generated, and why not."""
    from rules_engine.engine.generate import unsupported
    from rules_engine.engine.generated import python_source

    out, err = _consoles()
    engine = _engine(program, err)
    if whole:
        from rules_engine.engine.whole.listing import python_source as whole_source

        out.print(whole_source(engine.plan), markup=False, emoji=False, highlight=False, soft_wrap=True)
        return
    if python:
        out.print(python_source(engine.plan), markup=False, emoji=False, highlight=False, soft_wrap=True)
        return
    name = f"{engine.program.program} v{engine.program.version}"
    why = unsupported(engine.plan)
    if why is not None:
        out.print(
            f"{name}: pricing and earning not generated ({why}): the evaluator decides every event",
            markup=False,
            soft_wrap=True,
        )
        return
    out.print(
        f"{name}: pricing and earning generated ({len(engine.plan.discounts)} discount(s),"
        f" {len(engine.program.earn)} earn rule(s)): they decide purchases without a coupon or points"
        " tendered, explain off; the evaluator the rest. `--python` prints the code.",
        markup=False,
        soft_wrap=True,
    )


@app.command("dry-run")
def dry_run(
    program: Annotated[Path, typer.Argument(metavar="PROGRAM", help="The program file.", show_default=False)],
    event: Annotated[
        Path, typer.Argument(metavar="EVENT.json", help="A JSON file holding one event.", show_default=False)
    ],
    customer: Annotated[
        Path | None,
        typer.Option(
            "--customer",
            metavar="STATE.json",
            help="The customer's state before the event (default: a new customer): a state, or what "
            "`loyalty customer --json` or `loyalty run --state-out` wrote.",
        ),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also show each evaluated condition as a tree of values.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the outcome as JSON (schemas/outcome.schema.json).")
    ] = False,
) -> None:
    """Process one event against a program, storing nothing: what every rule gave, and why."""
    from rules_engine.engine.inputs import read_json
    from rules_engine.render import outcome_report
    from rules_engine.state.documents import in_document, select_state

    out, err = _consoles()
    engine = _engine(program, err)
    state: Any = None
    where: tuple[str | int, ...] = ()
    try:
        data = read_json(event, "event")
        if customer is not None:
            who = data.get("customer") if isinstance(data, dict) else None
            state, where = select_state(read_json(customer, "customer state"), who)
    except StateError as problem:
        _fail(_in_file(problem.diagnostics, customer), err)
    except RulesEngineError as problem:
        _fail(problem.diagnostics, err)
    try:
        outcome = engine.process(data, state, explain=True).outcome()
    except StateError as problem:
        _fail(_in_file(in_document(problem.diagnostics, where), customer), err)
    except RulesEngineError as problem:
        _fail(_in_file(problem.diagnostics, event), err)
    if as_json:
        text = jsonio.dumps(outcome.model_dump(mode="python"), indent=2)
        out.print(text, markup=False, emoji=False, highlight=False, soft_wrap=True)
        return
    settings = engine.program
    out.print(
        outcome_report(outcome, currency=settings.currency, points_name=settings.points.name, explain=explain)
    )


@app.command("test")
def run_tests(
    program: Annotated[
        Path,
        typer.Argument(
            metavar="PROGRAM",
            help="The program file; or a tests file whose `program:` names it.",
            show_default=False,
        ),
    ],
    tests: Annotated[
        Path | None,
        typer.Argument(
            metavar="TESTS.yaml",
            help="The tests file (default: the program's name with .tests.yaml).",
            show_default=False,
        ),
    ] = None,
    allow_outside: Annotated[
        bool,
        typer.Option(
            "--allow-outside",
            help="Let the tests file name event and state files outside its folder (trusted files only).",
        ),
    ] = False,
) -> None:
    """Run a program's tests file: each case's event, and what must (not) come of it."""
    from rules_engine.render import case_report, suite_summary
    from rules_engine.tools.expectations import (
        SuiteError,
        check_suite,
        load_suite,
        run_suite,
        suite_paths,
        suite_program,
    )

    out, err = _consoles()
    program_path, tests_path = suite_paths(program, tests)
    try:
        suite = load_suite(tests_path, allow_outside=allow_outside)
        program_path = program_path or suite_program(suite)
    except SuiteError as problem:
        missing = tests is None and program_path is not None and problem.code == "RE105"
        hint = (
            "write the tests next to the program (docs/cli.md), or name them: loyalty test PROGRAM TESTS.yaml"
            if missing
            else None
        )
        _fail(_with_hint(problem.diagnostics, hint), err)
    engine = _engine(program_path, err)
    problems = check_suite(suite, engine.program)
    if problems:
        _fail(problems, err)
    passed = failed = 0
    for result in run_suite(engine, suite):  # printed as each is done, none kept
        out.print(case_report(result), soft_wrap=True)
        passed, failed = passed + result.passed, failed + (not result.passed)
    out.print(suite_summary(passed, failed), soft_wrap=True)
    if failed:
        raise typer.Exit(1)
