"""`loyalty ledger export`: the journal, the liability, breakage, and the reconciliation with the
customers' balances."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
from typer.testing import CliRunner

from rules_engine import jsonio
from rules_engine.cli import app
from rules_engine.service import Loyalty
from rules_engine.state.customer import LedgerEntry
from rules_engine.store import LedgerRow, Store, open_store
from rules_engine.tools.accounting import books, read_books
from tests.store.conftest import OpenStore
from tests.store.streams import PROGRAM, engine, stream
from tests.store.test_stores import purchase, run

ENGINE = engine()
BERLIN = dt.timezone(dt.timedelta(hours=1))


def all_balances(store: Store) -> Decimal:
    return sum((lot.points for _, state in store.states() for lot in state.lots), Decimal(0))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_closing_liability_is_the_sum_of_all_balances(open_test_store: OpenStore, seed: int) -> None:
    run(Loyalty(ENGINE, open_test_store()), stream(seed=seed, customers=5, events=150))
    store = open_test_store()
    total = all_balances(store)
    result = books(ENGINE.program, store.ledger(), balances=total)
    assert result.closing == total
    assert result.reconciles
    assert result.opening + sum(result.moved.values(), Decimal(0)) == result.closing
    assert result.moved["issued"] > 0 and result.moved["redeemed"] < 0 and result.moved["expired"] < 0
    assert sum((line.points for line in result.journal), Decimal(0)) == sum(
        (abs(points) for points in result.moved.values()), Decimal(0)
    )
    assert all(line.amount == line.points * Decimal("0.01") for line in result.journal)


def test_a_live_stores_books_reconcile_when_an_event_commits_between_the_ledger_and_the_balances(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read one after the other, the ledger missed the event that the balances had: the export
    said the books did not reconcile (exit 1, for the CLI and the service) when they did."""
    with open_store(sql_url, "store-test") as writing, open_store(sql_url, "store-test") as reading:
        service = Loyalty(ENGINE, writing)
        run(service, stream(seed=6, customers=3, events=30))
        ledger = reading.ledger

        def ledger_then_an_event(**kwargs: dt.datetime | str | None) -> Iterator[LedgerRow]:
            yield from ledger(**kwargs)  # type: ignore[arg-type]
            service.process(purchase(1, customer="zoe"))  # another worker commits meanwhile

        monkeypatch.setattr(reading, "ledger", ledger_then_an_event)
        result = read_books(reading, ENGINE.program)
        assert writing.state("zoe") is not None
        assert result.balances == result.closing and result.reconciles


