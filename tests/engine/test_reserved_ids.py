"""An erasure keeps the erased customer's books under a pseudonym, `erased-` and 32 hex digits
(tools/erasure.py). No event may name a customer so: it would earn on the anonymised books, and a
referral it qualified would be owed to no one (the service pays no pseudonym). Refused (RE410 at
`customer`, with why) on every path an event is read by — the fast reader and the model alike,
`loyalty run`, `Loyalty.handle` — while ids that only look alike are customers like any other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import validate_event
from rules_engine.engine.reader import parse_event
from rules_engine.errors import EventError
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.tools.erasure import is_pseudonym, new_pseudonym
from tests.conftest import ROOT

PROGRAM = ROOT / "programs" / "coffee-club.yaml"
RESERVED = new_pseudonym()
ALIKE = ["erased-" + "A" * 32, "erased-" + "a" * 31, "erased-" + "a" * 33, "erased-anna", "x-" + RESERVED]


def _purchase(customer: str, event: str = "e1") -> dict[str, Any]:
    return {
        "id": event,
        "type": "purchase",
        "time": "2026-12-01T10:00:00Z",
        "customer": customer,
        "items": [{"sku": "LATTE", "category": "coffee", "price": 3, "qty": 1}],
    }


def test_a_pseudonym_as_an_events_customer_is_refused_by_both_readers_alike() -> None:
    assert is_pseudonym(RESERVED)
    for read in (parse_event, validate_event):
        with pytest.raises(EventError) as refused:
            read(_purchase(RESERVED))
        (diagnostic,) = refused.value.diagnostics
        assert (diagnostic.code, diagnostic.path) == ("RE410", ("customer",))
        assert "pseudonym" in diagnostic.message and diagnostic.hint is not None


@pytest.mark.parametrize("customer", ALIKE)
def test_ids_that_only_look_alike_are_customers(customer: str) -> None:
    assert not is_pseudonym(customer)
    assert parse_event(_purchase(customer)) == validate_event(_purchase(customer))


def test_loyalty_run_refuses_the_line_and_goes_on(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(_purchase(RESERVED)) + "\n" + json.dumps(_purchase("anna", "e2")) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "rules_engine.cli", "run", str(PROGRAM), str(events)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert "events.jsonl:1:" in done.stderr and "RE410" in done.stderr and "pseudonym" in done.stderr
    assert "1 events processed, 1 problem(s), 1 customer(s)" in done.stdout


def test_a_service_stores_nothing_for_it(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r.db"), "coffee-club")
    loyalty = Loyalty(Engine.from_file(PROGRAM), store, horizon=None)
    with pytest.raises(EventError) as refused:
        loyalty.handle(_purchase(RESERVED))
    assert refused.value.diagnostics[0].path == ("customer",)
    assert store.state(RESERVED) is None and list(store.customers()) == []
    store.close()
