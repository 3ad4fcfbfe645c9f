"""`loyalty dry-run` and `loyalty test`: what an event gives and why, and marketers' expectations.

Runs the commands as a user would (typer's CliRunner, a plain 100-column terminal) against the
coffee-club example program and the events and states in tests/fixtures/. The console sessions in
docs/cli.md are run too, so the documentation stays true.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.engine.rewards import coupon_code
from rules_engine.jsonio import loads
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
PROGRAM = ROOT / "programs" / "coffee-club.yaml"
TUESDAY = FIXTURES / "events" / "tuesday-morning.json"
WEDNESDAY = FIXTURES / "events" / "wednesday-lunch.json"
DOLLARS = FIXTURES / "events" / "in-dollars.json"
GOLD = FIXTURES / "states" / "gold.json"
SUITE = FIXTURES / "coffee-club.tests.yaml"
# A plain terminal of 100 columns, whatever the environment running the tests.
PLAIN = {
    "NO_COLOR": "1",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
    "COLUMNS": "100",
    "LOYALTY_SECRET": None,  # coupon codes as the documents show them, whatever the environment
}

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args], env=PLAIN)
    return result.exit_code, result.stdout, result.stderr


def row(out: str, rule: str) -> str:
    """The table line that starts the row of a rule."""
    return next(line for line in out.splitlines() if line.split()[:1] == [rule])


# -- dry-run -------------------------------------------------------------------------------------


def test_dry_run_table_has_every_rule_decision_the_totals_and_the_effects() -> None:
    code, out, err = run("dry-run", PROGRAM, TUESDAY, "--customer", GOLD)
    assert (code, err) == (0, "")
    for rule in ("refill", "early-bird", "big-order", "base", "pastry-bonus", "double-tuesday", "tier:gold"):
        assert rule in out
    assert "✓" in row(out, "early-bird") and row(out, "early-bird").rstrip().endswith("+10 beans")
    assert "✓" in row(out, "refill") and row(out, "refill").rstrip().endswith("128.00 off")
    big_order = row(out, "big-order")
    assert "✗" in big_order and "`early-bird` of exclusive group" in big_order
    totals = {
        "basket": "820.50  RUB",
        "discount": "128.00  RUB",
        "shipping": "0.00  RUB",
        "to pay": "692.50  RUB",
        "earning base": "692.50  RUB",
        "points": "54  beans",
    }
    for label, value in totals.items():
        assert re.search(rf"^  {label} +{value}", out, re.MULTILINE), label
    assert re.search(r"^  refill +128\.00 off: items\[0\] LATTE-L 128\.00", out, re.MULTILINE)
    assert re.search(r"^  free shipping +no", out, re.MULTILINE)


def test_dry_run_says_why_a_rule_did_not_fire_and_what_was_missing() -> None:
    code, out, _ = run("dry-run", PROGRAM, WEDNESDAY)
    assert code == 0
    text = " ".join(" ".join(line.split()) for line in out.splitlines())
    assert "✗ basket.total >= big_order → false, basket.total = 740.00, big_order = 1500" in text
    assert "→ spend 760.00 more" in text
    assert "condition is false" in row(out, "double-tuesday")
    assert "basket.total >= big_order  →  false" not in out  # the trees only come with --explain


def test_dry_run_never_truncates_a_reason() -> None:
    _, out, _ = run("dry-run", PROGRAM, WEDNESDAY)
    text = " ".join(" ".join(line.split()) for line in out.splitlines())
    assert 'event.time.weekday == "tue" → false, event.time.weekday = "wed"' in text
    assert all(len(line.rstrip()) <= 100 for line in out.splitlines())


def test_explain_adds_each_condition_as_a_tree_of_values() -> None:
    code, out, _ = run("dry-run", PROGRAM, WEDNESDAY, "--explain")
    assert code == 0
    assert "big-order (earn): condition is false" in out
    assert "basket.total >= big_order  →  false" in out
    assert re.search(r"├── basket\.total  →  740\.00$", out, re.MULTILINE)
    assert re.search(r"└── big_order  →  1500$", out, re.MULTILINE)
    assert "[not needed] basket.total >= 200  →  true" in out  # early-bird's and: not evaluated
    assert "\n└── basket  →" not in out and "── event  →" not in out  # records are not values


def test_json_output_is_the_outcome_with_exact_numbers_and_matches_the_schema() -> None:
    code, out, err = run("dry-run", PROGRAM, TUESDAY, "--customer", GOLD, "--json")
    assert (code, err) == (0, "")
    data = json.loads(out, parse_float=Decimal)
    assert {"effects", "totals", "trace", "state"} <= set(data)
    assert data["totals"]["to_pay"] == Decimal("692.5") and isinstance(data["totals"]["to_pay"], Decimal)
    assert data["totals"]["points"] == 54
    assert data["effects"]["discounts"][0]["rule"] == "refill"
    assert data["state"]["tier"] == "gold" and len(data["state"]["lots"]) == 5
    assert [t["rule"] for t in data["trace"]][:3] == ["refill", "early-bird", "big-order"]

    schema = json.loads((ROOT / "schemas" / "outcome.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    assert list(validator.iter_errors(data)) == []

    # the JSON is the engine's outcome, nothing lost: it reads back into the same model
    engine = Engine.from_file(PROGRAM)
    direct = engine.process(loads(TUESDAY.read_text()), loads(GOLD.read_text()), explain=True)
    assert Outcome.model_validate(loads(out)) == direct.outcome()


def test_json_output_has_the_explanations_of_conditions_that_failed() -> None:
    _, out, _ = run("dry-run", PROGRAM, WEDNESDAY, "--json")
    trace = {t["rule"]: t for t in json.loads(out, parse_float=Decimal)["trace"]}
    assert trace["big-order"]["hint"] == "spend 760.00 more"
    assert trace["big-order"]["condition"]["text"] == "basket.total >= big_order"
    assert trace["big-order"]["condition"]["value"] is False


def test_sample_files_match_the_published_event_and_state_schemas() -> None:
    for name, path in (("event", TUESDAY), ("event", WEDNESDAY), ("state", GOLD)):
        schema = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(json.loads(path.read_text()))) == []


def test_dry_run_of_a_return_lists_the_points_it_takes_back(tmp_path: Path) -> None:
    """Regression: the effects table had no words for a `reverse` change and crashed (KeyError)."""
    program = ROOT / "programs" / "fashion-house.yaml"
    events = ROOT / "programs" / "events" / "fashion-house" / "return"
    bought = Engine.from_file(program).process(loads((events / "shirts.json").read_text()))
    state = tmp_path / "state.json"
    state.write_text(bought.state.model_dump_json(), encoding="utf-8")
    code, out, err = run("dry-run", program, events / "one-shirt-back.json", "--customer", state)
    assert (code, err) == (0, "")
    assert "took back 600 points earned by the" in out
    assert "600 from evt-fh-20261215-ret1/base taken back by a return" in out


def test_issue_11_dry_run_shows_a_redemption_as_points_spent(tmp_path: Path) -> None:
    # It showed `+350 beans`, as if the customer had earned them.
    engine = Engine.from_file(PROGRAM)
    bought = engine.process(loads((FIXTURES / "events" / "tuesday-morning.json").read_text()))
    lot = bought.state.lots[0].model_copy(update={"points": Decimal(500)})
    state = tmp_path / "state.json"
    state.write_text(bought.state.model_copy(update={"lots": [lot]}).model_dump_json(), encoding="utf-8")
    redeem = tmp_path / "redeem.json"
    when = "2027-01-20T13:00:00+03:00"  # long after the purchase: its points are available
    customer = bought.state.customer
    redeem.write_text(
        f'{{"id": "r1", "type": "redeem", "time": "{when}", "customer": "{customer}", "item": "free-latte"}}'
    )
    code, out, err = run("dry-run", PROGRAM, redeem, "--customer", state)
    assert (code, err) == (0, "")
    [row] = [line for line in out.splitlines() if "catalog:free-latte" in line]
    assert row.rstrip().endswith("-350 beans")
    assert "+350" not in out


def test_a_bad_event_json_is_reported_at_its_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "e", "type": "purchase",\n "items": [1,]}', encoding="utf-8")
    code, out, err = run("dry-run", PROGRAM, bad)
    assert (code, out) == (1, "")
    assert err.splitlines()[:4] == [
        f"{bad}:2:14: error[RE414]: the event file is not valid JSON: Expecting value",
        "  |",
        '2 |  "items": [1,]}',
        "  |              ^",
    ]


def test_an_event_missing_a_field_names_the_file_and_the_field(tmp_path: Path) -> None:
    event = json.loads(WEDNESDAY.read_text())
    del event["items"][1]["qty"]
    path = tmp_path / "no-qty.json"
    path.write_text(json.dumps(event, indent=2), encoding="utf-8")
    code, out, err = run("dry-run", PROGRAM, path)
    assert (code, out) == (1, "")
    # the object that lacks the field, at its line and column in the file, with a caret
    lines = path.read_text().splitlines()
    item_starts = [n for n, text in enumerate(lines, 1) if text == "    {"]
    assert f"{path}:{item_starts[1]}:5: error[RE410]: items[1].qty: Field required" in err
    assert "hint: add the field" in err


def test_an_event_in_another_currency_is_refused() -> None:
    code, out, err = run("dry-run", PROGRAM, DOLLARS)
    assert (code, out) == (1, "")
    assert f"error[RE411]: {DOLLARS}: currency: the purchase is in USD, the program in RUB" in err


def test_a_bad_customer_state_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"tier": 5}', encoding="utf-8")
    code, _, err = run("dry-run", PROGRAM, TUESDAY, "--customer", state)
    assert code == 1 and f"{state}:1:10: error[RE420]: tier: Input should be a valid string" in err
    code, _, err = run("dry-run", PROGRAM, TUESDAY, "--customer", tmp_path / "missing.json")
    assert code == 1 and "error[RE414]: cannot read the customer state file" in err


def test_a_program_with_errors_reports_all_of_them(tmp_path: Path) -> None:
    program = tmp_path / "broken.yaml"
    program.write_text(
        "program: broken\nversion: 1\ncurrency: RUB\n"
        "earn:\n  - id: a\n    when: basket.totl > 1\n    award: 5\n",
        encoding="utf-8",
    )
    code, out, err = run("dry-run", program, TUESDAY)
    assert (code, out) == (1, "")
    assert f"{program}:1:1: error[RE112]: missing field `timezone`" in err
    assert f"{program}:6:18: error[RE302]: `basket` has no attribute `totl`" in err
    assert "hint: did you mean `total`?" in err


def test_usage_errors_exit_2() -> None:
    assert run("dry-run", PROGRAM)[0] == 2
    assert run("dry-run", PROGRAM, TUESDAY, "--no-such-option")[0] == 2
    assert run("test")[0] == 2


# -- test ----------------------------------------------------------------------------------------


def test_the_fixture_suite_passes() -> None:
    code, out, err = run("test", PROGRAM, SUITE)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "PASS gold member, Tuesday morning latte and croissant",
        "PASS new customer, Wednesday lunch earns only the base rate",
        "PASS a big order at noon earns the big-order bonus",
        "PASS a purchase in dollars is refused",
        "PASS a line without a quantity is refused",
        "5 passed, 0 failed",
    ]


def test_a_tests_file_alone_names_its_program() -> None:
    """The fixture names a program outside its folder: refused (RE450) unless allowed."""
    code, _, err = run("test", SUITE)
    assert code == 1 and "error[RE450]" in err
    assert run("test", SUITE, "--allow-outside")[0] == 0


def write_suite(tmp_path: Path, text: str) -> Path:
    """A tests file in a folder of its own, with the fixture events and states beside it."""
    shutil.copytree(FIXTURES / "events", tmp_path / "events")
    shutil.copytree(FIXTURES / "states", tmp_path / "states")
    path = tmp_path / "cafe.tests.yaml"
    path.write_text(text, encoding="utf-8")
    return path


WRONG = """\
cases:
  - name: wrong numbers
    customer_file: states/gold.json
    event_file: events/tuesday-morning.json
    expect:
      points: 47
      rules: {base: 1, early-bird: 10}
      fired: [big-order]
      not_fired: [refill]
      discount: 100
      free_shipping: true
      to_pay: 692.50
  - name: right numbers
    event_file: events/wednesday-lunch.json
    expect: {points: 7, discounts: {}}
