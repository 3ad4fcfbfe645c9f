"""`loyalty run`: a stream of events through a store, reported as it goes (problems as they are met,
a progress bar on a terminal, Ctrl-C between events), with the totals at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.file_proxy import FileProxy

from rules_engine import collector, jsonio
from rules_engine.errors import (
    Diagnostic,
    Severity,
    StoreError,
)
from rules_engine.render import (
    replay_customer_line,
    replay_totals,
    styled_diagnostic,
)

if TYPE_CHECKING:
    from rules_engine.engine.outcome import PointsAward, PointsChange
    from rules_engine.engine.result import Award
    from rules_engine.replay import Replay
    from rules_engine.service import Decided
    from rules_engine.state.customer import CustomerState
    from rules_engine.store import Store
from rules_engine.cli.common import (
    AllowDowngradeOption,
    HorizonOption,
    NowOption,
    _clock,
    _consoles,
    _engine,
    _fail,
    _guard_version,
    _usage,
    app,
    progress_bar,
)

_BATCH = 500
"""`replay.DEFAULT_BATCH`, the events per transaction of `loyalty run --db`: spelt out here because
importing the replay loads the engine, which `loyalty --help` and every other command would pay
for (tests/test_cli_imports.py holds the two equal)."""


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
            "sqlite:///PATH or postgresql://…; without it, in memory only. The run's store "
            "holds up to 8,192 customers' states (150,000 list elements in all) unless the URL "
            "says ?cache=N.",
        ),
    ] = None,
    batch: Annotated[
        int,
        typer.Option(
            "--batch",
            min=1,
            help="With --db, commit this many events per transaction (group commit); a line is "
            "printed only once its batch is committed. 1: a transaction per event.",
        ),
    ] = _BATCH,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="With --db, replay on this many processes, each owning the customers its share of "
            "a hash of their ids gives it; the output is the same as with one, in file order.",
        ),
    ] = 1,
    now: NowOption = None,
    horizon: HorizonOption = None,
    allow_downgrade: AllowDowngradeOption = False,
) -> None:
    """Replay a stream of events: an outcome per event as it is applied, the totals at the end.

    Bad lines are reported as they are met, with their line number, and skipped without touching
    any state; the exit code is 1 when there were any. With --db every --batch events are one
    transaction of the store, a line is reported once its batch is committed, and an event
    processed before (by any run) is not applied again. Ctrl-C stops after the current event,
    commits its batch and prints the totals so far (exit 130).
    """
    import functools

    from rules_engine.engine.evaluator import Engine
    from rules_engine.replay import Replay, replay_lines
    from rules_engine.replay_input import bounded_lines
    from rules_engine.replay_worker import WorkerSpec
    from rules_engine.replay_workers import Workers
    from rules_engine.service import Loyalty
    from rules_engine.store import open_store
    from rules_engine.store.cache import REPLAY_ELEMENTS, REPLAY_SIZE
    from rules_engine.store.memory import RunMemoryStore

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
    if workers > 1 and not _shared(db):
        _usage(
            Diagnostic(
                "RE710",
                f"--workers {workers} needs a store the workers share: "
                + ("no --db was given" if db is None else f"--db {db} is not one"),
                hint="give --db with an SQLite file or postgresql://…, or run with one worker in memory",
            ),
            err,
        )
    clock, limit = _clock(now, horizon, db is not None, err)
    if state_out is not None:
        _check_writable(state_out, "--state-out", err)
    engine = _engine(program, err)
    collector.tune_for_events(collector.RUN_THRESHOLDS)  # the program is loaded: events from here on
    try:  # before the store: a mistyped path must not leave an empty database behind
        lines = open(events, "rb")  # noqa: SIM115 (closed by the `with` below)
    except OSError as problem:
        _fail([Diagnostic("RE414", f"cannot read {events}: {problem.strerror}", hint="check the path")], err)
    with lines:
        report = _problem_reporter(problems_out, err)
        try:
            # in memory, a store that keeps what the run reads back, not every outcome and ledger row
            store = (
                RunMemoryStore(engine.program.program)
                if db is None
                else open_store(
                    db,
                    engine.program.program,
                    default_cache=REPLAY_SIZE,
                    default_cache_budget=REPLAY_ELEMENTS,
                )
            )
        except StoreError as problem:
            report.close()
            _fail(problem.diagnostics, err)
        if db is not None:
            try:
                _guard_version(store, engine, err, allow_downgrade=allow_downgrade)
            except BaseException:  # refused: the store is closed, the command stops
                report.close()
                raise
        pool = None
        if workers > 1 and db is not None:
            try:
                latest = store.latest_event_time() if clock is None and limit is not None else None
            except StoreError as problem:
                report.close()
                _fail(problem.diagnostics, err)
            finally:
                store.close()  # each worker opens its own; the parent reads the states again at the end
            secret = os.environ.get("LOYALTY_SECRET", "").encode()
            spec = WorkerSpec(
                load_engine=functools.partial(Engine.from_file, program, secret=secret),
                db=db,
                open_store=functools.partial(
                    open_store, default_cache=REPLAY_SIZE, default_cache_budget=REPLAY_ELEMENTS
                ),
                horizon=limit,
                now=clock,
                batch=batch,
                name=str(events),
                render=None if quiet else functools.partial(outcome_text, as_json=as_json),
                latest=latest,
            )
            pool = Workers(spec, workers, engine)
        show = _outcome_printer(out, quiet=quiet, as_json=as_json)
        progress = progress_bar(err, unit="lines", quiet=quiet)
        interrupted = _Interrupt()
        result = Replay()
        unread: list[OSError] = []
        size = _size(lines)

        shown = not progress.disable  # off unless stderr is a terminal: then no bar to move

        def done(number: int) -> None:  # a line acknowledged: its batch is committed
            if shown:
                progress.update(task, completed=lines.tell() if size is not None else None, events=number)
            if not quiet:
                out.file.flush()

        try:
            # the workers are started before the progress bar's thread (a fork copies one thread)
            with pool if pool is not None else contextlib.nullcontext(), interrupted, progress:
                task = progress.add_task("replaying", total=size, events=0)
                if pool is not None:
                    pool.replay(
                        enumerate(_reading(bounded_lines(lines), unread), start=1),
                        into=result,
                        on_text=None if quiet else functools.partial(_print_text, out),
                        on_problem=report,
                        on_line=None if quiet else done,
                        stop=interrupted.asked,
                    )
                else:
                    replay_lines(
                        Loyalty(engine, store, horizon=limit, now=clock),
                        str(events),
                        _reading(bounded_lines(lines), unread),
                        on_decided=None if quiet else show,  # an outcome is built for --json only
                        into=result,
                        on_problem=report,
                        stop=interrupted.asked,
                        # a pipe has no position (tell() raises): only a file's bar moves by bytes
                        on_line=None if quiet else done,  # quiet: no bar, nothing to flush
                        batch=batch if db is not None else 1,
                    )
        except KeyboardInterrupt:  # a second Ctrl-C: the batch in progress was rolled back
            result.stopped = "interrupted at once"
        finally:
            report.close()
        states: _States = store
        if pool is not None and db is not None:
            states = _Reopened(db, engine.program.program, open_store)
        try:
            if unread:  # the lines before were applied, and stay so
                reason = unread[0].strerror
                _fail([Diagnostic("RE414", f"cannot read {events} after line {result.line}: {reason}")], err)
            unstated = _print_totals(
                out, result, states if by_customer else None, report, quiet=quiet, as_json=as_json
            )
            if unstated is None and state_out is not None:
                unstated = _write_states(states, result, state_out, err)
        finally:
            result.points.close()
            states.close()
    if unstated is not None:  # no states file rather than one that says "no customers"
        _fail(unstated.diagnostics, err)
    if result.failure is not None:
        _fail([result.failure], err)
    if result.stopped is not None and result.stopped.startswith("interrupted"):
        at_once = result.stopped == "interrupted at once"
        err.print(
            styled_diagnostic(
                Diagnostic(
                    "RE460",
                    f"interrupted: stopped at line {result.line} of {events}, its event (with --db, "
                    "its batch) rolled back unless it had just been committed"
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


def _shared(db: str | None) -> bool:
    """Whether several processes can share the store: an SQLite file or PostgreSQL (not memory)."""
    from rules_engine.store import sqlite_path

    return db is not None and (sqlite_path(db) is not None or db.startswith(("postgres://", "postgresql://")))


def _print_text(out: Console, text: str) -> None:
    """One outcome's line. Into a file or a pipe it is written as it is, flushed (a line printed
    is a line acknowledged): rich's `print` costs ~0.2-0.6 ms a line, a fifth to a half of what
    deciding the event costs, for no styling a file keeps. Control characters an id may hold are
    written as `\\x1b` escapes, so a line stays one line and cannot steer a terminal that shows
    the file later. On a terminal, or while a progress bar holds stdout, rich prints it."""
    file = out.file
    if out.is_terminal or isinstance(file, FileProxy):
        out.print(text, markup=False, soft_wrap=True)
        return
    file.write((text if text.isprintable() else text.translate(_CONTROL)) + "\n")
    file.flush()


_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
"""Every control character (category Cc): none is printable, so a printable text (`isprintable`,
one C pass) is written as it is, without `translate`'s lookup of each character."""


