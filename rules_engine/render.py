"""Everything the engine shows to people: diagnostics with a caret, traces, values.

Text is produced here and nowhere else. Diagnostics render as

    programs/gold.yaml:14:26: error[RE303]: cannot compare number with text
       |
    14 |     when: basket.total > "50"
       |                          ^^^^
       = hint: write the number without quotes: 50
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from rules_engine.dsl import ast
from rules_engine.dsl.interpreter import Trace
from rules_engine.dsl.values import display
from rules_engine.engine.money import money_quantum
from rules_engine.errors import Diagnostic
from rules_engine.source import Origin

if TYPE_CHECKING:  # the engine imports this module (explanations); types only, no import cycle
    from rules_engine.engine.outcome import (
        ExplainNode,
        Notification,
        Outcome,
        PointsChange,
        RuleTrace,
        TierChange,
        Totals,
    )
    from rules_engine.replay import Replay
    from rules_engine.state.customer import CustomerState
    from rules_engine.store.base import LedgerRow
    from rules_engine.tools.expectations import CaseResult


SNIPPET_WIDTH = 160
"""The most characters of a source line a diagnostic shows: a longer line (a basket of 10,000
lines on one line, a 100,000-character expression) is cut around the caret, with `…` marking
what is left out."""


def render_diagnostic(diagnostic: Diagnostic) -> str:
    """Plain text: `file:line:col: severity[code]: message`, the line, a caret, the hint."""
    span = diagnostic.span
    head = f"{diagnostic.severity}[{diagnostic.code}]: {diagnostic.message}"
    lines = []
    if span is None:
        lines.append(head)
    else:
        lines.append(f"{span}: {head}")
        number = str(span.line)
        gutter = " " * len(number)
        source = span.file.line_text(span.line).expandtabs(1)
        width = (
            (span.end_column - span.column) if span.end_line == span.line else len(source) - span.column + 1
        )
        shown, column, width = _snippet(source, span.column, max(1, width))
        lines += [
            f"{gutter} |",
            f"{number} | {shown}",
            f"{gutter} | {' ' * (column - 1)}{'^' * width}",
        ]
        if diagnostic.hint:
            lines.append(f"{gutter} = hint: {diagnostic.hint}")
        return "\n".join(lines)
    if diagnostic.hint:
        lines.append(f"  = hint: {diagnostic.hint}")
    return "\n".join(lines)


def _snippet(source: str, column: int, width: int) -> tuple[str, int, int]:
    """At most SNIPPET_WIDTH characters of a line around a caret, and the caret's new column
    and width (cut to what is shown)."""
    if len(source) <= SNIPPET_WIDTH:
        return source, column, width
    begin = max(0, min(column - 1 - SNIPPET_WIDTH // 3, len(source) - SNIPPET_WIDTH))
    end = begin + SNIPPET_WIDTH
    shown = source[begin:end]
    if begin > 0:
        shown = "…" + shown[1:]
    if end < len(source):
        shown = shown[:-1] + "…"
    column = max(1, column - begin)
    return shown, column, max(1, min(width, SNIPPET_WIDTH - column + 1))


def render_diagnostics(diagnostics: Iterable[Diagnostic]) -> str:
    return "\n\n".join(render_diagnostic(d) for d in diagnostics)


def styled_diagnostic(diagnostic: Diagnostic) -> Text:
    """The same text with colour for a terminal (rich); words and layout are identical.

    Styled line by line with plain string operations (a regex over the whole text was
    quadratic in the length of a caret run)."""
    colour = "red" if diagnostic.severity == "error" else "yellow"
    label = f"{diagnostic.severity}[{diagnostic.code}]"
    text = Text()
    for index, line in enumerate(render_diagnostic(diagnostic).split("\n")):
        if index:
            text.append("\n")
        if index == 0 and label in line:
            before, _, after = line.partition(label)
            text.append(before)
            text.append(label, style=f"bold {colour}")
            text.append(after)
        elif line.lstrip().startswith("= hint:"):
            at = line.index("= hint:")
            text.append(line[:at])
            text.append(line[at:], style="cyan")
        elif line.endswith("^") and line.rstrip("^").rstrip(" ").endswith("|"):
            carets = len(line) - len(line.rstrip("^"))
            text.append(line[:-carets])
            text.append(line[-carets:], style=f"bold {colour}")
        else:
            text.append(line)
    return text


def source_text(node: ast.Expr, origin: Origin) -> str:
    """The exact text a sub-expression was written as."""
    span = origin.span(*node.span)
    return span.file.text[span.start : span.end]


def trace_tree(trace: Trace, origin: Origin) -> Tree:
    """A rich tree of sub-expressions and their values, the way `--explain` prints it."""

    def label(item: Trace) -> Text:
        text = Text(overflow="fold")
        if item.note:
            text.append(f"[{item.note}] ", style="dim")
        text.append(
            source_text(item.node, origin) if item.node.span != (0, 0) else ast.unparse(item.node),
            style="bold",
        )
        text.append("  →  ")
        value = item.value
        style = "green" if value is True else "red" if value is False else "cyan"
        text.append(display(value), style=style)
        return text

    def shown(item: Trace) -> list[Trace]:
        out = []
        for child in item.children:
            if child.note is None and isinstance(child.node, ast.Literal | ast.ListExpr):
                continue  # a literal's value is its own text
            if isinstance(child.value, dict) and child.note is None:
                continue  # a whole record (`basket`) says less than the attribute read from it
            same_chain = isinstance(item.node, ast.BoolOp) and isinstance(child.node, ast.BoolOp)
            if same_chain and child.node.op == item.node.op and child.note is None:  # type: ignore[union-attr]
                out.extend(shown(child))  # a and b and c: one level, not a staircase
                continue
            out.append(child)
        return out

    root = Tree(label(trace))
    stack = [(trace, root)]
    while stack:
        item, branch = stack.pop()
        for child in shown(item):
            stack.append((child, branch.add(label(child))))
    return root


# -- `loyalty dry-run`: an outcome as a table, totals, effects and condition trees ---------------

_RECORDS = ("event", "basket", "customer", "item")


def outcome_report(
    outcome: Outcome, *, currency: str, points_name: str = "points", explain: bool = False
) -> Group:
    """What one event gave and why: a row per rule decision, then the totals and the effects.

    Nothing is truncated: long reasons and condition parts fold onto following lines. With
    `explain`, every rule whose condition was evaluated is followed by its condition tree.
    """
    quantum = money_quantum(currency)
    parts: list[RenderableType] = [
        Text.assemble(
            (f"{outcome.program} v{outcome.version}", "bold"),
            f" · event {outcome.event} · customer {outcome.customer}",
        ),
        rules_table(outcome, quantum=quantum, points_name=points_name),
        Text("Totals", style="bold"),
        _totals(outcome.totals, quantum, currency, points_name),
        Text(""),
        Text("Effects", style="bold"),
        _effects(outcome, quantum),
    ]
    if explain:
        parts += condition_trees(outcome)
    return Group(*parts)


def rules_table(outcome: Outcome, *, quantum: Decimal, points_name: str = "points") -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_lines=False, pad_edge=False, expand=False)
    table.add_column("rule", overflow="fold", max_width=30)
    table.add_column("kind", overflow="fold")
    table.add_column("fired", justify="center")
    table.add_column("why", overflow="fold", ratio=1)
    table.add_column("reward", justify="right", overflow="fold", max_width=18)
    money_phase = True  # discounts, tier discounts and coupons are decided before any earn rule
    for trace in outcome.trace:
        if trace.kind == "earn":
            money_phase = False
        is_money = trace.kind in ("discount", "coupon") or (trace.kind == "tier" and money_phase)
        table.add_row(
            trace.rule,
            trace.kind,
            Text("✓", style="bold green") if trace.fired else Text("✗", style="red"),
            _why(trace),
            _reward(trace, outcome, is_money, quantum, points_name),
        )
    return table


def _why(trace: RuleTrace) -> Text:
    text = Text(trace.reason, overflow="fold")
    for part in trace.failing:
        text.append("\n✗ ", style="red")
        text.append(part)
    if trace.hint:
        text.append(f"\n→ {trace.hint}", style="cyan")
    return text


def _reward(trace: RuleTrace, outcome: Outcome, is_money: bool, quantum: Decimal, points_name: str) -> Text:
    if not trace.fired:
        return Text("")
    if is_money:
        free = outcome.effects.free_shipping
        shipping = free is not None and free.rule == trace.rule
        if trace.amount:
            return Text(f"{money(trace.amount, quantum)} off" + (" + free shipping" if shipping else ""))
        return Text("free shipping" if shipping else "")
    if trace.amount is None:
        return Text("")
    spent = trace.kind == "tender" and ":" not in trace.rule  # paid with; `…:<purchase>` gives back
    if trace.kind in ("return", "catalog") or spent:  # taken back, spent on an item or a purchase
        return Text(f"-{_number(trace.amount)} {points_name}", style="red")
    return Text(f"+{_number(trace.amount)} {points_name}", style="green")


def _totals(totals: Totals, quantum: Decimal, currency: str, points_name: str) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column(justify="right")
    grid.add_column()
    rows = [
        ("basket", totals.basket),
        ("discount", totals.discount),
        ("shipping", totals.shipping),
        ("to pay", totals.to_pay),
        ("earning base", totals.earning_base),
    ]
    for label, amount in rows:
        grid.add_row(f"  {label}", money(amount, quantum), currency)
    grid.add_row("  points", _number(totals.points), points_name)
    return grid


def _effects(outcome: Outcome, quantum: Decimal) -> Table:
    effects = outcome.effects
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    if not effects.discounts:
        grid.add_row("  discounts", "none")
    for discount in effects.discounts:
        lines = ", ".join(f"items[{s.line}] {s.sku} {money(s.amount, quantum)}" for s in discount.lines)
        grid.add_row(f"  {discount.rule}", f"{money(discount.amount, quantum)} off: {lines}")
    free = effects.free_shipping
    grid.add_row(
        "  free shipping",
        "no" if free is None else f"yes, by {free.rule} ({money(free.amount, quantum)} waived)",
    )
    if effects.coupons_redeemed:
        grid.add_row("  coupons used", ", ".join(effects.coupons_redeemed))
    for coupon in effects.coupons_issued:
        grid.add_row(
            "  coupon issued", f"{coupon.code} ({coupon.coupon}, until {coupon.expires_at.isoformat()})"
        )
    for entry in effects.draw_entries:
        grid.add_row("  draw entries", f"{entry.count} in {entry.draw}")
    for badge in effects.badges:
        grid.add_row("  badge", f"{badge.badge} ({badge.rule})")
    for move in effects.tier_changes:
        grid.add_row("  tier", f"{move.old or '-'} → {move.new or '-'}: {move.reason}")
    for notification in effects.notifications:
        grid.add_row(
            "  notification",
            f"{notification.template} by {notification.channel} ({notification.rule})"
            + (f", waited until {notification.at.isoformat()}" if notification.at is not None else ""),
        )
    for change in effects.points_changes:
        grid.add_row("  points", change_text(change))
    return grid


_CHANGES = {
    "available": "became available",
    "expire": "expired",
    "burn": "spent",
    "reverse": "taken back by a return",
    "refund": "given back by a return (they paid for the returned lines)",
    "event": "changed",
}


def change_text(change: PointsChange | TierChange | Notification) -> str:
    """What time, spending or a return did, in words: `40 from e1/base expired (2027-12-01T…)`."""
    from rules_engine.engine.outcome import Notification, TierChange

    if isinstance(change, TierChange):
        return f"tier {change.old or '-'} → {change.new or '-'}: {change.reason}"
    if isinstance(change, Notification):
        at = change.at.isoformat() if change.at is not None else "now"
        return f"{change.channel} {change.template} sent for {change.rule} ({at}, it waited)"
    return f"{_number(change.points)} from {change.lot} {_CHANGES[change.kind]} ({change.at.isoformat()})"


def condition_trees(outcome: Outcome) -> list[RenderableType]:
    """Each evaluated condition as a tree of sub-expressions and the values they had."""
    out: list[RenderableType] = []
    for trace in outcome.trace:
        if trace.condition is None:
            continue
        out.append(Text(""))
        out.append(Text.assemble((trace.rule, "bold"), f" ({trace.kind}): {trace.reason}", overflow="fold"))
        out.append(explain_tree(trace.condition))
    return out


def explain_tree(node: ExplainNode) -> Tree:
    """An `ExplainNode` (from `Outcome.trace[].condition`) as a rich tree: text → value."""

    def label(item: ExplainNode) -> Text:
        text = Text(overflow="fold")
        if item.note:
            text.append(f"[{item.note}] ", style="dim")
        text.append(item.text, style="bold")
        text.append("  →  ")
        value = item.value
        style = "green" if value is True else "red" if value is False else "cyan"
        text.append(display(value), style=style)
        return text

    def shown(item: ExplainNode) -> list[ExplainNode]:
        # `basket`, `event` … are records; their value is not kept, and says less than the field read
        return [c for c in item.children if not (c.text in _RECORDS and c.value is None and not c.children)]

    root = Tree(label(node))
    stack = [(node, root)]
    while stack:
        item, branch = stack.pop()
        for child in shown(item):
            stack.append((child, branch.add(label(child))))
    return root


def money(amount: Decimal, quantum: Decimal) -> str:
    """An amount in the currency's minor units (`0` → `0.00`), never losing digits it has."""
    exact = amount.quantize(quantum) if amount == amount.quantize(quantum) else amount
    return format(exact, "f")


