"""`loyalty generate` (a synthetic history) and `loyalty simulate` (what a program costs on a
history, and the diff of two versions), the analyst's commands (docs/simulate.md)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from rules_engine import collector
from rules_engine.errors import Diagnostic, ProgramError, Severity
from rules_engine.render import styled_diagnostic

if TYPE_CHECKING:
    from rules_engine.simulate.gates import Gate
from rules_engine.cli.common import _consoles, _engine, _fail, _usage, app, progress_bar


@app.command()
def generate(
    program: Annotated[
        Path, typer.Argument(help="The program file: its categories and SKUs are what customers buy.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the history here (JSON Lines).")],
    customers: Annotated[
        int, typer.Option("--customers", min=1, max=10_000_000, help="How many customers.")
    ] = 1000,
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="How many days of history.")] = 365,
    seed: Annotated[
        int, typer.Option("--seed", help="The same seed gives the same file, byte for byte.")
    ] = 1,
    start: Annotated[str, typer.Option("--start", help="The first day, YYYY-MM-DD.")] = "2026-01-01",
    coupons: Annotated[
        bool,
        typer.Option(
            "--coupons/--no-coupons",
            help="Purchases present the coupons customers hold (the engine runs as the history is "
            "written: many times slower).",
        ),
    ] = True,
) -> None:
    """Write a synthetic purchase history for a program: heavy-tailed customers, weekly and yearly
    seasonality, the program's own categories and SKUs, sign-ups and referrals, returns, reviews,
    app opens and the coupons customers hold, in time order.

    The same arguments give the same file, byte for byte; `loyalty run` and `loyalty simulate`
    read it.
    """
    from rules_engine.simulate.generate import generate_file

    out_console, err = _consoles()
    try:
        first = dt.date.fromisoformat(start)
    except ValueError:
        _usage(Diagnostic("RE715", f"--start {start}: not a date", hint="write it as YYYY-MM-DD"), err)
    if not dt.date(1900, 1, 1) <= first <= dt.date(2998, 12, 31) - dt.timedelta(days=days):  # 9999-12-31
        _usage(
            Diagnostic(
                "RE715",
                f"--start {start}: the history would leave the years 1900 to 2998",
                hint="event times are from 1900 to 2999; returns come weeks after a purchase",
            ),
            err,
        )
    engine = _engine(program, err)
    secret = os.environ.get("LOYALTY_SECRET", "").encode()
    try:
        count = generate_file(
            engine.program,
            program.read_text(encoding="utf-8"),
            out,
            customers=customers,
            days=days,
            seed=seed,
            start=first,
            secret=secret,
            coupons=coupons,
        )
    except OSError as problem:
        _fail(
            [
                Diagnostic(
                    "RE461",
                    f"--out {out}: cannot write the file: {problem.strerror}",
                    hint="check the folder",
                )
            ],
            err,
        )
    out_console.print(
        f"{count} events of {customers} customers over {days} days written to {out}", markup=False
    )


@app.command()
def simulate(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    history: Annotated[
        Path,
        typer.Argument(help="The history: events as JSON Lines, or a transaction table (.csv, .parquet)."),
    ],
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare", help="Another version of the program, run over the same history in the same pass."
        ),
    ] = None,
    fail_if: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if",
            help='A gate, e.g. "cost > +5%": exit 1 when it holds (repeat for more; docs/simulate.md).',
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=256, help="Processes to run on (default: every core)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON, no tables, no progress bar.")
    ] = False,
    point_value: Annotated[
        str | None,
        typer.Option("--point-value", help="What a point is worth, if not the program's points.value."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", help="For a table: FIELD=COLUMN, e.g. customer=household_id (repeat)."),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="For a table: a YAML file of `columns: {field: column}`.")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the report as one self-contained HTML page with charts."),
    ] = None,
) -> None:
    """What a program would have given on a history: points issued, redeemed, expired and
    reversed, the liability and breakage at the end, discounts, cost per rule, tiers month by month,
    gamification, and the history's analytics.

    With --compare, both versions run over the same history in one pass, and the report adds the
    diff of every figure, the tier matrix, per-rule deltas and the customers most affected. Each
    --fail-if gate that holds makes the command exit 1 (after the report), to gate a program
    change in CI.
    """
    from rules_engine.simulate import build_report
    from rules_engine.simulate import simulate as run_simulation
    from rules_engine.simulate.gates import GateError, check_gates, parse_gate
    from rules_engine.simulate.report import report_json
    from rules_engine.simulate.tables import TableError, is_table, mapping_from

    out, err = _consoles()
    gates: list[Gate] = []
    try:
        gates = [parse_gate(text, compare=compare is not None) for text in fail_if or []]
    except GateError as problem:
        _usage(problem.diagnostic, err)
    value = None
    if point_value is not None:
        try:
            value = Decimal(point_value)
            if not value.is_finite() or value < 0:
                raise InvalidOperation
        except InvalidOperation:
            _usage(Diagnostic("RE715", f"--point-value {point_value}: not a number", hint="e.g. 0.01"), err)
    base = _engine(program, err)
    if compare is not None:
        _engine(compare, err)
    collector.tune_for_events()  # the programs are loaded: events from here on (collector.py)
    table = is_table(history)
    if not table and (column or mapping is not None):
        _usage(
            Diagnostic(
                "RE714",
                "--column and --mapping are for a transaction table (.csv, .parquet), not events",
                hint="leave them out for a JSON Lines history",
            ),
            err,
        )
    if not history.is_file():
        _fail([Diagnostic("RE414", f"cannot read {history}: no such file", hint="check the path")], err)
    if html is not None and html.resolve() == history.resolve():
        hint = "name another file for the page, e.g. report.html"
        _usage(Diagnostic("RE716", f"--html {html} is the history, which it would overwrite", hint=hint), err)
    converted = None
    with tempfile.TemporaryDirectory(prefix="loyalty-table-") as folder:
        events = history
        if table:
            from rules_engine.simulate.tables import write_events

            events = Path(folder) / "events.jsonl"
            try:
                columns = mapping_from(column or [], mapping)
                with open(events, "w", encoding="utf-8") as stream:
                    converted = write_events(history, columns, base.program.timezone, stream)
            except TableError as problem:
                _fail(problem.diagnostics, err)
            for warning in converted.warnings:
                err.print(styled_diagnostic(warning), soft_wrap=True)
        progress = progress_bar(err, unit="events", quiet=as_json)
        task = progress.add_task("simulating", total=None, events=0)
        shown = False

        def told(done: int, total: int) -> None:
            # Started at the first call, once the worker processes exist: the display's thread
            # must not be running when they are forked (rules_engine/simulate/simulation.py).
            nonlocal shown
            if not shown:
                shown = True
                progress.start()
            progress.update(task, completed=done, total=total or None, events=done)

        try:
            result = run_simulation(
                events,
                [program, compare] if compare is not None else [program],
                workers=workers,
                progress=told,
                source=str(history),
            )
        except ProgramError as problem:
            _fail(problem.diagnostics, err)
        except OSError as problem:
            _fail([Diagnostic("RE414", f"cannot read {history}: {problem.strerror}")], err)
        finally:
            progress.stop()
    report = build_report(result, point_value=value)
    if converted is not None:
        report["history"]["rows"] = converted.rows
        report["history"]["skipped_returns"] = converted.skipped
    try:
        report["gates"] = check_gates(gates, report)
    except GateError as problem:
        _usage(problem.diagnostic, err)
    if html is not None:
        _write_page(html, report, err, quiet=as_json)
    if as_json:
        out.print(report_json(report), markup=False, soft_wrap=True, highlight=False)
    else:
        from rules_engine.simulate.terminal import print_report

        print_report(out, report)
    run = report["run"]
    if not as_json and any(result.unknown_referrers):
        err.print(styled_diagnostic(_unknown_referrers(result.unknown_referrers, report)), soft_wrap=True)
    if run["problems"]:
        err.print(
            f"{run['problems']} event(s) refused and skipped, as `loyalty run` would refuse them; the first:",
            markup=False,
        )
        for diagnostic in result.problems[:5]:
            err.print(styled_diagnostic(diagnostic), soft_wrap=True)
    failed = [gate for gate in report["gates"] if not gate["passed"]]
    if failed:
        for gate in failed:
            err.print(f"gate failed: {gate['gate']} (measured {_shown(gate['value'])})", markup=False)
        raise typer.Exit(1)


def _write_page(path: Path, report: dict[str, Any], err: Console, *, quiet: bool) -> None:
    """The report as one HTML page (rules_engine/simulate/html.py), written whole or not at all."""
    from rules_engine.simulate.html import render

    page = render(report)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, path)
    except OSError as problem:
        partial.unlink(missing_ok=True)
        hint = "check that the folder exists and can be written"
        _usage(Diagnostic("RE716", f"cannot write --html {path}: {problem.strerror}", hint=hint), err)
    if not quiet:
        err.print(f"wrote the report's page to {path}", markup=False, highlight=False)


def _unknown_referrers(counts: list[int], report: dict[str, Any]) -> Diagnostic:
    """One line for the owed referrer rewards that were not given (`run.unknown_referrers`): their
    code named no customer with an event before, as `loyalty run` warns about each (RE607)."""
    versions = [report["program"]["version"]]
    if report["compare"] is not None:
        versions.append(report["compare"]["program"]["version"])
    if len(counts) == 1 or counts[0] == counts[1]:
        how_many = f"{counts[0]}"
    else:
        how_many = " and ".join(f"{n} (v{version})" for n, version in zip(counts, versions, strict=True))
    return Diagnostic(
        "RE607",
        f"{how_many} referrer reward(s) not given: the referral code named no customer who had an "
        "event before, as `loyalty run` gives none (run.unknown_referrers)",
        severity=Severity.WARNING,
    )


def _shown(value: Any) -> str:
    return "unknown" if value is None else f"{value:,.4g}"