class _States(Protocol):
    """What the end of a run reads of the store: the states of its customers."""

    def state(self, customer: str) -> CustomerState | None: ...

    def close(self) -> None: ...


class _Reopened:
    """The store again, after the workers: opened when the states are first read (--by-customer,
    --state-out), so that a run that reads none opens nothing; a failure to open is the store's
    error there, as a failure to read is."""

    def __init__(self, db: str, program: str, opener: Callable[..., Store]) -> None:
        self.db = db
        self.program = program
        self.opener = opener
        self.opened: Store | None = None

    def state(self, customer: str) -> CustomerState | None:
        if self.opened is None:
            self.opened = self.opener(self.db, self.program)
        return self.opened.state(customer)

    def close(self) -> None:
        if self.opened is not None:
            self.opened.close()


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


def _outcome_printer(out: Console, *, quiet: bool, as_json: bool) -> Callable[[int, Decided, bool], None]:
    def show(number: int, decided: Decided, duplicate: bool) -> None:
        """One line per outcome as it comes (a long replay holds none of them)."""
        if quiet:
            return
        text = outcome_text(number, decided, duplicate, as_json=as_json)
        if text is not None:
            _print_text(out, text)

    return show


def outcome_text(number: int, decided: Decided, duplicate: bool, *, as_json: bool) -> str | None:
    """The line `loyalty run` prints for an outcome (None: none, a duplicate with --json); the
    workers of `--workers` make it, the parent prints it. Given the engine's `Result`, the text
    line is read from it as it is: its `Outcome` (the awards' models with their line shares, the
    effects, the state) is built only for --json, which prints all of it."""
    from rules_engine.engine.result import Result

    if duplicate:
        if as_json:
            return None
        return f"line {number}: {decided.event} {decided.customer}: already processed, nothing applied"
    if as_json:
        outcome = decided.outcome() if isinstance(decided, Result) else decided
        return jsonio.dumps(outcome.model_dump(mode="python"))
    if isinstance(decided, Result):  # the same awards, in order, and changes as its outcome's effects
        awards: Sequence[Award | PointsAward] = decided.awards
        changes: Sequence[PointsChange] = decided.points_changes
    else:
        awards, changes = decided.effects.points, decided.effects.points_changes
    given = ", ".join(f"{a.rule} {a.points}" for a in awards) or "no points"
    off = f", {decided.totals.discount} off" if decided.totals.discount else ""
    back = sum((c.points for c in changes if c.kind == "reverse"), Decimal(0))
    off += f", took back {back}" if back else ""
    spent = sum((c.points for c in changes if c.kind == "burn"), Decimal(0))
    off += f", spent {spent}" if spent else ""
    return f"line {number}: {decided.event} {decided.customer}: {given}{off}"


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


