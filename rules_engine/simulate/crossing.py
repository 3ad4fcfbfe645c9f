"""What crosses customers, settled between passes: referrers' rewards and program-wide budgets.

Batches hold whole customers, so one pass decides everything that stays within a customer. Two
things do not (the measured method: two replay passes, exact):

- **Referrals.** A referee's qualifying purchase owes the customer whose code they signed up with
  a reward. `loyalty run` gives it right after that purchase's line, when the store knows the
  referrer by then (they had an event applied before that line, at a time before the purchase's:
  store/base.py `known`), and warns otherwise. So the
  owed rewards of pass N, matched to the referral codes of every customer, become reward events
  placed in their referrers' histories for pass N+1.
- **Budgets.** A rule with a budget may give, over all customers and each period, only so many
  points; `loyalty run` spends it first come, first served, in file order. From pass N's grants
  in file order, capped at the budget, pass N+1 is told how much each budget had given before
  each position.

Passes go on, re-running only the batches whose settled inputs changed, until a pass gives back
what it was told: then every customer's replay saw exactly what the sequential run would have
(by induction over the file's positions), and the figures are exact. A reward that cannot change
the events that give rewards (the common case) settles in two passes; chains of referrals or
budgets that run out period after period take one more pass each. `MAX_PASSES` bounds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.simulate.kernel import BudgetTable, Crossing, Position, reward_event
from rules_engine.simulate.tally import ZERO

MAX_PASSES = 12

Rewards = dict[str, list[tuple[Position, dict[str, Any]]]]


def settle_referrals(crossings: Iterable[Crossing]) -> tuple[Rewards, int]:
    """The rewards to give, by referrer, and how many owed rewards name no customer known by
    then (`loyalty run` warns about each: RE607)."""
    every = list(crossings)
    codes: dict[str, tuple[str, int, dt.datetime]] = {}
    for crossing in every:
        codes.update(crossing.codes)
    rewards: Rewards = {}
    unknown = 0
    owed = sorted((o for crossing in every for o in crossing.owed), key=lambda o: (o.line, o.referee))
    given: dict[int, int] = {}
    for item in owed:
        found = codes.get(item.code)
        if found is None or found[1] >= item.line or found[2] >= dt.datetime.fromisoformat(item.time):
            unknown += 1
            continue
        referrer = found[0]
        given[item.line] = given.get(item.line, 0) + 1
        rewards.setdefault(referrer, []).append(((item.line, given[item.line]), reward_event(item, referrer)))
    return rewards, unknown


def settle_budgets(engine: Engine, crossings: Iterable[Crossing]) -> tuple[BudgetTable | None, bool]:
    """The budgets' running sums, in file order, each grant capped at what its budget had left:
    what the sequential run would have given if every claim were what this pass claimed; and
    whether any grant was capped (a budget ran out)."""
    if not engine.plan.budgeted:
        return None, False
    capped = False
    limits = {rule.id: rule.budget.points for rule in engine.program.earn if rule.budget is not None}
    grants = sorted(g for crossing in crossings for g in crossing.grants)
    table: dict[tuple[str, str], tuple[list[Position], list[Decimal]]] = {}
    for position, rule, key, points in grants:
        positions, sums = table.setdefault((rule, key), ([], []))
        before = sums[-1] if sums else ZERO
        granted = min(points, max(ZERO, Decimal(limits[rule]) - before))
        capped = capped or granted != points
        positions.append(position)
        sums.append(before + granted)
    return BudgetTable(table), capped


def same_budgets(first: BudgetTable | None, second: BudgetTable | None) -> bool:
    def grants(table: BudgetTable | None) -> Mapping[tuple[str, str], Any]:
        return {} if table is None else table.granted

    return grants(first) == grants(second)


def batches_of(customers: Iterable[str], index: Mapping[str, int]) -> set[int]:
    return {index[customer] for customer in customers if customer in index}


def changed_referrers(before: Rewards, after: Rewards) -> set[str]:
    return {c for c in set(before) | set(after) if before.get(c) != after.get(c)}


def first_moment(values: Sequence[dt.datetime | None]) -> dt.datetime | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None
