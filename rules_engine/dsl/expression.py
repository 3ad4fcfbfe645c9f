"""One expression, parsed, checked and compiled once; evaluated and explained many times.

    >>> from rules_engine import compile_expression
    >>> rule = compile_expression('basket.total >= 50 and "vip" in customer.tags')
    >>> rule.evaluate({"basket": {"total": 62.5}, "customer": {"tags": ["vip"]}})
    True

An `Expression` is immutable: a service compiles its conditions at start-up and shares them
between threads. `evaluate` accepts a normalized `Context` (fast) or any JSON-like mapping
(validated and normalized first). Both back ends — the compiled function and the reference
interpreter — are reachable here, with one call signature.
"""

from __future__ import annotations

import ast as py
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from rules_engine.dsl import ast, checker, compiler, interpreter, parser
from rules_engine.dsl import types as t
from rules_engine.dsl.budget import LoopBudget, needs_budget
from rules_engine.dsl.context import DEFAULT_SCHEMA, Context, ContextSchema, make_context
from rules_engine.errors import ContextError, Diagnostic
from rules_engine.source import Origin


@dataclass(frozen=True)
class Expression:
    """A checked, compiled expression. Build it with `compile_expression`."""

    text: str
    tree: ast.Expr
    type: t.DslType
    schema: ContextSchema
    constants: Mapping[str, Any]
    origin: Origin
    roots: frozenset[str]
    _function: Any = field(repr=False)
    _module: py.Module = field(repr=False)
    # How evaluations are bounded when loops nest (None: they do not, and nothing is counted).
    budget: LoopBudget | None = field(default=None, repr=False)
    # Validate-time warnings about the expression's cost (RE312), for the program's lints.
    warnings: tuple[Diagnostic, ...] = field(default=(), repr=False)

    def context(self, data: Mapping[str, Any], *, timezone: dt.tzinfo | None = None) -> Context:
        """Validate and normalize data for this expression (its roots must be present)."""
        return make_context(data, self.schema, require=sorted(self.roots), timezone=timezone)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The compiled fast path. A condition's null means false to callers (see `truth`).

        Raises:
            LoopBudgetError: loops inside loops went past the work allowed (RE470, `budget.py`).
        """
        if context.__class__ is not Context:
            context = self.context(context)
        try:
            return self._function(context)
        except KeyError as missing:
            raise _missing_root(missing) from None

    def interpret(self, context: Mapping[str, Any]) -> Any:
        """The reference interpreter: slower, same result as `evaluate`."""
        if context.__class__ is not Context:
            context = self.context(context)
        try:
            return interpreter.interpret(self.tree, context, self.constants, self.budget)
        except KeyError as missing:
            raise _missing_root(missing) from None

    def explain(self, context: Mapping[str, Any]) -> interpreter.Trace:
        """Evaluate with the interpreter and keep every sub-expression's value."""
        if context.__class__ is not Context:
            context = self.context(context)
        try:
            return interpreter.explain(self.tree, context, self.constants, self.budget)
        except KeyError as missing:
            raise _missing_root(missing) from None

    def test(self, context: Mapping[str, Any]) -> bool:
        """The truth of a condition: null counts as false."""
        return self.evaluate(context) is True

    @cached_property
    def node_texts(self) -> dict[int, str]:
        """Each sub-expression's source text, runs of whitespace folded to one space, by the node's
        identity: what an explanation prints for every part of the condition, found once rather
        than on every explained event. The tree keeps its nodes alive, so no id is reused."""
        texts: dict[int, str] = {}
        stack = [self.tree]
        while stack:
            node = stack.pop()
            span = self.origin.span(*node.span)
            texts[id(node)] = " ".join(span.file.text[span.start : span.end].split())
            stack.extend(ast.children(node))
        return texts

    @cached_property
    def python_source(self) -> str:
        """The generated Python, for `loyalty check --python` and for reviewing code generation."""
        return py.unparse(self._module)


def compile_expression(
    text: str,
    schema: ContextSchema = DEFAULT_SCHEMA,
    *,
    origin: Origin | None = None,
    per_item: bool = False,
    constants: Mapping[str, Any] | None = None,
    expect: t.DslType | None = None,
) -> Expression:
    """Parse, check and compile an expression.

    Args:
        text: the expression.
        schema: the declared context; `declare_symbols(...)` adds a program's own attributes.
        origin: where the text sits in a file, so diagnostics point there.
        per_item: whether `item` is in scope (per-item rules).
        constants: program constants by name, values already exact (int, Decimal, str, …).
        expect: the type the whole must have; `BOOL` for a condition.

    Raises:
        ConditionSyntaxError, ConditionTypeError: with file, line, column and a hint.
    """
    origin = origin or Origin.standalone(text)
    constants = _exact_constants(constants or {}, schema)
    symbols = schema.symbols(per_item=per_item).with_constants(
        {name: (checker.literal_type(value), value) for name, value in constants.items()}
    )
    tree = parser.parse_condition(text, origin)
    typed = checker.check(tree, symbols, origin, expect=expect)
    loop_budget = LoopBudget(origin, per_item) if needs_budget(typed, per_item, constants) else None
    function, module = compiler.compile_tree(typed, origin, constants, loop_budget)
    assert typed.type is not None
    return Expression(
        text=text,
        tree=typed,
        type=typed.type,
        schema=schema,
        constants=constants,
        origin=origin,
        roots=frozenset(_roots(typed, symbols)),
        _function=function,
        _module=module,
        budget=loop_budget,
        warnings=tuple(checker.loop_warnings(typed, origin, per_item=per_item, constants=constants)),
    )


def _missing_root(missing: KeyError) -> ContextError:
    return ContextError(
        [
            Diagnostic(
                "RE402",
                f"the expression reads `{missing.args[0]}`, but the context has no such object",
                hint="build the context with Expression.context() or make_context(require=…)",
            )
        ]
    )


def _exact_constants(constants: Mapping[str, Any], schema: ContextSchema) -> dict[str, Any]:
    """Constants as exact language values; a binary float is read through its shortest text."""
    out: dict[str, Any] = {}
    for name, value in constants.items():
        if name in schema.roots:
            raise ValueError(f"constant `{name}` would hide the context object of that name")
        if isinstance(value, float):
            value = Decimal(repr(value))
        if isinstance(value, list):
            value = tuple(value)
        try:
            checker.literal_type(value)
        except TypeError:
            raise ValueError(
                f"constant `{name}`: {type(value).__name__} is not a value of the language"
            ) from None
        out[name] = value
    return out


def compile_condition(text: str, schema: ContextSchema = DEFAULT_SCHEMA, **options: Any) -> Expression:
    """`compile_expression` for a condition: the whole must be true or false."""
    return compile_expression(text, schema, expect=t.BOOL, **options)


def _roots(tree: ast.Expr, symbols: t.Symbols) -> set[str]:
    """Top-level context objects the expression reads (loop variables excluded)."""
    found: set[str] = set()
    stack: list[tuple[ast.Expr, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        node, bound = stack.pop()
        if isinstance(node, ast.Name) and node.id not in bound and node.id in symbols.roots:
            found.add(node.id)
        if isinstance(node, ast.Comprehension):
            stack.append((node.iterable, bound))
            inner = bound | {node.var}
            stack.append((node.element, inner))
            if node.condition is not None:
                stack.append((node.condition, inner))
            continue
        stack.extend((child, bound) for child in ast.children(node))
    return found
