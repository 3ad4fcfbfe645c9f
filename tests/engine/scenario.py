"""Helpers for tests that feed a customer's events one after another (the mechanics' tests)."""

from __future__ import annotations

import json
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.jsonio import loads
from rules_engine.state.customer import CustomerState, LedgerEntry
from tests.engine.books import balanced


def event(kind: str, time: str, *lines: tuple[str, str, str], **extra: Any) -> dict[str, Any]:
    """An event of `kind` at `time` (a bare date-time is Moscow time); lines are (sku, category, price)."""
    moment = time if "+" in time or time.endswith("Z") else time + "+03:00"
    data: dict[str, Any] = {"id": f"{kind}@{time}", "type": kind, "time": moment, "customer": "c1"}
    if kind == "purchase":
        data["items"] = [{"sku": s, "category": c, "price": p, "qty": 1} for s, c, p in lines]
    data.update(extra)
    parsed: dict[str, Any] = loads(json.dumps(data))
    return parsed


class Customer:
    """Feeds events to an engine one after the other, keeping the state; after every event the
    points in the lots must equal every ledger entry made so far (`books`)."""

    def __init__(self, e: Engine) -> None:
        self.engine = e
        self.state: CustomerState | None = None
        self.outcomes: list[Outcome] = []
        self.books: list[LedgerEntry] = []

    def send(self, data: dict[str, Any]) -> Outcome:
        outcome = self.engine.process(data, self.state)
        self.books += outcome.new_ledger_entries
        assert balanced(outcome.state, self.books)
        self.state = outcome.state
        self.outcomes.append(outcome)
        return outcome
