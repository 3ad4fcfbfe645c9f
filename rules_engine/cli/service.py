"""The HTTP service's commands: `serve` (rules_engine/http, docs/service.md) and `keys create`,
`keys list`, `keys revoke` (the API keys it accepts, kept hashed in the store)."""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from rules_engine.errors import Diagnostic, ProgramError, StoreError, quoted

if TYPE_CHECKING:
    from rules_engine.store import Store
from rules_engine.cli.common import (
    _DB_HELP,
    AllowDowngradeOption,
    _clock,
    _consoles,
    _fail,
    _system_clock,
    _usage,
    app,
)

keys_app = typer.Typer(
    help="API keys of the HTTP service (`loyalty serve`): made, listed, revoked; kept hashed in the store.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(keys_app, name="keys")


class Scope(enum.StrEnum):
    """`keys create --scope`: a closed choice, so click refuses any other value (exit 2). The same
    scopes as the store's `SCOPES` (a test holds them equal; importing the store here would load
    it for every command)."""

    EVENTS_WRITE = "events:write"
    CUSTOMERS_READ = "customers:read"
    REDEMPTIONS_WRITE = "redemptions:write"
    PROGRAMS_WRITE = "programs:write"
    ADMIN = "admin"


@app.command()
def serve(
    programs: Annotated[
        Path,
        typer.Argument(help="The folder of program files (*.yaml), one program each.", metavar="PROGRAM_DIR"),
    ],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    host: Annotated[
        str, typer.Option("--host", help="The address to listen on; 0.0.0.0 for every one.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="The port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Worker processes: several share an SQLite file or a PostgreSQL database (not memory:).",
        ),
    ] = 1,
    max_body: Annotated[
        int, typer.Option("--max-body", min=1024, help="The largest request body taken, in bytes.")
    ] = 1024 * 1024,
    horizon: Annotated[
        str | None,
        typer.Option(
            "--horizon",
            help="How far ahead of the server's clock an event may be dated: 1d, 12h, 7d, none (default 1d).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    request_timeout: Annotated[
        float,
        typer.Option(
            "--request-timeout",
            min=1,
            max=3600,
            help="Seconds a client has to send a request whole (and a new connection its first): "
            "then 408 and the connection closed.",
        ),
    ] = 60,
    allow_downgrade: AllowDowngradeOption = False,
) -> None:
    """Serve the programs of a folder over HTTP: events, customers, redemptions, programs (docs/service.md).

    Every program is checked first, and the store opened (and migrated) once, so a problem stops
    the command before anything listens. It binds 127.0.0.1 unless told otherwise: put TLS and
    any outside access behind a reverse proxy. SIGTERM or Ctrl-C stop it gracefully: requests in
    flight finish, new connections are refused.
    """
    from rules_engine.http.running import Programs
    from rules_engine.http.runtime import Settings
    from rules_engine.http.server import Listen
    from rules_engine.http.server import serve as run_server
    from rules_engine.store import open_store
    from rules_engine.store.versions import check_version

    _, err = _consoles()
    if db == "memory:" and workers > 1:
        _usage(
            Diagnostic(
                "RE709",
                "a memory store lives in one process: --workers must be 1 with --db memory:",
                hint="use an SQLite file or PostgreSQL for several workers",
            ),
            err,
        )
    if log_level not in ("debug", "info", "warning", "error"):
        _usage(
            Diagnostic(
                "RE709", f"--log-level {log_level}: not a level", hint="debug, info, warning or error"
            ),
            err,
        )
    _, limit = _clock(None, horizon, True, err)
    secret = os.environ.get("LOYALTY_SECRET", "").encode()
    try:
        loaded = Programs.load(programs, secret)
        for program in loaded.ids():
            with open_store(db, program) as store:  # the version guard, before anything listens
                check_version(
                    store,
                    loaded.get(program).engine.program,
                    _system_clock(),
                    allow_downgrade=allow_downgrade,
                )
    except (ProgramError, StoreError) as problem:
        _fail(problem.diagnostics, err)
    settings = Settings(programs=programs, db=db, secret=secret, horizon=limit, max_body=max_body)

    def listening(bound: int) -> None:  # once the socket listens: a script may connect then
        served = ", ".join(loaded.ids())
        err.print(
            f"serving {served} on http://{host}:{bound} ({workers} worker(s)); docs at /docs",
            markup=False,
            soft_wrap=True,
        )
        err.file.flush()

    listen = Listen(
        host=host, port=port, workers=workers, log_level=log_level, request_timeout=request_timeout
    )
    run_server(settings, listen, listening)


def _keys_store(db: str, err: Console, *, create: bool) -> Store:
    from rules_engine.store import open_store

    try:
        return open_store(db, "", create=create)
    except StoreError as problem:
        _fail(problem.diagnostics, err)


@keys_app.command("create")
def keys_create(
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
    scopes: Annotated[list[Scope], typer.Option("--scope", help="What the key may do (repeat for several).")],
    programs: Annotated[
        list[str] | None, typer.Option("--program", help="Limit the key to a program (repeat for several).")
    ] = None,
) -> None:
    """Make a key and print it once, on its own line: only its hash is kept, it cannot be shown again.

    Scopes: events:write (events and dry-runs), customers:read (customers, ledgers, the ledger
    export), redemptions:write, programs:write (uploads), admin (everything).
    """
    from rules_engine.program.types import ID_LENGTH, ID_PATTERN
    from rules_engine.store.keys import new_key

    out, err = _consoles()
    for program in programs or []:  # a key limited to a name no program can have would work nowhere
        if len(program) > ID_LENGTH or not re.fullmatch(ID_PATTERN, program):
            _usage(
                Diagnostic(
                    "RE718",
                    f"--program {quoted(program)}: not a program id",
                    hint="a program's id as its file says (`program:`): lower case letters, digits, `-`, `_`",
                ),
                err,
            )
    token, key = new_key([str(scope) for scope in scopes], programs or [])
    store = _keys_store(db, err, create=True)
    try:
        store.add_key(key)
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    limited = f", programs {', '.join(key.programs)}" if key.programs else ", every program"
    err.print(f"key {key.id}: {' '.join(key.scopes)}{limited}; shown once:", markup=False, soft_wrap=True)
    out.file.write(token + "\n")


@keys_app.command("list")
def keys_list(db: Annotated[str, typer.Option("--db", help=_DB_HELP)]) -> None:
    """Every key of the store: id, scopes, programs, when it was made and revoked (never the key)."""
    out, err = _consoles()
    store = _keys_store(db, err, create=False)
    try:
        keys = store.api_keys()
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    for key in keys:
        programs = ",".join(key.programs) or "*"
        made = key.created_at.isoformat(timespec="seconds") if key.created_at else "-"
        revoked = f" revoked {key.revoked_at.isoformat(timespec='seconds')}" if key.revoked_at else ""
        out.print(
            f"{key.id}  {','.join(key.scopes)}  programs {programs}  made {made}{revoked}",
            markup=False,
            soft_wrap=True,
        )
    if not keys:
        err.print("no keys: `loyalty keys create --db URL --scope S` makes one", markup=False)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id, as `keys list` shows it.")],
    db: Annotated[str, typer.Option("--db", help=_DB_HELP)],
) -> None:
    """Revoke a key: the service refuses it from its next request on (401)."""
    out, err = _consoles()
    store = _keys_store(db, err, create=False)
    try:
        revoked = store.revoke_key(key_id, dt.datetime.now(dt.UTC))
    except StoreError as problem:
        _fail(problem.diagnostics, err)
    finally:
        store.close()
    if not revoked:
        _fail(
            [
                Diagnostic(
                    "RE610",
                    f"no key {key_id!r} to revoke in {store.url}",
                    hint="`loyalty keys list --db URL` shows the keys and which are revoked",
                )
            ],
            err,
        )
    out.print(f"revoked {key_id}", markup=False)
