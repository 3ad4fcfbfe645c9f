"""The support desk's commands over a store: `adjust` (points credited or debited by hand), `void`
(undo a mistaken event), `erase` (a customer's personal data, the books kept), `coupons
generate|import|export` (bulk coupon codes, as CSV)."""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from rules_engine.cli.common import (
    _DB_HELP,
    AllowDowngradeOption,
    _consoles,
    _engine,
    _fail,
    _open_store,
    _system_clock,
    _usage,
    app,
)
from rules_engine.errors import Diagnostic, EventError, StoreError

if TYPE_CHECKING:
    from rules_engine.engine.evaluator import Engine
    from rules_engine.service import Loyalty
    from rules_engine.service_desk import Booked, Correction
    from rules_engine.store.base import Store


def _operator(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


OperatorOption = Annotated[
    str | None, typer.Option("--operator", help="Who did it (default: the user running the command).")
]


def _booked(
    engine: Engine,
    store: Store,
    book: Callable[[Loyalty], Booked[Correction]],
    err: Console,
) -> tuple[Correction, bool, Decimal]:
    """An operation booked through the service in the store, then the store closed: what was applied,
    whether it had been before (then nothing changed), and the customer's balance after it. A refusal
    is printed with its diagnostics and ends the command."""
    from rules_engine.service import Loyalty

    try:
        # booked at the present (`at`), which is also the horizon's reference: a store whose
        # latest event is days old does not make the present look like a typo
        applied, before, state = book(Loyalty(engine, store, now=_system_clock))
    except (StoreError, EventError) as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    return applied, before, sum((lot.points for lot in state.lots), Decimal(0))


def _done(before: bool) -> str:
    return "applied before, nothing changed" if before else "applied"


@app.command()
def adjust(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    customer_id: Annotated[str, typer.Argument(metavar="CUSTOMER", help="The customer's id.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    points: Annotated[str, typer.Option("--points", help="Points to credit (50) or debit (-50).")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in words: kept for the books and the desk.")],
    adjustment_id: Annotated[
        str, typer.Option("--id", help="The adjustment's id: run again, nothing is applied twice.")
    ],
    operator: OperatorOption = None,
    allow_downgrade: AllowDowngradeOption = False,
) -> None:
    """Credit or debit a customer's points by hand, booked in the ledger as kind adjust with the
    operator and kept with its reason. A debit takes spendable points, oldest first, and is
    refused (RE432) beyond them."""
    from decimal import InvalidOperation

    from rules_engine.tools.adjustments import Adjustment

    out, err = _consoles()
    try:
        amount = Decimal(points)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        _usage(Diagnostic("RE709", f"--points {points}: not a number", hint="50 credits, -50 debits"), err)
    engine = _engine(program, err)
    store = _open_store(db, engine, err, guard=True, allow_downgrade=allow_downgrade)
    adjustment = Adjustment(
        id=adjustment_id,
        customer=customer_id,
        points=amount,
        reason=reason,
        operator=_operator(operator),
        at=dt.datetime.now(dt.UTC),
    )
    applied, before, balance = _booked(engine, store, lambda desk: desk.adjust(adjustment), err)
    out.print(
        f"{applied.id}: {applied.points:+} for {customer_id} by {applied.operator} ({applied.reason}): "
        f"{_done(before)}; balance {balance}",
        markup=False,
        soft_wrap=True,
    )


@app.command()
def void(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    customer_id: Annotated[str, typer.Argument(metavar="CUSTOMER", help="The customer's id.")],
    event: Annotated[str, typer.Argument(help="The id of the event to void.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    reason: Annotated[str, typer.Option("--reason", help="Why, in words: kept for the books and the desk.")],
    void_id: Annotated[str, typer.Option("--id", help="The void's id: run again, nothing is applied twice.")],
    operator: OperatorOption = None,
    allow_downgrade: AllowDowngradeOption = False,
) -> None:
    """Undo what one applied event did (points, tier progress, challenge and quest steps, coupons),
    booked as ledger entries naming it. Refused (RE446), with every reason, when later events
    depend on it."""
    from rules_engine.tools.voids import Void

    out, err = _consoles()
    engine = _engine(program, err)
    store = _open_store(db, engine, err, guard=True, allow_downgrade=allow_downgrade)
    asked = Void(
        id=void_id,
        customer=customer_id,
        voided=event,
        reason=reason,
        operator=_operator(operator),
        at=dt.datetime.now(dt.UTC),
    )
    applied, before, balance = _booked(engine, store, lambda desk: desk.void(asked), err)
    out.print(
        f"{applied.id}: voided {applied.voided} of {customer_id} by {applied.operator} ({applied.reason}): "
        f"{_done(before)}; points {applied.points:+}; balance {balance}",
        markup=False,
        soft_wrap=True,
    )
    for what, items in (
        ("coupons withdrawn", applied.coupons_withdrawn),
        ("coupons usable again", applied.coupons_restored),
        ("badges withdrawn", applied.badges_withdrawn),
        ("challenges taken back", applied.challenges),
        ("quests taken back", applied.quests),
        ("referral withdrawn", [applied.referral_withdrawn] if applied.referral_withdrawn else []),
    ):
        if items:
            out.print(f"  {what}: {', '.join(items)}", markup=False, soft_wrap=True)
    out.print(f"  kept as they are: {', '.join(applied.kept)}", markup=False, soft_wrap=True)


@app.command()
def erase(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    customer_id: Annotated[str, typer.Argument(metavar="CUSTOMER", help="The customer's id.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    operator: OperatorOption = None,
) -> None:
    """Erase a customer (GDPR): their profile, history and identifiers are deleted; the ledger
    and the open points stay under a random pseudonym, so the books still reconcile."""
    from rules_engine.service import Loyalty

    out, err = _consoles()
    engine = _engine(program, err)
    store = _open_store(db, engine, err)
    try:
        erased = Loyalty(engine, store).erase(
            customer_id, operator=_operator(operator), at=dt.datetime.now(dt.UTC)
        )
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    out.print(
        f"{customer_id}: erased by {erased.operator}; {erased.points} points in {erased.lots} open lot(s) "
        f"kept as {erased.pseudonym}",
        markup=False,
        soft_wrap=True,
    )


coupons_app = typer.Typer(
    help="Bulk coupon codes in a store: generate, import, export (CSV).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(coupons_app, name="coupons")
BatchOption = Annotated[str | None, typer.Option("--batch", help="A name for the batch (default: the time).")]


@coupons_app.command("generate")
def coupons_generate(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    coupon: Annotated[str, typer.Argument(help="The coupon's id in the program.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    count: Annotated[int, typer.Option("--count", help="How many codes (1 to 100,000).")],
    prefix: Annotated[str, typer.Option("--prefix", help="Put before every code: XMAS-.")] = "",
    batch: BatchOption = None,
) -> None:
    """Generate unique random codes for a coupon, keep them in the store and print them as CSV
    (code, coupon, batch, created_at, claimed_at). A customer presenting one with a purchase gets
    the coupon; each code is one customer's."""
    from rules_engine.tools import coupon_codes

    out, err = _consoles()
    engine = _engine(program, err)
    store = _open_store(db, engine, err)
    at = dt.datetime.now(dt.UTC)
    name = batch or f"batch-{at:%Y%m%dT%H%M%S}"
    try:
        codes = coupon_codes.generate(store, engine.program, coupon, count, batch=name, at=at, prefix=prefix)
        drawn = set(codes)  # once: the condition below made it again for every code of the coupon
        kept = [code for code in store.coupon_codes(coupon) if code.batch == name and code.code in drawn]
    except (StoreError, EventError) as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    out.print(coupon_codes.to_csv(kept), markup=False, soft_wrap=True, end="")


@coupons_app.command("import")
def coupons_import(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    coupon: Annotated[str, typer.Argument(help="The coupon's id in the program.")],
    file: Annotated[Path, typer.Argument(help="A CSV file: a `code` column, or one code per row.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    batch: BatchOption = None,
) -> None:
    """Import codes for a coupon from a CSV file, all or none: one malformed, repeated or existing
    code and nothing is imported (RE445, every problem with its row)."""
    from rules_engine.tools import coupon_codes

    out, err = _consoles()
    engine = _engine(program, err)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        _fail([Diagnostic("RE414", f"{file}: cannot be read: {problem}")], err)
    store = _open_store(db, engine, err)
    at = dt.datetime.now(dt.UTC)
    name = batch or f"import-{at:%Y%m%dT%H%M%S}"
    try:
        codes = coupon_codes.import_codes(store, engine.program, coupon, text, batch=name, at=at)
    except (StoreError, EventError) as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    out.print(f"{len(codes)} code(s) imported for {coupon} as batch {name}", markup=False)


@coupons_app.command("export")
def coupons_export(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    coupon: Annotated[str, typer.Argument(help="The coupon's id in the program.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
) -> None:
    """Print a coupon's bulk codes as CSV: code, coupon, batch, created_at, claimed_at (whose a
    claimed code is stays in the store)."""
    from rules_engine.tools import coupon_codes

    out, err = _consoles()
    engine = _engine(program, err)
    store = _open_store(db, engine, err)
    try:
        coupon_codes.check_coupon(engine.program, coupon)
        codes = store.coupon_codes(coupon)
    except (StoreError, EventError) as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    out.print(coupon_codes.to_csv(codes), markup=False, soft_wrap=True, end="")
