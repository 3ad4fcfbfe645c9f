"""The replay kernel: one batch of whole customers through one or two program versions.

`replay_batch(job) -> BatchResult` is a pure function of its job (the batch's events, the program
files, what the previous pass settled across customers), so the process pool, one process or any
other scheduler gives the same result for the same job. Each customer's events run in file order,
one after another, through `Engine.process`, as `loyalty run` runs them through a memory store:

- an event the engine refuses (a malformed event, one older than the customer's latest) is a
  problem and changes nothing; an event id applied before is a duplicate when its payload is the
  same (nothing applied again) and a problem (RE443) when it differs, as the store says;
- every event is decoded once, whatever the number of versions (`--compare` runs both on it).

What crosses customers cannot be decided inside a batch, so the kernel reports it and takes back,
on the next pass, what the parent settled (`rules_engine/simulate/crossing.py`):

- a referee's qualifying purchase owes their referrer a reward: `Owed`, and the customer's
  referral code with the line of their first applied event (the store knows a referrer only from
  then on); the rewards to give come back in `Job.rewards`, each placed right after the line
  that earned it, as `loyalty run` processes it;
- a rule with a program-wide budget: every grant (position, rule, period key, points), and the
  points granted before each position come back in `Job.budgets`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rules_engine import jsonio
from rules_engine.engine.canonical import event_digest
from rules_engine.engine.evaluator import BudgetSnapshot, Engine
from rules_engine.engine.events import AnyEvent, Purchase, Return, Signup
from rules_engine.engine.mechanics.referral import referral_code, referrer_event_id
from rules_engine.engine.reader import parse_event
from rules_engine.engine.result import Result
from rules_engine.errors import Diagnostic, EventError
from rules_engine.simulate.batches import KEPT_PROBLEMS, Problem, first_problems
from rules_engine.simulate.tally import ZERO, GoalTally, History, MonthTally, RuleTally, Tally, Versus
from rules_engine.state.customer import CustomerState

Position = tuple[int, int]
"""Where an event stands in the history: (line, 0) for a line of the file; (line, n) for the
n-th referrer's reward that line's event gave."""


@dataclass(frozen=True)
class Owed:
    """A referrer's reward a referee's event owes (`effects.referral_owed`)."""

    code: str
    referee: str
    event: str
    time: str
    line: int


@dataclass(frozen=True)
class BudgetTable:
    """Points each budget granted before a position: {(rule, period key): (positions, running
    sums)}, the sums of every grant at the positions before each one."""

    granted: Mapping[tuple[str, str], tuple[list[Position], list[Decimal]]] = field(default_factory=dict)

    def spent_before(self, rule: str, key: str, at: Position) -> Decimal:
        found = self.granted.get((rule, key))
        if found is None:
            return ZERO
        positions, sums = found
        index = bisect.bisect_left(positions, at)
        return sums[index - 1] if index else ZERO


@dataclass(frozen=True)
class Job:
    """One batch for one pass: its file of `<line>\\t<customer>\\t<event>` records, the program
    files (one, or two with --compare), the history's months, and per version what the last pass
    settled."""

    index: int
    path: str
    programs: tuple[str, ...]
    months: tuple[str, ...]
    rewards: tuple[Mapping[str, list[tuple[Position, dict[str, Any]]]], ...]
    """Per version: referrer → the rewards to give them, each at its position."""
    budgets: tuple[BudgetTable | None, ...]


@dataclass
class Crossing:
    """What one version's pass over a batch found that crosses customers."""

    owed: list[Owed] = field(default_factory=list)
    codes: dict[str, tuple[str, int, dt.datetime]] = field(default_factory=dict)
    """Referral code → (customer, line and time of their first applied event)."""
    grants: list[tuple[Position, str, str, Decimal]] = field(default_factory=list)


@dataclass
class BatchResult:
    index: int
    events: int
    tallies: list[Tally]
    crossings: list[Crossing]
    history: History
    versus: Versus | None
    problems: list[Problem]
    """The batch's first problems by line, of the base version (whose count the report gives)."""
    customers: int


