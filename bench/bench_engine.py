"""Issue 12's targets for `Engine.process`, and one event's cost against hand-written Python.

    .venv/bin/python bench/bench_engine.py            # the full run: 1-2 minutes, more when loaded
    .venv/bin/python bench/bench_engine.py --quick    # a few seconds, numbers only roughly right
    .venv/bin/python bench/bench_engine.py --json     # the same results as one JSON document

Issue 12's targets (part 1 of the engine-core redesign), judged here and nowhere else:
>= 25,000 events/s per core explain off; explain on <= 3x explain off; a customer with 1,000
earlier purchases within 1.3x of one with 15. They are judged on streams of coffee-club 10-line
purchases, each customer's state carried from event to event, garbage collection on, CPU time,
the median of interleaved rounds, beside the hand-written coffee-club processor
(bench/handwritten_coffee.py) timed in the same run and checked first to make the same decisions
event by event (engine_targets.py, with bench_streams.py's machinery: its agreement stream, every
history built and each timed stream). `--quick` has no row of 1,000 earlier purchases: that target
is then [n/a].
bench_streams.py prints issue 13's targets over the same streams, and more candidates.

Then one event in `timeit`, two programs from programs/ (information, no target):

- coffee-club: a 10-line basket (coffee, pastry, beans, a gift card, water) for a gold customer
  on a Tuesday in December at 10:15 Moscow time, so that nearly every mechanic runs: the refill
  discount, the gift card left out of the earning base, the early-bird condition false (and
  explained when explain is on), big-order, the base rate, per-pastry points, the double-Tuesday
  multiplier and the gold tier multiplier. Timed with explain off and on, with the event passed
  pre-parsed (the `Purchase` model from `parse_event`) and as its JSON-like dict (validation
  included). One more row shows what a longer customer history costs.
- fashion-house: a 10-line basket in March 2027 for a gold member in their birthday month, so that
  the budgeted `new-collection` rule (100 points an item, capped per event, 2,000,000 over the
  program: 1,500,000 given already, as a store's `BudgetSnapshot` says), the birthday multiplier,
  the gold tier's multiplier, free delivery and the earning base's exclusions all run. Timed on
  the generated path and on the explaining evaluator's stages (`Engine(..., generated=False)`,
  what every fashion-house purchase ran before budgets were generated), explain off, the same
  event and state, in the same run; their ratio is printed as [info].
- corner-hardware: one rule, 1 point per 1 USD, floor. Its ratio against a hand-written function
  computing the same points from the same event (sum of price x qty as Decimal, floored) is the
  cost of the engine's machinery around one rate rule. The hand-written answer is checked against
  the outcome before timing; a difference is printed as DISAGREES.

The customer state is always passed pre-parsed (a `CustomerState`); validating it is printed
separately, as is validating the event. Each number is the best of several `timeit` repeats
(garbage collection off, as timeit does), divided by the iterations in one repeat.

A benchmark, not a test: it exits 0 whether or not the targets are met (see bench/README.md); a
disagreement with either hand-written baseline is printed as DISAGREES, and the stream targets
are then not judged.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import sys
import timeit
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from engine_targets import EVENTS_PER_S, Streams, measure_streams, render_streams, targets
from pydantic import BaseModel
from timing import FULL, QUICK, Settings, machine, machine_line

from rules_engine import unvalidated as fast_models
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import Purchase
from rules_engine.engine.reader import parse_event
from rules_engine.engine.result import Result
from rules_engine.engine.run import BudgetSnapshot
from rules_engine.engine.trusted import trusted
from rules_engine.state.customer import CustomerState, parse_state

ROOT = Path(__file__).resolve().parent.parent


COFFEE = ROOT / "programs" / "coffee-club.yaml"
HARDWARE = ROOT / "programs" / "corner-hardware.yaml"
FASHION = ROOT / "programs" / "fashion-house.yaml"

# -- the events -------------------------------------------------------------------------------------
# coffee-club, Tuesday 2026-12-08 10:15 Moscow: double-tuesday is active, early-bird (before 10:00)
# is not, the basket is over big_order (1500), and there are 4 coffees, so refill takes 20% off them.
_COFFEE_LINES = [
    ("LATTE-L", "Latte, large", "coffee", "320.00", 2, "L"),
    ("ESPRESSO", "Espresso", "coffee", "150.00", 1, "S"),
    ("CAPPUCCINO-M", "Cappuccino, medium", "coffee", "260.00", 1, "M"),
    ("CROISSANT", "Butter croissant", "pastry", "180.50", 1, None),
    ("PAIN-CHOC", "Pain au chocolat", "pastry", "210.00", 2, None),
    ("MUFFIN", "Blueberry muffin", "pastry", "190.00", 1, None),
    ("BEANS-250", "Beans, house blend 250 g", "beans", "420.00", 1, None),
    ("BEANS-1KG", "Beans, single origin 1 kg", "beans", "1450.00", 1, None),
    ("GIFT-1000", "Gift card 1000", "gift_card", "1000.00", 1, None),
    ("WATER", "Still water", "drinks", "90.00", 1, None),
]


def _line(sku: str, name: str, category: str, price: str, qty: int, size: str | None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "sku": sku,
        "name": name,
        "category": category,
        "price": Decimal(price),
        "qty": qty,
    }
    if size is not None:
        line["attributes"] = {"size": size}
    return line


COFFEE_EVENT: dict[str, Any] = {
    "id": "evt-20261208-0042",
    "type": "purchase",
    "time": "2026-12-08T10:15:00+03:00",
    "customer": "card-7781",
    "channel": "store",
    "store": "moscow-arbat",
    "currency": "RUB",
    "items": [_line(*line) for line in _COFFEE_LINES],
}


def _coffee_state(lots: int, lines: int) -> dict[str, Any]:
    """A gold member with `lots` points lots and `lines` lines of purchase history."""
    return {
        "customer": "card-7781",
        "tier": "gold",
        "profile": {
            "tags": ["vip", "newsletter"],
            "signup_date": "2025-03-14",
            "attributes": {"favourite_drink": "flat white"},
        },
        "lots": [
            {
                "event": f"evt-2026-{i:05d}",
                "rule": "base",
                "points": 12 + i % 7,
                "earned_at": "2026-06-01T09:00:00+03:00",
                "available_at": "2026-06-15T09:00:00+03:00",
                "expires_at": "2027-06-01T09:00:00+03:00",
            }
            for i in range(lots)
        ],
        "counters": {"early-bird": {"day:2026-12-07": 10}, "pastry-bonus": {"day:2026-12-07": 15}},
        "purchases": [
            {
                "sku": sku,
                "category": category,
                "price": Decimal(price),
                "qty": qty,
                "date": f"2026-{1 + i % 11:02d}-{1 + i % 28:02d}",
            }
            for i, (sku, _, category, price, qty, _) in enumerate(_COFFEE_LINES * (lines // 10 + 1))
            if i < lines
        ],
    }


COFFEE_STATE = _coffee_state(lots=20, lines=40)  # a few weeks of visits
LONG_STATE = _coffee_state(lots=250, lines=500)  # about a year of visits (gold needs 30,000 RUB a year)

# corner-hardware, a Saturday morning in Chicago.
_HARDWARE_LINES = [
    ("HAMMER-16", "Claw hammer 16 oz", "tools", "24.99", 1),
    ("NAILS-1LB", "Common nails, 1 lb", "fasteners", "6.49", 3),
    ("SCREWS-100", "Wood screws, 100", "fasteners", "8.79", 2),
    ("TAPE-25", "Tape measure 25 ft", "tools", "12.99", 1),
    ("PAINT-1G", "Interior paint, 1 gal", "paint", "38.50", 2),
    ("BRUSH-2", "Paint brush 2 in", "paint", "7.25", 2),
    ("SANDPAPER", "Sandpaper assortment", "paint", "5.99", 1),
    ("GLOVES-L", "Work gloves, large", "safety", "14.95", 1),
    ("WD40", "WD-40, 11 oz", "chemicals", "7.48", 1),
    ("LED-4PK", "LED bulbs, 4 pack", "electrical", "11.97", 2),
]
HARDWARE_EVENT: dict[str, Any] = {
    "id": "pos-0007-118842",
    "type": "purchase",
    "time": "2026-12-05T09:40:00-06:00",
    "customer": "phone-3125550142",
    "store": "lincoln-park",
    "currency": "USD",
    "items": [
        {"sku": sku, "name": name, "category": category, "price": Decimal(price), "qty": qty}
        for sku, name, category, price, qty in _HARDWARE_LINES
    ],
}


# fashion-house, Tuesday 2027-03-16 in Paris: new-collection is active (March and April 2027).
_FASHION_LINES = [
    ("SS27-DRESS-01", "dresses", "189.00", 1, "ss27"),
    ("SS27-DRESS-02", "dresses", "149.50", 1, "ss27"),
    ("SS27-SHOE-01", "shoes", "120.00", 2, "ss27"),
    ("AW26-DRESS-07", "dresses", "99.90", 1, "aw26"),
    ("OUT-SHOE-03", "shoes", "39.00", 1, "outlet"),
    ("SS27-BELT-01", "accessories", "45.00", 1, "ss27"),
    ("SCARF-11", "accessories", "29.95", 2, None),
    ("SOCKS-3PK", "accessories", "12.00", 3, None),
    ("GIFT-50", "gift_card", "50.00", 1, None),
    ("SS27-BAG-02", "bags", "210.00", 1, "ss27"),
]
FASHION_EVENT: dict[str, Any] = {
    "id": "web-2027-0316-0042",
    "type": "purchase",
    "time": "2027-03-16T14:20:00+01:00",
    "customer": "member-4410",
    "channel": "web",
    "shipping": Decimal("7.90"),
    "items": [
        {
            "sku": sku,
            "category": category,
            "price": Decimal(price),
            "qty": qty,
            **({"attributes": {"collection": collection}} if collection else {}),
        }
        for sku, category, price, qty, collection in _FASHION_LINES
    ],
}
FASHION_STATE: dict[str, Any] = {
    "customer": "member-4410",
    "tier": "gold",
    "profile": {"signup_date": "2024-05-02", "attributes": {"birthday_month": 3}},
}
# What a store read of the budget: 1,500,000 of new-collection's 2,000,000 given already.
FASHION_BUDGETS = BudgetSnapshot({"new-collection": {"lifetime": Decimal(1_500_000)}})


def _hardware_variant(items: list[tuple[str, int | str]]) -> dict[str, Any]:
    event = copy.deepcopy(HARDWARE_EVENT)
    event["items"] = [
        {"sku": f"SKU-{i}", "category": "misc", "price": Decimal(price), "qty": Decimal(qty)}
        for i, (price, qty) in enumerate(items)
    ]
    return event


# Events on which the hand-written function must give the outcome's points.
HARDWARE_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("the bench basket", HARDWARE_EVENT),
    ("a whole-dollar total (2 x 12.50)", _hardware_variant([("12.50", 2)])),
    ("under a dollar (0.99)", _hardware_variant([("0.99", 1)])),
    ("a fraction just under (9.99 + 0.99 x 2)", _hardware_variant([("9.99", 1), ("0.99", 2)])),
    ("sold by weight (2.5 lb x 4.00)", _hardware_variant([("4.00", "2.5")])),
]


# -- the hand-written baseline: what a careful engineer would write for "1 point per dollar, floor" --
ZERO = Decimal(0)


def parse_purchase(event: Mapping[str, Any]) -> Purchase:
    parsed = parse_event(event)
    assert isinstance(parsed, Purchase)
    return parsed


def hand_points(event: Purchase) -> Decimal:
    """corner-hardware's points for a parsed purchase."""
    total = ZERO
    for line in event.items:
        total += line.price * line.qty
    return total.to_integral_value(rounding=ROUND_FLOOR)


