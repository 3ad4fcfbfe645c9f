"""The `loyalty` command line: a thin typer layer over the public API.

Exit codes: 0 success, 1 a program, expression or input error (reported on stderr with file,
line, column and a hint), 2 a usage error: click's own (an unknown option, a missing argument, a
value outside a closed choice) and the option values our code refuses (`_usage`: a bad date,
moment, duration or timezone, options that exclude each other).

Help texts are markdown (`rich_markup_mode`): a docstring's lines are joined into paragraphs and
re-wrapped to the terminal, so write them as prose, a blank line between paragraphs.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from rules_engine import codes, jsonio
from rules_engine.dsl.expression import compile_expression
from rules_engine.errors import (
    ContextError,
    Diagnostic,
    EventError,
    ProgramError,
    RulesEngineError,
    Severity,
    StateError,
    StoreError,
)
from rules_engine.render import (
    change_text,
    customer_lines,
    replay_customer_line,
    replay_totals,
    styled_diagnostic,
    trace_tree,
)
from rules_engine.source import SourceFile, Span

if TYPE_CHECKING:
    from rules_engine.engine.evaluator import Engine
    from rules_engine.engine.outcome import Outcome
    from rules_engine.replay import Replay
    from rules_engine.state.customer import CustomerState
    from rules_engine.store import Store

app = typer.Typer(
    name="loyalty",
    help="Loyalty rules engine: check expressions, validate and test programs, process events into a "
    "store and read it back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _consoles() -> tuple[Console, Console]:
    return Console(highlight=False), Console(stderr=True, highlight=False)


def _fail(diagnostics: list[Diagnostic], err: Console, *, status: int | None = None) -> NoReturn:
    """Print the problems and exit: with `status`, or the one the code registry gives them (1 for
    a problem in a program or an input, 2 for a usage problem; rules_engine/codes.py)."""
    for index, diagnostic in enumerate(diagnostics):
        if index:
            err.print()
        err.print(styled_diagnostic(diagnostic), soft_wrap=True)
    raise typer.Exit(status if status is not None else codes.exit_status(d.code for d in diagnostics) or 1)


def _with_hint(diagnostics: list[Diagnostic], hint: str | None) -> list[Diagnostic]:
    """The diagnostics with the hint the command knows better (what to type), if it has one; the
    caught error is left as it was."""
    return diagnostics if hint is None else [replace(d, hint=hint) for d in diagnostics]


def _usage(diagnostic: Diagnostic, err: Console) -> NoReturn:
    """A usage error found by our code (an option's value, options that exclude each other):
    reported like any problem, with its code and hint, but exit 2 as click's own usage errors."""
    _fail([diagnostic], err, status=2)


def _read_context(path: Path, err: Console) -> dict[str, Any]:
    try:
        text = jsonio.read_text(path)
    except (OSError, UnicodeDecodeError, jsonio.JsonError) as problem:
        reason = (
            (problem.strerror or type(problem).__name__)
            if isinstance(problem, OSError)
            else problem.message
            if isinstance(problem, jsonio.JsonError)
            else "it is not UTF-8 text"
        )
        _fail([Diagnostic("RE405", f"cannot read context file {path}: {reason}", hint="check the path")], err)
    try:
        data = jsonio.loads(text)
    except jsonio.JsonError as problem:
        source = SourceFile(str(path), text)
        span = Span(source, problem.position, min(problem.position + 1, len(text)))
        _fail(
            [
                Diagnostic(
                    "RE405",
                    f"the context file is {problem.message}"
                    if problem.message.startswith("not ")
                    else f"the context file is refused: {problem.message}",
                    span,
                    hint=problem.hint or 'a context is {"event": {...}, "basket": {...}, "customer": {...}}',
                )
            ],
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
        except (ZoneInfoNotFoundError, ValueError, OSError):  # `Europe` is a folder; a long name, too long
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
    import datetime as dt

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
    from rules_engine.tools.schemas import write_schemas

    out, _ = _consoles()
    for path in write_schemas(out_dir):
        out.print(f"wrote {path}", markup=False, soft_wrap=True)


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
        outcome = engine.process(data, state, explain=True)
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
    results = run_suite(engine, suite)
    for result in results:
        out.print(case_report(result), soft_wrap=True)
    out.print(suite_summary(results), soft_wrap=True)
    if not all(result.passed for result in results):
        raise typer.Exit(1)


def _engine(path: Path, err: Console) -> Engine:
    """Load, validate and compile a program; every error in it is reported (exit 1).

    The deployment secret for coupon and referral codes comes from LOYALTY_SECRET (empty if unset)."""
    from rules_engine.engine.evaluator import Engine

    try:
        return Engine.from_file(path, secret=os.environ.get("LOYALTY_SECRET", "").encode())
    except ProgramError as problem:
        _fail(problem.diagnostics, err)


def _load_states(path: Path, err: Console) -> dict[str, CustomerState]:
    """Customer states by id, as `loyalty run --state-out` writes them; problems located in the file."""
    from rules_engine.engine.inputs import read_json
    from rules_engine.state.customer import parse_state

    try:
        data = read_json(path, "customer states")
        if not isinstance(data, dict):
            _fail([Diagnostic("RE420", f"{path}: customer states are an object by customer id")], err)
        return {customer: parse_state(state) for customer, state in data.items()}
    except RulesEngineError as problem:
        _fail(_in_file(problem.diagnostics, path), err)


def _customer_states(
    path: Path | None, db: str | None, engine: Engine, err: Console
) -> dict[str, CustomerState]:
    """The states of every customer: from a states file, or from a store (exactly one of them)."""
    if (path is None) == (db is None):
        _usage(Diagnostic("RE707", "give either a states file or --db, not both or neither"), err)
    if path is not None:
        return _load_states(path, err)
    store = _open_store(str(db), engine, err, readonly=True)
    try:
        return dict(store.states())
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()


def _in_file(diagnostics: list[Diagnostic], path: Path | None) -> list[Diagnostic]:
    """Point diagnostics about an input file at the place in it (line, column, caret)."""
    from rules_engine.engine.inputs import locate

    return diagnostics if path is None else locate(diagnostics, path)


NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="The current time, with its offset (2026-12-31T23:59:59+03:00), or `now` for the system "
        "clock: the horizon is measured from it (without it, from the store's latest event).",
    ),
]
HorizonOption = Annotated[
    str | None,
    typer.Option(
        "--horizon",
        help="How far ahead of --now or of the store's latest event an event (or --to) may be: 1d, "
        "12h, 7d, or none. Default 1d with --db or --now; none for a run in memory.",
    ),
]


