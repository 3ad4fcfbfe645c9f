"""Leaderboards: customers ranked by a metric over a window, from the activity in their states.

`Engine.process` only records each purchase's activity (`engine/mechanics/tiers.py`, `record_activity`);
ranking is an offline question over many customers' states, asked by `loyalty leaderboard`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rules_engine.engine.mechanics.tiers_windows import metric, window_bounds
from rules_engine.program.types import Window
from rules_engine.state.customer import CustomerState


def rank(
    kind: str, window: Window, states: dict[str, CustomerState], at: dt.datetime, size: int
) -> list[tuple[str, Decimal]]:
    """Customers ranked by a metric over the window that `at` (program-local) falls in; ties by id."""
    start, end = window_bounds(window, at)
    scores = [(customer, metric(kind, state.activity, start, end)) for customer, state in states.items()]
    ranked = sorted((entry for entry in scores if entry[1] > 0), key=lambda entry: (-entry[1], entry[0]))
    return ranked[:size]