def hand_points_dict(event: Mapping[str, Any]) -> Decimal:
    """The same from the JSON-like dict (no validation, as hand-written code would do)."""
    total = ZERO
    for line in event["items"]:
        total += line["price"] * line["qty"]
    return total.to_integral_value(rounding=ROUND_FLOOR)


def hardware_disagreements(engine: Engine) -> list[str]:
    found = []
    for label, event in HARDWARE_VARIANTS:
        got = engine.process(parse_event(event)).totals.points
        for name, want in (
            ("hand", hand_points(parse_purchase(event))),
            ("hand (dict)", hand_points_dict(event)),
        ):
            if got != want:
                found.append(f"{label}: the engine gives {got} points, {name} gives {want}")
    return found


# -- timing -----------------------------------------------------------------------------------------


def best_ns(function: Callable[[], Any], settings: Settings) -> float:
    """Nanoseconds per `function()`: the best of `repeat` timeit runs."""
    timer = timeit.Timer("f()", globals={"f": function})
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= settings.budget / 20 or number >= 10**7:
            break
        number *= 10 if elapsed < settings.budget / 200 else 2
    number = max(1, round(number * settings.budget / max(elapsed, 1e-9)))
    return min(timer.repeat(settings.repeat, number)) / number * 1e9


@dataclass
class Case:
    id: str
    program: str
    input: str  # "parsed" or "dict"
    explain: bool
    note: str
    ns: float
    points: Decimal
    hand_ns: float | None = None

    @property
    def events_per_s(self) -> float:
        return 1e9 / self.ns

    @property
    def hand_ratio(self) -> float | None:
        return None if self.hand_ns is None else self.ns / self.hand_ns


