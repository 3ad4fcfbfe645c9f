"""Expression text → `ast.Expr`, with syntax errors written for people.

The grammar is `grammar.lark` (LALR, positions propagated, strict). Building its parse tables
takes about 0.4 s of CPU, every process, which was a quarter of a `loyalty validate`; so they are
kept in a file of the user's cache folder (`_cache_file`) and read back, by Lark's own cache, which
rebuilds them whenever the grammar, the options, Lark or Python differ, or the file cannot be read.
Lark reports what it expected as terminal names; `_explain` turns them into plain words
("expected a value after `and`"), and a small table of common slips (`=`, `&&`, `!`) adds a hint.
Size and nesting limits are checked without recursion, so no input can raise a RecursionError.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from importlib import resources
from pathlib import Path
from typing import NoReturn, Protocol

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from rules_engine.dsl import ast
from rules_engine.dsl.transformer import BadLiteralError, ToAst
from rules_engine.errors import ConditionSyntaxError, Diagnostic
from rules_engine.source import Origin

MAX_LENGTH = 4000
MAX_DEPTH = 120

# Terminals that can start a value: after an operator, one of these must come.
_VALUE_START = {
    "NUMBER",
    "STRING",
    "DURATION",
    "NAME",
    "TRUE",
    "FALSE",
    "NULL",
    "LPAR",
    "LSQB",
    "MINUS",
    "NOT",
}
_OPERATOR_WORDS = {"and", "or", "not", "in", "for", "if"}

# Characters people bring from other languages, and what to write instead.
_SLIPS = {
    "=": "use `==` to compare; `=` alone is not an operator",
    "&": "use `and` to combine conditions",
    "|": "use `or` to combine conditions",
    "!": "use `not` to negate, and `!=` for 'not equal'",
    "{": 'lists are written with square brackets: ["gold", "platinum"]',
    "}": 'lists are written with square brackets: ["gold", "platinum"]',
    "`": "text goes in \"double\" or 'single' quotes",
    "$": "write amounts as plain numbers: 50 or 19.99",
    "€": "write amounts as plain numbers: 50 or 19.99",
}


CACHE_DIR = "LOYALTY_CACHE_DIR"
"""The environment variable naming the folder for the parse tables (empty: keep none); by default
`$XDG_CACHE_HOME/rules-engine`, or `~/.cache/rules-engine`."""


@functools.cache
def _lark() -> Lark:
    grammar = resources.files("rules_engine.dsl").joinpath("grammar.lark").read_text(encoding="utf-8")
    cache = _cache_file(grammar)
    # cache_grammar: the grammar itself comes back too (`Lark.grammar`: hypothesis's from_lark reads it)
    options = {"cache": str(cache), "cache_grammar": True} if cache is not None else {}
    return Lark(
        grammar, parser="lalr", propagate_positions=True, strict=True, maybe_placeholders=True, **options
    )


def _cache_file(grammar: str) -> Path | None:
    """Where the parse tables of this grammar are kept; None when there is no folder for them.

    The file is a pickle, which Lark reads back, so only a folder that no one else can write to
    will do: the user's own cache folder (made private to them), never a shared one such as /tmp,
    where another user could put a file there first. A folder owned by someone else, or writable
    by others (`LOYALTY_CACHE_DIR=/tmp`, say), is not used. Its name carries the grammar's hash, so
    versions of the package side by side each keep their own; Lark checks the grammar, its options
    and versions again inside the file."""
    chosen = os.environ.get(CACHE_DIR)
    if chosen is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        chosen = os.path.join(base, "rules-engine")
    if not chosen:
        return None
    folder = Path(chosen)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        facts = folder.stat()
    except OSError:  # a read-only home, no home: build the tables, as without a cache
        return None
    if facts.st_uid != os.getuid() or facts.st_mode & 0o022:
        return None
    digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
    return folder / f"condition-grammar-{digest}.lark"


def parse_condition(text: str, origin: Origin | None = None) -> ast.Expr:
    """Parse one expression.

    Args:
        text: the expression, exactly as written.
        origin: where the text sits in its file, so errors point there; by default the
            expression is its own file, `<expression>`.

    Raises:
        ConditionSyntaxError: with one diagnostic (code RE2xx) at the offending spot.
    """
    origin = origin or Origin.standalone(text)

    def fail(code: str, message: str, start: int, end: int, hint: str | None = None) -> NoReturn:
        raise ConditionSyntaxError([Diagnostic(code, message, origin.span(start, end), hint)])

    if len(text) > MAX_LENGTH:
        fail(
            "RE210",
            f"expression is {len(text)} characters long",
            MAX_LENGTH,
            len(text),
            f"expressions are limited to {MAX_LENGTH} characters; split the rule or use program constants",
        )
    if not text.strip():
        fail("RE207", "empty expression", 0, len(text), "write a condition, e.g. basket.total >= 50")
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        code, message, start, end, hint = _explain(error, text)
        fail(code, message, start, end, hint)
    _check_depth(tree, fail)
    try:
        result = ToAst().transform(tree)
    except VisitError as error:
        inner = error.orig_exc
        if isinstance(inner, BadLiteralError):
            fail(inner.code, inner.message, inner.span[0], inner.span[1], inner.hint)
        raise inner from None
    assert not isinstance(result, Tree | Token)
    return result


def _check_depth(tree: Tree[Token], fail: _Fail) -> None:
    """Refuse trees nested deeper than MAX_DEPTH, walking with an explicit stack."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            start = node.meta.start_pos if not node.meta.empty else 0
            fail(
                "RE211",
                f"expression is nested more than {MAX_DEPTH} levels deep",
                start,
                start + 1,
                "split it into simpler conditions, or use any()/sum() over a list",
            )
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