def _number(value: Decimal) -> str:
    return format(value, "f")


# -- `loyalty test`: one line per case, a diff per failure, a summary ----------------------------


def case_report(result: CaseResult) -> Text:
    """`PASS name`, or `FAIL name (where)` and one `key: expected X, got Y` line per mismatch."""
    if result.passed:
        return Text.assemble(("PASS", "bold green"), f" {result.name}")
    text = Text.assemble(("FAIL", "bold red"), f" {result.name}", (f"  ({result.span})", "dim"))
    for mismatch in result.mismatches:
        text.append(
            f"\n  {mismatch.key}: expected {_expected(mismatch.expected)}, got {_expected(mismatch.actual)}"
        )
        if mismatch.detail:
            text.append(f"\n      {mismatch.detail}", style="dim")
    for diagnostic in result.refused:
        text.append("\n")
        text.append_text(_indented(styled_diagnostic(diagnostic), "    "))
    return text


def suite_summary(passed: int, failed: int) -> Text:
    return Text(f"{passed} passed, {failed} failed", style="bold red" if failed else "bold green")


def _expected(value: Decimal | bool | str | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if value is None:
        return "nothing"
    return value


def _indented(text: Text, pad: str) -> Text:
    lines = text.split("\n")
    out = Text()
    for index, line in enumerate(lines):
        if index:
            out.append("\n")
        out.append(pad)
        out.append_text(line)
    return out


def customer_lines(
    state: CustomerState, rows: Sequence[LedgerRow], points_name: str, zone: dt.tzinfo
) -> list[str]:
    """A customer's standing, for `loyalty customer`: as of their latest event, never the clock;
    the ledger's times in the program's time zone (a store may keep them in UTC)."""
    at = state.last_event_at
    total = sum((lot.points for lot in state.lots), Decimal(0))
    lines = [
        f"{state.customer}: tier {state.tier or '-'}"
        + (f" since {state.tier_since.isoformat()}" if state.tier_since else "")
    ]
    if at is None:
        lines.append(f"  balance {_number(total)} {points_name}")
    else:
        lines.append(
            f"  balance {_number(total)} {points_name}: {_number(state.available(at))} available, "
            f"{_number(state.pending(at))} pending (as of the latest event, {at.isoformat()})"
        )
    lines.append(f"  visits {state.visits}; badges: {', '.join(state.badges) or 'none'}")
    for lot in state.lots:
        if lot.points:
            expiry = f", expires {lot.expires_at.isoformat()}" if lot.expires_at else ""
            lines.append(
                f"  lot {lot.id}: {_number(lot.points)}, available {lot.available_at.isoformat()}{expiry}"
            )
    for coupon in state.coupons:
        if coupon.used_in is None:
            lines.append(f"  coupon {coupon.code} ({coupon.coupon}), until {coupon.expires_at.isoformat()}")
    if rows:
        lines.append(f"  latest ledger entries ({len(rows)}):")
    for row in rows:
        entry = row.entry
        where = "".join(
            f", line {part.line} {_number(part.points)}" if len(entry.lines) > 1 else f" line {part.line}"
            for part in entry.lines
        )
        if where and not entry.lot.startswith(f"{entry.event}/"):
            # a return's entry: the lines are the purchase's, named with the lot they belong to
            where = f", purchase lot {entry.lot}{where}"
        points = _number(entry.points)
        when = entry.at.astimezone(zone).isoformat()
        lines.append(f"    {when} {entry.kind:<7} {points:>8}  {entry.rule} ({entry.event}{where})")
    return lines


def replay_totals(result: Replay, problems_file: str | None = None) -> list[str]:
    """The closing lines of `loyalty run`: events, problems, customers; points by ledger kind."""
    again = f", {result.duplicates} already processed before" if result.duplicates else ""
    warned = f", {result.warnings} warning(s)" if result.warnings else ""
    where = (
        f" (in {problems_file})" if problems_file is not None and (result.problems or result.warnings) else ""
    )
    so_far = " so far" if result.stopped else ""
    return [
        f"{result.applied} events processed{again}, {result.problems} problem(s){warned}{where}, "
        f"{result.customers} customer(s){so_far}",
        f"points: {result.issued} issued, {result.redeemed} redeemed, {result.expired} expired, "
        f"{result.reversed} reversed",
    ]


def replay_customer_line(customer: str, state: CustomerState, earned: Decimal) -> str:
    """`loyalty run --by-customer`: one customer's tier, balance and visits, and what the run gave."""
    balance = sum((lot.points for lot in state.lots), Decimal(0))
    return (
        f"{customer}: tier {state.tier or '-'}, {balance} points, {state.visits} visits, "
        f"{earned} earned in this run"
    )