def engine_for(path: str) -> Engine:
    """The program's engine, compiled once per process and file version (the secret as
    `loyalty run` takes it): a file edited since is compiled again."""
    info = os.stat(path)
    return _engine(path, info.st_mtime_ns, info.st_size, os.environ.get("LOYALTY_SECRET", ""))


@functools.lru_cache(maxsize=8)
def _engine(path: str, modified: int, size: int, secret: str) -> Engine:
    return Engine.from_file(path, secret=secret.encode())


def read_batch(path: str) -> dict[str, list[tuple[int, str]]]:
    """The batch's lines by customer, each customer's in file order, still as text: a parsed event
    is made only when its customer's turn comes (`replay_batch`)."""
    customers: dict[str, list[tuple[int, str]]] = {}
    with open(path, encoding="utf-8", newline="\n") as lines:
        for record in lines:
            number, named, text = record.rstrip("\n").split("\t", 2)
            customer = named[1:-1] if "\\" not in named else json.loads(named)
            found = customers.get(customer)
            if found is None:
                customers[customer] = [(int(number), text)]
            else:
                found.append((int(number), text))
    return customers


def parse_lines(lines: list[tuple[int, str]]) -> list[tuple[int, AnyEvent | EventError]]:
    """One customer's lines as events (each decoded once, exactly), or the reason one is none."""
    events: list[tuple[int, AnyEvent | EventError]] = []
    for number, text in lines:
        event: AnyEvent | EventError
        try:
            event = parse_event(jsonio.loads(text))
        except jsonio.JsonError as error:
            event = EventError([Diagnostic("RE414", f"line {number} is not JSON: {error.message}")])
        except EventError as error:
            event = error
        events.append((number, event))
    return events


def replay_batch(job: Job) -> BatchResult:
    """Replay a batch of whole customers (the module docstring).

    The batch is kept as text until each customer's turn, and only that customer's events are
    parsed then: what stays alive is one customer's events and state, not a batch of parsed
    events, which Python's garbage collector would otherwise walk again and again (about a tenth
    of the time on a batch of 10,000 events; bench/README.md, "Simulate")."""
    engines = [engine_for(path) for path in job.programs]
    customers = read_batch(job.path)
    problems: list[Problem] = []
    history = History()
    history.events = sum(len(lines) for lines in customers.values())
    tallies = [Tally() for _ in engines]
    crossings = [Crossing() for _ in engines]
    versus = Versus() if len(engines) == 2 else None
    zone = engines[0].zone
    for customer in sorted(customers):
        events = parse_lines(customers[customer])
        _history(history, events, zone)
        ends = []
        for v, engine in enumerate(engines):
            rewards = job.rewards[v].get(customer, []) if job.rewards else []
            budget = job.budgets[v] if job.budgets else None
            kept = problems if v == 0 else []  # another version's refusals are counted, not shown
            ends.append(
                _customer(engine, customer, events, rewards, budget, tallies[v], crossings[v], kept, job)
            )
        if versus is not None:
            (tier_a, points_a), (tier_b, points_b) = ends
            versus.matrix[(tier_a, tier_b)] += 1
            versus.add(customer, points_a, points_b)
    return BatchResult(
        job.index,
        history.events,
        tallies,
        crossings,
        history,
        versus,
        first_problems(problems),
        len(customers.keys() - {""}),
    )


@dataclass
class _Seen:
    """One customer's facts that outlive an event, for the figures."""

    rules: set[str] = field(default_factory=set)
    challenges: set[str] = field(default_factory=set)
    challenges_done: set[str] = field(default_factory=set)
    quests: set[str] = field(default_factory=set)
    quests_done: set[str] = field(default_factory=set)
    offer_codes: set[str] = field(default_factory=set)
    month_tier: dict[str, str] = field(default_factory=dict)
    longest: dict[str, int] = field(default_factory=dict)


