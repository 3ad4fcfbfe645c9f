"""The source map: where each node of a loaded program, and each character of a scalar, sits in the file.

The loader builds a `SourceMap` as it reads (`loader.load_yaml` returns it with the data). Given a
`NodePath` (`("earn", 0, "when")`, as jsonschema's `absolute_path` and pydantic's `loc` spell it),
it gives the node's `Span`, or its key's; given an expression scalar's path, an `Origin` that maps
each character of the loaded string back to the offset it was written at, whatever the scalar's
style (plain, quoted with escapes, folded, block), so a condition's diagnostics land on the right
column of the file.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from yaml.scanner import Scanner

from rules_engine.source import Origin, SourceFile, Span

NodePath = tuple[Hashable, ...]
"""A path into the document: mapping keys and list indexes, e.g. `("earn", 0, "when")`.

The one spelling of a place in a program, for the source map, the validation stages and the
compiled program's expressions."""

_BREAKS = "\r\n\x85\u2028\u2029"  # what PyYAML's scanner treats as a line break
_ESCAPES = Scanner.ESCAPE_REPLACEMENTS  # `\n`, `\"`, … in double quotes: PyYAML's own tables
_HEX_ESCAPES = Scanner.ESCAPE_CODES  # `\x`, `\u`, `\U` and their number of hex digits


@dataclass(frozen=True, slots=True)
class Scalar:
    """What `origin` needs to map a scalar's loaded text back to its characters in the file."""

    value: str  # the scalar's text as loaded, before resolution to a number, boolean or null
    style: str | None  # None (plain), "'", '"', "|" or ">"
    start: int  # the scalar token itself: after any tag, at the opening quote or `|`
    end: int
    indent: int  # the scanner's indentation when it met a block scalar (`|`, `>`)


@dataclass(frozen=True, slots=True)
class Node:
    """Where one node of the document sits: its span, its key's span, and its scalar token if any."""

    start: int
    end: int
    key: tuple[int, int] | None  # the mapping key's span, for values in a mapping
    scalar: Scalar | None


@dataclass(frozen=True)
class SourceMap:
    """Where each node of a loaded document sits in its file; immutable once built.

    Paths are tuples of mapping keys and list indexes: `()` is the top-level mapping,
    `("earn", 0, "when")` the `when` of the first `earn` rule.
    """

    file: SourceFile
    _nodes: Mapping[NodePath, Node] = field(repr=False)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, tuple | list) and tuple(path) in self._nodes

    def paths(self) -> Iterator[NodePath]:
        """Every node's path in document order, a mapping or list before what it holds."""
        return iter(sorted(self._nodes, key=lambda path: (self._nodes[path].start, len(path))))

    def span(self, path: Iterable[Hashable]) -> Span:
        """The span of the value at `path`.

        For a path that is not in the document (a missing field, or a path through one), the
        span of the nearest existing ancestor's key — or of the ancestor itself if it has no
        key, like a list item — so "missing field `rate`" points at the rule that lacks it.
        The empty path, and anything below a missing top-level field, gets an empty span at
        the start of the document's content.
        """
        path = _as_path(path)
        for length in range(len(path), 0, -1):
            node = self._nodes.get(path[:length])
            if node is None:
                continue
            if length < len(path) and node.key is not None:
                return Span(self.file, *node.key)
            return Span(self.file, node.start, node.end)
        root = self._nodes.get(())
        start = root.start if root else 0
        return Span(self.file, start, start)

    def key_span(self, path: Iterable[Hashable]) -> Span | None:
        """The span of the mapping key that holds `path`'s value; None for list items and the root."""
        node = self._nodes.get(_as_path(path))
        if node is None or node.key is None:
            return None
        return Span(self.file, *node.key)

    def origin(self, path: Iterable[Hashable]) -> Origin:
        """Map each character of the scalar at `path`, as loaded, to the file offset it came from.

        Exact for every scalar style: plain and quoted scalars fold line breaks into spaces,
        `''` is one quote in single quotes, an escape like `\\"` or `\\u00e9` in double quotes
        maps to its backslash, and a block scalar's lines lose their indentation. The table has
        one entry per character plus one for the offset just past the value.

        Raises:
            KeyError: if there is no scalar at `path`.
        """
        node = self._nodes.get(_as_path(path))
        if node is None or node.scalar is None:
            raise KeyError(f"no scalar at {list(_as_path(path))}")
        offsets = _offsets(self.file.text, node.scalar)
        return Origin(self.file, offsets[0], offsets)


