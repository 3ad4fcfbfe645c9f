"""`loyalty simulate` on the command line: JSON that matches the published schema, transaction
tables (CSV, Parquet) that give what the same events give, bad rows named by row and column, and
`--fail-if` gates with their exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import jsonschema
import polars as pl
import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.mechanics.referral import referral_code
from tests.conftest import ROOT

COFFEE = ROOT / "programs" / "coffee-club.yaml"
SCHEMA = json.loads((ROOT / "schemas" / "simulate-report.schema.json").read_text(encoding="utf-8"))


def _simulate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def purchases(tmp_path_factory: pytest.TempPathFactory, coffee_history: Path) -> Path:
    """The coffee history's purchases alone (what a transaction table holds), a few hundred."""
    lines = coffee_history.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if json.loads(line)["type"] == "purchase"]
    out = tmp_path_factory.mktemp("p") / "purchases.jsonl"
    out.write_text("\n".join(kept[:400]) + "\n", encoding="utf-8")
    return out


def _table_rows(events: Path) -> list[dict[str, Any]]:
    rows = []
    for line in events.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        for item in event["items"]:
            rows.append(
                {
                    "household": event["customer"],
                    "ts": event["time"],
                    "receipt": event["id"],
                    "product": item["sku"],
                    "dept": item["category"],
                    "unit_price": str(item["price"]),
                    "units": str(item["qty"]),
                }
            )
    return rows


MAPPING = [
    "--column", "customer=household", "--column", "time=ts", "--column", "basket=receipt",
    "--column", "sku=product", "--column", "category=dept", "--column", "price=unit_price",
    "--column", "quantity=units",
]  # fmt: skip


def test_the_json_report_matches_the_published_schema(purchases: Path) -> None:
    code, out, _ = _simulate(
        str(COFFEE), str(purchases), "--json", "--workers", "1", "--compare", str(COFFEE)
    )
    assert code == 0
    report = json.loads(out)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    assert report["report"] == "loyalty-simulate/1"
    assert report["compare"]["program"]["name"] == "coffee-club"