def _clock(
    now: str | None, horizon: str | None, kept: bool, err: Console
) -> tuple[Callable[[], dt.datetime] | dt.datetime | None, dt.timedelta | None]:
    """`--now` and `--horizon` as `Loyalty` takes them. Without --horizon, the default horizon
    guards what is kept for good (a store, `kept`) or measured against a given --now."""
    from rules_engine.dsl.values import parse_duration
    from rules_engine.service import DEFAULT_HORIZON

    clock: Callable[[], dt.datetime] | dt.datetime | None = None
    if now == "now":
        clock = _system_clock
    elif now is not None:
        clock = _moment(now, "--now", err)
    if horizon is None:
        return clock, DEFAULT_HORIZON if kept or clock is not None else None
    if horizon.strip().lower() == "none":
        return clock, None
    try:
        length = parse_duration(horizon)
    except OverflowError:  # more days than Python's timedelta holds
        length = None
    if length is None:
        _usage(Diagnostic("RE703", f"--horizon {horizon}: not a duration", hint="1d, 12h, 7d, or none"), err)
    if length > MAX_HORIZON:
        _usage(
            Diagnostic(
                "RE703",
                f"--horizon {horizon}: longer than {MAX_HORIZON.days}d",
                hint="a horizon guards against far-off times: a few days; or none",
            ),
            err,
        )
    return clock, length


MAX_HORIZON = dt.timedelta(days=3650)
"""The longest `--horizon` (ten years): more guards against nothing, and far-off sums overflow."""


