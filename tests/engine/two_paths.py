"""What the differential tests of two engine paths share (test_generated, test_generated_tiers,
test_nothing_due): the example programs, their categories, and one event or a stream decided by
two engines and compared, each engine carrying its own states."""

from __future__ import annotations

from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.state.customer import CustomerState
from tests.conftest import ROOT

PROGRAMS = ROOT / "programs"
EXAMPLES = sorted(p for p in PROGRAMS.glob("*.yaml") if not p.name.endswith(".tests.yaml"))

# Each example program's categories, so that its conditions hold on some lines.
CATEGORIES = {
    "book-nook": ("book", "gift_card", "stationery"),
    "coffee-club": ("coffee", "pastry", "beans", "gift_card"),
    "corner-hardware": ("tools", "paint", "garden"),
    "fashion-house": ("dresses", "gift_card", "shoes"),
    "volt-electronics": ("phone", "cable", "case", "lens", "service", "gift_card", "smart_home"),
}


def products(program: str) -> tuple[tuple[str, str], ...]:
    """Two products of each of the example program's categories: (sku, category)."""
    return tuple((f"{category.upper()}-{n}", category) for category in CATEGORIES[program] for n in (1, 2))


def decide(engine: Engine, event: Any, state: Any) -> tuple[Any, ...]:
    """(outcome JSON, state JSON, the state), or ("refused", its codes, None)."""
    try:
        result = engine.process(event, state)
    except EventError as error:
        return "refused", [d.code for d in error.diagnostics], None
    return result.outcome().model_dump_json(), result.state.model_dump_json(), result.state


def same_stream(fast: Engine, slow: Engine, stream: list[dict[str, Any]]) -> None:
    """Both engines over `stream`, each carrying its own states: equal after every event."""
    mine: dict[str, CustomerState | None] = {}
    theirs: dict[str, CustomerState | None] = {}
    for event in stream:
        customer = event["customer"]
        a = decide(fast, event, mine.get(customer))
        b = decide(slow, event, theirs.get(customer))
        assert a[:2] == b[:2], event
        if a[0] != "refused":
            mine[customer], theirs[customer] = a[2], b[2]
