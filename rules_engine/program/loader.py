"""YAML text → (plain data, `SourceMap`): the first stage of loading a program.

Input is the text of one program file (`load_yaml(text, name)`, or `load_file(path)`). Output is
plain data — `dict`, `list`, `str`, `int`, `Decimal`, `bool`, `None` — and a `SourceMap` that
turns any path into the document (`("earn", 0, "when")`, as jsonschema's `absolute_path` and
pydantic's `loc` spell them) into a `Span` of the file, and any expression scalar into an
`Origin` that maps the loaded string back to the characters it was written as (`scalars`).

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
the problem in plain words and a hint (`yaml_errors`); unreadable files are RE105.

Data and source map are built in one pass over PyYAML's parse events with an explicit stack,
rather than through the Composer and Constructor, which recurse once per nesting level.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable
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
from yaml.scanner import ScannerError
from yaml.tokens import ScalarToken

from rules_engine.errors import Diagnostic, YamlSyntaxError
from rules_engine.program.scalars import Node, NodePath, Scalar, SourceMap
from rules_engine.program.yaml_errors import NO_CHARACTER, syntax_diagnostic, unprintable_diagnostic
from rules_engine.source import SourceFile, Span

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "SourceMap",
    "load_file",
    "load_yaml",
    "resolves_to_number",
    "resolves_to_text",
]

MAX_CHARS = 1_048_576
"""Program files are limited to 1 MiB of text, checked before parsing."""

MAX_DEPTH = 64
"""Mappings and lists may nest at most this deep."""

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
_LONE_BREAK = re.compile("\r(?!\n)|\x85")
_NOT_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_CORE_SCHEMA = (
    (_NULL, _NULL_TEXT),
    (_BOOL, _BOOL_TEXT),
    (_INT, _INT_TEXT),
    (_FLOAT, _FLOAT_TEXT),
    (_FLOAT, _NOT_FINITE),
)

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
    if "\r" in text or "\x85" in text:
        # A lone CR (classic Mac OS) and NEL end a line for YAML as LF does, and the parser reads
        # them as LF; a `SourceFile` counts LF only: written as LF, one character for one, every
        # place is at its line (it was line 1, column 300), and every value the same.
        text = _LONE_BREAK.sub("\n", text)
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
        self.scalar_tokens: dict[int, Scalar] = {}  # by end offset, which events share

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
        try:
            token = super().scan_flow_scalar(style)
        except (ValueError, OverflowError):  # PyYAML's chr() of "\U00110000" or "\UFFFFFFFF"
            raise ScannerError(None, None, NO_CHARACTER, self.get_mark()) from None
        return self._remember(token, self.indent)

    def scan_block_scalar(self, style: str) -> ScalarToken:
        indent = self.indent
        return self._remember(super().scan_block_scalar(style), indent)

    def _remember(self, token: ScalarToken, indent: int) -> ScalarToken:
        start, end = token.start_mark.index, token.end_mark.index
        self.scalar_tokens[end] = Scalar(token.value, token.style, start, end, indent)
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
        self.nodes: dict[NodePath, Node] = {}
        self.stack: list[_Frame] = []
        self.anchors: set[str] = set()
        self.root: Any = None
        self.documents = 0

    def build(self) -> tuple[Any, SourceMap]:
        try:
            loader = _ProgramLoader(self.text)
        except ReaderError as error:
            self.stop(unprintable_diagnostic(self.file, error))
        try:
            self.walk(loader)
        except yaml.MarkedYAMLError as error:
            self.stop(syntax_diagnostic(self.file, error))
        except ReaderError as error:
            self.stop(unprintable_diagnostic(self.file, error))
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
            token = Scalar(event.value, None, end, end, 0)  # an empty scalar: no token
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
        self, value: Any, start: int, end: int, path: NodePath | None, scalar: Scalar | None, kind: str
    ) -> None:
        """A node is complete: store it in its parent (as an item, key or value) and the map."""
        if not self.stack:
            self.root = value
            self.nodes[()] = Node(start, end, None, scalar)
            return
        parent = self.stack[-1]
        parent.end = max(parent.end, end)
        if parent.items is not None:
            parent.items.append(value)
            if path is not None:
                self.nodes[path] = Node(start, end, None, scalar)
            return
        assert parent.fields is not None
        if parent.awaiting_key:
            self.take_key(parent, value, start, end, kind)
            parent.awaiting_key = False
            return
        if path is not None:
            self.nodes[path] = Node(start, end, parent.key_span, scalar)
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
