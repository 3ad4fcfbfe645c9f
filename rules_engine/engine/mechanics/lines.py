"""A challenge's `counts` of the basket's lines, on the generated path (challenges.for_purchase):
what each line adds, as one list (`line_count`), and the records of the lines a count counted
(`lines_counted`), which a return reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from operator import is_, itemgetter
from typing import Any, NamedTuple

from rules_engine.dsl import ast, compiler
from rules_engine.dsl.expression import Expression
from rules_engine.engine.events import Line
from rules_engine.engine.trusted import counted_line
from rules_engine.state.customer import CountedLine

_ONE = Decimal(1)
_ZERO = Decimal(0)


class LineCount(NamedTuple):
    """A `counts` of the form `count(E for x in basket.items [if C])` or `sum(…)` whose `E` and `C`
    read nothing of the basket but the line: what each line adds, one list comprehension over the
    lines (`compiler.compile_parts`, compiled once from the program's own expression tree,
    positions kept); what the purchase adds is their sum from 0, in line order, as the compiled
    loop adds them (the same value, the same exponent)."""

    func: str
    parts: Callable[[Any], list[Any]]


def line_count(counts: Expression | None) -> LineCount | None:
    """`counts` as a `LineCount`, or None when it is not of that form (it is then evaluated as
    `apply` does: on the basket, then on each line alone). Not when it counts loops inside loops
    (a budget bounds them) or its loop variable is also a constant's name."""
    if counts is None or counts.budget is not None:
        return None
    tree = counts.tree
    if not (
        isinstance(tree, ast.Comprehension)
        and tree.func in ("count", "sum")
        and isinstance(tree.iterable, ast.Attribute)
        and tree.iterable.attr == "items"
        and isinstance(tree.iterable.value, ast.Name)
        and tree.iterable.value.id == "basket"
        and tree.var not in counts.constants
    ):
        return None
    parts = [tree.element] if tree.condition is None else [tree.element, tree.condition]
    stack: list[ast.Expr] = list(parts)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Comprehension) or (isinstance(node, ast.Name) and node.id == "basket"):
            return None  # a loop inside, or the basket read (its total is the line's for a part)
        stack.extend(ast.children(node))
    return LineCount(tree.func, compiler.compile_parts(tree, counts.origin, dict(counts.constants)))


LINES_KEPT = 4096  # the records of counted lines remembered per challenge


def lines_counted(
    items: list[Line],
    raw: list[int],
    kept: dict[tuple[Any, ...], tuple[CountedLine, Decimal]],
    skus: Sequence[str] | None = None,
    quantities: Sequence[Decimal] | None = None,
) -> list[CountedLine]:
    """The records of the lines a `count` counted (`counted_lines` of parts 1 and 0: `raw`), each
    found in `kept` by its line's index, SKU, quantity and part, and taken when the quantity is of
    the same exponent as the one it was made for (`same_quantum`: equal quantities of one
    exponent are the same decimal, the same text in the state — a quantity is above 0, never
    -0); else made (`trusted.counted_line`, found by the quantity's text). Costs one look-up a
    line whatever decimal objects the event's quantities are.

    `skus` and `quantities`: each line's (the run's lists, read once per event; longer than the
    lines is fine). With them the usual purchase — every line found, each for the very quantity
    object it was made for (the event reader's shared small decimals) — is looked up in C, the
    keys, the look-ups and the identity checks each one `map`, no Python loop over the lines."""
    if skus is not None and quantities is not None:
        # The keys looked up as `zip` makes them, never kept: it fills one tuple again for each line
        # (the run's lists are longer than the lines).
        found = list(map(kept.get, zip(range(len(raw)), skus, quantities, raw, strict=False)))
        if None not in found and all(map(is_, map(_QTY_KEPT, found), quantities)):  # type: ignore[arg-type]
            return list(map(_MODEL_KEPT, found))  # type: ignore[arg-type]
    made: list[CountedLine] = []
    for i, (line, part) in enumerate(zip(items, raw, strict=True)):
        qty = line.qty
        key = (i, line.sku, qty, part)
        found_one = kept.get(key)
        if found_one is not None and found_one[1].same_quantum(qty):
            made.append(found_one[0])
            continue
        model = counted_line(i, line.sku, qty, _ONE if part else _ZERO)
        if found_one is None:
            if len(kept) >= LINES_KEPT:
                kept.clear()
            kept[key] = (model, qty)
        made.append(model)
    return made


_MODEL_KEPT = itemgetter(0)
_QTY_KEPT = itemgetter(1)
