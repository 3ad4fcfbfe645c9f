"""Discounts as generated code: `pricing.apply_discount` for one discount, written out.

A percent off is written out on integers (each matching line's cut in the currency's minor
units, rounded half up; decimals made only of what the run keeps), or, for a percent of more than
`PERCENT_DIGITS` digits, in the stage's decimals; an amount is taken by `pricing.take_off`, free
shipping waived by `pricing.waive_shipping` (then what is left of each line is read again in minor
units, `_rm`); the trace entries are those of the stage, in its order, the one of a discount that
comes to nothing made once here.

Input: a `Writer` and a `DiscountStep`. Output: statements.
"""

from __future__ import annotations

import ast as py
from decimal import Decimal

from rules_engine.engine.code_writer import Writer
from rules_engine.engine.generate_gate import admission
from rules_engine.engine.plan import DiscountStep
from rules_engine.engine.trusted import simple_verdict

_DISCOUNT = """
TAKE_OFF
FREE_SHIPPING
if _amount == _ZERO and not _waived:
    _append(NOTHING)
else:
    WIN
    _gives = [_money(_amount) + " off"] if _amount else []
    WAIVED_WORDS
    _append(
        _vt(_Verdict, (RULE, "discount", True, "fired", " and ".join(_gives),
        None, None, _amount, "money", None, _FIRED))
    )
"""
_DISCOUNT_PLAIN = """
TAKE_OFF
if _amount == _ZERO:
    _append(NOTHING)
else:
    WIN
    _append(
        _vt(_Verdict, (RULE, "discount", True, "fired", _money(_amount) + " off",
        None, None, _amount, "money", None, _FIRED))
    )
"""
# A percent off (pricing.take_off's first branch), written out on integers: what is left of each
# line (`_rm`, in minor units), each matching line's cut rounded half up to the minor unit
# (`(2·r·PN + 100·PD) // (200·PD)` for a percent of PN / PD), never more than is left of it; the
# decimals the run and the effect keep (`run.remaining`, the cuts, their sum) made only of the
# lines it cuts. Their values and exponents are the stage's: its decimals are whole minor units
# (exponent -E), and the sum over no matching line is its `0`. A percent is > 0 (types.Percent),
# so no cut is below zero: each line's cut is taken as it is worked out, in one pass (the stage
# takes them once their sum is > 0, which it is as soon as one of them is not zero).
_PERCENT_OFF = """
MATCHING
_remaining = run.remaining
_skus = run.skus
_dl = []
_taken = 0
for _i in _matching:
    _r = _rm[_i]
    _cut = (_r * PN2 + HALF) // DENOMINATOR
    if _cut > _r:
        _cut = _r
    if _cut:
        _left = _r - _cut
        _rm[_i] = _left
        _remaining[_i] = MONEY_LEFT
        _dl.append((_i, _skus[_i], MONEY_CUT))
        _taken += _cut
if _taken > 0:
    _amount = MONEY_TAKEN
    run.effects_discounts.append(_discount_of(RULE, _amount, _tuple(_dl)))
elif _matching:
    _amount = MONEY_ZERO
else:
    _amount = _ZERO
"""
# The same in decimals (pricing.take_off's first branch), for a percent of more than four digits,
# whose product with a line's amount (at most 24 digits, events.py) could pass the 28 digits the
# stage's decimals keep: then their rounding, not the exact value, decides.
_PERCENT_OFF_DECIMAL = """
_remaining = run.remaining
_matching = [_i for _i in _range(_len(run.items)) if _remaining[_i] > _ZERO]
MATCHING
_cuts = [_ZERO] * _len(run.items)
for _i in _matching:
    _r = _remaining[_i]
    _cut = (_r * PERCENT / _HUNDRED).quantize(QUANTUM, _HALF_UP)
    _cuts[_i] = _r if _r <= _cut else _cut
_amount = _sum([_cuts[_i] for _i in _matching], _ZERO)
if _amount > _ZERO:
    for _i, _cut in _enumerate(_cuts):
        if _cut:
            _remaining[_i] -= _cut
    _items = run.items
    run.effects_discounts.append(
        _discount_of(
            RULE,
            _amount,
            _tuple([(_i, _items[_i].sku, _part) for _i, _part in _enumerate(_cuts) if _part > _ZERO]),
        )
    )
    RESYNC
"""
# What is left of each line in minor units again, after a stage's function changed `run.remaining`.
RESYNC = "_rm = [_int(_r * SCALE) for _r in run.remaining]"
# The most digits of a percent written out on integers (the comment above `_PERCENT_OFF_DECIMAL`).
PERCENT_DIGITS = 4
_WAIVE = """
_waive(run, RULE)
_waived = run.free_shipping is not None and run.free_shipping.rule == RULE
"""
_WAIVED_WORDS = """
if _waived:
    _gives.append("free shipping (" + _money(run.free_shipping.amount) + " waived)")
"""