@dataclass
class Results:
    cases: list[Case]
    parse_event_ns: float
    parse_state_ns: float
    parse_long_state_ns: float
    decisions: list[str]
    hardware_disagreements: list[str]
    settings: Settings
    quick: bool
    errors: list[str] = field(default_factory=list)
    outcome_models: dict[str, int] = field(default_factory=dict)
    outcome_models_ns: float = 0.0
    streams: Streams | None = None

    def case(self, case_id: str) -> Case | None:
        return next((c for c in self.cases if c.id == case_id), None)


def _decisions(outcome: Result) -> list[str]:
    return [f"{t.rule} {t.code}" + (f" ({t.amount})" if t.amount is not None else "") for t in outcome.trace]


def _models(value: Any, found: list[BaseModel]) -> list[BaseModel]:
    """Every pydantic model in `value`, depth first (through the engine's slim dataclasses, such as
    `Result`, too: the models its fields hold)."""
    if isinstance(value, BaseModel):
        found.append(value)
        for inner in value.__dict__.values():
            _models(inner, found)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for spec in dataclasses.fields(value):
            if not spec.name.startswith("_"):  # a cache (Result's outcome), not what the event made
                _models(getattr(value, spec.name), found)
    elif isinstance(value, list | tuple):
        for inner in value:
            _models(inner, found)
    elif isinstance(value, dict):
        for inner in value.values():
            _models(inner, found)
    return found


