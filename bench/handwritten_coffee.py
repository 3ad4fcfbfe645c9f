"""A hand-written processor for programs/coffee-club.yaml's purchase path: the benchmark's baseline.

What a careful engineer would write for this one program, knowing it by heart: ints and tuples
(money in kopecks, points whole), one mutable slotted state per customer, no traces, no models,
and a lazy outcome (each award's per-line shares are split only when asked for). It makes the
engine's decisions (docs/engine.md, engine/evaluator.py), and bench/bench_streams.py checks that it
does, event by event, before it times anything:

- refill: 20% off each coffee line when the basket holds 2 or more coffees (by quantity), each cut
  rounded half up to the kopeck;
- the earning base: each line's price after discounts; gift cards 0; tax in (nothing taken off),
  shipping out (never a line);
- the earn rules by priority: early-bird (10, before 10:00 local with a basket of 200 RUB or more
  before discounts, at most 10 a day) and big-order (50, a basket of 1,500 RUB or more) in one
  exclusive group, the first that gives points winning (early-bird capped to nothing leaves it to
  big-order); base, 1 per 100 RUB of the whole base, floored; pastry-bonus, 5 × qty per pastry
  line, at most 50 a day;
- double-tuesday, on Tuesdays from 2026-12-01 to 2026-12-31 (local dates): a bonus of 1 × the
  points of the rules above, at most 200 an event; the gold tier's 1.5: a bonus of 0.5 × those
  same points (multipliers never multiply each other); the exact points of the event rounded
  down once, after the multipliers (`points.round: per_award`: ×2 on 1.8 beans gives 1 + 2), a
  bonus split by the exact points it multiplied; the tier is the one the customer had before
  the event;
- each rule's points split across the lines by largest remainder (ties to the earlier line);
- the weekly challenge five-coffees-a-week (coffee lines, ISO weeks, 100 points and the badge
  coffee-lover once a week), the badge first-cup (first purchase), the quest breakfast-explorer's
  steps (coffee, pastry; its third step is a review, so purchases alone never finish it);
- the tier by spend (after discounts, gift cards included) over a rolling 365 days ending at the
  event: up at once at 30,000 RUB, reviewed 365 + 30 days after it was reached, at that moment:
  before the event that comes after it, on the spend of the 365 days ending at the review (down
  one level if the spend no longer holds it; a new holding period from the review's date either
  way, so reviews do not drift; docs/engine.md, "Time between events");
- the state update: cap counters of the current day, the challenge's week, the quest, the badges,
  the spend of the last 365 days as a deque with its running sum, the points lots (365 days) and
  the balance, and the ids of the latest 1,000 events (a redelivered event changes nothing).

Not handled, as the purchase path does not need them: returns, redemptions, coupons, app opens and
reviews (streak, critic, the quest's review step), the expiring-points and tier-downgrade
notifications, and pending points. Events of one customer must come in time order (the engine's
counters are keyed by day and accept an older day; these keep only the current one).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Europe/Moscow")
DAY = 86_400
YEAR = 365 * DAY  # points.expire_after and the tier window: 365d
REVIEW = YEAR + 30 * DAY  # a tier is reviewed one window length after it was reached, plus the grace
QUEST_WITHIN = 30 * DAY
GOLD_FROM = 3_000_000  # kopecks: 30,000 RUB
DOUBLE_FROM = dt.date(2026, 12, 1).toordinal()
DOUBLE_TO = dt.date(2026, 12, 31).toordinal()
KEPT_IDS = 1000

NO_TIER, GREEN, GOLD = -1, 0, 1
TIERS = (None, "green", "gold")  # by tier index + 1

# An event: (id, customer, time as UTC seconds, lines); a line: (sku, category, price in kopecks, qty).
Line = tuple[str, str, int, int]
Event = tuple[str, str, int, tuple[Line, ...]]
# An award: (rule, points, weights): the weights per line; None for a reward without lines;
# MULTIPLIED for a multiplier's bonus, whose weights are each line's points from the rules before it.
Weights = tuple[int, ...] | list[int] | None
Award = tuple[str, int, Weights]
MULTIPLIED: tuple[int, ...] = ()


class CoffeeState:
    """One customer's state, changed in place by `process`."""

    __slots__ = (
        "badges",
        "balance",
        "customer",
        "day",
        "early_bird_used",
        "lots",
        "pastry_used",
        "quest_done",
        "quest_started",
        "seen",
        "seen_order",
        "spend",
        "spend_sum",
        "tier",
        "tier_since",
        "visits",
        "week",
        "week_coffees",
        "week_done",
    )

    def __init__(self, customer: str) -> None:
        self.customer = customer
        self.tier = NO_TIER
        self.tier_since = 0  # UTC seconds; 0 while there is no tier
        self.visits = 0
        self.day = 0  # the local date (ordinal) the cap counters count
        self.early_bird_used = 0
        self.pastry_used = 0
        self.week = -1  # ISO week of the challenge's progress, as (ordinal - 1) // 7
        self.week_coffees = 0
        self.week_done = False
        self.quest_started: int | None = None
        self.quest_done = 0  # bit i: step i done
        self.badges: set[str] = set()
        self.spend: deque[tuple[int, int]] = deque()  # (time, kopecks) of the last 365 days
        self.spend_sum = 0
        self.lots: deque[tuple[int, int]] = deque()  # (expires at, points), in expiry order
        self.balance = 0
        self.seen: set[str] = set()
        self.seen_order: deque[str] = deque()

    @property
    def tier_name(self) -> str | None:
        return TIERS[self.tier + 1]

    def clone(self, customer: str | None = None) -> CoffeeState:
        """A copy sharing nothing mutable (optionally for another customer)."""
        other = CoffeeState.__new__(CoffeeState)
        for name in CoffeeState.__slots__:
            setattr(other, name, getattr(self, name))
        other.badges = set(self.badges)
        other.spend = deque(self.spend)
        other.lots = deque(self.lots)
        other.seen = set(self.seen)
        other.seen_order = deque(self.seen_order)
        if customer is not None:
            other.customer = customer
        return other


