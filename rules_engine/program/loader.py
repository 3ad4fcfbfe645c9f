"""YAML text → (plain data, `SourceMap`): the first stage of loading a program.

Input is the text of one program file (`load_yaml(text, name)`, or `load_file(path)`). Output is
plain data — `dict`, `list`, `str`, `int`, `Decimal`, `bool`, `None` — and a `SourceMap` that
turns any path into the document (`("earn", 0, "when")`, as jsonschema's `absolute_path` and
pydantic's `loc` spell them) into a `Span` of the file, and any expression scalar into an
`Origin` that maps the loaded string back to the characters it was written as.

Why not `yaml.safe_load`: PyYAML implements YAML 1.1, where `country: NO` loads as False, `on:`
as True, `yes`/`off` as booleans, `2026-12-01` as a `date`, `007` as octal, and a repeated key
silently overwrites the first. Marketers hit all of these. And `19.99` would be a binary float,
which money must never pass through. So values are resolved like the YAML 1.2 core schema
instead: only `true`/`false` (three spellings each) are booleans, `null`/`~`/nothing is null,
numbers are written one way, digits with an optional sign and decimal part (`42`, `-3`,
`19.99`: an `int`, or a `Decimal` with a fraction), `.inf` and `.nan` are refused, and
everything else — dates included — stays text for the model to parse. Numerals with leading
zeros (`007`, `01234`) stay text too: they are codes, not numbers; so do `1e3`, `0x1F`, `0o17`
and `.5`, which docs/dsl.md does not allow in expressions either. A lone UTF-16 surrogate
(`"caf\\ud800"`) is refused (RE101).

What is refused, all reported at once (YamlSyntaxError, codes RE10x): duplicate keys (RE102);
anchors, aliases and merge keys (RE103, which also rules out alias bombs); tags beyond the
standard `!!str`/`!!int`/… (RE101); more than one document (RE101); files over 1 MiB or nested
deeper than 64 levels (RE104, checked before parsing and while parsing, never by recursing);
a top level that is not a mapping (RE106). Malformed YAML stops at the first error (RE101), with
the problem in plain words and a hint; unreadable files are RE105.

Data and source map are built in one pass over PyYAML's parse events with an explicit stack,
rather than through the Composer and Constructor, which recurse once per nesting level.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, DefaultContext
from types import MappingProxyType
from typing import Any, NoReturn

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)
from yaml.reader import ReaderError
from yaml.scanner import Scanner
from yaml.tokens import ScalarToken

from rules_engine.errors import Diagnostic, YamlSyntaxError
from rules_engine.source import Origin, SourceFile, Span

MAX_CHARS = 1_048_576
"""Program files are limited to 1 MiB of text, checked before parsing."""

MAX_DEPTH = 64
"""Mappings and lists may nest at most this deep."""

NodePath = tuple[Hashable, ...]
"""A path into the document: mapping keys and list indexes, e.g. `("earn", 0, "when")`."""

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + name for name in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ = _TAG + "map", _TAG + "seq"

# The YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1023-core-schema) with one rule for
# numbers, the one docs/dsl.md gives for expressions: digits, an optional sign and decimal part.
# Everything else that YAML would make a number stays text: `010` (a code), `1e3`, `0x1F`, `0o17`,
# `.5`, `5.`. Order matters: a numeral that is an int is not also a float.
_NULL_TEXT = re.compile(r"~|null|Null|NULL|")
_BOOL_TEXT = re.compile(r"true|True|TRUE|false|False|FALSE")
_INT_TEXT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT_TEXT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\.[0-9]+")
_NUMBER_TEXT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")  # for an explicit `!!float 1`
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_CORE_SCHEMA = (
    (_NULL, _NULL_TEXT),
    (_BOOL, _BOOL_TEXT),
    (_INT, _INT_TEXT),
    (_FLOAT, _FLOAT_TEXT),
    (_FLOAT, _NOT_FINITE),
)

_BREAKS = "\r\n\x85\u2028\u2029"  # what PyYAML's scanner treats as a line break
_ESCAPES = Scanner.ESCAPE_REPLACEMENTS  # `\n`, `\"`, … in double quotes: PyYAML's own tables
_HEX_ESCAPES = Scanner.ESCAPE_CODES  # `\x`, `\u`, `\U` and their number of hex digits

_ALIAS_HINT = "write the value out again where it is needed (program `constants` can name a single value)"


# -- public API -----------------------------------------------------------------------------------


def load_yaml(text: str, name: str = "<program>") -> tuple[Any, SourceMap]:
    """Load one program's YAML text.

    Args:
        text: the file's text.
        name: the file name diagnostics show (also the `SourceFile` name).

    Returns:
        The top-level mapping as plain data, and the source map of every node in it.

    Raises:
        YamlSyntaxError: with every problem the loader can find (codes RE101–RE106); a YAML
            syntax error ends the search, so it is the last one reported.
    """
    file = SourceFile(name, text)
    if len(text) > MAX_CHARS:
        raise YamlSyntaxError(
            [
                Diagnostic(
                    "RE104",
                    f"the file is {len(text):,} characters long; program files are limited to 1 MiB",
                    Span(file, 0, 0),
                    "keep data such as product lists out of the program, or split it into programs",
                )
            ]
        )
    return _Builder(file).build()


def load_file(path: str | os.PathLike[str]) -> tuple[Any, SourceMap]:
    """Read a UTF-8 file and `load_yaml` it; the path, as given, names the file in diagnostics.

    Raises:
        YamlSyntaxError: RE105 if the file cannot be read or is not UTF-8, otherwise as `load_yaml`.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(4 * MAX_CHARS + 1)  # UTF-8 takes at most 4 bytes a character
    except OSError as error:
        reason = (error.strerror or type(error).__name__).lower()
        hint = {
            FileNotFoundError: "check the path; a relative path starts at the current directory",
            IsADirectoryError: "name a .yaml file, not a folder",
            PermissionError: "check that you may read the file",
        }.get(type(error))
        raise YamlSyntaxError([Diagnostic("RE105", f"cannot read {name}: {reason}", None, hint)]) from None
    if len(data) > 4 * MAX_CHARS:
        raise YamlSyntaxError(
            [Diagnostic("RE104", f"{name} is larger than 4 MiB; program files are limited to 1 MiB of text")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        file = SourceFile(name, data.decode("utf-8-sig", errors="replace"))
        at = len(data[: error.start].decode("utf-8-sig", errors="replace"))
        raise YamlSyntaxError(
            [
                Diagnostic(
                    "RE105",
                    f"the file is not UTF-8 text (byte 0x{data[error.start]:02X} here)",
                    Span(file, at, at + 1),
                    "save the file with UTF-8 encoding (editors offer it in 'Save as' or the status bar)",
                )
            ]
        ) from None
    return load_yaml(text, name)


@dataclass(frozen=True, slots=True)
class _Scalar:
    """What `origin` needs to map a scalar's loaded text back to its characters in the file."""

    value: str  # the scalar's text as loaded, before resolution to a number, boolean or null
    style: str | None  # None (plain), "'", '"', "|" or ">"
    start: int  # the scalar token itself: after any tag, at the opening quote or `|`
    end: int
    indent: int  # the scanner's indentation when it met a block scalar (`|`, `>`)


@dataclass(frozen=True, slots=True)
class _Node:
    start: int
    end: int
    key: tuple[int, int] | None  # the mapping key's span, for values in a mapping
    scalar: _Scalar | None


@dataclass(frozen=True)
class SourceMap:
    """Where each node of a loaded document sits in its file; immutable once built.

    Paths are tuples of mapping keys and list indexes: `()` is the top-level mapping,
    `("earn", 0, "when")` the `when` of the first `earn` rule.
    """

    file: SourceFile
    _nodes: Mapping[NodePath, _Node] = field(repr=False)

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


# -- reading: PyYAML's scanner and parser, YAML 1.2 resolution --------------------------------------


class _ProgramLoader(yaml.SafeLoader):
    """PyYAML's pure-Python reader, scanner and parser, resolving scalars like YAML 1.2.

    The pure-Python reader is used on purpose: its marks' `index` counts characters of the
    text, which is what a `Span` holds (libyaml's count differs between versions). It also
    remembers every scalar token, because a parse event's start mark sits on the node's tag
    when there is one, and `origin` needs where the scalar itself begins, and for block
    scalars the indentation the scanner required.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.scalar_tokens: dict[int, _Scalar] = {}  # by end offset, which events share

    def resolve(self, kind: type[yaml.Node], value: str | None, implicit: tuple[bool, bool] | bool) -> str:
        if kind is yaml.SequenceNode:
            return _SEQ
        if kind is yaml.MappingNode:
            return _MAP
        if isinstance(implicit, tuple) and implicit[0] and value is not None:
            return _resolve_plain(value)
        return _STR

    def scan_plain(self) -> ScalarToken:
        return self._remember(super().scan_plain(), self.indent)

    def scan_flow_scalar(self, style: str) -> ScalarToken:
        return self._remember(super().scan_flow_scalar(style), self.indent)

    def scan_block_scalar(self, style: str) -> ScalarToken:
        indent = self.indent
        return self._remember(super().scan_block_scalar(style), indent)

    def _remember(self, token: ScalarToken, indent: int) -> ScalarToken:
        start, end = token.start_mark.index, token.end_mark.index
        self.scalar_tokens[end] = _Scalar(token.value, token.style, start, end, indent)
        return token


def resolves_to_text(plain: str) -> bool:
    """Whether `plain`, written unquoted, loads as text (not a number, boolean or null)."""
    return _resolve_plain(plain) == _STR


def resolves_to_number(plain: str) -> bool:
    """Whether `plain`, written unquoted, loads as a number."""
    return _resolve_plain(plain) in (_INT, _FLOAT) and not _NOT_FINITE.fullmatch(plain)


def _resolve_plain(value: str) -> str:
    for tag, pattern in _CORE_SCHEMA:
        if pattern.fullmatch(value):
            return tag
    return _STR


class _RefusedError(Exception):
    """A scalar the loader will not turn into a value; becomes a diagnostic at the scalar."""

    def __init__(self, code: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def _construct(tag: str, text: str) -> Any:
    """The value of a scalar with a (resolved or explicit) standard tag."""
    if _SURROGATE.search(text):  # "caf\ud800": no character, and a crash wherever it is printed
        raise _RefusedError(
            "RE101",
            "a lone UTF-16 surrogate (\\ud800 to \\udfff without its pair) is not a character",
            "write the character itself (in double quotes, \\U and eight hex digits also do)",
        )
    if tag == _STR:
        return text
    if tag == _FLOAT and _NOT_FINITE.fullmatch(text):
        raise _RefusedError(
            "RE101",
            f"`{text}` is not a number a program may use",
            "write a number, or leave the field out",
        )
    pattern = {_NULL: _NULL_TEXT, _BOOL: _BOOL_TEXT, _INT: _INT_TEXT, _FLOAT: _NUMBER_TEXT}[tag]
    if not pattern.fullmatch(text):
        raise _RefusedError("RE101", f"`{text}` is not a valid `{_show_tag(tag)}`", "remove the tag")
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return text.lower() == "true"
    if tag == _INT:
        try:
            return int(text)
        except ValueError:  # over Python's 4300-digit limit for int()
            raise _RefusedError("RE104", "this number is too long", "write a shorter number") from None
    number = Decimal(text)
    if not DefaultContext.Emin <= number.adjusted() <= DefaultContext.Emax:
        raise _RefusedError("RE104", f"`{text}` is out of range", "write a number of a sensible size")
    return number


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


# -- building data and source map from parse events -------------------------------------------------


@dataclass(slots=True)
class _Frame:
    """A mapping or list being built."""

    path: NodePath | None  # None inside something that is not kept (a complex key, a duplicate)
    start: int
    end: int
    flow: bool
    fields: dict[Hashable, Any] | None = None
    items: list[Any] | None = None
    merge_value: bool = False  # the value of a `<<` key, already reported
    # A mapping alternates key and value; between them it remembers the key.
    awaiting_key: bool = True
    key: Hashable = None
    key_ok: bool = False
    key_span: tuple[int, int] | None = None
    key_is_merge: bool = False
    seen: dict[Hashable, int] = field(default_factory=dict)


class _Builder:
    """One load: walks the parse events once, building data, source map and diagnostics."""

    def __init__(self, file: SourceFile) -> None:
        self.file = file
        self.text = file.text
        self.diagnostics: list[Diagnostic] = []
        self.nodes: dict[NodePath, _Node] = {}
        self.stack: list[_Frame] = []
        self.anchors: set[str] = set()
        self.root: Any = None
        self.documents = 0

    def build(self) -> tuple[Any, SourceMap]:
        try:
            loader = _ProgramLoader(self.text)
        except ReaderError as error:
            self.stop(_unprintable(self.file, error))
        try:
            self.walk(loader)
        except yaml.MarkedYAMLError as error:
            self.stop(_syntax_diagnostic(self.file, error))
        except ReaderError as error:
            self.stop(_unprintable(self.file, error))
        finally:
            loader.dispose()
        if not isinstance(self.root, dict):
            span = self.span(())
            message, hint = _not_a_mapping(self.root, empty=span.start == span.end)
            self.report("RE106", message, span, hint)
        if self.diagnostics:
            raise YamlSyntaxError(sorted(self.diagnostics, key=_position))
        return self.root, SourceMap(self.file, MappingProxyType(self.nodes))

    def walk(self, loader: _ProgramLoader) -> None:
        while True:
            event: Event = loader.get_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
            if isinstance(event, StreamEndEvent):
                return
            if isinstance(event, DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    at = _index(event.start_mark)
                    self.stop(
                        Diagnostic(
                            "RE101",
                            "a second YAML document starts here",
                            Span(self.file, at, at + 3 if self.text.startswith("---", at) else at),
                            "one program per file: move the rest into a file of its own",
                        )
                    )
            elif isinstance(event, ScalarEvent):
                self.scalar(event, loader)
            elif isinstance(event, AliasEvent):
                self.alias(event)
            elif isinstance(event, CollectionStartEvent):
                self.open(event)
            elif isinstance(event, MappingEndEvent | SequenceEndEvent):
                self.close(_index(event.end_mark))

    # -- events

    def scalar(self, event: ScalarEvent, loader: _ProgramLoader) -> None:
        start, end = _index(event.start_mark), _index(event.end_mark)
        self.check_anchor(event)
        token = loader.scalar_tokens.get(end)
        if token is None or token.value != event.value or token.style != event.style:
            token = _Scalar(event.value, None, end, end, 0)  # an empty scalar: no token
        tag = event.tag
        if tag is None:
            tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        value = event.value
        if tag not in (_STR, _INT, _FLOAT, _BOOL, _NULL):
            self.refuse_tag(tag, start)
        else:
            try:
                value = _construct(tag, event.value)
            except _RefusedError as refused:
                self.report(refused.code, refused.message, Span(self.file, start, end), refused.hint)
        plain_merge = event.style is None and event.tag is None and event.value == "<<"
        self.finish(value, start, end, self.place(), token, kind="merge" if plain_merge else "scalar")

    def alias(self, event: AliasEvent) -> None:
        start, end = _index(event.start_mark), _index(event.end_mark)
        parent = self.stack[-1] if self.stack else None
        under_merge = parent is not None and (
            parent.merge_value
            or (parent.fields is not None and not parent.awaiting_key and parent.key_is_merge)
        )
        if not under_merge:
            name = event.anchor or ""
            hint = _ALIAS_HINT
            if name not in self.anchors:
                hint = f"if `*{name}` is text, quote it: '*{name}'"
            self.report(
                "RE103", "aliases are not supported in program files", Span(self.file, start, end), hint
            )
        self.finish(None, start, end, self.place(), None, kind="alias")

    def open(self, event: CollectionStartEvent) -> None:
        start = _index(event.start_mark)
        if len(self.stack) >= MAX_DEPTH:
            self.stop(
                Diagnostic(
                    "RE104",
                    f"mappings and lists are nested more than {MAX_DEPTH} levels deep",
                    Span(self.file, start, start + 1),
                    "a program needs only a few levels; look for a runaway `[`, `{` or indentation",
                )
            )
        self.check_anchor(event)
        wanted = _MAP if isinstance(event, MappingStartEvent) else _SEQ
        if event.tag is not None and event.tag != wanted:
            self.refuse_tag(event.tag, start)
        parent = self.stack[-1] if self.stack else None
        merge_value = parent is not None and parent.fields is not None and parent.key_is_merge
        frame = _Frame(self.place(), start, start, bool(event.flow_style), merge_value=merge_value)
        if isinstance(event, MappingStartEvent):
            frame.fields = {}
        else:
            frame.items = []
        self.stack.append(frame)

    def close(self, end: int) -> None:
        frame = self.stack.pop()
        if not frame.flow:  # a block collection's end mark is at the next token, past comments
            end = frame.end
        value = frame.fields if frame.fields is not None else frame.items
        self.finish(value, frame.start, end, frame.path, None, kind="collection")

    # -- placing nodes

    def place(self) -> NodePath | None:
        """The path the next node will have, or None if it is a key or will not be kept."""
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if parent.path is None:
            return None
        if parent.items is not None:
            return (*parent.path, len(parent.items))
        if parent.awaiting_key or not parent.key_ok:
            return None
        return (*parent.path, parent.key)

    def finish(
        self, value: Any, start: int, end: int, path: NodePath | None, scalar: _Scalar | None, kind: str
    ) -> None:
        """A node is complete: store it in its parent (as an item, key or value) and the map."""
        if not self.stack:
            self.root = value
            self.nodes[()] = _Node(start, end, None, scalar)
            return
        parent = self.stack[-1]
        parent.end = max(parent.end, end)
        if parent.items is not None:
            parent.items.append(value)
            if path is not None:
                self.nodes[path] = _Node(start, end, None, scalar)
            return
        assert parent.fields is not None
        if parent.awaiting_key:
            self.take_key(parent, value, start, end, kind)
            parent.awaiting_key = False
            return
        if path is not None:
            self.nodes[path] = _Node(start, end, parent.key_span, scalar)
        if parent.key_ok:
            parent.fields[parent.key] = value
        parent.awaiting_key, parent.key_ok, parent.key_is_merge = True, False, False

    def take_key(self, frame: _Frame, key: Any, start: int, end: int, kind: str) -> None:
        frame.key_span, frame.key, frame.key_ok = (start, end), None, False
        span = Span(self.file, start, end)
        if kind == "collection":
            self.report(
                "RE101",
                "a mapping key must be a single name, not a list or a mapping",
                span,
                "write `field: value`; lists and mappings go after the colon",
            )
        elif kind == "merge":
            frame.key_is_merge = True
            self.report("RE103", "merge keys (`<<`) are not supported in program files", span, _ALIAS_HINT)
        elif kind == "scalar":
            if key in frame.seen:
                line, _ = self.file.position(frame.seen[key])
                shown = _shorten(self.text[start:end])
                self.report(
                    "RE102",
                    f"duplicate key `{shown}`",
                    span,
                    f"`{shown}` is already set on line {line}; remove or rename one of them",
                )
            else:
                frame.seen[key] = start
                frame.key, frame.key_ok = key, True

    # -- diagnostics

    def check_anchor(self, event: NodeEvent) -> None:
        if event.anchor is None:
            return
        self.anchors.add(event.anchor)
        start = self.text.find("&", _index(event.start_mark))
        self.report(
            "RE103",
            f"anchors (`&{event.anchor}`) are not supported in program files",
            Span(self.file, start, start + 1 + len(event.anchor)),
            _ALIAS_HINT,
        )

    def refuse_tag(self, tag: str, node_start: int) -> None:
        start = self.text.find("!", node_start)
        end = start
        while end < len(self.text) and not self.text[end].isspace():
            end += 1
        if tag in (_STR, _INT, _FLOAT, _BOOL, _NULL, _MAP, _SEQ):
            message = f"the tag `{_show_tag(tag)}` does not fit this value"
        else:
            message = f"the tag `{_show_tag(tag)}` is not supported in program files"
        hint = "remove the tag; values are read as text, numbers, true/false or null by how they look"
        self.report("RE101", message, Span(self.file, start, end), hint)

    def span(self, path: NodePath) -> Span:
        node = self.nodes.get(path)
        if node is None:
            at = len(self.text) - len(self.text.lstrip())
            return Span(self.file, at, at)
        return Span(self.file, node.start, node.end)

    def report(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint))

    def stop(self, diagnostic: Diagnostic) -> NoReturn:
        raise YamlSyntaxError([*sorted(self.diagnostics, key=_position), diagnostic])


def _index(mark: Any) -> int:
    assert mark is not None
    index: int = mark.index
    return index


def _position(diagnostic: Diagnostic) -> int:
    return diagnostic.span.start if diagnostic.span else 0


def _shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not_a_mapping(root: Any, empty: bool) -> tuple[str, str]:
    if root is None:
        what = "is empty" if empty else "holds only `null`"
    elif isinstance(root, list):
        what = "holds a list"
    else:
        what = "holds a single value"
    return (
        f"a program file is a mapping of fields (`name: value` lines), but this file {what}",
        "start with the program's fields, e.g. `program: coffee-club`",
    )


# -- YAML syntax errors in plain words --------------------------------------------------------------


def _syntax_diagnostic(file: SourceFile, error: yaml.MarkedYAMLError) -> Diagnostic:
    """A PyYAML error as RE101: the problem in plain words, at its place, with a hint.

    PyYAML's marks carry 0-based line and column, counted with YAML 1.1's idea of a line break
    (also `\\x85`, `\\u2028`, `\\u2029` and a lone `\\r`) and skipping a byte-order mark; only
    `index` is used, and `SourceFile` computes the 1-based line and column from it.
    """
    text = file.text
    problem = error.problem or error.context or "this is not valid YAML"
    context = error.context or ""
    problem_mark = error.problem_mark or error.context_mark
    problem_at = problem_mark.index if problem_mark else 0
    context_at = error.context_mark.index if error.context_mark else problem_at
    at, width = problem_at, 1
    message, hint = _plain_words(problem), None

    line_start = text.rfind("\n", 0, problem_at) + 1
    line_end = text.find("\n", line_start)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    indentation = line[: len(line) - len(line.lstrip(" \t"))]
    if "\t" in indentation or text[problem_at : problem_at + 1] == "\t":
        message = "a tab cannot be used to indent or separate YAML"
        hint = "indent with spaces, not tabs"
        if text[problem_at : problem_at + 1] != "\t":
            at = line_start + indentation.find("\t")
    elif "mapping values are not allowed" in problem:
        message = "unexpected `:` — a value here cannot start a mapping"
        hint = _colon_hint(file, problem_at)
    elif "while scanning a quoted scalar" in context:
        quote = text[context_at] if context_at < len(text) else '"'
        message = "this quoted text is never closed"
        at, hint = context_at, f"add the closing `{quote}` at the end of the value"
    elif "unknown escape character" in problem or "expected escape sequence" in problem:
        at = max(0, text.rfind("\\", 0, problem_at))
        escape = re.match(r"\\(?:[xuU][0-9A-Fa-f]*|.)", text[at:])
        width = len(escape.group()) if escape else 2
        digits = re.search(r"of (\d+) hexadecimal", problem)
        if digits:
            message = f"`{text[at : at + 2]}` must be followed by {digits.group(1)} hexadecimal digits"
        else:
            message = f"`{text[at : at + 2]}` is not an escape sequence YAML knows"
        hint = "write `\\\\` for a backslash, or use single quotes, where `\\` has no special meaning"
    elif "could not find expected ':'" in problem:
        at = context_at
        message = "this line is neither `field: value` nor a list item"
        hint = "write `field: value`, or indent the line to continue the value above"
    elif "while scanning an alias" in context or "while scanning an anchor" in context:
        at = context_at
        sign = text[at] if at < len(text) else "*"
        word = "an alias" if sign == "*" else "an anchor"
        message = f"`{sign}` at the start of a value begins {word} in YAML"
        hint = "quote the value if it is text, e.g. '*bold*'"
    elif "that cannot start any token" in problem:
        sign = text[problem_at] if problem_at < len(text) else "?"
        message = f"a value cannot start with `{sign}`"
        hint = f"quote the value: '{sign}…'"
    elif "while scanning a block scalar" in context:
        message = "after `|` or `>` only `-`, `+`, a digit or a comment may follow on the same line"
        hint = "start the text on the next line, indented"
    elif "expected <block end>" in problem:
        found = problem.rsplit("but found", 1)[-1].strip(" '")
        message, hint = _indentation_words(found)
    elif "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        closer = "]" if "']'" in problem else "}"
        opened, _ = file.position(context_at)
        message = f"expected `,` or `{closer}`"
        hint = (
            f"separate the items with `,` and close the `{'[' if closer == ']' else '{'}` from line {opened}"
        )
    elif "expected the node content" in problem:
        if "<stream end>" in problem:
            message, hint = "the file ends before this value is complete", "close every `[` and `{`"
        else:
            message = f"a value cannot start with `{text[problem_at] if problem_at < len(text) else '?'}`"
            hint = "quote the value if it is text"
    elif "undefined tag handle" in problem:
        message, hint = "this tag is not defined", "remove the tag"
    elif "expected '<document start>'" in problem and re.search(r"^\.\.\.\s*$", text[:problem_at], re.M):
        message = "more YAML follows the end of the document"
        hint = "one program per file: remove the `...` line, or move the rest into a file of its own"
    elif "expected '<document start>'" in problem:
        message = "this line is indented less than the fields above it"
        hint = "start every top-level field in the same column, the first one"

    if at >= len(text.rstrip()):  # at the end of the file: point after the last thing written
        at, width = len(text.rstrip()), 0
    return Diagnostic("RE101", message, Span(file, at, min(at + width, len(text))), hint)


_JARGON = re.compile(r"'?<([a-z ]+)>'?")
_TOKEN_WORDS = {
    "block end": "the end of the indented block",
    "block mapping start": "a new indented mapping",
    "block sequence start": "a new list",
    "stream end": "the end of the file",
    "document start": "a new document",
    "scalar": "a value",
}


def _plain_words(problem: str) -> str:
    """PyYAML's problem text without token names: `<block end>` → "the end of the indented block"."""
    problem = _JARGON.sub(lambda m: _TOKEN_WORDS.get(m.group(1), m.group(1)), problem)
    return problem.replace("'", "`")


def _indentation_words(found: str) -> tuple[str, str]:
    if found == "-":
        return (
            "a list item is not expected here",
            "list items go under a field: write `field:` and indent the `- ` lines below it",
        )
    if found == "<scalar>":
        return "unexpected text after the value", "quote the whole value if it is text"
    if found in ("]", "}"):
        return (
            f"unexpected `{found}`",
            f"remove it, or add the `{'[' if found == ']' else '{'}` it should close",
        )
    if found == "?":
        return (
            "a field cannot follow list items at the same indentation",
            "indent the list under its field, or check this line's indentation",
        )
    return (
        "this line's indentation does not match the lines above it",
        "fields of one mapping start in the same column; indent with spaces",
    )


_MISSING_SPACE = re.compile(r"^\s*(?:-\s+)?([^\s#'\"{}\[\]][^\s:]*):(?=[^\s/])")


def _colon_hint(file: SourceFile, at: int) -> str:
    line, column = file.position(at)
    here = file.line_text(line)
    if column > 1024 and ": " not in here[: column - 1]:
        return "a key can be at most 1024 characters long"
    previous_line = next((n for n in range(line - 1, 0, -1) if file.line_text(n).strip()), None)
    if previous_line is not None:
        previous = file.line_text(previous_line)
        if _MISSING_SPACE.match(previous) and ": " not in previous:
            fixed = previous.strip().replace(":", ": ", 1)
            return f"put a space after the colon on line {previous_line}: `{fixed}`"
        indent = len(here) - len(here.lstrip())
        if indent > len(previous) - len(previous.lstrip()) and ": " in previous.strip():
            return "this line is indented more than the field above it; fields of one mapping line up"
    key, colon, value = here.partition(": ")
    if colon and ": " in value:
        quoted = value.strip().replace("'", "''")
        return f"quote the value, because it contains ': ' — {key.strip()}: '{quoted}'"
    return "put a space after the colon in `field: value`, or quote the value if it contains ': '"


def _unprintable(file: SourceFile, error: ReaderError) -> Diagnostic:
    at = int(error.position)
    code = int(error.character) if isinstance(error.character, int) else 0
    escape = f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"
    return Diagnostic(
        "RE101",
        f"the character U+{code:04X} is not allowed in a YAML file",
        Span(file, at, at + 1),
        f"delete it (it is often pasted invisibly); in double quotes it can be written `{escape}`",
    )


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


def _offsets(text: str, scalar: _Scalar) -> tuple[int, ...]:
    if scalar.style in ("'", '"'):
        trace = _trace_quoted(text, scalar)
    elif scalar.style in ("|", ">"):
        trace = _trace_block(text, scalar)
    else:
        trace = _trace_plain(text, scalar)
    if "".join(trace.chars) != scalar.value:
        trace = _align(text, scalar)
    return (*trace.starts, trace.end)


def _trace_plain(text: str, scalar: _Scalar) -> _Trace:
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


def _trace_quoted(text: str, scalar: _Scalar) -> _Trace:
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


def _trace_block(text: str, scalar: _Scalar) -> _Trace:
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


def _align(text: str, scalar: _Scalar) -> _Trace:
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
