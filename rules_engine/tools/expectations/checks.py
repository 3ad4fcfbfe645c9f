"""Checking a loaded suite against the program: every rule, tier, coupon and badge it names exists."""

from __future__ import annotations

import difflib
from collections.abc import Hashable

from rules_engine.errors import (
    Diagnostic,
)
from rules_engine.program.model import Program
from rules_engine.tools.expectations.model import (
    Suite,
)


def check_suite(suite: Suite, program: Program) -> list[Diagnostic]:
    """Every rule the expectations name must exist in the program, and be able to give what is
    expected of it: a misspelt rule in `not_fired` would otherwise pass for ever (RE122)."""
    earn = {rule.id for rule in program.earn}
    discounts = {discount.id for discount in program.discounts}
    tiers = {f"tier:{level.id}" for level in program.tiers.levels} if program.tiers else set()
    mechanics = {
        f"{prefix}:{item.id}"
        for prefix, section in (
            ("challenge", program.challenges),
            ("quest", program.quests),
            ("badge", program.badges),
            ("streak", program.streaks),
            ("offer", program.offers),
            ("catalog", program.catalog),
        )
        for item in section
    }
    if program.referral is not None:
        mechanics |= {"referral:referee", "referral:referrer"}
    if program.birthday is not None:
        mechanics.add("birthday")
    known = earn | discounts | tiers | mechanics
    # rules that decide but never give points: a signup's referral, the reminders
    decides = {"referral:signup"} if program.referral is not None else set()
    reminders = program.notifications
    decides |= {
        f"notifications:{name}"
        for name in ("points_expiring", "tier_downgrade")
        if getattr(reminders, name) is not None
    }
    problems = []
    for index, loaded in enumerate(suite.cases):
        expect = loaded.case.expect
        at = ("cases", index, "expect")
        named: list[tuple[str, tuple[Hashable, ...], set[str], str]] = []
        for rule in expect.rules or {}:
            named.append((rule, (*at, "rules", rule), earn | tiers | mechanics, "points"))
        for rule in expect.discounts or {}:
            named.append((rule, (*at, "discounts", rule), discounts | tiers, "discounts"))
        for key in ("fired", "not_fired"):
            for position, rule in enumerate(getattr(expect, key) or []):
                named.append((rule, (*at, key, position), known | decides, key))
        for rule in expect.trace or {}:
            named.append((rule, (*at, "trace", rule), known | decides, "trace"))
        for rule, path, allowed, key in named:
            if rule in allowed or (key != "points" and rule.startswith(_ANY_ID)):
                continue
            keyed = ("points", "discounts", "trace")
            span = suite.source_map.key_span(path) if key in keyed else None
            span = span or suite.source_map.span(path)
            if rule in known:
                what = (
                    "a discount: it gives no points"
                    if rule in discounts
                    else "not a discount: it takes no money off"
                )
                problems.append(Diagnostic("RE122", f"`{rule}` is {what}", span, _kind_hint(key)))
                continue
            close = difflib.get_close_matches(rule, sorted(allowed), n=1, cutoff=0.6)
            hint = (
                f"did you mean `{close[0]}`?"
                if close
                else f"rules of {program.program}: {', '.join(sorted(allowed)) or 'none'}"
            )
            problems.append(Diagnostic("RE122", f"no rule `{rule}` in {program.program}", span, hint))
        problems += _unknown_names(suite, program, index)
    return sorted(problems, key=lambda d: d.span.start if d.span else -1)


def _unknown_names(suite: Suite, program: Program, index: int) -> list[Diagnostic]:
    """Coupons, notification templates, draws and the tier the expectations name must be the
    program's (`none` is the tier of a customer without one)."""
    expect = suite.cases[index].case.expect
    at = ("cases", index, "expect")
    reminders = [program.notifications.points_expiring, program.notifications.tier_downgrade]
    templates = {offer.notify.template for offer in program.offers if offer.notify is not None}
    templates |= {reminder.template for reminder in reminders if reminder is not None}
    named: list[tuple[str, tuple[Hashable, ...], set[str], str]] = [
        (coupon, (*at, "coupons_issued", i), {c.id for c in program.coupons}, "coupon")
        for i, coupon in enumerate(expect.coupons_issued or [])
    ]
    named += [
        (template, (*at, "notifications", i), templates, "notification template")
        for i, template in enumerate(expect.notifications or [])
    ]
    named += [
        (draw, (*at, "entries", draw), {d.id for d in program.draws}, "draw") for draw in expect.entries or {}
    ]
    if expect.tier is not None:
        levels = {level.id for level in program.tiers.levels} if program.tiers else set()
        named.append((expect.tier, (*at, "tier"), levels | {"none"}, "tier"))
    problems = []
    for name, path, allowed, what in named:
        if name in allowed:
            continue
        span = (what != "tier" and suite.source_map.key_span(path)) or suite.source_map.span(path)
        close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
        hint = (
            f"did you mean `{close[0]}`?"
            if close
            else f"{what}s of {program.program}: {', '.join(sorted(allowed)) or 'none'}"
        )
        problems.append(Diagnostic("RE122", f"no {what} `{name}` in {program.program}", span, hint))
    return problems


# Rules named after what the customer or the event brings, not after the program: a presented
# coupon's code, a return's purchase, a duplicate event's id.
_ANY_ID = ("coupon:", "return:", "event:")


def _kind_hint(key: str) -> str:
    if key == "points":
        return "`rules` lists points per rule (earn, `tier:<id>`, `challenge:<id>` …); money off: `discounts`"
    return "`discounts` lists money off per discount; put points under `rules`"


# -- running -------------------------------------------------------------------------------------