NO_TIER = "-"
"""The tier of a customer with none (a program without tiers), in the comparison's matrix."""


def _customer(
    engine: Engine,
    customer: str,
    events: list[tuple[int, AnyEvent | EventError]],
    rewards: list[tuple[Position, dict[str, Any]]],
    budget: BudgetTable | None,
    tally: Tally,
    crossing: Crossing,
    problems: list[Problem],
    job: Job,
) -> tuple[str, Decimal]:
    """One customer's events (and the rewards given to them) through one version; their final
    tier and the points they earned."""
    program = engine.program
    zone = engine.zone
    state: CustomerState | None = None
    applied: dict[str, AnyEvent] = {}  # by id: a repeated id is told apart by the payload's digest
    seen = _Seen()
    earned = ZERO
    first: int | None = None
    order: list[tuple[Position, AnyEvent | EventError | dict[str, Any]]] = [
        ((number, 0), event) for number, event in events
    ]
    if rewards:
        order.extend(rewards)
        order.sort(key=lambda item: item[0])
    kinds = _kinds(engine)
    for position, item in order:
        if isinstance(item, EventError):
            tally.problems += 1
            _keep(problems, item, position[0])
            continue
        try:
            event = item if not isinstance(item, dict) else parse_event(item)
        except EventError as error:
            tally.problems += 1
            _keep(problems, error, position[0])
            continue
        known = applied.get(event.id)
        if known is not None:
            if event_digest(known) == event_digest(event):
                tally.duplicates += 1
            else:
                tally.problems += 1
                message = (
                    f"line {position[0]}: event {event.id}: the id was applied before with another payload"
                )
                _keep(problems, EventError([Diagnostic("RE443", message)]), position[0])
            continue
        snapshot = None
        keys: list[tuple[str, str]] = []
        if engine.plan.budgeted:
            keys = engine.budget_keys(event)
            spent: dict[str, dict[str, Decimal]] = {}
            for rule, key in keys:
                spent.setdefault(rule, {})[key] = (
                    ZERO if budget is None else budget.spent_before(rule, key, position)
                )
            snapshot = BudgetSnapshot(spent)
        tier_before = state.tier if state is not None else None
        try:
            outcome = engine.process(event, state, budgets=snapshot)
        except EventError as error:
            tally.problems += 1
            _keep(problems, error, position[0])
            continue
        applied[event.id] = event
        if first is None:
            first = position[0]
            if program.referral is not None:
                code = referral_code(program.program, customer, engine.secret)
                crossing.codes[code] = (customer, first, event.time)
        state = outcome.state
        tally.applied += 1
        earned += outcome.totals.points
        for rule, key in keys:
            given = sum((a.points for a in outcome.awards if a.rule == rule), ZERO)
            if given:
                crossing.grants.append((position, rule, key, given))
        for release in outcome.budgets_released:  # a return gives its awards' budget back
            crossing.grants.append((position, release.rule, release.period, -release.points))
        owed = outcome.referral_owed
        if owed is not None and state.referral_qualified_at is not None:
            crossing.owed.append(
                Owed(owed, customer, outcome.event, state.referral_qualified_at.isoformat(), position[0])
            )
        _count(tally, outcome, event, tier_before, seen, kinds, engine)
        seen.month_tier[event.time.astimezone(zone).strftime("%Y-%m")] = state.tier or NO_TIER
    if state is None:
        return NO_TIER, earned
    _close(tally, state, seen, job.months, engine)
    return state.tier or NO_TIER, earned


def _keep(problems: list[Problem], error: EventError, line: int) -> None:
    """Note a refused event's problems, keeping the first by line: a customer's events come
    after another's, so a later customer may hold the batch's earliest lines."""
    for diagnostic in error.diagnostics:
        text = diagnostic.message
        problems.append(
            (line, Diagnostic(diagnostic.code, text if text.startswith("line ") else f"line {line}: {text}"))
        )
    if len(problems) > 2 * KEPT_PROBLEMS:
        problems[:] = first_problems(problems)


