"""What the commands share: the typer app, the two consoles, how problems end a command (exit 1, or 2
for a usage problem: the code registry says which), and the inputs several commands take — a
program, a store, a moment, `--now` and `--horizon`, a states file."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

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
from rules_engine.errors import (
    Diagnostic,
    ProgramError,
    RulesEngineError,
    StoreError,
)
from rules_engine.render import (
    styled_diagnostic,
)
from rules_engine.source import SourceFile, Span

if TYPE_CHECKING:
    from rules_engine.engine.evaluator import Engine
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


MAX_SHOWN = 100
"""The most problems `_fail` prints: a state of 100,000 bad purchases (600,000 problems, each with
its line of the file) took minutes to print; the first ones are what to fix first."""


def _fail(diagnostics: list[Diagnostic], err: Console, *, status: int | None = None) -> NoReturn:
    """Print the problems (the first `MAX_SHOWN`) and exit: with `status`, or the one the code
    registry gives them (1 for a problem in a program or an input, 2 for a usage problem;
    rules_engine/codes.py)."""
    for index, diagnostic in enumerate(diagnostics[:MAX_SHOWN]):
        if index:
            err.print()
        err.print(styled_diagnostic(diagnostic), soft_wrap=True)
    if len(diagnostics) > MAX_SHOWN:
        err.print(f"\n… and {len(diagnostics) - MAX_SHOWN:,} more problems, not shown", markup=False)
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
    from rules_engine.state.documents import MAX_ID, long_customer

    try:
        data = read_json(path, "customer states")
        if not isinstance(data, dict):
            _fail([Diagnostic("RE420", f"{path}: customer states are an object by customer id")], err)
        states = {customer: parse_state(state) for customer, state in data.items()}
    except RulesEngineError as problem:
        _fail(_in_file(problem.diagnostics, path), err)
    for customer, state in states.items():  # as an event's customer is (events.py `MAX_ID`)
        for named, where in ((customer, (customer,)), (state.customer, (customer, "customer"))):
            if named is not None and len(named) > MAX_ID:
                _fail(_in_file([long_customer(len(named), where)], path), err)
    return states


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
AllowDowngradeOption = Annotated[
    bool,
    typer.Option(
        "--allow-downgrade",
        help="Run a program version older than one the store ran before (going back on purpose; "
        "refused otherwise, RE612).",
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


_DB_HELP = "The store: an SQLite file, sqlite:///PATH or postgresql://…"


def _open_store(
    db: str,
    engine: Engine,
    err: Console,
    *,
    readonly: bool = False,
    guard: bool = False,
    allow_downgrade: bool = False,
) -> Store:
    """A store that must exist already: these commands read or update what `loyalty run` stored.

    `readonly`: for the commands that only read; the database is opened without writing to it
    (it may be on read-only media). For every command, one that holds only another program's
    customers is refused (RE608) rather than answering "nothing there" (or, for `advance`,
    "0 customer(s) changed"). `guard`: for the commands that book in the program's name, the
    version guard (RE611–RE613, `_guard_version`)."""
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
    if guard:
        _guard_version(store, engine, err, allow_downgrade=allow_downgrade)
    return store


def _guard_version(store: Store, engine: Engine, err: Console, *, allow_downgrade: bool) -> None:
    """The version guard (store/versions.py): the program against the versions the store ran,
    then recorded; a refusal closes the store and stops the command (exit 1)."""
    from rules_engine.store.versions import check_version

    try:
        check_version(store, engine.program, _system_clock(), allow_downgrade=allow_downgrade)
    except StoreError as problem:
        store.close()
        _fail(problem.diagnostics, err)


def _date(text: str | None, option: str, err: Console) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _usage(Diagnostic("RE701", f"{option} {text}: not a date", hint="write it as YYYY-MM-DD"), err)


def progress_bar(err: Console, *, unit: str, quiet: bool) -> Progress:
    """A progress bar on stderr — how many `unit`s (the task's `events` field), the bar, the rate
    and the time left — when stderr is an interactive terminal and the command is not quiet;
    rich's TTY_INTERACTIVE=0/1 turns it off or on. `loyalty run` counts lines, `simulate` events."""
    return Progress(
        TextColumn(f"{{task.fields[events]:,}} {unit}"),
        BarColumn(),
        TaskProgressColumn(),
        _Rate(unit),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_interactive,
    )


class _Rate(ProgressColumn):
    """`unit`s per second since the start."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        return Text(f"{task.fields['events'] / elapsed:,.0f} {self.unit}/s" if elapsed > 0 else "")
