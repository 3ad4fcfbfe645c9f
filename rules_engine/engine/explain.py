"""Why a condition was false, in words a marketer reads: the false parts and the values they saw.

From the interpreter's trace of a condition, `failing_parts` keeps the smallest sub-conditions
that made it false (`basket.total >= 50 → false, basket.total = 42.50`), and `near_miss` says
what would have made a simple threshold pass ("spend 7.50 more").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rules_engine.dsl import ast
from rules_engine.dsl.expression import Expression
from rules_engine.dsl.interpreter import Trace
from rules_engine.dsl.values import display, to_json
from rules_engine.engine.outcome import ExplainNode
from rules_engine.engine.trusted import trusted


def failing_parts(trace: Trace, expression: Expression) -> list[str]:
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
        out.append(_describe(item, expression))
    return out


def _describe(item: Trace, expression: Expression) -> str:
    """`left >= right → false, left = value`: the part, its value, and what its operands read."""
    text = f"{_text(item, expression)} → {display(item.value)}"
    values = []
    if isinstance(item.node, ast.Compare | ast.Binary) and len(item.children) == 2:
        for side, operand in zip(("left", "right"), item.children, strict=True):
            if isinstance(operand.node, ast.Literal | ast.ListExpr) or isinstance(operand.value, dict):
                continue
            name = _text(operand, expression)
            if len(name) > 40:
                name = f"the {side} side"
            values.append(f"{name} = {display(operand.value)}")
    return ", ".join([text, *values])


def _text(item: Trace, expression: Expression) -> str:
    return expression.node_texts[id(item.node)]


def near_miss(trace: Trace, expression: Expression) -> str | None:
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
    left = _text(leaf.children[0], expression)
    if "total" in left or "price" in left:
        return f"spend {display(gap)} more"
    if len(left) > 40:
        return f"the left side needs {display(gap)} more"
    return f"{left} needs {display(gap)} more"


def _number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def explain_tree(trace: Trace, expression: Expression) -> ExplainNode:
    """The whole trace as JSON-able nodes (recursive: depth is bounded by the parser's limits)."""
    texts = expression.node_texts

    def convert(item: Trace) -> ExplainNode:
        value = item.value
        values = {
            "text": texts[id(item.node)],
            "value": None if isinstance(value, dict) else to_json(value),
            "note": item.note,
            "children": [convert(c) for c in item.children if not isinstance(c.node, ast.Literal)],
        }
        return trusted(ExplainNode, values, _GIVEN)

    return convert(trace)


_GIVEN = {"text", "value", "note", "children"}
