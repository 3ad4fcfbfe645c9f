"""Synthetic purchase histories for demos, tests and benchmarks (`loyalty generate`).

`generate(program, customers=N, days=D, seed=S, out=FILE)` writes a JSON Lines history that
`loyalty run` and `loyalty simulate` read, in time order, the same bytes for the same arguments
(one `random.Random(seed)`, no wall clock, no set or hash order). Its shape is what a retailer's
history looks like, roughly:

- **heavy-tailed customers**: each has a visit rate and a basket size drawn from log-normal
  distributions, so a few customers spend many times the median (as in real receipts data);
- **seasonality**: more visits at the weekend and in December, fewer in January and August;
- **the program's own products**: the categories, SKU prefixes and item attributes its conditions
  name (`item.category == "pastry"`, `starts_with(item.sku, "LATTE")`, `item.collection == "ss27"`)
  are what customers buy, beside a few generic ones, each SKU with a price of its own;
- **the rest of a customer's life**: sign-ups (with a referral code of an earlier customer now and
  then), returns of a line within a few weeks, reviews, app opens (streaks), at realistic rates;
- **what a customer tells at sign-up**: most give a birthday (so birthday rewards fire), some a
  time zone of their own (quiet hours are kept in it), and the tags the program's conditions
  name (`"vip" in customer.tags`) now and then;
- **the program's own event types**: every type its rules, goals, badges, streaks, offers or
  birthday reward react to (`on: [newsletter_signup]`) beyond the standard ones, now and then
  (a type a streak counts, often: a habit), with the event attributes it declares set to the
  values its conditions name (`event.campaign == "winter"`);
- **coupons**: a purchase presents, now and then, the coupons its customer holds (from a
  redemption, a birthday, a referral, an offer …), the codes the engine issued them: the engine
  runs over the history as it is written (`_Wallets`);
- **redemptions** of the program's cheapest catalog item, now and then, by customers who should
  have the points by then: the generator measures what the program gives for a basket once (the
  engine on one probe purchase) and counts half of it, after the pending period and until it
  expires, and no more than its stock, so that nearly every redemption is accepted (one that
  is not is refused by the engine, as it would be live).

Customers who exist before the history starts have no sign-up (so no birthday either: what they
told the shop is in a store, not in the history); the others sign up on their first day.

What a sign-up tells and the program's own event types are drawn from random streams of their
own (seeded from the seed), so a program that has no event type of its own gets the same
purchases, visits and returns as before they were added.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from rules_engine import jsonio
from rules_engine.engine.events import KNOWN_TYPES
from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.program.currencies import MINOR_UNITS
from rules_engine.program.model import Program

DEFAULT_START = dt.date(2026, 1, 1)

_CATEGORY = re.compile(r'item\.category\s*==\s*"([^"]+)"')
_SKU = re.compile(r'item\.sku\s*==\s*"([^"]+)"')
_SKU_PREFIX = re.compile(r'starts_with\(\s*item\.sku\s*,\s*"([^"]+)"\s*\)')
_ATTRIBUTE = re.compile(r'item\.([a-z_][a-z0-9_]*)\s*==\s*"([^"]+)"')
_TAG = re.compile(r'"([^"]+)"\s+in\s+customer\.tags')
_EVENT_ATTRIBUTE = re.compile(r'\bevent\.([a-z_][a-z0-9_]*)\s*==\s*"([^"]+)"')
_GENERIC = ("general", "seasonal", "essentials")

ZONES = (
    "Europe/London",
    "Europe/Berlin",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "America/New_York",
    "America/Los_Angeles",
)
"""The time zones a sign-up may give (IANA names every tz database has)."""
BIRTHDAY_GIVEN = 0.8
"""The share of sign-ups that give a birthday."""
ZONE_GIVEN = 0.15
"""The share of sign-ups that give a time zone."""
TAG_GIVEN = 0.2
"""The chance a sign-up carries each tag the program's conditions name."""

WEEKDAY = (0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 1.1)
"""Visits by weekday, Monday first, relative to the average."""
MONTH = (0.8, 0.85, 0.95, 1.0, 1.0, 1.0, 0.95, 0.85, 1.0, 1.05, 1.15, 1.5)
"""Visits by month, January first."""


