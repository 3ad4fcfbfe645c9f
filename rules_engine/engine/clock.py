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
- `late`: older, and applied all the same. Today only a referrer's reward is late by design: it
  carries the time of the referee's qualifying purchase, which can be older than the referrer's own
  latest event, and a reward owed must never be lost. A late event never moves the clock back. (A
  program-level rule, `late_events: {accept_within: …}`, will put other late events here.)
- `refused`: older, and nothing is applied (RE440, naming the event and both times).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

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
    return "refused"


def out_of_order(event: AnyEvent, latest: dt.datetime) -> Diagnostic:
    """RE440: the event is older than the customer's latest event (or `advance`)."""
    return Diagnostic(
        "RE440",
        f"event {event.id}: its time {event.time.isoformat()} is before customer {event.customer}'s "
        f"latest event ({latest.isoformat()}): refused, nothing applied",
        hint="send each customer's events in time order (one stream per customer); a late "
        "correction is a new event dated now. Check the time for a typo",
        path=("time",),
    )
