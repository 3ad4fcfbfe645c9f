"""Program data → every expression in it, found along the model's shape, checked and compiled.

The one place a program's expressions are found and compiled. During validation,
`compile_expressions` works on the raw data, so expressions are checked even where the rest of
the file is not valid yet, and returns each one at its path with the diagnostics of those that
fail (RE2xx, RE3xx); each keeps its origin in the file, so explanations and tracebacks point
there. A valid program and its expressions make a `CompiledProgram`, what the engine runs;
`compile_program` makes one from a `Program` built in Python, whose expressions get standalone
origins. A `CompiledProgram` is immutable after construction, so one serves every thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from rules_engine.dsl import ast
from rules_engine.dsl import types as t
from rules_engine.dsl.context import ContextSchema, declare_symbols
from rules_engine.dsl.expression import Expression, compile_expression
from rules_engine.errors import ConditionError, Diagnostic
from rules_engine.program.model import Program
from rules_engine.program.scalars import NodePath, SourceMap
from rules_engine.program.types import Expr, expression_marker, models_in
from rules_engine.source import Origin


@dataclass(frozen=True)
class ExpressionSite:
    """One expression in a program: where it is, and its compiled form."""

    path: NodePath
    expression: Expression


@dataclass(frozen=True, eq=False)
class CompiledProgram:
    """A valid program with every expression compiled once, by its path: what the engine runs."""

    program: Program
    schema: ContextSchema
    expressions: dict[NodePath, Expression]
    _reads: dict[tuple[str, frozenset[str] | None], frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_sites(cls, program: Program, sites: list[ExpressionSite]) -> CompiledProgram:
        """A valid program and its expressions as `compile_expressions` compiled them from its file."""
        schema = context_schema(program.attributes.model_dump())
        return cls(program, schema, {site.path: site.expression for site in sites})

    def expression(self, *path: str | int) -> Expression | None:
        return self.expressions.get(tuple(path))

    @cached_property
    def customer_reads(self) -> frozenset[str]:
        """The `customer.*` attributes any expression reads: costly ones are built only if read."""
        return self.reads("customer")

    def reads(self, root: str, parts: frozenset[str] | None = None) -> frozenset[str]:
        """The attributes of `root` read by the expressions of the program's `parts` (by the first
        step of their path: "earn", "discounts" …; None for every expression). Asked on every
        event, answered once: the program never changes."""
        key = (root, parts)
        cached = self._reads.get(key)
        if cached is None:
            cached = self._reads[key] = self._find_reads(root, parts)
        return cached

    def _find_reads(self, root: str, parts: frozenset[str] | None) -> frozenset[str]:
        found: set[str] = set()
        for path, expression in self.expressions.items():
            if parts is not None and path[0] not in parts:
                continue
            stack = [expression.tree]
            while stack:
                node = stack.pop()
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == root
                ):
                    found.add(node.attr)
                stack.extend(ast.children(node))
        return frozenset(found)


def compile_expressions(data: Any, source_map: SourceMap) -> tuple[list[ExpressionSite], list[Diagnostic]]:
    """Every expression in a program file's raw data, compiled; and the problems of those that fail."""
    raw = data if isinstance(data, dict) else {}
    schema = context_schema(raw.get("attributes"))
    constants = program_constants(raw.get("constants"))
    sites: list[ExpressionSite] = []
    problems: list[Diagnostic] = []
    for path, text, marker, holder in expression_sites(data):
        try:
            expression = _compile(text, marker, holder, schema, constants, source_map.origin(path))
        except ConditionError as error:
            problems += error.diagnostics
            continue
        sites.append(ExpressionSite(path, expression))
    return sites, problems


def compile_program(program: Program) -> CompiledProgram:
    """Compile a `Program` made in Python (expressions get standalone origins).

    Raises:
        ConditionError: for the first expression that does not check.
    """
    data: Any = program.model_dump(mode="python", exclude_none=True)
    schema = context_schema(data.get("attributes"))
    constants = program_constants(data.get("constants"))
    expressions: dict[NodePath, Expression] = {}
    for path, text, marker, holder in expression_sites(data):
        name = f"{program.program}:" + ".".join(str(p) for p in path)
        origin = Origin.standalone(text, name)
        expressions[path] = _compile(text, marker, holder, schema, constants, origin)
    return CompiledProgram(program, schema, expressions)


def _compile(
    text: str,
    marker: Expr,
    holder: dict[str, Any],
    schema: ContextSchema,
    constants: dict[str, Any],
    origin: Origin,
) -> Expression:
    per_item = marker.per_item
    if isinstance(per_item, str):  # `item` is in scope when the sibling field is there
        per_item = holder.get(per_item) is not None
    return compile_expression(
        text,
        schema,
        origin=origin,
        per_item=per_item,
        constants=constants,
        expect=t.BOOL if marker.type == "bool" else t.NUMBER,
    )


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


def program_constants(raw: Any) -> dict[str, Any]:
    """Program constants as exact language values (invalid ones are left to the schema stage)."""
    out: dict[str, Any] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            if isinstance(name, str) and isinstance(value, str | int | Decimal) and name not in _ROOTS:
                out[name] = value
    return out


_ROOTS = ("event", "basket", "customer", "item")


def expression_sites(data: Any) -> Iterator[tuple[NodePath, str, Expr, dict[str, Any]]]:
    """Every expression in raw program data: (path, text, marker, the mapping holding it).

    Walks the data along the shape of the model classes, so it finds expressions even where
    the rest of the file does not validate yet.
    """
    stack: list[tuple[NodePath, Any, type[BaseModel]]] = [((), data, Program)]
    while stack:
        path, node, model = stack.pop()
        if not isinstance(node, dict):
            continue
        for name, info in model.model_fields.items():
            if name not in node or node[name] is None:
                continue
            value = node[name]
            marker = expression_marker(info.annotation, info.metadata)
            if marker is not None:
                if isinstance(value, str):
                    yield (*path, name), value, marker, node
                continue
            inner, _ = models_in(info.annotation)
            if inner is None:
                continue
            if isinstance(value, list):
                stack.extend(((*path, name, i), element, inner) for i, element in enumerate(value))
            else:
                stack.append(((*path, name), value, inner))
