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


def in_document(diagnostics: list[Diagnostic], where: JsonPath) -> list[Diagnostic]:
    """Diagnostics about a state, their paths made paths in the document it was selected from."""
    if not where:
        return diagnostics
    return [d if d.path is None else replace(d, path=(*where, *d.path)) for d in diagnostics]
