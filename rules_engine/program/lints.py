"""A valid `Program` and its compiled expressions → warnings: what probably does not do what its
author meant (RE5xx, RE127, RE128). They block only under `--strict`."""

from __future__ import annotations

import datetime as dt

from rules_engine.dsl import types as t
from rules_engine.errors import Diagnostic, Severity
from rules_engine.program.compile import ExpressionSite
from rules_engine.program.model import Program, Schedule
from rules_engine.program.reasoning import reasoning
from rules_engine.program.references import constant_awards, rewards, walk
from rules_engine.program.scalars import NodePath, SourceMap


def lints(
    program: Program, source_map: SourceMap, sites: list[ExpressionSite], today: dt.date | None = None
) -> list[Diagnostic]:
    """Warnings about a valid program that probably does not do what its author meant."""
    today = today or dt.datetime.now(program.zone).date()  # lint only: the engine never reads the clock
    warnings: list[Diagnostic] = []

    def warn(code: str, message: str, path: NodePath, hint: str) -> None:
        warnings.append(Diagnostic(code, message, source_map.span(path), hint, Severity.WARNING))

    for path, node in walk(program, ()):
        if isinstance(node, Schedule) and node.end is not None and node.end < today:
            warn(
                "RE501",
                f"this schedule ended on {node.end}, so the rule can never apply again",
                (*path, "end"),
                "update the dates, or remove the rule",
            )
    for site in sites:
        warnings += site.expression.warnings  # RE312: nested loops over the data
        if site.expression.type.kind is t.Kind.BOOL and not site.expression.roots:
            value = site.expression.evaluate({})
            if value is not True:
                warn(
                    "RE502",
                    "this condition is always false, so the rule can never apply",
                    site.path,
                    "check the condition: it reads nothing from the event, basket or customer",
                )
    if program.tiers is not None:
        levels = program.tiers.levels
        for index in range(1, len(levels)):
            if levels[index].threshold == levels[index - 1].threshold:
                warn(
                    "RE503",
                    f"tiers `{levels[index - 1].id}` and `{levels[index].id}` have the same threshold",
                    ("tiers", "levels", index, "threshold"),
                    "give each tier its own threshold",
                )
    for index, rule in enumerate(program.earn):
        unbounded = rule.multiply is not None or rule.for_each_item is not None
        if unbounded and rule.cap is None and rule.budget is None:
            kind = "multiplier" if rule.multiply is not None else "per-item award"
            warn(
                "RE504",
                f"the {kind} `{rule.id}` has no cap and no budget",
                ("earn", index),
                "add cap: {per_event: …} or budget: {points: …} so a large basket cannot cost a fortune",
            )
    for section in ("discounts", "coupons"):
        for index, offer in enumerate(getattr(program, section)):
            if offer.amount is not None and offer.applies_to is not None and offer.per is None:
                warn(
                    "RE507",
                    f"`{offer.id}` takes {offer.amount} off each matching line once, however many units "
                    "it has",
                    (section, index, "amount"),
                    f"say which you mean: per: line (as now), per: unit ({offer.amount} off every unit) "
                    f"or per: order ({offer.amount} off once)",
                )
    tiers = program.tiers
    if tiers is not None and tiers.hold is None and tiers.window.kind.startswith("calendar_"):
        period = tiers.window.kind.removeprefix("calendar_")
        warn(
            "RE509",
            f"a tier reached on a {period}'s {tiers.qualify_on} is kept until the end of the next "
            f"{period}: reached in March, held through the whole {period} after",
            ("tiers", "window"),
            f"say which you mean: hold: next_period (as now), hold: rest_of_period (until the end of "
            f"the {period} it was reached in) or hold: {{for: 365d}}",
        )
    multiplied = [rule.id for rule in program.earn if rule.multiply is not None]
    if program.tiers is not None:
        multiplied += [f"tier:{t.id}" for t in program.tiers.levels if t.benefits.earn_multiplier is not None]
    if program.points.round == "per_rule" and multiplied:
        warn(
            "RE508",
            f"points are rounded per rule, so {', '.join(f'`{m}`' for m in multiplied)} multiplies points "
            "already rounded: ×2 on 15.6 points gives 15 + 15 = 30, not 31",
            ("points", "round"),
            "use round: per_award (the default: the event's points rounded once, after multipliers), "
            "or per_line, unless the rounded parts are meant",
        )
    warnings += _no_effect(program, source_map, sites)
    for index, item in enumerate(program.catalog):
        if item.stock == 0:
            warn(
                "RE510",
                f"catalog item `{item.id}` has `stock: 0`: it can never be redeemed",
                ("catalog", index, "stock"),
                "give the number customers may redeem in all, or remove the item while it is out",
            )
    referral = program.referral
    if (
        referral is not None
        and referral.limit is None
        and (referral.fraud is None or referral.fraud.velocity is None)
    ):
        warn(
            "RE511",
            "a referrer can be rewarded without bound: the referral has no `limit` and no `fraud.velocity`",
            ("referral", "referrer"),
            "add limit: {count: 10, per: 365d}, or fraud: {velocity: {count: 3, per: 1d}}, so a farm of "
            "made-up friends cannot drain the program",
        )
    if program.points.value is None:
        warn(
            "RE128",
            "points have no value: the books count them but cannot say what the liability is worth",
            ("points",) if "points" in program.model_fields_set else ("currency",),
            f"set points: {{value: …}}, what one point is worth in {program.currency} (e.g. 0.01)",
        )
    senders: list[NodePath] = [
        ("offers", i, "notify") for i, offer in enumerate(program.offers) if offer.notify
    ]
    senders += [
        ("notifications", reminder)
        for reminder in ("points_expiring", "tier_downgrade")
        if getattr(program.notifications, reminder) is not None
    ]
    if senders and program.notifications.frequency_cap is None:
        warn(  # at the first thing that sends a message: the file may have no `notifications` at all
            "RE505",
            "messages are sent but there is no frequency cap",
            min(senders, key=lambda path: source_map.span(path).start),
            "add notifications: {frequency_cap: {count: 3, per: 7d}}",
        )
    for section in ("earn", "discounts"):
        rules = getattr(program, section)
        for index, rule in enumerate(rules):
            if rule.group is None:
                continue
            for other in rules:
                always = (
                    other.when is None
                    and other.active is None
                    and getattr(other, "for_each_item", None) is None
                )
                same_events = getattr(other, "on", None) == getattr(rule, "on", None)
                if (
                    other is not rule
                    and other.group == rule.group
                    and other.priority > rule.priority
                    and always
                    and same_events
                ):
                    warn(
                        "RE506",
                        f"`{rule.id}` never applies: `{other.id}` in exclusive group `{rule.group}` "
                        "always applies and has a higher priority",
                        (section, index, "group"),
                        f"give `{other.id}` a condition, or `{rule.id}` a higher priority",
                    )
                    break
    warnings += reasoning(program, source_map, sites)  # RE512–RE516: by interval analysis
    return warnings


