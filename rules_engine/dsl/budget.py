"""The work an expression may do for one event: a bound on its loops, the same on both back ends.

A loop (`any`, `all`, `count`, `sum`, `min`, `max` over a list) costs as many steps as its list has
elements, and loops inside loops multiply. So does `x in LIST` (and `not in`) where the list comes
from the data (`basket.coupons`, `customer.tags`): it walks the list, one loop level of its own.
`in` over a literal list or a program constant does not grow with the data, and `in` on text is a
substring test: neither is a loop here. A per-item rule is itself a loop over the basket's
lines, run by the engine: `any(… for x in basket.items)` inside one costs lines × lines steps per
event, and two nested loops inside one cost lines³ (hours at 10,000 lines). So:

- The static shape decides whether an expression is bounded at all. With at most one loop level,
  counting the per-item rule's own (`nesting(tree) + per_item <= 1`), the work is at most the
  length of one list — linear in the event, which the event's own limits bound — and the
  compiled code carries no counter: the fast path costs exactly what it did.
- Otherwise every evaluation gets an allowance of `MAX_LOOP_STEPS` steps, and each loop, as it
  starts, takes the length of its list from it (the whole list, even where `any`/`all` stop early:
  cheap to count, and the bound stays a property of the data's shape); an `in` over the data
  takes its list's length once both sides are read, just before it looks. A per-item expression
  runs once per basket line, so each run gets the lines' share: `MAX_LOOP_STEPS // lines`, and
  the event's total stays within `MAX_LOOP_STEPS` per expression.
- Past the allowance, the loop about to start raises `LoopBudgetError` (RE470) at its span: the
  event is refused, nothing applied. The compiled code and the interpreter charge the same
  loops in the same order, so they fail at the same loop, with the same error.

An explanation (`explain`) evaluates with the interpreter and a fresh allowance of its own; it
also evaluates the parts the answer did not need (to show them), and counts their loops too.

The checker's side, warning at validate time about nested loops over the data, is
`checker.loop_warnings` (RE312).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from rules_engine.dsl import ast
from rules_engine.dsl import types as t
from rules_engine.errors import Diagnostic, LoopBudgetError
from rules_engine.source import Origin

# A million list elements per expression and event: a few tenths of a second of compiled loops
# on a busy core, half a minute in the interpreter that explanations use (about 100 times slower).
# Linear rules are never counted; lines × lines in a per-item rule passes up to 1,000 lines,
# lines³ up to 100; 10,000 lines (the most an event may have) × 100 tags is the limit itself.
MAX_LOOP_STEPS = 1_000_000


def nesting(node: ast.Expr, constants: Collection[str] = ()) -> int:
    """How deep loops nest in `node`. A loop in another loop's list runs once, not per element;
    an `in` over a list from the data is a loop with nothing inside it."""
    if isinstance(node, ast.Comprehension):
        inner = max(
            nesting(node.element, constants),
            nesting(node.condition, constants) if node.condition is not None else 0,
        )
        return max(nesting(node.iterable, constants), 1 + inner)
    below = max((nesting(child, constants) for child in ast.children(node)), default=0)
    return max(below, 1) if searches_data(node, constants) else below


def from_data(node: ast.Expr, constants: Collection[str] = ()) -> bool:
    """Whether a list's length may grow with the data: it reads a name that is no program constant."""
    stack = [node]
    while stack:
        part = stack.pop()
        if isinstance(part, ast.Name) and part.id not in constants:
            return True
        stack.extend(ast.children(part))
    return False


def searches_data(node: ast.Expr, constants: Collection[str] = ()) -> bool:
    """Whether `node` is `x in LIST` / `x not in LIST` with a list from the data (typed trees
    only: an untyped right side, or one typed text, is not a list to walk)."""
    if not isinstance(node, ast.Compare) or node.op not in ("in", "not in"):
        return False
    right = node.right
    return (
        right.type is not None
        and right.type.kind is t.Kind.LIST
        and not isinstance(right, ast.ListExpr)
        and from_data(right, constants)
    )


def needs_budget(tree: ast.Expr, per_item: bool, constants: Collection[str] = ()) -> bool:
    """Whether loops nest (the per-item rule's own loop counted): only then is work counted."""
    return nesting(tree, constants) + per_item >= 2


@dataclass(frozen=True)
class LoopBudget:
    """How one expression's evaluations are bounded; both back ends ask it."""

    origin: Origin
    per_item: bool

    def allowance(self, context: Mapping[str, Any]) -> int:
        """The steps one evaluation may take on this context."""
        if not self.per_item:
            return MAX_LOOP_STEPS
        return MAX_LOOP_STEPS // _lines(context)

    def charge(
        self, context: Mapping[str, Any], steps: list[int], found_in: Any, start: int, end: int
    ) -> Any:
        """The compiled code's charge for an `in` over a list from the data at `start:end`:
        take the list's length from the allowance in `steps[0]`, then hand the list back."""
        steps[0] -= len(found_in)
        if steps[0] < 0:
            raise self.exceeded(context, start, end, search=True)
        return found_in

    def exceeded(
        self, context: Mapping[str, Any], start: int, end: int, *, search: bool = False
    ) -> LoopBudgetError:
        """The error for the loop at `start:end` (offsets in the expression's text); `search`
        when it is an `in` over a list from the data."""
        span = self.origin.span(start, end)
        text = " ".join(span.file.text[span.start : span.end].split())
        if len(text) > 60:
            text = text[:57] + "…"
        what = "the search" if search else "the loop"
        message = f"too much work for one event: {what} `{text}` would go past {MAX_LOOP_STEPS:,} steps"
        if self.per_item:
            message = (
                f"too much work for one event: {what} `{text}` would go past the "
                f"{self.allowance(context):,} steps each of the basket's {_lines(context):,} lines may "
                f"take in a per-item rule ({MAX_LOOP_STEPS:,} per event)"
            )
            hint = (
                "a loop over basket.items inside a per-item rule costs lines × lines: test the "
                "basket-wide part once, in the rule's `when`"
            )
        else:
            hint = "loops inside loops multiply: compute the inner part once, or go through a shorter list"
        if search:
            hint = (
                "`in` walks its list, once per step of the loop around it: search a shorter list, "
                "or a literal list or constant"
            )
        return LoopBudgetError([Diagnostic("RE470", message, span, hint)])


def _lines(context: Mapping[str, Any]) -> int:
    basket = context.get("basket")
    items = basket.get("items") if basket is not None else None
    return max(1, len(items)) if items else 1
