"""A signup's profile, kept in the customer's state before the event is decided.

A `signup` event may carry what the customer told the shop (`birthday`, `tags`, `timezone`): they go to
`state.profile`, with `signup_date` (the local date of the first signup), so conditions
(`customer.birthday`, `customer.tags`, `customer.signup_date`) and the birthday reward read them
from this event on. A later signup corrects the birthday it gives and adds the tags it gives.

Input: a `Run` of a signup. Output: the run's state (and the state its conditions read) updated.
"""

from __future__ import annotations

from typing import Any

from rules_engine.engine.events import Signup
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import replaced


def record(run: Run, event: Signup) -> None:
    """Keep the signup's profile in the state: before the conditions read the customer."""
    profile = run.state.profile
    update: dict[str, Any] = {}
    if event.birthday is not None and event.birthday != profile.birthday:
        update["birthday"] = event.birthday
    new_tags = [tag for tag in dict.fromkeys(event.tags) if tag not in profile.tags]
    if new_tags:
        update["tags"] = [*profile.tags, *new_tags]
    if event.timezone is not None and event.timezone != profile.timezone:
        update["timezone"] = event.timezone
    if profile.signup_date is None:
        update["signup_date"] = run.local.date()
    if not update:
        return
    state = replaced(run.state, {"profile": profile.model_copy(update=update)})
    run.state = run.before = state
