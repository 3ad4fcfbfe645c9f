"""A program's pricing and earning stages as one generated Python function: `Plan` → `ast`.

The second back end of issue 13, first slice. `pricing.discounts(run)` then `earning.earn(run)`
decide every program alike: they loop over the plan's rules, ask the admission gate generic
questions, and take every option's branch at run time. For a given program most of those questions
have one answer, known when the engine is made. `generate(plan)` writes the two stages out for
that program: the discounts and earn rules in their order, each one's admission (group, schedule,
condition) as plain `if`s, its kind of points (a rate, an award, a per-line award, a multiplier,
the tier's multiplier) as the code of that kind only, and the rounding of the program's
`points.round` on integers (numerators over one denominator, as `rounding.Rounding` keeps them)
without the object (generate_rounding.py). Money is decided in the currency's minor units and
points as whole ints, decimals made only of what the run keeps (docs/engine.md, "Integers inside,
decimals at the edges"). It fills the run exactly as the two stages do: the same discounts,
earning base, awards, counters, negative awards and trace verdicts in the same order, so the
mechanics and settle run after it unchanged (evaluator.py, `_decide`), and the same outcome and
state come out byte for byte (tests/engine/test_generated.py holds the two paths equal on every
example program and on random programs and streams).

What is generated: discounts (percent, amount, free shipping, `applies_to`, `when`, `active`,
exclusive groups, priorities; an amount by `pricing.take_off`), the tier's discount and free
shipping (by `pricing.tier_benefits`), the earning base, earn rules with `rate`, `award` (a number
or an expression), `for_each_item`, `exclude`, `when`, `active`, caps of any period, budgets of
any period (what the store counted, `run.budgets`), exclusive groups, priorities, `multiply` rules
and the tier's `earn_multiplier`, `points.pending`, `points.round` of each mode. What is not,
decided once here (`unsupported`): a discount `amount` finer than the currency's minor unit
(`validate` refuses it, RE133; a `Program` built without the program checks may hold one), a plan
made without its shortcuts (tests hold the shortcuts to the general paths). A program with either
runs the evaluator's stages for every event; `generated.covers` says which events the generated
function takes (purchases of at least one line, without a coupon or points tendered, explain off).

How the code is made (code_writer.py): each piece is a template of engine-written Python (never
a program's text) whose placeholders become the program's values as `ast` constants or names in
the module's namespace; every statement is stamped with its rule's line in the program file, so
a traceback through the function points into the program; the module runs with no builtins.
Expressions are called as the functions the condition compiler made of them (their own frames
point into the program too), or, when a condition is one expression, inlined: its compiled `ast`
written into the function, the per-line conditions of all rules in one pass over the lines at
its start (generate_lines.py). The pieces: generate_gate.py (the admission gate),
generate_pricing.py (discounts), generate_earning.py (earn rules), generate_multipliers.py
(multipliers), generate_caps.py (their caps and budgets), generate_rounding.py (where the
points are rounded), generate_lines.py (conditions inlined, the
per-line pass), generate_aggregates.py (aggregates over the lines), put in their order here.

Input: a `Plan`. Output: `Generated` (the module as `ast`, and the namespace it runs in).
"""

from __future__ import annotations

import ast as py
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rules_engine.engine import pricing
from rules_engine.engine.code_writer import Writer, fix_missing_locations
from rules_engine.engine.generate_earning import EARN_START, TRACK_START, earn_rule, wrong_event
from rules_engine.engine.generate_multipliers import may_multiply, multiplier, tier_multiplier
from rules_engine.engine.generate_pricing import discount, minor_units, resync
from rules_engine.engine.generate_rounding import starts
from rules_engine.engine.plan import Plan

ENTRY = "decide"


def unsupported(plan: Plan) -> str | None:
    """Why the program's pricing and earning cannot be generated yet (None: they can)."""
    if not plan.shortcuts:
        return "the plan was made without its shortcuts (the general paths, for tests)"
    program = plan.program
    finer = [d.id for d in program.discounts if d.amount is not None and d.amount % plan.quantum]
    if finer:  # what is left of a line is then no whole number of minor units (the stage keeps it)
        return f"discount `{finer[0]}` takes an amount finer than the currency's minor unit"
    return None


@dataclass(frozen=True)
class Generated:
    """The generated module (`ast`, positions in the program file) and the namespace it runs in."""

    module: py.Module
    namespace: dict[str, Any]
    filename: str


