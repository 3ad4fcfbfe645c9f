"""A valid `Program` → diagnostics for what ties its sections together.

Duplicate ids and references to badges, coupons and draws that are not defined (RE121–RE124, with
"did you mean"), money (RE125, RE126) and fields the model accepts that the engine could not honour
in that combination (RE129).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from typing import Any

from pydantic import BaseModel

from rules_engine.errors import Diagnostic, RulesEngineError
from rules_engine.program.compile import ExpressionSite
from rules_engine.program.currencies import MINOR_UNITS
from rules_engine.program.model import Program, Reward
from rules_engine.program.scalars import NodePath, SourceMap

# -- ids and references --------------------------------------------------------------------------


def reference_problems(program: Program, source_map: SourceMap) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    known: dict[str, list[str]] = {}
    for section in (
        "earn",
        "discounts",
        "challenges",
        "quests",
        "badges",
        "streaks",
        "coupons",
        "offers",
        "catalog",
        "draws",
        "leaderboards",
    ):
        seen: dict[str, int] = {}
        for index, entry in enumerate(getattr(program, section)):
            if entry.id in seen:
                first = source_map.span((section, seen[entry.id], "id"))
                problems.append(
                    Diagnostic(
                        "RE121",
                        f"duplicate id `{entry.id}` in {section}",
                        source_map.span((section, index, "id")),
                        f"ids must be unique; the first `{entry.id}` is on line {first.line}",
                    )
                )
            else:
                seen[entry.id] = index
        known[section] = list(seen)
    if program.tiers is not None:
        levels = program.tiers.levels
        seen_tiers: dict[str, int] = {}
        for index, level in enumerate(levels):
            if level.id in seen_tiers:
                problems.append(
                    Diagnostic(
                        "RE121",
                        f"duplicate tier id `{level.id}`",
                        source_map.span(("tiers", "levels", index, "id")),
                        "tier ids must be unique",
                    )
                )
            seen_tiers[level.id] = index
            if index and level.threshold < levels[index - 1].threshold:
                problems.append(
                    Diagnostic(
                        "RE123",
                        f"tier `{level.id}` needs {level.threshold}, "
                        f"less than `{levels[index - 1].id}` before it ({levels[index - 1].threshold})",
                        source_map.span(("tiers", "levels", index, "threshold")),
                        "list tiers from the lowest threshold to the highest",
                    )
                )
    for path, reward in rewards(program):
        problems += _reward_references(path, reward, known, source_map)
    for index, offer in enumerate(program.offers):
        if offer.coupon not in known["coupons"]:
            problems.append(
                _unknown(
                    "coupon", offer.coupon, known["coupons"], source_map.span(("offers", index, "coupon"))
                )
            )
    groups: dict[tuple[str, str, int], int] = {}
    for section in ("earn", "discounts"):
        for index, rule in enumerate(getattr(program, section)):
            if rule.group is None:
                continue
            key = (section, rule.group, rule.priority)
            if key in groups:
                other = getattr(program, section)[groups[key]]
                problems.append(
                    Diagnostic(
                        "RE124",
                        f"`{rule.id}` and `{other.id}` share exclusive group `{rule.group}` "
                        f"with the same priority {rule.priority}",
                        source_map.span(
                            (section, index, "priority")
                            if "priority" in rule.model_fields_set
                            else (section, index, "group")
                        ),
                        "give them different priorities: the higher one wins, never the order in the file",
                    )
                )
            else:
                groups[key] = index
    return problems


def rewards(program: Program) -> Iterator[tuple[NodePath, Reward]]:
    for path, value in walk(program, ()):
        if isinstance(value, Reward):
            yield path, value


def walk(value: Any, path: NodePath) -> Iterator[tuple[NodePath, Any]]:
    """Every model, list element and field value with its path, iteratively."""
    stack: list[tuple[NodePath, Any]] = [(path, value)]
    while stack:
        here, node = stack.pop()
        yield here, node
        if isinstance(node, BaseModel):
            for name in reversed(list(type(node).model_fields)):
                child = getattr(node, name)
                if child is not None:
                    stack.append(((*here, name), child))
        elif isinstance(node, list):
            stack.extend(((*here, i), child) for i, child in reversed(list(enumerate(node))))


def _reward_references(
    path: NodePath, reward: Reward, known: dict[str, list[str]], source_map: SourceMap
) -> list[Diagnostic]:
    problems = []
    if reward.badge is not None and reward.badge not in known["badges"]:
        problems.append(_unknown("badge", reward.badge, known["badges"], source_map.span((*path, "badge"))))
    if reward.coupon is not None and reward.coupon not in known["coupons"]:
        problems.append(
            _unknown("coupon", reward.coupon, known["coupons"], source_map.span((*path, "coupon")))
        )
    if reward.entries is not None and reward.entries.draw not in known["draws"]:
        problems.append(
            _unknown("draw", reward.entries.draw, known["draws"], source_map.span((*path, "entries", "draw")))
        )
    return problems


def _unknown(kind: str, name: str, known: list[str], span: Any) -> Diagnostic:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    section = {"badge": "badges", "coupon": "coupons", "draw": "draws"}[kind]
    if close:
        hint = f"did you mean `{close[0]}`?"
    elif known:
        hint = f"known {section}: {', '.join(known)}"
    else:
        hint = f"define it under `{section}:`"
    return Diagnostic("RE122", f"no {kind} `{name}` is defined", span, hint)


# -- money, and fields the engine could not honour together ------------------------------------


def money_problems(program: Program, source_map: SourceMap, sites: list[ExpressionSite]) -> list[Diagnostic]:
    """A currency that is not ISO 4217 (RE126), an amount off finer than the currency's minor unit
    (RE133) and an earn rule's award below zero (RE125)."""
    problems: list[Diagnostic] = []
    decimals = MINOR_UNITS.get(program.currency)
    if decimals is not None:
        problems += _amounts_off(program, source_map, decimals)
    if program.currency not in MINOR_UNITS:
        close = difflib.get_close_matches(program.currency, sorted(MINOR_UNITS), n=1, cutoff=0.6)
        problems.append(
            Diagnostic(
                "RE126",
                f"`{program.currency}` is not an ISO 4217 currency code",
                source_map.span(("currency",)),
                f"did you mean {close[0]}?"
                if close
                else "use the three-letter code of your currency, e.g. EUR, USD, RUB",
            )
        )
    for index, value in constant_awards(program, sites):
        if value < 0:
            problems.append(
                Diagnostic(
                    "RE125",
                    f"the award of `{program.earn[index].id}` is {value}: earn rules never take points away",
                    source_map.span(("earn", index, "award")),
                    "write a positive number; to take points back, the engine reverses them on a return",
                )
            )
    return problems