@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    price: Decimal
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass
class _Customer:
    id: str
    rate: float
    """Visits a day, before seasonality."""
    size: float
    """Basket size, relative to the median."""
    start: int
    """The day they join (0: already a customer when the history starts)."""
    app: bool
    referrer: str | None
    last: dt.datetime | None = None
    earned: list[tuple[int, float]] = field(default_factory=list)
    """(day, points expected) of each purchase not yet counted as spendable."""
    spendable: float = 0.0
    lots: list[list[float]] = field(default_factory=list)
    """[day, points expected left] of what is spendable, oldest first, for a program whose points
    expire: what expires by a day leaves `spendable`, and a redemption spends the oldest first,
    as the engine does."""

    def release(self, day: int, pending: int, lasting: int | None) -> None:
        """Count as spendable on `day` what became available (`pending` days after its purchase)
        and take off what has expired (`lasting` whole days after it, or never: None)."""
        while self.earned and self.earned[0][0] <= day - pending:
            earned_on, points = self.earned.pop(0)
            self.spendable += points
            if lasting is not None:
                self.lots.append([earned_on, points])
        if lasting is not None:  # a lot of day d expires on day d + lasting, at its purchase's time
            while self.lots and self.lots[0][0] <= day - lasting:
                self.spendable -= self.lots.pop(0)[1]

    def spend(self, points: float) -> None:
        """A redemption's points, taken from the oldest lots first."""
        self.spendable -= points
        while points > 0 and self.lots:
            taken = min(points, self.lots[0][1])
            self.lots[0][1] -= taken
            points -= taken
            if self.lots[0][1] <= 0:
                self.lots.pop(0)


def products(program: Program, text: str, rng: random.Random) -> list[Product]:
    """What the program's customers buy: the categories, SKUs and item attribute values its
    conditions name, and a few generic categories, a handful of SKUs each."""
    categories = sorted(set(_CATEGORY.findall(text)))
    skus = sorted(set(_SKU.findall(text)))
    prefixes = sorted(set(_SKU_PREFIX.findall(text)))
    declared = program.attributes.item
    attributes: dict[str, list[str]] = {}
    for name, value in _ATTRIBUTE.findall(text):
        if name in declared and name not in ("category", "sku"):
            attributes.setdefault(name, [])
            if value not in attributes[name]:
                attributes[name].append(value)
    quantum = Decimal(1).scaleb(-MINOR_UNITS.get(program.currency, 2))
    scale = _price_scale(program)
    found: list[Product] = []
    for category in [*categories, *_GENERIC]:
        level = rng.lognormvariate(0, 0.6)
        for n in range(rng.randint(3, 6)):
            found.append(
                Product(f"{category.upper()}-{n + 1}", category, _price(rng, scale * level, quantum))
            )
    for sku in skus:
        found.append(Product(sku, rng.choice(categories or list(_GENERIC)), _price(rng, scale, quantum)))
    for prefix in prefixes:
        for size in ("S", "M", "L"):
            found.append(
                Product(
                    f"{prefix}-{size}", rng.choice(categories or list(_GENERIC)), _price(rng, scale, quantum)
                )
            )
    if attributes:
        tagged = []
        for product in found:
            if rng.random() < 0.3:
                name = rng.choice(sorted(attributes))
                tagged.append(
                    Product(
                        product.sku + "-X",
                        product.category,
                        product.price,
                        ((name, rng.choice(attributes[name])),),
                    )
                )
        found.extend(tagged)
    return found


def _price_scale(program: Program) -> float:
    """A typical line price in the program's currency: larger in currencies of small units."""
    digits = MINOR_UNITS.get(program.currency, 2)
    big = {"RUB": 250.0, "JPY": 1500.0, "KRW": 15000.0, "INR": 400.0, "HUF": 3000.0, "CLP": 5000.0}
    return big.get(program.currency, 15.0 if digits else 1500.0)


def _price(rng: random.Random, scale: float, quantum: Decimal) -> Decimal:
    return max(quantum, Decimal(str(round(scale * rng.lognormvariate(0, 0.5), 2))).quantize(quantum))