def _write_states(store: _States, result: Replay, path: Path, err: Console) -> StoreError | None:
    """--state-out: the current states of the run's customers, read from the store one at a time
    and written as they come (a temporary file beside it, renamed at the end, so that a failure
    leaves no file); or the store's error reading them."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "w", encoding="utf-8") as file:
            file.write("{")
            first = True
            for customer, _ in result.points.items():
                state = store.state(customer)
                if state is None:
                    continue
                one = jsonio.dumps({customer: state.model_dump(mode="python")}, indent=2)
                file.write(("\n" if first else ",\n") + one[2:-2])
                first = False
            file.write("}\n" if first else "\n}\n")
        os.replace(partial, path)
    except StoreError as problem:
        partial.unlink(missing_ok=True)
        return problem
    except OSError as problem:
        partial.unlink(missing_ok=True)
        _fail([_unwritable(path, "--state-out", problem.strerror)], err)
    return None


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
    store: _States | None,
    report: _ProblemReporter,
    *,
    quiet: bool,
    as_json: bool,
) -> StoreError | None:
    """The run's totals (and, given the store, a line per customer, read from it one at a time),
    on stdout unless --json; the store's error if it could not give the states (the totals are
    printed all the same)."""
    if as_json:
        return None
    if not quiet:
        out.print()
    failed = None
    if store is not None:
        try:
            for customer, earned in result.points.items():
                state = store.state(customer)
                if state is not None:
                    out.print(replay_customer_line(customer, state, earned), markup=False, soft_wrap=True)
        except StoreError as problem:
            failed = problem
    path = None if report.path is None else str(report.path)
    for line in replay_totals(result, path):
        out.print(line, markup=False, soft_wrap=True)
    return failed