def _amounts_off(program: Program, source_map: SourceMap, decimals: int) -> Iterator[Diagnostic]:
    """A discount's or coupon's `amount` finer than the currency's minor unit (`2.25` yen): money
    off that no till can give, which would leave a basket to pay and an earning base in fractions
    of a yen. Refused, as an event's price of `100.005` RUB is (RE410), rather than rounded."""
    unit = Decimal(1).scaleb(-decimals)
    offers: list[tuple[str, int, str, Decimal | None]] = [
        *(("discounts", index, offer.id, offer.amount) for index, offer in enumerate(program.discounts)),
        *(("coupons", index, offer.id, offer.amount) for index, offer in enumerate(program.coupons)),
    ]
    for section, index, name, amount in offers:
        if amount is None or _places(amount) <= decimals:
            continue
        low = amount.quantize(unit, rounding=ROUND_DOWN)
        closest = f"{low} or {low + unit}"
        places = "no decimals" if decimals == 0 else f"{decimals} decimal{'s' if decimals > 1 else ''}"
        yield Diagnostic(
            "RE133",
            f"`{name}` takes {amount} {program.currency} off: {program.currency} amounts have {places}",
            source_map.span((section, index, "amount")),
            f"write an amount a till can give, e.g. {closest}",
        )


def _places(amount: Decimal) -> int:
    """How many decimals `amount` needs (`2.50` one, `2` none)."""
    exponent = amount.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def constant_awards(program: Program, sites: list[ExpressionSite]) -> Iterator[tuple[int, Decimal]]:
    """(rule index, value) of each earn rule whose award is a number, or an expression that reads
    nothing from the event, basket or customer (its value is known now)."""
    compiled = {site.path: site.expression for site in sites}
    for index, rule in enumerate(program.earn):
        award = rule.award
        if award is None:
            continue
        if not isinstance(award, str):
            yield index, Decimal(award)
            continue
        expression = compiled.get(("earn", index, "award"))
        if expression is None or expression.roots:
            continue
        try:
            value = expression.evaluate({})
        except RulesEngineError:
            continue
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            yield index, Decimal(value)


