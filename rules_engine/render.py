"""Everything the engine shows to people: diagnostics with a caret, traces, values.

Text is produced here and nowhere else. Diagnostics render as

    programs/gold.yaml:14:26: error[RE303]: cannot compare number with text
       |
    14 |     when: basket.total > "50"
       |                          ^^^^
       = hint: write the number without quotes: 50
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from rich.tree import Tree

from rules_engine.dsl import ast
from rules_engine.dsl.interpreter import Trace
from rules_engine.dsl.values import display
from rules_engine.errors import Diagnostic
from rules_engine.source import Origin


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
        lines += [
            f"{gutter} |",
            f"{number} | {source}",
            f"{gutter} | {' ' * (span.column - 1)}{'^' * max(1, width)}",
        ]
        if diagnostic.hint:
            lines.append(f"{gutter} = hint: {diagnostic.hint}")
        return "\n".join(lines)
    if diagnostic.hint:
        lines.append(f"  = hint: {diagnostic.hint}")
    return "\n".join(lines)


def render_diagnostics(diagnostics: Iterable[Diagnostic]) -> str:
    return "\n\n".join(render_diagnostic(d) for d in diagnostics)


def styled_diagnostic(diagnostic: Diagnostic) -> Text:
    """The same text with colour for a terminal (rich); words and layout are identical."""
    text = Text(render_diagnostic(diagnostic))
    colour = "red" if diagnostic.severity == "error" else "yellow"
    text.highlight_words([f"{diagnostic.severity}[{diagnostic.code}]"], style=f"bold {colour}")
    text.highlight_regex(r"\^+$", style=f"bold {colour}")
    text.highlight_regex(r"= hint:.*", style="cyan")
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
