"""A ledger entry's `lines` column (sql_writing.py `_lines_json`): written directly, the same text as
`json.dumps` writes, and read back as the same line parts."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.state.customer import LedgerLine
from rules_engine.store.sql import _lines
from rules_engine.store.sql_writing import _lines_json

points = st.decimals(allow_nan=False, allow_infinity=False, places=None) | st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places), st.integers(-(10**15), 10**15), st.integers(-3, 8)
)
parts = st.lists(st.builds(LedgerLine, line=st.integers(0, 10**6), points=points), max_size=8)


@given(parts)
def test_the_lines_column_is_what_json_dumps_writes_and_reads_back(lines: list[LedgerLine]) -> None:
    written = _lines_json(lines)
    if not lines:
        assert written is None
        return
    assert written == json.dumps([{"line": part.line, "points": str(part.points)} for part in lines])
    assert _lines(written, None, Decimal(0)) == lines
