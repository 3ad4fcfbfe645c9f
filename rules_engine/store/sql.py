"""The SQLite and PostgreSQL stores' common class, `SqlStore`: what they read back (states, the
ledger, versions, stock, tiers held), the desk's operations (erasure, bulk coupon codes) and the
API keys, over the write path they share (sql_writing.py: an event's transaction and a group's,
states written as rows; sql_transactions.py: the transactions an event sees).

The two stores differ in how they connect, lock and type their columns (sqlite.py, postgres.py); the
queries are written once with `?` placeholders, which the PostgreSQL store turns into `%s`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from rules_engine.state.customer import CustomerState, LedgerEntry, LedgerLine
from rules_engine.store.base import (
    CouponCode,
    DrawRecord,
    DrawWinner,
    LedgerRow,
    ProgramVersion,
    erased_from,
    known,
    rename_lot,
    rename_rule,
)
from rules_engine.store.keys import ApiKey
from rules_engine.store.sql_writing import RETRY_HINT as RETRY_HINT
from rules_engine.store.sql_writing import SqlWriting

_LEDGER_COLUMNS = "seq, customer, event, rule, kind, points, lot, at, version, rule_hash, line, lines"


class SqlStore(SqlWriting):
    """The SQL stores' common class: the reads and operations here, the write path in
    `SqlWriting` (sql_writing.py)."""

    def redeemed(self) -> dict[str, int]:
        self._flush()  # in a group: what it staged, then the database
        rows = self._execute(
            "SELECT item, redeemed FROM catalog_stock WHERE program = ? AND redeemed <> 0 ORDER BY item",
            (self.program,),
        )
        return {item: int(count) for item, count in rows}

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: SQLite's deferred `BEGIN` (its snapshot taken at the first read, no
        lock that keeps writers waiting: WAL), PostgreSQL's repeatable read (one snapshot for every
        statement, where read committed takes one a statement). Not inside a group."""
        repeatable = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        self._execute("BEGIN" if self.dialect == "sqlite" else repeatable)
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        self._execute("COMMIT")

    def versions(self) -> list[ProgramVersion]:
        rows = self._execute(
            "SELECT version, digest, seen_at FROM program_versions WHERE program = ? ORDER BY version",
            (self.program,),
        )
        return [ProgramVersion(version, digest, self._read_time(at)) for version, digest, at in rows]

    def restate_version(self, version: int, old: str, new: str) -> None:
        self._execute(
            "UPDATE program_versions SET digest = ? WHERE program = ? AND version = ? AND digest = ?",
            (new, self.program, version, old),
        )

    def add_version(self, version: ProgramVersion) -> ProgramVersion:
        self._execute(
            "INSERT INTO program_versions (program, version, digest, seen_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (self.program, version.version, version.digest, self._time(version.seen_at)),
        )
        rows = self._execute(
            "SELECT version, digest, seen_at FROM program_versions WHERE program = ? AND version = ?",
            (self.program, version.version),
        )
        number, digest, at = rows[0]
        return ProgramVersion(number, digest, self._read_time(at))

    def tiers_held(self) -> dict[str, int]:
        self._flush()  # in a group: what it staged, then the database
        tier = "json_extract(state, '$.tier')" if self.dialect == "sqlite" else "(state::jsonb)->>'tier'"
        rows = self._execute(
            f"SELECT {tier}, count(*) FROM customers WHERE program = ? AND revision > 0"
            f" AND {tier} IS NOT NULL GROUP BY 1 ORDER BY 1",
            (self.program,),
        )
        return {str(held): int(count) for held, count in rows}

    def state(self, customer: str) -> CustomerState | None:
        batch = self._batch
        if batch is not None and customer in batch.bases:
            return batch.state(customer)
        rows = self._execute(
            "SELECT revision FROM customers WHERE program = ? AND customer = ?", (self.program, customer)
        )
        if batch is not None:  # read as the group's transaction has it, not held (not committed)
            revision = int(rows[0][0]) if rows else 0
            if not batch.locked:  # an optimistic group: checked unchanged when it writes (a referrer's)
                batch.revisions.setdefault(customer, revision or None)
            kept = None
            if revision:
                kept = self._cache.get(customer, revision) or batch.written_early(customer, revision)
                kept = kept or self._load(customer)
        else:
            kept = self._hold(customer, int(rows[0][0])) if rows else None
        return None if kept is None else kept.state

    def customers(self) -> list[str]:
        self._flush()  # in a group: what it staged, then the database
        rows = self._execute(
            "SELECT customer FROM customers WHERE program = ? ORDER BY customer", (self.program,)
        )
        return [row[0] for row in rows]

    def ledger(
        self,
        *,
        until: dt.datetime | None = None,
        customer: str | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> Iterator[LedgerRow]:
        self._flush()  # in a group: what it staged, then the database
        # The whole ledger in seq order is its table read in order (SQLite: `+program` keeps the
        # planner from reading it through a customer index and sorting every row).
        scan = customer is None and self.dialect == "sqlite"
        where = "+program = ?" if scan else "program = ?"
        parameters: list[object] = [self.program]
        if until is not None:
            where, parameters = where + " AND at < ?", [*parameters, self._time(until)]
        if customer is not None:
            where, parameters = where + " AND customer = ?", [*parameters, customer]
        if after:
            where, parameters = where + " AND seq > ?", [*parameters, after]
        page = ""
        if limit is not None:
            page, parameters = " LIMIT ?", [*parameters, limit]
        rows = self._execute(
            f"SELECT {_LEDGER_COLUMNS} FROM ledger WHERE {where} ORDER BY seq{page}", parameters
        )
        for seq, whose, event, rule, kind, points, lot, at, version, rule_hash, line, lines in rows:
            amount = self._read_points(points)
            entry = LedgerEntry(
                event=event,
                rule=rule,
                kind=kind,
                points=amount,
                lot=lot,
                at=self._read_time(at),
                version=version,
                rule_hash=rule_hash,
                lines=_lines(lines, line, amount),
            )
            yield LedgerRow(seq, whose, entry)

    def referrer(self, code: str, at: dt.datetime | None = None) -> str | None:
        rows = self._execute(
            "SELECT customer, known_at FROM referral_codes WHERE program = ? AND code = ?",
            (self.program, code),
        )
        if rows:
            customer, since = rows[0]
            return str(customer) if known(None if since is None else self._read_time(since), at) else None
        batch = self._batch
        if batch is None:
            return None
        staged = batch.codes.get(code)
        if staged is None:
            if not batch.locked:  # an optimistic group: checked still unknown when it writes
                batch.unfound.add(code)
            return None
        return staged[0] if known(staged[1], at) else None

    def processed(self) -> int:
        self._flush()  # in a group: what it staged, then the database
        rows = self._execute("SELECT count(*) FROM events WHERE program = ?", (self.program,))
        return int(rows[0][0])

    def programs(self) -> list[str]:
        self._flush()  # in a group: what it staged, then the database
        return [row[0] for row in self._execute("SELECT DISTINCT program FROM customers ORDER BY program")]

    def stored_time(self, moment: dt.datetime) -> dt.datetime:
        """A moment as the database gives it back once stored (SQLite: in UTC)."""
        return self._read_time(self._time(moment))

    def latest_event_time(self) -> dt.datetime | None:
        rows = self._execute("SELECT max(at) FROM events WHERE program = ?", (self.program,))
        latest = None if not rows or rows[0][0] is None else self._read_time(rows[0][0])
        staged = None if self._batch is None else self._batch.latest
        if staged is None or (latest is not None and latest >= staged):
            return latest
        return self.stored_time(staged)  # as the database will give it back

    def erase(
        self,
        customer: str,
        pseudonym: str,
        anonymise: Callable[[CustomerState], CustomerState],
        rename: Callable[[str], str],
    ) -> CustomerState | None:
        program = self.program
        self._begin()
        try:
            kept = self._hold(customer, self._lock_customer(customer))
            if kept is None:
                self._rollback()
                return None
            state = kept.state
            rows = self._execute(
                "SELECT seq, event, lot, rule FROM ledger WHERE program = ? AND customer = ?",
                (program, customer),
            )
            self._execute_many(
                "UPDATE ledger SET customer = ?, event = ?, lot = ?, rule = ? WHERE seq = ?",
                [
                    (pseudonym, rename(event), rename_lot(lot, rename), rename_rule(rule, rename), seq)
                    for seq, event, lot, rule in rows
                ],
            )
            events = self._execute(
                "SELECT event FROM events WHERE program = ? AND customer = ?", (program, customer)
            )
            self._execute_many(
                "UPDATE events SET customer = ?, event = ?, outcome = '{}', packed = NULL, digest = NULL"
                " WHERE program = ? AND customer = ? AND event = ?",
                [(pseudonym, rename(event), program, customer, event) for (event,) in events],
            )
            # their referral code retired, kept by the pseudonym (tools/erasure.py): a new customer
            # under the id, whose code it would be, does not get it, nor a reward it was owed
            self._execute(
                "UPDATE referral_codes SET customer = ? WHERE program = ? AND customer = ?",
                (pseudonym, program, customer),
            )
            # bulk codes they claimed stay claimed, by the pseudonym: the id goes, and a new customer
            # under it cannot present a flyer's code again as theirs
            self._execute(
                "UPDATE coupon_codes SET customer = ? WHERE program = ? AND customer = ?",
                (pseudonym, program, customer),
            )
            self._erase_winner(customer, pseudonym)
            self._execute("DELETE FROM customers WHERE program = ? AND customer = ?", (program, customer))
            self._execute(
                "DELETE FROM customer_lists WHERE program = ? AND customer = ?", (program, customer)
            )
            self._write_state(pseudonym, anonymise(state), None)
            self._commit()
        except BaseException:
            self._rollback()
            raise
        finally:
            self._cache.drop(customer)
            self._cache.drop(pseudonym)
            self._summaries.drop(customer)
        return state

    # -- prize draws ----------------------------------------------------------------------------------
    def drawn(self, draw: str) -> DrawRecord | None:
        rows = self._execute(
            f"SELECT {_DRAW_COLUMNS} FROM draws WHERE program = ? AND draw = ?", (self.program, draw)
        )
        return self._draw(rows[0]) if rows else None

    def record_draw(self, draw: str, decide: Callable[[], DrawRecord]) -> tuple[DrawRecord, bool]:
        """One transaction: the record looked for, the entries read and the result inserted unless
        one is there. SQLite's write lock makes a second run wait and find the first's record; on
        PostgreSQL both may read, and the second's insert waits for the first's commit, finds its
        row and leaves it."""
        self._begin()
        try:
            kept = self.drawn(draw)
            recorded = False
            if kept is None:
                record = decide()
                assert record.drawn_at is not None  # only a draw from a store is recorded
                inserted = self._execute(
                    f"INSERT INTO draws (program, {_DRAW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING RETURNING draw",
                    (
                        self.program,
                        record.draw,
                        record.closes.isoformat(),
                        record.seed,
                        _winners_text(record),
                        record.entries,
                        record.customers,
                        self._time(record.drawn_at),
                        record.version,
                    ),
                )
                recorded = bool(inserted)
                kept = self.drawn(draw)
            self._commit()
        except BaseException:
            self._rollback()
            raise
        assert kept is not None
        return kept, recorded

    def _erase_winner(self, customer: str, pseudonym: str) -> None:
        """In an erasure's transaction: a draw the customer won kept under the pseudonym."""
        rows = self._execute(f"SELECT {_DRAW_COLUMNS} FROM draws WHERE program = ?", (self.program,))
        for record in map(self._draw, rows):
            erased = erased_from(record, customer, pseudonym)
            if erased != record:
                self._execute(
                    "UPDATE draws SET winners = ? WHERE program = ? AND draw = ?",
                    (_winners_text(erased), self.program, record.draw),
                )

    def _draw(self, row: tuple[Any, ...]) -> DrawRecord:
        draw, closes, seed, winners, entries, customers, drawn_at, version = row
        return DrawRecord(
            draw=draw,
            closes=closes if isinstance(closes, dt.date) else dt.date.fromisoformat(closes),
            seed=seed,
            winners=tuple(
                DrawWinner(won["customer"], int(won["entry"]), won["sha256"]) for won in json.loads(winners)
            ),
            entries=int(entries),
            customers=int(customers),
            drawn_at=self._read_time(drawn_at),
            version=int(version),
        )

    # -- bulk coupon codes -------------------------------------------------------------------------
    def add_coupon_codes(self, coupon: str, batch: str, codes: Sequence[str], at: dt.datetime) -> list[str]:
        self._begin()
        try:
            self._serialize_codes()
            there: list[str] = []
            for start in range(0, len(codes), 500):
                chunk = list(codes[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                rows = self._execute(
                    f"SELECT code FROM coupon_codes WHERE program = ? AND code IN ({marks})",
                    [self.program, *chunk],
                )
                there += [row[0] for row in rows]
            if there:
                self._rollback()
                return sorted(there)
            self._execute_many(
                "INSERT INTO coupon_codes (program, code, coupon, batch, created_at) VALUES (?, ?, ?, ?, ?)",
                [(self.program, code, coupon, batch, self._time(at)) for code in codes],
            )
            self._commit()
        except BaseException:
            self._rollback()
            raise
        return []

    def _serialize_codes(self) -> None:
        """Make the program's imports of bulk codes one at a time, so that one finds the codes
        another committed (and refuses them) rather than inserting them beside it (the write lock
        of `_begin` does it where it locks the whole database)."""

    def coupon_codes(self, coupon: str | None = None) -> list[CouponCode]:
        self._flush()  # in a group: what it staged, then the database
        where, parameters = "program = ?", [self.program]
        if coupon is not None:
            where, parameters = where + " AND coupon = ?", [*parameters, coupon]
        rows = self._execute(
            f"SELECT code, coupon, batch, created_at, claimed_at FROM coupon_codes WHERE {where}"
            " ORDER BY created_at, batch, code",
            parameters,
        )
        return [
            CouponCode(
                code,
                kind,
                batch,
                self._read_time(created),
                None if claimed is None else self._read_time(claimed),
            )
            for code, kind, batch, created, claimed in rows
        ]

    # -- API keys (keys.py) -----------------------------------------------------------------------
    def add_key(self, key: ApiKey) -> None:
        created = key.created_at or dt.datetime.now(dt.UTC)
        self._execute(
            "INSERT INTO api_keys (id, digest, scopes, programs, created_at) VALUES (?, ?, ?, ?, ?)",
            (key.id, key.digest, " ".join(key.scopes), " ".join(key.programs), self._time(created)),
        )

    def api_keys(self) -> list[ApiKey]:
        rows = self._execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id")
        return [self._key(row) for row in rows]

    def api_key(self, key_id: str) -> ApiKey | None:
        rows = self._execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
        return self._key(rows[0]) if rows else None

    def revoke_key(self, key_id: str, at: dt.datetime) -> bool:
        key = self.api_key(key_id)
        if key is None or key.revoked_at is not None:
            return False
        self._execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (self._time(at), key_id))
        return True

    def _key(self, row: tuple[Any, ...]) -> ApiKey:
        key_id, digest, scopes, programs, created, revoked = row
        return ApiKey(
            id=key_id,
            digest=digest,
            scopes=tuple(scopes.split()),
            programs=tuple(programs.split()),
            created_at=self._read_time(created),
            revoked_at=None if revoked is None else self._read_time(revoked),
        )


_KEY_COLUMNS = "id, digest, scopes, programs, created_at, revoked_at"
_DRAW_COLUMNS = "draw, closes, seed, winners, entries, customers, drawn_at, version"


def _winners_text(record: DrawRecord) -> str:
    """The `winners` column: the winning tickets in order, as JSON (migrations.py, 16)."""
    return json.dumps(
        [{"customer": won.customer, "entry": won.entry, "sha256": won.digest} for won in record.winners]
    )


def _lines(text: str | None, line: int | None, points: Decimal) -> list[LedgerLine]:
    """The `lines` column read back; a row written before version 6 of the schema names one line."""
    if text is None:
        return [] if line is None else [LedgerLine(line=line, points=points)]
    return [LedgerLine(line=part["line"], points=Decimal(part["points"])) for part in json.loads(text)]