def _as_path(path: Iterable[Hashable]) -> NodePath:
    return path if isinstance(path, tuple) else tuple(path)


# -- origins: each character of a scalar's text → its offset in the file -------------------------------
#
# These re-trace PyYAML's scanner (scan_plain, scan_flow_scalar, scan_block_scalar and their
# helpers) over the scalar's own characters, noting where each character of the value comes
# from. The result is checked against the value PyYAML produced; if a case is ever missed, a
# greedy alignment keeps the table usable (every character still maps into the scalar).


class _Trace:
    def __init__(self, text: str, empty_at: int) -> None:
        self.text = text
        self.chars: list[str] = []
        self.starts: list[int] = []
        self.end = empty_at

    def char(self, i: int) -> str:
        return self.text[i] if i < len(self.text) else "\0"

    def add(self, value: str, start: int, end: int) -> None:
        for ch in value:
            self.chars.append(ch)
            self.starts.append(start)
        if value:
            self.end = end

    def line_break(self, i: int) -> tuple[str, int, int]:
        """(what the break loads as, the offset that stands for it, the offset after it)."""
        ch = self.char(i)
        if ch in "\r\n\x85":
            if self.text.startswith("\r\n", i):
                return "\n", i + 1, i + 2
            return "\n", i, i + 1
        if ch in "\u2028\u2029":
            return ch, i, i + 1
        return "", i, i

    def add_break(self, found: tuple[str, int, int]) -> None:
        self.add(found[0], found[1], found[2])

    def fold(self, first: tuple[str, int, int], breaks: list[tuple[str, int, int]]) -> None:
        """YAML line folding: one break becomes a space, more keep all but the first."""
        if first[0] != "\n":
            self.add_break(first)
        elif not breaks:
            self.add(" ", first[1], first[2])
        for found in breaks:
            self.add_break(found)


def _offsets(text: str, scalar: Scalar) -> tuple[int, ...]:
    if scalar.style in ("'", '"'):
        trace = _trace_quoted(text, scalar)
    elif scalar.style in ("|", ">"):
        trace = _trace_block(text, scalar)
    else:
        trace = _trace_plain(text, scalar)
    if "".join(trace.chars) != scalar.value:
        trace = _align(text, scalar)
    return (*trace.starts, trace.end)


def _trace_plain(text: str, scalar: Scalar) -> _Trace:
    trace = _Trace(text, scalar.start)
    i, end = scalar.start, scalar.end
    while i < end:
        if text[i] != " " and text[i] not in _BREAKS:
            trace.add(text[i], i, i + 1)
            i += 1
            continue
        j = i
        while j < end and text[j] == " ":
            j += 1
        if j < end and text[j] in _BREAKS:
            first = trace.line_break(j)
            k, breaks = first[2], []
            while k < end and (text[k] == " " or text[k] in _BREAKS):
                if text[k] == " ":
                    k += 1
                else:
                    breaks.append(trace.line_break(k))
                    k = breaks[-1][2]
            trace.fold(first, breaks)
            i = k
        else:
            for p in range(i, j):
                trace.add(" ", p, p + 1)
            i = j
    return trace