def generate(
    program: Program,
    program_text: str,
    *,
    customers: int,
    days: int,
    seed: int,
    out: IO[str],
    start: dt.date = DEFAULT_START,
    secret: bytes = b"",
    coupons: bool = True,
) -> int:
    """Write the history to `out` (the module docstring); the number of events written.
    `coupons`: purchases present the coupons their customers hold (`_Wallets`: the engine runs
    over the history as it is written, which takes most of the time)."""
    rng = random.Random(seed)
    catalogue = products(program, program_text, random.Random(seed + 1))
    zone = ZoneInfo(program.timezone)
    people = _customers(rng, customers, days)
    referrals = program.referral is not None
    reward = min(program.catalog, key=lambda item: item.cost) if program.catalog else None
    in_stock = reward.stock if reward is not None else None  # for all customers; None: no limit
    rate = _earn_rate(program, catalogue, start, zone) if reward is not None else 0.0
    pending = program.points.pending.days + 1 if program.points.pending is not None else 1
    lasting = program.points.expire_after.days if program.points.expire_after is not None else None
    reviews = "review" in program_text
    told = random.Random(f"{seed}:signup")
    tags = sorted(set(_TAG.findall(program_text)))
    kinds = own_event_types(program)
    habits = random.Random(f"{seed}:own-events")
    values = _event_values(program, program_text)
    habitual = {streak.on for streak in program.streaks}
    rates = {person.id: [_habit(habits, kind in habitual) for kind in kinds] for person in people}
    wallets = _Wallets(program, seed, secret) if coupons and program.coupons else None
    written = 0
    later: list[tuple[dt.datetime, int, dict[str, Any]]] = []  # returns and reviews to come
    sequence = 0
    for day in range(days):
        date = start + dt.timedelta(days=day)
        midnight = dt.datetime.combine(date, dt.time(), zone)
        season = WEEKDAY[date.weekday()] * MONTH[date.month - 1]
        today: list[tuple[dt.datetime, int, dict[str, Any]]] = []
        for person in people:
            if day < person.start:
                continue
            if day == person.start and person.start > 0:
                event: dict[str, Any] = {"type": "signup"}
                if person.referrer is not None and referrals:
                    event["referral_code"] = referral_code(program.program, person.referrer, secret)
                event.update(_profile(told, date, tags))
                today.append((_moment(rng, midnight, person), sequence, _with(event, person)))
                sequence += 1
            if person.app and rng.random() < 0.25 + 0.5 * min(1.0, person.rate * 4):
                today.append((_moment(rng, midnight, person), sequence, _with({"type": "app_open"}, person)))
                sequence += 1
            if rng.random() < min(0.9, person.rate * season):
                moment = _moment(rng, midnight, person)
                purchase = _with({"type": "purchase", "items": _basket(rng, catalogue, person)}, person)
                today.append((moment, sequence, purchase))
                sequence += 1
                if reward is not None and rate > 0:
                    value = sum(float(i["price"]) * i["qty"] for i in purchase["items"])
                    person.earned.append((day, value * rate / 2))
                    person.release(day, pending, lasting)
                    wanted = person.spendable >= float(reward.cost) and in_stock != 0
                    if wanted and rng.random() < 0.3:
                        person.spend(float(reward.cost))
                        in_stock = None if in_stock is None else in_stock - 1
                        redeem = {"type": "redeem", "item": reward.id}
                        later_today = moment + dt.timedelta(minutes=rng.randint(1, 30))
                        heapq.heappush(later, (later_today, sequence, _with(redeem, person)))
                        sequence += 1
                if rng.random() < 0.04:
                    line = rng.choice(purchase["items"])
                    back = moment + dt.timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 6))
                    returned = {"type": "return", "purchase": None, "items": [{"sku": line["sku"], "qty": 1}]}
                    heapq.heappush(later, (back, sequence, _with(returned, person, purchase)))
                    sequence += 1
                if reviews and rng.random() < 0.03:
                    when = moment + dt.timedelta(days=rng.randint(1, 5), hours=rng.randint(0, 8))
                    review = {
                        "type": "review",
                        "product": purchase["items"][0]["sku"],
                        "rating": rng.randint(3, 5),
                    }
                    heapq.heappush(later, (when, sequence, _with(review, person)))
                    sequence += 1
            for kind, rate in zip(kinds, rates[person.id], strict=True):
                if habits.random() < min(0.9, rate * season):
                    own: dict[str, Any] = {"type": kind}
                    attributes = _event_attributes(habits, values)
                    if attributes:
                        own["attributes"] = attributes
                    today.append((_moment(habits, midnight, person), sequence, _with(own, person)))
                    sequence += 1
        end = midnight + dt.timedelta(days=1)
        while later and later[0][0] < end:
            today.append(heapq.heappop(later))
        today.sort(key=lambda item: (item[0], item[1]))
        for moment, _, event in today:
            written += 1
            event["id"] = f"g{written:08d}"
            event["time"] = moment.isoformat()
            if event["type"] == "return":
                event["purchase"] = event.pop("_of")["id"]
            line = jsonio.dumps(_ordered(event))
            if wallets is not None:
                line = wallets.presented(event, line)
            out.write(line + "\n")
    return written