def test_a_csv_and_a_parquet_table_give_what_the_same_events_give(purchases: Path, tmp_path: Path) -> None:
    rows = _table_rows(purchases)
    table = tmp_path / "lines.csv"
    with open(table, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    parquet = tmp_path / "lines.parquet"
    pl.DataFrame(rows).write_parquet(parquet)
    _, events_out, _ = _simulate(str(COFFEE), str(purchases), "--json", "--workers", "1")
    from_events = json.loads(events_out)
    for path in (table, parquet):
        code, out, err = _simulate(str(COFFEE), str(path), "--json", "--workers", "1", *MAPPING)
        assert code == 0, err
        from_table = json.loads(out)
        for part in ("cost", "monthly", "tiers", "gamification", "analytics"):
            assert from_table[part] == from_events[part], part
        assert from_table["history"]["rows"] == len(rows)


def test_a_mapping_file_and_negative_quantities_as_returns(tmp_path: Path) -> None:
    table = tmp_path / "lines.csv"
    table.write_text(
        "cust,when,rcpt,sku,cat,price,qty\n"
        "anna,2026-12-01 08:30:00,r1,LATTE-L,coffee,320.00,2\n"
        "anna,2026-12-01 08:30:00,r1,CROISSANT,pastry,180.50,1\n"
        "anna,2026-12-03 10:00:00,r2,LATTE-L,coffee,320.00,-1\n"
        "anna,2026-12-04 10:00:00,r3,TEA,drinks,120.00,-1\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "columns: {customer: cust, time: when, basket: rcpt, category: cat, quantity: qty}\n"
        "timezone: Europe/Moscow\n",
        encoding="utf-8",
    )
    code, out, err = _simulate(str(COFFEE), str(table), "--json", "--workers", "1", "--mapping", str(mapping))
    assert code == 0, err
    report = json.loads(out)
    assert report["analytics"]["returns_share"] > 0
    assert report["cost"]["points"]["reversed"] > 0, "the latte's points are taken back"
    assert "RE482" in err and "row 5" in err, "the tea was never bought: skipped, with its row"
    assert report["history"]["skipped_returns"] == 1


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (
            "h1,2026-12-01 08:30:00,r1,LATTE,coffee,3x0,1\n",
            "row 2, column 'unit_price': '3x0' is not a number",
        ),
        ("h1,yesterday,r1,LATTE,coffee,320,1\n", "row 2, column 'ts': 'yesterday' is not a time"),
        (
            "h1,2026-12-01 08:30:00,r1,LATTE,coffee,320,1\n,2026-12-01 09:30:00,r2,X,coffee,1,1\n",
            "row 3, column 'household'",
        ),
        (
            f"h1,2026-12-01 08:30:00,r1,LATTE,coffee,{'7' * 5_000},1\n",
            f"row 2, column 'unit_price': '{'7' * 40}… (5,000 characters)' has more than 15 digits",
        ),
        ("h1,2026-12-01 08:30:00,r1,LATTE,coffee,320,1234567890\n", "'1234567890' has more than 9 digits"),
        ("h1,2026-12-01 08:30:00,r1,LATTE,coffee,320,000123456789.000\n", None),
        (
            f"{'h' * 201},2026-12-01 08:30:00,r1,LATTE,coffee,320,1\n",
            f"row 2, column 'household': '{'h' * 40}… (201 characters)' is longer than 200 characters",
        ),
        (f"h1,2026-12-01 08:30:00,r1,{'L' * 200},coffee,320,1\n", None),
        (
            f"erased-{'0a' * 16},2026-12-01 08:30:00,r1,LATTE,coffee,320,1\n",
            f"column 'household': 'erased-{'0a' * 16}' has the shape of an erased customer's pseudonym",
        ),
        (f"erased-{'0A' * 16},2026-12-01 08:30:00,r1,LATTE,coffee,320,1\n", None),
    ],
    ids=[
        "price",
        "time",
        "customer",
        "a 5,000-digit price",
        "a 10-digit quantity",
        "9 digits",
        "a long customer",
        "a SKU of 200",
        "a customer shaped as a pseudonym",
        "only alike",
    ],
)
def test_a_bad_row_is_named_by_row_and_column(tmp_path: Path, content: str, where: str | None) -> None:
    table = tmp_path / "lines.csv"
    table.write_text("household,ts,receipt,product,dept,unit_price,units\n" + content, encoding="utf-8")
    code, out, err = _simulate(str(COFFEE), str(table), "--workers", "1", *MAPPING)
    if where is None:  # at the bound: read
        assert code == 0, err
        return
    assert code == 1
    assert "RE480" in err and where in err
    assert "RE410" not in err and "Traceback" not in err and out == ""


def test_a_mapping_to_a_column_the_table_lacks(tmp_path: Path) -> None:
    table = tmp_path / "lines.csv"
    table.write_text("household,ts\nh1,2026-12-01 08:30:00\n", encoding="utf-8")
    code, _, err = _simulate(str(COFFEE), str(table), "--column", "customer=household", "--column", "time=ts")
    assert code == 2
    assert "RE714" in err and "basket (basket)" in err


def test_column_flags_are_for_tables_only(purchases: Path) -> None:
    code, _, err = _simulate(str(COFFEE), str(purchases), "--column", "customer=x")
    assert code == 2 and "RE714" in err


@pytest.mark.parametrize(
    ("gates", "status"),
    [
        (["issued > 0"], 1),
        (["issued < 0"], 0),
        (["liability >= 1", "issued < 0"], 1),
        (["cost.points.issued == 0"], 0),
    ],
)
def test_gates_without_compare_read_the_figure(purchases: Path, gates: list[str], status: int) -> None:
    args = [arg for gate in gates for arg in ("--fail-if", gate)]
    code, out, err = _simulate(str(COFFEE), str(purchases), "--json", "--workers", "1", *args)
    assert code == status, err
    report = json.loads(out)
    assert [g["gate"] for g in report["gates"]] == gates
    assert [not g["passed"] for g in report["gates"]].count(True) == (1 if status else 0)


