"""What several mechanics share: the sections whose conditions they read, rewards and limits in
words, a counted expression's value; for a purchase the generated path takes, which context an
expression reads (`context_reader`) and the trace entry of an event type an item is not `on`."""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any

from rules_engine.dsl import ast
from rules_engine.dsl.ast import format_duration
from rules_engine.dsl.context import Context
from rules_engine.dsl.expression import Expression
from rules_engine.engine import history
from rules_engine.engine.admission import wrong_event
from rules_engine.engine.conditions import context_of, mechanics_context, purchase_records
from rules_engine.engine.plan import Plan
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import Text, Verdict, simple_verdict
from rules_engine.program.model import Limit, Reward

ZERO = Decimal(0)
# The program sections whose conditions the gamification mechanics (challenges, quests, badges,
# streaks) and the social ones (referral, offers) read: one context for each group, built once.
GAMIFICATION = frozenset({"challenges", "quests", "badges", "streaks"})
SOCIAL = frozenset({"referral", "offers"})


def number(expression: Any, literal: Any, context: Context) -> Decimal:
    if expression is None:
        return Decimal(literal)
    value = expression.evaluate(context)
    return ZERO if value is None else Decimal(value)


def reward_points(reward: Reward) -> dict[str, Any]:
    """The trace's amount of a reward with points."""
    return {"amount": reward.points, "unit": "points"} if reward.points else {}


def local_words(run: Run, moment: dt.datetime) -> str:
    return _local_words(moment, run.plan.zone)


def words_at(moment: dt.datetime, zone: dt.tzinfo) -> str:
    """`local_words` in the program's `zone`, without the run: for words made when a trace is read."""
    return _local_words(moment, zone)


@functools.lru_cache(maxsize=1024)
def _local_words(moment: dt.datetime, zone: dt.tzinfo) -> str:
    """The moment as the program's local time, in words. Remembered: a quest's deadline or a
    referral's is written again on every event until it passes. Exact, because equal aware times
    are one instant (whatever their offset), and one instant has one local time in a zone.
    `isoformat`'s first 16 characters, not `strftime` (~18k instructions a call, through the
    platform's): the same text from year 1000 on (`%Y` is not padded to four digits before)."""
    local = moment.astimezone(zone)
    if local.year < 1000:
        return local.strftime("%Y-%m-%d %H:%M")
    return local.isoformat(" ", "minutes")[:16]


def older(key: str, than: str) -> bool:
    """Whether calendar key `key` is an earlier period than `than` (keys of one kind sort by time).

    Keys of two kinds are not ordered: `than` was kept under a program version whose window was
    another (`lifetime`, `2026-Q4`) and `key` starts the new kind's first window. Their lengths
    tell most kinds apart; a month and a quarter (`2026-11`, `2026-Q4`), or a week and `lifetime`
    (`2026-W49`), have the same, and sort as if one came first: the sixth character tells them
    (`W`, `Q`, `i` or a digit; looked at only when `key` sorts first)."""
    if len(key) != len(than) or key >= than:
        return False
    return len(key) < 6 or key[5] == than[5] or (key[5].isdigit() and than[5].isdigit())


def describe(reward: Reward) -> str:
    """A reward in words: `500 points, coupon welcome-10`."""
    parts = []
    if reward.points:
        parts.append(f"{reward.points} points")
    if reward.badge is not None:
        parts.append(f"badge {reward.badge}")
    if reward.coupon is not None:
        parts.append(f"coupon {reward.coupon}")
    if reward.entries is not None:
        parts.append(f"{reward.entries.count} entries in {reward.entries.draw}")
    return ", ".join(parts)


def recent(limit: Limit, times: list[dt.datetime], moment: dt.datetime) -> list[dt.datetime]:
    """The times that count towards `limit` at `moment`: all of them, or those within `per`."""
    per = limit.per
    if per is None:
        return list(times)
    since = moment - per  # once, not for each time
    return [t for t in times if since < t <= moment]


def busiest(limit: Limit, times: list[dt.datetime], moment: dt.datetime) -> int:
    """How many of `times` the fullest period of `limit.per` that would hold `moment` counts: at
    `moment` (`recent`), or, for an event dated before some of them (a late event, a referrer's
    reward, which carries the friend's purchase's time), at each of those within `per` after it,
    whose period holds `moment` too. An event in order has none: `recent`'s count alone."""
    count = len(recent(limit, times, moment))
    per = limit.per
    if per is None:
        return count
    until = moment + per
    for later in times:
        if moment < later < until:
            count = max(count, len(recent(limit, times, later)))
    return count


