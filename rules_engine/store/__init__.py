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
    url: str,
    program: str,
    *,
    create: bool = True,
    readonly: bool = False,
    cache: int | None = None,
    default_cache: int | None = None,
    default_cache_budget: int | None = None,
    batch_elements: int | None = None,
    working: bool | None = None,
) -> Store:
    """Open (creating and migrating if needed) the store at `url` for one program's customers.

    `create=False` refuses an SQLite file that does not exist (RE601) rather than making an empty
    one: for commands that only read or update what a store holds, where a mistyped path would
    otherwise answer "nothing there". `readonly=True` (implies `create=False`) opens an SQLite
    file without writing to it, also on read-only media; the database must be up to date (RE609).
    Other stores ignore it. `cache`: how many customers' states an SQLite or PostgreSQL store
    object holds between events (store/cache.py; default 256, 0 for none); the URL can say it too,
    `?cache=N` (the argument wins); `default_cache`: the caller's default when neither says (a
    replay's: cache.REPLAY_SIZE); `default_cache_budget`: with that default, the list elements held in
    all (a replay's: cache.REPLAY_ELEMENTS; otherwise, and with `cache` or `?cache=N`, 1,000 per
    customer of the cache's size: store/cache.py). `batch_elements`: a group's budget of list elements
    before it writes its batch out early (store/batch.py; default 50,000), or `?batch_elements=N`.
    `working`: an SQLite or PostgreSQL store holds its customers' working states and the service
    decides their events on them in place (sql_writing.py, `SqlStore.carries_working`; off by default), or
    `?working=1`."""
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
        url, numbers = _number_options(url)
        postgres = PostgresStore(
            url,
            program,
            cache=_chosen(cache, numbers.get("cache"), default_cache, "cache"),
            cache_budget=_budget(cache, numbers, default_cache_budget),
            batch_elements=_chosen(batch_elements, numbers.get("batch_elements"), None, "batch_elements"),
        )
        postgres.carries_working = _working(working, numbers)
        return postgres
    from rules_engine.store.sqlite import SqliteStore

    numbers = {}
    if url.startswith("sqlite:///"):
        url, numbers = _number_options(url)
        path, _, query = url.removeprefix("sqlite:///").partition("?")
        options = dict(part.partition("=")[::2] for part in query.split("&") if part)
        synchronous = options.pop("synchronous", "full")
        checkpoint = options.pop("checkpoint", "background")
        if options or synchronous not in ("full", "normal") or checkpoint not in ("background", "commit"):
            raise StoreError(
                [
                    Diagnostic(
                        "RE601",
                        f"{url}: unknown option {query!r}",
                        hint="the options are ?synchronous=full (the default) or ?synchronous=normal, "
                        "?cache=N (customers' states held, default 256), ?batch_elements=N "
                        "(list elements a batch stages before it is written out, default 50000), "
                        "?working=1 (events decided in place on working states) and "
                        "?checkpoint=background (the default) or ?checkpoint=commit (where the "
                        "write-ahead log is checkpointed)",
                    )
                ]
            )
    elif "://" in url:
        raise StoreError(
            [
                Diagnostic(
                    "RE601",
                    f"{url}: not a store this engine knows",
                    hint="use a file name (SQLite), sqlite:///PATH, postgresql://… or memory:",
                )
            ]
        )
    else:
        path, synchronous, checkpoint = url, "full", "background"
    sqlite = SqliteStore(
        path,
        program,
        synchronous="normal" if synchronous == "normal" else "full",
        checkpoint="commit" if checkpoint == "commit" else "background",
        readonly=readonly,
        cache=_chosen(cache, numbers.get("cache"), default_cache, "cache"),
        cache_budget=_budget(cache, numbers, default_cache_budget),
        batch_elements=_chosen(batch_elements, numbers.get("batch_elements"), None, "batch_elements"),
    )
    sqlite.carries_working = _working(working, numbers)
    return sqlite


def _working(given: bool | None, numbers: dict[str, int]) -> bool:
    """Whether the store carries working states: the argument, else `?working=N` (N not 0)."""
    return bool(numbers.get("working", 0)) if given is None else given


_NUMBERS = {
    "cache": "?cache=N holds the states of the N customers seen last (0: none)",
    "batch_elements": "?batch_elements=N: list elements a replay's batch stages before it is written out",
    "working": "?working=1: the store holds working states and events are decided on them in place "
    "(0: off, the default)",
}
"""The store URL options that are whole numbers, what each means (in the hint of a wrong one)."""

_MOST_DIGITS = 18
"""A number option has at most this many digits (ASCII ones): `int()` refuses more than 4,300, and
`str.isdigit` alone admits "²", which `int()` refuses too; both must be an RE601, not a crash."""


def _number_options(url: str) -> tuple[str, dict[str, int]]:
    """The URL without its number options (`cache=N`, `batch_elements=N`), and their values.

    Raises:
        StoreError: a value is not a whole number from 0 up (RE601).
    """
    base, mark, query = url.partition("?")
    if not mark:
        return url, {}
    kept, numbers = [], {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name not in _NUMBERS:
            kept.append(part)
            continue
        if not (value.isascii() and value.isdigit() and len(value) <= _MOST_DIGITS):
            raise StoreError(
                [
                    Diagnostic(
                        "RE601",
                        f"{url}: {name}={value!r} is not a whole number",
                        hint=_NUMBERS[name],
                    )
                ]
            )
        numbers[name] = int(value)
    return (f"{base}?{'&'.join(kept)}" if kept else base), numbers


def _chosen(given: int | None, in_url: int | None, default: int | None, name: str) -> int:
    """The argument, else the URL's option, else the caller's default, else the store's."""
    from rules_engine.store.batch import ELEMENTS
    from rules_engine.store.cache import DEFAULT_SIZE

    for value in (given, in_url, default):
        if value is not None:
            return value
    return DEFAULT_SIZE if name == "cache" else ELEMENTS


def _budget(cache: int | None, numbers: dict[str, int], default: int | None) -> int | None:
    """The cache's budget of list elements: the caller's default only with its default size."""
    return default if cache is None and "cache" not in numbers else None


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
