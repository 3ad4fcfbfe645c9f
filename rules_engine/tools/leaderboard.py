"""Leaderboards: customers ranked by a metric over a window, from the activity in their states.

`Engine.process` only records each purchase's activity (`engine/mechanics/tiers.py`, `record_activity`);
ranking is an offline question over many customers' states, asked by `loyalty leaderboard`.

Each event also leaves out of the state the activity no window of the program needs any more at
its moment (a calendar window keeps the period before its own, a rolling one twice its length):
a past window can be ranked only from states whose latest event still kept it (`forgotten`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from zoneinfo import ZoneInfo

from rules_engine.engine.mechanics.tiers_windows import metric, window_bounds, window_horizon
from rules_engine.program.model import Program
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


def forgotten(
    program: Program, window: Window, states: Mapping[str, CustomerState], at: dt.datetime
) -> list[str]:
    """The customers whose state may no longer hold their activity in the window that `at`
    (program-local) falls in: their latest event left out what came before its windows' horizon
    (as `tiers.record_activity` does), and that is after the window's start. Ranked anyway, they
    would drop out of a past month's board, or score less, for having come back since."""
    start, _ = window_bounds(window, at)
    if start is None:  # a lifetime window: kept whole
        return []
    windows = ([program.tiers.window] if program.tiers else []) + [
        board.window for board in program.leaderboards
    ]
    zone = ZoneInfo(program.timezone)
    late = []
    for customer, state in states.items():
        if state.last_event_at is None:
            continue
        local = state.last_event_at.astimezone(zone)
        horizons = [window_horizon(kept, local) for kept in windows]
        if all(horizon is not None and horizon > start for horizon in horizons):
            late.append(customer)
    return sorted(late)
