"""Bulk coupon code files as people make them (tools/coupon_codes.py `read_csv`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program
from rules_engine.store import open_store
from rules_engine.tools.coupon_codes import check_coupon, read_csv
from tests.conftest import ROOT

PROGRAM = ROOT / "programs" / "coffee-club.yaml"


@pytest.mark.parametrize(
    "text", ["\ufeffcode,partner\nABCD-1234,acme\nEFGH-5678,acme\n", "\ufeffABCD-1234\r\nEFGH-5678\r\n"]
)
def test_a_file_saved_as_excels_csv_utf_8_imports_its_codes(text: str) -> None:
    """Excel's "CSV UTF-8" starts the file with a byte order mark: it was read as part of the
    first cell, so the header was not found (or the first code was malformed) and the whole
    import was refused (RE445, `row 1: '\\ufeffCODE' is not a code`)."""
    assert read_csv(text) == ["ABCD-1234", "EFGH-5678"]


def test_the_cli_imports_a_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    url = str(tmp_path / "loyalty.db")
    open_store(url, "coffee-club").close()
    codes = tmp_path / "codes.csv"
    codes.write_text("code\nABCD-1234\n", encoding="utf-8-sig")
    result = CliRunner().invoke(
        app, ["coupons", "import", str(PROGRAM), "free-latte", str(codes), "--db", url]
    )
    assert result.exit_code == 0, result.output
    with open_store(url, "coffee-club") as store:
        assert [code.code for code in store.coupon_codes("free-latte")] == ["ABCD-1234"]


def test_a_hostile_code_or_coupon_id_is_quoted_by_its_start() -> None:
    """A 100,000-character row was quoted back whole in RE445 (and a coupon id in RE444): the
    message names the row and the value's start and length."""
    with pytest.raises(EventError) as refused:
        read_csv("A" * 100_000 + "\n")
    (diagnostic,) = refused.value.diagnostics
    assert diagnostic.code == "RE445" and "(100,000 characters)" in diagnostic.message
    assert len(diagnostic.message) < 200
    program = load_program(ROOT / "programs" / "coffee-club.yaml").program
    with pytest.raises(EventError) as refused:
        check_coupon(program, "x" * 100_000)
    assert refused.value.diagnostics[0].code == "RE444" and len(refused.value.diagnostics[0].message) < 200