def limit_words(limit: Limit) -> str:
    return (
        f"{limit.count} per {format_duration(limit.per)}" if limit.per is not None else f"{limit.count} ever"
    )


def customer_reads(expression: Expression) -> frozenset[str]:
    """The `customer.*` attributes `expression` reads (as `CompiledProgram.reads` finds them)."""
    found: set[str] = set()
    stack: list[ast.Expr] = [expression.tree]
    while stack:
        node = stack.pop()
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "customer"
        ):
            found.add(node.attr)
        stack.extend(ast.children(node))
    return frozenset(found)


def context_reader(
    plan: Plan, expression: Expression | None, sections: frozenset[str] = GAMIFICATION
) -> Callable[[Run], Context]:
    """How a mechanic's expression gets its context on the generated path, decided once: the
    sections' `mechanics_context` when it reads a costly attribute that context adds (the
    balance, the purchase history); `lines_context` when it reads nothing but the basket lines'
    own fields (a challenge counting coffees, a quest step asking for a pastry); else the run's
    own context, which holds the same values for everything else. So an event whose mechanics
    read nothing costly never builds the customer's purchase history for them, and one whose
    mechanics read only the lines never builds the whole context."""
    if expression is not None and plan.costly_reads(sections) & customer_reads(expression):
        wanted = plan.costly_reads(sections) & customer_reads(expression)
        if expression.budget is None and reads_only_customer(expression, wanted):
            return functools.partial(_customer_context, wanted=wanted)
        return functools.partial(_sections_context, sections=sections)
    if expression is not None and reads_only_lines(expression):
        return lines_context
    return context_of


# The fields of a basket line's record in the context that are the event's `Line` fields, with
# the same values (conditions.build_context copies them; a program's custom item attributes are
# other names, plan.custom_names).
_LINE_FIELDS = frozenset({"sku", "name", "category", "price", "qty"})
# The key of `lines_context`'s context among the run's mechanics contexts: no set of costly
# `customer.*` attributes (the other keys, conditions.mechanics_context) is this one.
_LINES = frozenset({"basket.items"})
_FIELDS = operator.attrgetter("__dict__")  # a model's field dict, read in C


def reads_only_lines(expression: Expression) -> bool:
    """Whether `expression` reads nothing of its context but the standard fields of the basket's
    lines, each through a comprehension over `basket.items` (`count(item.category == "coffee"
    for item in basket.items)`): then `lines_context` holds all it reads, with the same values."""
    return _only_lines(expression.tree, frozenset(), expression.constants)


def _only_lines(node: ast.Expr, lines: frozenset[str], constants: Collection[str]) -> bool:
    """`reads_only_lines` of a sub-expression in whose scope `lines` are the names of lines."""
    if isinstance(node, ast.Comprehension):
        iterable = node.iterable
        if not (
            isinstance(iterable, ast.Attribute)
            and iterable.attr == "items"
            and isinstance(iterable.value, ast.Name)
            and iterable.value.id == "basket"
            and iterable.value.id not in lines
        ):
            return False
        inner = lines | {node.var}
        parts = (node.element,) if node.condition is None else (node.element, node.condition)
        return all(_only_lines(part, inner, constants) for part in parts)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in lines:
        return node.attr in _LINE_FIELDS  # a line's own field: the record's value is the `Line`'s
    if isinstance(node, ast.Name):
        # a constant (written into the code); never a whole line, nor a root of the context
        return node.id not in lines and node.id in constants
    return all(_only_lines(child, lines, constants) for child in ast.children(node))


def lines_context(run: Run) -> Context:
    """The context of an expression that reads only the basket lines' own fields
    (`reads_only_lines`): the run's context when it is built already, else one holding only
    `basket.items`, each line's record its `Line`'s own field dict (an expression only reads its
    context), made once per event. A purchase whose conditions read only the lines never builds
    the whole context (the event, the basket's sums, the customer)."""
    context = run.context
    if context is not None:
        return context
    contexts = run.mechanics_contexts
    context = contexts.get(_LINES)
    if context is None:
        fields = run.fields  # the lines' field dicts, read once by `open_run`
        lines = tuple(fields) if len(fields) == len(run.items) else tuple(map(_FIELDS, run.items))
        context = contexts[_LINES] = Context(basket={"items": lines})
    return context


