"""`loyalty serve --workers 2` and `4` on PostgreSQL: concurrent requests for the same customers,
each event sent twice at once, land on different worker processes — no lost update, no double
application: every state and every ledger is exactly what the engine alone gives.

Every request comes on a new connection, so that the kernel hands them to all the workers
(a keep-alive connection stays with the worker that accepted it, and one worker can accept all
eight clients' at once); each client sends every customer's events, so every customer is raced
by every worker, and a worker's groups (the events waiting together, stored in one transaction)
hold the customers in every order. The workers' own counts (prometheus-client keeps one file per
process) show each of them applied events and answered redeliveries.

Every event of a customer has the same time, so that the order in which the workers take them
does not matter to the engine (an older event than the customer's latest would be refused);
metrics from all the workers add up (prometheus-client's multiprocess mode)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from tests.conftest import ROOT
from tests.http.conftest import BASE, add_key, deliver_twice, purchase, serve_process

CLIENTS = 8
CUSTOMERS = ["pg-a", "pg-b", "pg-c"]
EVENTS = [purchase(n, customer, at=BASE) for n in range(1, 21) for customer in CUSTOMERS]


@pytest.mark.parametrize("workers", [2, 4])
def test_several_workers_on_postgres_apply_every_event_once(
    postgres_database: str, program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Each worker stores the events waiting together in one transaction, its customers locked in
    sorted order (routes/events.py `_speculate`): groups of the same customers in every order
    meet on the database, and none fails (no deadlock), none is applied twice."""
    token = add_key(postgres_database, ["events:write", "customers:read"])
    counts = tmp_path / "metrics"  # the workers' metric files, kept for the test to read
    counts.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(counts))

    with serve_process(program_dir, postgres_database, workers=workers, cwd=tmp_path) as served:
        served.wait_workers(workers)
        # every event twice, in a shuffled order, from 8 clients at once
        answers = deliver_twice(served, token, "coffee-club", EVENTS, CLIENTS)
        with served.client() as anonymous:
            metrics = anonymous.get("/metrics").text
        pids = {line.get("message") for line in served.log_lines() if "Started server process" in str(line)}
    log = served.log.read_text(encoding="utf-8")

    assert len(pids) == workers, pids
    assert sorted(status for _, status, _ in answers) == [200] * 2 * len(EVENTS)
    applied = [event for event, _, duplicate in answers if not duplicate]
    assert sorted(applied) == sorted(event["id"] for event in EVENTS)  # each applied exactly once
    by_worker = worker_events(counts)
    assert len(by_worker) == workers, by_worker  # all four took part ...
    assert all(results["applied"] and results["duplicate"] for results in by_worker.values()), by_worker

    alone = Loyalty.in_memory(Engine.from_file(ROOT / "programs" / "coffee-club.yaml"))
    for event in EVENTS:
        alone.handle(event)
    with open_store(postgres_database, "coffee-club") as store:
        for customer in CUSTOMERS:
            state = store.state(customer)
            wanted = alone.store.state(customer)
            assert state is not None and wanted is not None
            assert state.visits == wanted.visits == len(EVENTS) // len(CUSTOMERS)
            assert sum(lot.points for lot in state.lots) == sum(lot.points for lot in wanted.lots)
            # Which event completed the weekly challenge depends on which came fifth: compare the
            # ledgers without event ids.
            stored = sorted(
                (r.entry.rule, r.entry.kind, r.entry.points) for r in store.ledger(customer=customer)
            )
            expected = sorted(
                (r.entry.rule, r.entry.kind, r.entry.points) for r in alone.store.ledger(customer=customer)
            )
            assert stored == expected
    total = sum(
        float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("loyalty_events_total{")
    )
    assert total == 2 * len(EVENTS)
    groups, grouped = (
        sum(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith(f"loyalty_event_group_size_{part}{{")
        )
        for part in ("count", "sum")
    )
    assert grouped == 2 * len(EVENTS) and groups < grouped  # some events stored together
    assert "deadlock" not in log and "rolled back" not in log, log


def worker_events(folder: Path) -> dict[str, Counter[str]]:
    """Each worker's `loyalty_events_total` by result, from its own counter file
    (`counter_<pid>.db`): the merged /metrics cannot tell the workers apart."""
    by_worker: dict[str, Counter[str]] = {}
    for file in sorted(folder.glob("counter_*.db")):
        results: Counter[str] = Counter()
        for metric in MultiProcessCollector.merge([str(file)]):  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if sample.name == "loyalty_events_total":
                    results[sample.labels["result"]] += int(sample.value)
        if results:
            by_worker[file.stem.removeprefix("counter_")] = results
    return by_worker
