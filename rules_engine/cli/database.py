"""The database's own commands: `db status` (its schema against this engine's, what it holds) and
`db upgrade` (apply the migrations it lacks, on purpose, before workers start; store/upgrade.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from rules_engine.cli.common import _consoles, _fail, app
from rules_engine.errors import StoreError

if TYPE_CHECKING:
    from rules_engine.store.upgrade import SchemaStatus

db_app = typer.Typer(
    help="The store's schema: where it stands against this engine (`db status`), and bringing it up "
    "to date before workers start (`db upgrade`).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(db_app, name="db")

_DB_ARGUMENT = typer.Argument(
    metavar="DB", help="The store: an SQLite file, sqlite:///PATH or postgresql://…"
)


def _show(out: Console, state: SchemaStatus) -> None:
    out.print(state.url, markup=False, soft_wrap=True)
    if state.applied == 0:
        schema = f"schema: none yet (this engine's is version {state.latest})"
    else:
        schema = f"schema: version {state.applied} of {state.latest}"
    out.print(schema + (", up to date" if state.up_to_date else ""), markup=False)
    for migration in state.pending:
        out.print(f"  to apply: {migration.version}  {migration.description}", markup=False, soft_wrap=True)
    if state.programs:
        held = ", ".join(f"{program} ({count:,} customers)" for program, count in state.programs.items())
        out.print(f"programs: {held}", markup=False, soft_wrap=True)
    else:
        out.print("programs: none yet", markup=False)


@db_app.command("status")
def db_status(
    db: Annotated[str, _DB_ARGUMENT],
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Exit 1 when the database needs `loyalty db upgrade` (for deploy scripts)."
        ),
    ] = False,
) -> None:
    """The database's schema version against the newest this engine knows, the migrations an upgrade
    would apply, and the programs it holds with their customers. Writes nothing, not even on a
    database that is behind."""
    from rules_engine.store.upgrade import status

    out, err = _consoles()
    try:
        state = status(db)
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    _show(out, state)
    if check and not state.up_to_date:
        err.print(f"needs an upgrade: loyalty db upgrade {db}", markup=False, soft_wrap=True)
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(db: Annotated[str, _DB_ARGUMENT]) -> None:
    """Apply the migrations the database lacks, all or none, in one transaction.

    Any command that writes does this on opening; run it yourself before starting several service
    workers on a new release, or before reading a database that must stay read-only afterwards. A
    database newer than this engine (RE603), or not a store of it (RE602), is refused unchanged.
    """
    from rules_engine.store.upgrade import upgrade

    out, err = _consoles()
    try:
        before, after = upgrade(db)
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    if not before.pending:
        err.print(f"already up to date: schema version {after.applied}", markup=False)
    for migration in before.pending:
        err.print(f"applied {migration.version}  {migration.description}", markup=False, soft_wrap=True)
    _show(out, after)