def _sections_context(run: Run, sections: frozenset[str]) -> Context:
    return mechanics_context(run, sections)


def reads_only_customer(expression: Expression, wanted: frozenset[str]) -> bool:
    """Whether `expression` reads nothing of its context but the costly `customer.*` attributes
    `wanted` (`len(customer.purchases) == 0`, a badge for a first purchase): then
    `_customer_context` holds all it reads, with the same values. Names a comprehension binds
    (`p` in `count(p.sku == "BEANS" for p in customer.purchases)`) read what they are bound to."""
    return _only_customer(expression.tree, frozenset(), expression.constants, wanted)


def _only_customer(
    node: ast.Expr, bound: frozenset[str], constants: Collection[str], wanted: frozenset[str]
) -> bool:
    """`reads_only_customer` of a sub-expression in whose scope `bound` are a comprehension's names."""
    if isinstance(node, ast.Comprehension):
        inner = bound | {node.var}
        parts = (node.element,) if node.condition is None else (node.element, node.condition)
        return _only_customer(node.iterable, bound, constants, wanted) and all(
            _only_customer(part, inner, constants, wanted) for part in parts
        )
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "customer":
        return "customer" not in bound and node.attr in wanted
    if isinstance(node, ast.Name):
        return node.id in bound or (node.id in constants and node.id not in _ROOTS)
    return all(_only_customer(child, bound, constants, wanted) for child in ast.children(node))


_ROOTS = frozenset({"event", "basket", "customer"})
"""The context's sections: a name that is one is a read of the context, never a constant."""


def _customer_context(run: Run, wanted: frozenset[str]) -> Context:
    """The context of an expression that reads only costly `customer.*` attributes
    (`reads_only_customer`): those attributes alone, as `conditions.mechanics_context` makes them
    (from the state as the mechanics see it), made once per event; not the whole context (the
    event, the basket's lines and sums, the customer's other fields), which nothing else of such an
    event may read."""
    key = _CUSTOMER_ONLY.get(wanted)
    if key is None:
        key = _CUSTOMER_ONLY[wanted] = frozenset(f"customer.{name}" for name in wanted)
    contexts = run.mechanics_contexts
    context = contexts.get(key)
    if context is None:
        state = run.state  # as `conditions.mechanics_context` makes these two
        customer: dict[str, Any] = {}
        if "points" in wanted:
            customer["points"] = state.available(run.event.time)
        if "purchases" in wanted:
            use = run.plan.purchases_use
            customer["purchases"] = history.customer_purchases(state, use, purchase_records, run.explain)
        context = contexts[key] = Context(customer=customer)
    return context


_CUSTOMER_ONLY: dict[frozenset[str], frozenset[str]] = {}
"""The key of `_customer_context`'s context among the run's mechanics contexts, by the attributes
it holds: `customer.<name>`, no set of costly names (conditions.mechanics_context's keys) nor
`_LINES`."""


def not_on(rule: str, kind: str, on: Collection[str] | None, event_type: str) -> Verdict | None:
    """The trace entry of an item that is not `on` this event type (None: it is, or takes any):
    the same for every such event, so made once per program and shared (verdicts are immutable)."""
    if on is None or event_type in on:
        return None
    return simple_verdict(rule, kind, False, "wrong_event", wrong_event(kind, on, event_type))


def hinted_verdict(rule: str, kind: str, code: str, reason: str | Text, hint: str | Text) -> Verdict:
    """`verdict(rule, kind, False, code, reason, hint=hint)`, made at once: a challenge's progress
    is traced so at most purchases, and the keyword form costs more than the tuple."""
    return Verdict(rule, kind, False, code, reason, None, hint, None, None, None, 2)


def reward_verdict(rule: str, kind: str, reason: str | Text, points: Decimal | int | None) -> Verdict:
    """`verdict(rule, kind, True, "fired", reason, **reward_points(reward))` of a reward of
    `points` (None or 0: none, no amount traced), made at once."""
    if points:
        return Verdict(rule, kind, True, "fired", reason, None, None, points, "points", None, 12)
    return Verdict(rule, kind, True, "fired", reason, None, None, None, None, None, 0)


def nothing(run: Run) -> None:
    """What a mechanic's `for_purchase` gives when it does nothing for any purchase of the program
    (the referral without a `referral` section): `purchase_mechanics` leaves it out, so a
    mechanic the program does not use for purchases costs nothing."""