"""


def test_a_wrong_expectation_fails_with_a_diff_of_expected_and_actual(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, WRONG)
    code, out, _ = run("test", PROGRAM, suite)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"FAIL wrong numbers  ({suite}:2:11)"
    diff = [line for line in lines if line.startswith("  ") and not line.startswith("    ")]
    assert diff == [
        "  points: expected 47, got 54",
        "  rules.base: expected 1, got 6",
        "  fired.big-order: expected fired, got not fired",
        "  not_fired.refill: expected not fired, got fired",
        "  discount: expected 100, got 128.00",
        "  free_shipping: expected true, got false",
    ]
    why = lines[lines.index("  fired.big-order: expected fired, got not fired") + 1]
    assert "`early-bird` of exclusive group `time-of-day` applies instead" in why
    assert "PASS right numbers" in lines
    assert lines[-1] == "1 passed, 1 failed"


def test_an_unexpected_refusal_and_an_expected_one_that_did_not_happen_fail(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        "cases:\n"
        "  - name: dollars\n    event_file: events/in-dollars.json\n    expect: {points: 0}\n"
        "  - name: refused?\n    event_file: events/wednesday-lunch.json\n    expect: {error: RE410}\n",
    )
    code, out, _ = run("test", PROGRAM, suite)
    assert code == 1
    assert "  error: expected no error, got RE411" in out
    assert f"{suite}:3:17: error[RE411]: currency: the purchase is in USD, the program in RUB" in out
    assert "  error: expected RE410, got no error" in out
    assert out.splitlines()[-1] == "0 passed, 2 failed"


def test_an_unknown_key_in_a_tests_file_is_reported_at_its_place(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        "cases:\n  - name: typo\n    event_file: events/tuesday-morning.json\n"
        "    expect:\n      pionts: 52\n",
    )
    code, out, err = run("test", PROGRAM, suite)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{suite}:5:7: error[RE111]: unknown field `pionts`",
        "  |",
        "5 |       pionts: 52",
        "  |       ^^^^^^",
        "  = hint: did you mean `points`?",
    ]


def test_every_mistake_in_a_tests_file_is_reported_at_once(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        "cases:\n"
        "  - name: a\n    expect: {points: 1}\n"  # no event
        "  - name: b\n    event_file: events/nope.json\n    expect: {points: 1}\n"
        "  - name: a\n    event_file: events/tuesday-morning.json\n    expect: {error: RE411, points: 1}\n",
    )
    code, _, err = run("test", PROGRAM, suite)
    assert code == 1
    located = re.findall(r"^(\S+:\d+:\d+): error\[(RE\d+)\]", err, re.MULTILINE)
    assert located == [
        (f"{suite}:2:11", "RE112"),  # missing event
        (f"{suite}:5:17", "RE414"),  # the event file does not exist
        (f"{suite}:7:11", "RE121"),  # a second case named `a`
        (f"{suite}:9:14", "RE117"),  # error with other expectations
    ]


def test_wrongly_typed_expectations_are_refused(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        "cases:\n  - name: a\n    event_file: events/tuesday-morning.json\n"
        '    expect: {points: "52", free_shipping: yes, error: RE41}\n',
    )
    code, _, err = run("test", PROGRAM, suite)
    assert code == 1
    assert f'{suite}:4:22: error[RE113]: `points` must be a number, not the text "52"' in err
    assert f'{suite}:4:43: error[RE113]: `free_shipping` must be true or false, not the text "yes"' in err
    assert f'{suite}:4:55: error[RE115]: "RE41" is not a diagnostic code' in err


def test_a_rule_the_program_does_not_have_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        "cases:\n  - name: a\n    event_file: events/tuesday-morning.json\n"
        "    expect:\n      not_fired: [big-ordr]\n      rules: {refill: 3}\n",
    )
    code, out, err = run("test", PROGRAM, suite)
    assert (code, out) == (1, "")
    assert f"{suite}:5:19: error[RE122]: no rule `big-ordr` in coffee-club" in err
    assert "hint: did you mean `big-order`?" in err
    assert f"{suite}:6:15: error[RE122]: `refill` is a discount: it gives no points" in err


def test_a_misspelt_tier_is_an_error_before_any_case_runs(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        "cases:\n  - name: a\n    event_file: events/tuesday-morning.json\n    expect: {tier: platnum}\n"
        "  - name: b\n    event_file: events/tuesday-morning.json\n    expect: {tier: gld}\n"
        "  - name: c\n    event_file: events/tuesday-morning.json\n    expect: {tier: none}\n",
    )
    code, out, err = run("test", PROGRAM, suite)
    assert (code, out) == (1, "")
    assert f"{suite}:4:20: error[RE122]: no tier `platnum` in coffee-club" in err
    assert "hint: tiers of coffee-club: gold, green, none" in err
    assert f"{suite}:7:20: error[RE122]: no tier `gld` in coffee-club" in err
    assert "hint: did you mean `gold`?" in err
    assert "`none`" not in err  # a customer without a tier


def test_the_default_tests_file_sits_next_to_the_program(tmp_path: Path) -> None:
    program = tmp_path / "cafe.yaml"
    shutil.copy(PROGRAM, program)
    write_suite(tmp_path, SUITE.read_text().replace("../../programs/coffee-club.yaml", "cafe.yaml"))
    assert run("test", program)[0] == 0
    (tmp_path / "cafe.tests.yaml").unlink()
    code, _, err = run("test", program)
    assert code == 1
    assert f"error[RE105]: cannot read {tmp_path / 'cafe.tests.yaml'}" in err
    assert "loyalty test PROGRAM TESTS.yaml" in err


def test_a_tests_file_that_names_no_program_needs_one_beside_it(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, SUITE.read_text().replace("program: ../../programs/coffee-club.yaml\n", ""))
    code, _, err = run("test", suite)
    assert code == 1
    assert f"error[RE105]: {suite} names no program, and there is no cafe.yaml beside it" in err
    shutil.copy(PROGRAM, tmp_path / "cafe.yaml")
    assert run("test", suite)[0] == 0


# A customer buys 40000.00 of beans on Monday 2 November 2026 at 13:00 (base 400, big-order 50,
# pending 14 days) and spends 350 of them on a free latte the moment they become available.
BEANS = {
    "id": "p1",
    "type": "purchase",
    "time": "2026-11-02T13:00:00+03:00",
    "customer": "c1",
    "items": [{"sku": "BEANS-5KG", "category": "beans", "price": 40000, "qty": 1}],
}
LATTE = {
    "id": "r1",
    "type": "redeem",
    "time": "2026-11-16T13:00:00+03:00",
    "customer": "c1",
    "item": "free-latte",
}

STATEFUL = """\
cases:
  - name: a redemption the moment the beans become available
    before: [events/beans.json]
    event_file: events/latte.json
    expect:
      available: {available}
      lots: {{p1/base: {base}, p1/big-order: 50}}
      points_changes: {{available: 450, burn: {burn}}}
      coupons_issued: [{coupon}]
      notifications: []
      entries: {{}}
      trace: {{catalog:free-latte: {{code: {code}, reason: spent 350 points}}}}
