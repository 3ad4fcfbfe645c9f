"""Earn rules as generated code: `earning.rule_points` and `earning.award`, written out.

Each earn rule's statements compute its exact points as a numerator over a denominator
(`_xn / _xd`), and give them rounded where `points.round` says (generate_rounding.py: the
rounded running total less what was given before, per award; the award alone, per rule; line by
line, per line): `rounding.Rounding` without the object. The whole points an award comes to are
an int (`_t`; the decimal `_total` made once for what the run records), and an award given whole
is split across its lines on ints (`money.line_shares`); a rate weighs the earning base in minor
units (`_bm`, over 10 ** the currency's exponent). Only the code of the rule's kind (a rate, an
award, a per-line award, a multiplier, the tier's multiplier) and of its options (a cap's own
periods, a budget, `exclude`, a fixed award that cannot be negative) is written; each line's
exact points are kept (`_track`) only when a multiplier may apply to the event, as
`earning.may_multiply` decides, or per line, where every award is rounded by them.

The multipliers (`multiply` rules, the tier's `earn_multiplier`) are generate_multipliers.py's; they
give their bonus through `_give`, as the rules here do.

Input: a `Writer` and an `EarnStep`. Output: statements.
"""

from __future__ import annotations

import ast as py
from decimal import Decimal
from typing import Any

from rules_engine.engine.code_writer import Writer
from rules_engine.engine.generate_caps import allowance, count
from rules_engine.engine.generate_gate import admission
from rules_engine.engine.generate_lines import inlined, reads_context
from rules_engine.engine.generate_rounding import book, total
from rules_engine.engine.plan import EarnStep
from rules_engine.engine.trusted import simple_verdict

ZERO = Decimal(0)


EARN_START = """
BASE
run.base = _base
_skus = run.skus
_units = None
ROUNDING
"""
TRACK_START = """
_added = []
_track = TRACKED
"""

# What a rate's or a basket award's points weigh: the earning base and shipping in minor units,
# over their denominator (10 ** the currency's exponent).
_UNITS = """
if _units is None:
    _units = ([*_bm, SHIPPING], DENOMINATOR)
"""
_ELIGIBLE = """
_eligible = _base
_kept = _units[0]
"""
_ELIGIBLE_EXCLUDE = """
_excluded = EXCLUDE
_eligible = [_ZERO if _out else _b for _out, _b in _zip(_excluded, _base)]
_kept = [*(0 if _out else _u for _out, _u in _zip(_excluded, _units[0])), _units[0][_n]]
"""
_RATE = """
_xn = _sum(_kept) * RN
_xd = DENOMINATOR
_weights = _kept
if _track:
    _parts = _kept
    _pk = RN
"""
_RATE_ONE = """
_xn = _sum(_kept)
_xd = DENOMINATOR
_weights = _kept
if _track:
    _parts = _kept
    _pk = 1
"""
_AWARD = """
VALUE
NOT_NEGATIVE
if not _any(_eligible):
    _value = _ZERO
WEIGHTS
_xn, _xd = _value.as_integer_ratio()
TRACKED
"""
# A fixed award that cannot be negative: its exact ratio folded in (zero when no line is eligible).
_AWARD_FIXED = """
WEIGHTS
if _any(_eligible):
    _xn = XN
    _xd = XD
else:
    _xn = 0
    _xd = 1
TRACKED
"""
_AWARD_TRACKED = """
if _track:
    _ws = _sum(_weights)
    if _ws:
        _parts = _weights
        _pk = _xn
        _xn = _xn * _ws
        _xd = _xd * _ws
    else:
        _parts = [0] * (_n + 1)
        _pk = 1
        if _xn:
            _parts[0] = _xn
"""
_EACH = """
_amounts = run.amounts
FILTERS
_points = [_ZERO] * (_n + 1)
EACH_VALUE
_exact = _sum(_map(_points.__getitem__, _lines), _ZERO)
_xn, _xd = _exact.as_integer_ratio()
if _track:
    _weights = _scaled(_points)[0]
    _ws = _sum(_weights)
    if _ws:
        _parts = _weights
        _pk = _xn
        _xn = _xn * _ws
        _xd = _xd * _ws
    else:
        _parts = [0] * (_n + 1)
        _pk = 1
        if _xn:
            _parts[0] = _xn
"""
_EACH_FIXED = """
for _i in _lines:
    _points[_i] = VALUE
"""
_EACH_EXPRESSION = """
for _i in _lines:
    _v = AWARD.evaluate(_item_ctx(run, _i))
    _v = _ZERO if _v is None else _Decimal(_v)
    if _v < _ZERO:
        run.negative_awards.setdefault(RULE, _v)
        _v = _ZERO
    _points[_i] = _v
"""
# The award inlined (generate_lines.inlined) over the line's record: a missing attribute
# (KeyError) is asked again of `evaluate`, which raises the expression's own error.
_EACH_INLINED = """
RECORDS
for _i in _lines:
    _it = _records[_i]
    try:
        _v = VALUE
    except _KeyError:
        _v = AWARD.evaluate(_item_ctx(run, _i))
    _v = _ZERO if _v is None else _v if _v.__class__ is _Decimal else _Decimal(_v)
    if _v < _ZERO:
        run.negative_awards.setdefault(RULE, _v)
        _v = _ZERO
    _points[_i] = _v
"""