def outcome_models(outcome: Result, state: CustomerState | None) -> list[BaseModel]:
    """The models of an outcome that its input state did not hold: what one event had to make."""
    known = {id(model) for model in _models(state, [])}
    return [model for model in _models(outcome, []) if id(model) not in known]


def making_ns(models: list[BaseModel], settings: Settings) -> float:
    """Nanoseconds to make `models` again from their ready field values, the cheapest way the
    engine knows (its spelt-out constructors in `trusted`: a new instance, its field dict, its
    three other slots; no validation): a floor under any event that must output them."""
    made = [(type(m), m.__dict__, m.__pydantic_fields_set__) for m in models]
    if not fast_models._FAST:  # another pydantic layout: as the engine then does
        return best_ns(lambda: [trusted(cls, dict(values), given) for cls, values, given in made], settings)
    new, set_dict, set_fields = fast_models._new, fast_models._set_dict, fast_models._set_fields
    set_extra, set_private = fast_models._set_extra, fast_models._set_private

    def make() -> None:
        for cls, values, given in made:
            model = new(cls)
            set_dict(model, values.copy())
            set_fields(model, given)
            set_extra(model, None)
            set_private(model, None)

    return best_ns(make, settings)


def measure(settings: Settings, quick: bool, progress: Callable[[str], None]) -> Results:
    coffee = Engine.from_file(COFFEE)
    hardware = Engine.from_file(HARDWARE)
    fashion = Engine.from_file(FASHION)
    fashion_stages = Engine.from_file(FASHION, generated=False)
    coffee_event = parse_event(COFFEE_EVENT)
    hardware_event = parse_purchase(HARDWARE_EVENT)
    state = parse_state(COFFEE_STATE)
    long_state = parse_state(LONG_STATE)
    cases: list[Case] = []

    def run(
        case_id: str,
        engine: Engine,
        event: Any,
        state: CustomerState | None,
        explain: bool,
        note: str,
        hand: Callable[[], Any] | None = None,
        budgets: BudgetSnapshot | None = None,
    ) -> None:
        progress(case_id)
        outcome = engine.process(event, state, explain=explain, budgets=budgets)  # also warms every cache
        ns = best_ns(lambda: engine.process(event, state, explain=explain, budgets=budgets), settings)
        kind = "dict" if isinstance(event, dict) else "parsed"
        case = Case(case_id, engine.program.program, kind, explain, note, ns, outcome.totals.points)
        if hand is not None:
            hand()
            case.hand_ns = best_ns(hand, settings)
        cases.append(case)

    run("coffee parsed", coffee, coffee_event, state, False, "")
    run("coffee parsed explain", coffee, coffee_event, state, True, "")
    run("coffee dict", coffee, COFFEE_EVENT, state, False, "validation included")
    run("coffee dict explain", coffee, COFFEE_EVENT, state, True, "validation included")
    run("coffee long history", coffee, coffee_event, long_state, False, "250 lots, 500 past lines")
    fashion_event, fashion_state = parse_event(FASHION_EVENT), parse_state(FASHION_STATE)
    for case_id, engine, note in (
        ("fashion parsed", fashion, "generated path"),
        ("fashion parsed stages", fashion_stages, "the evaluator's stages"),
    ):
        run(case_id, engine, fashion_event, fashion_state, False, note, budgets=FASHION_BUDGETS)
    run(
        "hardware parsed",
        hardware,
        hardware_event,
        None,
        False,
        "",
        hand=lambda: hand_points(hardware_event),
    )
    run(
        "hardware dict",
        hardware,
        HARDWARE_EVENT,
        None,
        False,
        "validation included",
        hand=lambda: hand_points_dict(HARDWARE_EVENT),
    )
    progress("validation alone")
    parse_event_ns = best_ns(lambda: parse_event(COFFEE_EVENT), settings)
    parse_state_ns = best_ns(lambda: parse_state(COFFEE_STATE), settings)
    parse_long_state_ns = best_ns(lambda: parse_state(LONG_STATE), settings)
    progress("the outcome's models alone")
    made = outcome_models(coffee.process(coffee_event, state), state)
    counts: dict[str, int] = {}
    for model in made:
        counts[type(model).__name__] = counts.get(type(model).__name__, 0) + 1
    same = fashion.process(fashion_event, fashion_state, budgets=FASHION_BUDGETS).outcome()
    other = fashion_stages.process(fashion_event, fashion_state, budgets=FASHION_BUDGETS).outcome()
    fashion_disagreements = [] if same == other else ["fashion-house: the two paths' outcomes differ"]
    return Results(
        errors=fashion_disagreements,
        cases=cases,
        parse_event_ns=parse_event_ns,
        parse_state_ns=parse_state_ns,
        parse_long_state_ns=parse_long_state_ns,
        decisions=_decisions(coffee.process(coffee_event, state)),
        hardware_disagreements=hardware_disagreements(hardware),
        settings=settings,
        quick=quick,
        outcome_models=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        outcome_models_ns=making_ns(made, settings),
        streams=measure_streams(quick, progress),
    )


