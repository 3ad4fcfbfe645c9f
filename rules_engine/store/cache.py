"""The states a store object holds, so that it does not read again what it read or wrote last.

An SQL store keeps, for the customers it saw most recently, the state it handed out or wrote and
the revision of the customer's row at that moment (lists.Held). Under the customer's lock it then
reads the revision only: the same revision is the same state (every write of a state raises it,
whichever process writes), and the held state is used as it is; another revision, and the state is
read from the database. So workers and processes sharing a database stay correct; a worker that
sees the same customers again and again reads a few bytes per event instead of a state.

Bounded: at most `size` customers (least recently used first out), so a process's memory does not
grow with the number of customers a store has. `size=0` holds nothing.

What a transaction rolled back wrote must not stay held: the SQL store puts a state here only once
its write is in the database's transaction, and drops the customers of a savepoint or group that is
rolled back (sql.py).
"""

from __future__ import annotations

from collections import OrderedDict

from rules_engine.store.lists import Held

DEFAULT_SIZE = 256
"""Customers held per store object by default (`open_store(..., cache=N)`, `?cache=N`)."""


class Cache:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._held: OrderedDict[str, Held] = OrderedDict()

    def get(self, customer: str, revision: int) -> Held | None:
        """The held state of the customer if it is still the database's (same revision)."""
        held = self._held.get(customer)
        if held is None:
            return None
        if held.revision != revision:
            del self._held[customer]
            return None
        self._held.move_to_end(customer)
        return held

    def put(self, customer: str, held: Held) -> None:
        if self.size <= 0:
            return
        self._held[customer] = held
        self._held.move_to_end(customer)
        while len(self._held) > self.size:
            self._held.popitem(last=False)

    def drop(self, customer: str) -> None:
        self._held.pop(customer, None)

    def clear(self) -> None:
        self._held.clear()

    def __len__(self) -> int:
        return len(self._held)
