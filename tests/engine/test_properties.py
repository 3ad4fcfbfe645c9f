"""Properties of `Engine.process` that hold for every valid purchase, checked on random ones.

Random baskets of 1-10 lines from a pool of products (gift cards and, for fashion-house, outlet
items among them), prices with two decimals, quantities 1-5, moments from late November 2026 to
early February 2027 written with offsets from -12:00 to +14:00 (so the local day in the program's
time zone often differs from the day written in the event), an optional tier and optional cap
counters in the state. Run against programs/coffee-club.yaml and programs/fashion-house.yaml.

What must hold, whatever the purchase:

- determinism: the same event and state give byte-identical JSON, twice and on a fresh engine;
- a rule outside its schedule gives nothing (coffee-club's double-tuesday), and inside it does;
- caps are never exceeded, counting what the state says was already given in the period;
- no points on excluded lines or on money discounted away; the earning base is what is paid for
  the lines the program does not exclude;
- every award and discount is attributed to valid lines, and the shares add up exactly;
- every number in the outcome is an int or a Decimal, never a float;
- a bad event (a negative quantity, a time without an offset) raises EventError and changes nothing.

Each property checks the outcome against values computed here independently of the engine, from
the event and the program's rules as written in the YAML.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.errors import EventError
from rules_engine.jsonio import dumps
from rules_engine.state.customer import CustomerState, parse_state
from tests.conftest import ROOT

CENT = Decimal("0.01")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the programs, as this file understands them (from the YAML, not from the engine) ----------------
@dataclass(frozen=True)
class Product:
    sku: str
    category: str | None
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ProgramFacts:
    name: str
    zone: ZoneInfo
    products: tuple[Product, ...]
    tiers: tuple[str, ...]
    excluded: Callable[[dict[str, Any]], bool]  # earning_base.exclude on an event line
    base_points: Callable[[Decimal], Decimal]  # the `base` rate rule on the earning base
    line_discount_percent: Callable[[list[dict[str, Any]], str | None], list[Decimal]]
    profile_attributes: Callable[[st.DrawFn], dict[str, Any]]


def _coffee_discounts(items: list[dict[str, Any]], tier: str | None) -> list[Decimal]:
    # refill: 20% off coffee lines when the basket holds two coffees or more
    coffees = sum((Decimal(line["qty"]) for line in items if line.get("category") == "coffee"), Decimal(0))
    return [
        Decimal(20) if coffees >= 2 and line.get("category") == "coffee" else Decimal(0) for line in items
    ]


def _fashion_discounts(items: list[dict[str, Any]], tier: str | None) -> list[Decimal]:
    # platinum members: 5% off every line
    return [Decimal(5) if tier == "platinum" else Decimal(0) for _ in items]


COFFEE = ProgramFacts(
    name="coffee-club",
    zone=ZoneInfo("Europe/Moscow"),
    products=(
        Product("LATTE-L", "coffee", (("size", "L"),)),
        Product("ESPRESSO", "coffee", (("size", "S"),)),
        Product("FLAT-WHITE", "coffee"),
        Product("CROISSANT", "pastry"),
        Product("MUFFIN", "pastry"),
        Product("BEANS-250", "beans"),
        Product("BEANS-1KG", "beans"),
        Product("GIFT-500", "gift_card"),
        Product("GIFT-1000", "gift_card"),
        Product("WATER", "drinks"),
        Product("MYSTERY", None),
    ),
    tiers=("green", "gold"),
    excluded=lambda line: line.get("category") == "gift_card",
    base_points=lambda base: (base / 100).to_integral_value(rounding=ROUND_FLOOR),  # 1 per 100, floor
    line_discount_percent=_coffee_discounts,
    profile_attributes=lambda draw: draw(
        st.fixed_dictionaries({}, optional={"favourite_drink": st.sampled_from(["latte", "flat white"])})
    ),
)
FASHION = ProgramFacts(
    name="fashion-house",
    zone=ZoneInfo("Europe/Paris"),
    products=(
        Product("DRESS-SS27", "dress", (("collection", "ss27"), ("brand", "maison"))),
        Product("DRESS-FW26", "dress", (("collection", "fw26"),)),
        Product("COAT-OUTLET", "outerwear", (("collection", "outlet"), ("brand", "atelier"))),
        Product("SCARF", "accessories"),
        Product("BELT-OUTLET", "accessories", (("collection", "outlet"),)),
        Product("GIFT-50", "gift_card"),
        Product("GIFT-100", "gift_card", (("brand", "maison"),)),
        Product("SOCKS", None),
    ),
    tiers=("member", "silver", "gold", "platinum"),
    excluded=lambda line: (
        line.get("category") == "gift_card" or line.get("attributes", {}).get("collection") == "outlet"
    ),
    base_points=lambda base: (base * 10).to_integral_value(rounding=ROUND_HALF_UP),  # 10 per 1, round
    line_discount_percent=_fashion_discounts,
    profile_attributes=lambda draw: draw(
        st.fixed_dictionaries(
            {}, optional={"birthday_month": st.sampled_from([11, 12, 1]) | st.integers(1, 12)}
        )
    ),
)
FACTS = {facts.name: facts for facts in (COFFEE, FASHION)}
PROGRAMS = sorted(FACTS)
_ENGINES: dict[str, Engine] = {}


def engine(name: str) -> Engine:
    if name not in _ENGINES:
        _ENGINES[name] = Engine.from_file(ROOT / "programs" / f"{name}.yaml")
    return _ENGINES[name]


# -- random purchases ---------------------------------------------------------------------------------
START = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
END = dt.datetime(2027, 2, 1, tzinfo=dt.UTC)

prices = st.one_of(
    st.integers(0, 2_000),  # up to 20.00: a pastry in euros, a sample
    st.integers(1, 100_000),  # up to 1,000.00
    st.integers(100_000, 500_000),  # 1,000.00 to 5,000.00: enough to reach the caps
).map(lambda cents: Decimal(cents).scaleb(-2))
offsets = st.integers(-12 * 4, 14 * 4).map(lambda quarters: dt.timezone(dt.timedelta(minutes=15 * quarters)))


# Local days and times where decisions change: the ends of double-tuesday's December, its
# Tuesdays, the turn of the year (per_year caps), early-bird's 10:00, midnight (per_day caps).
EDGE_DAYS = [dt.date(2026, 11, 30), *(dt.date(2026, 12, d) for d in (1, 7, 8, 15, 22, 29, 31))]
EDGE_DAYS += [dt.date(2027, 1, 1), dt.date(2027, 1, 5)]
EDGE_TIMES = [dt.time(0, 0), dt.time(0, 30), dt.time(9, 59, 59), dt.time(10, 0), dt.time(23, 59, 59)]


@st.composite
def moments(draw: st.DrawFn, zone: ZoneInfo) -> dt.datetime:
    """An aware moment, written with a random offset; half of them near a local edge in `zone`."""
    if draw(st.booleans()):
        seconds = draw(st.integers(0, int((END - START).total_seconds())))
        moment = START + dt.timedelta(seconds=seconds)
    else:
        time = draw(st.sampled_from(EDGE_TIMES) | st.times())
        moment = dt.datetime.combine(draw(st.sampled_from(EDGE_DAYS)), time, tzinfo=zone)
    return moment.astimezone(draw(offsets))


@dataclass
class Case:
    facts: ProgramFacts
    event: dict[str, Any]
    state: dict[str, Any] | None

    @property
    def moment(self) -> dt.datetime:
        time = self.event["time"]
        return time if isinstance(time, dt.datetime) else dt.datetime.fromisoformat(time)

    @property
    def local(self) -> dt.datetime:
        return self.moment.astimezone(self.facts.zone)

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self.event["items"])

    def __repr__(self) -> str:
        return f"Case({self.facts.name!r}, event={self.event!r}, state={self.state!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # what hypothesis prints for an example
        printer.text(repr(self))

    def used(self, rule: str, key: str) -> Decimal:
        counters = (self.state or {}).get("counters", {})
        return Decimal(counters.get(rule, {}).get(key, 0))


def period_keys(local: dt.datetime) -> dict[str, str]:
    day = local.date()
    iso = day.isocalendar()
    return {
        "per_day": f"day:{day.isoformat()}",
        "per_week": f"week:{iso.year}-W{iso.week:02d}",
        "per_month": f"month:{day.year}-{day.month:02d}",
        "per_year": f"year:{day.year}",
        "lifetime": "lifetime",
    }


def capped_rules(name: str) -> list[tuple[str, dict[str, Decimal]]]:
    """(rule id, {period: limit}) for every earn rule with a cap, read from the program."""
    out = []
    for rule in engine(name).program.earn:
        if rule.cap is not None:
            limits = {
                period: Decimal(value)
                for period in ("per_event", "per_day", "per_week", "per_month", "per_year", "lifetime")
                if (value := getattr(rule.cap, period)) is not None
            }
            out.append((rule.id, limits))
    return out


@st.composite
def cases(draw: st.DrawFn, name: str) -> Case:
    facts = FACTS[name]
    moment = draw(moments(facts.zone))
    lines = []
    for _ in range(draw(st.integers(1, 10))):
        product = draw(st.sampled_from(facts.products))
        line: dict[str, Any] = {"sku": product.sku, "price": draw(prices), "qty": draw(st.integers(1, 5))}
        if product.category is not None:
            line["category"] = product.category
        if product.attributes:
            line["attributes"] = dict(product.attributes)
        lines.append(line)
    event: dict[str, Any] = {
        "id": f"evt-{draw(st.integers(1, 10**6))}",
        "type": "purchase",
        "time": moment if draw(st.booleans()) else moment.isoformat(),
        "customer": "card-7781",
        "items": lines,
    }
    if draw(st.booleans()):
        event["currency"] = engine(name).program.currency
    state: dict[str, Any] | None = None
    if draw(st.integers(0, 3)):  # a known customer three times in four
        state = {}
        tier = draw(st.none() | st.sampled_from(facts.tiers))
        if tier is not None:
            state["tier"] = tier
        if draw(st.booleans()):
            state["customer"] = "card-7781"
        attributes = facts.profile_attributes(draw)
        if attributes:
            state["profile"] = {"attributes": attributes}
        counters: dict[str, dict[str, Decimal]] = {}
        keys = period_keys(moment.astimezone(facts.zone))
        for rule, limits in capped_rules(name):
            for period, limit in limits.items():
                if period == "per_event" or not draw(st.booleans()):
                    continue
                used = draw(st.sampled_from([limit, Decimal(0)]) | st.integers(0, int(limit)).map(Decimal))
                key = keys[period] if draw(st.integers(0, 3)) else "day:2026-11-01"  # mostly this period
                counters.setdefault(rule, {})[key] = used
        if counters:
            state["counters"] = counters
    return Case(facts, event, state)


def process(case: Case, on: Engine | None = None, **options: Any) -> Outcome:
    return (on or engine(case.facts.name)).process(case.event, case.state, **options)


def as_json(outcome: Outcome) -> str:
    return dumps(outcome.model_dump(mode="python"))


def points_of(outcome: Outcome, rule: str) -> Decimal:
    return sum((award.points for award in outcome.effects.points if award.rule == rule), Decimal(0))


def line_amounts(case: Case) -> list[Decimal]:
    return [
        (Decimal(line["price"]) * Decimal(line["qty"])).quantize(CENT, ROUND_HALF_UP) for line in case.items
    ]


def discount_shares(outcome: Outcome, count: int) -> list[Decimal]:
    """Money taken off each line, by every discount, coupon and tier benefit."""
    off = [Decimal(0)] * count
    for effect in outcome.effects.discounts:
        for share in effect.lines:
            off[share.line] += share.amount
    return off


# -- the properties -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PROGRAMS)
@PROPERTY
@given(data=st.data())
def test_the_same_input_gives_byte_identical_outcomes(name: str, data: st.DataObject) -> None:
    case = data.draw(cases(name))
    event, state = copy.deepcopy(case.event), copy.deepcopy(case.state)
    first = as_json(process(case))
    assert as_json(process(case)) == first
    assert as_json(process(case, explain=True)) == as_json(process(case, explain=True))
    fresh = Engine.from_file(ROOT / "programs" / f"{name}.yaml") if data.draw(st.booleans()) else None
    if fresh is not None:
        assert as_json(process(case, on=fresh)) == first
    assert case.event == event and case.state == state  # the inputs are not changed


@pytest.mark.parametrize("name", PROGRAMS)
@PROPERTY
@given(data=st.data())
def test_a_state_decides_the_same_in_memory_and_after_its_json(name: str, data: st.DataObject) -> None:
    """A store keeps states as JSON: the next event must be decided the same, byte for byte, from
    the state the engine returned and from that state read back — times given in the program's
    named zone included."""
    first, second = data.draw(cases(name)), data.draw(cases(name))
    if data.draw(st.booleans()):
        first.event["time"] = first.moment.astimezone(first.facts.zone)  # a ZoneInfo, not an offset
    state = process(first).state
    stored = CustomerState.model_validate_json(state.model_dump_json())
    event = {**second.event, "id": "evt-next"}
    on = engine(name)
    assert decided(on, event, state) == decided(on, event, stored)


def decided(on: Engine, event: dict[str, Any], state: CustomerState) -> str:
    """The outcome as JSON, or the codes of the refusal (an event older than the state's latest)."""
    try:
        return as_json(on.process(event, state))
    except EventError as error:
        return " ".join(d.code for d in error.diagnostics)


@PROPERTY
@given(case=cases("coffee-club"))
def test_a_rule_gives_nothing_outside_its_schedule(case: Case) -> None:
    # double-tuesday: active 2026-12-01 to 2026-12-31, `when: event.time.weekday == "tue"`, all in Moscow
    outcome = process(case)
    local = case.local
    inside = dt.date(2026, 12, 1) <= local.date() <= dt.date(2026, 12, 31) and local.weekday() == 1
    given_points = [award for award in outcome.effects.points if award.rule == "double-tuesday"]
    if not inside:
        assert given_points == []
        return
    # inside: it doubles the points of the non-multiplier rules, at most 200 (no counter for per_event);
    # rounded once for the whole award (`points.round: per_award`), the double of 15.6 points is
    # floor(31.2) - 15 = 16: one more than the rounded points before it, at most
    others = sum(
        (a.points for a in outcome.effects.points if a.rule not in {"double-tuesday"} and ":" not in a.rule),
        Decimal(0),
    )
    assert min(others, Decimal(200)) <= points_of(outcome, "double-tuesday") <= min(others + 1, Decimal(200))


@pytest.mark.parametrize("name", PROGRAMS)
@PROPERTY
@given(data=st.data())
def test_caps_are_never_exceeded(name: str, data: st.DataObject) -> None:
    case = data.draw(cases(name))
    outcome = process(case)
    keys = period_keys(case.local)
    for rule, limits in capped_rules(name):
        given_points = points_of(outcome, rule)
        for period, limit in limits.items():
            if period == "per_event":
                assert given_points <= limit, (rule, period)
                continue
            key = keys[period]
            used = case.used(rule, key)
            assert given_points <= max(Decimal(0), limit - used), (rule, period, used)
            counter = outcome.state.counters.get(rule, {}).get(key, Decimal(0))
            assert counter == used + given_points, (rule, period)
            assert counter <= limit, (rule, period)  # the generated counters start within the caps


@pytest.mark.parametrize("name", PROGRAMS)
@PROPERTY
@given(data=st.data())
def test_no_points_on_excluded_lines_or_discounted_money(name: str, data: st.DataObject) -> None:
    case = data.draw(cases(name))
    facts = case.facts
    outcome = process(case)
    items = case.items
    tier = (case.state or {}).get("tier")

    # the discounts, computed here from the program's rules
    amounts = line_amounts(case)
    percents = facts.line_discount_percent(items, tier)
    expected_off = [
        (a * p / 100).quantize(CENT, ROUND_HALF_UP) for a, p in zip(amounts, percents, strict=True)
    ]
    off = discount_shares(outcome, len(items))
    assert off == expected_off

    # the earning base: what is paid for the lines the program does not exclude
    base = sum(
        (a - o for a, o, line in zip(amounts, off, items, strict=True) if not facts.excluded(line)),
        Decimal(0),
    )
    assert outcome.totals.earning_base == base

    # rate rules give nothing on excluded lines ...
    rate_rules = {rule.id for rule in engine(name).program.earn if rule.rate is not None}
    for award in outcome.effects.points:
        if award.rule in rate_rules:
            assert all(not facts.excluded(items[share.line]) for share in award.lines), award
    # ... and no more than the base earns: `base` is each program's only rate rule
    assert points_of(outcome, "base") <= facts.base_points(base)
    assert points_of(outcome, "base") == facts.base_points(base)


@pytest.mark.parametrize("name", PROGRAMS)
@PROPERTY
@given(data=st.data())
def test_every_award_and_discount_adds_up_over_valid_lines(name: str, data: st.DataObject) -> None:
    case = data.draw(cases(name))
    outcome = process(case)
    items = case.items
    amounts = line_amounts(case)
    for award in outcome.effects.points:
        assert award.points > 0
        if ":" in award.rule and not award.rule.startswith("tier:"):
            # a challenge, quest, badge or streak reward was not earned by basket lines
            assert award.lines == [], award
            continue
        assert sum((share.amount for share in award.lines), Decimal(0)) == award.points, award
        assert len({share.line for share in award.lines}) == len(award.lines)
        for share in award.lines:
            assert 0 <= share.line < len(items) and share.sku == items[share.line]["sku"], award
            assert share.amount > 0 and share.amount == share.amount.to_integral_value()
    for effect in outcome.effects.discounts:
        assert sum((share.amount for share in effect.lines), Decimal(0)) == effect.amount, effect
        assert len({share.line for share in effect.lines}) == len(effect.lines)
        for share in effect.lines:
            assert 0 <= share.line < len(items) and share.sku == items[share.line]["sku"], effect
            assert 0 < share.amount <= amounts[share.line]
    totals = outcome.totals
    assert totals.points == sum((award.points for award in outcome.effects.points), Decimal(0))
    assert totals.basket == sum(amounts, Decimal(0))
    assert totals.discount == sum((effect.amount for effect in outcome.effects.discounts), Decimal(0))
    assert totals.to_pay == totals.basket - totals.discount + totals.shipping


def _numbers(value: Any, path: str = "outcome") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{path}[{index}]")
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        yield path, value


@pytest.mark.parametrize("name", PROGRAMS)
@PROPERTY
@given(data=st.data())
def test_every_number_is_exact(name: str, data: st.DataObject) -> None:
    case = data.draw(cases(name))
    for explain in (False, True):
        outcome = process(case, explain=explain)
        numbers = list(_numbers(outcome.model_dump(mode="python")))
        assert numbers  # at least the totals
        floats = [(path, value) for path, value in numbers if isinstance(value, float)]
        assert floats == []
        assert all(isinstance(value, int | Decimal) for _, value in numbers)


def _negative_quantity(case: Case, data: st.DataObject) -> dict[str, Any]:
    event = copy.deepcopy(case.event)
    index = data.draw(st.integers(0, len(event["items"]) - 1))
    event["items"][index]["qty"] = -data.draw(st.integers(0, 5))  # 0 is refused too: qty > 0
    return event


def _naive_time(case: Case, data: st.DataObject) -> dict[str, Any]:
    event = copy.deepcopy(case.event)
    naive = case.moment.replace(tzinfo=None)
    event["time"] = naive if data.draw(st.booleans()) else naive.isoformat()
    return event


@pytest.mark.parametrize("name", PROGRAMS)
@pytest.mark.parametrize("spoil", [_negative_quantity, _naive_time], ids=["negative qty", "naive time"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_bad_event_raises_and_changes_nothing(
    name: str, spoil: Callable[[Case, st.DataObject], dict[str, Any]], data: st.DataObject
) -> None:
    case = data.draw(cases(name))
    before = as_json(process(case))
    state = copy.deepcopy(case.state)
    bad = spoil(case, data)
    with pytest.raises(EventError) as error:
        engine(name).process(bad, case.state)
    assert error.value.diagnostics[0].code == "RE410"
    assert case.state == state
    assert as_json(process(case)) == before  # the engine keeps nothing from the refused event
    if case.state is not None:
        parse_state(case.state)  # still a valid snapshot


# -- found by the properties above ----------------------------------------------------------------------
THREE_EQUAL_LINES = Case(
    COFFEE,
    {
        "id": "evt-1",
        "type": "purchase",
        "time": "2026-12-09T08:15:00+03:00",  # a Wednesday, before 10:00
        "customer": "card-7781",
        "items": [{"sku": sku, "category": "beans", "price": Decimal("100.00"), "qty": 1} for sku in "ABC"],
    },
    None,
)
ONLY_A_GIFT_CARD = Case(
    COFFEE,
    {
        "id": "evt-2",
        "type": "purchase",
        "time": "2026-12-09T08:15:00+03:00",
        "customer": "card-7781",
        "items": [{"sku": "GIFT-2000", "category": "gift_card", "price": Decimal("2000.00"), "qty": 1}],
    },
    None,
)


@PROPERTY
@given(case=cases("coffee-club"))
@example(case=THREE_EQUAL_LINES)  # gave 9: 10 x 0.333…3 three times, floored
@example(case=ONLY_A_GIFT_CARD)  # no line earns: neither award is given
def test_a_fixed_award_is_given_whole(case: Case) -> None:
    # early-bird: `award: 10` when before 10:00 local and basket.total >= 200, at most 10 a day;
    # big-order: `award: 50` when basket.total >= 1500, not on top of early-bird (same group).
    # A basket-level award is shared by the lines that earn; when none does, it is not given.
    outcome = process(case)
    early, big = points_of(outcome, "early-bird"), points_of(outcome, "big-order")
    amounts = line_amounts(case)
    total = sum(amounts, Decimal(0))
    off = discount_shares(outcome, len(amounts))
    earns = any(
        a - o > 0 for a, o, line in zip(amounts, off, case.items, strict=True) if not COFFEE.excluded(line)
    )
    left_today = 10 - case.used("early-bird", period_keys(case.local)["per_day"])
    early_applies = case.local.hour < 10 and total >= 200 and earns
    assert early == (min(Decimal(10), max(Decimal(0), left_today)) if early_applies else 0)
    assert big in (0, 50)
    if early > 0 or total < 1500 or not earns:
        assert big == 0
    elif not early_applies:
        assert big == 50


@pytest.mark.parametrize("name", PROGRAMS)
@PROPERTY
@given(data=st.data())
def test_the_slim_result_says_what_its_outcome_says(name: str, data: st.DataObject) -> None:
    """`process` returns slim data and builds the pydantic `Outcome` only when asked: both must say
    the same, the outcome must be valid (it reads back from its JSON into the same JSON), and the
    result must not change once made (docs/engine.md, "The result")."""
    case = data.draw(cases(name))
    explain = data.draw(st.booleans())
    try:
        result = process(case, explain=explain)
    except EventError:
        return
    outcome = result.outcome()
    assert result.outcome() is outcome  # built once
    text = outcome.model_dump_json()
    again = Outcome.model_validate_json(text)
    assert again.model_dump_json() == text  # a valid outcome
    # the effects' models are made without validation (result.py): the same as validated ones
    assert again.effects == outcome.effects
    made = [outcome.effects, *outcome.effects.points, *outcome.effects.discounts]
    validated = [again.effects, *again.effects.points, *again.effects.discounts]
    assert [m.model_fields_set for m in made] == [m.model_fields_set for m in validated]
    shares = [s for m in made[1:] for s in m.lines]  # type: ignore[attr-defined]
    assert [s.model_fields_set for s in shares] == [{"line", "sku", "amount"}] * len(shares)
    assert [(a.rule, a.points, a.available_at) for a in outcome.effects.points] == [
        (a.rule, a.points, a.available_at) for a in result.awards
    ]
    assert [[(s.line, s.sku, s.amount) for s in a.lines] for a in outcome.effects.points] == [
        list(a.lines) for a in result.awards
    ]
    assert [[(s.line, s.sku, s.amount) for s in d.lines] for d in outcome.effects.discounts] == [
        list(d.lines) for d in result.discounts
    ]
    assert [(d.rule, d.amount) for d in outcome.effects.discounts] == [
        (d.rule, d.amount) for d in result.discounts
    ]
    assert outcome.state is result.state and outcome.totals is result.totals
    assert outcome.trace == list(result.trace)
    assert sum((a.points for a in result.awards), Decimal(0)) == result.points
    # the new state's lots and ledger keep each award's lines as the award gave them
    for award in result.awards:
        lot_id = f"{result.event}/{award.rule}"
        entry = next(e for e in result.new_ledger_entries if e.lot == lot_id and e.kind == "earn")
        assert [(share.line, share.points) for share in entry.lines] == [(i, p) for i, _, p in award.lines]
    with pytest.raises(AttributeError):
        result.awards = ()  # type: ignore[misc]
