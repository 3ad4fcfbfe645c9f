"""Where a customer stands at a moment, without an event: the tier progress the engine reports
in every outcome (`TierProgress`), as a pure function of the program, the state and the moment.

The engine computes it at the end of each event (engine/mechanics/tiers.py); between events a
rolling window moves on and a review may fall due, so a customer read later is measured again
here with the same functions: the tier after any review due by then (`tiers.review`, nothing
stored: the next event or `advance` books it), upgraded when the metric over the window ending
then reaches a higher level (as the next event would, whatever it is), and that metric.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from rules_engine.engine import running
from rules_engine.engine.mechanics.tiers import review
from rules_engine.engine.mechanics.tiers_windows import qualified, window_bounds
from rules_engine.engine.outcome import TierProgress
from rules_engine.program.model import Program
from rules_engine.state.customer import CustomerState


def tier_progress(program: Program, state: CustomerState, moment: dt.datetime) -> TierProgress | None:
    """The customer's tier, the qualifying metric over the window ending at `moment`, the next
    level and how much is missing; None when the program has no tiers. `moment` before the
    customer's latest event is taken as that event's time (the window never moves back)."""
    tiers = program.tiers
    if tiers is None:
        return None
    if state.last_event_at is not None and moment < state.last_event_at:
        moment = state.last_event_at
    zone = ZoneInfo(program.timezone)
    start, _ = window_bounds(tiers.window, moment.astimezone(zone))
    current, _, _ = review(tiers, state, moment, zone)
    value = running.value(tiers.qualify_on, running.sums(state, start))
    levels = tiers.levels
    index = {level.id: i for i, level in enumerate(levels)}
    reached = qualified(tiers, value)
    # Upgraded as at the end of any event (`tiers.update_tier`): a review that dropped the tier on
    # the last period's metric may leave this period's above it already.
    if reached is not None and (current not in index or index[reached.id] > index[current]):
        current = reached.id
    position = index.get(current, -1) if current else -1
    following = levels[position + 1] if position + 1 < len(levels) else None
    return TierProgress(
        tier=current,
        metric=value,
        window=str(tiers.window),
        next=following.id if following else None,
        needed=max(Decimal(0), following.threshold - value) if following else None,
    )
