"""A program with every expression compiled once: what the engine runs.

Built from a validated `Program`. Loading from a file keeps each expression's origin in the
file (so explanations and tracebacks point there); a `Program` built in Python gets standalone
origins. Immutable after construction, so one `CompiledProgram` serves every thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from rules_engine.dsl import ast
from rules_engine.dsl import types as t
from rules_engine.dsl.context import ContextSchema
from rules_engine.dsl.expression import Expression, compile_expression
from rules_engine.errors import ProgramError
from rules_engine.program.compile import _constants, _expression_sites, context_schema
from rules_engine.program.model import Program
from rules_engine.program.validate import validate_file, validate_text
from rules_engine.source import Origin

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, eq=False)
class CompiledProgram:
    program: Program
    schema: ContextSchema
    expressions: dict[PathKey, Expression]
    _reads: dict[tuple[str, frozenset[str] | None], frozenset[str]] = field(default_factory=dict, repr=False)

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


def compile_program(program: Program) -> CompiledProgram:
    """Compile a `Program` made in Python (expressions get standalone origins)."""
    data: Any = program.model_dump(mode="python", exclude_none=True)
    schema = context_schema(data.get("attributes"))
    constants = _constants(data.get("constants"))
    expressions: dict[PathKey, Expression] = {}
    for path, text, marker, holder in _expression_sites(data):
        per_item = marker.per_item
        if isinstance(per_item, str):
            per_item = holder.get(per_item) is not None
        name = f"{program.program}:" + ".".join(str(p) for p in path)
        expressions[path] = compile_expression(
            text,
            schema,
            origin=Origin.standalone(text, name),
            per_item=per_item,
            constants=constants,
            expect=t.BOOL if marker.type == "bool" else t.NUMBER,
        )
    return CompiledProgram(program, schema, expressions)


def load_compiled(path: str | Path) -> CompiledProgram:
    """Load, validate and compile a program file; `ProgramError` lists every error."""
    return _from_validation(validate_file(path))


def compile_text(text: str, name: str = "<program>") -> CompiledProgram:
    return _from_validation(validate_text(text, name))


def _from_validation(result: Any) -> CompiledProgram:
    if result.errors or result.program is None:
        raise ProgramError(result.errors)
    program: Program = result.program
    schema = context_schema(program.attributes.model_dump())
    return CompiledProgram(program, schema, {site.path: site.expression for site in result.expressions})
