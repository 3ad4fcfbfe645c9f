"""The admission gate: whether a rule or a mechanic's item considers this event at all.

Earn rules, discounts and every mechanic (challenges, quests, badges, streaks, the referral,
offers) ask the same questions in the same order, and trace the first that fails:

  1. `wrong_event`: the event's type is not one the item is `on`
  2. a refusal of the item's own, known before the schedule: `shadowed` by the winner of an
     exclusive group, `capped` (completed, earned already), outside the time to qualify
  3. `outside_schedule`: the event is outside the item's `active` schedule
  4. a refusal known only after the schedule (an offer's limit)
  5. `condition_false`: its condition (`when`, `qualifying`) is false; with explain, the trace
     carries the false parts, a near-miss hint and the condition tree

Input: a `Run` and the item's facts. Output: True when admitted; else False, with one trace entry.
"""

from __future__ import annotations

from collections.abc import Collection

from rules_engine.dsl.context import Context
from rules_engine.dsl.expression import Expression
from rules_engine.engine.conditions import condition_trace, context_of, holds, passed
from rules_engine.engine.run import Run
from rules_engine.engine.schedule import within
from rules_engine.engine.trusted import simple_verdict
from rules_engine.program.model import Schedule

Refusal = tuple[str, str]
"""A refusal of an item's own: (trace code, reason in words)."""


def admitted(
    run: Run,
    rule: str,
    kind: str,
    *,
    on: Collection[str] | None = None,
    refused: Refusal | None = None,
    active: Schedule | list[Schedule] | None = None,
    outside: str = "not active: ",
    refused_late: Refusal | None = None,
    when: Expression | None = None,
    context: Context | None = None,
    false: str = "`when` is false",
    keep: bool = False,
) -> bool:
    """Whether `rule` (of trace `kind`) is admitted for the run's event; traced when not.

    Args:
        on: the event types the item takes; None: any.
        refused: a refusal known before the schedule (step 2); None: none.
        active: the item's schedule; `outside` prefixes the words of why the event is outside.
        refused_late: a refusal known after the schedule (step 4).
        when: the condition; read in `context` (the run's own context when None).
        false: the trace's reason when the condition is false.
        keep: with explain, keep the tree of a condition that held, for the trace of the rule
            when it fires (earn rules and discounts).
    """
    event_type = run.event.type
    if on is not None and event_type not in on:
        run.trace.append(simple_verdict(rule, kind, False, "wrong_event", wrong_event(kind, on, event_type)))
        return False
    if refused is not None:
        run.trace.append(simple_verdict(rule, kind, False, refused[0], refused[1]))
        return False
    if active is not None:
        where = within(active, run.local)
        if where is not None:
            run.trace.append(simple_verdict(rule, kind, False, "outside_schedule", outside + where))
            return False
    if refused_late is not None:
        run.trace.append(simple_verdict(rule, kind, False, refused_late[0], refused_late[1]))
        return False
    if when is not None:
        if context is None:
            context = context_of(run)
        if not holds(when, context):
            run.trace.append(condition_trace(run, rule, kind, when, context, false))
            return False
    if keep:
        passed(run, rule, when)
    return True


def wrong_event(kind: str, on: Collection[str], event_type: str) -> str:
    """Why an item ignored this event: earn rules say what they apply to, the mechanics say the
    type is not one of theirs."""
    if kind == "earn":
        return f"applies to {', '.join(on)}, not {event_type}"
    return f"{event_type} is not one of: {', '.join(on)}"