def _moment(text: str, option: str, err: Console) -> dt.datetime:
    """`--now`, `advance --to`, `leaderboard --at`: a moment with its offset, within the years
    events may carry (1900 to 2999), so that nothing derived from it overflows; else RE702."""
    from rules_engine.engine.events import EARLIEST, LATEST

    example = "2026-12-31T23:59:59+03:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        _usage(Diagnostic("RE702", f"{option} {text}: not a moment", hint=f"write e.g. {example}"), err)
    if moment.utcoffset() is None:
        _usage(
            Diagnostic(
                "RE702", f"{option} {text}: the moment needs a timezone offset", hint="add +03:00 or Z"
            ),
            err,
        )
    if not EARLIEST <= moment < LATEST:
        _usage(
            Diagnostic(
                "RE702",
                f"{option} {text}: outside the years 1900 to 2999 events may carry",
                hint="check the year",
            ),
            err,
        )
    return moment


def _system_clock() -> dt.datetime:
    """The system clock, for `--now now` (the engine itself never reads it)."""
    return dt.datetime.now(dt.UTC)


@app.command()
def run(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    events: Annotated[Path, typer.Argument(help="Events, one JSON object per line, in time order.")],
    state_out: Annotated[
        Path | None,
        typer.Option("--state-out", help="Write the final state of every customer of the run here (JSON)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each outcome as a JSON line.")] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No line per event and no progress bar: problems and the totals."),
    ] = False,
    by_customer: Annotated[
        bool,
        typer.Option(
            "--by-customer", help="Also a line per customer of the run: tier, balance, visits, earned."
        ),
    ] = False,
    problems_out: Annotated[
        Path | None,
        typer.Option(
            "--problems",
            help="Write problems and warnings to this file as JSON lines, as they are found, "
            "instead of to stderr.",
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Keep states, ledger and processed events in this store: an SQLite file, "
            "sqlite:///PATH or postgresql://…; without it, in memory only.",
        ),
    ] = None,
    now: NowOption = None,
    horizon: HorizonOption = None,
) -> None:
    """Replay a stream of events: an outcome per event as it is applied, the totals at the end.

    Bad lines are reported as they are met, with their line number, and skipped without touching
    any state; the exit code is 1 when there were any. With --db every event is one transaction
    of the store, and an event processed before (by any run) is not applied again. Ctrl-C stops
    after the current event and prints the totals so far (exit 130).
    """
    from rules_engine.replay import Replay, bounded_lines, replay_lines
    from rules_engine.service import Loyalty
    from rules_engine.store import open_store

    out, err = _consoles()
    for option, output in (("--problems", problems_out), ("--state-out", state_out)):
        if output is not None and _same_file(output, events):  # before any file is opened for writing
            _usage(
                Diagnostic(
                    "RE708",
                    f"{option} {output} is the events file: writing it would overwrite the events",
                    hint=f"give {option} another file",
                ),
                err,
            )
    clock, limit = _clock(now, horizon, db is not None, err)
    if state_out is not None:
        _check_writable(state_out, "--state-out", err)
    engine = _engine(program, err)
    try:  # before the store: a mistyped path must not leave an empty database behind
        lines = open(events, "rb")  # noqa: SIM115 (closed by the `with` below)
    except OSError as problem:
        _fail([Diagnostic("RE414", f"cannot read {events}: {problem.strerror}", hint="check the path")], err)
    with lines:
        report = _problem_reporter(problems_out, err)
        try:
            store = open_store(db or "memory:", engine.program.program)
        except StoreError as problem:
            report.close()
            _fail(problem.diagnostics, err)
        show = _outcome_printer(out, quiet=quiet, as_json=as_json)
        progress = _replay_progress(err, quiet=quiet)
        interrupted = _Interrupt()
        result = Replay()
        unread: list[OSError] = []
        size = _size(lines)
        try:
            with interrupted, progress:
                task = progress.add_task("replaying", total=size, events=0)
                replay_lines(
                    Loyalty(engine, store, horizon=limit, now=clock),
                    str(events),
                    _reading(bounded_lines(lines), unread),
                    show,
                    into=result,
                    on_problem=report,
                    stop=interrupted.asked,
                    # a pipe has no position (tell() raises): only a file's bar moves by bytes
                    on_line=lambda number: progress.update(
                        task, completed=lines.tell() if size is not None else None, events=number
                    ),
                )
        except KeyboardInterrupt:  # a second Ctrl-C: the event in progress was rolled back
            result.stopped = "interrupted at once"
        finally:
            report.close()
            try:
                states, unstated = _run_states(store, result, by_customer or state_out is not None)
            finally:
                store.close()
    if unread:  # the lines before were applied, and stay so
        reason = unread[0].strerror
        _fail([Diagnostic("RE414", f"cannot read {events} after line {result.line}: {reason}")], err)
    _print_totals(out, result, states if by_customer else None, report, quiet=quiet, as_json=as_json)
    if unstated is not None:  # no states file rather than one that says "no customers"
        _fail(unstated.diagnostics, err)
    if state_out is not None:
        document = {customer: state.model_dump(mode="python") for customer, state in states}
        try:
            state_out.write_text(jsonio.dumps(document, indent=2) + "\n", encoding="utf-8")
        except OSError as problem:
            _fail([_unwritable(state_out, "--state-out", problem.strerror)], err)
    if result.failure is not None:
        _fail([result.failure], err)
    if result.stopped is not None and result.stopped.startswith("interrupted"):
        at_once = result.stopped == "interrupted at once"
        err.print(
            styled_diagnostic(
                Diagnostic(
                    "RE460",
                    f"interrupted: stopped at line {result.line} of {events}, its event rolled back "
                    "unless it had just been committed"
                    if at_once
                    else f"interrupted: stopped after line {result.line} of {events}",
                    hint="with --db, run the same file again to apply the rest (events already "
                    "applied are skipped, none is applied twice)",
                    severity=Severity.WARNING,
                )
            ),
            soft_wrap=True,
        )
        raise typer.Exit(130)
    if result.problems:
        raise typer.Exit(1)


