"""Diagnostics as people read them: linear to print however long the line, a snippet of bounded width."""

from __future__ import annotations

import io

from rich.console import Console

from rules_engine.errors import Diagnostic
from rules_engine.render import SNIPPET_WIDTH, render_diagnostic, styled_diagnostic
from rules_engine.source import SourceFile, Span


def test_a_diagnostic_under_a_huge_line_is_cut_around_the_caret_before_it_is_styled() -> None:
    # a regex over the caret run made this quadratic: a 100,000-character expression never finished
    text = "x" * 400_000 + " > 1"
    diagnostic = Diagnostic("RE301", "bad", Span(SourceFile("<expression>", text), 0, len(text)), hint="fix")
    styled = styled_diagnostic(diagnostic)
    # what rich is given to lay out is cut too, so its work does not grow with the line
    assert styled.plain == render_diagnostic(diagnostic) and len(styled.plain) < 10 * SNIPPET_WIDTH
    Console(width=200, file=io.StringIO(), force_terminal=True).print(styled)
    lines = render_diagnostic(diagnostic).split("\n")
    assert max(len(line) for line in lines) <= SNIPPET_WIDTH + 10
    assert lines[2].endswith("…") and lines[3].count("^") == SNIPPET_WIDTH


def test_a_long_line_is_cut_around_its_caret_which_stays_under_the_same_characters() -> None:
    text = "a" * 5000 + "BAD" + "b" * 5000
    diagnostic = Diagnostic("RE410", "bad", Span(SourceFile("x.json", text), 5000, 5003))
    _, _, source, carets = render_diagnostic(diagnostic).split("\n")
    assert source.startswith("1 | …") and source.endswith("…")
    at = carets.index("^")
    assert source[at : at + 3] == "BAD" and carets[at:] == "^^^"


def test_styling_keeps_the_words_and_colours_the_code_the_caret_and_the_hint() -> None:
    diagnostic = Diagnostic("RE303", "cannot compare", Span(SourceFile("g.yaml", "when: a > 1\n"), 6, 7), "h")
    styled = styled_diagnostic(diagnostic)
    assert styled.plain == render_diagnostic(diagnostic)
    pieces = {styled.plain[span.start : span.end]: str(span.style) for span in styled.spans}
    assert pieces == {"error[RE303]": "bold red", "^": "bold red", "= hint: h": "cyan"}