def test_percent_gates_read_the_change(purchases: Path, tmp_path: Path) -> None:
    richer = tmp_path / "coffee-richer.yaml"
    richer.write_text(
        COFFEE.read_text(encoding="utf-8").replace("rate: 1 per 100", "rate: 2 per 100"), encoding="utf-8"
    )
    base = [str(COFFEE), str(purchases), "--json", "--workers", "1", "--compare", str(richer)]
    code, out, _ = _simulate(*base, "--fail-if", "issued > +5%", "--fail-if", "discounts != 0%")
    assert code == 1
    gates = json.loads(out)["gates"]
    assert gates[0]["passed"] is False and gates[0]["value"] > 5
    assert gates[1]["passed"] is True and gates[1]["value"] == 0
    code, _, err = _simulate(*base, "--fail-if", "cost > +200%")
    assert code == 0, err


@pytest.mark.parametrize(
    ("gate", "code_"),
    [("cost >> 5%", "RE711"), ("cost > five", "RE711"), ("costs > 5", "RE712"), ("cost > 5%", "RE713")],
)
def test_a_bad_gate_is_a_usage_error(purchases: Path, gate: str, code_: str) -> None:
    code, _, err = _simulate(str(COFFEE), str(purchases), "--workers", "1", "--fail-if", gate)
    assert code == 2
    assert code_ in err


def test_the_tables_show_the_cost_and_the_rules(purchases: Path) -> None:
    code, out, _ = _simulate(str(COFFEE), str(purchases), "--workers", "1")
    assert code == 0
    for text in ("Cost", "points issued", "Cost per rule", "base", "Month by month", "Tiers at the end"):
        assert text in out


