"""A purchase's basket lines found by their JSON text: known lines are neither scanned nor checked.

Why: a stream's baskets are made of few distinct lines, written the same way every time (a
product at its price, in a quantity, with its size), and they are most of a purchase's text: the
C scanner's reading of a 10-line purchase's lines, and the reader's finding of each among the
lines read before (reader.py's `_SEEN`, keyed by the values as read), cost more than the rest
of the event (issue 13). Here each line's own text, as it stands between `"items": [` and `]`, is
the key: a text read before as one complete line is taken with its `Line`'s values, its canonical
text (the event's digest) and its count of keys; the rest of the event, its `items` left empty,
is read as before (engine/event_text.py), and the lines put in its place.

Why the event is the same: a remembered text is one that the C scanner read alone, in braces, as
one whole JSON object (nothing before or after it) and that made, in an event the fast reader
accepted, the line remembered; the lines' texts are cut where `}, {` and the last `}]` fall (one
`split`), and joined again, in their braces, they are exactly the text between the brackets. So
in the event's text each is read as the same object at its place, whatever surrounds it, and the
text without them (`"items": []`) is valid JSON exactly when the whole text is, with the same
values but the lines. A cut that falls inside a string or a nested object gives a text that is not
remembered (none is, that is not an object whole): the event is then read as before. Text is
matched only with equal text: `1`, `1.0` and `true` are other keys. What is kept is bounded like
`_SEEN`: 8,192 lines of at most 512 characters. tests/engine/test_line_texts.py holds this path
equal to the careful one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rules_engine import jsonio
from rules_engine.engine.canonical import _line_text
from rules_engine.engine.events import MAX_LINES, Line
from rules_engine.unvalidated import _FAST

_new = object.__new__
if _FAST:  # the slots' own setters (rules_engine/unvalidated.py checked the layout): module globals here
    from rules_engine.unvalidated import _set_dict, _set_extra, _set_fields, _set_private

_ITEMS = '"items": [{'
_KEPT = 8192
_LONGEST = 512
_SCALARS = frozenset({str, int, bool, type(None)})
"""The attribute values a remembered line may hold (besides Decimal): immutable, so the `Line`s
made from one entry share them; each gets its own attributes dict."""

# A line's text between its braces -> its `Line`'s values but the attributes, its attributes
# (None: none given), its fields given, its canonical text, and the keys of its object and attributes.
_TEXTS: dict[str, tuple[dict[str, Any], dict[str, Any] | None, Any, str, int]] = {}


class KnownLines:
    """The lines of a purchase found by their texts, for `reader.read_json_event` in place of the
    `items` data: the `Line`s made, their canonical texts, and their keys (`reader.read_lines`)."""

    __slots__ = ("keys", "lines", "texts")

    def __init__(self, lines: list[Line], texts: list[str], keys: int) -> None:
        self.lines = lines
        self.texts = texts
        self.keys = keys


def cut(text: str) -> tuple[int, int, list[str]] | None:
    """Where a purchase's lines start and end in its text (the first line's `{`, the last one's
    `}`) and each line's text between its braces, cut at `}, {` and at the first `}]`; None for a
    text whose `items` are not written so, that names `"items"` twice (the one cut might be
    nested), or that holds more lines than a purchase may.

    A few C calls, linear in the text whatever it holds (the cut itself one `split`, of at most
    `MAX_LINES` + 1 parts): looking for each `}, {` from Python cost half of reading the rest."""
    start = text.find(_ITEMS)
    if start < 0 or text.count('"items"') != 1:
        return None
    first = start + len(_ITEMS) - 1
    close = text.find("}]", first)
    if close < 0:
        return None
    pieces = text[first + 1 : close].split("}, {", MAX_LINES)
    return None if len(pieces) > MAX_LINES else (first, close, pieces)


def known(pieces: list[str]) -> KnownLines | None:
    """The lines of these texts, made anew (as the reader makes them), if every text is known."""
    if not _FAST:
        return None
    lines = []
    texts = []
    keys = 0
    get = _TEXTS.get
    for piece in pieces:
        found = get(piece)
        if found is None:
            return None
        values, attributes, given, written, count = found
        line = _new(Line)
        values = values.copy()
        values["attributes"] = {} if attributes is None else attributes.copy()
        _set_dict(line, values)
        _set_fields(line, given)
        _set_extra(line, None)
        _set_private(line, None)
        lines.append(line)
        texts.append(written)
        keys += count
    return KnownLines(lines, texts, keys)


def remember(pieces: list[str], lines: list[Line], texts: list[str] | None) -> None:
    """Remember the `Line`s a purchase's text was read into by their texts `pieces` (as `cut`
    found them, without their braces), with their canonical texts (`texts`, or written here):
    each piece that the C scanner reads, in braces, as one whole object with as many keys as its
    text writes (`":`), attributes of scalars only."""
    if len(pieces) != len(lines) or not _FAST:
        return
    decode = jsonio.raw_decoder()
    for at, (piece, line) in enumerate(zip(pieces, lines, strict=True)):
        if len(piece) > _LONGEST or piece in _TEXTS:
            continue
        try:
            data, end = decode("{" + piece + "}", 0)
        except Exception:  # not one value: cut inside a string or a nested object
            continue
        if end != len(piece) + 2 or type(data) is not dict:
            continue
        values = dict(line.__dict__)
        attributes = values.pop("attributes")
        keys = len(data)
        if "attributes" in data:
            if type(data["attributes"]) is not dict:
                continue
            keys += len(data["attributes"])
            kinds = set(map(type, attributes.values()))
            if not _SCALARS.issuperset(kinds - {Decimal}):
                continue
        else:
            attributes = None
        if piece.count('":') != keys:  # a key given twice, a string starting with a colon
            continue
        written = _line_text(line) if texts is None else texts[at]
        if len(_TEXTS) >= _KEPT:
            _TEXTS.clear()
        _TEXTS[piece] = (values, attributes, line.__pydantic_fields_set__, written, keys)
