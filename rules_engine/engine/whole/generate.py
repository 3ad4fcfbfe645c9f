"""The whole step's pricing and earning for one program, generated as Python `ast` on ints.

`generate(plan)` writes one function, `decide(lines, total, hour, wday, day, bought, tier,
counters, daykey)`, for a program `covers` (whole/covers.py) takes: the discounts in their order,
the earning base, the earn rules by priority (a `rate`, a fixed `award`, a per-line
`award: K * item.qty`, their `when`, `active` dates, exclusive groups and caps per day or per
event), the `multiply` rules and the tier's `earn_multiplier` as additive bonuses on the exact
points of the rules before them, rounded once (`points.round: per_award`), all on ints: money in
the currency's minor units, points whole, exact points as numerators over the rate's denominator.
Conditions are translated from their checked trees (whole/conditions.py), a per-line one as a
list comprehension over the lines in its rule's code (not yet fused into one pass over the lines
for all rules). Each rule's code is stamped with its place in the program file and labelled
(code_writer.py `Writer.at`); the module runs with no builtins, only the names in `RUNTIME`.

It records, never explains: the trace as the `Verdict`s the rule's outcome always gives (made once,
constants of the module) or a short tuple the result makes a `Verdict` of when read (whole/
result.py); awards as `(rule, points, weights, kind)`.

It returns the discounts' cuts and the earning base per line, the awards, the multipliers'
bonuses, the trace, and the mechanics' conditions (each purchase badge's `when`, each challenge's
part per line, each quest step), or None for a purchase whose multiplier would give nothing (the
step leaves it to the engine). The cap counters it is given are a copy: the step keeps them only
once it decided the whole event.

Input: a `Plan` (covered). Output: `(module, namespace)`: the `ast.Module` and what it runs with.
"""

from __future__ import annotations

import ast as py
from decimal import Decimal
from typing import Any

from rules_engine.engine.code_writer import Writer, fix_missing_locations
from rules_engine.engine.plan import Plan
from rules_engine.engine.trusted import simple_verdict
from rules_engine.engine.whole.conditions import translate
from rules_engine.program.model import EarnRule

ENTRY = "decide"