@functools.cache
def _kinds(engine: Engine) -> dict[str, str]:
    """What mechanic each rule id belongs to, learnt from the outcomes' traces as rules fire."""
    return {}


def _mechanic(outcome: Result, rule: str, kinds: dict[str, str]) -> str:
    kind = kinds.get(rule)
    if kind is None:
        kind = next((t.kind for t in outcome.trace if t.rule == rule), None) or (
            "tier" if rule.startswith("tier:") else "coupon" if rule.startswith("coupon:") else "earn"
        )
        kinds[rule] = kind
    return kind


def _count(
    tally: Tally,
    outcome: Result,
    event: AnyEvent,
    tier_before: str | None,
    seen: _Seen,
    kinds: dict[str, str],
    engine: Engine,
) -> None:
    """Add one applied outcome to the version's tally."""
    zone = engine.zone
    points = tally.points
    for entry in outcome.new_ledger_entries:
        month = tally.months.get(key := entry.at.astimezone(zone).strftime("%Y-%m"))
        if month is None:
            month = tally.months[key] = MonthTally()
        amount = entry.points
        tally.liability += amount
        month.net += amount
        kind = entry.kind
        if kind == "earn":
            points["issued"] += amount
            month.issued += amount
        elif kind == "burn":
            points["redeemed"] -= amount
            month.redeemed -= amount
        elif kind == "expire":
            points["expired"] -= amount
            month.expired -= amount
        elif kind == "adjust":
            points["adjusted"] += amount
        else:
            points["reversed"] -= amount
    for award in outcome.awards:
        rule = tally.rules.get(award.rule)
        if rule is None:
            rule = tally.rules[award.rule] = RuleTally(_mechanic(outcome, award.rule, kinds))
        rule.points += award.points
        rule.awards += 1
        if award.rule not in seen.rules:
            seen.rules.add(award.rule)
            rule.customers += 1
    for discount in outcome.discounts:
        name = _coupon_of(discount.rule, outcome.state)
        rule = tally.rules.get(name)
        if rule is None:
            rule = tally.rules[name] = RuleTally(_mechanic(outcome, name, kinds))
        rule.discounts += discount.amount
        rule.awards += 1
        if name not in seen.rules:
            seen.rules.add(name)
            rule.customers += 1
    tally.discounts += outcome.totals.discount
    for change in outcome.tier_changes:  # a first tier (from none) is no move
        if change.old is None:
            continue
        old, new = _rank(engine, change.old), _rank(engine, change.new)
        if new > old:
            tally.moves_up += 1
        elif new < old:
            tally.moves_down += 1
    if isinstance(event, Purchase):
        tier = tier_before or outcome.state.tier or NO_TIER  # a first purchase: the tier it starts in
        tally.tier_spend[tier] = tally.tier_spend.get(tier, ZERO) + _value(event)
    for issued in outcome.coupons_issued:
        tally.coupons_issued += 1
        if _mechanic(outcome, issued.rule, kinds) == "offer":
            tally.offers_issued += 1
            seen.offer_codes.add(issued.code)
    for code in outcome.coupons_redeemed:
        tally.coupons_used += 1
        if code in seen.offer_codes:
            tally.offers_used += 1
    state = outcome.state
    if state.challenges:
        seen.challenges.update(state.challenges)
    if state.quests:
        seen.quests.update(state.quests)
    for name, streak in state.streaks.items():
        if streak.length > seen.longest.get(name, -1):
            seen.longest[name] = streak.length
    for trace in outcome.trace:  # a goal completed: its rule fired (`challenge:<id>`, `quest:<id>`)
        if trace.fired and trace.kind == "challenge":
            seen.challenges_done.add(trace.rule.removeprefix("challenge:"))
        elif trace.fired and trace.kind == "quest":
            seen.quests_done.add(trace.rule.removeprefix("quest:"))


