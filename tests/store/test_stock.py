"""Catalog `stock` (issue 16, item 5): counted program-wide by the store, taken exactly once.

The same contract on every store (memory, SQLite, PostgreSQL), then real worker processes racing
for the last items of one database: however the race goes, exactly `stock` redemptions are
applied and every other one is refused with RE456, changing nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.tools.stock import catalog_stock
from rules_engine.tools.voids import Void
from tests.store.conftest import OpenStore

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """program: store-test
version: 1
timezone: UTC
currency: EUR
points: {value: 0.01}
earn:
  - {id: base, rate: 1 per 1}
catalog:
  - {id: mug, name: A mug, cost: 10, stock: 3}
  - {id: latte, name: A latte, cost: 5}
"""
ENGINE = Engine(load_program_text(PROGRAM, "shop.yaml"), secret=b"stock")
START = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def purchase(customer: str) -> dict[str, Any]:
    return {
        "id": f"buy-{customer}",
        "type": "purchase",
        "customer": customer,
        "time": START.isoformat(),
        "items": [{"sku": "beans", "price": "100.00", "qty": 1}],
    }


def redeem(customer: str, item: str = "mug", n: int = 1) -> dict[str, Any]:
    time = START + dt.timedelta(hours=n)
    return {
        "id": f"take-{customer}-{item}-{n}",
        "type": "redeem",
        "customer": customer,
        "time": time.isoformat(),
        "item": item,
    }


def test_the_last_item_goes_to_one_customer_and_the_next_is_refused_changing_nothing(
    open_test_store: OpenStore,
) -> None:
    shop = Loyalty(ENGINE, open_test_store(), horizon=None)
    customers = ["ann", "bob", "cat", "dan"]
    for customer in customers:
        shop.process(purchase(customer))
    for customer in customers[:3]:
        shop.process(redeem(customer))
    store = open_test_store()
    before = store.state("dan")
    ledger = list(store.ledger())
    with pytest.raises(EventError) as refused:
        shop.process(redeem("dan"))
    [problem] = refused.value.diagnostics
    assert problem.code == "RE456" and "3 of 3 redeemed" in problem.message and problem.hint
    assert store.state("dan") == before and list(store.ledger()) == ledger
    assert store.redeemed() == {"mug": 3}
    # an item without a stock is counted, never refused
    for customer in customers:
        shop.process(redeem(customer, "latte", 2))
    assert store.redeemed() == {"latte": 4, "mug": 3}
    assert [(i.id, i.remaining) for i in catalog_stock(ENGINE.program, store.redeemed())] == [
        ("mug", 0),
        ("latte", None),
    ]


def test_a_redelivered_redemption_takes_no_second_item(open_test_store: OpenStore) -> None:
    shop = Loyalty(ENGINE, open_test_store(), horizon=None)
    shop.process(purchase("ann"))
    shop.process(redeem("ann"))
    shop.process(redeem("ann"))  # the same id again: a duplicate
    assert open_test_store().redeemed() == {"mug": 1}


def test_voiding_a_redemption_gives_its_item_back(open_test_store: OpenStore) -> None:
    shop = Loyalty(ENGINE, open_test_store(), horizon=None)
    for customer in ("ann", "bob", "cat", "dan"):
        shop.process(purchase(customer))
    for customer in ("ann", "bob", "cat"):
        shop.process(redeem(customer))
    at = START + dt.timedelta(hours=5)
    void = Void(id="void-1", customer="bob", voided="take-bob-mug-1", reason="x", operator="o", at=at)
    applied, before, _ = shop.void(void)
    assert not before and applied.stock_restored == ["mug"]
    assert open_test_store().redeemed() == {"mug": 2}
    assert shop.void(void)[1]  # the same void again: nothing given back twice
    assert open_test_store().redeemed() == {"mug": 2}
    shop.process(redeem("dan", n=6))
    assert open_test_store().redeemed() == {"mug": 3}


def test_the_engine_alone_refuses_what_the_snapshot_says_is_gone() -> None:
    from rules_engine.engine.run import BudgetSnapshot

    state = ENGINE.process(purchase("ann")).state
    with pytest.raises(EventError) as refused:
        ENGINE.process(redeem("ann"), state, budgets=BudgetSnapshot(redeemed={"mug": 3}))
    assert refused.value.diagnostics[0].code == "RE456"
    assert ENGINE.process(redeem("ann"), state, budgets=BudgetSnapshot(redeemed={"mug": 2})).trace


# -- real processes racing for the last items ------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "loyalty.db")
    url: str = request.getfixturevalue("postgres_database")
    return url


def test_two_worker_processes_never_both_take_the_last_item(tmp_path: Path, database: str) -> None:
    """Two `loyalty run` processes on one database, each with its own 12 customers who all want
    the mug (stock 3): exactly three redemptions are applied, whoever wins, and the nine others
    are refused with RE456 (reported, nothing of them written)."""
    program = tmp_path / "shop.yaml"
    program.write_text(PROGRAM)
    open_store(database, "store-test").close()  # migrated once, before the race
    runs = []
    for side in ("a", "b"):
        customers = [f"{side}{n:02}" for n in range(12)]
        events = [purchase(c) for c in customers] + [redeem(c) for c in customers]
        path = tmp_path / f"{side}.jsonl"
        path.write_text("".join(json.dumps(event) + "\n" for event in events))
        runs.append(path)
    environment = {**os.environ, "LOYALTY_SECRET": "stock"}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "cli.py"),
                "run",
                str(program),
                str(path),
                "--db",
                database,
                "--json",
                "--batch",
                "1",
                "--horizon",
                "none",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=environment,
            cwd=ROOT,
        )
        for path in runs
    ]
    reported = ""
    for process in workers:
        _, err = process.communicate(timeout=300)
        assert process.returncode in (0, 1) and b"Traceback" not in err, err.decode()
        reported += err.decode()
    with open_store(database, "store-test") as store:
        assert store.redeemed() == {"mug": 3}
        burnt = [row for row in store.ledger() if row.entry.kind == "burn"]
        assert len(burnt) == 3 and len({row.customer for row in burnt}) == 3
        took = [c for c, state in store.states() if any(e.startswith("take-") for e in state.processed)]
        assert sorted(took) == sorted(row.customer for row in burnt)
    assert reported.count("error[RE456]") == 24 - 3


def test_loyalty_customer_shows_the_stock_left(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rules_engine.cli import app

    program = tmp_path / "shop.yaml"
    program.write_text(PROGRAM)
    db = str(tmp_path / "shop.db")
    shop = Loyalty(ENGINE, open_store(db, "store-test"), horizon=None)
    for customer in ("ann", "bob"):
        shop.process(purchase(customer))
        shop.process(redeem(customer))
    shop.store.close()
    result = CliRunner().invoke(app, ["customer", str(program), "ann", "--db", db])
    assert result.exit_code == 0, result.stderr
    assert "  catalog (stock left, for all customers):\n    mug: 10 points, 1 of 3 left\n" in result.stdout
    assert "    latte: 5 points, no stock limit\n" in result.stdout
    result = CliRunner().invoke(app, ["customer", str(program), "ann", "--db", db, "--json"])
    catalog = json.loads(result.stdout)["catalog"]
    assert [(i["id"], i["redeemed"], i["remaining"]) for i in catalog] == [("mug", 2, 1), ("latte", 0, None)]


def test_validate_takes_stock_and_warns_of_stock_zero() -> None:
    from rules_engine.program.validate import validate_text

    assert validate_text(PROGRAM, "shop.yaml").ok(strict=True)
    result = validate_text(PROGRAM.replace("stock: 3", "stock: 0"), "shop.yaml")
    assert result.ok() and [(w.code, w.span.line if w.span else 0) for w in result.warnings] == [("RE510", 9)]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["take", "void"]), st.integers(0, 5)),
        min_size=1,
        max_size=25,
    )
)
def test_whatever_the_order_of_redemptions_and_voids_the_count_is_exact_and_never_above_stock(
    steps: list[tuple[str, int]],
) -> None:
    """Six customers taking mugs (stock 3) and voids of their redemptions, in any order: the
    store's count is always the redemptions applied minus those voided, never above the stock, and
    a refusal comes exactly when the count stands at the stock."""
    shop = Loyalty.in_memory(ENGINE)
    customers = [f"c{n}" for n in range(6)]
    for customer in customers:
        shop.process(purchase(customer))
    held: dict[str, list[str]] = {c: [] for c in customers}
    count = 0
    for n, (action, who) in enumerate(steps, start=1):
        customer = customers[who]
        if action == "take":
            event = redeem(customer, n=n)
            try:
                shop.process(event)
            except EventError as refused:
                assert refused.diagnostics[0].code in ("RE456", "RE430")
                assert refused.diagnostics[0].code != "RE456" or count == 3
                continue
            held[customer].append(event["id"])
            count += 1
        elif held[customer]:
            at = START + dt.timedelta(hours=n)
            voided = held[customer].pop()
            shop.void(Void(id=f"v{n}", customer=customer, voided=voided, reason="x", operator="o", at=at))
            count -= 1
        assert shop.store.redeemed().get("mug", 0) == count <= 3


def test_optimistic_workers_redeeming_an_item_without_stock_do_not_undo_each_other(tmp_path: Path) -> None:
    """`loyalty run --workers` on SQLite: each worker's batch reads without the write lock and is
    undone (RE605) if another process changed what it read. An item without a `stock` limit is
    counted but its count is never read for a decision, so two workers redeeming it interleave
    freely and the count stays exact; an item with a limit is still checked."""
    from rules_engine.errors import StoreError
    from rules_engine.store.sql import SqlStore

    db = str(tmp_path / "x.db")
    mine, theirs = open_store(db, "store-test"), open_store(db, "store-test")
    assert isinstance(mine, SqlStore)
    mine.optimistic = True
    worker, other = Loyalty(ENGINE, mine, horizon=None), Loyalty(ENGINE, theirs, horizon=None)
    for customer in ("ann", "bob"):
        other.process(purchase(customer))
    with mine.group():
        worker.process(redeem("ann", "latte", 1))
        other.process(redeem("bob", "latte", 1))  # written first, while the group holds no lock
    assert theirs.redeemed() == {"latte": 2}
    with pytest.raises(StoreError, match="the stock of mug"), mine.group():
        worker.process(redeem("ann", "mug", 2))
        other.process(redeem("bob", "mug", 2))
    assert theirs.redeemed() == {"latte": 2, "mug": 1}
    mine.close()
    theirs.close()
