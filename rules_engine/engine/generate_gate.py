"""The admission gate as generated code: group, schedule, condition, each refusal traced.

What `admission.admitted` asks every rule at run time, written out for one rule of the event's
type (generate.py runs only purchases through generated code, so the event type is known): its
exclusive group's winner → its schedule (a schedule of dates only compared at once, its refusals
made here) → its condition; the rule's own statements in the last `else`.

Input: a `Writer` and the rule's facts. Output: statements.
"""

from __future__ import annotations

import ast as py
from typing import Any

from rules_engine.dsl.expression import Expression
from rules_engine.engine.code_writer import Writer
from rules_engine.engine.generate_lines import inlined, reads_context
from rules_engine.engine.trusted import simple_verdict, verdict

# The trace entry of a rule its group's winner shadows, made here for each rule that may win.
_SHADOWED = """
if WINNER is not None:
    _append(SHADOWS[WINNER])
"""
_ACTIVE = """
if (_where := _within(ACTIVE, run.local)) is not None:
    _append(_sv(RULE, KIND, False, "outside_schedule", "not active: " + _where))
"""
# A schedule of dates only (no weekdays, no hours): the day compared at once, the words made
# by `schedule.within` only when the event is outside.
# The condition's trace entry when false is the same every time (explain is off on this path:
# `conditions.condition_trace` records no false parts, hint or tree), made once.
_WHEN = """
try:
    _ok = WHEN is True
except _KE:
    _ok = False
if not _ok:
    _append(FALSE)
"""


def admission(
    writer: Writer,
    rule: str,
    kind: str,
    group: str | None,
    winner: str | None,
    active: Any,
    when: Expression | None,
    body: list[py.stmt],
) -> list[py.stmt]:
    """The admission gate (admission.py) for a rule of the run's event type: shadowed by its
    group's winner → outside its schedule → its condition false; else `body`."""
    statements = body
    if when is not None:
        test = condition(writer, when)
        false = verdict(
            rule, kind, False, "condition_false", "condition is false", failing=[], hint=None, condition=None
        )
        checked = context_first(writer, test) + writer.stmts(_WHEN, WHEN=test, FALSE=false)
        branch = checked[-1]
        assert isinstance(branch, py.If)
        branch.orelse = statements
        statements = checked
    if active is not None:
        dated = dates_gate(writer, active, rule, kind, statements)
        if dated is not None:
            statements = dated
        else:
            (branch,) = writer.stmts(_ACTIVE, ACTIVE=active, RULE=rule, KIND=kind)
            assert isinstance(branch, py.If)
            branch.orelse = statements
            statements = [branch]
    if group is not None:
        assert winner is not None
        words = f"` of exclusive group `{group}` applies instead" + (
            " (higher priority)" if kind == "earn" else ""
        )
        plan = writer.plan
        members = (
            [step.discount.id for step in plan.discounts if step.discount.group == group]
            if kind == "discount"
            else [step.rule.id for step in (*plan.base_rules, *plan.multipliers) if step.rule.group == group]
        )
        shadows = {
            member: simple_verdict(rule, kind, False, "shadowed", f"`{member}{words}") for member in members
        }
        (branch,) = writer.stmts(_SHADOWED, WINNER=py.Name(winner, py.Load()), SHADOWS=shadows)
        assert isinstance(branch, py.If)
        branch.orelse = statements
        statements = [branch]
    return statements


def condition(writer: Writer, when: Expression) -> py.expr:
    """A rule's condition over the event's context `_c`: the compiled expression inlined when it
    is one expression (generate_lines.inlined), else a call of its function."""
    test = inlined(writer, when, "_w")
    if test is not None:
        return test
    return writer.expr("WHEN(_c)", WHEN=when._function)


def context_first(writer: Writer, test: py.expr) -> list[py.stmt]:
    """`_c = _ctx(run)` when `test` reads the event's context (a value the run does not have as
    a local: generate_lines.DIRECT), else nothing: no context is built for it."""
    return writer.stmts("_c = _ctx(run)") if reads_context(test) else []


def dates_gate(
    writer: Writer, active: Any, rule: str, kind: str, body: list[py.stmt]
) -> list[py.stmt] | None:
    """A schedule of dates only (one `Schedule`, no weekdays or hours): the event's local date
    compared at once, each refusal's trace entry made here (what `schedule.within` would say);
    None for any other schedule."""
    if isinstance(active, list) or active.weekdays is not None or active.hours is not None:
        return None
    if active.start is None and active.end is None:
        return body
    writer.uses_day = True
    statements = body
    if active.end is not None:
        after = simple_verdict(
            rule, kind, False, "outside_schedule", f"not active: ended on {active.end.isoformat()}"
        )
        statements = writer.stmts(
            "if _day > END:\n    _append(AFTER)\nelse:\n    BODY",
            END=active.end,
            AFTER=after,
            BODY=statements,
        )
    if active.start is not None:
        before = simple_verdict(
            rule, kind, False, "outside_schedule", f"not active: starts on {active.start.isoformat()}"
        )
        statements = writer.stmts(
            "if _day < START:\n    _append(BEFORE)\nelse:\n    BODY",
            START=active.start,
            BEFORE=before,
            BODY=statements,
        )
    return statements


def outside_dates(writer: Writer, active: Any) -> py.expr | None:
    """`_day` outside a schedule of dates only (one `Schedule` without weekdays or hours), as an
    expression; None for any other schedule (`schedule.within` decides it)."""
    if isinstance(active, list) or active.weekdays is not None or active.hours is not None:
        return None
    tests = []
    if active.start is not None:
        tests.append(f"_day < {_name(writer, active.start)}")
    if active.end is not None:
        tests.append(f"_day > {_name(writer, active.end)}")
    if not tests:
        return None
    writer.uses_day = True
    return py.parse(" or ".join(tests), mode="eval").body


def _name(writer: Writer, value: Any) -> str:
    node = writer.const(value)
    assert isinstance(node, py.Name)
    return node.id
