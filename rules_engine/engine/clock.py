"""A customer's clock: whether an event may be applied now, given the latest one applied.

Input: the program, the customer's state, the event. Output: an `Order`, and for a refused event
the diagnostic (RE440) that says why.

The engine never moves a customer's clock backwards. The clock is `state.last_event_at`: the time
of the latest event applied to the customer, or of the latest `advance`. Expiry, pending periods,
tier reviews and streaks are worked out up to that moment and are not undone, so an event dated
before it cannot simply be applied: the points it earns might have expired already, a tier it
would have reached is reviewed from the wrong date, and the result depends on the order in which
events happened to arrive. `event_order` decides, in one place:

- `in_order`: the event is not older than the clock (the same moment is fine);
- `late`: older, and applied all the same, at its own time: an event no more than the program's
  `late_events.accept_within` older than the clock (none by default), and a referrer's reward,
  late by design: it carries the time of the referee's qualifying purchase, which can be older
  than the referrer's own latest event, and a reward owed must never be lost. A late event never
  moves the clock back; what time did to its points between its moment and the clock is applied
  after it (`Engine.process`: they expire or become available when they would have).
- `refused`: older, and nothing is applied (RE440, naming the event, both times and how late).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from rules_engine.dsl.ast import format_duration
from rules_engine.engine.events import AnyEvent, ReferralReward
from rules_engine.errors import Diagnostic
from rules_engine.program.model import Program
from rules_engine.state.customer import CustomerState

Order = Literal["in_order", "late", "refused"]


def event_order(program: Program, state: CustomerState, event: AnyEvent) -> Order:
    """Where the event stands against the customer's clock; see the module docstring."""
    latest = state.last_event_at
    if latest is None or event.time >= latest:
        return "in_order"
    if isinstance(event, ReferralReward):
        return "late"
    window = program.late_events
    if window is not None and latest - event.time <= window.accept_within:
        return "late"
    return "refused"


def out_of_order(program: Program, event: AnyEvent, latest: dt.datetime) -> Diagnostic:
    """RE440: the event is older than the customer's latest event (or `advance`), beyond the
    program's `late_events.accept_within` if it has one; the message says how late."""
    late = format_duration(latest - event.time)
    window = program.late_events
    if window is None:
        why = "the program takes no late events (late_events: {accept_within: …})"
        hint = (
            "send each customer's events in time order (one stream per customer), or let the program "
            "take late ones (late_events: {accept_within: 7d}); a late correction is a new event dated "
            "now. Check the time for a typo"
        )
    else:
        why = f"later than the program's late_events.accept_within ({format_duration(window.accept_within)})"
        hint = "a correction this late is a new event dated now (or an adjustment); check the time for a typo"
    return Diagnostic(
        "RE440",
        f"event {event.id}: its time {event.time.isoformat()} is {late} before customer "
        f"{event.customer}'s latest event ({latest.isoformat()}), {why}: refused, nothing applied",
        hint=hint,
        path=("time",),
    )