_GIVE = """
if _t <= 0:
    NOTHING
    NOTHING_ADDED
    NOTHING_DONE
    NOTHING_TRACE
else:
    _total = _SMALL[_t] if _t < 1024 else _whole(_t)
    _granted = _total
    _code = "fired"
    ALLOWANCE
    if _allowed < _total:
        _granted = _allowed
        _code = CUT_CODE
    if _granted <= _ZERO:
        CUT_ADDED
        ZERO_DONE
        _append(_sv(RULE, KIND, False, _code, _limit + " reached: would have given " + _str(_total)))
    else:
        if _granted != _total:
            SHARES
            _sh = _tuple([(_i, _skus[_i], _s) for _i, _s in _enumerate(_shares) if _s])
            GIVEN_CUT
            CUT_DONE
        else:
            _sh = _line_shares(_t, WEIGHTS, _skus)
            GIVEN_ADDED
            WHOLE_DONE
        run.effects_points.append(_award_of(RULE, _granted, _sh, AVAILABLE))
        COUNT
        _reason = _str(_granted) + POINTS_WORDS
        if _code != "fired":
            _reason += "; " + _limit + " reached, would have given " + _str(_total)
        _append(
            _vt(_Verdict, (RULE, KIND, True, _code, _reason,
            None, None, _granted, "points", None, _FIRED))
        )
        WIN
"""
# Without a cap or budget an award gives what it comes to (earning.award's cap branches left
# out), its line shares split on integers (`money.line_shares`).
_GIVE_UNCAPPED = """
if _t <= 0:
    NOTHING
    NOTHING_ADDED
    NOTHING_DONE
    NOTHING_TRACE
else:
    _granted = _SMALL[_t] if _t < 1024 else _whole(_t)
    GIVEN_ADDED
    WHOLE_DONE
    run.effects_points.append(_award_of(RULE, _granted, _line_shares(_t, WEIGHTS, _skus), AVAILABLE))
    _append(
        _vt(_Verdict, (RULE, KIND, True, "fired", _str(_t) + POINTS_WORDS,
        None, None, _granted, "points", None, _FIRED))
    )
    WIN
"""
_NOT_NEGATIVE = """
if _value < _ZERO:
    run.negative_awards.setdefault(RULE, _value)
    _value = _ZERO
"""
# The trace of an award that came to nothing: below zero (its words say what it came to), or the
# rule's own words (that verdict made once, here).
_NEGATIVE = """
if RULE in run.negative_awards:
    _append(
        _sv(
            RULE,
            "earn",
            False,
            "nothing_eligible",
            "the award came to "
            + _str(run.negative_awards[RULE])
            + ", below zero: an earn rule never takes points away",
        )
    )
else:
    _append(VERDICT)
"""