def _same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist (a link, `./x` and `x`),
    else the same resolved path."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return first.resolve() == second.resolve()


class _Interrupt:
    """Ctrl-C (SIGINT) while replaying: the first asks the replay to stop after the event in
    progress (its transaction commits); a second one interrupts at once (KeyboardInterrupt: the
    transaction in progress rolls back)."""

    def __init__(self) -> None:
        self._asked = False
        self._before: Any = None

    def asked(self) -> bool:
        return self._asked

    def _handle(self, signum: int, frame: Any) -> None:
        self._asked = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._before = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._before is not None:
            signal.signal(signal.SIGINT, self._before)


class _ProblemReporter:
    """Each problem as it is found: to stderr, or as a JSON line to the --problems file (flushed
    at once, so that a run that is killed has reported what it met)."""

    def __init__(self, err: Console, file: IO[str] | None, path: Path | None) -> None:
        self.err = err
        self.file = file
        self.path = path

    def __call__(self, diagnostic: Diagnostic) -> None:
        if self.file is None:
            self.err.print(styled_diagnostic(diagnostic), soft_wrap=True)
            self.err.file.flush()
        else:
            self.file.write(jsonio.dumps(diagnostic.to_json()) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _problem_reporter(path: Path | None, err: Console) -> _ProblemReporter:
    if path is None:
        return _ProblemReporter(err, None, None)
    try:
        return _ProblemReporter(err, open(path, "w", encoding="utf-8"), path)
    except OSError as problem:
        _fail(
            [
                Diagnostic(
                    "RE461",
                    f"--problems {path}: cannot write the file: {problem.strerror}",
                    hint="check that its folder exists and is writable",
                )
            ],
            err,
        )


def _outcome_printer(out: Console, *, quiet: bool, as_json: bool) -> Callable[[int, Outcome, bool], None]:
    def show(number: int, outcome: Outcome, duplicate: bool) -> None:
        """One line per outcome as it comes (a long replay holds none of them)."""
        if quiet:
            return
        if duplicate:
            if not as_json:
                out.print(
                    f"line {number}: {outcome.event} {outcome.customer}: already processed, nothing applied",
                    markup=False,
                    soft_wrap=True,
                )
            return
        if as_json:
            out.print(jsonio.dumps(outcome.model_dump(mode="python")), markup=False, soft_wrap=True)
            return
        given = ", ".join(f"{a.rule} {a.points}" for a in outcome.effects.points) or "no points"
        off = f", {outcome.totals.discount} off" if outcome.totals.discount else ""
        back = sum((c.points for c in outcome.effects.points_changes if c.kind == "reverse"), Decimal(0))
        off += f", took back {back}" if back else ""
        spent = sum((c.points for c in outcome.effects.points_changes if c.kind == "burn"), Decimal(0))
        off += f", spent {spent}" if spent else ""
        out.print(
            f"line {number}: {outcome.event} {outcome.customer}: {given}{off}", markup=False, soft_wrap=True
        )

    return show


def _replay_progress(err: Console, *, quiet: bool) -> Progress:
    """A progress bar on stderr (events, rate, how far into the file, time left) when it is an
    interactive terminal and not --quiet; rich's TTY_INTERACTIVE=0/1 turns it off or on."""
    return Progress(
        TextColumn("{task.fields[events]} lines"),
        BarColumn(),
        TaskProgressColumn(),
        _EventRate(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_interactive,
    )


class _EventRate(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        return Text(f"{task.fields['events'] / elapsed:,.0f} lines/s" if elapsed > 0 else "")


def _reading(lines: Iterator[bytes | None], unread: list[OSError]) -> Iterator[bytes | None]:
    """The lines, until one cannot be read: that error goes into `unread` and the lines end, so
    that only a failed read (not an error of the engine or the store) is "cannot read"."""
    try:
        yield from lines
    except OSError as problem:
        unread.append(problem)


def _size(lines: IO[bytes]) -> int | None:
    """The input's size in bytes, when it is a file (not a pipe): the bar's total, for the ETA."""
    try:
        info = os.fstat(lines.fileno())
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _run_states(
    store: Store, result: Replay, wanted: bool
) -> tuple[list[tuple[str, CustomerState]], StoreError | None]:
    """The current states of the run's customers, from the store, only when asked for; or the
    store's error reading them."""
    if not wanted:
        return [], None
    try:
        found = ((customer, store.state(customer)) for customer in sorted(result.points))
        return [(customer, state) for customer, state in found if state is not None], None
    except StoreError as problem:
        return [], problem


def _check_writable(path: Path, option: str, err: Console) -> None:
    """Refuse (before the run) an output file that could not be written at its end, without
    creating or truncating it now."""
    folder = path.parent
    reason: str | None
    if path.is_dir():
        reason = "it is a folder"
    elif path.exists():
        reason = None if os.access(path, os.W_OK) else "permission denied"
    elif not folder.is_dir():
        reason = f"no folder {folder}"
    else:
        reason = None if os.access(folder, os.W_OK | os.X_OK) else f"folder {folder} is not writable"
    if reason is not None:
        _fail([_unwritable(path, option, reason)], err)


def _unwritable(path: Path, option: str, reason: str | None) -> Diagnostic:
    return Diagnostic(
        "RE461",
        f"{option} {path}: cannot write the file: {reason}",
        hint="check that its folder exists and is writable",
    )


def _print_totals(
    out: Console,
    result: Replay,
    states: list[tuple[str, CustomerState]] | None,
    report: _ProblemReporter,
    *,
    quiet: bool,
    as_json: bool,
) -> None:
    """The run's totals (and a line per customer with --by-customer), on stdout unless --json."""
    if as_json:
        return
    if not quiet:
        out.print()
    for customer, state in states or []:
        line = replay_customer_line(customer, state, result.points.get(customer, Decimal(0)))
        out.print(line, markup=False, soft_wrap=True)
    path = None if report.path is None else str(report.path)
    for line in replay_totals(result, path):
        out.print(line, markup=False, soft_wrap=True)


ledger_app = typer.Typer(
    help="The points ledger in a store: exports for the books.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(ledger_app, name="ledger")

_DB_HELP = "The store: an SQLite file, sqlite:///PATH or postgresql://…"


def _open_store(db: str, engine: Engine, err: Console, *, readonly: bool = False) -> Store:
    """A store that must exist already: these commands read or update what `loyalty run` stored.

    `readonly`: for the commands that only read; the database is opened without writing to it
    (it may be on read-only media). For every command, one that holds only another program's
    customers is refused (RE608) rather than answering "nothing there" (or, for `advance`,
    "0 customer(s) changed")."""
    from rules_engine.store import open_store

    try:
        store = open_store(db, engine.program.program, create=False, readonly=readonly)
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    try:
        held = store.programs()
    except StoreError as problem:
        store.close()
        _fail(problem.diagnostics, err)
    if held and store.program not in held:
        store.close()
        _fail(
            [
                Diagnostic(
                    "RE608",
                    f"{store.url} holds the customers of program {', '.join(map(repr, held))}, "
                    f"not of {store.program!r}",
                    hint="give the program file the database was filled with, or the database of "
                    "this program",
                )
            ],
            err,
        )
    return store


def _date(text: str | None, option: str, err: Console) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _usage(Diagnostic("RE701", f"{option} {text}: not a date", hint="write it as YYYY-MM-DD"), err)


class ExportFormat(enum.StrEnum):
    """`ledger export --format`: a closed choice, so click refuses any other value (exit 2)."""

    CSV = "csv"
    JSON = "json"


@ledger_app.command("export")
def ledger_export(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    start: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD in the program's time zone.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (included), YYYY-MM-DD.")] = None,
    output: Annotated[
        ExportFormat,
        typer.Option("--format", help="csv: the journal on stdout, the summary on stderr; json: both."),
    ] = ExportFormat.CSV,
) -> None:
    """Journal entries for the points issued, redeemed, expired and reversed, valued at the
    program's money value per point; the liability at the end, breakage, and whether it all
    reconciles with the customers' balances (exit 1 if it does not)."""
    from rules_engine.tools import accounting

    out, err = _consoles()
    first, last = _date(start, "--from", err), _date(end, "--to", err)
    if first and last and first > last:
        _usage(Diagnostic("RE706", f"--from {first} is after --to {last}", hint="swap them"), err)
    engine = _engine(program, err)
    store = _open_store(db, engine, err, readonly=True)
    try:
        rows = list(store.ledger())
        balances = None
        if last is None:
            balances = sum((lot.points for _, state in store.states() for lot in state.lots), Decimal(0))
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    books = accounting.books(engine.program, rows, start=first, end=last, balances=balances)
    if output is ExportFormat.JSON:
        out.print(jsonio.dumps(accounting.to_json(books), indent=2), markup=False, soft_wrap=True)
        if books.value is None:  # the CSV's summary says so; JSON has null amounts
            err.print(accounting.summary_lines(books)[0], markup=False, soft_wrap=True)
    else:
        out.file.write(accounting.to_csv(books))
        for line in accounting.summary_lines(books):
            err.print(line, markup=False, soft_wrap=True)
    if not books.reconciles:
        raise typer.Exit(1)


@app.command()
def customer(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    customer_id: Annotated[str, typer.Argument(metavar="CUSTOMER", help="The customer's id.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the state and the stored ledger as one JSON document.")
    ] = False,
    last: Annotated[
        int, typer.Option("--last", min=0, help="How many of the latest ledger entries to show.")
    ] = 10,
) -> None:
    """What a store holds for one customer: tier, balance (available and pending as of their
    latest event), open lots, badges, unused coupons and the latest ledger entries."""
    out, err = _consoles()
    engine = _engine(program, err)
    store = _open_store(db, engine, err, readonly=True)
    try:
        state = store.state(customer_id)
        rows = list(store.ledger(customer=customer_id))
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    if state is None:
        _fail(
            [
                Diagnostic(
                    "RE606",
                    f"no customer {customer_id!r} in {store.url}",
                    hint="customer ids are as the events name them; check the store and the program",
                )
            ],
            err,
        )
    if as_json:
        document = {
            "state": state.model_dump(mode="python"),
            "ledger": [{"seq": row.seq, **row.entry.model_dump(mode="python")} for row in rows],
        }
        out.print(jsonio.dumps(document, indent=2), markup=False, soft_wrap=True)
        return
    shown = rows[-last:] if last > 0 else []
    for line in customer_lines(state, shown, engine.program.points.name, engine.zone):
        out.print(line, markup=False, soft_wrap=True)


@app.command()
def advance(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    to: Annotated[str, typer.Option("--to", help="The moment, with its offset: 2026-12-31T23:59:59+01:00.")],
    now: NowOption = None,
    horizon: HorizonOption = None,
) -> None:
    """Housekeeping for every customer in the store up to a moment: expire points, make pending
    points available, apply due tier reviews — each stored, with its ledger entries. Run it
    before exporting a closed period, so that the expiries due in it are in the books."""
    out, err = _consoles()
    moment = _moment(to, "--to", err)
    from rules_engine.service import Loyalty

    clock, limit = _clock(now, horizon, True, err)
    engine = _engine(program, err)
    store = _open_store(db, engine, err)
    loyalty = Loyalty(engine, store, horizon=limit, now=clock)
    changed = 0
    try:
        loyalty.check_advance(moment)
        for customer in store.customers():
            changes = loyalty.advance(customer, moment)
            for change in changes:
                out.print(f"{customer}: {change_text(change)}", markup=False, soft_wrap=True)
            changed += bool(changes)
    except (StoreError, EventError) as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    out.print(f"{changed} customer(s) changed", markup=False)


# Where `draw` and `leaderboard` read the customers' states: a file, or a store.
StatesFile = Annotated[
    Path | None,
    typer.Argument(help="Customer states, as `loyalty run --state-out` writes them (or use --db)."),
]
StatesStore = Annotated[str | None, typer.Option("--db", help="Read the states from this store instead.")]


@app.command()
def draw(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    draw_id: Annotated[str, typer.Option("--draw", help="The draw's id in the program.")],
    seed: Annotated[
        str, typer.Option("--seed", help="The public seed, e.g. a lottery result announced in advance.")
    ],
    states: StatesFile = None,
    db: StatesStore = None,
) -> None:
    """Pick the winners of a prize draw: reproducible from the seed, every ticket's number shown."""
    from rules_engine.tools.draws import pick_winners

    out, err = _consoles()
    engine = _engine(program, err)
    draws = {d.id: d for d in engine.program.draws}
    if draw_id not in draws:
        known = ", ".join(draws) or "none"
        _fail(
            [Diagnostic("RE434", f"no draw `{draw_id}` in {program}", hint=f"draws in the program: {known}")],
            err,
        )
    parsed = _customer_states(states, db, engine, err)
    entries = {
        c: s.entries.get(draw_id, 0) for c, s in sorted(parsed.items()) if s.entries.get(draw_id, 0) > 0
    }
    winners = pick_winners(draw_id, entries, draws[draw_id].winners, seed)
    out.print(
        f"draw {draw_id}: {sum(entries.values())} entries from {len(entries)} customers, seed {seed!r}",
        markup=False,
        soft_wrap=True,
    )
    for place, ticket in enumerate(winners, start=1):
        out.print(
            f"{place}. {ticket.customer} (entry {ticket.number}, sha256 {ticket.digest})",
            markup=False,
            soft_wrap=True,
        )
    if not winners:
        out.print("no entries: no winners", markup=False)


@app.command()
def leaderboard(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    board_id: Annotated[str, typer.Option("--id", help="The leaderboard's id in the program.")],
    at: Annotated[str, typer.Option("--at", help="The moment to rank at, ISO 8601 with an offset.")],
    states: StatesFile = None,
    db: StatesStore = None,
) -> None:
    """Rank customers by the leaderboard's metric over its window (the one `--at` falls in)."""
    from rules_engine.tools.leaderboard import rank

    out, err = _consoles()
    engine = _engine(program, err)
    boards = {b.id: b for b in engine.program.leaderboards}
    if board_id not in boards:
        known = ", ".join(boards) or "none"
        _fail(
            [Diagnostic("RE435", f"no leaderboard `{board_id}` in {program}", hint=f"leaderboards: {known}")],
            err,
        )
    moment = _moment(at, "--at", err)
    parsed = _customer_states(states, db, engine, err)
    board = boards[board_id]
    ranked = rank(board.metric, board.window, parsed, moment.astimezone(engine.zone), board.size)
    out.print(f"{board_id}: {board.metric} over {board.window} at {at}", markup=False, soft_wrap=True)
    for place, (customer, value) in enumerate(ranked, start=1):
        out.print(f"{place}. {customer} {value}", markup=False, soft_wrap=True)
    if not ranked:
        out.print("nobody yet", markup=False)


def _show_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"loyalty {version('rules-engine')}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Loyalty rules engine."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
