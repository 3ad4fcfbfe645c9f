"""`notify`'s early answer (`sent_now`: sent at once, or suppressed by the cap) against `notice` in full.

With no message waiting, `notify` asks `sent_now` first: from the time of day and the send times
the cap counts it knows whether the message goes out now, or is suppressed with no way to wait,
and traces a verdict made once per rule (and count) instead of `notice`'s reasons. An engine whose
`notify` always works it out in full (`sent_now` answering None) must decide every event alike —
outcome JSON, trace words included, and state JSON — over drawn streams: points expiring within
weeks, reminders reaching days ahead and repeated at purchase after purchase, caps, quiet hours
over midnight or within a day, `max_delay`, and customers in zones of their own (New York's clock
moves on 2026-03-08, within the streams' weeks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings, target

from rules_engine.engine.mechanics import notifications
from tests.engine.test_whole_reminder import engine_of, reminder_streams, reminder_variants
from tests.engine.two_paths import decide


@contextlib.contextmanager
def _in_full() -> Iterator[None]:
    saved = notifications.sent_now
    notifications.sent_now = lambda *_: None
    try:
        yield
    finally:
        notifications.sent_now = saved


@settings(max_examples=40, deadline=None)
@given(text=reminder_variants(), events=reminder_streams())
def test_the_early_answer_notifies_as_notice_does(text: str, events: list[dict[str, Any]]) -> None:
    early, full = engine_of(text), engine_of(text)
    mine: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    answered = 0
    for event in events:
        customer = event["customer"]
        a = decide(early, event, mine.get(customer))
        with _in_full():
            b = decide(full, event, theirs.get(customer))
        assert a[:2] == b[:2], event
        if a[0] != "refused":
            mine[customer], theirs[customer] = a[2], b[2]
            answered += '"code":"fired"' in a[0] or '"code":"capped"' in a[0]
    target(float(answered), label="events with a notification sent or capped")