"""


def stateful_suite(tmp_path: Path, **values: Any) -> Path:
    suite = write_suite(tmp_path, STATEFUL.format(**values))
    (tmp_path / "events" / "beans.json").write_text(json.dumps(BEANS), encoding="utf-8")
    (tmp_path / "events" / "latte.json").write_text(json.dumps(LATTE), encoding="utf-8")
    return suite


RIGHT = {"available": 100, "base": 50, "burn": 350, "coupon": "free-latte", "code": "fired"}


def test_expectations_on_lots_points_changes_coupons_notifications_and_the_trace_pass(
    tmp_path: Path,
) -> None:
    # 450 available at 13:00; 350 burnt oldest first: p1/base (400, its id sorts first) → 50 left
    code, out, err = run("test", PROGRAM, stateful_suite(tmp_path, **RIGHT))
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "1 passed, 0 failed"


def test_wrong_expectations_on_the_state_and_the_effects_say_what_was_there(tmp_path: Path) -> None:
    wrong = {"available": 450, "base": 0, "burn": 400, "coupon": "welcome-10", "code": "capped"}
    suite = stateful_suite(tmp_path, **wrong)
    code, out, err = run("test", PROGRAM, suite)
    assert code == 1, err
    assert "error[RE122]: no coupon `welcome-10` in coffee-club" in err  # checked before running
    wrong["coupon"] = "free-latte"
    code, out, err = run("test", PROGRAM, stateful_suite(tmp_path / "again", **wrong))
    assert code == 1, err
    diff = [line for line in out.splitlines() if line.startswith("  ") and not line.startswith("    ")]
    issued = coupon_code("coffee-club", "c1", "r1", "free-latte", b"")  # the default secret
    assert diff == [
        "  available: expected 450, got 100",
        "  lots.p1/base: expected 0, got 50",
        "  points_changes.burn: expected 400, got 350",
        "  trace.catalog:free-latte: expected capped, reason containing “spent 350 points”, "
        f"got fired: spent 350 points, coupon free-latte ({issued})",
    ]
    assert "      0 pending; 100 in all lots" in out


def test_mistakes_in_the_new_expectations_are_reported_at_their_place(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        "cases:\n  - name: a\n    event_file: events/tuesday-morning.json\n    expect:\n"
        "      points_changes: {expyre: 1}\n"
        "      trace: {refill: {}, early-bird: {code: caped}, big-ordr: {code: fired}, base: {cod: fired}}\n"
        "      entries: {new-year: 1}\n"
        "      notifications: [beans_expirng]\n",
    )
    code, _, err = run("test", PROGRAM, suite)
    assert code == 1
    located = re.findall(r"^(\S+:\d+:\d+): error\[(RE\d+)\]: (.*)$", err, re.MULTILINE)
    assert located == [(f"{suite}:6:86", "RE111", "unknown field `cod`")]
    assert "hint: did you mean `code`?" in err
    suite.write_text(suite.read_text().replace("cod: fired}}", "code: fired}}"), encoding="utf-8")
    code, _, err = run("test", PROGRAM, suite)
    located = re.findall(r"^(\S+:\d+:\d+): error\[(RE\d+)\]: (.*)$", err, re.MULTILINE)
    assert located == [
        (f"{suite}:5:24", "RE114", "`expyre` is not a kind of points change"),
        (f"{suite}:6:23", "RE116", "`trace` of `refill` is empty: nothing would be checked"),
        (f"{suite}:6:46", "RE114", "`caped` is not a trace code"),
    ]
    assert "hint: did you mean `expire`?" in err and "hint: did you mean `capped`?" in err
    suite.write_text(
        suite.read_text().replace("expyre", "expire").replace("refill: {}, ", "").replace("caped", "capped"),
        encoding="utf-8",
    )
    code, _, err = run("test", PROGRAM, suite)
    located = re.findall(r"^(\S+:\d+:\d+): error\[(RE\d+)\]: (.*)$", err, re.MULTILINE)
    assert located == [
        (f"{suite}:6:43", "RE122", "no rule `big-ordr` in coffee-club"),
        (f"{suite}:7:17", "RE122", "no draw `new-year` in coffee-club"),
        (f"{suite}:8:23", "RE122", "no notification template `beans_expirng` in coffee-club"),
    ]
    assert "hint: did you mean `beans_expiring`?" in err


# -- docs/cli.md ---------------------------------------------------------------------------------

DOC = ROOT / "docs" / "cli.md"


def _sessions() -> list[Any]:
    """Each ```console block of docs/cli.md: its `$ loyalty …` commands, each with the output shown.

    The commands of one block run in order in one fresh folder (where the programs/ and tests/
    of the repository are linked), so a block can build a database and then read it."""
    sessions: list[Any] = []
    block: list[tuple[int, str]] | None = None
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), start=1):
        if block is None:
            block = [] if line.strip() == "```console" else None
            continue
        if not line.startswith("```"):
            block.append((number, line))
            continue
        commands = [i for i, (_, text) in enumerate(block) if text.startswith("$ ")]
        steps = []
        for position, start in enumerate(commands):
            end = commands[position + 1] if position + 1 < len(commands) else len(block)
            where, command = block[start]
            steps.append((where, command[2:], [text for _, text in block[start + 1 : end]]))
        if steps:
            sessions.append(pytest.param(steps, id=f"cli.md:{steps[0][0]}"))
        block = None
    return sessions


