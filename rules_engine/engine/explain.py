"""Why a condition was false, in words a marketer reads: the false parts and the values they saw.

From the interpreter's trace of a condition, `failing_parts` keeps the smallest sub-conditions
that made it false (`basket.total >= 50 → false, basket.total = 42.50`), and `near_miss` says
what would have made a simple threshold pass ("spend 7.50 more").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rules_engine.dsl import ast
from rules_engine.dsl.interpreter import Trace
from rules_engine.dsl.values import display
from rules_engine.engine.outcome import ExplainNode
from rules_engine.render import source_text
from rules_engine.source import Origin


def failing_parts(trace: Trace, origin: Origin) -> list[str]:
    """The false leaves of a false condition, each with the values it read."""
    out: list[str] = []
    stack = [trace]
    while stack:
        item = stack.pop()
        node = item.node
        if isinstance(node, ast.BoolOp):
            # `and` failed on its false operands; `or` failed on all of them
            stack.extend(reversed([c for c in item.children if c.value is not True]))
            continue
        out.append(_describe(item, origin))
    return out


def _describe(item: Trace, origin: Origin) -> str:
    """`left >= right → false, left = value`: the part, its value, and what its operands read."""
    text = f"{_text(item, origin)} → {display(item.value)}"
    values = []
    if isinstance(item.node, ast.Compare | ast.Binary) and len(item.children) == 2:
        for side, operand in zip(("left", "right"), item.children, strict=True):
            if isinstance(operand.node, ast.Literal | ast.ListExpr) or isinstance(operand.value, dict):
                continue
            name = _text(operand, origin)
            if len(name) > 40:
                name = f"the {side} side"
            values.append(f"{name} = {display(operand.value)}")
    return ", ".join([text, *values])


def _text(item: Trace, origin: Origin) -> str:
    return " ".join(source_text(item.node, origin).split())


def near_miss(trace: Trace, origin: Origin) -> str | None:
    """For a condition that failed only on `amount >= threshold`: how much is missing."""
    leaves = []
    stack = [trace]
    while stack:
        item = stack.pop()
        if isinstance(item.node, ast.BoolOp) and item.node.op == "and":
            stack.extend(c for c in item.children if c.value is not True)
            continue
        leaves.append(item)
    if len(leaves) != 1:
        return None
    leaf = leaves[0]
    node = leaf.node
    if not isinstance(node, ast.Compare) or node.op not in (">=", ">") or len(leaf.children) != 2:
        return None
    have, need = leaf.children[0].value, leaf.children[1].value
    if not _number(have) or not _number(need):
        return None
    gap = Decimal(need) - Decimal(have)
    if node.op == ">":
        gap += Decimal("0.01") if isinstance(need, Decimal) or isinstance(have, Decimal) else 1
    if gap <= 0:
        return None
    left = _text(leaf.children[0], origin)
    if "total" in left or "price" in left:
        return f"spend {display(gap)} more"
    if len(left) > 40:
        return f"the left side needs {display(gap)} more"
    return f"{left} needs {display(gap)} more"


def _number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def explain_tree(trace: Trace, origin: Origin) -> ExplainNode:
    """The whole trace as JSON-able nodes (iterative, depth is bounded by the parser)."""

    def convert(item: Trace) -> ExplainNode:
        return ExplainNode(
            text=_text(item, origin),
            value=None if isinstance(item.value, dict) else _jsonable(item.value),
            note=item.note,
            children=[convert(c) for c in item.children if not isinstance(c.node, ast.Literal)],
        )

    return convert(trace)


def _jsonable(value: Any) -> Any:
    from rules_engine.dsl.values import to_json

    return to_json(value)