# -- report -----------------------------------------------------------------------------------------
def _row(c: Case, results: Results) -> list[str]:
    mark = "!" if c.hand_ns is not None and results.hardware_disagreements else ""
    return [
        c.program,
        c.input,
        "on" if c.explain else "off",
        f"{c.ns / 1e3:,.1f}",
        f"{c.events_per_s:,.0f}",
        str(c.points),
        "-" if c.hand_ns is None else f"{c.hand_ns / 1e3:,.2f}{mark}",
        "-" if c.hand_ratio is None else f"{c.hand_ratio:,.0f}x",
        c.note,
    ]


def render(results: Results) -> str:
    head = ["program", "event", "explain", "us/event", "events/s", "points", "hand us", "engine/hand", "note"]
    rows = [head] + [_row(c, results) for c in results.cases]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    left = {0, 1, 2, len(head) - 1}
    lines = ["Engine.process, 10-line purchases (best of N; us lower is better)"]
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("event: parsed = the Purchase model from parse_event; dict = the JSON-like dict,")
    lines.append(
        "  validated inside process(). State: a parsed CustomerState; coffee-club a gold member with"
    )
    lines.append("  20 lots and 40 past lines unless noted, corner-hardware None (a new customer)")
    lines.append(
        f"validation alone: parse_event (coffee, 10 lines; the fast reader, bench_reader.py)"
        f" {results.parse_event_ns / 1e3:,.1f} us;"
        f" parse_state {results.parse_state_ns / 1e3:,.1f} us (20 lots, 40 lines),"
        f" {results.parse_long_state_ns / 1e3:,.1f} us (250 lots, 500 lines)"
    )
    if results.outcome_models:
        budget_ns = 1e9 / EVENTS_PER_S
        kinds = ", ".join(f"{n} {name}" for name, n in list(results.outcome_models.items())[:4])
        lines.append(
            f"the coffee-club event's outcome holds {sum(results.outcome_models.values())} models its input"
            f" state did not ({kinds}, ...); making just them from ready field values takes"
        )
        lines.append(
            f"  {results.outcome_models_ns / 1e3:,.1f} us (in a Python loop):"
            f" {results.outcome_models_ns / budget_ns:.2f}x the {budget_ns / 1e3:,.0f} us an event"
            f" may take at {EVENTS_PER_S:,} events/s (issue 12)"
        )
    generated, stages = results.case("fashion parsed"), results.case("fashion parsed stages")
    if generated is not None and stages is not None:
        lines.append(
            f"[info] fashion-house, explain off: generated path {generated.ns / 1e3:,.1f} us,"
            f" the evaluator's stages {stages.ns / 1e3:,.1f} us: {stages.ns / generated.ns:.2f}x"
        )
    lines.append("coffee-club decisions: " + ", ".join(results.decisions))
    lines.append("corner-hardware hand-written: sum(price * qty) as Decimal, floored, from the same event")
    for disagreement in results.hardware_disagreements:
        lines.append(f"  hand DISAGREES with the engine on {disagreement}")
    if not results.hardware_disagreements and results.cases:
        lines.append(f"  agrees with the engine's points on all {len(HARDWARE_VARIANTS)} check events:")
        lines.append("  " + "; ".join(label for label, _ in HARDWARE_VARIANTS))
    for error in results.errors:
        lines.append(f"FAILED: {error}")
    lines.append("")
    if results.streams is not None:
        lines += render_streams(results.streams)
        lines.append("")
    lines.append("targets (issue 12, part 1; median round; bench_streams.py prints issue 13's):")
    for target, met, figures in targets(results.streams):
        verdict = "n/a" if met is None else ("met" if met else "MISSED")
        lines.append(f"  [{verdict}] {target}: {figures}")
    lines.append("")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append(f"{machine_line(results.quick)}; load average at the end {load}")
    return "\n".join(lines)