class CoffeeResult:
    """What one event gave. Per-line shares are split only when `shares` is called."""

    __slots__ = ("awards", "badges", "basket", "discount", "duplicate", "earning_base")

    def __init__(
        self,
        awards: list[Award],
        badges: list[str],
        basket: int,
        discount: int,
        earning_base: int,
        duplicate: bool = False,
    ) -> None:
        self.awards = awards
        self.badges = badges
        self.basket = basket
        self.discount = discount
        self.earning_base = earning_base
        self.duplicate = duplicate

    @property
    def points(self) -> int:
        return sum(award[1] for award in self.awards)

    def by_rule(self) -> dict[str, int]:
        return {rule: points for rule, points, _ in self.awards}

    def per_line(self) -> list[int]:
        """Each line's points from the rules that are not multipliers (what multipliers weigh)."""
        total: list[int] = []
        for _, points, weights in self.awards:
            if weights is None or weights is MULTIPLIED:
                continue
            shares = split(points, weights)
            total = shares if not total else [a + b for a, b in zip(total, shares, strict=True)]
        return total

    def shares(self, award: Award) -> list[tuple[int, int]]:
        """(line, points) of each line that earned some of `award`."""
        _, points, weights = award
        if weights is None:
            return []
        if weights is MULTIPLIED:
            weights = self.per_line()
        return [(i, p) for i, p in enumerate(split(points, weights)) if p]


DUPLICATE = CoffeeResult([], [], 0, 0, 0, True)


