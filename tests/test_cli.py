"""`loyalty check`: values, JSON, explanations, and errors with a location, a caret and a hint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from tests.conftest import ROOT, SAMPLE_CONTEXT

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_prints_the_value() -> None:
    assert run("check", "0.1 + 0.2 == 0.3") == (0, "true\n", "")
    assert run("check", "7 / 2")[1] == "3.5\n"


def test_json_output_has_exact_numbers_and_the_type() -> None:
    code, out, _ = run(
        "check",
        "--json",
        "--context",
        str(SAMPLE_CONTEXT),
        "sum(item.price * item.qty for item in basket.items)",
    )
    assert code == 0
    assert out.strip() == '{"value": 1240.5, "type": "number"}'
    assert json.loads(out) == {"value": 1240.5, "type": "number"}
    assert (
        run("check", "--json", "1 / 3")[1].strip()
        == '{"value": 0.3333333333333333333333333333, "type": "number"}'
    )


def test_explain_shows_sub_expressions_and_their_values() -> None:
    code, out, _ = run(
        "check",
        "--explain",
        "--context",
        str(SAMPLE_CONTEXT),
        'basket.total >= 2000 or "vip" in customer.tags',
    )
    assert code == 0
    assert "basket.total >= 2000  →  false" in out
    assert "basket.total  →  1240.50" in out
    assert '"vip" in customer.tags  →  true' in out


def test_python_shows_generated_code() -> None:
    code, out, _ = run("check", "--python", "--context", str(SAMPLE_CONTEXT), "basket.total > 5")
    assert code == 0
    assert "def _evaluate(ctx):" in out


def test_timezone_option() -> None:
    args = ["check", "--context", str(SAMPLE_CONTEXT), "event.time.hour"]
    assert run(*args)[1] == "9\n"
    assert run(*args[:3], "--timezone", "UTC", args[3])[1] == "6\n"
    code, _, err = run(*args[:3], "--timezone", "Mars/Olympus", args[3])
    assert code == 2 and "RE704" in err


# a folder of zones; a name too long for a file; a name ZoneInfo recursed on (`tzdata.zoneinfo.A.A…`)
@pytest.mark.parametrize("zone", ["Europe", "a" * 300, "A/" * 300 + "B"])
def test_a_timezone_that_is_no_file_is_a_usage_error(zone: str) -> None:
    code, _, err = run("check", "--context", str(SAMPLE_CONTEXT), "--timezone", zone, "event.time.hour")
    assert code == 2 and "error[RE704]" in err and "Traceback" not in err


@pytest.mark.parametrize("zone", ["Europe", "a" * 300, "A/" * 300 + "B"])
def test_a_program_whose_timezone_is_no_file_is_refused_at_its_place(zone: str) -> None:
    from rules_engine.program.validate import validate_text

    text = f"program: shop\nversion: 1\ntimezone: {zone}\ncurrency: RUB\n"
    result = validate_text(text, "shop.yaml")
    assert [(d.code, d.span.line, d.span.column) for d in result.errors] == [("RE117", 3, 11)]


def test_an_invalid_expression_is_reported_with_caret_and_hint_exit_1() -> None:
    code, out, err = run("check", 'basket.total >= "50"')
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "<expression>:1:17: error[RE303]: cannot compare number with text",
        "  |",
        '1 | basket.total >= "50"',
        "  |                 ^^^^",
        "  = hint: write the number without quotes: 50",
    ]


def test_every_error_of_an_expression_is_reported() -> None:
    code, _, err = run("check", 'bsket.total > 5 and customer.teir == "gold"')
    assert code == 1
    assert "RE301" in err and "RE302" in err


def test_an_expression_needing_a_context_says_so() -> None:
    code, _, err = run("check", "basket.total > 5")
    assert code == 1
    assert "RE402" in err and "--context" in err


def test_a_bad_context_file_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "ctx.json"
    bad.write_text('{"basket": {"total": 1,}}', encoding="utf-8")
    code, _, err = run("check", "--context", str(bad), "basket.total > 0")
    assert code == 1
    assert f"{bad}:1:24: error[RE405]" in err
    bad.write_text('{"basket": {"total": "12 EUR"}}', encoding="utf-8")
    code, _, err = run("check", "--context", str(bad), "basket.total > 0")
    assert code == 1 and "basket.total: expected a number" in err
    code, _, err = run("check", "--context", str(tmp_path / "missing.json"), "1 > 0")
    assert code == 1 and "RE405" in err


def test_item_in_the_context_enables_per_item_expressions(tmp_path: Path) -> None:
    context = tmp_path / "item.json"
    context.write_text(
        '{"item": {"sku": "a", "category": "coffee", "price": 3.5, "qty": 2}}', encoding="utf-8"
    )
    assert run("check", "--context", str(context), "item.price * item.qty")[1] == "7.0\n"


def test_usage_errors_exit_2() -> None:
    assert run("check")[0] == 2
    assert run("check", "1", "--no-such-option")[0] == 2


@pytest.mark.parametrize("entry", [["-m", "rules_engine.cli"], [str(ROOT / "cli.py")]])
def test_top_level_cli_py_and_module_work(entry: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, *entry, "check", "1 + 1"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2\n"
