"""YAML syntax errors in plain words, at the right line and column, with a hint."""

from __future__ import annotations

import pytest

from tests.program.loading import only, where

# -- syntax errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "hint"),
    [
        ("a:\n\tb: 1\n", 2, 1, "indent with spaces, not tabs"),
        ("a: 1\n\tb: 2\n", 2, 1, "indent with spaces, not tabs"),
        ("a:\n  b: 1\n  \tc: 2\n", 3, 3, "indent with spaces, not tabs"),
        ("title: Earn: double\n", 1, 12, "quote the value, because it contains ': ' — title: 'Earn: double'"),
        ("a:1\nb: 2\n", 2, 2, "put a space after the colon on line 1: `a: 1`"),
        ("a:\n  b: 1\n    c: 2\n", 3, 6, "indented more than the field above it"),
        ('a: "abc\nb: 1\n', 1, 4, 'add the closing `"`'),
        ("a: 'abc\nb: 1\n", 1, 4, "add the closing `'`"),
        ("a: [1, 2\nb: 1\n", 2, 2, "close the `[` from line 1"),
        ("a: {x: 1\nb: 1\n", 2, 2, "close the `{` from line 1"),
        ("a:\n  b: 1\n c: 2\n", 3, 2, "same column"),
        ("a: 1\nb\nc: 2\n", 2, 1, "write `field: value`"),
        ("a: 1\n- b\n", 2, 1, "list items go under a field"),
        ('a: "x" y\n', 1, 8, "quote the whole value"),
        ("a: *bold*\n", 1, 4, "quote the value"),
        ("a: @handle\n", 1, 4, "quote the value"),
        ("a: `code`\n", 1, 4, "quote the value"),
        ('a: "C:\\dir"\n', 1, 7, "use single quotes"),
        ('a: "\\x4"\n', 1, 5, "use single quotes"),
        ("a: [1, 2]]\n", 1, 10, "remove it, or add the `[` it should close"),
        ("  a: 1\nb: 2\n", 2, 1, "start every top-level field in the same column"),
        ("a: |x\n  t\n", 1, 5, "start the text on the next line"),
        ("a: {\n", 1, 5, "close every `[` and `{`"),
        ("- a\nb: 1\n", 2, 1, "check this line's indentation"),
        ("a: 1\n...\nb: 2\n", 3, 1, "remove the `...` line"),
        ("k" * 1100 + ": 1\n", 1, 1101, "at most 1024 characters"),
    ],
)
def test_syntax_errors_point_at_the_problem(text: str, line: int, column: int, hint: str) -> None:
    found = only(text)
    assert where(found) == ("RE101", line, column)
    assert found.hint is not None
    assert hint in found.hint
    assert "<" not in found.message  # no parser jargon such as <block end>


def test_control_characters_are_refused_at_their_place() -> None:
    found = only("a: ok\nb: x\x07y\n")
    assert where(found) == ("RE101", 2, 5)
    assert "U+0007" in found.message


def test_syntax_error_columns_count_characters_not_bytes() -> None:
    found = only("name: Café 🎉 Club: x\n")
    assert where(found) == ("RE101", 1, 18)
