"""An event's JSON text read into its model in one go: `parse_event(jsonio.loads(text))` for less.

`loyalty run` and the service's events route read each event from its JSON text. `jsonio.loads`
calls a Python hook on every object of the text to refuse a key given twice, which costs about
as much as the C scanner's own reading of the text; here the text is read by the C scanner alone
(`jsonio.loads_counting_keys`), the event built by the fast reader (engine/reader.py), and the
keys of its objects counted against the keys written in the text. A purchase whose basket lines
were all read before, written the same, is cheaper still: its lines are found by their texts
(engine/line_texts.py) and only the rest of its text is scanned. Anything else is read the
careful way, whose event or error is the one given (tests/engine/test_reader_text.py and
tests/engine/test_line_texts.py hold the two equal on generated texts).
"""

from __future__ import annotations

from itertools import chain, repeat
from typing import Any

from rules_engine import jsonio
from rules_engine.engine import canonical, line_texts, reader
from rules_engine.engine.events import AnyEvent, Purchase
from rules_engine.engine.reader import parse_event


def parse_event_text(text: str) -> AnyEvent:
    """`parse_event(jsonio.loads(text))`: the same event, or the same error, for any text; what
    `loyalty run` and the service read an event's JSON with.

    A valid event's text, written as JSON encoders write it, is read by the C scanner alone
    (`jsonio.loads_plain`, its lines known by their texts left out: `line_texts`) and by
    `reader.read_json_event`, and its keys counted here against the text's: no Python hook on
    each object. Anything else (a key given twice, a
    backslash, an event the reader is not sure of) is read again by `jsonio.loads` and
    `parse_event`, whose error is the one raised.

    Raises:
        JsonError: the text is not JSON `jsonio.loads` accepts.
        EventError: RE410, as `parse_event` raises it.
    """
    cut = line_texts.cut(text) if len(text) <= jsonio.MAX_TEXT else None
    if cut is not None:
        found = line_texts.known(cut[2])
        if found is not None:  # every line known by its text: the rest of the text read alone
            first, close, _ = cut
            rest = text[:first] + text[close + 1 :]  # the lines' texts passed `plain` when read
            data = jsonio.loads_plain(rest) if jsonio.plain(rest) else None
            if type(data) is dict and data.get("items") == []:
                data["items"] = found
                event = _read(data, rest.count('":') + found.keys)
                if event is not None:
                    return event
            return parse_event(jsonio.loads(text))
    if not jsonio.plain(text):
        return parse_event(jsonio.loads(text))
    data = jsonio.loads_plain(text)
    if type(data) is dict:
        event = _read(data, text.count('":'), cut)
        if event is not None:
            return event
    return parse_event(jsonio.loads(text))


def _read(data: dict[str, Any], keys: int, cut: tuple[int, int, list[str]] | None = None) -> AnyEvent | None:
    """The event of data the C scanner read, if the fast reader accepts it and its objects hold
    `keys` keys in all (the text's count); its lines remembered by their texts (`cut`'s)."""
    event = reader.read_json_event(data)
    if event is None:
        return None
    # a purchase's lines' keys counted as they were read, and their texts for its digest
    lines = reader.read_lines() if type(event) is Purchase else None
    counted = _keys(data) if lines is None else _keys(data, lines[1])
    if counted != keys:
        return None
    if lines is not None:
        canonical.carry(event, lines[0])
    if cut is not None and type(event) is Purchase:
        line_texts.remember(cut[2], event.items, None if lines is None else lines[0])
    return event


def _keys(data: dict[str, Any], lines: int | None = None) -> int | None:
    """How many keys the objects of an event's data hold, all of them, for data `read_event`
    accepted; None if it may nest deeper than `jsonio.MAX_DEPTH` (which `jsonio.loads` refuses).
    `lines`: the keys of the lines' objects and their attributes, when the reader counted them
    (`reader.read_lines`: attributes of text only), which are then not walked again.

    Such data holds objects only where the reader knows: the event, its lines, and the attributes
    of both, whose values alone may be objects and arrays nested further (walked by `_nested_keys`
    then, as if at the depth of a line's attributes, the deepest). Counted with C calls over the
    lines, as the reader already checked each one."""
    count = len(data)
    attributes = [value for value in (data.get("attributes"), data.get("basket_attributes")) if value]
    if lines is not None:
        count += lines
        if not attributes:
            return count
    items = None if lines is not None else data.get("items")
    if items is not None:
        count += sum(map(len, items))
        attributes += filter(None, map(dict.get, items, repeat("attributes")))
    if not attributes:
        return count
    count += sum(map(len, attributes))
    values = list(chain.from_iterable(map(dict.values, attributes)))
    kinds = set(map(type, values))
    if dict in kinds or list in kinds:
        nested = _nested_keys([value for value in values if type(value) in _CONTAINERS], 5)
        return None if nested is None else count + nested
    return count


_CONTAINERS = (dict, list)


def _nested_keys(level: list[Any], depth: int) -> int | None:
    """The keys of the objects and arrays in `level`, which sit at `depth`, and of those within
    them; None if any nests deeper than `jsonio.MAX_DEPTH`. A level at a time, without recursion."""
    count = 0
    while level:
        if depth > jsonio.MAX_DEPTH:
            return None
        deeper = []
        for container in level:
            if type(container) is dict:
                count += len(container)
                container = container.values()
            deeper += [value for value in container if type(value) in _CONTAINERS]
        level = deeper
        depth += 1
    return count