def test_html_writes_the_report_as_one_page_beside_the_json(purchases: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    status, out, _ = _simulate(str(COFFEE), str(purchases), "--json", "--html", str(page), "--workers", "1")
    assert status == 0
    report = json.loads(out)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") >= 3
    assert f"{report['cost']['points']['issued']:,}" in text  # the same figures as the JSON
    assert "<script" not in text
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no partial file left


def test_html_of_a_program_without_a_point_value_and_of_an_empty_history(
    purchases: Path, tmp_path: Path
) -> None:
    """A program without `points.value` (and no --point-value) has no money figure for its points:
    the page crashed on them (TypeError from Decimal(None), a traceback after the terminal report,
    no page). An empty history has no first and last day: the page said "None to None"."""
    text = COFFEE.read_text(encoding="utf-8")
    assert "  value: 1 " in text
    base = tmp_path / "no-value.yaml"
    base.write_text(text.replace("  value: 1 ", "  # no value "), encoding="utf-8")
    other = tmp_path / "no-value-4.yaml"
    other.write_text(base.read_text(encoding="utf-8").replace("version: 3", "version: 4"), encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    for history in (purchases, empty):
        page = tmp_path / "report.html"
        status, out, err = _simulate(
            str(base), str(history), "--compare", str(other), "--json", "--html", str(page), "--workers", "1"
        )
        assert status == 0, err
        report = json.loads(out)
        assert report["point_value"] is None and report["cost"]["money"]["liability"] is None
        html = page.read_text(encoding="utf-8")
        assert "No point value is set" in html
        assert "None" not in html
        assert f"{report['cost']['points']['issued']:,}" in html
        assert ("to 20" in html) is (history == purchases)  # the history's first and last day, if any


def test_the_terminal_report_of_a_program_without_a_point_value_and_of_an_empty_history(
    purchases: Path, tmp_path: Path
) -> None:
    """The terminal report's first line said "None to None" for an empty history and "a point is
    worth nothing set RUB" without a point value."""
    base = tmp_path / "no-value.yaml"
    base.write_text(
        COFFEE.read_text(encoding="utf-8").replace("  value: 1 ", "  # no value "), encoding="utf-8"
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    for history in (purchases, empty):
        status, out, err = _simulate(str(base), str(history), "--workers", "1")
        assert status == 0, err
        first = " ".join(out.split("Cost")[0].split())  # the first line, as the console wrapped it
        assert "None" not in first and "nothing set" not in first
        assert "no point value set" in first
        assert (" to 20" in first) is (history == purchases)
    status, out, err = _simulate(str(COFFEE), str(purchases), "--workers", "1")
    assert status == 0 and "a point is worth 1" in " ".join(out.split("Cost")[0].split())


@pytest.mark.parametrize("where", ["history", "missing folder"])
def test_html_that_cannot_be_written_is_a_usage_error(purchases: Path, tmp_path: Path, where: str) -> None:
    page = purchases if where == "history" else tmp_path / "nowhere" / "report.html"
    before = purchases.read_bytes()
    status, _, err = _simulate(str(COFFEE), str(purchases), "--html", str(page), "--workers", "1")
    assert status == 2 and "error[RE716]" in err
    assert purchases.read_bytes() == before


FASHION = ROOT / "programs" / "fashion-house.yaml"


def _unknown_referrer_history(tmp_path: Path) -> Path:
    """Two friends sign up with referral codes and qualify: one names a customer who never has an
    event, the other one whose first event comes only after the qualifying purchase."""

    def purchase(n: int, customer: str, time: str) -> dict[str, Any]:
        items = [{"sku": "DRESS-1", "category": "dresses", "price": 120, "qty": 1}]
        return {"id": f"p{n}", "type": "purchase", "time": time, "customer": customer, "items": items}

    events = [
        {
            "id": "s1",
            "type": "signup",
            "time": "2026-03-01T10:00:00+01:00",
            "customer": "ann",
            "referral_code": referral_code("fashion-house", "ghost", b""),
        },
        {
            "id": "s2",
            "type": "signup",
            "time": "2026-03-01T11:00:00+01:00",
            "customer": "bob",
            "referral_code": referral_code("fashion-house", "late", b""),
        },
        purchase(1, "ann", "2026-03-02T10:00:00+01:00"),
        purchase(2, "bob", "2026-03-02T11:00:00+01:00"),
        purchase(3, "late", "2026-03-03T10:00:00+01:00"),
    ]
    out = tmp_path / "referrals.jsonl"
    out.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return out


def test_referrer_rewards_not_given_are_one_warning_line(tmp_path: Path) -> None:
    """`loyalty run` warns about each (RE607); the simulation counts them (run.unknown_referrers)
    and, at a terminal, says so in one line on stderr; the JSON has the count, stderr nothing."""
    history = _unknown_referrer_history(tmp_path)
    run = CliRunner().invoke(app, ["run", str(FASHION), str(history)])
    assert run.exit_code == 0, run.output
    assert run.stderr.count("warning[RE607]") == 2
    code, out, err = _simulate(str(FASHION), str(history), "--workers", "1")
    assert code == 0, err
    warned = [line for line in err.splitlines() if "RE607" in line]
    assert len(warned) == 1
    assert warned[0].startswith("warning[RE607]: 2 referrer reward(s) not given")
    code, out, err = _simulate(str(FASHION), str(history), "--workers", "1", "--json")
    assert code == 0
    assert json.loads(out)["run"]["unknown_referrers"] == 2
    assert "RE607" not in err


def test_no_warning_when_every_referrer_is_known(coffee_history: Path) -> None:
    code, _, err = _simulate(str(COFFEE), str(coffee_history), "--workers", "1")
    assert code == 0
    assert "RE607" not in err


@pytest.mark.parametrize(
    ("name", "content", "hint"),
    [
        ("latin1.csv", b"customer,time,basket,sku\nc1,2026-01-01T10:00:00+00:00,b1,caf\xe9\n", "UTF-8"),
        ("junk.parquet", b"\x00\x01\x02 not parquet", "a CSV file with a header line, or Parquet"),
    ],
    ids=["not-utf8", "not-parquet"],
)
def test_an_unreadable_table_says_what_to_do(tmp_path: Path, name: str, content: bytes, hint: str) -> None:
    table = tmp_path / name
    table.write_bytes(content)
    status, _, err = _simulate(str(COFFEE), str(table), "--workers", "1")
    assert status == 1 and "error[RE481]" in err and hint in err and "Traceback" not in err