def _earning_base(writer: Writer) -> list[py.stmt]:
    """Each line's earning base (earning.earning_base; paid with points is never generated), as
    the run keeps it (`_base`, decimals) and in minor units (`_bm`)."""
    settings = writer.plan.program.earning_base
    if not settings.include_tax:  # tax taken off: the stage's own function
        if not writer.exponent:
            return writer.stmts("_base = _earning_base(run)\n_bm = [_int(_b) for _b in _base]")
        return writer.stmts(
            "_base = _earning_base(run)\n_bm = [_int(_b * SCALE) for _b in _base]",
            SCALE=Decimal(10**writer.exponent),
        )
    exclude = writer.plan.base_exclude
    if exclude is None:
        return writer.stmts("_base = _list(run.remaining)\n_bm = _rm")
    return writer.at(
        writer.stmts(  # most baskets have no line it leaves out: then the base is as without it
            "_out_base = EXCLUDED\n"
            "if _any(_out_base):\n"
            "    _base = [_ZERO if _out else _b for _out, _b in _zip(_out_base, run.remaining)]\n"
            "    _bm = [0 if _out else _b for _out, _b in _zip(_out_base, _rm)]\n"
            "else:\n"
            "    _base = _list(run.remaining)\n"
            "    _bm = _rm",
            EXCLUDED=writer.lines.truths(exclude, "_range(_n)"),
        ),
        ("earning_base",),
        "earning_base: the lines it leaves out earn nothing",
    )


def generate(plan: Plan) -> Generated:
    """The module of the program's pricing and earning for a purchase (see the module docstring).

    Raises:
        ValueError: the program uses a part that is not generated (`unsupported`).
    """
    why = unsupported(plan)
    if why is not None:
        raise ValueError(why)
    writer = Writer(plan)
    winners: dict[str, str] = {}
    pricing_code: list[py.stmt] = []
    for discount_step in plan.discounts:
        pricing_code += discount(writer, discount_step, winners)
    if any(
        level.benefits.discount_percent is not None or level.benefits.free_shipping
        for level in plan.tiers.values()
    ):
        pricing_code += writer.at(
            writer.stmts(
                "if run.tier is not None:\n    TIER_BENEFITS(run)\n    RESYNC",
                TIER_BENEFITS=pricing.tier_benefits,
                RESYNC=resync(writer),
            ),
            ("tiers",),
            "the tier's discount and free shipping",
        )
    earn_winners: dict[str, str] = {}
    earn: list[py.stmt] = []
    for step in plan.base_rules:
        if "purchase" not in step.on:
            earn += wrong_event(writer, step)
        else:
            earn += earn_rule(writer, step, earn_winners)
    if plan.multipliers or any(level.benefits.earn_multiplier is not None for level in plan.tiers.values()):
        earn += writer.stmts("_mb = None")
    for step in plan.multipliers:
        if "purchase" not in step.on:
            earn += wrong_event(writer, step)
        else:
            earn += multiplier(writer, step, earn_winners)
    earn += tier_multiplier(writer)
    earn_start = writer.stmts(EARN_START, BASE=_earning_base(writer), ROUNDING=starts(writer))
    pending = plan.program.points.pending
    if pending:  # when the awards' points become available: one time for all of them
        earn_start += writer.stmts("_available = run.event.time + PENDING", PENDING=pending)
    body: list[py.stmt] = writer.stmts("_append = run.trace.append\n_n = _len(run.items)")
    body += minor_units(writer)  # each line's amount in minor units (`_rm`: what is left of it)
    lines = writer.lines.statements()  # after every rule is written: it reads what they ask
    body += writer.direct_statements()  # the context's values the conditions read, once
    body += lines
    body += [writer.stmts(f"{name} = None")[0] for name in winners.values()]
    body += pricing_code
    body += earn_start
    if writer.may_track:
        per_line = plan.program.points.round == "per_line"  # every award keeps its lines' points
        body += writer.stmts(TRACK_START, TRACKED=per_line)
        if not per_line:
            body += may_multiply(writer)
    body += [writer.stmts(f"{name} = None")[0] for name in earn_winners.values()]
    body += earn
    args = py.arguments(posonlyargs=[], args=[py.arg("run")], kwonlyargs=[], kw_defaults=[], defaults=[])
    doc = py.Expr(
        py.Constant(f"Pricing and earning of {plan.program.program} v{plan.program.version}, for a purchase.")
    )
    function = py.FunctionDef(name=ENTRY, args=args, body=[doc, *body], decorator_list=[], returns=None)
    module = py.Module(body=[*writer.helpers, function], type_ignores=[])
    fix_missing_locations(module)
    return Generated(module, writer.namespace, writer.file)