def _trace_quoted(text: str, scalar: Scalar) -> _Trace:
    double = scalar.style == '"'
    quote = text[scalar.start]
    trace = _Trace(text, scalar.start + 1)

    def breaks_from(k: int) -> tuple[list[tuple[str, int, int]], int]:
        found = []
        while True:
            while trace.char(k) in " \t":
                k += 1
            if trace.char(k) in _BREAKS:
                found.append(trace.line_break(k))
                k = found[-1][2]
            else:
                return found, k

    def non_spaces(i: int) -> int:
        while True:
            while trace.char(i) not in "'\"\\\0 \t" + _BREAKS:
                trace.add(text[i], i, i + 1)
                i += 1
            ch = trace.char(i)
            if not double and ch == "'" and trace.char(i + 1) == "'":
                trace.add("'", i, i + 2)
                i += 2
            elif (double and ch == "'") or (not double and ch in '"\\'):
                trace.add(ch, i, i + 1)
                i += 1
            elif double and ch == "\\":
                code = trace.char(i + 1)
                if code in _ESCAPES:
                    trace.add(_ESCAPES[code], i, i + 2)
                    i += 2
                elif code in _HEX_ESCAPES:
                    length = _HEX_ESCAPES[code]
                    trace.add(chr(int(text[i + 2 : i + 2 + length], 16)), i, i + 2 + length)
                    i += 2 + length
                elif code in _BREAKS:
                    found, i = breaks_from(trace.line_break(i + 1)[2])
                    for item in found:
                        trace.add_break(item)
                else:
                    return i
            else:
                return i

    def spaces(i: int) -> int:
        j = i
        while trace.char(j) in " \t":
            j += 1
        if trace.char(j) in _BREAKS:
            first = trace.line_break(j)
            found, k = breaks_from(first[2])
            trace.fold(first, found)
            return k
        for p in range(i, j):
            trace.add(text[p], p, p + 1)
        return j

    i = non_spaces(scalar.start + 1)
    while i < scalar.end - 1 and trace.char(i) != quote:
        before = i
        i = non_spaces(spaces(i))
        if i == before:
            break  # not a scalar this tracer understands; the caller falls back
    return trace


def _trace_block(text: str, scalar: Scalar) -> _Trace:
    trace = _Trace(text, scalar.end)
    folded = scalar.style == ">"
    i = scalar.start + 1
    chomping: bool | None = None
    increment: int | None = None
    for _ in range(2):  # the indicators, in either order
        ch = trace.char(i)
        if ch in "+-" and chomping is None:
            chomping = ch == "+"
            i += 1
        elif ch in "123456789" and increment is None:
            increment = int(ch)
            i += 1
    while trace.char(i) == " ":
        i += 1
    if trace.char(i) == "#":
        while trace.char(i) not in "\0" + _BREAKS:
            i += 1
    i = trace.line_break(i)[2]
    line_start = i

    def column(at: int) -> int:
        return at - line_start

    min_indent = max(scalar.indent + 1, 1)
    breaks: list[tuple[str, int, int]] = []
    if increment is None:
        max_indent = 0
        while trace.char(i) in " " + _BREAKS:
            if trace.char(i) != " ":
                breaks.append(trace.line_break(i))
                i = line_start = breaks[-1][2]
            else:
                i += 1
                max_indent = max(max_indent, column(i))
        indent = max(min_indent, max_indent)
    else:
        indent = min_indent + increment - 1

    def skip_breaks(at: int) -> tuple[list[tuple[str, int, int]], int]:
        nonlocal line_start
        found = []
        while column(at) < indent and trace.char(at) == " ":
            at += 1
        while trace.char(at) in _BREAKS:
            found.append(trace.line_break(at))
            at = line_start = found[-1][2]
            while column(at) < indent and trace.char(at) == " ":
                at += 1
        return found, at

    if increment is not None:
        breaks, i = skip_breaks(i)
    last_break: tuple[str, int, int] = ("", i, i)
    while column(i) == indent and trace.char(i) != "\0":
        for item in breaks:
            trace.add_break(item)
        leading_non_space = trace.char(i) not in " \t"
        j = i
        while trace.char(j) not in "\0" + _BREAKS:
            j += 1
        for p in range(i, j):
            trace.add(text[p], p, p + 1)
        last_break = trace.line_break(j)
        if last_break[0]:
            line_start = last_break[2]
        breaks, i = skip_breaks(last_break[2])
        if column(i) == indent and trace.char(i) != "\0":
            if folded and last_break[0] == "\n" and leading_non_space and trace.char(i) not in " \t":
                if not breaks:
                    trace.add(" ", last_break[1], last_break[2])
            else:
                trace.add_break(last_break)
        else:
            break
    if chomping is not False:
        trace.add_break(last_break)
    if chomping is True:
        for item in breaks:
            trace.add_break(item)
    return trace


def _align(text: str, scalar: Scalar) -> _Trace:
    """Fallback: map each character to its next occurrence in the scalar's text, in order."""
    trace = _Trace(text, scalar.start)
    at = scalar.start
    for ch in scalar.value:
        found = text.find(ch, at, scalar.end)
        if found < 0:
            found = min(at, max(scalar.start, scalar.end - 1))
        trace.add(ch, found, found + 1)
        at = max(at, found + 1)
    return trace
