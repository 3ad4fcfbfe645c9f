"""How much of a customer's purchase history the state keeps: what the program reads, no more.

`customer.purchases` (the lines of earlier purchases) costs a record per line ever bought, so
the state keeps the lines only as far as someone needs them:

- a program whose expressions read `customer.purchases` other than through `len(...)` (or with
  an offer that skips what was bought, which reads every earlier line) keeps every line: such a
  program asks about the whole history, and its state grows with it;
- otherwise the lines of a purchase are kept for as long as a return can use them: the program's
  return window (`returns.within`), or without one as long as points live (`points.expire_after`),
  a day more (lines carry a local date); a program with neither keeps them all. What is left out
  is counted (`CustomerState.older_purchases`), so `len(customer.purchases)` still counts every
  line ever bought.

Input: a compiled program (once, in `Plan`), a state. Output: the `customer.purchases` of the
context, how long the lines are kept. How the state holds them — `kept` (the cut) and `Bought` (a
step's lines made when read) — is the state's own (state/purchases.py), re-exported here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from rules_engine.dsl import ast
from rules_engine.program.compile import CompiledProgram
from rules_engine.state.customer import CustomerState
from rules_engine.state.purchases import CHAINED, Bought, kept

__all__ = ["CHAINED", "Bought", "EarlierLines", "customer_purchases", "kept", "kept_for", "purchases_use"]

Use = Literal["lines", "count", "none"]


def purchases_use(compiled: CompiledProgram) -> Use:
    """What the program reads of `customer.purchases`: the lines, their number only (every read is
    `len(customer.purchases)`), or nothing."""
    program = compiled.program
    if any(offer.skip_bought for offer in program.offers):  # social._bought reads every line
        return "lines"
    counted: set[int] = set()
    found = False
    for expression in compiled.expressions.values():
        stack: list[ast.Expr] = [expression.tree]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Call) and node.func == "len" and len(node.args) == 1:
                if _is_purchases(node.args[0]):
                    counted.add(id(node.args[0]))
            elif _is_purchases(node):
                found = True
                if id(node) not in counted:
                    return "lines"
            stack.extend(ast.children(node))
    return "count" if found or counted else "none"


def _is_purchases(node: ast.Expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "purchases"
        and isinstance(node.value, ast.Name)
        and node.value.id == "customer"
    )


def kept_for(compiled: CompiledProgram, use: Use) -> dt.timedelta | None:
    """How long the lines of a purchase are kept; None: for ever."""
    program = compiled.program
    if use == "lines":
        return None
    if program.returns is not None:
        return program.returns.within
    return program.points.expire_after


class EarlierLines(tuple[dict[str, Any], ...]):
    """`customer.purchases` of a program that only counts it: the lines the state keeps (or none,
    when nothing shows them), with the length of the whole history. The program's expressions
    read nothing but its length (`purchases_use`)."""

    length: int

    def __new__(cls, records: tuple[dict[str, Any], ...], length: int) -> EarlierLines:
        made = super().__new__(cls, records)
        made.length = length
        return made

    def __len__(self) -> int:
        return self.length


def customer_purchases(
    state: CustomerState, use: Use, records: Any, shown: bool
) -> tuple[dict[str, Any], ...]:
    """The context's `customer.purchases`. `records` makes the records of the kept lines; they
    are made for a program that counts only when `shown` (an explanation may show them)."""
    if use == "lines":
        return records(state.purchases)  # type: ignore[no-any-return]
    older = state.older_purchases
    count = len(state.purchases) + (older.lines if older is not None else 0)
    return EarlierLines(records(state.purchases) if shown else (), count)