def test_the_export_reads_the_ledger_through_without_holding_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ledger export` (and the service's books) held every ledger row of the store at once: 90,000
    entries of 10,000 customers took 364 MB and 30 s, 158 MB and 13 s read through. 20,000
    entries, each made as it is read, must fit in a few MB whatever their number."""
    store = open_store("memory:", "store-test")
    entries = 20_000

    def ledger(**_: object) -> Iterator[LedgerRow]:
        for n in range(entries):
            yield row(n, "earn" if n % 3 else "burn", 5 if n % 3 else -1, 1 + n % 28, n % 24)

    monkeypatch.setattr(store, "ledger", ledger)
    tracemalloc.start()
    try:
        result = read_books(store, ENGINE.program, end=dt.date(2026, 12, 31))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(line.entries for line in result.journal) == entries
    assert result.closing == sum(5 if n % 3 else -1 for n in range(entries))
    assert peak < 4 * 1024 * 1024, peak


def test_consecutive_periods_chain_and_add_up_to_the_whole(open_test_store: OpenStore) -> None:
    run(Loyalty(ENGINE, open_test_store()), stream(seed=4, customers=5, events=150))
    rows = list(open_test_store().ledger())
    first = books(ENGINE.program, rows, end=dt.date(2026, 12, 20))
    second = books(ENGINE.program, rows, start=dt.date(2026, 12, 21))
    whole = books(ENGINE.program, rows)
    assert first.closing == second.opening
    assert second.closing == whole.closing
    for kind in whole.moved:
        assert first.moved[kind] + second.moved[kind] == whole.moved[kind]
    assert first.journal + second.journal == whole.journal


def row(n: int, kind: Literal["earn", "burn", "expire"], points: int, day: int, hour: int = 12) -> LedgerRow:
    at = dt.datetime(2026, 12, day, hour, tzinfo=dt.UTC)
    entry = LedgerEntry(
        event=f"e{n}", rule="base", kind=kind, points=Decimal(points), lot=f"e{n}/base", at=at, version=1
    )
    return LedgerRow(n, "ann", entry)


def test_journal_lines_breakage_and_days_in_the_programs_time_zone() -> None:
    # 23:30 UTC on the 1st is 00:30 on the 2nd in Berlin: the expiry books on the 2nd.
    rows = [
        row(1, "earn", 100, 1),
        row(2, "earn", 60, 1),
        row(3, "burn", -25, 1),
        row(4, "expire", -75, 1, 23),
    ]
    result = books(ENGINE.program, rows)
    assert [(str(j.date), j.kind, j.points, j.amount, j.entries) for j in result.journal] == [
        ("2026-12-01", "issued", 160, Decimal("1.60"), 2),
        ("2026-12-01", "redeemed", 25, Decimal("0.25"), 1),
        ("2026-12-02", "expired", 75, Decimal("0.75"), 1),
    ]
    assert result.closing == 60
    # 75 expired, 25 redeemed: 75 / 100 of the points that left broke; 60 × 0.75 = 45 expected
    assert result.breakage_rate == Decimal("0.75")
    assert result.expected_breakage == 45
    assert [(j.debit, j.credit) for j in result.journal] == [
        ("Loyalty expense", "Points liability"),
        ("Points liability", "Redemptions"),
        ("Points liability", "Breakage income"),
    ]


def test_a_liability_that_differs_from_the_balances_does_not_reconcile() -> None:
    result = books(ENGINE.program, [row(1, "earn", 100, 1)], balances=Decimal(90))
    assert not result.reconciles


def test_no_breakage_rate_before_any_point_left() -> None:
    result = books(ENGINE.program, [row(1, "earn", 100, 1)])
    assert result.breakage_rate is None and result.expected_breakage is None


@pytest.fixture
def database(tmp_path: Path) -> tuple[Path, str]:
    program = tmp_path / "store-test.yaml"
    program.write_text(PROGRAM)
    url = str(tmp_path / "loyalty.db")
    from rules_engine.store import open_store

    with open_store(url, "store-test") as store:
        run(Loyalty(ENGINE, store), stream(seed=5, customers=4, events=100))
    return program, url


def test_the_cli_writes_the_journal_as_csv_and_the_summary_beside_it(database: tuple[Path, str]) -> None:
    program, url = database
    result = CliRunner().invoke(app, ["ledger", "export", str(program), "--db", url])
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO(result.stdout)))
    assert lines and set(lines[0]) == {
        "date",
        "kind",
        "debit",
        "credit",
        "points",
        "amount",
        "currency",
        "entries",
    }
    assert {line["kind"] for line in lines} >= {"issued", "redeemed", "expired"}
    assert "reconciles with the sum of all balances" in result.stderr


def test_the_cli_json_has_the_journal_and_the_summary(database: tuple[Path, str]) -> None:
    program, url = database
    result = CliRunner().invoke(
        app, ["ledger", "export", str(program), "--db", url, "--format", "json", "--from", "2026-12-05"]
    )
    assert result.exit_code == 0, result.output
    data = jsonio.loads(result.stdout)
    summary = data["summary"]
    assert data["from"] == "2026-12-05" and data["value_per_point"] == Decimal("0.01")
    assert summary["reconciles"] is True
    assert summary["closing"]["liability"] == summary["closing"]["points"] * Decimal("0.01")
    assert summary["opening"]["points"] > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--from", "2026-12-31", "--to", "2026-12-01"], "is after --to"),
        (["--from", "yesterday"], "not a date"),
        (["--format", "xml"], "'xml' is not one of 'csv', 'json'"),
    ],
)
def test_the_cli_refuses_bad_options_with_a_hint(
    database: tuple[Path, str], options: list[str], message: str
) -> None:
    program, url = database
    result = CliRunner().invoke(app, ["ledger", "export", str(program), "--db", url, *options])
    assert result.exit_code == 2
    assert message in result.stderr


def test_advance_books_the_expiries_due_before_a_period_is_exported(database: tuple[Path, str]) -> None:
    program, url = database
    before = CliRunner().invoke(app, ["ledger", "export", str(program), "--db", url, "--format", "json"])
    result = CliRunner().invoke(
        app,
        [
            "advance",
            str(program),
            "--db",
            url,
            "--to",
            "2027-06-01T00:00:00+02:00",
            "--now",
            "2027-06-01T00:00:00+02:00",
        ],
    )
    assert result.exit_code == 0, result.output
    assert " expired (" in result.stdout
    after = jsonio.loads(
        CliRunner().invoke(app, ["ledger", "export", str(program), "--db", url, "--format", "json"]).stdout
    )
    assert after["summary"]["closing"]["points"] == 0  # every point expires within 20 days
    assert after["summary"]["reconciles"] is True
    assert jsonio.loads(before.stdout)["summary"]["closing"]["points"] > 0


def test_issue_11_a_program_without_a_point_value_exports_points_and_says_the_value_is_unset(
    database: tuple[Path, str],
) -> None:
    # Issue 11: it exported "0 EUR a point" and amounts of 0, as if the points cost nothing.
    program, url = database
    text = program.read_text()
    assert "value: 0.01" in text
    program.write_text(text.replace(", value: 0.01", ""))
    result = CliRunner().invoke(app, ["ledger", "export", str(program), "--db", url])
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO(result.stdout)))
    assert lines and all(line["amount"] == "" and int(line["points"]) > 0 for line in lines)
    assert "the value of a point is unset" in result.stderr and "0 EUR a point" not in result.stderr
    as_json = CliRunner().invoke(app, ["ledger", "export", str(program), "--db", url, "--format", "json"])
    data = jsonio.loads(as_json.stdout)
    assert data["value_per_point"] is None
    assert data["summary"]["closing"]["liability"] is None
    assert all(line["amount"] is None for line in data["journal"])
    assert "the value of a point is unset" in as_json.stderr
