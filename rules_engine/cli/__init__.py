"""The `loyalty` command line: a thin typer layer over the public API.

Exit codes: 0 success, 1 a program, expression or input error (reported on stderr with file,
line, column and a hint), 2 a usage error: click's own (an unknown option, a missing argument, a
value outside a closed choice) and the option values our code refuses (`_usage`: a bad date,
moment, duration or timezone, options that exclude each other).

Help texts are markdown (`rich_markup_mode`): a docstring's lines are joined into paragraphs and
re-wrapped to the terminal, so write them as prose, a blank line between paragraphs.

The package reads as the command list: `common` (what they share), `conditions` (`check`),
`programs` (`validate`, `schema`, `compile`, `dry-run`, `test`), `replaying` (`run`), `stores`
(`ledger export`, `customer`, `advance`, `draw`, `leaderboard`), `desk` (`adjust`, `void`,
`erase`, `coupons`), `service` (`serve`, `keys create|list|revoke`), `simulating` (`generate`,
`simulate`), `database` (`db status|upgrade`).
Importing a module registers its commands on `app`, in the order `loyalty --help` lists them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from rules_engine.cli import (  # noqa: F401 (they register the commands)
    conditions,
    database,
    desk,
    programs,
    replaying,
    service,
    simulating,
    stores,
)
from rules_engine.cli.common import app

__all__ = ["app", "main"]


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
