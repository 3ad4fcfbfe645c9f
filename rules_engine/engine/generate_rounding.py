"""Where an event's points are rounded, as generated code: `rounding.Rounding`'s three modes on ints.

`points.round` is known when the code is written, so each award's code holds only its mode's
arithmetic (docs/engine.md, "Order of decisions", step 5):

- `per_award` (the default): the event's exact points so far as one fraction (`_ex_n / _ex_d`),
  this award's added to it; the award gives the rounded total less the points given before
  (`_given`). A cut award starts the running total again from the points given.
- `per_rule`: the award's exact points rounded on their own (`_t`); a multiplier's bonus weighs the
  whole points each line was given by the rules before it (`_added` holds them, as ints, when a
  multiplier may apply), as the stage's `per_line_points` do.
- `per_line`: each line's exact points so far (`_lx` over `_lxd`) and whole points given (`_lg`);
  the award gives, line by line, the rounded exact points after it less those given (`_lines`),
  and splits itself by them. Each award keeps its exact points on each line for this (`_parts`
  times `_pk`, over `_xd`: what the earn rules keep for a multiplier, `_track`), so the code
  under `if _track:` runs on every event, written without the `if` (`Writer.tracks`). Past 64
  bits the common denominator is reduced, as `rounding._aligned` reduces it (the same values:
  the same rounding).

Each award's code computes its exact points as `_xn / _xd` (and, tracked, `_parts` and `_pk`),
then `total` writes its whole points `_t`, and `Book` the bookkeeping of each way it ends:
nothing to give, capped to nothing, cut by a cap or budget, given whole (generate_earning._give).

Input: a `Writer` (its plan's `points.round` and `points.rounding`). Output: statements.
"""

from __future__ import annotations

import ast as py
from dataclasses import dataclass

from rules_engine.engine.code_writer import Writer

# What runs on from award to award, before the event's first (generate_earning.EARN_START).
_STARTS = {
    "per_award": "_ex_n = 0\n_ex_d = 1\n_given = 0",
    "per_rule": "",
    "per_line": "_lx = [0] * (_n + 1)\n_lxd = 1\n_lg = _lx",
}

# A value `N / D` >= 0 to whole points as `points.rounding` says (rounding._round).
_ROUND = {"floor": "N // D", "ceil": "-(-N // D)", "round": "(2 * N + D) // (2 * D)"}

# per_award: this award's points are the rounded total after it less the points given so far.
_PER_AWARD = """
if _ex_d == _xd:
    _tn = _ex_n + _xn
    _td = _ex_d
else:
    _tn = _ex_n * _xd + _xn * _ex_d
    _td = _ex_d * _xd
_t = ROUND - _given
"""
# per_line: each line's exact points after this award over one denominator, rounded, less
# what each line was given (rounding.Rounding.total).
_PER_LINE = """
if _lxd == _xd:
    _ld = _xd
    _ln = [_e + _p * PK for _e, _p in _zip(_lx, _parts)]
else:
    _ld = _lcm(_lxd, _xd)
    _ka = _ld // _lxd
    _kb = _ld // _xd * PK
    _ln = [_e * _ka + _p * _kb for _e, _p in _zip(_lx, _parts)]
    if _ld > _BIG:
        _gd = _gcd(_ld, *_ln)
        if _gd > 1:
            _ln = [_x // _gd for _x in _ln]
            _ld = _ld // _gd
_rl = [ROUND for _x in _ln]
_lines = [_r - _a for _r, _a in _zip(_rl, _lg)]
_t = _sum(_lines)
"""


def starts(writer: Writer) -> list[py.stmt]:
    """The mode's running totals before the event's first award."""
    text = _STARTS[writer.plan.program.points.round]
    return writer.stmts(text) if text else []


def _round(writer: Writer, numerator: str, denominator: str) -> py.expr:
    text = _ROUND[writer.plan.program.points.rounding]
    return py.parse(text.replace("N", numerator).replace("D", denominator), mode="eval").body


def total(writer: Writer, *, bonus: bool = False) -> list[py.stmt]:
    """The award's whole points `_t` from its exact points `_xn / _xd` (and, per line, `_parts`
    times `_pk`, or times 1 for a multiplier's bonus: `bonus`)."""
    mode = writer.plan.program.points.round
    if mode == "per_rule":
        return writer.stmts("_t = ROUND", ROUND=_round(writer, "_xn", "_xd"))
    if mode == "per_line":
        template = _PER_LINE.replace(" * PK", "") if bonus else _PER_LINE.replace("PK", "_pk")
        return writer.stmts(template, ROUND=_round(writer, "_x", "_ld"))
    return writer.stmts(_PER_AWARD, ROUND=_round(writer, "_tn", "_td"))


@dataclass(frozen=True)
class Book:
    """What each way an award ends writes down for the awards after it (the mode's running
    totals): nothing to give (`nothing`), a cap or budget left nothing (`zero`), cut to what
    they allow (`cut`: its int shares are `_shares`), given whole (`whole`). Statements."""

    nothing: list[py.stmt]
    zero: list[py.stmt]
    cut: list[py.stmt]
    whole: list[py.stmt]


def book(writer: Writer) -> Book:
    """The mode's bookkeeping (`Book`)."""
    mode = writer.plan.program.points.round
    if mode == "per_rule":  # each award rounded alone: nothing runs on
        return Book([], [], [], [])
    if mode == "per_line":
        return Book(
            writer.stmts("_lx = _ln\n_lxd = _ld"),  # every line's points came to 0: given none
            writer.stmts("_lx = _lg\n_lxd = 1"),
            writer.stmts("_lg = [_a + _int(_s) for _a, _s in _zip(_lg, _shares)]\n_lx = _lg\n_lxd = 1"),
            writer.stmts("_lg = _rl\n_lx = _ln\n_lxd = _ld"),
        )
    return Book(
        writer.stmts("_ex_n = _tn\n_ex_d = _td"),
        writer.stmts("_ex_n = _given\n_ex_d = 1"),
        writer.stmts("_given += _int(_granted)\n_ex_n = _given\n_ex_d = 1"),
        writer.stmts("_given += _t\n_ex_n = _tn\n_ex_d = _td"),
    )