def ignored_combinations(program: Program, source_map: SourceMap) -> list[Diagnostic]:
    """Fields the model accepts that the engine could not honour in this combination (RE129):
    refused here rather than silently ignored on every event."""
    problems: list[Diagnostic] = []

    def refuse(message: str, path: NodePath, hint: str) -> None:
        problems.append(
            Diagnostic("RE129", message, source_map.key_span(path) or source_map.span(path), hint)
        )

    without_lines = {  # what a per-line field of an earn rule would do on events without lines
        "for_each_item": ("it could never give points", "add purchase to `on`, or give a fixed `award`"),
        "rate": ("it could never give points", "add purchase to `on`, or give a fixed `award`"),
        "exclude": ("it would never leave anything out", "add purchase to `on`, or remove `exclude`"),
    }
    for index, rule in enumerate(program.earn):
        if "purchase" in rule.on:
            continue
        for name, (effect, hint) in without_lines.items():
            if getattr(rule, name) is not None:
                refuse(
                    f"`{rule.id}` has `{name}` but applies only to {', '.join(rule.on)} events, "
                    f"which have no basket lines: {effect}",
                    ("earn", index, name),
                    hint,
                )
    for index, item in enumerate(program.catalog):
        if item.reward is not None and item.reward.points is not None:
            refuse(
                f"catalog item `{item.id}` gives points for points",
                ("catalog", index, "reward", "points"),
                "lower its `cost` instead, or give a coupon, a badge or draw entries",
            )
    points = program.points
    if (
        points.pending is not None
        and points.expire_after is not None
        and points.pending >= points.expire_after
    ):
        refuse(
            "points would expire before they can be spent: `pending` is not shorter than `expire_after`",
            ("points", "pending"),
            "make `pending` shorter than `expire_after` (pending: 14d, expire_after: 365d)",
        )
    for section in ("discounts", "coupons"):
        for index, offer in enumerate(getattr(program, section)):
            if offer.applies_to is not None and offer.percent is None and offer.amount is None:
                refuse(
                    f"`{offer.id}` gives only free shipping, which `applies_to` cannot limit to lines",
                    (section, index, "applies_to"),
                    "remove `applies_to`, or give a percent or an amount off the lines it matches",
                )
    applies = {coupon.id: coupon.applies_to for coupon in program.coupons}
    for index, offer in enumerate(program.offers):
        if (
            "skip_bought" in offer.model_fields_set
            and offer.skip_bought
            and applies.get(offer.coupon) is None
        ):
            refuse(
                f"`skip_bought` cannot work: coupon `{offer.coupon}` applies to the whole basket, so no line "
                "says what was bought",
                ("offers", index, "skip_bought"),
                f"give coupon `{offer.coupon}` an `applies_to`, or remove `skip_bought`",
            )
    notifications = program.notifications
    if notifications.points_expiring is not None and program.points.expire_after is None:
        refuse(
            "`points_expiring` reminds customers of points that expire, but points never expire",
            ("notifications", "points_expiring"),
            "set points: {expire_after: 365d}, or remove the reminder",
        )
    if notifications.tier_downgrade is not None and program.tiers is None:
        refuse(
            "`tier_downgrade` reminds customers of a tier they may lose, but the program has no tiers",
            ("notifications", "tier_downgrade"),
            "add `tiers:`, or remove the reminder",
        )
    return problems


def choice_problems(program: Program, source_map: SourceMap) -> list[Diagnostic]:
    """How offers are chosen and messages wait, stated so the engine can honour it: an offer
    without the expected value `next_best_offer` ranks by (RE130), quiet hours that are never
    or always on (RE131), a field nothing reads in this program (RE132)."""
    problems: list[Diagnostic] = []

    def refuse(code: str, message: str, path: NodePath, hint: str) -> None:
        problems.append(Diagnostic(code, message, source_map.key_span(path) or source_map.span(path), hint))

    choice = program.next_best_offer
    by_value = choice is not None and choice.by == "expected_value"
    for index, offer in enumerate(program.offers):
        if by_value and offer.expected_value is None:
            refuse(
                "RE130",
                f"offer `{offer.id}` has no `expected_value`, which `next_best_offer` ranks offers by",
                ("offers", index),
                "add expected_value: … (a number or an expression), e.g. expected_value: 0.2 * 15",
            )
        if not by_value and offer.expected_value is not None:
            refuse(
                "RE132",
                f"offer `{offer.id}` has an `expected_value`, but offers are not chosen by it",
                ("offers", index, "expected_value"),
                "add next_best_offer: {by: expected_value, at_most: {count: 1, per: 7d}}, or remove it",
            )
        if choice is None and "priority" in offer.model_fields_set:
            refuse(
                "RE132",
                f"offer `{offer.id}` has a `priority`, but without `next_best_offer` every eligible "
                "offer is issued",
                ("offers", index, "priority"),
                "add next_best_offer: {by: priority, at_most: {count: 1, per: 7d}}, or remove it",
            )
    notifications = program.notifications
    quiet = notifications.quiet_hours
    if quiet is not None and quiet.start == quiet.end:
        refuse(
            "RE131",
            f"quiet hours from {quiet.start:%H:%M} to {quiet.end:%H:%M} are empty",
            ("notifications", "quiet_hours"),
            'give the hours no message goes out, e.g. {start: "21:00", end: "09:00"}',
        )
    if notifications.max_delay is not None and notifications.frequency_cap is None and quiet is None:
        refuse(
            "RE132",
            "`max_delay` says how long a message may wait for quiet hours or the frequency cap, but "
            "there are neither",
            ("notifications", "max_delay"),
            "add frequency_cap: {count: 3, per: 7d} or quiet_hours, or remove `max_delay`",
        )
    return problems
