"""Closed prize draws: winners picked by a seeded, reproducible, auditable procedure.

Every entry is a ticket `(customer, n)`. Each ticket's number is the SHA-256 of
`seed | draw | customer | n`; tickets are ordered by that number and the winners are the first
distinct customers, as many as the draw has winners. Anyone with the seed, the draw id and the
entry counts can recompute every number and check the result — no random generator whose
algorithm could change between Python versions, and no dependence on the order of the input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from rules_engine.program.mechanics import Draw
from rules_engine.program.model import Program


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


def entries_final(program: Program, draw: Draw) -> dt.datetime:
    """When the draw's entries are final: the end of its closing day in the program's time zone
    (an event counts its entries by its local date, engine/settle.py), and, for a program that
    takes late events, that window after it (an event dated on the closing day may come so late)."""
    end = dt.datetime.combine(draw.closes + dt.timedelta(days=1), dt.time(), tzinfo=program.zone)
    late = program.late_events
    return end if late is None else end + late.accept_within