@pytest.mark.parametrize("steps", _sessions())
def test_docs_console_sessions(
    steps: list[tuple[int, str, list[str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("programs", "tests"):  # the sessions name programs/… and tests/fixtures/…
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    for where, command, output in steps:
        args = shlex.split(command)
        assert args[0] == "loyalty"
        result = CliRunner().invoke(app, args[1:], env=PLAIN)
        printed = [line.rstrip() for line in result.output.rstrip("\n").split("\n")]
        assert printed == output, f"docs/cli.md:{where}: {command}"
        failed = any(re.search(r"error\[RE\d{3}\]|^FAIL |DOES NOT reconcile", line) for line in output)
        assert result.exit_code == (1 if failed else 0), result.output


def test_docs_show_every_command() -> None:
    text = DOC.read_text(encoding="utf-8")
    for command in ("check", "validate", "schema", "dry-run", "test"):
        assert f"$ loyalty {command} " in text or f"loyalty {command}`" in text, command


def test_compile_says_whether_a_programs_pricing_and_earning_are_generated() -> None:
    code, out, _ = run("compile", ROOT / "programs" / "coffee-club.yaml")
    assert code == 0 and "pricing and earning generated" in out
    code, out, _ = run("compile", ROOT / "programs" / "fashion-house.yaml")  # a budget: generated too
    assert code == 0 and "pricing and earning generated" in out
    code, out, _ = run("compile", "--python", ROOT / "programs" / "fashion-house.yaml")
    assert code == 0 and "run.budgets.spent.get('new-collection'" in out


def test_compile_python_prints_the_generated_module_each_rule_at_its_line() -> None:
    code, out, _ = run("compile", "--python", ROOT / "programs" / "coffee-club.yaml")
    assert code == 0
    assert "def decide(run):" in out
    lines = (ROOT / "programs" / "coffee-club.yaml").read_text(encoding="utf-8").splitlines()
    for rule in ("base", "early-bird", "big-order", "pastry-bonus", "double-tuesday"):
        line = int(re.search(rf"# earn {rule}\b.*coffee-club\.yaml:(\d+)\)", out).group(1))  # type: ignore[union-attr]
        assert lines[line - 1].strip() == f"- id: {rule}"
    compile(out, "generated.py", "exec")  # the printed module is Python


def test_compile_of_a_program_with_errors_fails_with_them() -> None:
    code, _, err = run("compile", ROOT / "tests" / "golden" / "errors" / "references.yaml")
    assert code == 1 and "RE121" in err