def _coupon_of(rule: str, state: CustomerState) -> str:
    """The report's rule for a discount: a coupon's (`coupon:<code>`, the code presented) is
    counted under the coupon it is a code of (`coupon:<id>`), one row per coupon, not per code."""
    if not rule.startswith("coupon:"):
        return rule
    code = rule.removeprefix("coupon:")
    coupon = next((issued.coupon for issued in state.coupons if issued.code == code), None)
    return rule if coupon is None else f"coupon:{coupon}"


def _rank(engine: Engine, tier: str | None) -> int:
    tiers = engine.program.tiers
    if tier is None or tiers is None:
        return -1
    return next((i for i, level in enumerate(tiers.levels) if level.id == tier), -1)


def _value(event: Purchase) -> Decimal:
    return sum((line.price * line.qty for line in event.items), ZERO)


def _close(tally: Tally, state: CustomerState, seen: _Seen, months: tuple[str, ...], engine: Engine) -> None:
    """A customer's last event is past: their final tier, badges, goals, and their tier at the
    end of every month from their first on."""
    tally.customers += 1
    tally.final_tiers[state.tier or NO_TIER] += 1
    tally.badges.update(set(state.badges))
    program = engine.program
    for goals, started, done in (
        (tally.challenges, seen.challenges, seen.challenges_done),
        (tally.quests, seen.quests, seen.quests_done),
    ):
        for name in started | done:
            goal = goals.setdefault(name, GoalTally())
            goal.started += 1
            goal.completed += name in done
    for name, streak in state.streaks.items():
        goal = tally.streaks.setdefault(name, GoalTally())
        goal.started += 1
        goal.completed += bool(streak.given)
        goal.longest = max(goal.longest, seen.longest.get(name, 0))
    if program.tiers is None or not seen.month_tier:
        return
    tier = None
    for month in months:
        tier = seen.month_tier.get(month, tier)
        if tier is not None:
            tally.months.setdefault(month, MonthTally()).tiers[tier] += 1


def _history(history: History, events: list[tuple[int, AnyEvent | EventError]], zone: Any) -> None:
    """What one customer's events say whatever the program (`History`)."""
    bought: dict[str, dict[str, Decimal]] = {}
    months: set[str] = set()
    baskets = 0
    for _, event in events:
        if isinstance(event, Purchase):
            local = event.time.astimezone(zone)
            value = _value(event)
            month = local.strftime("%Y-%m")
            months.add(month)
            baskets += 1
            history.spend += value
            history.baskets += 1
            history.month_spend[month] = history.month_spend.get(month, ZERO) + value
            history.month_baskets[month] += 1
            day = local.weekday()
            history.weekday_spend[day] = history.weekday_spend.get(day, ZERO) + value
            history.weekday_baskets[day] += 1
            prices = bought.setdefault(event.id, {})
            for line in event.items:
                category = line.category or "(none)"
                amount = line.price * line.qty
                history.categories[category] = history.categories.get(category, ZERO) + amount
                prices.setdefault(line.sku, line.price)
        elif isinstance(event, Return):
            prices = bought.get(event.purchase, {})
            for returned in event.items:
                history.returned += prices.get(returned.sku, ZERO) * returned.qty
        elif isinstance(event, Signup):
            history.new += 1
    if baskets:
        history.buyers += 1
        history.repeat_buyers += baskets >= 2
        history.returning += len(months) >= 2


def reward_event(owed: Owed, referrer: str) -> dict[str, Any]:
    """The referrer's reward event, as a store-backed service sends it (rules_engine/service.py)."""
    return {
        "id": referrer_event_id(owed.referee, owed.event),
        "type": "referral_reward",
        "customer": referrer,
        "time": owed.time,
        "referee": owed.referee,
        "qualifying_event": owed.event,
    }


def tier_counts(counter: Counter[str]) -> dict[str, int]:
    return {tier: count for tier, count in sorted(counter.items())}
