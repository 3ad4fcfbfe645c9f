"""Lark parse tree → `rules_engine.dsl.ast` nodes. Method names are the grammar's rule names."""

from __future__ import annotations

import re
from typing import Any

from lark import Token, Transformer, v_args
from lark.tree import Meta

from rules_engine.dsl import ast
from rules_engine.dsl.values import parse_duration, parse_number

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


class BadLiteralError(Exception):
    """A literal the grammar accepts but the language does not (an unknown escape, a huge number)."""

    def __init__(self, code: str, message: str, hint: str, span: ast.Loc) -> None:
        super().__init__(message)
        self.code, self.message, self.hint, self.span = code, message, hint, span


MAX_DIGITS = 30


def _loc(meta: Meta) -> ast.Loc:
    return (meta.start_pos, meta.end_pos)


def _tok(token: Token) -> ast.Loc:
    assert token.start_pos is not None and token.end_pos is not None
    return (token.start_pos, token.end_pos)


def unescape(token: Token) -> str:
    body = token.value[1:-1]

    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        start = (token.start_pos or 0) + 1 + match.start()
        if escape.startswith("u") and len(escape) == 5:
            code = int(escape[1:], 16)
            if 0xD800 <= code <= 0xDFFF:  # half a UTF-16 pair: no character, a crash where printed
                raise BadLiteralError(
                    "RE206",
                    f"`\\{escape}` is half of a UTF-16 surrogate pair, not a character",
                    "write the character itself: \\uXXXX names one of U+0000 to U+FFFF, less D800-DFFF",
                    (start, start + 6),
                )
            return chr(code)
        if escape in _ESCAPES:
            return _ESCAPES[escape]
        raise BadLiteralError(
            "RE206",
            f"unknown escape `\\{escape}` in text",
            "use \\\" \\' \\\\ \\n \\t \\r \\0 or \\uXXXX; to write a backslash, double it",
            (start, start + 2),
        )

    return _ESCAPE.sub(replace, body)


@v_args(meta=True)
class ToAst(Transformer[Token, ast.Expr]):
    def number(self, meta: Meta, children: list[Token]) -> ast.Literal:
        (token,) = children
        digits = sum(ch.isdigit() for ch in token.value)
        if digits > MAX_DIGITS:
            raise BadLiteralError(
                "RE212",
                f"number with {digits} digits",
                f"numbers have at most {MAX_DIGITS} digits",
                _tok(token),
            )
        return ast.Literal(parse_number(token.value), span=_loc(meta))

    def string(self, meta: Meta, children: list[Token]) -> ast.Literal:
        return ast.Literal(unescape(children[0]), span=_loc(meta))

    def duration(self, meta: Meta, children: list[Token]) -> ast.Literal:
        (token,) = children
        value = parse_duration(token.value)
        if value is None or len(token.value) > MAX_DIGITS:
            raise BadLiteralError(
                "RE212",
                f"duration `{token.value}` is out of range",
                "durations go up to 999999999d",
                _tok(token),
            )
        return ast.Literal(value, span=_loc(meta))

    def true(self, meta: Meta, children: list[Any]) -> ast.Literal:
        return ast.Literal(True, span=_loc(meta))

    def false(self, meta: Meta, children: list[Any]) -> ast.Literal:
        return ast.Literal(False, span=_loc(meta))

    def null(self, meta: Meta, children: list[Any]) -> ast.Literal:
        return ast.Literal(None, span=_loc(meta))

    def name(self, meta: Meta, children: list[Token]) -> ast.Name:
        return ast.Name(children[0].value, span=_loc(meta))

    def list_expr(self, meta: Meta, children: list[ast.Expr | None]) -> ast.ListExpr:
        return ast.ListExpr(tuple(c for c in children if c is not None), span=_loc(meta))

    def attribute(self, meta: Meta, children: list[Any]) -> ast.Attribute:
        value, attr = children
        return ast.Attribute(value, attr.value, span=_loc(meta), attr_span=_tok(attr))

    def not_op(self, meta: Meta, children: list[ast.Expr]) -> ast.Not:
        return ast.Not(children[0], span=_loc(meta))

    def neg(self, meta: Meta, children: list[ast.Expr]) -> ast.Neg:
        return ast.Neg(children[0], span=_loc(meta))

    def and_op(self, meta: Meta, children: list[ast.Expr]) -> ast.BoolOp:
        return ast.BoolOp("and", children[0], children[1], span=_loc(meta))

    def or_op(self, meta: Meta, children: list[ast.Expr]) -> ast.BoolOp:
        return ast.BoolOp("or", children[0], children[1], span=_loc(meta))

    def comp_op(self, meta: Meta, children: list[Token]) -> Token:
        token = Token("COMP_OP", " ".join(c.value for c in children))
        token.start_pos, token.end_pos = children[0].start_pos, children[-1].end_pos
        return token

    def compare(self, meta: Meta, children: list[Any]) -> ast.Compare:
        left, op, right = children
        return ast.Compare(op.value, left, right, span=_loc(meta), op_span=_tok(op))

    def binary(self, meta: Meta, children: list[Any]) -> ast.Binary:
        left, op, right = children
        return ast.Binary(op.value, left, right, span=_loc(meta), op_span=_tok(op))

    def call(self, meta: Meta, children: list[Any]) -> ast.Call:
        func, *args = children
        return ast.Call(
            func.value, tuple(a for a in args if a is not None), span=_loc(meta), func_span=_tok(func)
        )

    def comprehension(self, meta: Meta, children: list[Any]) -> ast.Comprehension:
        func, element, var, iterable, condition = children
        return ast.Comprehension(
            func.value,
            element,
            var.value,
            iterable,
            condition,
            span=_loc(meta),
            func_span=_tok(func),
            var_span=_tok(var),
        )