def _negative(writer: Writer, rule: str, words: str) -> list[py.stmt]:
    return writer.stmts(
        _NEGATIVE, RULE=rule, VERDICT=simple_verdict(rule, "earn", False, "nothing_eligible", words)
    )


def earn_rule(writer: Writer, step: EarnStep, winners: dict[str, str]) -> list[py.stmt]:
    """A rate, an award or a per-line award (earning.rule_points and earning.award)."""
    rule = step.rule
    plan = writer.plan
    each = rule.for_each_item is not None
    body: list[py.stmt] = []
    if not each:
        scale = 10**writer.exponent
        body += writer.stmts(
            _UNITS,
            SHIPPING=(
                writer.expr("_int(_shipping_base(run) * SCALE)", SCALE=Decimal(scale))
                if plan.program.earning_base.include_shipping
                else py.Constant(0)
            ),
            DENOMINATOR=scale,
        )
    if step.exclude is not None:
        if each:
            body += writer.stmts(  # in minor units: only compared with zero
                "_excluded = EXCLUDE\n_em = [0 if _out else _b for _out, _b in _zip(_excluded, _bm)]",
                EXCLUDE=writer.lines.truths(step.exclude, "_range(_n)"),
            )
        else:
            body += writer.stmts(_ELIGIBLE_EXCLUDE, EXCLUDE=writer.lines.truths(step.exclude, "_range(_n)"))
    else:
        if not each:
            body += writer.stmts("_eligible = _base\n_kept = _units[0]")
    negative_words = "no eligible amount"
    if rule.rate is not None:
        assert step.ratio is not None
        denominator = "_units[1]" if step.ratio[1] == 1 else f"_units[1] * {step.ratio[1]}"
        body += writer.stmts(
            _RATE if step.ratio[0] != 1 else _RATE_ONE,
            RN=step.ratio[0],
            DENOMINATOR=py.parse(denominator, mode="eval").body,
        )
        share = "_shares = _split_points(_granted, _weights)"
        weights = "_weights"
        nothing: str | list[py.stmt] = "no eligible amount"
    elif not each:
        if step.award is None:
            assert step.fixed is not None
            value = writer.stmts("_value = FIXED", FIXED=step.fixed)
        else:
            value = writer.stmts(
                "_value = AWARD.evaluate(_ctx(run))\n_value = _ZERO if _value is None else _Decimal(_value)",
                AWARD=step.award,
            )
        may_be_negative = step.award is not None or (step.fixed is not None and step.fixed < 0)
        check = writer.stmts(_NOT_NEGATIVE, RULE=rule.id) if may_be_negative else []
        tracked = writer.stmts(_AWARD_TRACKED)
        # an award weighs the lines' units, never shipping: without shipping in the earning base
        # its slot in the units is 0 already, and the units are never changed (so shared)
        award_weights = writer.stmts(
            "_weights = [*_kept[:_n], 0]"
            if plan.program.earning_base.include_shipping
            else "_weights = _kept"
        )
        if step.award is None and not may_be_negative:
            assert step.fixed is not None
            xn, xd = step.fixed.as_integer_ratio()
            body += writer.stmts(_AWARD_FIXED, XN=xn, XD=xd, TRACKED=tracked, WEIGHTS=award_weights)
        else:
            body += writer.stmts(
                _AWARD, VALUE=value, NOT_NEGATIVE=check, TRACKED=tracked, WEIGHTS=award_weights
            )
        share = "_shares = _split_points(_granted, _weights)"
        weights = "_weights"
        nothing = _negative(writer, rule.id, negative_words) if may_be_negative else negative_words
    else:
        # the lines that earn: not left out by the earning base (without `exclude`, `_em` is `_bm`)
        test = "_em[_i] == 0 and _bm[_i] == 0" if step.exclude is not None else "_bm[_i] == 0"
        earns = f"not ({test} and _amounts[_i] > _ZERO)"
        assert step.for_each_item is not None
        if step.exclude is not None:
            filters = writer.lines.keep(step.exclude, "_lines", held=False, first=earns)
            filters += writer.lines.keep(step.for_each_item, "_lines")
        else:  # with for_each_item's truths, in one comprehension
            filters = writer.lines.keep(step.for_each_item, "_lines", first=earns)
        if step.award is None:
            fixed = step.fixed if step.fixed is not None else ZERO
            if fixed < 0:
                value = writer.stmts(
                    "if _lines:\n    run.negative_awards.setdefault(RULE, FIXED)\n" + _EACH_FIXED,
                    RULE=rule.id,
                    FIXED=fixed,
                    VALUE=py.Name("_ZERO", py.Load()),
                )
            else:
                value = writer.stmts(_EACH_FIXED, VALUE=writer.const(fixed))
        else:
            # over the line itself, or over its record when the award reads a custom attribute
            inline = inlined(writer, step.award, "_a", lines=True)
            records = writer.stmts("_records = run.items")
            if inline is None:
                inline = inlined(writer, step.award, "_a")
                records = writer.stmts('_c = _ctx(run)\n_records = _c["basket"]["items"]')
            elif reads_context(inline):
                records = writer.stmts("_c = _ctx(run)") + records
            value = (
                writer.stmts(_EACH_EXPRESSION, AWARD=step.award, RULE=rule.id)
                if inline is None
                else writer.stmts(
                    _EACH_INLINED, AWARD=step.award, RULE=rule.id, VALUE=inline, RECORDS=records
                )
            )
        body += writer.stmts(_EACH, FILTERS=filters, EACH_VALUE=value)
        # no multiplier: as earning.award (`split` with the factor 1 is `split_points` on the
        # points scaled to integers: its shortcut gives what the largest remainders give)
        weights = "_scaled(_points)[0]"
        if writer.may_track:
            weights = "(_weights if _track else _scaled(_points)[0])"
        share = f"_shares = _split_points(_granted, {weights})"
        nothing = _negative(writer, rule.id, "no line matches for_each_item")
    body += total(writer)
    winner = winners.setdefault(rule.group, f"_earn_group{len(winners)}") if rule.group is not None else None
    body += _give(
        writer,
        rule.id,
        "earn",
        nothing,
        (rule.cap, rule.budget),
        share,
        weights,
        " points",
        winner,
        added=True,
    )
    gate = admission(writer, rule.id, "earn", rule.group, winner, rule.active, step.when, body)
    return writer.at(gate, ("earn", step.index), f"earn {rule.id}")


