"""The database schema, as numbered migrations, and the one function that brings a database up to date.

A database records the migrations applied to it in `schema_migrations`. Opening it applies the
missing ones in one transaction (all or none, serialized between processes that open it at the
same time); a database written by a newer version of the engine, or one that has tables but no
`schema_migrations`, is refused with a message, and nothing is written to it.

Never edit a migration that has shipped: add the next one.

Column types: SQLite keeps points as decimal text and times as UTC ISO text with microseconds
(so text order is time order); PostgreSQL uses NUMERIC and TIMESTAMPTZ. States are JSON text
written by pydantic in both, decimals as strings so that they read back exactly — from version 11
a summary row and a row per element of the long lists (lists.py); outcomes the same JSON,
compressed (from version 10, outcomes.py). Version 12 changes how SQLite lays rows out, not what
they hold (fewer pages a commit: docs/stores.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rules_engine.errors import Diagnostic, StoreError
from rules_engine.store.lists import migration_statements

Dialect = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgresql


# An event's time, for rows written before version 4: the latest ledger entry it booked for its
# customer (an earn or a burn is booked at the event's time; an expiry it triggered is earlier).
_EVENT_TIMES_FROM_LEDGER = """UPDATE events SET at = (
    SELECT max(ledger.at) FROM ledger
    WHERE ledger.program = events.program AND ledger.customer = events.customer
      AND ledger.event = events.event)"""


# When a referral code became known, for rows written before version 15.
_KNOWN_FROM_EVENTS = """UPDATE referral_codes SET known_at = (
    SELECT min(events.at) FROM events
    WHERE events.program = referral_codes.program AND events.customer = referral_codes.customer)"""


def _rebuilt(table: str, columns: str, definition: str, suffix: str = "") -> tuple[str, ...]:
    """SQLite: `table` made again as `CREATE TABLE table (definition) suffix`, every row copied in
    SQL, in the migration's transaction (SQLite cannot change a table's kind or key in place);
    its indexes go with the old table, made again by the caller."""
    return (
        f"CREATE TABLE {table}_12 ({definition}){suffix}",
        f"INSERT INTO {table}_12 ({columns}) SELECT {columns} FROM {table}",
        f"DROP TABLE {table}",
        f"ALTER TABLE {table}_12 RENAME TO {table}",
    )


_LEDGER_12 = "seq, program, customer, event, rule, kind, points, lot, at, version, rule_hash, line, lines"

# Migration 12, SQLite: what an event's commit writes, fewer pages (docs/stores.md, "The schema").
_LEANER_SQLITE = (
    # The ledger without AUTOINCREMENT: no `sqlite_sequence` row written by every commit. A row's
    # seq is then one more than the largest, which is what AUTOINCREMENT gave, since ledger rows
    # are never deleted (erasure renames them); every row keeps its seq (an HTTP cursor).
    *_rebuilt(
        "ledger",
        _LEDGER_12,
        """seq INTEGER PRIMARY KEY, program TEXT NOT NULL, customer TEXT NOT NULL, event TEXT NOT NULL,
        rule TEXT NOT NULL, kind TEXT NOT NULL, points TEXT NOT NULL, lot TEXT NOT NULL, at TEXT NOT NULL,
        version INTEGER NOT NULL, rule_hash TEXT, line INTEGER, lines TEXT""",
    ),
    # A customer's rows in seq order without naming seq: an index's rows end with the rowid.
    # `ledger_by_time` is not made again: no query reads the ledger by time alone.
    "CREATE INDEX ledger_by_customer ON ledger (program, customer)",
    # A customer's list rows by position, then list: what an event appends to each list is placed
    # past the customer's last position in any (lists.py), so it lands side by side, on one page
    # rather than one per list. Rows keep their positions.
    *_rebuilt(
        "customer_lists",
        "program, customer, part, pos, body",
        """program TEXT NOT NULL, customer TEXT NOT NULL, part TEXT NOT NULL, pos INTEGER NOT NULL,
        body TEXT NOT NULL, PRIMARY KEY (program, customer, pos, part)""",
        " WITHOUT ROWID",
    ),
    # Small rows found by their natural key: one b-tree, not a table and its key's index.
    *_rebuilt(
        "budgets",
        "program, rule, period, spent",
        "program TEXT NOT NULL, rule TEXT NOT NULL, period TEXT NOT NULL, spent TEXT NOT NULL,"
        " PRIMARY KEY (program, rule, period)",
        " WITHOUT ROWID",
    ),
    *_rebuilt(
        "referral_codes",
        "program, code, customer",
        "program TEXT NOT NULL, code TEXT NOT NULL, customer TEXT NOT NULL, PRIMARY KEY (program, code)",
        " WITHOUT ROWID",
    ),
    *_rebuilt(
        "catalog_stock",
        "program, item, redeemed",
        "program TEXT NOT NULL, item TEXT NOT NULL, redeemed INTEGER NOT NULL, PRIMARY KEY (program, item)",
        " WITHOUT ROWID",
    ),
    *_rebuilt(
        "coupon_codes",
        "program, code, coupon, batch, created_at, customer, claimed_at",
        """program TEXT NOT NULL, code TEXT NOT NULL, coupon TEXT NOT NULL, batch TEXT NOT NULL,
        created_at TEXT NOT NULL, customer TEXT, claimed_at TEXT, PRIMARY KEY (program, code)""",
        " WITHOUT ROWID",
    ),
)


MIGRATIONS = (
    Migration(
        1,
        "customers, processed events, ledger, budget spending",
        sqlite=(
            """CREATE TABLE customers (
                program TEXT NOT NULL, customer TEXT NOT NULL, state TEXT NOT NULL,
                revision INTEGER NOT NULL, PRIMARY KEY (program, customer))""",
            """CREATE TABLE events (
                program TEXT NOT NULL, customer TEXT NOT NULL, event TEXT NOT NULL,
                outcome TEXT NOT NULL, PRIMARY KEY (program, customer, event))""",
            """CREATE TABLE ledger (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, program TEXT NOT NULL, customer TEXT NOT NULL,
                event TEXT NOT NULL, rule TEXT NOT NULL, kind TEXT NOT NULL, points TEXT NOT NULL,
                lot TEXT NOT NULL, at TEXT NOT NULL, version INTEGER NOT NULL, rule_hash TEXT)""",
            "CREATE INDEX ledger_by_customer ON ledger (program, customer, seq)",
            """CREATE TABLE budgets (
                program TEXT NOT NULL, rule TEXT NOT NULL, period TEXT NOT NULL, spent TEXT NOT NULL,
                PRIMARY KEY (program, rule, period))""",
        ),
        postgresql=(
            """CREATE TABLE customers (
                program TEXT NOT NULL, customer TEXT NOT NULL, state TEXT NOT NULL,
                revision BIGINT NOT NULL, PRIMARY KEY (program, customer))""",
            """CREATE TABLE events (
                program TEXT NOT NULL, customer TEXT NOT NULL, event TEXT NOT NULL,
                outcome TEXT NOT NULL, PRIMARY KEY (program, customer, event))""",
            """CREATE TABLE ledger (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, program TEXT NOT NULL,
                customer TEXT NOT NULL, event TEXT NOT NULL, rule TEXT NOT NULL, kind TEXT NOT NULL,
                points NUMERIC NOT NULL, lot TEXT NOT NULL, at TIMESTAMPTZ NOT NULL,
                version INTEGER NOT NULL, rule_hash TEXT)""",
            "CREATE INDEX ledger_by_customer ON ledger (program, customer, seq)",
            """CREATE TABLE budgets (
                program TEXT NOT NULL, rule TEXT NOT NULL, period TEXT NOT NULL, spent NUMERIC NOT NULL,
                PRIMARY KEY (program, rule, period))""",
        ),
    ),
    Migration(
        2,
        "referral codes, ledger by date (for the accounting export)",
        sqlite=(
            """CREATE TABLE referral_codes (
                program TEXT NOT NULL, code TEXT NOT NULL, customer TEXT NOT NULL,
                PRIMARY KEY (program, code))""",
            "CREATE INDEX ledger_by_time ON ledger (program, at)",
        ),
        postgresql=(
            """CREATE TABLE referral_codes (
                program TEXT NOT NULL, code TEXT NOT NULL, customer TEXT NOT NULL,
                PRIMARY KEY (program, code))""",
            "CREATE INDEX ledger_by_time ON ledger (program, at)",
        ),
    ),
    Migration(
        3,
        "the basket line of each ledger entry",
        sqlite=("ALTER TABLE ledger ADD COLUMN line INTEGER",),
        postgresql=("ALTER TABLE ledger ADD COLUMN line INTEGER",),
    ),
    Migration(
        4,
        "each event's payload digest and time (a reused id is refused; the horizon's reference)",
        # Rows of earlier versions keep a NULL digest: their redeliveries count as matching. Their
        # time is taken from the ledger where the event booked points (the same UTC format), so the
        # horizon is measured from the store's history at once; an event that booked nothing keeps
        # NULL (docs/stores.md).
        sqlite=(
            "ALTER TABLE events ADD COLUMN digest TEXT",
            "ALTER TABLE events ADD COLUMN at TEXT",
            _EVENT_TIMES_FROM_LEDGER,
            "CREATE INDEX events_by_time ON events (program, at)",
        ),
        postgresql=(
            "ALTER TABLE events ADD COLUMN digest TEXT",
            "ALTER TABLE events ADD COLUMN at TIMESTAMPTZ",
            _EVENT_TIMES_FROM_LEDGER,
            "CREATE INDEX events_by_time ON events (program, at)",
        ),
    ),
    Migration(
        5,
        "API keys of the HTTP service (hashed; for the whole database, not one program)",
        # scopes and programs: space-separated (neither has spaces); programs empty: every program.
        sqlite=(
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, digest TEXT NOT NULL, scopes TEXT NOT NULL,
                programs TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)""",
        ),
        postgresql=(
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, digest TEXT NOT NULL, scopes TEXT NOT NULL,
                programs TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ)""",
        ),
    ),
    Migration(
        6,
        "one ledger row per award, its basket lines inside",
        # `lines` is the JSON list of the entry's line parts ([{"line": 0, "points": "5"}], points
        # as decimal text). Rows written before keep `line` (one row per line, `lines` NULL); the
        # store reads either as LedgerEntry.lines.
        sqlite=("ALTER TABLE ledger ADD COLUMN lines TEXT",),
        postgresql=("ALTER TABLE ledger ADD COLUMN lines TEXT",),
    ),
    Migration(
        7,
        "bulk coupon codes: a coupon's codes, each claimed by the first customer presenting it",
        sqlite=(
            """CREATE TABLE coupon_codes (
                program TEXT NOT NULL, code TEXT NOT NULL, coupon TEXT NOT NULL, batch TEXT NOT NULL,
                created_at TEXT NOT NULL, customer TEXT, claimed_at TEXT, PRIMARY KEY (program, code))""",
        ),
        postgresql=(
            """CREATE TABLE coupon_codes (
                program TEXT NOT NULL, code TEXT NOT NULL, coupon TEXT NOT NULL, batch TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL, customer TEXT, claimed_at TIMESTAMPTZ,
                PRIMARY KEY (program, code))""",
        ),
    ),
    Migration(
        8,
        "catalog stock: how many of each catalog item were redeemed, program-wide",
        # One row per item redeemed at least once; a void of a redemption gives one back. The
        # program's `stock` is the limit, so raising it in a new version restocks (docs/stores.md).
        sqlite=(
            """CREATE TABLE catalog_stock (
                program TEXT NOT NULL, item TEXT NOT NULL, redeemed INTEGER NOT NULL,
                PRIMARY KEY (program, item))""",
        ),
        postgresql=(
            """CREATE TABLE catalog_stock (
                program TEXT NOT NULL, item TEXT NOT NULL, redeemed BIGINT NOT NULL,
                PRIMARY KEY (program, item))""",
        ),
    ),
    Migration(
        9,
        "program versions: the content hash of each version a store ran (the version guard)",
        # `seen_at`: when a store was first opened with it (the clock of the machine that did).
        sqlite=(
            """CREATE TABLE program_versions (
                program TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL,
                seen_at TEXT NOT NULL, PRIMARY KEY (program, version))""",
        ),
        postgresql=(
            """CREATE TABLE program_versions (
                program TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL,
                seen_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (program, version))""",
        ),
    ),
    Migration(
        10,
        "each event's outcome kept compressed (zlib): about a quarter of the bytes",
        # New rows keep `outcome` empty and the compressed JSON in `packed`; rows written before
        # keep their text and a null `packed` (outcomes.py reads both). Nothing is rewritten.
        sqlite=("ALTER TABLE events ADD COLUMN packed BLOB",),
        postgresql=("ALTER TABLE events ADD COLUMN packed BYTEA",),
    ),
    Migration(
        11,
        "a customer's state as a summary row and a row per element of its long lists",
        # `customers.state` keeps the state without its lists (lists.PARTS); `customer_lists` holds
        # their elements, in the order of `pos` (lists.py). Every stored state is split here, in SQL.
        sqlite=migration_statements("sqlite"),
        postgresql=migration_statements("postgresql"),
    ),
    Migration(
        12,
        "fewer pages a commit (SQLite): list rows keyed by position, the ledger without AUTOINCREMENT"
        " or its index by time, small tables WITHOUT ROWID; PostgreSQL: the ledger's index by time dropped",
        # Measured: 17.9 pages a commit before, 12.6 after (bench/README.md). `customers` and `events`
        # stay rowid tables: their rows (a ~3.7 KB summary, a ~1.3 KB event with its outcome) are
        # past what a WITHOUT ROWID page keeps in place (~1 KB at 4 KB pages), so each would spill
        # into an overflow page of its own. No query reads `ledger_by_time` (docs/stores.md).
        sqlite=_LEANER_SQLITE,
        postgresql=("DROP INDEX IF EXISTS ledger_by_time",),
    ),
    Migration(
        13,
        "outcomes packed against a preset dictionary (outcomes.py `DICTIONARIES`)",
        # Nothing to change in the tables: rows packed before read as they were. The version is
        # what keeps an engine older than the dictionary from opening a database whose new rows it
        # could not read (RE603 at open, rather than an error on the first such row read).
        sqlite=(),
        postgresql=(),
    ),
    Migration(
        14,
        "outcomes packed by zstd against a trained dictionary (outcomes.py `ZSTD_DICTIONARIES`)",
        # As 13: nothing to change in the tables (rows packed by zlib read as they were); the
        # version keeps an engine that cannot read a zstd frame from opening the database.
        sqlite=(),
        postgresql=(),
    ),
    Migration(
        15,
        "when each referral code became known: its customer's first event's time",
        # A referee's purchase rewards the referrer only if their code was known at its time, so
        # that every way of replaying a stream agrees (docs/stores.md, "Referrals"). Rows written
        # before take their customer's earliest event time kept (schema 4); none kept (an imported
        # state, events older than schema 4): NULL, known since ever, as they were.
        sqlite=("ALTER TABLE referral_codes ADD COLUMN known_at TEXT", _KNOWN_FROM_EVENTS),
        postgresql=("ALTER TABLE referral_codes ADD COLUMN known_at TIMESTAMPTZ", _KNOWN_FROM_EVENTS),
    ),
    Migration(
        16,
        "prize draws: each draw's result, recorded by its first `loyalty draw --db`",
        # One row a draw, written once and never replaced: what a later run prints, whatever the
        # entries have become since (a void, an erasure). `winners`: the JSON list of the winning
        # tickets in order ([{"customer": …, "entry": 2, "sha256": …}], tools/draws.py); an erased
        # winner's customer is their pseudonym and the hash made from their id is dropped.
        sqlite=(
            """CREATE TABLE draws (
                program TEXT NOT NULL, draw TEXT NOT NULL, closes TEXT NOT NULL, seed TEXT NOT NULL,
                winners TEXT NOT NULL, entries INTEGER NOT NULL, customers INTEGER NOT NULL,
                drawn_at TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (program, draw))
                WITHOUT ROWID""",
        ),
        postgresql=(
            """CREATE TABLE draws (
                program TEXT NOT NULL, draw TEXT NOT NULL, closes DATE NOT NULL, seed TEXT NOT NULL,
                winners TEXT NOT NULL, entries BIGINT NOT NULL, customers BIGINT NOT NULL,
                drawn_at TIMESTAMPTZ NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (program, draw))""",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version
TABLES = (
    "customers",
    "events",
    "ledger",
    "budgets",
    "referral_codes",
    "api_keys",
    "coupon_codes",
    "catalog_stock",
    "program_versions",
    "customer_lists",
    "draws",
)


def pending(applied: int, existing_tables: set[str], url: str) -> list[Migration]:
    """The migrations a database at version `applied` (0: no `schema_migrations`) still needs.

    Raises:
        StoreError: the database is newer than this engine, or is not a store of this engine.
    """
    if applied > LATEST:
        raise StoreError(
            [
                Diagnostic(
                    "RE603",
                    f"{url}: the database has schema version {applied}, this version of the engine "
                    f"knows versions up to {LATEST}",
                    hint="upgrade rules-engine to open it; nothing was changed in the database",
                )
            ]
        )
    if applied == 0 and existing_tables & set(TABLES):
        raise StoreError(
            [
                Diagnostic(
                    "RE602",
                    f"{url}: the database has tables named like a store's "
                    f"({', '.join(sorted(existing_tables & set(TABLES)))}) but no schema_migrations table",
                    hint="point --db at a new database or at one this engine created; nothing was changed",
                )
            ]
        )
    return [migration for migration in MIGRATIONS if migration.version > applied]
