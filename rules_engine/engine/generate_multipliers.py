"""Multipliers as generated code: the `multiply` rules and the tier's `earn_multiplier`, written
out (`earning.award` for a multiplier), and whether one may apply (`may_multiply`).

A multiplier's bonus is its factor less one times the points of the lines the rules before it
gave (`_mbase` of `_added`, made once for the event): their exact points, or per rule
(`points.round: per_rule`) the whole points each line was given. It is given and traced as an
earn rule's award is (`generate_earning._give`, the same rounding: generate_rounding.py). Apart
from the earn rules (generate_earning.py) because they are a stage of their own: written after
every earn rule, and only their presence makes those rules keep each line's points (`_track`).

Input: a `Writer` and an `EarnStep` (or the plan's tiers). Output: statements.
"""

from __future__ import annotations

import ast as py

from rules_engine.engine.code_writer import Writer
from rules_engine.engine.generate_earning import _give
from rules_engine.engine.generate_gate import admission, condition, context_first, outside_dates
from rules_engine.engine.generate_rounding import total
from rules_engine.engine.plan import EarnStep

_MULTIPLIED = """
if _mb is None:
    _mb = _mbase(_added, _n + 1)
"""
_MULTIPLY = """
SELECT
_parts = [_b * FN if _keep else 0 for _b, _keep in _zip(_mb[0], _selected)]
_xd = _mb[1] * FD
_xn = _sum(_parts)
"""
_MULTIPLY_ALL = """
_parts = [_b * FN for _b in _mb[0]]
_xd = _mb[1] * FD
_xn = _sum(_parts)
"""
# A bonus of one time the points (×2): each line's exact points as they are (never changed in place).
_MULTIPLY_ONCE = """
_parts = _mb[0]
_xd = _mb[1] * FD
_xn = _sum(_parts)
"""
_BONUS_SHARES = (
    "_shares = _split_points(_granted, _parts) if _any(_parts) else"
    " _split(_granted, [_ZERO] * (_n + 1), _ONE, FACTOR)"
)


def multiplier(writer: Writer, step: EarnStep, winners: dict[str, str]) -> list[py.stmt]:
    """A `multiply` rule: a bonus on the exact points of the rules before the multipliers."""
    rule = step.rule
    assert rule.multiply is not None
    factor = rule.multiply - 1
    fn, fd = factor.as_integer_ratio()
    body = writer.stmts(_MULTIPLIED)
    if step.exclude is None and step.for_each_item is None:
        body += writer.stmts(_MULTIPLY_ONCE if fn == 1 else _MULTIPLY_ALL, FN=fn, FD=fd)
    else:
        select = writer.stmts("_selected = [True] * (_n + 1)")
        if step.exclude is not None:
            select += writer.stmts(
                "_selected = [_s and not _out for _s, _out in _zip(_selected, [*EXCLUDE, False])]",
                EXCLUDE=writer.lines.truths(step.exclude, "_range(_n)"),
            )
        if step.for_each_item is not None:
            select += writer.stmts(
                "_selected = [_s and _m for _s, _m in _zip(_selected, [*MATCHES, False])]",
                MATCHES=writer.lines.truths(step.for_each_item, "_range(_n)"),
            )
        body += writer.stmts(_MULTIPLY, SELECT=select, FN=fn, FD=fd)
    body += total(writer, bonus=True)
    each = rule.for_each_item is not None
    nothing = (
        "no points on the lines for_each_item matches: nothing to multiply" if each else "nothing to multiply"
    )
    words = (
        f" points (×{rule.multiply} on the points of the lines for_each_item matches)"
        if each
        else f" points (×{rule.multiply} on this event's points)"
    )
    winner = winners.setdefault(rule.group, f"_earn_group{len(winners)}") if rule.group is not None else None
    body += _give(
        writer,
        rule.id,
        "earn",
        nothing,
        (rule.cap, rule.budget),
        _BONUS_SHARES,
        "_parts",
        words,
        winner,
        added=False,
        factor=factor,
    )
    gate = admission(writer, rule.id, "earn", rule.group, winner, rule.active, step.when, body)
    return writer.at(gate, ("earn", step.index), f"earn {rule.id} (multiplier)")


_TIER = """
_tier = run.tier
if _tier is not None and _tier.id in TIER_FACTORS:
    _fn, _fd, _factor, _words = TIER_FACTORS[_tier.id]
    _rule = "tier:" + _tier.id
    MULTIPLIED
    _parts = _mb[0] if _fn == 1 else [_b * _fn for _b in _mb[0]]
    _xd = _mb[1] * _fd
    _xn = _sum(_parts)
    TOTAL
    GIVE
"""


def tier_multiplier(writer: Writer) -> list[py.stmt]:
    """The tier's `earn_multiplier`, after the multiplier rules (kind `tier`, no cap)."""
    factors = {
        level.id: (
            *(level.benefits.earn_multiplier - 1).as_integer_ratio(),
            level.benefits.earn_multiplier - 1,
            f" points (×{level.benefits.earn_multiplier} on this event's points)",
        )
        for level in writer.plan.tiers.values()
        if level.benefits.earn_multiplier is not None
    }
    if not factors:
        return []
    give = _give(
        writer,
        py.Name("_rule", py.Load()),
        "tier",
        "nothing to multiply",
        (None, None),
        _BONUS_SHARES.replace("FACTOR", "_factor"),
        "_parts",
        py.Name("_words", py.Load()),
        None,
        added=False,
    )
    body = writer.stmts(
        _TIER,
        TIER_FACTORS=factors,
        MULTIPLIED=writer.stmts(_MULTIPLIED),
        TOTAL=total(writer, bonus=True),
        GIVE=give,
    )
    return writer.at(body, ("tiers",), "the tier's earn_multiplier")


_MAY_MULTIPLY_TIER = """
if run.tier is not None and run.tier.benefits.earn_multiplier is not None:
    _track = True
"""
_MAY_MULTIPLY = """
if not _track:
    ACTIVE_CHECK
"""
_MAY_WHEN = """
try:
    CONTEXT
    try:
        _track = WHEN is True
    except _KE:
        pass
except _Exception:
    _track = True
"""


def may_multiply(writer: Writer) -> list[py.stmt]:
    """Whether a multiplier may apply (earning.may_multiply): then each line's exact points are
    kept for it to weigh (`_track`)."""
    statements: list[py.stmt] = []
    if any(level.benefits.earn_multiplier is not None for level in writer.plan.tiers.values()):
        statements += writer.stmts(_MAY_MULTIPLY_TIER)
    for step in writer.plan.multipliers:
        if "purchase" not in step.on:
            continue
        check = (
            writer.stmts("_track = True")
            if step.when is None
            else writer.stmts(
                _MAY_WHEN,
                WHEN=(test := condition(writer, step.when)),
                CONTEXT=context_first(writer, test),
            )
        )
        if step.rule.active is not None:
            outside = outside_dates(writer, step.rule.active)
            if outside is not None:
                check = writer.stmts("if not (OUTSIDE):\n    CHECK", OUTSIDE=outside, CHECK=check)
            else:
                check = writer.stmts(
                    "if _within(ACTIVE, run.local) is None:\n    CHECK", ACTIVE=step.rule.active, CHECK=check
                )
        statements += writer.stmts(_MAY_MULTIPLY, ACTIVE_CHECK=check)
    return statements
