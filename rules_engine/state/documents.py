"""The customer state in a JSON document, whichever command wrote it.

Each shape a command writes is accepted wherever one customer's state is read (`loyalty dry-run
--customer`, a tests file's `customer_file`):

- a bare state, as `schemas/state.schema.json` describes it;
- `{"state": {...}, "ledger": [...]}`, as `loyalty customer --json` prints it (the ledger is the
  store's copy, with its sequence numbers; the state is what counts);
- an outcome, as `loyalty dry-run --json` prints it: its `state` is the state after the event;
- `{"CUSTOMER": {...}, ...}`, the states by customer id, as `loyalty run --state-out` writes them:
  the event's customer is taken (or the only one there).

Input: the parsed JSON and the event's customer id. Output: the state's data, not yet validated
(`parse_state` does that), and the path of that data in the document, so that a problem found in
the state is shown at its place in the file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rules_engine.errors import Diagnostic, StateError
from rules_engine.state.customer import CustomerState

JsonPath = tuple[str | int, ...]

MAX_ID = 200
"""The most characters of a customer id: an event's (engine/events.py `MAX_ID`, which imports
states and so cannot be imported here; tests/test_cli_states.py holds the two equal)."""


def select_state(document: Any, customer: str | None) -> tuple[Any, JsonPath]:
    """The one customer's state in `document`, and its path in it.

    Raises:
        StateError: RE412 when the document holds the states of several customers and not the
            event's.
    """
    if not isinstance(document, dict):
        return document, ()  # parse_state says what is wrong with it
    nested = all(isinstance(value, dict) for value in document.values())
    if "state" in document and not nested:  # {state, ledger} or an outcome: beside lists and text
        return document["state"], ("state",)
    if not document or not nested or any(key in CustomerState.model_fields for key in document):
        return document, ()
    for key in document:  # states by customer id: each id bounded as an event's customer is
        if isinstance(key, str) and len(key) > MAX_ID:
            raise StateError([long_customer(len(key), (key,))])
    if customer is not None and customer in document:
        return document[customer], (customer,)
    if len(document) == 1:  # the engine checks that it is the event's customer (RE412)
        only = next(iter(document))
        return document[only], (only,)
    held = sorted(document)
    shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
    raise StateError(
        [
            Diagnostic(
                "RE412",
                f"the file holds the states of {len(held)} customers ({shown}), "
                f"not the event's customer {customer}",
                hint="give the state of the event's customer: a file by `loyalty run --state-out` that "
                "has it, `loyalty customer --json`, or one bare state",
            )
        ]
    )


def long_customer(size: int, where: JsonPath) -> Diagnostic:
    """RE420: a states file's customer id longer than any event's may be (events.py `MAX_ID`), at
    its place in the file; the id itself is not quoted (it may be megabytes)."""
    return Diagnostic(
        "RE420",
        f"customer states: a customer id of {size:,} characters, more than the {MAX_ID} an id may have",
        path=where,
        hint="an event's customer is at most 200 characters, so no store or run holds this one: "
        "give the states `loyalty run --state-out` wrote",
    )


def in_document(diagnostics: list[Diagnostic], where: JsonPath) -> list[Diagnostic]:
    """Diagnostics about a state, their paths made paths in the document it was selected from."""
    if not where:
        return diagnostics
    return [d if d.path is None else replace(d, path=(*where, *d.path)) for d in diagnostics]
