"""What a transaction table's mapped columns may hold (simulate/tables.py): each check of a value
as a polars expression, run on every chunk of the table, whose failures are RE480 with the row and
the column. The bounds are the events' (engine/events.py): a value they refuse is named here, at
its place in the table, not at a line of the events written from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rules_engine.engine.events import MAX_ID, MONEY_DIGITS, PSEUDONYM, QTY_DIGITS
from rules_engine.errors import Diagnostic

RETURNED = frozenset({"1", "true", "t", "yes", "y", "r", "return"})
"""A return flag's values (lowercase, stripped) for a returned line."""
SOLD = frozenset({"0", "false", "f", "no", "n", "", "s", "sale"})
"""A return flag's values for a line sold."""

_NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$"


def value_checks(where: Mapping[str, str]) -> list[tuple[str, Any, str]]:
    """What makes a mapped column's value one that cannot be read (RE480): each check's field,
    its polars expression (true for a bad value) and what it says. A value the events' bounds
    refuse (engine/events.py: an identifier's length, an amount's digits) is refused here, at its
    row and column, rather than at its line of the events written (RE410)."""
    import polars as pl

    found = []
    for name in ("customer", "basket", "sku"):
        found.append((name, pl.col(name).is_null() | (pl.col(name).str.strip_chars() == ""), "is empty"))
    for name in ("customer", "basket", "sku", "category", "store", "channel"):
        if name in where:
            written = pl.col(name) if name in ("store", "channel") else pl.col(name).str.strip_chars()
            longer = written.str.len_chars() > MAX_ID  # as the events hold it: store and channel not stripped
            found.append((name, longer.fill_null(False), f"is longer than {MAX_ID} characters"))
    reserved = pl.col("customer").str.strip_chars().str.contains(f"^{PSEUDONYM.pattern}$").fill_null(False)
    found.append(("customer", reserved, "has the shape of an erased customer's pseudonym (erased-, 32 hex)"))
    for name, most in (("price", MONEY_DIGITS), ("amount", MONEY_DIGITS), ("quantity", QTY_DIGITS)):
        if name in where:
            number = pl.col(name).str.contains(_NUMBER).fill_null(False)
            found.append((name, ~number, "is not a number"))
            found.append((name, number & (_digits(pl.col(name)) > most), f"has more than {most} digits"))
    if "return" in where:
        known = pl.col("return").str.strip_chars().str.to_lowercase().is_in(sorted(RETURNED | SOLD))
        found.append(("return", ~known.fill_null(True), "is not a return flag (true/false, 1/0, yes/no)"))
    return found


def _digits(text: Any) -> Any:
    """The digits pydantic counts in a number written as `text` (`max_digits`): those of its
    whole part less leading zeros and of its decimals less trailing ones (`0.001`: 3)."""
    import polars as pl

    plain = text.str.strip_chars().str.strip_chars_start("+-").str.strip_chars_start("0")
    plain = (
        pl.when(plain.str.contains(".", literal=True)).then(plain.str.strip_chars_end("0")).otherwise(plain)
    )
    return plain.str.count_matches(r"\d")


def bad_value(table: Path, row: int, column: str, value: Any, what: str) -> Diagnostic:
    """RE480 for a value `value_checks` refused: its row and column, and its start if it is long."""
    shown = "" if value is None else str(value)
    if len(shown) > _SHOWN:
        shown = f"{shown[:_SHOWN]}… ({len(shown):,} characters)"
    return Diagnostic(
        "RE480",
        f"{table}: row {row}, column {column!r}: {shown!r} {what}",
        hint="fix the row, or map another column to this field (--column)",
    )


_SHOWN = 40  # the characters of a value a message quotes: enough to find it in the table