def money(writer: Writer, name: str) -> py.expr:
    """The decimal of the minor units in `name` (an int), as the stage's: exponent -E (the int
    times the currency's quantum: exact, the exponent the quantum's, a third of the cost of
    `Decimal(n).scaleb(-E)`, measured)."""
    if not writer.exponent:
        return writer.expr(f"_Decimal({name})")
    return writer.expr(f"{name} * QUANTUM", QUANTUM=writer.plan.quantum)


def resync(writer: Writer) -> list[py.stmt]:
    """`_rm` read again from `run.remaining` (RESYNC)."""
    if not writer.exponent:
        return writer.stmts("_rm = [_int(_r) for _r in run.remaining]")
    return writer.stmts(RESYNC, SCALE=Decimal(10**writer.exponent))


def minor_units(writer: Writer) -> list[py.stmt]:
    """`_rm` at the function's start, when what is left of each line is its amount: each amount's
    minor units looked up by value (`_MINOR`; a catalogue's amounts come back at every purchase,
    `run._AMOUNTS`), else worked out and remembered (`_minor`). Equal amounts have the same minor
    units, whatever their exponent. (`None in _rm` compares None with ints only: cheap.)"""
    known: dict[Decimal, int] = {}
    scale = Decimal(10**writer.exponent)

    def minor(amount: Decimal) -> int:
        units = int(amount * scale)
        if len(known) >= _MINOR_KEPT:
            known.clear()
        known[amount] = units
        return units

    writer.namespace["_mget"] = known.get
    writer.namespace["_minor"] = minor
    return writer.stmts(  # looked up in C; the amounts not found (rarely any) worked out
        "_rm = [*_map(_mget, run.remaining)]\n"
        "if None in _rm:\n"
        "    _rm = [_minor(_r) if _u is None else _u for _r, _u in _zip(run.remaining, _rm)]"
    )


_MINOR_KEPT = 4096  # amounts remembered per program (emptied when full)


def _take_off(writer: Writer, step: DiscountStep) -> list[py.stmt]:
    """The money a discount takes off (`_amount`), its effect recorded: a percent written out, an
    amount by `pricing.take_off` (then `_rm` read again)."""
    discount = step.discount
    if discount.percent is None:
        return writer.stmts(
            "_amount = _take_off(run, RULE, PERCENT, AMOUNT, APPLIES, PER)\nif _amount:\n    RESYNC",
            RULE=discount.id,
            PERCENT=discount.percent,
            AMOUNT=discount.amount,
            APPLIES=step.applies_to,
            PER=discount.per,
            RESYNC=resync(writer),
        )
    percent = discount.percent
    if len(percent.as_tuple().digits) > PERCENT_DIGITS:
        matching = writer.lines.keep(step.applies_to, "_matching") if step.applies_to is not None else []
        return writer.stmts(
            _PERCENT_OFF_DECIMAL,
            MATCHING=matching,
            PERCENT=percent,
            QUANTUM=writer.plan.quantum,
            RULE=discount.id,
            RESYNC=resync(writer),
        )
    # the lines with something left that it applies to, in one comprehension (Lines.keep)
    matching = (
        writer.lines.keep(step.applies_to, "_matching", first="_rm[_i] > 0")
        if step.applies_to is not None
        else writer.stmts("_matching = [_i for _i in _range(_n) if _rm[_i] > 0]")
    )
    pn, pd = percent.as_integer_ratio()
    return writer.stmts(
        _PERCENT_OFF,
        MATCHING=matching,
        PN2=2 * pn,
        HALF=100 * pd,
        DENOMINATOR=200 * pd,
        RULE=discount.id,
        MONEY_LEFT=money(writer, "_left"),
        MONEY_CUT=money(writer, "_cut"),
        MONEY_TAKEN=money(writer, "_taken"),
        MONEY_ZERO=money(writer, "0"),
    )


def discount(writer: Writer, step: DiscountStep, winners: dict[str, str]) -> list[py.stmt]:
    discount = step.discount
    rule = discount.id
    group = discount.group
    winner = None
    if group is not None:
        winner = winners.setdefault(group, f"_discount_group{len(winners)}")
    nothing = "no line it applies to" if not discount.free_shipping else "no shipping to waive"
    body = writer.stmts(
        _DISCOUNT if discount.free_shipping else _DISCOUNT_PLAIN,
        RULE=rule,
        NOTHING=simple_verdict(rule, "discount", False, "nothing_eligible", nothing),
        FREE_SHIPPING=writer.stmts(_WAIVE, RULE=rule)
        if discount.free_shipping
        else writer.stmts("_waived = False"),
        WIN=writer.stmts(f"{winner} = RULE", RULE=rule) if winner is not None else [],
        WAIVED_WORDS=writer.stmts(_WAIVED_WORDS) if discount.free_shipping else [],
        TAKE_OFF=_take_off(writer, step),
    )
    gate = admission(writer, rule, "discount", group, winner, discount.active, step.when, body)
    return writer.at(gate, ("discounts", step.index), f"discount {rule}")
