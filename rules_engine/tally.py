"""The points a run's customers earned, by customer, in a bounded amount of memory (`CustomerTally`).

`loyalty run` keeps running totals, and per customer one number, the points earned in the run (for
`--by-customer` and `--state-out`'s list of the run's customers). A stream of millions of customers
must not hold millions of entries in memory: past a few thousand the tally moves to a temporary
SQLite file. Used by the replay (replay.py) and its workers' parent (replay_workers.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal

ZERO = Decimal(0)


class CustomerTally:
    """Points earned in a run, by customer: a dict while small, then a temporary SQLite file (one
    SQLite deletes when it is closed), so that a stream of millions of customers keeps a few MB in
    memory. Additions are staged until `commit` (a batch committed) and dropped by `discard` (a
    batch rolled back). Amounts are exact (decimal text, added up in Python)."""

    SPILL = 4096
    """Customers held in memory before the tally moves them to disk."""

    def __init__(self) -> None:
        self._staged: dict[str, Decimal] = {}
        self._held: dict[str, Decimal] = {}
        self._disk: sqlite3.Connection | None = None

    def add(self, customer: str, points: Decimal) -> None:
        self._staged[customer] = self._staged.get(customer, ZERO) + points

    def commit(self) -> None:
        for customer, points in self._staged.items():
            self._held[customer] = self._held.get(customer, ZERO) + points
        self._staged.clear()
        if len(self._held) > self.SPILL:
            self._spill()

    def discard(self) -> None:
        self._staged.clear()

    def _spill(self) -> None:
        if self._disk is None:
            self._disk = sqlite3.connect("", check_same_thread=False)  # "": a private file on disk
            self._disk.create_function("add_decimal", 2, _add_decimal, deterministic=True)
            self._disk.execute("CREATE TABLE tally (customer TEXT PRIMARY KEY, points TEXT NOT NULL)")
        with self._disk:
            self._disk.executemany(
                "INSERT INTO tally VALUES (?, ?)"
                " ON CONFLICT (customer) DO UPDATE SET points = add_decimal(points, excluded.points)",
                [(customer, str(points)) for customer, points in self._held.items()],
            )
        self._held.clear()

    def __len__(self) -> int:
        """How many customers (committed)."""
        if self._disk is None:
            return len(self._held)
        self._spill()
        count: int = self._disk.execute("SELECT count(*) FROM tally").fetchone()[0]
        return count

    def items(self) -> Iterator[tuple[str, Decimal]]:
        """(customer, points) by customer id, read from disk as they go."""
        if self._disk is None:
            yield from sorted(self._held.items())
            return
        self._spill()
        for customer, points in self._disk.execute("SELECT customer, points FROM tally ORDER BY customer"):
            yield customer, Decimal(points)

    def get(self, customer: str) -> Decimal:
        if customer in self._held or self._disk is None:
            return self._held.get(customer, ZERO)
        self._spill()
        row = self._disk.execute("SELECT points FROM tally WHERE customer = ?", (customer,)).fetchone()
        return ZERO if row is None else Decimal(row[0])

    def as_dict(self) -> dict[str, Decimal]:
        return dict(self.items())

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()
            self._disk = None


def _add_decimal(first: str, second: str) -> str:
    return str(Decimal(first) + Decimal(second))
