"""The conditions of one event: their context, whether they hold, and why not.

Every stage and mechanic evaluates the program's compiled expressions through these functions:
`context_of(run)` is what conditions read (the event, the basket, the customer as before the
event), built when first read; `holds` is one condition's truth, `holding` and `line_holds` a
per-line condition's on each line (each computed at most once per run); `condition_trace` is the
trace of a condition that is false, with its false parts, a near-miss hint and its tree when the
run explains. `mechanics_context` adds the costly `customer.*` attributes the mechanics read.

Input: a `Run`. Output: contexts and truths; the run's caches are filled in.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from typing import Any

from rules_engine.dsl.context import Context, _Normalizer
from rules_engine.dsl.expression import Expression
from rules_engine.engine import explain as why
from rules_engine.engine import history
from rules_engine.engine.events import AnyEvent, Line, Purchase
from rules_engine.engine.run import ZERO, Run
from rules_engine.engine.trusted import Verdict, verdict
from rules_engine.errors import ContextError, Diagnostic, EventError
from rules_engine.state.customer import CustomerState, PastLine


def check_attributes(run: Run) -> None:
    """Refuse undeclared or bad custom attributes (RE413) before anything else is decided: the
    context is built at once when any were sent (otherwise when first read, if ever)."""
    if _attributes_sent(run.event, run.before):
        run.context = build_context(run)


def context_of(run: Run) -> Context:
    """What conditions read: the event, the basket, the customer (as before the event)."""
    context = run.context
    if context is None:
        context = run.context = build_context(run)
    return context


def build_context(run: Run) -> Context:
    """The context of the run's conditions, from the state before the event.

    Raises:
        EventError: a custom attribute undeclared or of the wrong type (RE413).
    """
    event, state = run.event, run.before
    problems: list[Diagnostic] = []
    custom = _custom
    event_record: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "time": run.local,
        "date": run.local.date(),
        "channel": event.channel,
        "store": event.store,
    }
    custom(run, problems, "event", event.attributes, event_record, "event.attributes")
    context = Context(event=event_record)
    if isinstance(event, Purchase):
        items = []
        nulls = dict.fromkeys(run.plan.custom_names["item"])
        plain = _LINE_RECORD and "attributes" not in nulls
        for index, line in enumerate(event.items):
            if plain and not line.attributes:  # nothing sent: every declared attribute is null
                # the line's own fields in their order, less `attributes` (one copy, in C)
                record: dict[str, Any] = {**line.__dict__, **nulls}
                del record["attributes"]
                items.append(record)
                continue
            record = {
                "sku": line.sku,
                "name": line.name,
                "category": line.category,
                "price": line.price,
                "qty": line.qty,
            }
            if line.attributes:
                custom(run, problems, "item", line.attributes, record, "items[{}].attributes", index)
            else:
                record.update(nulls)
            items.append(record)
        basket: dict[str, Any] = {
            "total": sum(run.amounts, ZERO),
            "items": tuple(items),
            "item_count": sum([line.qty for line in event.items], ZERO),
            "shipping": event.shipping,
            "tax": event.tax,
            "currency": run.program.currency,
            "coupons": tuple(event.coupons),
        }
        custom(run, problems, "basket", event.basket_attributes, basket, "basket_attributes")
        context["basket"] = basket
    else:
        context["basket"] = {
            "total": ZERO,
            "items": (),
            "item_count": ZERO,
            "shipping": None,
            "tax": None,
            "currency": run.program.currency,
            "coupons": (),
        }
    profile = state.profile
    reads = run.plan.customer_reads
    customer: dict[str, Any] = {
        "id": event.customer,
        "tier": state.tier,
        "points": run.points_before,
        "tags": tuple(profile.tags),
        "visits": state.visits,
        "signup_date": profile.signup_date,
        "birthday": profile.birthday,
        "purchases": _purchases(run, state) if "purchases" in reads else (),
    }
    custom(run, problems, "customer", profile.attributes, customer, "state.profile.attributes")
    context["customer"] = customer
    if problems:
        raise EventError([Diagnostic("RE413", d.message, hint=d.hint) for d in problems])
    return context


def _custom(
    run: Run,
    problems: list[Diagnostic],
    record: str,
    data: Mapping[str, Any],
    out: dict[str, Any],
    path: str,
    index: int | None = None,
) -> None:
    """Declared custom attributes, normalized; undeclared ones are refused (a typo costs money).

    `out` holds the record's standard attributes already. `path` names `data` in errors (with
    `index` for the `{}` in it: formatted only for an error)."""
    plan = run.plan
    if not data:  # nothing sent: every declared attribute is null
        for name in plan.custom_names[record]:
            out[name] = None
        return
    normalizer: _Normalizer | None = None
    schema = plan.compiled.schema
    attributes = schema.attributes[record]
    for name in data:
        if name not in attributes or name in out:
            normalizer = normalizer or _Normalizer(schema, plan.zone, problems)
            normalizer.fail(
                f"{_where(path, index)}.{name}",
                f"`{name}` is not declared",
                hint=f"declare it under attributes.{record} in the program",
            )
    texts = plan.text_attributes[record]
    for name, attribute in plan.custom_attributes[record]:
        raw = data.get(name)
        if raw is None:
            out[name] = None
        elif raw.__class__ is str and name in texts:  # what the normalizer gives text
            out[name] = raw
        else:
            normalizer = normalizer or _Normalizer(schema, plan.zone, problems)
            out[name] = normalizer.value(raw, attribute.type, f"{_where(path, index)}.{name}")


def item_context(run: Run, index: int) -> Context:
    """The context of line `index`: the run's context with `item`. One context serves every
    line (its `item` replaced): it is used at once, by one expression, and never kept."""
    context = run.line_context
    if context is None:
        context = run.line_context = Context(context_of(run))
    context["item"] = context_of(run)["basket"]["items"][index]
    return context


def passed(run: Run, rule: str, expression: Expression | None) -> None:
    """With explain, keep the tree of a condition that held, to show why the rule fired."""
    if run.explain and expression is not None:
        run.conditions[rule] = why.explain_tree(expression.explain(context_of(run)), expression)


def holds(expression: Expression | None, context: Context) -> bool:
    if expression is None:
        return True
    try:  # the generated function itself: `context` is always a `Context` here
        return expression._function(context) is True
    except (KeyError, ContextError):  # the expression reads `item` outside a line: counts as false
        return False


def holding(run: Run, expression: Expression, lines: Iterable[int]) -> list[bool]:
    """`line_holds` on each of `lines`, in order (each evaluated at most once per run)."""
    truths = run.line_truths.get(id(expression))
    function = expression._function
    items = context_of(run)["basket"]["items"]
    context = run.line_context
    if context is None:
        context = run.line_context = Context(context_of(run))
    if truths is None:
        truths = run.line_truths[id(expression)] = [None] * len(run.items)
        if isinstance(lines, range | list):  # a first look: no cache to read, one `try` for all
            fresh: list[bool] = []
            try:  # as `holds`; a line that raises is false, and decided line by line below
                for index in lines:
                    context["item"] = items[index]
                    truths[index] = held = function(context) is True
                    fresh.append(held)
                return fresh
            except (KeyError, ContextError):
                pass
    out = []
    for index in lines:
        truth = truths[index]
        if truth is None:
            context["item"] = items[index]
            try:  # as `holds`
                truth = function(context) is True
            except (KeyError, ContextError):
                truth = False
            truths[index] = truth
        out.append(truth)
    return out


def line_holds(run: Run, expression: Expression, index: int) -> bool:
    """Whether a per-line condition holds on line `index`, evaluated at most once per run."""
    truths = run.line_truths.get(id(expression))
    if truths is None:
        truths = run.line_truths[id(expression)] = [None] * len(run.items)
    truth = truths[index]
    if truth is None:
        truth = truths[index] = holds(expression, item_context(run, index))
    return truth


def condition_trace(
    run: Run, rule: str, kind: Any, expression: Expression, context: Context, reason: str
) -> Verdict:
    """The trace entry of a condition that is false (its false parts, hint and tree with explain)."""
    failing: list[str] = []
    hint = None
    condition = None
    if run.explain:
        trace = expression.explain(context)
        failing = why.failing_parts(trace, expression)
        hint = why.near_miss(trace, expression)
        condition = why.explain_tree(trace, expression)
    return verdict(
        rule,
        kind,
        False,
        "condition_false",
        reason,
        failing=failing,
        hint=hint,
        condition=condition,
    )


def mechanics_context(run: Run, sections: frozenset[str]) -> Context:
    """The context for the conditions of the program `sections` named (challenges, offers …),
    with the costly `customer.points` and `customer.purchases` filled in when those conditions
    read them (the run builds them only for the earn rules and discounts). Built once per event."""
    wanted = run.plan.costly_reads(sections)
    if not wanted:
        return context_of(run)
    key = wanted
    cached = run.mechanics_contexts.get(key)
    if cached is not None:
        return cached
    state = run.state
    customer: dict[str, Any] = dict(context_of(run)["customer"])
    if "points" in wanted:
        customer["points"] = state.available(run.event.time)
    if "purchases" in wanted:
        customer["purchases"] = _purchases(run, state)
    context = Context(context_of(run))
    context["customer"] = customer
    run.mechanics_contexts[key] = context
    return context


def _purchases(run: Run, state: CustomerState) -> tuple[dict[str, Any], ...]:
    return history.customer_purchases(state, run.plan.purchases_use, purchase_records, run.explain)


# An item's record holds a line's fields but `attributes`, in order, then the declared custom ones:
# when a `Line`'s fields are exactly these, a record is its field dict copied, less `attributes`
# (what a basket line's record costs was a fifth of the context; tests/engine/test_conditions_context.py).
_LINE_RECORD = tuple(Line.model_fields) == ("sku", "name", "category", "price", "qty", "attributes")

# `customer.purchases` holds a record per past line with exactly a `PastLine`'s fields, in order.
_PAST_LINE_RECORD = tuple(PastLine.model_fields) == ("sku", "category", "price", "qty", "date", "event")


def purchase_records(purchases: list[PastLine]) -> tuple[dict[str, Any], ...]:
    """The records of `customer.purchases`: each past line's own field dict when it has exactly the
    record's keys (the context is only read, never written, by expressions), else a new dict."""
    if _PAST_LINE_RECORD:
        return tuple(p.__dict__ for p in purchases)
    return tuple(
        {
            "sku": p.sku,
            "category": p.category,
            "price": p.price,
            "qty": p.qty,
            "date": p.date,
            "event": p.event,
        }
        for p in purchases
    )


def _attributes_sent(event: AnyEvent, state: CustomerState) -> bool:
    """Whether the event or the customer's profile carries custom attributes (to be checked)."""
    if event.attributes or state.profile.attributes:
        return True
    return isinstance(event, Purchase) and (
        bool(event.basket_attributes) or any(map(_LINE_ATTRIBUTES, event.items))
    )


_LINE_ATTRIBUTES = operator.attrgetter("attributes")  # read in C: no generator's frame per line


def _where(path: str, index: int | None) -> str:
    return path if index is None else path.format(index)