def as_document(results: Results) -> dict[str, Any]:
    found = results.streams
    return {
        "machine": machine(),
        "quick": results.quick,
        "settings": results.settings.__dict__,
        "cases": [
            {
                "id": c.id,
                "program": c.program,
                "input": c.input,
                "explain": c.explain,
                "note": c.note or None,
                "ns_per_event": c.ns,
                "events_per_s": c.events_per_s,
                "points": str(c.points),
                "hand_ns": c.hand_ns,
                "ratio_engine_hand": c.hand_ratio,
            }
            for c in results.cases
        ],
        "validation_ns": {
            "parse_event": results.parse_event_ns,
            "parse_state": results.parse_state_ns,
            "parse_state_long_history": results.parse_long_state_ns,
        },
        "outcome_models": {
            "counts": results.outcome_models,
            "making_ns": results.outcome_models_ns,
        },
        "coffee_club_decisions": results.decisions,
        "hardware_disagreements": results.hardware_disagreements,
        "errors": results.errors,
        "streams": None
        if found is None
        else {
            "compared": found.compared,
            "disagreements": found.disagreements,
            "rows": [
                {
                    "history": row.history,
                    "events": row.events,
                    "median_us": {n: row.median_us(n) for n in row.seconds},
                }
                for row in found.rows
            ],
        },
        "targets": [
            {"target": target, "met": met, "figures": figures} for target, met, figures in targets(found)
        ],
    }


def as_json(results: Results) -> str:
    return json.dumps(as_document(results), indent=2, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short run with rough numbers (smoke test)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    def progress(what: str) -> None:
        print(f"measuring {what} ...", file=sys.stderr, flush=True)

    try:
        results = measure(settings, args.quick, progress)
    except Exception as error:  # a benchmark reports a broken engine, it does not crash on it
        results = Results(
            [], 0.0, 0.0, 0.0, [], [], settings, args.quick, [f"{type(error).__name__}: {error}"]
        )
    print(as_json(results) if args.json else render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
