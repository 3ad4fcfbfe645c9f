"""Replaying a stream of events in memory: many customers, one state each, in file order.

Input: a JSON Lines file, one event per line (numbers exact). Each line is processed against
its customer's current state; a bad line (not JSON, not a valid event, refused by the engine)
is reported with its line number and skipped, and no state is touched by it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.engine.social import REFERRER, referral_code
from rules_engine.errors import Diagnostic, RulesEngineError
from rules_engine.source import SourceFile, Span
from rules_engine.state.customer import CustomerState


@dataclass
class Replay:
    """What a replay produced: the outcomes in order, every customer's final state, the bad lines."""

    outcomes: list[tuple[int, Outcome]] = field(default_factory=list)
    states: dict[str, CustomerState] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)
    points: dict[str, Decimal] = field(default_factory=dict)


def replay(engine: Engine, path: str | Path, states: dict[str, CustomerState] | None = None) -> Replay:
    """Process every event of a JSON Lines file in order; see the module docstring."""
    result = Replay(states=dict(states or {}))
    text = Path(path).read_text(encoding="utf-8-sig")
    source = SourceFile(str(path), text)
    for number, offset, line in _lines(text):
        if not line.strip():
            continue
        span = Span(source, offset, offset + len(line))
        try:
            data = jsonio.loads(line)
        except (json.JSONDecodeError, ValueError) as problem:
            result.problems.append(
                Diagnostic(
                    "RE414",
                    f"line {number} is not JSON: {problem}",
                    span,
                    hint="one event per line, as a JSON object",
                )
            )
            continue
        customer = data.get("customer") if isinstance(data, dict) else None
        state = result.states.get(customer) if isinstance(customer, str) else None
        try:
            outcome = engine.process(data, state)
        except RulesEngineError as error:
            result.problems += [
                Diagnostic(d.code, f"line {number}: {d.message}", span, d.hint) for d in error.diagnostics
            ]
            continue
        for done in [outcome, *_referrer_side(engine, outcome, result.states)]:
            result.outcomes.append((number, done))
            result.states[done.customer] = done.state
            result.points[done.customer] = result.points.get(done.customer, Decimal(0)) + done.totals.points
    return result


def _referrer_side(engine: Engine, outcome: Outcome, states: dict[str, CustomerState]) -> list[Outcome]:
    """When a referee qualified, reward the referrer too: this replay knows every customer, so
    it can find the one whose referral code the referee signed up with."""
    if not any(t.rule == REFERRER and t.fired for t in outcome.trace):
        return []
    code = outcome.state.referred_with
    program = engine.program.program
    referrer = next((c for c in states if referral_code(program, c, engine.secret) == code), None)
    if referrer is None:
        return []
    event = {
        "id": f"{outcome.event}:referrer",
        "type": "referral_reward",
        "customer": referrer,
        "time": outcome.state.referral_qualified_at,
        "referee": outcome.customer,
        "qualifying_event": outcome.event,
    }
    return [engine.process(event, states.get(referrer))]


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, offset, line.rstrip("\r")
        offset += len(line) + 1
