"""Source files and spans: lines and columns as people count them, also for an excerpt."""

from __future__ import annotations

from rules_engine.errors import Diagnostic
from rules_engine.render import render_diagnostic
from rules_engine.source import SourceFile, Span


def test_an_excerpt_of_a_file_keeps_the_line_numbers_of_the_file() -> None:
    """`loyalty run` reads a stream a line at a time: a bad line 1,000,000 is shown as that."""
    excerpt = SourceFile("stream.jsonl", '{"id": 1,, "type": "purchase"}', first_line=1_000_000)
    span = Span(excerpt, 9, 10)
    assert (span.line, span.column) == (1_000_000, 10)
    assert excerpt.line_text(1_000_000) == '{"id": 1,, "type": "purchase"}'
    assert excerpt.line_text(1) == ""
    assert excerpt.offset(1_000_000, 10) == 9
    shown = render_diagnostic(Diagnostic("RE414", "line 1000000 is not JSON", span))
    assert shown.splitlines()[0] == "stream.jsonl:1000000:10: error[RE414]: line 1000000 is not JSON"
    assert '1000000 | {"id": 1,, "type": "purchase"}' in shown


def test_a_whole_file_counts_from_line_one() -> None:
    whole = SourceFile("p.yaml", "a: 1\nb: 2\n")
    assert Span(whole, 5, 6).line == 2 and whole.line_text(2) == "b: 2" and whole.offset(2, 1) == 5