def _give(
    writer: Writer,
    rule: Any,
    kind: str,
    nothing: str | list[py.stmt],
    limits: tuple[Any, Any],
    share: str,
    weights: str,
    words: Any,
    winner: str | None,
    *,
    added: bool,
    factor: Any = None,
) -> list[py.stmt]:
    """Cap, split, record and trace an award whose `_total` (`_t` as an int) is known
    (earning.award). `nothing`: the words of the trace when it comes to nothing (its verdict made
    here, once, for a rule named in the code) or statements that trace it; `limits`: the rule's
    cap and budget (each may be None); `share`: the statement splitting a cut award (`_shares`,
    decimals, as the stage); `weights`: what an award given whole is split by, on integers
    (`money.line_shares`); `added`: a rule before the multipliers, whose points they weigh. Per
    line (`points.round: per_line`) every award is split by its lines' whole points (`_lines`)."""
    cap, budget = limits
    pending = writer.plan.program.points.pending
    available: py.expr = py.Name("_available", py.Load()) if pending else py.Constant(None)
    if isinstance(nothing, str) and isinstance(rule, str):  # the same verdict every time: made once
        verdict = simple_verdict(rule, kind, False, "nothing_eligible", nothing)
        nothing_code: list[py.stmt] = []
        nothing_trace = writer.stmts("_append(VERDICT)", VERDICT=verdict)
    elif isinstance(nothing, str):  # the tier's: its rule is the customer's tier
        nothing_code = writer.stmts("_nothing = WORDS", WORDS=nothing)
        nothing_trace = writer.stmts(
            '_append(_sv(RULE, KIND, False, "nothing_eligible", _nothing))', RULE=rule, KIND=kind
        )
    else:  # statements that trace it themselves (`_negative`)
        nothing_code = nothing
        nothing_trace = []
    mode = writer.plan.program.points.round
    if mode == "per_line":
        share, weights, factor = "_shares = _split_points(_granted, _lines)", "_lines", None
    done = book(writer)
    limited = cap is not None or budget is not None
    give = writer.stmts(
        _GIVE if limited else _GIVE_UNCAPPED,
        RULE=rule,
        KIND=kind,
        NOTHING=nothing_code,
        NOTHING_TRACE=nothing_trace,
        **(_added(writer, weights) if added else {key: [] for key in _ADDED}),
        NOTHING_DONE=done.nothing,
        ZERO_DONE=done.zero,
        CUT_DONE=done.cut,
        WHOLE_DONE=done.whole,
        ALLOWANCE=allowance(writer, rule, cap, budget) if limited else [],
        CUT_CODE=py.parse(
            '"budget_exhausted" if _limit == "budget" else "capped"' if budget is not None else '"capped"',
            mode="eval",
        ).body,
        COUNT=count(writer, rule, cap) if cap is not None else [],
        SHARES=writer.stmts(share, FACTOR=factor) if factor is not None else writer.stmts(share),
        WEIGHTS=py.parse(weights, mode="eval").body,
        AVAILABLE=available,
        POINTS_WORDS=words,
        WIN=writer.stmts(f"{winner} = RULE", RULE=rule) if winner is not None else [],
    )
    return give


