"""Closed prize draws: winners picked by a seeded, reproducible, auditable procedure.

Every entry is a ticket `(customer, n)`. Each ticket's number is the SHA-256 of
`seed | draw | customer | n`; tickets are ordered by that number and the winners are the first
distinct customers, as many as the draw has winners. Anyone with the seed, the draw id and the
entry counts can recompute every number and check the result — no random generator whose
algorithm could change between Python versions, and no dependence on the order of the input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Ticket:
    customer: str
    number: int  # which of the customer's entries, from 1
    digest: str  # hex SHA-256: the ticket's place in the draw


def ticket_digest(seed: str, draw: str, customer: str, number: int) -> str:
    return hashlib.sha256(f"{seed}|{draw}|{customer}|{number}".encode()).hexdigest()


def pick_winners(draw: str, entries: Mapping[str, int], winners: int, seed: str) -> list[Ticket]:
    """The winning tickets, in order: one per customer, at most `winners`."""
    tickets = [
        Ticket(customer, number, ticket_digest(seed, draw, customer, number))
        for customer, count in entries.items()
        for number in range(1, count + 1)
    ]
    tickets.sort(key=lambda ticket: (ticket.digest, ticket.customer, ticket.number))
    chosen: list[Ticket] = []
    seen: set[str] = set()
    for ticket in tickets:
        if ticket.customer not in seen:
            seen.add(ticket.customer)
            chosen.append(ticket)
            if len(chosen) == winners:
                break
    return chosen
