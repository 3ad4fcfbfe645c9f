"""The support desk's commands over a store: `void` (undo a mistaken event), `erase` (a customer's
personal data, the books kept)."""

from __future__ import annotations

import datetime as dt
import getpass
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from rules_engine.cli.common import _DB_HELP, _consoles, _engine, _fail, _open_store, app
from rules_engine.errors import EventError, StoreError


def _operator(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


OperatorOption = Annotated[
    str | None, typer.Option("--operator", help="Who did it (default: the user running the command).")
]


@app.command()
def void(
    program: Annotated[Path, typer.Argument(help="The program file.")],
    customer_id: Annotated[str, typer.Argument(metavar="CUSTOMER", help="The customer's id.")],
    event: Annotated[str, typer.Argument(help="The id of the event to void.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    reason: Annotated[str, typer.Option("--reason", help="Why, in words: kept for the books and the desk.")],
    void_id: Annotated[str, typer.Option("--id", help="The void's id: run again, nothing is applied twice.")],
    operator: OperatorOption = None,
) -> None:
    """Undo what one applied event did (points, tier progress, challenge and quest steps, coupons),
    booked as ledger entries naming it. Refused (RE438), with every reason, when later events
    depend on it."""
    from rules_engine.service import Loyalty
    from rules_engine.tools.voids import Void

    out, err = _consoles()
    engine = _engine(program, err)
    store = _open_store(db, engine, err)
    asked = Void(
        id=void_id,
        customer=customer_id,
        voided=event,
        reason=reason,
        operator=_operator(operator),
        at=dt.datetime.now(dt.UTC),
    )
    try:
        applied, before = Loyalty(engine, store).void(asked)
        state = store.state(customer_id)
    except (StoreError, EventError) as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    balance = sum((lot.points for lot in state.lots), Decimal(0)) if state else Decimal(0)
    done = "applied before, nothing changed" if before else "applied"
    out.print(
        f"{applied.id}: voided {applied.voided} of {customer_id} by {applied.operator} ({applied.reason}): "
        f"{done}; points {applied.points:+}; balance {balance}",
        markup=False,
        soft_wrap=True,
    )
    for what, items in (
        ("coupons withdrawn", applied.coupons_withdrawn),
        ("coupons usable again", applied.coupons_restored),
        ("badges withdrawn", applied.badges_withdrawn),
        ("challenges taken back", applied.challenges),
        ("quests taken back", applied.quests),
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
