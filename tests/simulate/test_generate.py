"""`loyalty generate`: the same seed gives the same bytes; the history is one `loyalty run` reads
without a problem, in time order, with the program's own products and the events of a customer's
life."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.replay import replay
from rules_engine.service import Loyalty
from rules_engine.simulate import build_report, simulate
from rules_engine.simulate.generate import generate_file
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


# not a date; a history past the years events may carry (9999-12-31 was an OverflowError)
@pytest.mark.parametrize("start", ["2026-13-01", "9999-12-31", "2998-12-01", "1899-12-31"])
def test_a_bad_start_date_is_a_usage_error(tmp_path: Path, start: str) -> None:
    code, out = _generate(tmp_path, "h.jsonl", "--start", start)
    assert code == 2
    assert not out.exists()


COFFEE = ROOT / "programs" / "coffee-club.yaml"

OWN_EVENTS = """
  - id: newsletter
    description: 25 beans for joining the newsletter
    on: [newsletter_signup]
    award: 25
    cap: {lifetime: 25}

  - id: winter-check-in
    description: 5 beans for a check-in during the winter campaign
    on: [check_in]
    when: event.campaign == "winter"
    award: 5
"""


def _own_events_program(tmp_path: Path) -> Path:
    """coffee-club with event types of its own: two earn rules, a streak, a declared event
    attribute its condition compares with a value, and a tag its condition names."""
    text = COFFEE.read_text(encoding="utf-8")
    text = text.replace("\nearn:\n", "\nearn:\n" + OWN_EVENTS, 1)
    text = text.replace(
        "  customer:\n    favourite_drink: text\n",
        "  customer:\n    favourite_drink: text\n  event:\n    campaign: text\n",
    )
    text = text.replace("    on: app_open\n", "    on: check_in\n")
    text = text.replace(
        "    when: len(customer.purchases) == 0\n",
        '    when: len(customer.purchases) == 0 or "vip" in customer.tags\n',
    )
    assert text.count("check_in") == 2 and "campaign: text" in text and '"vip"' in text
    program = tmp_path / "coffee-own.yaml"
    program.write_text(text, encoding="utf-8")
    return program


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sign_ups_tell_a_birthday_and_sometimes_a_time_zone(tmp_path: Path) -> None:
    out = tmp_path / "h.jsonl"
    sizes = ["--customers", "300", "--days", "365", "--seed", "4"]
    no_engine = "--no-coupons"  # what sign-ups tell: many times faster without the engine
    result = CliRunner().invoke(app, ["generate", str(COFFEE), "--out", str(out), *sizes, no_engine])
    assert result.exit_code == 0, result.output
    events = _lines(out)
    signups = [e for e in events if e["type"] == "signup"]
    born = [dt.date.fromisoformat(str(e["birthday"])) for e in signups if "birthday" in e]
    zones = [e["timezone"] for e in signups if "timezone" in e]
    assert 0.6 * len(signups) < len(born) < len(signups), "most give a birthday, not all"
    assert all(18 <= 2026 - day.year <= 70 for day in born)
    assert 0 < len(zones) < 0.4 * len(signups), "some give a time zone"
    joined_before = {e["customer"] for e in signups}
    assert len(joined_before) == len(signups), "one sign-up each"


def test_birthday_rewards_fire_on_a_generated_history(tmp_path: Path) -> None:
    """coffee-club's birthday latte reaches customers who signed up with a birthday, under
    `loyalty run`, and nothing is refused."""
    out = tmp_path / "h.jsonl"
    result = CliRunner().invoke(
        app,
        ["generate", str(COFFEE), "--out", str(out), "--customers", "120", "--days", "365", "--seed", "4"],
    )
    assert result.exit_code == 0, result.output
    loyalty = Loyalty.in_memory(Engine.from_file(COFFEE))
    birthdays: list[str] = []

    def count(_: int, outcome: Outcome, duplicate: bool) -> None:
        birthdays.extend(c.code for c in outcome.effects.coupons_issued if c.rule == "birthday")

    replay_result = replay(loyalty, out, count)
    assert replay_result.problems == 0
    told = {e["customer"] for e in _lines(out) if e["type"] == "signup" and "birthday" in e}
    assert 0 < len(birthdays) <= len(told)


def test_the_programs_own_event_types_are_sent_and_read(tmp_path: Path) -> None:
    program = _own_events_program(tmp_path)
    out = tmp_path / "h.jsonl"
    args = ["generate", str(program), "--out", str(out), "--customers", "60", "--days", "120", "--seed", "9"]
    assert CliRunner().invoke(app, args).exit_code == 0
    events = _lines(out)
    by_type: dict[str, list[dict[str, object]]] = {}
    for e in events:
        by_type.setdefault(str(e["type"]), []).append(e)
    assert len(by_type["check_in"]) > 3 * len(by_type["newsletter_signup"]) > 0, "a streak's type is a habit"
    campaigns = {str(e["attributes"]["campaign"]) for e in by_type["check_in"] if "attributes" in e}  # type: ignore[index]
    assert campaigns == {"winter"}
    assert any("vip" in e.get("tags", []) for e in by_type["signup"])  # type: ignore[operator]
    result = CliRunner().invoke(app, ["run", str(program), str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.output
    report = build_report(simulate(out, [program], workers=1))
    rules = {row["rule"]: row for row in report["cost"]["per_rule"]}
    assert rules["newsletter"]["points"] > 0
    assert rules["winter-check-in"]["points"] > 0
    assert [row["id"] for row in report["gamification"]["streaks"] if row["completed"]] == ["daily-app"]


def test_without_event_types_of_its_own_the_visits_are_unchanged(tmp_path: Path) -> None:
    """The program's own events come from a random stream of their own: adding some to a program
    changes none of the purchases the same seed gives."""
    program = _own_events_program(tmp_path)
    plain, own = tmp_path / "plain.jsonl", tmp_path / "own.jsonl"
    for source, out in ((COFFEE, plain), (program, own)):
        args = [
            "generate",
            str(source),
            "--out",
            str(out),
            "--customers",
            "40",
            "--days",
            "60",
            "--seed",
            "2",
        ]
        assert CliRunner().invoke(app, args).exit_code == 0

    def baskets(path: Path) -> list[tuple[object, object]]:
        return [(e["customer"], e["items"]) for e in _lines(path) if e["type"] == "purchase"]

    assert baskets(plain) == baskets(own)


def test_the_same_seed_gives_the_same_bytes_in_any_process(tmp_path: Path) -> None:
    """Sign-ups' birthdays and zones and the program's own events too, whatever the process's
    hash seed (no set or hash order reaches the file)."""
    program = _own_events_program(tmp_path)
    made = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"h{hash_seed}.jsonl"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rules_engine.cli",
                "generate",
                str(program),
                "--out",
                str(out),
                "--customers",
                "50",
                "--days",
                "90",
                "--seed",
                "6",
            ],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        made.append(out.read_bytes())
    assert made[0] == made[1]
    assert b'"birthday"' in made[0] and b'"check_in"' in made[0]


BOOKS = ROOT / "programs" / "book-nook.yaml"


def _history(
    program: Path,
    out: Path,
    *,
    customers: int = 40,
    days: int = 200,
    seed: int = 7,
    extra: tuple[str, ...] = (),
) -> Path:
    sizes = ["--customers", str(customers), "--days", str(days), "--seed", str(seed)]
    result = CliRunner().invoke(app, ["generate", str(program), "--out", str(out), *sizes, *extra])
    assert result.exit_code == 0, result.output
    return out


def test_customers_present_the_coupons_they_hold(tmp_path: Path) -> None:
    """coffee-club issues a free-latte coupon for 350 beans (and on a birthday), book-nook a free
    tote for 200 points: generated customers present them, and every code presented is one the
    engine redeems, so `simulate` counts them used, as `loyalty run` does."""
    from tests.simulate.test_simulation import _run, _simulated

    for program in (COFFEE, BOOKS):
        history = _history(program, tmp_path / f"{program.stem}.jsonl")
        events = _lines(history)
        presented = [code for e in events for code in e.get("coupons", [])]  # type: ignore[attr-defined]
        assert presented, f"{program.stem}: some purchases present a coupon"
        assert all(e["type"] == "purchase" for e in events if "coupons" in e)
        assert len(set(presented)) == len(presented), "a code is used once"
        report = build_report(simulate(history, [program], workers=1))
        coupons = report["gamification"]["coupons"]
        assert coupons["used"] == len(presented) > 0, program.stem
        assert coupons["issued"] >= coupons["used"]
        assert report["cost"]["money"]["discounts"] != "0.00" or report["cost"]["money"]["discounts"] != "0"
        assert _simulated(program, history) == _run(program, history), program.stem


def test_coupons_come_from_a_stream_of_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same seed gives the same coupons; without them (never presented) every event is the
    same but for its `coupons`."""
    from rules_engine.simulate import generate

    first = _history(COFFEE, tmp_path / "a.jsonl").read_bytes()
    assert first == _history(COFFEE, tmp_path / "b.jsonl").read_bytes()
    monkeypatch.setattr(generate._Wallets, "PRESENT", 0.0)
    plain = _lines(_history(COFFEE, tmp_path / "c.jsonl"))
    without = _history(COFFEE, tmp_path / "d.jsonl", extra=("--no-coupons",))
    assert _lines(without) == plain, "--no-coupons: the same events"
    with_coupons = _lines(tmp_path / "a.jsonl")
    assert any("coupons" in e for e in with_coupons) and not any("coupons" in e for e in plain)
    for event in with_coupons:
        event.pop("coupons", None)
    assert with_coupons == plain


@pytest.mark.parametrize("stock", [300, 15], ids=["points-expire", "stock-runs-out"])
def test_a_generated_historys_redemptions_are_all_accepted(stock: int, tmp_path: Path) -> None:
    """`loyalty run` reads a generated history without a problem, also for book-nook, whose points
    expire after 180 days and whose tote bags are 300 for everyone: the generator redeems only
    points it expects to be unexpired, and no more bags than there are (a customer's points
    that had expired were redeemed anyway, RE430, and bags past the stock, RE456)."""
    program = tmp_path / "book-nook.yaml"
    program.write_text(
        BOOKS.read_text(encoding="utf-8").replace("stock: 300", f"stock: {stock}"), encoding="utf-8"
    )
    engine = Engine.from_file(program)
    out = tmp_path / "h.jsonl"
    generate_file(
        engine.program,
        program.read_text(encoding="utf-8"),
        out,
        customers=25,
        days=400,
        seed=6,
        coupons=False,
    )
    redeemed = sum(1 for e in _lines(out) if e["type"] == "redeem")

    result = replay(Loyalty.in_memory(engine), out)

    assert result.problems == 0
    assert 0 < redeemed <= stock
    assert redeemed == stock or stock == 300  # the small stock ran out