def split(total: int, weights: tuple[int, ...] | list[int]) -> list[int]:
    """`total` in proportion to `weights` (not all zero): floors, then the leftover units to the
    largest remainders, ties to the earlier line."""
    weight_sum = sum(weights)
    products = [total * w for w in weights]
    parts = [p // weight_sum for p in products]
    leftover = total - sum(parts)
    if leftover:
        remainders = [p % weight_sum for p in products]
        for i in sorted(range(len(parts)), key=remainders.__getitem__, reverse=True)[:leftover]:
            parts[i] += 1
    return parts


def _exact_weights(awards: list[Award], base: list[int], base_sum: int) -> list[int]:
    """Each line's exact points from the rules above, scaled to whole numbers (× 10,000 × the
    base): what a multiplier's bonus is split by. early-bird and big-order are split by the base,
    base is the base / 10,000, pastry-bonus its beans per line (as given, if the cap cut it).
    base weighs in even when it gave nothing (a base under 100 RUB floors to 0 points, but its
    exact points are what a multiplier multiplied)."""
    based = any(rule == "base" for rule, _, _ in awards)
    weights = [0] * len(base) if based else [b * base_sum for b in base]
    for rule, given, rule_weights in awards:
        if rule == "base":
            parts = [b * base_sum for b in base]
        elif rule == "pastry-bonus" and rule_weights is not None and rule_weights is not MULTIPLIED:
            parts = [p * 10_000 * base_sum for p in split(given, rule_weights)]
        else:  # early-bird, big-order: a fixed award split by the base
            parts = [given * 10_000 * b for b in base]
        weights = [w + p for w, p in zip(weights, parts, strict=True)]
    return weights


def process(state: CoffeeState, event: Event) -> CoffeeResult:
    """Decide one purchase for `state`'s customer and update `state` in place."""
    event_id, _, now, lines = event
    if event_id in state.seen:
        return DUPLICATE
    local = dt.datetime.fromtimestamp(now, ZONE)
    day = local.toordinal()
    if day != state.day:
        state.day, state.early_bird_used, state.pastry_used = day, 0, 0
    while state.lots and state.lots[0][0] <= now:  # expired
        state.balance -= state.lots.popleft()[1]
    # tier reviews due before the event, each at its own moment, on the window ending at it
    while state.tier != NO_TIER and now >= state.tier_since + REVIEW:
        due = state.tier_since + REVIEW
        held = sum(spent for at, spent in state.spend if due - YEAR <= at < due)
        if state.tier == GOLD and held < GOLD_FROM:
            state.tier = GREEN
        state.tier_since = due

    # discounts: refill, 20% off every coffee line when 2 or more coffees are bought
    amounts = [price * qty for _, _, price, qty in lines]
    basket = sum(amounts)
    paid = amounts
    discount = 0
    coffees = 0
    coffee_lines = 0
    pastry = False
    for _, category, _, qty in lines:
        if category == "coffee":
            coffees += qty
            coffee_lines += 1
        elif category == "pastry":
            pastry = True
    if coffees >= 2:
        paid = list(amounts)
        for i, line in enumerate(lines):
            if line[1] == "coffee" and paid[i] > 0:
                cut = (paid[i] * 2 + 5) // 10  # 20%, half up to the kopeck
                paid[i] -= cut
                discount += cut
    base = [0 if line[1] == "gift_card" else p for line, p in zip(lines, paid, strict=True)]
    base_sum = sum(base)

    # earn rules: early-bird / big-order (one group), base, pastry-bonus
    awards: list[Award] = []
    earned = 0
    won = False
    if local.hour < 10 and basket >= 20_000 and base_sum > 0:
        granted = min(10, 10 - state.early_bird_used)
        if granted > 0:
            state.early_bird_used += granted
            awards.append(("early-bird", granted, base))
            earned += granted
            won = True
    if not won and basket >= 150_000 and base_sum > 0:
        awards.append(("big-order", 50, base))
        earned += 50
    points = base_sum // 10_000
    pastry_cut = False
    if points > 0:
        awards.append(("base", points, base))
        earned += points
    if pastry:
        bonus = [
            5 * qty if category == "pastry" and (b > 0 or a == 0) else 0
            for (_, category, _, qty), b, a in zip(lines, base, amounts, strict=True)
        ]
        wanted = sum(bonus)
        granted = min(wanted, 50 - state.pastry_used)
        pastry_cut = granted < wanted  # a cut award: the running total starts again from the beans given
        if wanted > 0 and granted > 0:
            state.pastry_used += granted
            awards.append(("pastry-bonus", granted, bonus))
            earned += granted

    # multipliers: additive bonuses on the exact points above, line by line, the event's points
    # rounded once after them (`points.round: per_award`): in 1/10000 of a bean (base is 1 per
    # 10,000 kopecks), `exact` is the running total, `given` the beans given so far
    doubled = DOUBLE_FROM <= day <= DOUBLE_TO and local.weekday() == 1
    gold = state.tier == GOLD
    if doubled or gold:
        fraction = base_sum % 10_000
        weighed = (earned - points) * 10_000 + base_sum  # the exact points the multipliers weigh
        given = earned
        exact = given * 10_000 + (fraction if not pastry_cut else 0)
        weights = _exact_weights(awards, base, base_sum)
        if doubled:
            wanted = (exact + weighed) // 10_000 - given
            if wanted > 0:
                granted = min(wanted, 200)
                awards.append(("double-tuesday", granted, weights))
                given += granted
                exact = exact + weighed if granted == wanted else given * 10_000
        if gold:
            wanted = (2 * exact + weighed) // 20_000 - given
            if wanted > 0:
                awards.append(("tier:gold", wanted, weights))

    # badges, the weekly challenge, the quest
    badges: list[str] = []
    if state.visits == 0 and "first-cup" not in state.badges:
        state.badges.add("first-cup")
        badges.append("first-cup")
    week = (day - 1) // 7
    if week != state.week:
        state.week, state.week_coffees, state.week_done = week, 0, False
    state.week_coffees += coffee_lines
    if not state.week_done and state.week_coffees >= 5:
        state.week_done = True
        awards.append(("challenge:five-coffees-a-week", 100, None))
        if "coffee-lover" not in state.badges:
            state.badges.add("coffee-lover")
            badges.append("coffee-lover")
    if state.quest_done != 0b111:
        if state.quest_started is not None and now >= state.quest_started + QUEST_WITHIN:
            state.quest_started, state.quest_done = None, 0
        steps = (1 if coffee_lines else 0) | (2 if pastry else 0)
        if steps & ~state.quest_done:
            if state.quest_started is None:
                state.quest_started = now
            state.quest_done |= steps

    # the tier: spend over the rolling 365 days, upgrade at once (reviews were done above)
    spend = basket - discount
    state.spend.append((now, spend))
    state.spend_sum += spend
    start = now - YEAR
    while state.spend[0][0] < start:
        state.spend_sum -= state.spend.popleft()[1]
    reached = GOLD if state.spend_sum >= GOLD_FROM else GREEN
    if reached > state.tier:
        state.tier, state.tier_since = reached, now

    # points lots, the balance, the ids seen
    expires = now + YEAR
    for award in awards:
        state.lots.append((expires, award[1]))
        state.balance += award[1]
    state.visits += 1
    state.seen.add(event_id)
    state.seen_order.append(event_id)
    if len(state.seen_order) > KEPT_IDS:
        state.seen.discard(state.seen_order.popleft())
    return CoffeeResult(awards, badges, basket, discount, base_sum)
