"""`loyalty generate`: the same seed gives the same bytes; the history is one `loyalty run` reads
without a problem, in time order, with the program's own products and the events of a customer's
life."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner

from rules_engine.cli import app
from tests.conftest import ROOT

VOLT = ROOT / "programs" / "volt-electronics.yaml"


def _generate(tmp_path: Path, name: str, *args: str) -> tuple[int, Path]:
    out = tmp_path / name
    result = CliRunner().invoke(app, ["generate", str(VOLT), "--out", str(out), *args])
    return result.exit_code, out


def test_the_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    options = ("--customers", "40", "--days", "60", "--seed", "11")
    assert _generate(tmp_path, "a.jsonl", *options)[0] == 0
    assert _generate(tmp_path, "b.jsonl", *options)[0] == 0
    assert _generate(tmp_path, "c.jsonl", "--customers", "40", "--days", "60", "--seed", "12")[0] == 0
    first = (tmp_path / "a.jsonl").read_bytes()
    assert first == (tmp_path / "b.jsonl").read_bytes()
    assert first != (tmp_path / "c.jsonl").read_bytes()


def test_the_history_has_a_realistic_shape(tmp_path: Path) -> None:
    code, out = _generate(tmp_path, "h.jsonl", "--customers", "150", "--days", "120", "--seed", "5")
    assert code == 0
    events = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    times = [dt.datetime.fromisoformat(e["time"]) for e in events]
    assert times == sorted(times), "in time order"
    assert len({e["id"] for e in events}) == len(events)
    kinds = {e["type"] for e in events}
    assert {"purchase", "return", "signup", "app_open"} <= kinds
    categories = {item["category"] for e in events if e["type"] == "purchase" for item in e["items"]}
    assert {"service", "smart_home", "lens"} <= categories, "the categories the program names"
    spend: dict[str, float] = {}
    for e in events:
        if e["type"] == "purchase":
            spend[e["customer"]] = spend.get(e["customer"], 0) + sum(
                i["price"] * i["qty"] for i in e["items"]
            )
    ranked = sorted(spend.values(), reverse=True)
    top = sum(ranked[: len(ranked) // 10])
    assert top > 0.25 * sum(ranked), "heavy-tailed: the top tenth of customers spend over a quarter"
    by_weekday = [0] * 7
    for e, moment in zip(events, times, strict=True):
        if e["type"] == "purchase":
            by_weekday[moment.weekday()] += 1
    assert by_weekday[5] > by_weekday[0], "more visits on Saturdays than on Mondays"
    for e in events:
        if e["type"] == "return":
            bought = next(p for p in events if p["id"] == e["purchase"])
            assert bought["customer"] == e["customer"]
            assert e["items"][0]["sku"] in {item["sku"] for item in bought["items"]}


def test_loyalty_run_reads_it_without_a_problem(tmp_path: Path) -> None:
    code, out = _generate(tmp_path, "h.jsonl", "--customers", "30", "--days", "40")
    assert code == 0
    result = CliRunner().invoke(app, ["run", str(VOLT), str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.output


def test_a_bad_start_date_is_a_usage_error(tmp_path: Path) -> None:
    code, out = _generate(tmp_path, "h.jsonl", "--start", "2026-13-01")
    assert code == 2
    assert not out.exists()
