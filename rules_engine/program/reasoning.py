"""Lints that reason about conditions: a valid program and its checked expressions → warnings
(RE512–RE516) about rules that can never apply, by interval analysis (`dsl/intervals.py`).

- RE512: part of a condition contradicts itself (`basket.total > 100 and basket.total < 50`);
- RE513: a condition that can never hold given what the program says elsewhere: its tiers (the
  values `customer.tier` can take), the rule's event types (`event.type`), its schedule
  (`active`: weekdays, hours, dates), or what the data never is (a negative total);
- RE514: a schedule with no day in it (from 1 to 3 December, on Saturdays);
- RE515: multipliers that can all apply to one purchase, uncapped: their product multiplies
  every point;
- RE516: a rule of an exclusive group that never applies, because whenever its condition holds a
  higher-priority rule of the group applies (`basket.total >= 50` above `basket.total >= 100`).

Each warns only on a proof: the analysis over-approximates where a condition holds, so an example
program's rules, which can apply, are never reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from rules_engine.dsl import ast
from rules_engine.dsl.intervals import ANYTHING, Cases, Domain, Path, both, cases
from rules_engine.errors import Diagnostic, Severity
from rules_engine.program.compile import ExpressionSite
from rules_engine.program.model import Discount, EarnRule, Program, Schedule
from rules_engine.program.scalars import NodePath, SourceMap

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# What the data never is, whatever the program: a basket and counts are not negative (a balance
# can be, with `negative_balance: allow`).
_NEVER_NEGATIVE: tuple[Path, ...] = (
    ("basket", "total"),
    ("basket", "item_count"),
    ("customer", "visits"),
)

Warn = Callable[[str, str, Any, str], None]


def reasoning(program: Program, source_map: SourceMap, sites: list[ExpressionSite]) -> list[Diagnostic]:
    """The warnings (module docstring), in no particular order: `lints` sorts them."""
    found: list[Diagnostic] = []

    def warn(code: str, message: str, where: Any, hint: str) -> None:
        span = source_map.span(where) if isinstance(where, tuple) else where
        found.append(Diagnostic(code, message, span, hint, Severity.WARNING))

    by_path = {site.path: site for site in sites}
    for site in sites:
        _contradictions(site, warn)
        if site.path[-1] == "when":
            _impossible(program, site, warn)
    for path, schedule in _schedules(program):
        _empty_schedule(path, schedule, warn)
    _stacking(program, by_path, warn)
    _shadowed(program, by_path, warn)
    return found


# -- RE512: contradictions ---------------------------------------------------------------------


def _contradictions(site: ExpressionSite, warn: Warn) -> None:
    """Every smallest `and` whose two sides are each possible but never together."""
    expression = site.expression
    constants = expression.constants
    seen: dict[int, Cases] = {}

    def analysed(node: ast.Expr) -> Cases:
        if id(node) not in seen:
            seen[id(node)] = cases(node, constants)
        return seen[id(node)]

    stack: list[ast.Expr] = [expression.tree]
    while stack:
        node = stack.pop()
        stack.extend(ast.children(node))
        if not (isinstance(node, ast.BoolOp) and node.op == "and"):
            continue
        if analysed(node) or not analysed(node.left) or not analysed(node.right):
            continue
        warn(
            "RE512",
            f"`{ast.unparse(node.left)}` and `{ast.unparse(node.right)}` never hold together, "
            "so this part of the condition is always false",
            expression.origin.span(*node.span),
            "check the numbers and the direction of each comparison (`>` or `<`), or join the "
            "parts with `or`",
        )


# -- RE513: impossible given the program -------------------------------------------------------


def _owner(program: Program, path: NodePath) -> Any:
    """The model a field path belongs to: ("earn", 2, "when") → the third earn rule."""
    node: Any = program
    for part in path[:-1]:
        node = node[part] if isinstance(part, int) else getattr(node, str(part))
    return node


def _known(program: Program, owner: Any) -> dict[Path, tuple[Domain, str, str]]:
    """What the program says about the data for a rule's condition: each path's possible values,
    with the message and hint that name where that comes from."""
    known: dict[Path, tuple[Domain, str, str]] = {}
    for path in _NEVER_NEGATIVE:
        name = ".".join(path)
        known[path] = (
            Domain(low=0, low_closed=True, null=False),
            f"`{name}` is never below 0, so this condition never holds",
            "check the direction of the comparison",
        )
    tiers = [level.id for level in program.tiers.levels] if program.tiers is not None else []
    known[("customer", "tier")] = (
        Domain(allowed=frozenset(tiers), null=True),
        f"no tier this condition asks for exists: the tiers are {', '.join(tiers)}"
        if tiers
        else "`customer.tier` is always null: the program has no tiers",
        f"use one of the tiers' ids: {', '.join(tiers)}" if tiers else "define `tiers`, or remove the test",
    )
    on = getattr(owner, "on", None)
    types = [on] if isinstance(on, str) else list(on or [])
    if types:
        known[("event", "type")] = (
            Domain(allowed=frozenset(types), null=False),
            f"this condition needs an event type the rule is not considered for (`on`: {', '.join(types)})",
            "add the event type to `on`, or remove the test of `event.type`",
        )
    schedule = getattr(owner, "active", None)
    if isinstance(schedule, Schedule):
        known.update(_scheduled(schedule))
    return known


def _scheduled(schedule: Schedule) -> dict[Path, tuple[Domain, str, str]]:
    message = "this condition never holds while the rule's schedule (`active`) is on"
    facts: dict[Path, Domain] = {}
    if schedule.weekdays is not None:
        days = Domain(allowed=frozenset(schedule.weekdays), null=False)
        facts[("event", "time", "weekday")] = facts[("event", "date", "weekday")] = days
    if schedule.start is not None or schedule.end is not None:
        dates = Domain(low=schedule.start, low_closed=True, high=schedule.end, high_closed=True, null=False)
        facts[("event", "date")] = facts[("event", "time", "date")] = dates
    hours = schedule.hours
    if hours is not None and hours.start < hours.end:
        last = hours.end.hour - (1 if hours.end.minute == 0 and hours.end.second == 0 else 0)
        facts[("event", "time", "hour")] = Domain(
            low=hours.start.hour, low_closed=True, high=last, high_closed=True, null=False
        )
        facts[("event", "time", "time")] = Domain(
            low=hours.start, low_closed=True, high=hours.end, high_closed=False, null=False
        )
    hint = "the schedule allows " + _schedule_words(schedule) + "; change the condition or the schedule"
    return {path: (domain, message, hint) for path, domain in facts.items()}


def _schedule_words(schedule: Schedule) -> str:
    parts = []
    if schedule.weekdays is not None:
        parts.append(", ".join(schedule.weekdays))
    if schedule.hours is not None:
        parts.append(f"{schedule.hours.start:%H:%M}–{schedule.hours.end:%H:%M}")
    if schedule.start is not None or schedule.end is not None:
        parts.append(f"{schedule.start or '…'} to {schedule.end or '…'}")
    return ", ".join(parts) or "any time"


def _impossible(program: Program, site: ExpressionSite, warn: Warn) -> None:
    """A `when` possible on its own but not given the program (RE513), said by its first cause."""
    expression = site.expression
    alone = cases(expression.tree, expression.constants)
    if not alone:
        return  # contradicts itself: RE512 (or RE502) says so
    known = _known(program, _owner(program, site.path))
    context = {path: domain for path, (domain, _, _) in known.items()}
    if both(alone, (context,)):
        return
    causes = [
        (message, hint)
        for path, (domain, message, hint) in known.items()
        if not both(alone, ({path: domain},))
    ]
    message, hint = (
        causes[0]
        if causes
        else (
            "this condition never holds given the rule's event types, schedule and the tiers",
            "check each comparison against what the rule is for",
        )
    )
    warn("RE513", message, expression.origin.span(*expression.tree.span), hint)


# -- RE514: a schedule with no day -------------------------------------------------------------


def _schedules(program: Program) -> list[tuple[NodePath, Schedule]]:
    found: list[tuple[NodePath, Schedule]] = []
    for section in ("earn", "discounts", "offers"):
        for index, rule in enumerate(getattr(program, section)):
            active = rule.active
            if isinstance(active, Schedule):
                found.append(((section, index, "active"), active))
            elif isinstance(active, list):
                found += [((section, index, "active", i), one) for i, one in enumerate(active)]
    return found


def _empty_schedule(path: NodePath, schedule: Schedule, warn: Warn) -> None:
    if schedule.weekdays is None or schedule.start is None or schedule.end is None:
        return
    days = (schedule.end - schedule.start).days + 1
    if days >= 7:
        return
    covered = {WEEKDAYS[(schedule.start + dt.timedelta(days=n)).weekday()] for n in range(days)}
    if covered & set(schedule.weekdays):
        return
    warn(
        "RE514",
        f"from {schedule.start} to {schedule.end} there is no {' or '.join(schedule.weekdays)}, "
        "so this schedule is never on",
        (*path, "weekdays"),
        f"those days are {', '.join(sorted(covered, key=WEEKDAYS.index))}: widen the dates or change "
        "the weekdays",
    )


# -- RE515: multipliers that stack --------------------------------------------------------------


def _condition(by_path: Mapping[NodePath, ExpressionSite], path: NodePath, negate: bool = False) -> Cases:
    site = by_path.get(path)
    if site is None:
        return ANYTHING if not negate else ()
    return cases(site.expression.tree, site.expression.constants, negate)


def _uncapped(rule: EarnRule) -> bool:
    return rule.budget is None and (rule.cap is None or not rule.cap.model_dump(exclude_none=True))


def _together(a: Schedule | list[Schedule] | None, b: Schedule | list[Schedule] | None) -> bool:
    """Whether two schedules can both be on (single schedules with disjoint dates or weekdays
    cannot; anything else is assumed to overlap)."""
    if not isinstance(a, Schedule) or not isinstance(b, Schedule):
        return True
    if a.weekdays is not None and b.weekdays is not None and not set(a.weekdays) & set(b.weekdays):
        return False
    starts = [day for day in (a.start, b.start) if day is not None]
    ends = [day for day in (a.end, b.end) if day is not None]
    return not (starts and ends and max(starts) > min(ends))


def _stacking(program: Program, by_path: Mapping[NodePath, ExpressionSite], warn: Warn) -> None:
    """The second of two multipliers that can apply to one event, when either is uncapped."""
    multipliers = [(index, rule) for index, rule in enumerate(program.earn) if rule.multiply is not None]
    top = max(
        (
            (level.benefits.earn_multiplier, level.id)
            for level in (program.tiers.levels if program.tiers else [])
            if level.benefits.earn_multiplier is not None
        ),
        default=None,
    )
    for position, (index, rule) in enumerate(multipliers):
        mine = _condition(by_path, ("earn", index, "when"))
        for other_index, other in multipliers[:position]:
            if rule.group is not None and rule.group == other.group:
                continue
            if not (set(rule.on) & set(other.on)) or not _together(rule.active, other.active):
                continue
            if not (_uncapped(rule) or _uncapped(other)):
                continue
            if not both(mine, _condition(by_path, ("earn", other_index, "when"))):
                continue
            assert rule.multiply is not None and other.multiply is not None
            product = rule.multiply * other.multiply
            with_tier = (
                f", ×{_number(product * top[0])} with tier `{top[1]}` (×{_number(top[0])})" if top else ""
            )
            warn(
                "RE515",
                f"`{other.id}` (×{_number(other.multiply)}) and `{rule.id}` (×{_number(rule.multiply)}) "
                f"can multiply the same points: ×{_number(product)} together{with_tier}, and nothing "
                "caps the product",
                ("earn", index, "multiply"),
                f"put both in one exclusive group (group: …) so only the higher priority applies, or "
                f"give `{rule.id}` a cap: {{per_event: …}}",
            )
            break


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


# -- RE516: shadowed in an exclusive group -------------------------------------------------------


def _always_gives(section: str, rule: EarnRule | Discount, other: EarnRule | Discount) -> bool:
    """Whether `other`, once admitted, surely wins the group wherever `rule` would give something."""
    if isinstance(other, EarnRule) and isinstance(rule, EarnRule):
        if other.for_each_item is not None or other.exclude is not None or not _uncapped(other):
            return False
        if (other.multiply is None) != (rule.multiply is None):
            return False
        if other.multiply is not None:
            return True  # a multiplier gives something whenever there are points to multiply
        award = other.award
        return isinstance(award, int | Decimal) and award > 0
    if isinstance(other, Discount) and isinstance(rule, Discount):
        return other.percent is not None and other.applies_to is None and not rule.free_shipping
    return False


def _shadowed(program: Program, by_path: Mapping[NodePath, ExpressionSite], warn: Warn) -> None:
    for section in ("earn", "discounts"):
        rules: list[Any] = getattr(program, section)
        for index, rule in enumerate(rules):
            if rule.group is None:
                continue
            mine = _condition(by_path, (section, index, "when"))
            if not mine:
                continue
            for other_index, other in enumerate(rules):
                if other is rule or other.group != rule.group or other.priority <= rule.priority:
                    continue
                if other.when is None:
                    continue  # always applies: RE506
                if other.active is not None and other.active != rule.active:
                    continue
                if not set(getattr(rule, "on", ())) <= set(getattr(other, "on", ())):
                    continue
                if not _always_gives(section, rule, other):
                    continue
                if both(mine, _condition(by_path, (section, other_index, "when"), negate=True)):
                    continue
                warn(
                    "RE516",
                    f"`{rule.id}` never applies: whenever its condition holds, so does that of "
                    f"`{other.id}`, which has a higher priority in exclusive group `{rule.group}`",
                    (section, index, "when"),
                    f"give `{rule.id}` a higher priority than `{other.id}` ({other.priority}), so "
                    "the narrower condition is tried first",
                )
                break