class _Fail(Protocol):
    def __call__(
        self, code: str, message: str, start: int, end: int, hint: str | None = None
    ) -> NoReturn: ...


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "the end of the expression"
    return f"`{token.value}`"


def _previous_word(text: str, position: int) -> str | None:
    before = text[:position].rstrip()
    match = re.search(r"([A-Za-z_][A-Za-z0-9_.]*|[0-9][0-9.]*[wdhms]?|==|!=|<=|>=|[-+*/%<>,(\[.])$", before)
    return match.group(1) if match else None


def _explain(error: UnexpectedInput, text: str) -> tuple[str, str, int, int, str | None]:
    """Turn Lark's error into (code, message, start, end, hint) in plain words."""
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        char = text[position]
        if char in "\"'":
            return (
                "RE202",
                "text is never closed",
                position,
                len(text.rstrip("\n")),
                f"add the closing {char} at the end of the text",
            )
        if char == "=" and text[position : position + 2] != "==":
            return ("RE201", "`=` is not an operator here", position, position + 1, _SLIPS["="])
        if re.match(r"[0-9]", char):
            return (
                "RE201",
                "a number cannot run into a name",
                position,
                position + 1,
                "durations are 30d, 12h, 15m, 2w; put a space or an operator between a number and a name",
            )
        hint = _SLIPS.get(char, "remove it, or put it inside quotes if it is part of a text")
        return ("RE201", f"unexpected character `{char}`", position, position + 1, hint)

    assert isinstance(error, UnexpectedToken | UnexpectedEOF)
    token: Token = error.token if isinstance(error, UnexpectedToken) else Token("$END", "")
    expected = set(error.expected)
    if token.type == "$END":
        start = end = len(text.rstrip())
    else:
        start, end = token.start_pos or 0, token.end_pos or 0
    previous = _previous_word(text, start)
    doubled = previous is not None and not previous[0].isalnum() and previous not in "([,."
    if token.type in _operator_types() and doubled and token.value not in ("-", "not"):
        return (
            "RE201",
            f"`{previous}` and `{token.value}` in a row",
            start,
            max(end, start + 1),
            "remove one of them: compare with ==, !=, <, <=, >, >=; combine with and, or",
        )
    wants_value = bool(expected & _VALUE_START)
    if previous == "." or ((previous or "").endswith(".") and expected <= {"NAME"}):
        return (
            "RE203",
            f"expected an attribute name after `.`, found {_describe_token(token)}",
            start,
            max(end, start + 1),
            "write the attribute's name, e.g. basket.total",
        )
    if wants_value and token.type in {"$END", "RPAR", "RSQB", "COMMA"} | _operator_types():
        after = f" after `{previous}`" if previous else ""
        return (
            "RE203",
            f"expected a value{after}, found {_describe_token(token)}",
            start,
            max(end, start + 1),
            "finish the expression, e.g. basket.total >= 50",
        )
    if token.type == "$END" and (unclosed := _unclosed(text)) is not None:
        bracket, position = unclosed
        closer = ")" if bracket == "(" else "]"
        return (
            "RE204",
            f"`{bracket}` is never closed",
            position,
            position + 1,
            f"add `{closer}` to close it",
        )
    if token.type in _comparison_types() and previous is not None and _follows_comparison(text, start):
        return (
            "RE205",
            "comparisons cannot be chained",
            start,
            end,
            "write each comparison on its own: a < b and b < c",
        )
    if token.type in {"NAME", "NUMBER", "STRING", "DURATION", "TRUE", "FALSE", "NULL", "LPAR", "LSQB"}:
        if token.type == "LPAR" and previous and previous not in _OPERATOR_WORDS:
            return (
                "RE201",
                f"`{previous}` is not a function",
                start,
                end,
                "call a function by its name, e.g. lower(item.name); attributes take no parentheses",
            )
        hint = "join conditions with `and` or `or`, and compare with ==, !=, <, <=, >, >="
        if previous:
            return (
                "RE201",
                f"expected an operator between `{previous}` and {_describe_token(token)}",
                start,
                end,
                hint,
            )
        return ("RE201", f"unexpected {_describe_token(token)}", start, end, hint)
    if token.type == "RPAR":
        return ("RE204", "`)` has no matching `(`", start, end, "remove it, or add the `(` it closes")
    if token.type == "RSQB":
        return ("RE204", "`]` has no matching `[`", start, end, "remove it, or add the `[` it closes")
    return (
        "RE201",
        f"unexpected {_describe_token(token)}",
        start,
        max(end, start + 1),
        "check the operators and parentheses around here",
    )


@functools.cache
def _operator_types() -> frozenset[str]:
    names = {"==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", ".", "and", "or", "in", "if", "for"}
    types = set()
    for terminal in _lark().terminals:
        pattern = terminal.pattern.value
        if pattern in names or terminal.name in {"ADD_OP", "MUL_OP", "AND", "OR", "IN", "IF", "FOR", "DOT"}:
            types.add(terminal.name)
    return frozenset(types)


@functools.cache
def _comparison_types() -> frozenset[str]:
    return frozenset(
        t.name for t in _lark().terminals if t.pattern.value in {"==", "!=", "<", "<=", ">", ">=", "in"}
    )


def _unclosed(text: str) -> tuple[str, int] | None:
    """The innermost bracket left open, ignoring brackets inside text literals."""
    stack: list[tuple[str, int]] = []
    quote: str | None = None
    escaped = False
    for position, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "([":
            stack.append((char, position))
        elif char in ")]" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _follows_comparison(text: str, position: int) -> bool:
    try:
        _lark().parse(text[:position])
    except UnexpectedInput:
        return False
    return bool(re.search(r"(==|!=|<=|>=|<|>|\bin\b)", text[:position]))
