"""Closed prize draws: winners picked by a seeded, reproducible, auditable procedure.

Every entry is a ticket `(customer, n)`. Each ticket's number is the SHA-256 of
`seed | draw | customer | n`; tickets are ordered by that number and the winners are the first
distinct customers, as many as the draw has winners. Anyone with the seed, the draw id and the
entry counts can recompute every number and check the result — no random generator whose
algorithm could change between Python versions, and no dependence on the order of the input.

A draw from a store is recorded there by its first run (`DrawRecord`, store/base.py): a business
that announced its winners cannot have the tool name others tomorrow, after a void or an erasure
changed the entries, nor may an operator draw again with another seed until the result suits them.
A draw from a states file is not recorded (the file is the operator's, and can be anything).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rules_engine.program.mechanics import Draw
from rules_engine.program.model import Program
from rules_engine.state.customer import CustomerState
from rules_engine.store.base import DrawRecord, DrawWinner


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


def decide(
    program: Program,
    draw: Draw,
    seed: str,
    states: Iterable[tuple[str, CustomerState]],
    at: dt.datetime | None,
) -> DrawRecord:
    """The draw's result from the customers' entries in `states`, drawn at `at` (None: from a
    states file, not recorded)."""
    entries = {customer: count for customer, state in states if (count := state.entries.get(draw.id, 0)) > 0}
    winners = pick_winners(draw.id, entries, draw.winners, seed)
    return DrawRecord(
        draw=draw.id,
        closes=draw.closes,
        seed=seed,
        winners=tuple(DrawWinner(ticket.customer, ticket.number, ticket.digest) for ticket in winners),
        entries=sum(entries.values()),
        customers=len(entries),
        drawn_at=at,
        version=program.version,
    )


def result_lines(record: DrawRecord, wanted: int) -> list[str]:
    """The result as `loyalty draw` prints it: the entries and seed, each winner with their
    ticket, and why there are fewer winners than the `wanted` the draw has."""
    entered = f"{record.entries} entries from {record.customers} customers"
    lines = [f"draw {record.draw}: {entered}, seed {record.seed!r}"]
    for place, won in enumerate(record.winners, start=1):
        ticket = "hash dropped: the winner was erased" if won.digest is None else f"sha256 {won.digest}"
        lines.append(f"{place}. {won.customer} (entry {won.entry}, {ticket})")
    if not record.winners:
        lines.append("no entries: no winners")
    elif len(record.winners) < wanted:
        lines.append(
            f"{len(record.winners)} of {wanted} winners: only {record.customers} customer"
            f"{'' if record.customers == 1 else 's'} entered, and each wins at most once"
        )
    return lines
