"""An earn rule's cap and budget as generated code: what they still allow, and the cap's counters.

`earning.allowance` and `earning.count` for the cap's own periods and the budget's period, known
when the code is written. A period's counter key is remembered by the event's local date
(code_writer.cap_key); a cap of one period whose counters hold one key, the usual case, makes its
count without `periods.without_past`'s scan. A budget is counted across customers by the store,
which reads what was spent into the run (`run.budgets.spent`, a `BudgetSnapshot`) and adds the
event's awards after it: the code reads what is left and counts nothing itself, as the stage.

Input: a `Writer`, a rule's id, its cap and its budget. Output: statements (generate_earning.py
puts them in an award's code: the allowance before the award, the count after it, in the same
branch).
"""

from __future__ import annotations

import ast as py
from typing import Any

from rules_engine.engine.code_writer import Writer
from rules_engine.engine.generate_aggregates import copied
from rules_engine.periods import BUDGET_PERIODS, CAPS

# What a budget has left in the event's period: its points less what every customer was given
# from it so far (the store's count), never below zero (earning.allowance).
_BUDGET = """
_bk = KEYS.get(_day)
if _bk is None:
    _bk = _cap_key(run, PERIOD, KEYS)
_left = POINTS - run.budgets.spent.get(RULE, _EMPTY).get(_bk, _ZERO)
_left = _left if _left > _ZERO else _ZERO
"""


def allowance(writer: Writer, rule: Any, cap: Any, budget: Any = None) -> list[py.stmt]:
    """What a cap and a budget still allow (`_allowed`) and which limit that is (`_limit`):
    earning.allowance for this cap's periods and this budget, known here; the first of the
    smallest wins, the cap's periods before the budget."""
    statements: list[py.stmt] = []
    first = True
    if cap is not None and cap.per_event is not None:
        statements += writer.stmts('_allowed = LIMIT\n_limit = "per-event cap"', LIMIT=cap.per_event)
        first = False
    periods = writer.plan.cap_periods(cap) if cap is not None else ()
    if periods:
        statements += writer.stmts("_used = run.counters.get(RULE, _EMPTY)", RULE=rule)
    for place, (period, value, words) in enumerate(periods):
        writer.uses_day = True  # the period's key by the local date, remembered (code_writer.cap_key)
        statements += writer.stmts(
            f"_pk{place} = KEYS.get(_day)\n"
            f"if _pk{place} is None:\n"
            f"    _pk{place} = _cap_key(run, PERIOD, KEYS)\n"
            f"_left = VALUE - _used.get(_pk{place}, _ZERO)\n"
            "_left = _left if _left > _ZERO else _ZERO",
            VALUE=value,
            PERIOD=period,
            KEYS=writer.cap_keys(period),
        )
        if first:
            statements += writer.stmts("_allowed = _left\n_limit = WORDS", WORDS=words)
            first = False
        else:
            statements += writer.stmts(
                "if _left < _allowed:\n    _allowed = _left\n    _limit = WORDS", WORDS=words
            )
    if budget is not None:
        writer.uses_day = True
        period = BUDGET_PERIODS[budget.period]
        statements += writer.stmts(
            _BUDGET, POINTS=budget.points, RULE=rule, PERIOD=period, KEYS=writer.cap_keys(period)
        )
        if first:
            statements += writer.stmts('_allowed = _left\n_limit = "budget"')
            first = False
        else:
            statements += writer.stmts('if _left < _allowed:\n    _allowed = _left\n    _limit = "budget"')
    if first:  # a cap of no limit at all: allows anything
        statements += writer.stmts('_allowed = _total\n_limit = ""')
    return statements


def count(writer: Writer, rule: Any, cap: Any) -> list[py.stmt]:
    """The cap's counters after the points given (earning.count), each period's key as the
    allowance found it (`_pk0` …: it runs first, in the same branch). A cap of one period whose
    counters hold one key (the usual case) makes its count anew without `without_past`'s scan:
    that period's count plus the points when the key is the current period's, the points alone
    when it is an earlier period of the same kind (which `without_past` would drop) — but in a
    program that takes late events, which keeps the periods they may still fall in
    (`earning.kept_from`)."""
    periods = writer.plan.cap_periods(cap)
    if not periods:
        return []
    late = writer.plan.program.late_events is not None  # earlier periods kept for late events
    general = writer.stmts("_mine = _dict(_mine)")
    for place, (period, _, _) in enumerate(periods):
        kept = "_late_from(run, PERIOD, _key)" if late else "_key"
        general += writer.stmts(
            f"_key = _pk{place}\n_mine = _without_past(_mine, {kept})\n"
            "_mine[_key] = _mine.get(_key, _ZERO) + _granted",
            PERIOD=period,
        )
    keys = ", ".join(f"_pk{place}" for place in range(len(periods)))
    general += writer.stmts(f"_mine = _of_kinds(_mine, ({keys},))")  # an earlier version's kind leaves
    statements = writer.stmts("_mine = run.counters.get(RULE, _EMPTY)", RULE=rule)
    if len(periods) == 1:
        kind = CAPS[periods[0][0]]
        past = (
            "elif _only < _pk0 and _only.startswith(KIND):\n        _mine = {_pk0: _ZERO + _granted}\n    "
            if kind is not None and not late
            else ""
        )
        statements += writer.stmts(
            "if _len(_mine) == 1:\n"
            "    (_only,) = _mine\n"
            "    if _only == _pk0:\n"
            "        _mine = {_pk0: _mine[_pk0] + _granted}\n"
            f"    {past}else:\n"
            "        GENERAL\n"
            "else:\n"
            "    GENERAL_TOO",
            KIND=f"{kind}:",
            GENERAL=general,
            GENERAL_TOO=copied(general),
        )
    else:
        statements += general
    return statements + writer.stmts("run.counters[RULE] = _mine", RULE=rule)
