"""The commands that read or update a store: `ledger export`, `customer`, `advance`, `draw` and
`leaderboard`."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rules_engine import jsonio
from rules_engine.errors import (
    Diagnostic,
    EventError,
    StoreError,
)
from rules_engine.render import (
    change_text,
    customer_lines,
    money,
)

if TYPE_CHECKING:
    from rich.console import Console

    from rules_engine.engine.evaluator import Engine
    from rules_engine.program.mechanics import Draw
    from rules_engine.store.base import DrawRecord
from rules_engine.cli.common import (
    _DB_HELP,
    AllowDowngradeOption,
    HorizonOption,
    NowOption,
    _clock,
    _consoles,
    _customer_states,
    _date,
    _engine,
    _fail,
    _moment,
    _open_store,
    _usage,
    app,
)

ledger_app = typer.Typer(
    help="The points ledger in a store: exports for the books.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(ledger_app, name="ledger")


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
        books = accounting.read_books(store, engine.program, start=first, end=last)
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
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
    latest event), open lots, badges, unused coupons and the latest ledger entries; and, when
    catalog items have a `stock`, how many of each are left (program-wide)."""
    from rules_engine.engine.mechanics.referral import referral_code
    from rules_engine.tools.stock import catalog_stock, stock_words

    out, err = _consoles()
    engine = _engine(program, err)
    store = _open_store(db, engine, err, readonly=True)
    try:
        state = store.state(customer_id)
        rows = list(store.ledger(customer=customer_id))
        stock = catalog_stock(engine.program, store.redeemed()) if engine.program.catalog else []
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
    program_id = engine.program.program
    code = referral_code(program_id, customer_id, engine.secret) if engine.program.referral else None
    if as_json:
        document = {
            "state": state.model_dump(mode="python"),
            "ledger": [{"seq": row.seq, **row.entry.model_dump(mode="python")} for row in rows],
            "catalog": [item._asdict() for item in stock],
            "referral_code": code,
        }
        out.print(jsonio.dumps(document, indent=2), markup=False, soft_wrap=True)
        return
    shown = rows[-last:] if last > 0 else []
    for line in customer_lines(state, shown, engine.program.points.name, engine.zone):
        out.print(line, markup=False, soft_wrap=True)
    if code is not None:  # from LOYALTY_SECRET, as the service that gave it: the same secret, the same code
        out.print(f"  referral code {code} (a friend signs up with it)", markup=False, soft_wrap=True)
    if any(item.stock is not None for item in stock):  # a catalog without stock limits says nothing new
        out.print("  catalog (stock left, for all customers):", markup=False, soft_wrap=True)
        for item in stock:
            out.print(f"    {stock_words(item, engine.program.points.name)}", markup=False, soft_wrap=True)


@app.command()
def advance(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    to: Annotated[str, typer.Option("--to", help="The moment, with its offset: 2026-12-31T23:59:59+01:00.")],
    now: NowOption = None,
    horizon: HorizonOption = None,
    allow_downgrade: AllowDowngradeOption = False,
) -> None:
    """Housekeeping for every customer in the store up to a moment: expire points, make pending
    points available, apply due tier reviews — each stored, with its ledger entries. Run it
    before exporting a closed period, so that the expiries due in it are in the books."""
    out, err = _consoles()
    moment = _moment(to, "--to", err)
    from rules_engine.service import Loyalty

    clock, limit = _clock(now, horizon, True, err)
    engine = _engine(program, err)
    store = _open_store(db, engine, err, guard=True, allow_downgrade=allow_downgrade)
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
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="With --db: the current time, with its offset, when no event came since the draw's "
            "entries became final (without it, the store's latest event says what time it is).",
        ),
    ] = None,
) -> None:
    """Pick the winners of a prize draw: reproducible from the seed, each winning ticket's number
    and hash shown (anyone with the seed and the entry counts can recompute every ticket). From a
    store, only once its entries are final (RE451 before), and once: the first run records the
    result in the store, later runs print it (another seed: RE452)."""
    from rules_engine.tools.draws import decide, result_lines

    out, err = _consoles()
    engine = _engine(program, err)
    draws = {d.id: d for d in engine.program.draws}
    if draw_id not in draws:
        known = ", ".join(draws) or "none"
        _fail(
            [Diagnostic("RE434", f"no draw `{draw_id}` in {program}", hint=f"draws in the program: {known}")],
            err,
        )
    present = _moment(now, "--now", err) if now is not None else None
    if db is None or states is not None:  # a states file (both, or neither: RE707)
        parsed = _customer_states(states, db, engine, err)
        record = decide(engine.program, draws[draw_id], seed, sorted(parsed.items()), None)
        notes = ["from a states file: not recorded (a draw from a store, --db, is recorded by its first run)"]
    else:
        record, notes = _recorded_draw(db, engine, draws[draw_id], seed, present, err)
    for line in [*result_lines(record, draws[draw_id].winners), *notes]:
        out.print(line, markup=False, soft_wrap=True)