class _Wallets:
    """The coupons each generated customer holds, and the ones a purchase presents.

    A coupon's code is an HMAC of the program, the customer, the event that issued it and the
    deployment's secret (docs/engine.md, "Coupon codes"), and what issues one (a catalog
    redemption, a birthday, a referral, an offer, a challenge) is the engine's decision over the
    customer's whole history: the codes a customer holds cannot be known without running the
    engine. So the generator runs it, as it writes: every event through `Engine.process` with the
    customer's state (one engine, no store: no budgets, no stock, no referrer's record, so what it
    issues can now and then differ from what `loyalty run` issues; a code that turns out unknown
    there is refused and ignored, as a till would). A purchase presents, half the time, the codes
    the customer holds unused and unexpired; of those, it keeps the ones the engine redeems
    (a coupon that gives nothing on the basket, a free latte on a basket without one, stays in
    the wallet for another day). Its draws come from a stream of their own, so the events are
    the same as without coupons but for the purchases' `coupons`.
    """

    PRESENT = 0.5
    """The chance that a purchase presents the coupons its customer holds."""

    def __init__(self, program: Program, seed: int, secret: bytes) -> None:
        from rules_engine.engine.evaluator import Engine

        self.engine = Engine(program, secret=secret)
        self.rng = random.Random(f"{seed}:coupons")
        self.states: dict[str, Any] = {}

    def presented(self, event: dict[str, Any], line: str) -> str:
        """The event's line, with the coupons it presents; the customer's state moved past it."""
        from rules_engine.errors import RulesEngineError

        customer = event["customer"]
        state = self.states.get(customer)
        held = self._held(state, event)
        if held and self.rng.random() < self.PRESENT:
            event["coupons"] = held
            tried = jsonio.dumps(_ordered(event))
            try:
                result = self.engine.process(jsonio.loads(tried), state)
            except RulesEngineError:
                result = None
            used = [code for code in held if result is not None and code in result.coupons_redeemed]
            if used and used == held:
                self.states[customer] = result.state if result is not None else state
                return tried
            if used:
                event["coupons"] = used
            else:
                del event["coupons"]
            line = jsonio.dumps(_ordered(event))
        with contextlib.suppress(RulesEngineError):  # refused, as `loyalty run` would: no change
            self.states[customer] = self.engine.process(jsonio.loads(line), state).state
        return line

    @staticmethod
    def _held(state: Any, event: dict[str, Any]) -> list[str]:
        if state is None or event["type"] != "purchase" or not state.coupons:
            return []
        moment = dt.datetime.fromisoformat(event["time"])
        return [c.code for c in state.coupons if c.used_in is None and c.expires_at >= moment][:5]


def own_event_types(program: Program) -> list[str]:
    """The event types beyond the standard ones that the program reacts to: named in an `on:` of
    its earn rules, challenges, quest steps, badges, streaks, offers or birthday reward."""
    named: set[str] = set()
    for rule in program.earn:
        named.update(rule.on)
    for challenge in program.challenges:
        named.update(challenge.on)
    for quest in program.quests:
        named.update(step.on for step in quest.steps)
    for badge in program.badges:
        named.update(badge.on)
    named.update(streak.on for streak in program.streaks)
    for offer in program.offers:
        named.update(offer.on)
    if program.birthday is not None:
        named.update(program.birthday.on)
    return sorted(named - set(KNOWN_TYPES))


def _habit(rng: random.Random, streak: bool) -> float:
    """How often a customer sends an event type of the program's own, a day before seasonality:
    a type a streak counts is a habit (most days for the keenest), any other a few times a
    year."""
    return min(0.9, (0.3 if streak else 0.01) * rng.lognormvariate(0, 0.7))


def _profile(rng: random.Random, joined: dt.date, tags: list[str]) -> dict[str, Any]:
    """What a sign-up tells: a birthday (most), a time zone (some), the program's tags (a few)."""
    told: dict[str, Any] = {}
    if rng.random() < BIRTHDAY_GIVEN:
        born = dt.date(joined.year - rng.randint(18, 70), 1, 1)
        told["birthday"] = (born + dt.timedelta(days=rng.randrange(365))).isoformat()
    if rng.random() < ZONE_GIVEN:
        told["timezone"] = rng.choice(ZONES)
    chosen = [tag for tag in tags if rng.random() < TAG_GIVEN]
    if chosen:
        told["tags"] = chosen
    return told