_ADDED = ("NOTHING_ADDED", "CUT_ADDED", "GIVEN_CUT", "GIVEN_ADDED")


def _added(writer: Writer, weights: str) -> dict[str, list[py.stmt]]:
    """What a rule before the multipliers keeps for them to weigh (`_added`, when one may apply:
    `_track`), in each way its award ends (`_ADDED`, as `_give`'s template names them): per_award
    and per_line its exact points on each line (`_parts` times `_pk` over `_xd`; what the lines
    were given, when a cap or budget cut it), per_rule the whole points each line was given
    (rounding.Rounding.given_out; earning.earn's `per_line_points`)."""
    track = "if _track:\n    "
    given_cut = writer.stmts(track + "_added.append(([_int(_s) for _s in _shares], 1, 1))")
    if writer.plan.program.points.round == "per_rule":
        return {
            "NOTHING_ADDED": [],
            "CUT_ADDED": [],
            "GIVEN_CUT": given_cut,
            "GIVEN_ADDED": writer.stmts(
                track + "_added.append((_line_points(_t, WEIGHTS), 1, 1))",
                WEIGHTS=py.parse(weights, mode="eval").body,
            ),
        }
    return {
        "NOTHING_ADDED": writer.stmts(track + "_added.append((_parts, _pk, _xd))"),
        "CUT_ADDED": writer.stmts(track + "_added.append(([0] * (_n + 1), 1, 1))"),
        "GIVEN_CUT": given_cut,
        "GIVEN_ADDED": writer.stmts(track + "_added.append((_parts, _pk, _xd))"),
    }


def wrong_event(writer: Writer, step: EarnStep) -> list[py.stmt]:
    reason = f"applies to {', '.join(step.rule.on)}, not purchase"
    verdict = simple_verdict(step.rule.id, "earn", False, "wrong_event", reason)
    statements = writer.stmts("_append(VERDICT)", VERDICT=verdict)
    return writer.at(statements, ("earn", step.index), f"earn {step.rule.id}: not on purchases")
