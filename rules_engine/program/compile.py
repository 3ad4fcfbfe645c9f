"""Raw program data → every expression in it, found along the model's shape and compiled."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from rules_engine.dsl import types as t
from rules_engine.dsl.context import ContextSchema, declare_symbols
from rules_engine.dsl.expression import Expression, compile_expression
from rules_engine.errors import ConditionError, Diagnostic
from rules_engine.program import loader
from rules_engine.program.model import Program
from rules_engine.program.types import Expr

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class ExpressionSite:
    """One expression in a program: where it is, what it must be, and its compiled form."""

    path: Path_
    expression: Expression


# -- stage 5: expressions ------------------------------------------------------------------------


def context_schema(attributes: Any) -> ContextSchema:
    """The context a program's expressions see: the standard one plus its declared attributes.

    Works on the raw `attributes` mapping, so expressions can be checked before the rest of the
    file is valid; a malformed declaration is skipped here (the schema stage reports it).
    """

    def declared(section: Any) -> dict[str, t.DslType]:
        out: dict[str, t.DslType] = {}
        if isinstance(section, dict):
            for name, type_name in section.items():
                parsed = t.parse_type_name(type_name) if isinstance(type_name, str) else None
                if parsed is not None and isinstance(name, str):
                    out[name] = parsed
        return out

    attributes = attributes if isinstance(attributes, dict) else {}
    return declare_symbols(
        item=declared(attributes.get("item")),
        customer=declared(attributes.get("customer")),
        event=declared(attributes.get("event")),
        basket=declared(attributes.get("basket")),
    )


def _constants(raw: Any) -> dict[str, Any]:
    """Program constants as exact language values (invalid ones are left to the schema stage)."""
    out: dict[str, Any] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            if isinstance(name, str) and isinstance(value, str | int | Decimal) and name not in _ROOTS:
                out[name] = value
    return out


_ROOTS = ("event", "basket", "customer", "item")


def _marker(annotation: Any, metadata: Sequence[Any] = ()) -> Expr | None:
    found = [m for m in metadata if isinstance(m, Expr)]
    stack = [annotation]
    while stack:
        current = stack.pop()
        if typing.get_origin(current) is typing.Annotated:
            found += [m for m in current.__metadata__ if isinstance(m, Expr)]
            stack.append(typing.get_args(current)[0])
        elif typing.get_origin(current) in (typing.Union, types.UnionType):
            stack.extend(typing.get_args(current))
    return found[-1] if found else None


def _models_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model class a field holds, and whether it holds a list of them (`list[X] | X | None`)."""
    stack: list[tuple[Any, bool]] = [(annotation, False)]
    while stack:
        current, in_list = stack.pop()
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current, in_list
        if origin is list:
            stack.append((typing.get_args(current)[0], True))
        elif origin is typing.Annotated:
            stack.append((typing.get_args(current)[0], in_list))
        elif origin in (typing.Union, types.UnionType):
            stack.extend((arg, in_list) for arg in typing.get_args(current))
    return None, False


def _expression_sites(data: Any) -> Iterator[tuple[Path_, str, Expr, dict[str, Any]]]:
    """Every expression in raw program data: (path, text, marker, the mapping holding it).

    Walks the data along the shape of the model classes, so it finds expressions even where
    the rest of the file does not validate yet.
    """
    stack: list[tuple[Path_, Any, type[BaseModel]]] = [((), data, Program)]
    while stack:
        path, node, model = stack.pop()
        if not isinstance(node, dict):
            continue
        for name, info in model.model_fields.items():
            if name not in node or node[name] is None:
                continue
            value = node[name]
            marker = _marker(info.annotation, info.metadata)
            if marker is not None:
                if isinstance(value, str):
                    yield (*path, name), value, marker, node
                continue
            inner, _ = _models_in(info.annotation)
            if inner is None:
                continue
            if isinstance(value, list):
                stack.extend(((*path, name, i), element, inner) for i, element in enumerate(value))
            else:
                stack.append(((*path, name), value, inner))


def _compile_expressions(
    data: Any, source_map: loader.SourceMap
) -> tuple[list[ExpressionSite], list[Diagnostic]]:
    raw = data if isinstance(data, dict) else {}
    schema = context_schema(raw.get("attributes"))
    constants = _constants(raw.get("constants"))
    sites: list[ExpressionSite] = []
    problems: list[Diagnostic] = []
    for path, text, marker, holder in _expression_sites(data):
        per_item = marker.per_item
        if isinstance(per_item, str):
            per_item = holder.get(per_item) is not None
        try:
            expression = compile_expression(
                text,
                schema,
                origin=source_map.origin(path),
                per_item=per_item,
                constants=constants,
                expect=t.BOOL if marker.type == "bool" else t.NUMBER,
            )
        except ConditionError as error:
            problems += error.diagnostics
            continue
        sites.append(ExpressionSite(path, expression))
    return sites, problems
