"""Stores: where customer states, the ledger and processed events live between events.

    open_store("memory:", program)                       # in memory, for dry-runs and tests
    open_store("loyalty.db", program)                    # an SQLite file (the embedded default)
    open_store("sqlite:///var/lib/loyalty.db", program)  # the same, as a URL
    open_store("sqlite:///loyalty.db?synchronous=normal", program)  # faster, safe from process crashes
    open_store("postgresql://user@host/db", program)     # PostgreSQL, for several workers

`rules_engine.service.Loyalty` puts an engine and a store together; docs/stores.md tells the
guarantees (one transaction per event, exactly once, migrations).
"""

from __future__ import annotations

from pathlib import Path

from rules_engine.errors import Diagnostic, StoreError
from rules_engine.store.base import Change, CustomerTransaction, LedgerRow, Spending, Store
from rules_engine.store.memory import MemoryStore

__all__ = [
    "Change",
    "CustomerTransaction",
    "LedgerRow",
    "MemoryStore",
    "Spending",
    "Store",
    "open_store",
]


def open_store(
    url: str, program: str, *, create: bool = True, readonly: bool = False, cache: int | None = None
) -> Store:
    """Open (creating and migrating if needed) the store at `url` for one program's customers.

    `create=False` refuses an SQLite file that does not exist (RE601) rather than making an empty
    one: for commands that only read or update what a store holds, where a mistyped path would
    otherwise answer "nothing there". `readonly=True` (implies `create=False`) opens an SQLite
    file without writing to it, also on read-only media; the database must be up to date (RE609).
    Other stores ignore it. `cache`: how many customers' states an SQLite or PostgreSQL store
    object holds between events (store/cache.py; default 256, 0 for none); the URL can say it too,
    `?cache=N` (the argument wins)."""
    if (not create or readonly) and (path := sqlite_path(url)) is not None and not Path(path).exists():
        raise StoreError(
            [
                Diagnostic(
                    "RE601",
                    f"no database at {path}",
                    hint="check the path; `loyalty run PROGRAM EVENTS --db PATH` creates one",
                )
            ]
        )
    if url == "memory:":
        return MemoryStore(program)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from rules_engine.store.postgres import PostgresStore
        except ImportError:
            raise no_psycopg() from None
        url, held = _cache_option(url)
        return PostgresStore(url, program, cache=_size(cache, held))
    from rules_engine.store.sqlite import SqliteStore

    if url.startswith("sqlite:///"):
        url, held = _cache_option(url)
        path, _, query = url.removeprefix("sqlite:///").partition("?")
        options = dict(part.partition("=")[::2] for part in query.split("&") if part)
        synchronous = options.pop("synchronous", "full")
        if options or synchronous not in ("full", "normal"):
            raise StoreError(
                [
                    Diagnostic(
                        "RE601",
                        f"{url}: unknown option {query!r}",
                        hint="the options are ?synchronous=full (the default) or ?synchronous=normal, "
                        "and ?cache=N (customers' states held, default 256)",
                    )
                ]
            )
        return SqliteStore(
            path,
            program,
            synchronous="normal" if synchronous == "normal" else "full",
            readonly=readonly,
            cache=_size(cache, held),
        )
    if "://" in url:
        raise StoreError(
            [
                Diagnostic(
                    "RE601",
                    f"{url}: not a store this engine knows",
                    hint="use a file name (SQLite), sqlite:///PATH, postgresql://… or memory:",
                )
            ]
        )
    return SqliteStore(url, program, readonly=readonly, cache=_size(cache, None))


def _cache_option(url: str) -> tuple[str, int | None]:
    """The URL without its `cache=N` option, and N (None when it has none).

    Raises:
        StoreError: N is not a whole number from 0 up (RE601).
    """
    base, mark, query = url.partition("?")
    if not mark:
        return url, None
    kept, size = [], None
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name != "cache":
            kept.append(part)
            continue
        if not value.isdigit():
            raise StoreError(
                [
                    Diagnostic(
                        "RE601",
                        f"{url}: cache={value!r} is not a number of customers",
                        hint="?cache=N holds the states of the N customers seen last (0: none)",
                    )
                ]
            )
        size = int(value)
    return (f"{base}?{'&'.join(kept)}" if kept else base), size


def _size(given: int | None, in_url: int | None) -> int:
    from rules_engine.store.cache import DEFAULT_SIZE

    return given if given is not None else in_url if in_url is not None else DEFAULT_SIZE


def no_psycopg() -> StoreError:
    """What a PostgreSQL URL gets where psycopg (the `postgres` extra) is not installed."""
    return StoreError(
        [
            Diagnostic(
                "RE601",
                "the PostgreSQL store needs psycopg, which is not installed",
                hint="pip install 'rules-engine[postgres]'",
            )
        ]
    )


def sqlite_path(url: str) -> str | None:
    """The file an SQLite store URL (or plain path) names; None for any other store."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///").partition("?")[0]
    if url == "memory:" or "://" in url:
        return None
    return url
