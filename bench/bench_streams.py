"""Streams of coffee-club purchases through `Engine.process` and through a hand-written processor.

    .venv/bin/python bench/bench_streams.py            # the full run: 1-2 minutes here, more when loaded
    .venv/bin/python bench/bench_streams.py --quick    # a couple of seconds, rough numbers
    .venv/bin/python bench/bench_streams.py --profile  # cProfile of the engine on the main stream
    .venv/bin/python bench/bench_streams.py --profile-history 1000  # the same after 1,000 purchases
    .venv/bin/python bench/bench_streams.py --working  # what making and reading a working state costs

The measuring stick of the engine-core redesign (bench/README.md, "Stream benchmark"):

1. Agreement first. bench/handwritten_coffee.py is what a careful engineer would write for
   coffee-club's purchase path. It is run beside the engine, event by event, over a generated
   agreement stream (1-10 line baskets, new customers, weeks across Tuesdays, mornings, December
   and not, big and small orders, a few redelivered events), over every customer history built for
   the rows below, and over each timed stream before it is timed. Compared after every event:
   the points of every rule, each rule's per-line shares, the total, the basket, discount and
   earning base, the badges given, the tier and its `tier_since`, the points in the lots, the
   weekly challenge's progress and the quest's steps. Any difference is printed as DISAGREES,
   with the event and both answers, and the script exits 1; it exits 0 otherwise, targets met
   or not.
2. Then streams are timed, not single events: each candidate processes the whole stream, one
   event after another, carrying each customer's state forward, with garbage collection on (as a
   service runs), in CPU time (`time.process_time`). The candidates run interleaved, in a rotating
   order, for several rounds; the table gives the best and the median events/s.
3. Rows: the customers of a stream have 15, 100, 1,000 or 2,000 earlier purchases (about one a
   day), built by running the engine (and the hand-written processor) over that history outside
   the timing; the stream then brings them more 10-line purchases. 1,000 and 2,000 are both past
   coffee-club's windows (points and the tier window last a year): their ratio shows whether
   anything still grows with history once a year of points is held.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import os
import pstats
import random
import statistics
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import handwritten_coffee as hand
from timing import machine

from rules_engine import collector
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import Purchase
from rules_engine.engine.reader import parse_event
from rules_engine.engine.result import Result
from rules_engine.engine.stream import Stream
from rules_engine.state.customer import CustomerState
from rules_engine.state.working import Working

ROOT = Path(__file__).resolve().parent.parent
COFFEE = ROOT / "programs" / "coffee-club.yaml"
MSK = dt.timezone(dt.timedelta(hours=3))  # Europe/Moscow has kept +03:00 since 2014
DAY = 86_400

# -- targets of the redesign: issue 13's (part 2) here, issue 12's (part 1) in bench_engine.py ----
PART2_EVENTS_PER_S = 50_000
PART2_HAND_RATIO = 1.5

# -- what customers buy: coffee-club's categories -----------------------------------------------
PRODUCTS: tuple[tuple[str, str, int], ...] = (  # sku, category, price in kopecks
    ("LATTE-L", "coffee", 32_000),
    ("ESPRESSO", "coffee", 15_000),
    ("CAPPUCCINO-M", "coffee", 26_000),
    ("FLAT-WHITE", "coffee", 28_000),
    ("CROISSANT", "pastry", 18_050),
    ("PAIN-CHOC", "pastry", 21_000),
    ("MUFFIN", "pastry", 19_000),
    ("BEANS-250", "beans", 42_000),
    ("BEANS-1KG", "beans", 145_000),
    ("GIFT-500", "gift_card", 50_000),
    ("GIFT-1000", "gift_card", 100_000),
    ("WATER", "drinks", 9_000),
    ("JUICE", "drinks", 15_500),
    ("TEA", "drinks", 12_000),
)


@dataclass(frozen=True)
class Settings:
    agreement_customers: int
    agreement_events: int
    rows: tuple[tuple[int, int, int, int], ...]  # (earlier purchases, templates, customers, events each)
    rounds: int


FULL = Settings(300, 3_150, ((15, 300, 300, 10), (100, 5, 60, 10), (1000, 1, 20, 5), (2000, 1, 20, 5)), 5)
QUICK = Settings(15, 100, ((15, 10, 10, 3),), 2)

STREAM_START = int(dt.datetime(2026, 11, 23, tzinfo=MSK).timestamp())  # a Monday
STREAM_DAYS = 28  # to 2026-12-20: a week of November, three of December (double-tuesday)
AGREEMENT_START = int(dt.datetime(2026, 11, 2, tzinfo=MSK).timestamp())
AGREEMENT_DAYS = 70  # to 2027-01-10


# -- generated events ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Generated:
    """One purchase, in both forms: the hand-written processor's tuple and the engine's model."""

    hand: hand.Event
    engine: Purchase


def _basket(rng: random.Random, lines: int, big: bool) -> tuple[hand.Line, ...]:
    chosen = rng.sample(PRODUCTS, lines) if lines <= len(PRODUCTS) else rng.choices(PRODUCTS, k=lines)
    top = 12 if big else 3
    return tuple(
        (sku, category, price, rng.choice((1, 1, 1, 2, rng.randint(1, top))))
        for sku, category, price in chosen
    )


def _moment(rng: random.Random, day_start: int) -> int:
    """A time that day: mornings (before 10:00, early-bird) about a third of the time."""
    hour = rng.randint(7, 9) if rng.random() < 0.35 else rng.randint(10, 21)
    return day_start + hour * 3600 + rng.randint(0, 59) * 60 + rng.randint(0, 59)


def _generated(event: hand.Event, rng: random.Random | None = None) -> Generated:
    event_id, customer, now, lines = event
    data: dict[str, Any] = {
        "id": event_id,
        "type": "purchase",
        "time": dt.datetime.fromtimestamp(now, MSK).isoformat(),
        "customer": customer,
        "currency": "RUB",
        "items": [
            {"sku": sku, "category": category, "price": Decimal(price).scaleb(-2), "qty": qty}
            for sku, category, price, qty in lines
        ],
    }
    if rng is not None and rng.random() < 0.1:  # tax in, shipping out: neither changes the points
        data["shipping"] = Decimal("150.00")
        data["tax"] = Decimal(sum(price * qty for _, _, price, qty in lines) // 6).scaleb(-2)
    parsed = parse_event(data)
    assert isinstance(parsed, Purchase)
    return Generated(event, parsed)


def agreement_stream(settings: Settings, seed: int = 20261201) -> list[Generated]:
    """New customers over ten weeks; baskets of 1-10 lines; light, regular, heavy and catering
    buyers (so that some reach gold within the stream and some hit double-tuesday's cap);
    lapsed customers who reached gold over a year before and are reviewed (and go down) in the
    stream; second purchases on the same day (the per-day caps); a few redelivered events."""
    rng = random.Random(seed)
    events: list[tuple[int, int, hand.Event]] = []
    per_customer = settings.agreement_events / settings.agreement_customers
    sequence = 0
    for c in range(settings.agreement_customers):
        customer = f"card-{c:04d}"
        kind = rng.choice(("light", "regular", "regular", "heavy", "catering"))
        count = max(1, round(rng.uniform(0.3, 1.7) * per_customer))
        days = sorted(rng.randrange(AGREEMENT_DAYS) for _ in range(count))
        if rng.random() < 0.08:  # lapsed: gold from big orders 13-14 months ago, reviewed in the stream
            kind = "light"
            days = sorted(rng.randrange(-425, -400) for _ in range(6)) + days
        last = 0
        for n, day in enumerate(days):
            start = AGREEMENT_START + day * DAY
            now = _moment(rng, start)
            if n and rng.random() < 0.15:  # again the same day as the previous one
                now = max(last + 60, _moment(rng, last - (last - AGREEMENT_START) % DAY))
            now = max(now, last + 60)
            last = now
            lines = {"light": rng.randint(1, 3), "regular": rng.randint(1, 6)}.get(kind, rng.randint(4, 10))
            if day < 0:
                lines = rng.randint(6, 10)
            basket = _basket(rng, lines, big=kind == "catering" or day < 0)
            event = (f"a{c:04d}-{n:03d}", customer, now, basket)
            events.append((now, sequence, event))
            sequence += 1
            if rng.random() < 0.01:  # delivered twice
                events.append((now, sequence, event))
                sequence += 1
    events.sort(key=lambda e: (e[0], e[1]))
    return [_generated(event, rng) for _, _, event in events]


def history(template: int, purchases: int, seed: int) -> list[Generated]:
    """`purchases` purchases of 1-10 lines, about one a day, ending before the stream starts."""
    rng = random.Random(seed * 7919 + template)
    customer = f"tpl-{template:04d}"
    times: list[int] = []
    day = STREAM_START - DAY
    for _ in range(purchases):
        day -= round(rng.uniform(0.6, 1.4) * DAY)
        times.append(_moment(rng, day - day % DAY - 3 * 3600))
    times.sort()
    return [
        _generated((f"h{template:04d}-{n:04d}", customer, now, _basket(rng, rng.randint(1, 10), False)), rng)
        for n, now in enumerate(times)
    ]


def stream(customers: Sequence[str], each: int, seed: int) -> list[Generated]:
    """`each` 10-line purchases per customer over four weeks from STREAM_START, in time order."""
    rng = random.Random(seed)
    events: list[tuple[int, hand.Event]] = []
    for customer in customers:
        for n in range(each):
            now = _moment(rng, STREAM_START + rng.randrange(STREAM_DAYS) * DAY)
            events.append((now, (f"s-{customer}-{n:03d}", customer, now, _basket(rng, 10, False))))
    events.sort(key=lambda e: (e[0], e[1][0]))
    return [_generated(event) for _, event in events]


# -- the agreement check ------------------------------------------------------------------------
@dataclass
class Check:
    events: int = 0
    disagreements: list[str] = field(default_factory=list)
    shown: int = 20  # the first ones are printed in full
    covered: Counter[str] = field(default_factory=Counter)  # decisions the compared events made

    def record(self, what: str) -> None:
        self.disagreements.append(what)


def _kopecks(amount: Decimal) -> int:
    return int(amount * 100)


def compare(
    outcome: Result, result: hand.CoffeeResult, state: hand.CoffeeState, event: hand.Event
) -> list[str]:
    """Where the engine's outcome and the hand-written result differ (empty: they agree)."""
    problems: list[str] = []

    def differ(what: str, engine: Any, handwritten: Any) -> None:
        if engine != handwritten:
            problems.append(f"{what}: engine {engine!r}, hand-written {handwritten!r}")

    awards = outcome.awards
    differ("points by rule", {a.rule: int(a.points) for a in awards}, result.by_rule())
    by_rule = {award[0]: award for award in result.awards}
    for award in awards:
        mine = by_rule.get(award.rule)
        if mine is not None:
            engine_shares = [(line, int(points)) for line, _, points in award.lines]
            differ(f"{award.rule} per line", engine_shares, result.shares(mine))
    totals = outcome.totals
    differ("total points", int(totals.points), result.points)
    differ("basket", _kopecks(totals.basket), result.basket)
    differ("discount", _kopecks(totals.discount), result.discount)
    differ("earning base", _kopecks(totals.earning_base), result.earning_base)
    differ("badges", [b.badge for b in outcome.badges], result.badges)
    after = outcome.state
    differ("tier after", after.tier, state.tier_name)
    since = after.tier_since  # when the tier was reached or last reviewed: the next review's start
    differ("tier since", None if since is None else int(since.timestamp()), state.tier_since or None)
    differ("points in lots", int(sum((lot.points for lot in after.lots), Decimal(0))), state.balance)
    challenge = after.challenges.get("five-coffees-a-week")
    differ("challenge progress", int(challenge.progress) if challenge else 0, state.week_coffees)
    quest = after.quests.get("breakfast-explorer")
    differ(
        "quest steps", sorted(quest.done) if quest else [], [i for i in range(3) if state.quest_done >> i & 1]
    )
    started = quest.started_at if quest else None
    differ("quest started", None if started is None else int(started.timestamp()), state.quest_started)
    if problems:
        event_id, customer, now, lines = event
        when = dt.datetime.fromtimestamp(now, MSK).strftime("%a %Y-%m-%d %H:%M")
        head = f"event {event_id} ({customer}, {when}, {len(lines)} lines: {lines})"
        return [f"{head}: {p}" for p in problems]
    return []


def run_both(
    engine: Engine,
    events: Sequence[Generated],
    engine_states: dict[str, CustomerState | None],
    hand_states: dict[str, hand.CoffeeState],
    check: Check,
    explain_too: bool = False,
) -> None:
    """Run `events` through both, updating both state maps, comparing after every event."""
    for generated in events:
        event = generated.hand
        customer = event[1]
        before = engine_states.get(customer)
        outcome = engine.process(generated.engine, before)
        state = hand_states.get(customer)
        if state is None:
            state = hand_states[customer] = hand.CoffeeState(customer)
        result = hand.process(state, event)
        check.events += 1
        _cover(check.covered, outcome)
        for problem in compare(outcome, result, state, event):
            check.record(problem)
        if explain_too:  # explain on must decide the same
            explained = engine.process(generated.engine, before, explain=True)
            for what, a, b in (
                ("points by rule", _rules(outcome), _rules(explained)),
                ("tier after", outcome.state.tier, explained.state.tier),
            ):
                if a != b:
                    check.record(f"event {event[0]}: explain on gives {what} {b!r}, explain off {a!r}")
        engine_states[customer] = outcome.state


def _cover(covered: Counter[str], outcome: Result) -> None:
    """Count the decisions worth knowing the check saw: caps, shadowing, tier changes, ..."""
    for trace in outcome.trace:
        if trace.code in ("capped", "shadowed", "duplicate") and trace.kind in ("earn", "event"):
            covered[f"{trace.rule.split(':')[0]} {trace.code}"] += 1
    for award in outcome.awards:
        covered[award.rule] += 1
    for change in outcome.tier_changes:
        covered[f"tier {change.old} -> {change.new}"] += 1
    if outcome.discounts:
        covered["refill"] += 1


def _rules(outcome: Result) -> dict[str, Decimal]:
    return {a.rule: a.points for a in outcome.awards}


# -- timing -------------------------------------------------------------------------------------
@dataclass
class Row:
    history: int
    customers: int
    events: int
    seconds: dict[str, list[float]] = field(default_factory=dict)  # candidate → CPU s per round

    def rate(self, candidate: str, how: Callable[[list[float]], float]) -> float:
        return self.events / how(self.seconds[candidate])

    def median_us(self, candidate: str) -> float:
        return statistics.median(self.seconds[candidate]) / self.events * 1e6


CANDIDATES = (
    "hand-written",
    "engine, explain off",
    "engine, evaluator path",
    "engine, explain on",
    "engine, streaming API",
)
"""`engine, explain off` runs the program's generated pricing and earning (the default,
engine/generated.py); `engine, evaluator path` the same engine made with `generated=False`, on the
same stream and states, interleaved with it: their ratio is what the generated function buys.
`engine, streaming API` is `Stream.step` on each customer's working state (engine/stream.py): the
purchases decided in place on it (engine/step.py), `result.state` not read (made when read: what a
caller that keeps the working state does); the other events through `process`."""


def timed(run: Callable[[], None]) -> float:
    gc.collect()  # garbage of the previous run is not this one's
    gc.enable()  # as a service runs
    start = time.process_time()
    run()
    return time.process_time() - start


@dataclass
class Candidate:
    """A timed run of the whole stream, and what must happen before each (outside the timing)."""

    run: Callable[[], None]
    prepare: Callable[[], None] = lambda: None


def engine_run(
    engine: Engine, events: Sequence[Purchase], states: dict[str, CustomerState], explain: bool
) -> Candidate:
    def run() -> None:
        current = dict(states)  # the states are immutable: every run starts from the built ones
        process = engine.process
        for event in events:
            customer = event.customer
            current[customer] = process(event, current[customer], explain=explain).state

    return Candidate(run)


TAKEN = [0]  # how many events of the latest streaming run the step in place took (engine/step.py)


def stream_run(engine: Engine, events: Sequence[Purchase], states: dict[str, CustomerState]) -> Candidate:
    streaming = Stream(engine)
    fresh: list[dict[str, Working]] = []

    def prepare() -> None:  # the working states change in place: made again before each run
        fresh.append({customer: streaming.working(state) for customer, state in states.items()})

    def run() -> None:
        current = fresh.pop()
        step = streaming.step
        taken = streaming.taken
        for event in events:
            step(event, current[event.customer])
        TAKEN[0] = streaming.taken - taken

    return Candidate(run, prepare)


def hand_run(events: Sequence[hand.Event], states: dict[str, hand.CoffeeState]) -> Candidate:
    fresh: list[dict[str, hand.CoffeeState]] = []

    def prepare() -> None:  # the states change in place: each run starts from copies of the built ones
        fresh.append({customer: state.clone() for customer, state in states.items()})

    def run() -> None:
        current = fresh.pop()
        process = hand.process
        for event in events:
            process(current[event[1]], event)

    return Candidate(run, prepare)


def build_row(
    engine: Engine, spec: tuple[int, int, int, int], check: Check, progress: Callable[[str], None]
) -> tuple[Row, list[Generated], dict[str, CustomerState], dict[str, hand.CoffeeState]]:
    """The customers' states after their history, and the stream that follows it."""
    purchases, templates, customers, each = spec
    progress(f"histories of {purchases} purchases ({templates} run through the engine)")
    built_engine: list[CustomerState] = []
    built_hand: list[hand.CoffeeState] = []
    for template in range(templates):
        engine_states: dict[str, CustomerState | None] = {}
        hand_states: dict[str, hand.CoffeeState] = {}
        events = history(template, purchases, seed=purchases)
        run_both(engine, events, engine_states, hand_states, check)
        customer = events[0].hand[1]
        state = engine_states[customer]
        assert state is not None
        built_engine.append(state)
        built_hand.append(hand_states[customer])
    names = [f"c{purchases}-{c:04d}" for c in range(customers)]
    engine_start = {
        name: built_engine[c % templates].model_copy(update={"customer": name})
        for c, name in enumerate(names)
    }
    hand_start = {name: built_hand[c % templates].clone(name) for c, name in enumerate(names)}
    events = stream(names, each, seed=purchases + 1)
    progress(f"checking the stream of {len(events)} events after {purchases} purchases")
    run_both(engine, events, dict(engine_start), {n: s.clone() for n, s in hand_start.items()}, check)
    return Row(purchases, customers, len(events)), events, engine_start, hand_start


def measure_row(
    engine: Engine,
    evaluator: Engine,
    row: Row,
    events: Sequence[Generated],
    engine_states: dict[str, CustomerState],
    hand_states: dict[str, hand.CoffeeState],
    rounds: int,
    progress: Callable[[str], None],
    default_collector: bool = False,
    names: Sequence[str] = CANDIDATES,
) -> None:
    """Time the candidates `names` (all by default; bench_engine.py times three) on the row's
    stream, interleaved in a rotating order, `rounds` times each."""
    models = [g.engine for g in events]
    makers: dict[str, Callable[[], Candidate]] = {
        "hand-written": lambda: hand_run([g.hand for g in events], hand_states),
        "engine, explain off": lambda: engine_run(engine, models, engine_states, False),
        "engine, evaluator path": lambda: engine_run(evaluator, models, engine_states, False),
        "engine, explain on": lambda: engine_run(engine, models, engine_states, True),
        "engine, streaming API": lambda: stream_run(engine, models, engine_states),
    }
    candidates = {name: makers[name]() for name in names}
    row.seconds = {name: [] for name in candidates}
    order = list(candidates)
    # What exists before the runs (the built states of every candidate, the events) is left out of
    # the collector's scans, as a service does after start-up (gc.freeze): each candidate's runs pay
    # for collecting what they make themselves, not for the other candidates' states. The collector
    # runs as `loyalty run`, `serve` and `simulate` set it (rules_engine/collector.py), or with
    # Python's default thresholds (`--default-collector`).
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    if not default_collector:
        gc.set_threshold(*collector.THRESHOLDS)
    try:
        for r in range(rounds):
            progress(f"{row.events} events after {row.history} purchases: round {r + 1} of {rounds}")
            for name in order[r % len(order) :] + order[: r % len(order)]:  # a rotating order
                candidates[name].prepare()
                row.seconds[name].append(timed(candidates[name].run))
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


# -- report -------------------------------------------------------------------------------------
def verdict(met: bool) -> str:
    return "[met]" if met else "[MISSED]"


def render(
    rows: list[Row], check: Check, settings: Settings, quick: bool, agreement: int, default_collector: bool
) -> str:
    lines = [
        f"agreement: {check.events:,} events compared, engine and hand-written ({agreement:,} in the"
        " agreement stream, the rest in the histories and the timed streams)"
    ]
    for problem in check.disagreements[: check.shown]:
        lines.append(f"  DISAGREES: {problem}")
    if len(check.disagreements) > check.shown:
        lines.append(f"  ... and {len(check.disagreements) - check.shown} more")
    if not check.disagreements:
        lines.append("  no disagreement: points per rule and per line, totals, badges, tier, lots, progress")
    seen = ", ".join(f"{what} {n:,}" for what, n in sorted(check.covered.items()))
    lines += textwrap.wrap(f"decisions seen: {seen}", 108, initial_indent="  ", subsequent_indent="    ")
    lines.append("")
    head = ["earlier", "events", "candidate", "best ev/s", "median ev/s", "median us/ev", "x hand"]
    table = [head]
    for row in rows:
        hand_us = row.median_us("hand-written")
        for n, name in enumerate(CANDIDATES):
            us = row.median_us(name)
            first = [f"{row.history:,}", f"{row.events:,}"] if n == 0 else ["", ""]
            rates = [f"{row.rate(name, min):,.0f}", f"{row.rate(name, statistics.median):,.0f}"]
            table.append([*first, name, *rates, f"{us:,.1f}", f"{us / hand_us:,.1f}x"])
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    gc_mode = "Python's default thresholds" if default_collector else "thresholds of `loyalty run`"
    lines.append(
        f"coffee-club purchase streams, 10-line baskets; CPU time, GC on ({gc_mode}),"
        f" {settings.rounds} rounds"
    )
    for n, r in enumerate(table):
        cells = zip(r, widths, strict=True)
        lines.append("  ".join(c.ljust(w) if i == 2 else c.rjust(w) for i, (c, w) in enumerate(cells)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("best: the fastest round; median: the median round; x hand: median us / hand-written's")
    lines.append("")
    lines += targets(rows)
    m = machine()
    mode = "--quick: rough numbers" if quick else "full run"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append("")
    lines.append(f"{m['date']}, {m['implementation']} {m['python']}, {m['cpus']} CPUs, {m['platform']}")
    lines.append(f"  {mode}; load average at the end {load} (other processes share the CPUs)")
    return "\n".join(lines)


def targets(rows: list[Row]) -> list[str]:
    """Issue 13's targets (part 2), judged on the median round of the 15-purchase row; part 1's are
    bench_engine.py's (one bench owns each target)."""
    base = next((row for row in rows if row.history == 15), None)
    if base is None:
        return ["targets: n/a (no row of 15 earlier purchases)"]
    off_us = base.median_us("engine, explain off")
    off = 1e6 / off_us
    hand_ratio = off_us / base.median_us("hand-written")
    hand_rate = 1e6 / base.median_us("hand-written")
    longest = next((row for row in rows if row.history == 1000), None)
    beyond = next((row for row in rows if row.history == 2000), None)
    information = []
    if longest is not None and beyond is not None:  # information, not a target
        information.append(
            f"  [info] 2,000 vs 1,000 earlier purchases: "
            f"{beyond.median_us('engine, explain off') / longest.median_us('engine, explain off'):.2f}x"
            " (both past the program's windows: what a year of points brings is the same)"
        )
    generated_ratio = base.median_us("engine, evaluator path") / off_us
    streaming = ", ".join(
        f"{row.median_us('engine, streaming API') / row.median_us('engine, explain off'):.2f}x"
        f" after {row.history:,}"
        for row in rows
    )
    return [
        f"generated path: {generated_ratio:.2f}x the evaluator path's events/s (median rounds, 15 earlier"
        " purchases; pricing and earning generated, badges, challenges, quests, streaks, the birthday,"
        " notifications and tiers specialised, the referral left out, the rest shared)",
        f"streaming API: {streaming} explain off's us per event (purchases decided in place on the"
        " working state: engine/step.py)",
        f"compile time of the largest example program: {compile_ms():.1f} ms (target <= 50 ms)",
        "",
        "targets (median round, customers with 15 earlier purchases):",
        "  issue 12 (part 1: >= 25,000 events/s explain off, explain on <= 3x, 1,000 earlier purchases"
        " within 1.3x of 15): bench/bench_engine.py prints them",
        f"  {verdict(off >= PART2_EVENTS_PER_S)} part 2: >= {PART2_EVENTS_PER_S:,} events/s explain off:"
        f" {off:,.0f}",
        f"  {verdict(hand_ratio <= PART2_HAND_RATIO)} part 2: within {PART2_HAND_RATIO:g}x of the"
        f" hand-written baseline: {hand_ratio:.1f}x (hand-written {hand_rate:,.0f} events/s)",
        *information,
    ]


def compile_ms() -> float:
    """The best of 5 makings of an `Engine` for the largest example program (by file size), from its
    compiled program: the plan, the mechanics and the generated function (CPU ms)."""
    largest = max(
        (p for p in (ROOT / "programs").glob("*.yaml") if not p.name.endswith(".tests.yaml")),
        key=lambda p: p.stat().st_size,
    )
    compiled = Engine.from_file(largest).compiled
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        _ = Engine(compiled).generated  # compiled when first needed: asked for here
        best = min(best, time.process_time() - start)
    return best * 1000


def working_costs(engine: Engine, progress: Callable[[str], None]) -> str:
    """What making a working state (`Working.of`) and reading it (`public()`) cost, for a customer
    after 15 and after 1,000 earlier purchases: CPU us, the best of 7 repeats (state/working.py)."""
    lines = ["coffee-club working states (state/working.py): CPU us, the best of 7 repeats"]
    head = ["earlier", "lots", "activity", "ids", "of", "public(fresh)", "public, 1 changed", "JSON dump"]
    table = [head]
    for purchases in (15, 1000):
        progress(f"a history of {purchases} purchases")
        state: CustomerState | None = None
        for generated in history(0, purchases, seed=purchases):
            state = engine.process(generated.engine, state).state
        assert state is not None
        counts = [len(state.lots), len(state.activity), len(state.processed)]
        costs = _working_row(engine, state)
        table.append([f"{purchases:,}", *(f"{n:,}" for n in counts), *(f"{us:,.1f}" for us in costs)])
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for n, r in enumerate(table):
        lines.append("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += textwrap.wrap(
        "of: Working.of(state, plan); public(fresh): every model made from the compact values;"
        " public, 1 changed: public() after a step changed a count and made one lot again (the"
        " unchanged lots' and activities' models reused); JSON dump: the state's model_dump_json",
        108,
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append(f"load average at the end {load} (other processes share the CPUs)")
    return "\n".join(lines)


def _working_row(engine: Engine, state: CustomerState) -> list[float]:
    """The CPU us of `Working.of`, `public(fresh=True)`, `public()` after one change, and the JSON
    dump, for `state`: each the best of 7 repeats."""
    working = Working.of(state, engine.plan)
    reps = max(3, 20_000 // (len(state.lots) + len(state.activity) + 10))

    def best(run: Callable[[], object]) -> float:
        fastest = float("inf")
        for _ in range(7):
            start = time.process_time()
            for _ in range(reps):
                run()
            fastest = min(fastest, (time.process_time() - start) / reps)
        return fastest * 1e6

    def one_changed() -> None:  # what a step changes: a count, and a lot made again
        working.lots[-1] = (*working.lots[-1][:-1], None)
        working.visits += 0
        working.changed()
        working.public()

    return [
        best(lambda: Working.of(state, engine.plan)),
        best(lambda: working.public(fresh=True)),
        best(one_changed),
        best(state.model_dump_json),
    ]


def profile(
    engine: Engine, events: Sequence[Generated], states: dict[str, CustomerState], top: int, streaming: bool
) -> str:
    """cProfile of the engine (explain off; `streaming`: `Stream.step`) over one run of the stream:
    top functions, and how many events the step in place took."""
    out = io.StringIO()
    if streaming:
        candidate = stream_run(engine, [g.engine for g in events], states)
        candidate.prepare()
        run = candidate.run
    else:
        run = engine_run(engine, [g.engine for g in events], states, False).run
    profiler = cProfile.Profile()
    profiler.runcall(run)
    if streaming:
        out.write(f"the step in place took {TAKEN[0]:,} of {len(events):,} events\n")
    for key in ("cumulative", "tottime"):
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small streams, 2 rounds (smoke test)")
    parser.add_argument(
        "--profile", action="store_true", help="only profile the engine on the stream of 15 earlier purchases"
    )
    parser.add_argument(
        "--stream", action="store_true", help="with --profile: profile `Stream.step` instead of `process`"
    )
    parser.add_argument(
        "--profile-history",
        type=int,
        metavar="N",
        choices=[spec[0] for spec in FULL.rows],
        help="only profile the engine on the stream after N earlier purchases (15, 100, 1000 or 2000): "
        "what a long history costs, beside --profile's",
    )
    parser.add_argument(
        "--working",
        action="store_true",
        help="only measure making and reading working states after 15 and 1,000 purchases",
    )
    parser.add_argument(
        "--default-collector",
        action="store_true",
        help="time with Python's default collector thresholds, not those `loyalty run` sets",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    def progress(what: str) -> None:
        print(f"measuring {what} ...", file=sys.stderr, flush=True)

    engine = Engine.from_file(COFFEE)
    evaluator = Engine(engine.compiled, generated=False)  # the same program, the evaluator's stages
    check = Check()
    if args.working:
        print(working_costs(engine, progress))
        return 0
    if args.profile or args.profile_history:
        spec = settings.rows[0]
        if args.profile_history:
            spec = next(spec for spec in FULL.rows if spec[0] == args.profile_history)
        row, events, engine_states, _ = build_row(engine, spec, check, progress)
        print(f"{len(events)} events after {spec[0]} earlier purchases (per event: / {len(events)})")
        print(profile(engine, events, engine_states, 25, args.stream))
        return 1 if check.disagreements else 0
    progress(f"the agreement stream ({settings.agreement_events:,} events)")
    agreement = agreement_stream(settings)
    run_both(engine, agreement, {}, {}, check, explain_too=True)
    rows = []
    for spec in settings.rows:
        row, events, engine_states, hand_states = build_row(engine, spec, check, progress)
        if not check.disagreements:  # a bug: nothing to time until it is fixed
            measure_row(
                engine,
                evaluator,
                row,
                events,
                engine_states,
                hand_states,
                settings.rounds,
                progress,
                args.default_collector,
            )
            rows.append(row)
    if check.disagreements:
        rows = []
    print(render(rows, check, settings, args.quick, len(agreement), args.default_collector))
    return 1 if check.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