def _event_values(program: Program, text: str) -> dict[str, list[str]]:
    """The values the program's conditions compare its declared text event attributes with."""
    declared = program.attributes.event
    values: dict[str, list[str]] = {}
    for name, value in _EVENT_ATTRIBUTE.findall(text):
        if declared.get(name) == "text" and value not in values.setdefault(name, []):
            values[name].append(value)
    return values


def _event_attributes(rng: random.Random, values: dict[str, list[str]]) -> dict[str, str]:
    """Each attribute, half the time, one of its values."""
    return {name: rng.choice(values[name]) for name in sorted(values) if rng.random() < 0.5}


def _earn_rate(program: Program, catalogue: list[Product], start: dt.date, zone: ZoneInfo) -> float:
    """Points a new customer gets per unit of money on a plain basket: the engine, once."""
    from rules_engine.engine.evaluator import Engine
    from rules_engine.errors import RulesEngineError

    product = next((p for p in catalogue if p.category in _GENERIC), catalogue[0])
    moment = dt.datetime.combine(start, dt.time(12), zone)
    probe = {
        "id": "probe",
        "type": "purchase",
        "time": moment.isoformat(),
        "customer": "probe",
        "items": [{"sku": product.sku, "category": product.category, "price": product.price * 10, "qty": 1}],
    }
    try:
        outcome = Engine(program).process(probe)
    except RulesEngineError:
        return 0.0
    return float(outcome.totals.points) / float(product.price * 10)


def _customers(rng: random.Random, count: int, days: int) -> list[_Customer]:
    people: list[_Customer] = []
    for n in range(count):
        existing = rng.random() < 0.6 or days < 2
        start = 0 if existing else rng.randrange(1, days)
        earlier = [p.id for p in people if p.start < start]
        referrer = (
            earlier[rng.randrange(len(earlier))] if earlier and not existing and rng.random() < 0.2 else None
        )
        people.append(
            _Customer(
                id=f"c{n:06d}",
                rate=min(1.5, rng.lognormvariate(math.log(0.06), 1.0)),
                size=rng.lognormvariate(0, 0.5),
                start=start,
                app=rng.random() < 0.4,
                referrer=referrer,
            )
        )
    return people


def _moment(rng: random.Random, midnight: dt.datetime, person: _Customer) -> dt.datetime:
    """A time in opening hours (8:00 to 21:59), after the customer's previous event."""
    moment = midnight + dt.timedelta(
        hours=rng.randint(8, 21), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
    )
    if person.last is not None and moment <= person.last:
        moment = person.last + dt.timedelta(seconds=1)
    person.last = moment
    return moment


def _basket(rng: random.Random, catalogue: list[Product], person: _Customer) -> list[dict[str, Any]]:
    lines = max(1, min(12, round(rng.expovariate(1 / 2.2) * person.size**0.5) + 1))
    chosen = rng.sample(catalogue, min(lines, len(catalogue)))
    items = []
    for product in chosen:
        item: dict[str, Any] = {
            "sku": product.sku,
            "category": product.category,
            "price": product.price,
            "qty": 1 if rng.random() < 0.8 else rng.randint(2, 3),
        }
        if product.attributes:
            item["attributes"] = dict(product.attributes)
        items.append(item)
    return items


def _with(event: dict[str, Any], person: _Customer, of: dict[str, Any] | None = None) -> dict[str, Any]:
    event["customer"] = person.id
    if of is not None:
        event["_of"] = of
    return event


_ORDER = ("id", "type", "time", "customer")


def _ordered(event: dict[str, Any]) -> dict[str, Any]:
    return {**{key: event[key] for key in _ORDER}, **{k: v for k, v in event.items() if k not in _ORDER}}


def generate_file(program: Program, program_text: str, path: Path, **options: Any) -> int:
    """`generate` into a file, written beside it and renamed at the end (no half file on failure)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "w", encoding="utf-8", newline="\n") as out:
            count = generate(program, program_text, out=out, **options)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


def lines(program: Program, program_text: str, **options: Any) -> Iterator[str]:
    """The history's lines, for tests."""
    import io

    out = io.StringIO()
    generate(program, program_text, out=out, **options)
    yield from out.getvalue().splitlines()