def _read_recorded(db: str, engine: Engine, draw_id: str) -> DrawRecord | None:
    """The draw's recorded result, read from an SQLite file without writing to it (so that an
    archived copy on read-only media still prints it); None when none is recorded, or when the
    file cannot be read that way (not there, not up to date: RE609), which the writable open
    then says. Other stores: None, they are opened as they are."""
    from rules_engine.store import open_store, sqlite_path

    if sqlite_path(db) is None:
        return None
    try:
        store = open_store(db, engine.program.program, create=False, readonly=True)
    except StoreError:
        return None
    try:
        return store.drawn(draw_id)
    except StoreError:
        return None
    finally:
        store.close()


def _recorded_draw(
    db: str, engine: Engine, draw: Draw, seed: str, present: dt.datetime | None, err: Console
) -> tuple[DrawRecord, list[str]]:
    """The draw's result from the store at `db`: the one recorded there, or drawn now and recorded
    (tools/draws.py), once its entries are final (RE451); and what to say of the record."""
    from rules_engine.tools.draws import decide, entries_final

    draw_id, zone = draw.id, engine.zone
    record = _read_recorded(db, engine, draw_id)
    fresh = False
    store = _open_store(db, engine, err, readonly=record is not None)
    try:
        record = record or store.drawn(draw_id)
        if record is None:
            final = entries_final(engine.program, draw)
            present = present or store.latest_event_time()
            if present is None or present < final:
                seen = (
                    "no event in the store"
                    if present is None
                    else f"it is {present.astimezone(zone).isoformat()}"
                )
                _fail(
                    [
                        Diagnostic(
                            "RE451",
                            f"draw `{draw_id}` takes entries until {final.isoformat()}; {seen}: entries may"
                            " still come",
                            hint="draw once that time has passed (with --now, if no event came since)",
                        )
                    ],
                    err,
                )
            at = present
            record, fresh = store.record_draw(
                draw_id, lambda: decide(engine.program, draw, seed, store.states(), at)
            )
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    assert record.drawn_at is not None
    when = record.drawn_at.astimezone(zone).isoformat()
    if record.seed != seed:
        _fail(
            [
                Diagnostic(
                    "RE452",
                    f"draw `{draw_id}` was drawn with seed {record.seed!r} and recorded in {store.url} "
                    f"(at {when}): it is not drawn again with another seed",
                    hint=f"to see the recorded result, run it with --seed {record.seed!r}",
                )
            ],
            err,
        )
    if fresh:
        return record, [
            f"recorded in {store.url} at {when} (program version {record.version}): a run "
            "again prints this result"
        ]
    notes = [
        f"recorded before, at {when} (program version {record.version}): the recorded result, not drawn again"
    ]
    if record.closes != draw.closes:  # a later version moved the day: the result stands, say so
        notes.append(
            f"drawn for entries until {record.closes.isoformat()}; the program now says the draw "
            f"closes {draw.closes.isoformat()}: the recorded result stands"
        )
    return record, notes


@app.command()
def leaderboard(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    board_id: Annotated[str, typer.Option("--id", help="The leaderboard's id in the program.")],
    at: Annotated[str, typer.Option("--at", help="The moment to rank at, ISO 8601 with an offset.")],
    states: StatesFile = None,
    db: StatesStore = None,
) -> None:
    """Rank customers by the leaderboard's metric over its window (the one `--at` falls in)."""
    from rules_engine.tools.leaderboard import forgotten, rank

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
    local = moment.astimezone(engine.zone)
    late = forgotten(engine.program, board.window, parsed, local)
    if late:
        some = ", ".join(late[:3]) + (f" and {len(late) - 3} more" if len(late) > 3 else "")
        message = (
            f"--at {at}: the states of {len(late)} customer(s) ({some}) no longer keep their activity "
            f"in that {board.window} window: their later events left it out; ranked, they would "
            "drop out of the board or score less"
        )
        hint = (
            "rank a window while it is current or just over, or from the states as they were then "
            "(`loyalty run --state-out` written at the time)"
        )
        _fail([Diagnostic("RE717", message, hint=hint)], err)
    ranked = rank(board.metric, board.window, parsed, local, board.size)
    out.print(f"{board_id}: {board.metric} over {board.window} at {at}", markup=False, soft_wrap=True)
    for place, (customer, value) in enumerate(ranked, start=1):
        shown = money(value, engine.quantum) if board.metric == "spend" else _whole(value)
        out.print(f"{place}. {customer} {shown}", markup=False, soft_wrap=True)
    if not ranked:
        out.print("nobody yet", markup=False)


def _whole(value: Decimal) -> str:
    """Points or visits as the same text whichever source they came from: a state file's `200`
    and a database's `200.00` are both `200`; a fraction keeps its digits."""
    return format(value.normalize() if value == value.to_integral_value() else value, "f")
