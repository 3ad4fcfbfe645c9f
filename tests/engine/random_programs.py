"""Random loyalty programs and event streams, for differential and property tests (hypothesis).

The example programs are five points in the space of programs; a defect often needs a
combination none of them has — a multiplier in an exclusive group with a per-day cap, per-line
rounding with a tier multiplier in a zero-decimal currency, a return after a redemption emptied
the lots. `programs()` draws program files from the documented sections (points and where they
are rounded, pending and expiry, returns, the earning base, tiers with multipliers and
discounts, earn rules of every kind with conditions, schedules, caps, groups and priorities,
discounts, a catalog) and `streams()` draws what customers do with them: purchases, returns of
what they bought, redemptions, with gaps from minutes to months across pending periods,
expiries, tier windows and schedules. Both are valid by construction: a drawn program that does
not validate is a defect of the generator or of the validator, and the tests say so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

# (sku, category): three categories, so that conditions on a category hold for some lines only.
PRODUCTS = (
    ("TEA-1", "drink"),
    ("TEA-2", "drink"),
    ("CAKE-1", "food"),
    ("CAKE-2", "food"),
    ("CARD-1", "gift"),
    ("MUG-1", "goods"),
)
CURRENCIES = {"EUR": 2, "USD": 2, "JPY": 0, "BHD": 3}  # code → decimals (zero and three too)
ZONES = ("UTC", "Europe/Berlin", "America/Chicago", "Asia/Tokyo")
START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
CATALOG_COST = 50


@dataclass(frozen=True)
class Drawn:
    """A drawn program: its YAML text and what a stream needs to know of it."""

    text: str
    currency: str
    decimals: int


def _condition(draw: st.DrawFn, tiers: list[str]) -> str:
    """A basket or customer condition from the ones marketers write most."""
    menu = [
        f"basket.total >= {draw(st.integers(1, 300))}",
        f"event.time.hour < {draw(st.integers(6, 20))}",
        'any(item.category == "food" for item in basket.items)',
        f"basket.item_count >= {draw(st.integers(2, 5))}",
        "len(customer.purchases) == 0",
        'event.time.weekday == "tue"',
    ]
    if tiers:
        menu.append(f'customer.tier == "{draw(st.sampled_from(tiers))}"')
    return draw(st.sampled_from(menu))


def _item_condition(draw: st.DrawFn) -> str:
    return draw(
        st.sampled_from(
            [
                'item.category == "food"',
                'item.category == "drink"',
                'item.sku == "MUG-1"',
                "item.qty >= 2",
                'item.category != "gift"',
                # inlined by the generated path as they are compound (generate_lines.py)
                'item.category in ["food", "drink"] and item.price * item.qty >= 5',
                'not (item.sku == "MUG-1" or item.qty > 2)',
                # not one expression: called as its function
                "any(line.sku == item.sku for line in basket.items if line.qty >= 2)",
            ]
        )
    )


def _percent() -> st.SearchStrategy[str]:
    """A discount's percent: whole, odd (a cut of 12.5 % or 33.33 % is half a minor unit now and
    then: rounded half up), and one of more digits than the generated path cuts on integers (it
    keeps the stage's decimals for those, generate_pricing.py)."""
    return st.one_of(
        st.integers(1, 50).map(str),
        st.sampled_from(["12.5", "33.33", "7.5", "0.5", "99.99", "100", "12.34567"]),
    )


def _cap(draw: st.DrawFn) -> str | None:
    if not draw(st.booleans()):
        return None
    period = draw(st.sampled_from(["per_event", "per_day", "per_week", "per_month", "lifetime"]))
    return f"{{{period}: {draw(st.integers(1, 80))}}}"


def _budget(draw: st.DrawFn) -> str:
    """A program-wide budget small enough to run out within a stream, in any of its periods."""
    period = draw(st.sampled_from(["day", "week", "month", "year", "program"]))
    return f"{{points: {draw(st.integers(1, 150))}, period: {period}}}"


def _rule(
    draw: st.DrawFn, number: int, tiers: list[str], groups: dict[str, set[int]], budgets: bool = False
) -> str:
    kind = draw(st.sampled_from(["rate", "rate", "award", "per_item", "multiply", "multiply_items"]))
    lines = [f"  - id: r{number}"]
    if kind == "rate":
        points = draw(st.sampled_from(["1", "2", "5", "10", "1.5", "0.25"]))  # exact fractions of odd terms
        lines.append(f"    rate: {points} per {draw(st.sampled_from(['1', '3', '7', '10', '100', '2.5']))}")
        if draw(st.booleans()):
            lines.append(f"    exclude: {_item_condition(draw)}")
    elif kind == "award":
        lines.append(f"    award: {draw(st.integers(1, 60))}")
        lines.append(f"    when: {_condition(draw, tiers)}")
    elif kind == "per_item":
        lines.append(f"    for_each_item: {_item_condition(draw)}")
        awards = ["5", "3 * item.qty", "item.qty", "2 * item.qty - 3", "item.price * item.qty / 7"]
        lines.append(f"    award: {draw(st.sampled_from(awards))}")
    else:
        lines.append(f"    multiply: {draw(st.sampled_from(['1.5', '2', '3', '1.25']))}")
        if kind == "multiply_items":
            lines.append(f"    for_each_item: {_item_condition(draw)}")
        elif draw(st.booleans()):
            lines.append(f"    when: {_condition(draw, tiers)}")
    if draw(st.integers(0, 3)) == 0:
        days = draw(
            st.lists(
                st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        lines.append(f"    active: {{weekdays: [{', '.join(days)}]}}")
    elif draw(st.integers(0, 4)) == 0:
        lines.append("    active: {start: 2026-02-01, end: 2026-03-15}")
    if (cap := _cap(draw)) is not None:
        lines.append(f"    cap: {cap}")
    if budgets and draw(st.integers(0, 2)) == 0:
        lines.append(f"    budget: {_budget(draw)}")
    if draw(st.integers(0, 2)) == 0:
        group = draw(st.sampled_from(["g1", "g2"]))
        taken = groups.setdefault(group, set())
        priority = draw(st.integers(0, 20).filter(lambda p: p not in taken))  # equal priorities: RE124
        taken.add(priority)
        lines += [f"    group: {group}", f"    priority: {priority}"]
    elif draw(st.booleans()):
        lines.append(f"    priority: {draw(st.integers(0, 20))}")
    return "\n".join(lines)


@st.composite
def programs(
    draw: st.DrawFn,
    rounds: tuple[str, ...] = ("per_award", "per_rule", "per_line"),
    gamified: bool = False,
    budgets: bool = False,
) -> Drawn:
    """A program drawn from the documented sections; `rounds`: the `points.round` modes drawn from;
    `gamified`: always with challenges, a quest and an automatic badge; `budgets`: earn rules may
    have a small program-wide budget (a store counts it across customers: the caller does)."""
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    decimals = CURRENCIES[currency]
    parts = [
        "program: random-shop",
        "version: 1",
        f"timezone: {draw(st.sampled_from(ZONES))}",
        f"currency: {currency}",
        "points:",
        f"  rounding: {draw(st.sampled_from(['floor', 'round', 'ceil']))}",
        f"  round: {draw(st.sampled_from(rounds))}",
        f"  negative_balance: {draw(st.sampled_from(['allow', 'write_off']))}",
    ]
    if draw(st.booleans()):
        parts.append(f"  pending: {draw(st.sampled_from(['1d', '14d', '30d']))}")
    expires = draw(st.booleans())
    if expires:
        parts.append(f"  expire_after: {draw(st.sampled_from(['45d', '90d', '365d']))}")
    if draw(st.booleans()):
        parts += ["returns:", f"  within: {draw(st.sampled_from(['10d', '30d']))}"]
    parts += [
        "earning_base:",
        f"  include_tax: {str(draw(st.booleans())).lower()}",
        f"  include_shipping: {str(draw(st.booleans())).lower()}",
    ]
    if draw(st.booleans()):
        parts.append('  exclude: item.category == "gift"')
    tiers: list[str] = []
    if draw(st.booleans()):
        qualify = draw(st.sampled_from(["spend", "points", "visits"]))
        window = draw(st.sampled_from(["rolling 30d", "calendar_month", "lifetime", "calendar_year"]))
        parts += ["tiers:", f"  qualify_on: {qualify}", f"  window: {window}"]
        if window.startswith("calendar"):
            parts.append(f"  hold: {draw(st.sampled_from(['rest_of_period', 'next_period', '{for: 60d}']))}")
        parts.append(f"  downgrade: {draw(st.sampled_from(['one_level', 'to_qualified']))}")
        parts.append("  levels:")
        parts.append("    - {id: t0, threshold: 0}")
        threshold = 0
        tiers.append("t0")
        for level in range(1, draw(st.integers(2, 3))):
            threshold += draw(st.integers(1, 400)) if qualify != "visits" else draw(st.integers(1, 4))
            benefits = [f"earn_multiplier: {draw(st.sampled_from(['1.25', '1.5', '2']))}"]
            if draw(st.booleans()):
                benefits.append(f"discount_percent: {draw(_percent())}")
            parts.append(
                f"    - {{id: t{level}, threshold: {threshold}, benefits: {{{', '.join(benefits)}}}}}"
            )
            tiers.append(f"t{level}")
    groups: dict[str, set[int]] = {}
    parts.append("earn:")
    parts += [_rule(draw, number, tiers, groups, budgets) for number in range(draw(st.integers(1, 5)))]
    if draw(st.booleans()):
        parts.append("discounts:")
        for number in range(draw(st.integers(1, 2))):
            parts.append(f"  - id: d{number}")
            if draw(st.booleans()):
                parts.append(f"    when: {_condition(draw, tiers)}")
            kind = draw(st.sampled_from(["percent", "percent_all", "order", "line", "unit"]))
            if kind in ("percent", "line", "unit"):
                parts.append(f"    applies_to: {_item_condition(draw)}")
            if kind.startswith("percent"):
                parts.append(f"    percent: {draw(_percent())}")
            else:  # then a percent after it cuts what the amount left (on integers, read again)
                # none finer than the currency's minor unit (RE133): 0.5 and 2.25 only with cents
                amounts = ["1", "5", "20", "0.5", "2.25"][: 3 + min(decimals, 2)]
                parts.append(f"    amount: {draw(st.sampled_from(amounts))}")
                parts.append(f"    per: {kind}")
            if draw(st.integers(0, 4)) == 0:
                parts.append("    free_shipping: true")
    parts += _mechanics(draw, tiers, expires, gamified)
    return Drawn("\n".join(parts) + "\n", currency, decimals)


def _reward(draw: st.DrawFn, badges: list[str]) -> str:
    """A mechanic's reward: points, a badge or both."""
    given = [f"points: {draw(st.integers(1, 200))}"]
    if badges and draw(st.booleans()):
        given.append(f"badge: {draw(st.sampled_from(badges))}")
    return "{" + ", ".join(given) + "}"


# What a challenge counts: events, lines, quantities, money; sums and counts of the lines (the
# engine's one-pass path), with a filter, with a null to skip, and forms that pass it by (the
# basket read inside, a `max`, a number of the whole basket).
_COUNTS = (
    None,
    'count(item.category == "drink" for item in basket.items)',
    "sum(item.qty for item in basket.items)",
    'sum(item.qty for item in basket.items if item.category != "gift")',
    "count(item.qty >= 2 for item in basket.items)",
    "sum(item.price * item.qty for item in basket.items)",
    "sum(item.weight for item in basket.items)",  # a custom attribute no line sends: null
    "count(item.price * item.qty * 2 >= basket.total for item in basket.items)",
    "max(item.qty for item in basket.items)",
    "basket.item_count",
    "2",
)


def _challenge(draw: st.DrawFn, number: int, tiers: list[str], badges: list[str]) -> list[str]:
    """A challenge: what it counts, its goal, window, repeat, events, schedule and condition."""
    counts = draw(st.sampled_from(_COUNTS))
    window = draw(st.sampled_from(["calendar_week", "calendar_month", "rolling 7d", "lifetime"]))
    goal = draw(st.integers(1, 6)) if counts is None or "price" not in counts else draw(st.integers(50, 900))
    lines = [f"  - id: ch{number}", f"    goal: {goal}", f"    window: {window}"]
    if counts is not None:
        lines.append(f"    counts: {counts}")
    if draw(st.integers(0, 3)) == 0:
        lines.append(f"    on: {draw(st.sampled_from(['[review]', '[purchase, review]', '[app_open]']))}")
    if draw(st.integers(0, 2)) == 0:
        lines.append(f"    when: {draw(st.sampled_from([_condition(draw, tiers), 'customer.points >= 20']))}")
    if draw(st.integers(0, 3)) == 0:
        lines.append("    active: {weekdays: [mon, tue, wed, sat]}")
    repeat = draw(st.sampled_from(["every_window", "once"]))
    lines += [f"    repeat: {repeat}", f"    reward: {_reward(draw, badges)}"]
    return lines


def _mechanics(draw: st.DrawFn, tiers: list[str], expires: bool, gamified: bool = False) -> list[str]:
    """The sections beyond points: challenges, quests, badges, streaks, birthday, offers and their
    coupons, the catalog, notifications, late events — each drawn or not."""
    parts: list[str] = []
    badges = ["b-given"]
    parts += ["badges:", "  - {id: b-given, name: Given}"]
    if gamified or draw(st.booleans()):
        parts.append(
            f"  - {{id: b-auto, name: Auto, on: [purchase, review], when: {_condition(draw, tiers)}}}"
        )
    if draw(st.booleans()):
        parts.append(
            f"  - {{id: b-paid, name: Paid, on: [review], reward: {{points: {draw(st.integers(1, 50))}}}}}"
        )
    if gamified or draw(st.booleans()):
        parts.append("challenges:")
        for number in range(draw(st.integers(1, 2))):
            parts += _challenge(draw, number, tiers, badges)
    if gamified or draw(st.booleans()):
        parts += [
            "quests:",
            "  - id: qu",
            f"    within: {draw(st.sampled_from(['3d', '30d']))}",
            f"    ordered: {str(draw(st.booleans())).lower()}",
            "    steps:",
            '      - when: any(item.category == "food" for item in basket.items)',
            "      - on: review",
            f"      - when: basket.total >= {draw(st.integers(1, 100))}",
            f"    reward: {_reward(draw, badges)}",
        ]
    if draw(st.booleans()):
        unit = draw(st.sampled_from(["day", "week"]))
        first, second = draw(st.integers(2, 3)), draw(st.integers(4, 6))
        parts += [
            "streaks:",
            "  - id: st",
            "    on: app_open",
            f"    unit: {unit}",
            "    milestones:",
            f"      - {{length: {first}, reward: {{points: {draw(st.integers(1, 30))}}}}}",
            f"      - {{length: {second}, reward: {_reward(draw, badges)}}}",
            f"    repeat: {str(draw(st.booleans())).lower()}",
        ]
    if draw(st.booleans()):
        window = draw(st.sampled_from(["day", "month", "around"]))
        parts += ["birthday:", f"  window: {window}"]
        if window == "around":
            parts.append(f"  days: {draw(st.integers(1, 10))}")
        parts += ["  on: [purchase, app_open]", f"  reward: {_reward(draw, badges)}"]
    coupons = draw(st.booleans())
    if coupons:
        parts += [
            "coupons:",
            f"  - {{id: cp, percent: {draw(st.integers(5, 30))}, valid_for: 30d}}",
            "offers:",
            "  - id: of",
            f"    when: {_condition(draw, tiers)}",
            "    on: [app_open, purchase]",
            "    coupon: cp",
            f"    limit: {{count: 1, per: {draw(st.sampled_from(['7d', '365d']))}}}",
            "    notify: {channel: push, template: offer}",
        ]
    gift = ", reward: {coupon: cp}" if coupons and draw(st.booleans()) else ""
    parts += ["catalog:", f"  - {{id: gift, name: A gift, cost: {CATALOG_COST}{gift}}}"]
    if draw(st.booleans()):
        settings = []
        if draw(st.booleans()):
            settings.append(f"  frequency_cap: {{count: {draw(st.integers(1, 3))}, per: 7d}}")
            if draw(st.booleans()):
                settings.append("  max_delay: 2d")
        if draw(st.booleans()):
            settings.append('  quiet_hours: {start: "21:00", end: "09:00"}')
        if expires:
            settings.append("  points_expiring: {before: 14d, template: expiring}")
        if tiers:
            settings.append("  tier_downgrade: {before: 30d, template: tier_at_risk}")
        if settings:
            parts += ["notifications:", *settings]
    if draw(st.booleans()):
        parts += ["late_events:", f"  accept_within: {draw(st.sampled_from(['1d', '7d']))}"]
    if any("item.weight" in part for part in parts):
        parts += ["attributes:", "  item:", "    weight: number"]
    return parts


def _price(draw: st.DrawFn, decimals: int) -> Decimal:
    minor = draw(st.integers(1, 30_000 * 10**decimals // 100))
    return Decimal(minor).scaleb(-decimals)


@st.composite
def streams(
    draw: st.DrawFn,
    drawn: Drawn,
    customers: int = 2,
    events: int = 14,
    products: tuple[tuple[str, str], ...] = PRODUCTS,
) -> list[dict[str, Any]]:
    """What `customers` customers do over months: sign-ups (with a birthday, a time zone), purchases,
    returns of what they bought (some of it, or more than is left: refused), redemptions (some
    refused for too few points), app opens, reviews; now and then an event dated before the
    customer's latest (late: taken within `late_events`, refused otherwise), or at the same instant
    as the one before; now and then a time with microseconds.
    `products`: the (sku, category) lines are drawn from (an example program's categories, for its
    conditions)."""
    stream: list[dict[str, Any]] = []
    bought: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    time = START
    for number in range(draw(st.integers(1, events))):
        gaps = [0, 1, 30, 60 * 5, 60 * 24, 60 * 24 * 9, 60 * 24 * 40, 60 * 24 * 200]
        time += dt.timedelta(minutes=draw(st.sampled_from(gaps)))
        customer = f"c{draw(st.integers(1, customers))}"
        kind = draw(
            st.sampled_from(["purchase", "purchase", "purchase", "return", "redeem", "app_open", "review"])
        )
        moment = time
        if (
            draw(st.integers(0, 5)) == 0
        ):  # late: before the customer's latest event (refused without late_events)
            moment = time - dt.timedelta(hours=draw(st.sampled_from([2, 30, 24 * 10])))
        if draw(st.integers(0, 7)) == 0:
            moment += dt.timedelta(microseconds=draw(st.sampled_from([1, 500_000, 999_999])))
        base = {"id": f"e{number}", "time": moment.isoformat(), "customer": customer}
        if customer not in seen:
            seen.add(customer)
            if draw(st.booleans()):
                signup: dict[str, Any] = {**base, "id": f"s{number}", "type": "signup"}
                if draw(st.booleans()):
                    signup["birthday"] = (
                        (time + dt.timedelta(days=draw(st.integers(-20, 40))))
                        .date()
                        .replace(year=1990)
                        .isoformat()
                    )
                if draw(st.integers(0, 3)) == 0:
                    signup["timezone"] = draw(st.sampled_from(ZONES))
                stream.append(signup)
        if kind in ("app_open", "review"):
            stream.append({**base, "type": kind})
        elif kind == "return" and bought.get(customer):
            purchase = draw(st.sampled_from(bought[customer]))
            lines = draw(st.lists(st.sampled_from(purchase["items"]), min_size=1, max_size=2, unique_by=id))
            items = [{"sku": line["sku"], "qty": draw(st.integers(1, line["qty"]))} for line in lines]
            stream.append({**base, "type": "return", "purchase": purchase["id"], "items": items})
        elif kind == "redeem":
            stream.append({**base, "type": "redeem", "item": "gift"})
        else:
            items = []
            for sku, category in draw(
                st.lists(st.sampled_from(products), min_size=1, max_size=4, unique=True)
            ):
                price = _price(draw, drawn.decimals)
                items.append(
                    {"sku": sku, "category": category, "price": price, "qty": draw(st.integers(1, 3))}
                )
            event = {**base, "type": "purchase", "items": items}
            if draw(st.integers(0, 3)) == 0:
                event["shipping"] = _price(draw, drawn.decimals)
            if draw(st.integers(0, 3)) == 0:  # included in the prices: a part of the first line's
                event["tax"] = (items[0]["price"] / 5).quantize(
                    Decimal(1).scaleb(-drawn.decimals), "ROUND_DOWN"
                )
            stream.append(event)
            bought.setdefault(customer, []).append(event)
    return stream
