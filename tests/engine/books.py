"""The books' invariant, for tests: the points in a customer's lots equal the sum of every ledger
entry their events made. The state keeps no ledger (each result has its own entries, a store keeps
them all), so a test adds up the entries of the results it made."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.result import Result
from rules_engine.state.customer import CustomerState, LedgerEntry


def balanced(state: CustomerState, entries: Iterable[LedgerEntry]) -> bool:
    """The points in `state`'s lots == the sum of `entries` (every entry made for the customer)."""
    return sum((lot.points for lot in state.lots), Decimal(0)) == sum((e.points for e in entries), Decimal(0))


# Every state a `Booked` engine made, with its books (the state kept, so that ids stay unique).
_MADE: dict[int, tuple[CustomerState, list[LedgerEntry]]] = {}


class Booked:
    """An engine that keeps the books of the states it makes: for each, every ledger entry made on
    the way to it from a new customer (the results' entries, as a store's ledger table holds them).
    A state one `Booked` engine made may go on in another (a program's next version)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def process(self, event: Any, state: Any = None, **options: Any) -> Result:
        result = self.engine.process(event, state, **options)
        before = self.books(state) if isinstance(state, CustomerState) else []
        _MADE[id(result.state)] = (result.state, [*before, *result.ledger])  # the state kept: ids stay
        return result

    def books(self, state: CustomerState) -> list[LedgerEntry]:
        """Every entry made on the way to `state` (a state this engine made)."""
        return _MADE[id(state)][1]

    def balanced(self, state: CustomerState) -> bool:
        return balanced(state, self.books(state))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)