def _split(total: int, weights: list[int]) -> list[int]:
    """`total` in proportion to `weights` (not all 0): floors, then the units left to the largest
    remainders, ties to the earlier line (`money._largest_remainder`)."""
    weight_sum = sum(weights)
    products = [total * w for w in weights]
    parts = [p // weight_sum for p in products]
    left = total - sum(parts)
    if left:
        remainders = [p % weight_sum for p in products]
        for i in sorted(range(len(parts)), key=remainders.__getitem__, reverse=True)[:left]:
            parts[i] += 1
    return parts


class Excluded(int):
    """The earning base of a line `earning_base.exclude` leaves out: 0, told apart from a line that
    costs 0 (the engine's base of such a line is the decimal 0, without the currency's decimals)."""


EXCLUDED = Excluded(0)

RUNTIME: dict[str, Any] = {
    "_X0": EXCLUDED,
    "_len": len,
    "_sum": sum,
    "_any": any,
    "_min": min,
    "_split": _split,
    "_range": range,
}


def rate_denominator(rule: EarnRule, decimals: int) -> int:
    """Minor units per point of a `rate: 1 per N` rule."""
    assert rule.rate is not None
    return int(rule.rate.per * 10**decimals / rule.rate.points)


def generate(plan: Plan) -> tuple[py.Module, dict[str, Any]]:
    program = plan.program
    writer = Writer(plan)
    namespace = writer.namespace
    namespace.update(RUNTIME)
    expression = plan.compiled.expression
    decimals = writer.exponent
    constants = dict(program.constants)
    texts = frozenset(plan.custom_names["item"]) & plan.text_attributes["item"]  # as step.py's
    body: list[py.stmt] = []

    def cond(path: tuple[Any, ...], in_line: bool) -> py.expr | None:
        made = expression(*path)
        if made is None:
            return None
        return translate(made.tree, constants, decimals, in_line, texts)

    def verdict(*args: Any) -> py.expr:
        return writer.const(simple_verdict(*args))

    # -- discounts ------------------------------------------------------------------------------
    body += writer.stmts(
        """
        _amounts = [_p * _q for (_s, _c, _p, _q, _m) in _lines]
        _paid = _amounts
        _trace = []
        _cuts = []
        """
    )
    discounts = sorted(enumerate(program.discounts), key=lambda d: (-d[1].priority, d[1].id))
    for index, discount in discounts:
        when = cond(("discounts", index, "when"), False) or py.Constant(True)
        applies = cond(("discounts", index, "applies_to"), True) or py.Constant(True)
        assert discount.percent is not None
        pct = int(discount.percent)
        code: list[py.stmt] = writer.stmts(
            """
            if WHEN:
                _cut = [
                    ((_a * PCT * 2 + 100) // 200 if APPLIES else 0)
                    for (_s, _c, _p, _q, _m), _a in zip_(_lines, _paid)
                ]
                _off = _sum(_cut)
                if _off:
                    _paid = [_a - _x for _a, _x in zip_(_paid, _cut)]
                    _cuts.append((RULE, _cut))
                    _trace.append((1, RULE, _off))
                else:
                    _trace.append(NOTHING)
            else:
                _trace.append(FALSE)
            """,
            WHEN=when,
            APPLIES=applies,
            PCT=pct,
            RULE=discount.id,
            NOTHING=verdict(discount.id, "discount", False, "nothing_eligible", "no line it applies to"),
            FALSE=verdict(discount.id, "discount", False, "condition_false", "condition is false"),
        )
        body += writer.at(code, ("discounts", index), f"discount {discount.id}")
    namespace["zip_"] = zip

    # -- the earning base -------------------------------------------------------------------------
    exclude = cond(("earning_base", "exclude"), True)
    base_code = writer.stmts(
        """
        _base = [(_X0 if EXCLUDE else _a) for (_s, _c, _p, _q, _m), _a in zip_(_lines, _paid)]
        _base_sum = _sum(_base)
        _awards = []
        _earned = 0
        _rated = 0
        _cut_award = False
        """,
        EXCLUDE=exclude if exclude is not None else py.Constant(False),
    )
    body += writer.at(base_code, ("earning_base",), "the earning base")

    # -- earn rules ---------------------------------------------------------------------------------
    rules = sorted(enumerate(program.earn), key=lambda r: (-r[1].priority, r[1].id))
    groups: dict[str, str] = {}
    plain = [(i, r) for i, r in rules if r.multiply is None]
    multipliers = [(i, r) for i, r in rules if r.multiply is not None]
    denominator = 1
    for index, rule in plain:
        when = cond(("earn", index, "when"), False) or py.Constant(True)
        won = None
        if rule.group is not None:
            won = groups.get(rule.group)
            flag = f"_won_{len(groups)}" if won is None else won
            if won is None:
                groups[rule.group] = flag
                body += writer.stmts(f"{flag} = None")
        cap_key = None
        if rule.cap is not None and rule.cap.per_day is not None:
            cap_key = ("day", int(rule.cap.per_day), "per-day cap")
        if rule.rate is not None:
            denominator = rate_denominator(rule, decimals)
            code = writer.stmts(
                """
                if WHEN:
                    _n = _base_sum // DEN
                    _rated = 1
                    if _n > 0:
                        _awards.append((RULE, _n, _base, 0))
                        _earned += _n
                        _trace.append((2, RULE, _n))
                    else:
                        _trace.append(NOTHING)
                else:
                    _trace.append(FALSE)
                """,
                WHEN=when,
                DEN=denominator,
                RULE=rule.id,
                NOTHING=verdict(rule.id, "earn", False, "nothing_eligible", "no eligible amount"),
                FALSE=verdict(rule.id, "earn", False, "condition_false", "condition is false"),
            )
        elif rule.for_each_item is not None:
            each = cond(("earn", index, "for_each_item"), True)
            award = expression("earn", index, "award")
            k = _per_qty(award)
            code = writer.stmts(
                """
                _w = [
                    (K * _q if (EACH and (_b > 0 or _a == 0)) else 0)
                    for (_s, _c, _p, _q, _m), _b, _a in zip_(_lines, _base, _amounts)
                ]
                _wanted = _sum(_w)
                if _wanted > 0:
                    _n = CAPPED
                    if _n >= _wanted:
                        _awards.append((RULE, _n, _w, 1))
                        _earned += _n
                        _trace.append((2, RULE, _n))
                    elif _n > 0:
                        _cut_award = True
                        _awards.append((RULE, _n, _w, 1))
                        _earned += _n
                        _trace.append((3, RULE, _n, WORDS, _wanted))
                    else:
                        _cut_award = True
                        _trace.append((4, RULE, WORDS, _wanted))
                    if _n > 0:
                        CAP_SET
                else:
                    _trace.append(NOTHING)
                """,
                K=k,
                EACH=each,
                RULE=rule.id,
                CAPPED=_capped(writer, rule, cap_key),
                WORDS=cap_key[2] if cap_key else "",
                CAP_SET=_cap_set(writer, rule, cap_key),
                NOTHING=verdict(rule.id, "earn", False, "nothing_eligible", "no line matches for_each_item"),
            )
        else:
            points = int(rule.award) if rule.award is not None else 0
            shadow = None
            if rule.group is not None and won is not None:
                shadow = py.Name(won, py.Load())
            inner = writer.stmts(
                """
                if WHEN:
                    if _base_sum > 0:
                        _wanted = POINTS
                        _n = CAPPED
                        if 0 < _n < _wanted:
                            return None  # an award the cap cuts in part: the engine's way
                        if _n > 0:
                            _awards.append((RULE, _n, _base, 2))
                            _earned += _n
                            _trace.append((2, RULE, _n))
                            CAP_SET
                            WON
                        else:
                            _trace.append((4, RULE, WORDS, _wanted))
                    else:
                        _trace.append(NOTHING)
                else:
                    _trace.append(FALSE)
                """,
                WHEN=when,
                POINTS=points,
                RULE=rule.id,
                CAPPED=_capped(writer, rule, cap_key),
                WORDS=cap_key[2] if cap_key else "",
                CAP_SET=_cap_set(writer, rule, cap_key),
                WON=writer.stmts(f"{groups[rule.group]} = RULE", RULE=rule.id) if rule.group else [],
                NOTHING=verdict(rule.id, "earn", False, "nothing_eligible", "no eligible amount"),
                FALSE=verdict(rule.id, "earn", False, "condition_false", "condition is false"),
            )
            if shadow is not None:
                code = writer.stmts(
                    """
                    if WINNER is not None:
                        _trace.append((5, RULE, WINNER, GROUP))
                    else:
                        INNER
                    """,
                    WINNER=shadow,
                    RULE=rule.id,
                    GROUP=rule.group,
                    INNER=inner,
                )
            else:
                code = inner
        body += writer.at(code, ("earn", index), f"earn {rule.id}")

    # -- multipliers: bonuses on the exact points above, rounded once --------------------------------
    body += writer.stmts(
        """
        _exact = _earned * DEN + (_base_sum % DEN if _rated and not _cut_award else 0)
        _weighed = (_earned - (_base_sum // DEN if _rated else 0)) * DEN + (_base_sum if _rated else 0)
        _given = _earned
        _mult = None
        """,
        DEN=denominator,
    )
    for index, rule in multipliers:
        factor = rule.multiply
        assert factor is not None and rule.for_each_item is None
        p, q = Decimal(factor).as_integer_ratio()
        when = cond(("earn", index, "when"), False) or py.Constant(True)
        active = rule.active
        assert active is None or not isinstance(active, list)
        start = active.start.toordinal() if active is not None and active.start else None
        end = active.end.toordinal() if active is not None and active.end else None
        cap = int(rule.cap.per_event) if rule.cap is not None and rule.cap.per_event is not None else None
        code = writer.stmts(
            """
            if _day < START:
                _trace.append(BEFORE)
            elif _day > END:
                _trace.append(AFTER)
            elif not WHEN:
                _trace.append(FALSE)
            elif _weighed <= 0:
                _trace.append(NOTHING)
            else:
                _wanted = (Q * _exact + (P - Q) * _weighed) // (Q * DEN) - _given
                if _wanted <= 0:
                    return None
                _n = CAPPED
                if _mult is None:
                    _mult = []
                _mult.append((RULE, _n, None, 3))
                _given += _n
                if _n == _wanted:
                    _exact = (Q * _exact + (P - Q) * _weighed) // Q if (P - Q) * _weighed % Q == 0 else None
                    if _exact is None:
                        return None
                    _trace.append((6, RULE, _n, FACTOR))
                else:
                    _exact = _given * DEN
                    _trace.append((7, RULE, _n, FACTOR, WORDS, _wanted))
            """,
            START=start if start is not None else -1,
            END=end if end is not None else 1 << 40,
            BEFORE=verdict(
                rule.id, "earn", False, "outside_schedule", f"not active: starts on {active.start}"
            )
            if active is not None and active.start
            else py.Constant(None),
            AFTER=verdict(rule.id, "earn", False, "outside_schedule", f"not active: ended on {active.end}")
            if active is not None and active.end
            else py.Constant(None),
            WHEN=when,
            FALSE=verdict(rule.id, "earn", False, "condition_false", "condition is false"),
            NOTHING=verdict(rule.id, "earn", False, "nothing_eligible", "nothing to multiply"),
            P=p,
            Q=q,
            DEN=denominator,
            CAPPED=writer.expr("_wanted") if cap is None else writer.expr("_min(_wanted, CAP)", CAP=cap),
            RULE=rule.id,
            FACTOR=str(factor),
            WORDS="per-event cap",
        )
        body += writer.at(code, ("earn", index), f"earn {rule.id}")
    for level in program.tiers.levels if program.tiers is not None else []:
        factor = level.benefits.earn_multiplier if level.benefits is not None else None
        if factor is None:
            continue
        p, q = Decimal(factor).as_integer_ratio()
        code = writer.stmts(
            """
            if _tier == LEVEL:
                _wanted = (Q * _exact + (P - Q) * _weighed) // (Q * DEN) - _given
                if _weighed <= 0 or _wanted <= 0:
                    return None
                if _mult is None:
                    _mult = []
                _mult.append((RULE, _wanted, None, 3))
                _given += _wanted
                _trace.append((8, RULE, _wanted, FACTOR))
            """,
            LEVEL=level.id,
            P=p,
            Q=q,
            DEN=denominator,
            RULE=f"tier:{level.id}",
            FACTOR=str(factor),
        )
        body += writer.at(code, ("tiers",), f"the tier {level.id}'s multiplier")
    # -- the mechanics' conditions: badges, each challenge's parts per line, each quest step ----------
    held: list[py.expr] = []
    for index, badge in enumerate(program.badges):
        if "purchase" in badge.on:
            held.append(cond(("badges", index, "when"), False) or py.Constant(True))
    parts: list[py.expr] = []
    for index in range(len(program.challenges)):
        counts = expression("challenges", index, "counts")
        element = translate(counts.tree.element, constants, decimals, True, texts)  # type: ignore[union-attr]
        parts.append(
            writer.expr("[(1 if ELEMENT else 0) for (_s, _c, _p, _q, _m) in _lines]", ELEMENT=element)
        )
    steps: list[py.expr] = []
    for index, quest in enumerate(program.quests):
        for number, step in enumerate(quest.steps):
            made = cond(("quests", index, "steps", number, "when"), False)
            steps.append((made or py.Constant(True)) if step.on == "purchase" else py.Constant(False))
    body += writer.stmts(
        "_held = HELD\n_parts = PARTS\n_steps = STEPS",
        HELD=py.Tuple(held, py.Load()),
        PARTS=py.Tuple(parts, py.Load()),
        STEPS=py.Tuple(steps, py.Load()),
    )
    body += writer.stmts(
        "return (_paid, _base, _base_sum, _cuts, _awards, _mult, _trace, _amounts, _held, _parts, _steps)"
    )

    arguments = ["_lines", "_total", "_hour", "_wday", "_day", "_bought", "_tier", "_counters", "_daykey"]
    function = py.FunctionDef(
        name=ENTRY,
        args=py.arguments(
            posonlyargs=[],
            args=[py.arg(a) for a in arguments],
            kwonlyargs=[],
            kw_defaults=[],
            defaults=[],
        ),
        body=body,
        decorator_list=[],
        returns=None,
    )
    module = fix_missing_locations(py.Module(body=[function], type_ignores=[]))
    namespace["__file__"] = writer.file
    return module, namespace


def _per_qty(award: Any) -> int:
    """K of a per-line `award: K * item.qty` (the form covered)."""
    from rules_engine.dsl import ast

    tree = award.tree
    assert isinstance(tree, ast.Binary) and tree.op == "*" and isinstance(tree.left, ast.Literal)
    return int(tree.left.value)


def _capped(writer: Writer, rule: EarnRule, cap: tuple[str, int, str] | None) -> py.expr:
    if cap is None:
        return writer.expr("_wanted")
    return writer.expr(
        "_min(_wanted, LIMIT - _counters.get(RULE, _NONE).get(_daykey, 0))",
        LIMIT=cap[1],
        RULE=rule.id,
    )


def _cap_set(writer: Writer, rule: EarnRule, cap: tuple[str, int, str] | None) -> list[py.stmt]:
    if cap is None:
        return []
    writer.namespace["_NONE"] = {}
    return writer.stmts(
        """
        _counters[RULE] = {_daykey: _counters.get(RULE, _NONE).get(_daykey, 0) + _n}
        """,
        RULE=rule.id,
    )
