"""Discounts as generated code: `pricing.apply_discount` for one discount, written out.

A percent off is written out (each matching line's cut rounded half up to the currency); an
amount is taken by `pricing.take_off`, free shipping waived by `pricing.waive_shipping`; the
trace entries are those of the stage, in its order.

Input: a `Writer` and a `DiscountStep`. Output: statements.
"""

from __future__ import annotations

import ast as py

from rules_engine.engine.code_writer import Writer
from rules_engine.engine.generate_gate import admission
from rules_engine.engine.plan import DiscountStep

_DISCOUNT = """
_amount = _take_off(run, RULE, PERCENT, AMOUNT, APPLIES, PER)
FREE_SHIPPING
if _amount == _ZERO and not _waived:
    _append(_sv(RULE, "discount", False, "nothing_eligible", NOTHING))
else:
    WIN
    _gives = [_money(_amount) + " off"] if _amount else []
    WAIVED_WORDS
    _append(_fv(RULE, "discount", "fired", " and ".join(_gives), _amount, "money", None))
"""
_DISCOUNT_PLAIN = """
TAKE_OFF
if _amount == _ZERO:
    _append(_sv(RULE, "discount", False, "nothing_eligible", "no line it applies to"))
else:
    WIN
    _append(_fv(RULE, "discount", "fired", _money(_amount) + " off", _amount, "money", None))
"""
# A percent off (pricing.take_off's first branch), written out: each matching line's cut rounded
# half up to the currency, never more than is left of it. The sum of the cuts is taken over the
# matching lines only: the others' zeros change neither its value nor its exponent. (Remembering
# each cut by the amount it is cut from was measured slower: the amounts are the event's own
# decimals, and hashing a fresh decimal costs more than the cut's three operations.)
_PERCENT_OFF = """
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
"""
_WAIVE = """
_waive(run, RULE)
_waived = run.free_shipping is not None and run.free_shipping.rule == RULE
"""
_WAIVED_WORDS = """
if _waived:
    _gives.append("free shipping (" + _money(run.free_shipping.amount) + " waived)")
"""


def _take_off(writer: Writer, step: DiscountStep) -> list[py.stmt]:
    """The money a discount takes off (`_amount`), its effect recorded: a percent written out, an
    amount by `pricing.take_off`."""
    discount = step.discount
    if discount.percent is None:
        return writer.stmts(
            "_amount = _take_off(run, RULE, PERCENT, AMOUNT, APPLIES, PER)",
            RULE=discount.id,
            PERCENT=discount.percent,
            AMOUNT=discount.amount,
            APPLIES=step.applies_to,
            PER=discount.per,
        )
    matching = (
        writer.stmts(
            "_matching = [_i for _i, _h in _zip(_matching, APPLIES) if _h]",
            APPLIES=writer.lines.truths(step.applies_to, "_matching"),
        )
        if step.applies_to is not None
        else []
    )
    return writer.stmts(
        _PERCENT_OFF,
        MATCHING=matching,
        PERCENT=discount.percent,
        QUANTUM=writer.plan.quantum,
        RULE=discount.id,
    )


def discount(writer: Writer, step: DiscountStep, winners: dict[str, str]) -> list[py.stmt]:
    discount = step.discount
    rule = discount.id
    group = discount.group
    winner = None
    if group is not None:
        winner = winners.setdefault(group, f"_discount_group{len(winners)}")
    body = writer.stmts(
        _DISCOUNT if discount.free_shipping else _DISCOUNT_PLAIN,
        RULE=rule,
        PERCENT=discount.percent,
        AMOUNT=discount.amount,
        APPLIES=step.applies_to,
        PER=discount.per,
        NOTHING="no line it applies to" if not discount.free_shipping else "no shipping to waive",
        FREE_SHIPPING=writer.stmts(_WAIVE, RULE=rule)
        if discount.free_shipping
        else writer.stmts("_waived = False"),
        WIN=writer.stmts(f"{winner} = RULE", RULE=rule) if winner is not None else [],
        WAIVED_WORDS=writer.stmts(_WAIVED_WORDS) if discount.free_shipping else [],
        TAKE_OFF=_take_off(writer, step),
    )
    gate = admission(writer, rule, "discount", group, winner, discount.active, step.when, body)
    return writer.at(gate, ("discounts", step.index), f"discount {rule}")
