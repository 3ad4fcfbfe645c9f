"""Prize draws recorded in every store: the first result stands, whatever the entries become, two
runs at once record one, and an erased winner's id is in no row of `draws` (migration 16)."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from typing import Any

import psycopg

from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.store import Store, open_store
from rules_engine.store.base import DrawRecord
from rules_engine.tools.draws import decide
from rules_engine.tools.voids import Void
from tests.conftest import ROOT

VOLT = Engine.from_file(ROOT / "programs" / "volt-electronics.yaml")
(DRAW,) = VOLT.program.draws
CLOSED = dt.datetime(2027, 1, 2, 12, 0, tzinfo=VOLT.zone)
CUSTOMERS = ["anna", "boris", "chen", "dana", "emil"]


def review(event_id: str, customer: str, day: str) -> dict[str, Any]:
    return {"id": event_id, "type": "review", "time": f"{day}T12:00:00+05:00", "customer": customer}


def entered(store: Store) -> Loyalty:
    """Five customers with an entry each (a review: the reviewer badge gives one)."""
    loyalty = Loyalty(VOLT, store, horizon=None)
    for number, customer in enumerate(CUSTOMERS):
        loyalty.process(review(f"r{number}", customer, "2026-12-10"))
    return loyalty


def draw_in(store: Store, seed: str) -> tuple[DrawRecord, bool]:
    return store.record_draw(DRAW.id, lambda: decide(VOLT.program, DRAW, seed, store.states(), CLOSED))


def test_the_first_result_is_recorded_and_stands_after_a_void(store_url: str) -> None:
    store = open_store(store_url, VOLT.program.program)
    try:
        loyalty = entered(store)
        assert store.drawn(DRAW.id) is None

        first, recorded = draw_in(store, "public seed")

        assert recorded and store.drawn(DRAW.id) == first
        assert (first.entries, first.customers, first.version) == (5, 5, VOLT.program.version)
        assert first.drawn_at == CLOSED and first.closes == DRAW.closes and len(first.winners) == 3
        winner = first.winners[0].customer
        loyalty.void(
            Void(
                id="v1",
                customer=winner,
                voided=f"r{CUSTOMERS.index(winner)}",
                reason="x",
                operator="o",
                at=CLOSED,
            )
        )
        assert store.state(winner).entries[DRAW.id] == 0  # type: ignore[union-attr]
        assert decide(VOLT.program, DRAW, "public seed", store.states(), CLOSED).winners != first.winners

        again, recorded = draw_in(store, "public seed")
        other, _ = draw_in(store, "another seed")

        assert not recorded and again == first and other == first  # the caller refuses another seed
    finally:
        store.close()


def test_an_erased_winner_is_kept_as_the_pseudonym_and_their_id_is_in_no_row(store_url: str) -> None:
    store = open_store(store_url, VOLT.program.program)
    try:
        loyalty = entered(store)
        first, _ = draw_in(store, "public seed")
        winner = first.winners[1]

        erased = loyalty.erase(winner.customer, operator="dpo", at=CLOSED)

        kept = store.drawn(DRAW.id)
        assert (
            kept is not None and kept.winners[0] == first.winners[0] and kept.winners[2] == first.winners[2]
        )
        assert (kept.winners[1].customer, kept.winners[1].entry) == (erased.pseudonym, winner.entry)
        assert kept.winners[1].digest is None  # the ticket's hash was made from their id
        if store_url.endswith(".db"):
            store.close()
            with sqlite3.connect(store_url) as db:
                dump = "\n".join(str(row) for row in db.execute("SELECT * FROM draws"))
            assert winner.customer not in dump and winner.digest not in dump  # type: ignore[operator]
            assert erased.pseudonym in dump and first.winners[0].customer in dump
        elif store_url.startswith("postgresql"):
            with psycopg.connect(store_url) as db:
                dump = "\n".join(str(row) for row in db.execute("SELECT * FROM draws"))
            assert winner.customer not in dump and erased.pseudonym in dump
    finally:
        store.close()


def test_two_draws_at_once_record_one(sql_url: str) -> None:
    """Each in its own store (a process's connection), with another seed: one records, the other
    gets that record. On PostgreSQL both read the entries and decide (each waits for the other to
    be deciding, to make sure), and the second's insert waits for the first's commit and leaves
    its row; SQLite's write lock keeps the second out until the first committed (the first waits
    for it in vain), and it finds the record without deciding."""
    with open_store(sql_url, VOLT.program.program) as store:
        entered(store)
    deciding = threading.Barrier(2, timeout=3)
    decided: list[str] = []
    results: dict[str, tuple[DrawRecord, bool]] = {}

    def run(seed: str) -> None:
        with open_store(sql_url, VOLT.program.program) as store:

            def meeting() -> DrawRecord:
                decided.append(seed)
                with contextlib.suppress(threading.BrokenBarrierError):  # SQLite: the other waits to begin
                    deciding.wait()
                return decide(VOLT.program, DRAW, seed, store.states(), CLOSED)

            results[seed] = store.record_draw(DRAW.id, meeting)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in ("seed a", "seed b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    (first, one), (second, other) = results.values()
    assert sorted([one, other]) == [False, True]
    assert first == second and first.seed in ("seed a", "seed b")
    assert len(decided) == (2 if sql_url.startswith("postgresql") else 1)