def _no_effect(program: Program, source_map: SourceMap, sites: list[ExpressionSite]) -> list[Diagnostic]:
    """Rules and rewards that can never change anything (RE127): `multiply: 1`, an award or a
    rate of 0 points, a tier multiplier of 1, a reward of 0 points and nothing else."""
    found: list[tuple[str, NodePath, str]] = []
    for index, rule in enumerate(program.earn):
        if rule.multiply == 1:
            found.append(
                (
                    f"`{rule.id}` multiplies by 1",
                    ("earn", index, "multiply"),
                    "multiply by more than 1, e.g. 2",
                )
            )
        if rule.rate is not None and rule.rate.points == 0:
            found.append((f"`{rule.id}` gives 0 points", ("earn", index, "rate"), "e.g. rate: 1 per 100"))
    for index, value in constant_awards(program, sites):
        if value == 0:
            found.append(
                (
                    f"`{program.earn[index].id}` awards 0 points",
                    ("earn", index, "award"),
                    "award at least 1 point",
                )
            )
    for index, level in enumerate(program.tiers.levels if program.tiers else []):
        if level.benefits.earn_multiplier == 1:
            path: NodePath = ("tiers", "levels", index, "benefits", "earn_multiplier")
            found.append((f"tier `{level.id}` multiplies points by 1", path, "e.g. earn_multiplier: 1.5"))
    for path, reward in rewards(program):
        alone = reward.badge is None and reward.coupon is None and reward.entries is None
        if reward.points == 0 and alone:
            found.append(
                ("this reward gives 0 points and nothing else", (*path, "points"), "give points, or a badge")
            )
    return [
        Diagnostic(
            "RE127", f"{message}, which changes nothing", source_map.span(path), hint, Severity.WARNING
        )
        for message, path, hint in found
    ]
