"""Running a suite: each case's events through the engine, its outcome compared with what the
case expects (`compare`), every difference a `Mismatch`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Iterator
from decimal import Decimal

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome, RuleTrace
from rules_engine.engine.reader import parse_event
from rules_engine.errors import (
    Diagnostic,
    EvaluationError,
    StateError,
)
from rules_engine.program import loader
from rules_engine.source import Span
from rules_engine.tools.expectations.model import (
    ZERO,
    CaseResult,
    Expect,
    LoadedCase,
    Mismatch,
    Suite,
    TraceExpect,
)


def run_suite(engine: Engine, suite: Suite) -> Iterator[CaseResult]:
    """Run every case, each when its result is asked for; a case never stops the others.

    One at a time, so that `loyalty test` prints each case as it is done and holds one outcome
    (with its trace, tens of KB) at a time, not every case's: 10,000 cases held 437 MB."""
    for index, loaded in enumerate(suite.cases):
        yield run_case(engine, loaded, suite.source_map, ("cases", index))


def run_case(
    engine: Engine, loaded: LoadedCase, source_map: loader.SourceMap, at: tuple[Hashable, ...]
) -> CaseResult:
    """Process the case's event (with explain, so a failure can say why) and compare."""
    expect = loaded.case.expect
    name = loaded.case.name

    def where(*path: Hashable) -> Span:
        return source_map.span((*at, "expect", *path))

    state = loaded.state
    for position, earlier in enumerate(loaded.before):
        try:
            state = engine.process(earlier, state).state
        except EvaluationError as error:
            detail = f"{error.diagnostics[0].code}: {error.diagnostics[0].message}"
            mismatch = Mismatch(
                f"before[{position}]",
                "accepted",
                "refused",
                detail,
                source_map.span((*at, "before", position)),
            )
            return CaseResult(name, loaded.span, [mismatch], refused=error.diagnostics)
    try:
        outcome = engine.process(loaded.event, state, explain=True).outcome()
    except EvaluationError as error:
        span = loaded.state_span if isinstance(error, StateError) else loaded.event_span
        diagnostics = [
            d if d.span else Diagnostic(d.code, d.message, span, d.hint) for d in error.diagnostics
        ]
        codes = [d.code for d in diagnostics]
        if expect.error is not None and expect.error in codes:
            return CaseResult(name, loaded.span, [])
        if expect.error is not None:
            mismatch = Mismatch(
                "error", expect.error, ", ".join(codes), diagnostics[0].message, where("error")
            )
        else:
            refused = (
                "the customer state was refused" if isinstance(error, StateError) else "the event was refused"
            )
            mismatch = Mismatch("error", "no error", ", ".join(codes), refused)
        return CaseResult(name, loaded.span, [mismatch], refused=diagnostics)
    if expect.error is not None:
        mismatch = Mismatch("error", expect.error, "no error", "the event was accepted", where("error"))
        return CaseResult(name, loaded.span, [mismatch], outcome=outcome)
    moment = parse_event(loaded.event).time  # accepted by `process`: it parses
    return CaseResult(name, loaded.span, compare(expect, outcome, where, at=moment), outcome=outcome)


def compare(
    expect: Expect,
    outcome: Outcome,
    where: Callable[..., Span] | None = None,
    *,
    at: dt.datetime | None = None,
) -> list[Mismatch]:
    """Every expectation that the outcome does not meet, in the order of the format.

    `at` is the event's time, for `available` (default: the state's latest event).
    """

    def span(*path: Hashable) -> Span | None:
        return where(*path) if where is not None else None

    totals, effects = outcome.totals, outcome.effects
    points = _sums((award.rule, award.points) for award in effects.points)
    money = _sums((discount.rule, discount.amount) for discount in effects.discounts)
    out: list[Mismatch] = []
    if expect.points is not None and totals.points != expect.points:
        out.append(Mismatch("points", expect.points, totals.points, _breakdown(points), span("points")))
    if expect.rules == {} and points:  # `rules: {}`: no rule gave points
        out.append(Mismatch("rules", "none", _listing(points), None, span("rules")))
    for rule, wanted in (expect.rules or {}).items():
        got = points.get(rule, ZERO)
        if got != wanted:
            out.append(Mismatch(f"rules.{rule}", wanted, got, _why(outcome.trace, rule), span("rules", rule)))
    for position, rule in enumerate(expect.fired or []):
        entries = [t for t in outcome.trace if t.rule == rule]
        if not any(t.fired for t in entries):
            out.append(
                Mismatch(
                    f"fired.{rule}", "fired", "not fired", _why(outcome.trace, rule), span("fired", position)
                )
            )
    for position, rule in enumerate(expect.not_fired or []):
        if any(t.fired for t in outcome.trace if t.rule == rule):
            detail = _why(outcome.trace, rule)
            out.append(
                Mismatch(f"not_fired.{rule}", "not fired", "fired", detail, span("not_fired", position))
            )
    if expect.discount is not None and totals.discount != expect.discount:
        out.append(
            Mismatch("discount", expect.discount, totals.discount, _breakdown(money), span("discount"))
        )
    if expect.discounts == {} and money:  # `discounts: {}`: nothing took money off
        out.append(Mismatch("discounts", "none", _listing(money), None, span("discounts")))
    for rule, wanted in (expect.discounts or {}).items():
        got = money.get(rule, ZERO)
        if got != wanted:
            detail = _why(outcome.trace, rule)
            out.append(Mismatch(f"discounts.{rule}", wanted, got, detail, span("discounts", rule)))
    if expect.free_shipping is not None:
        free = effects.free_shipping
        if (free is not None) != expect.free_shipping:
            detail = f"made free by {free.rule}" if free is not None else "no rule made shipping free"
            out.append(
                Mismatch(
                    "free_shipping", expect.free_shipping, free is not None, detail, span("free_shipping")
                )
            )
    if expect.to_pay is not None and totals.to_pay != expect.to_pay:
        detail = f"basket {totals.basket} − discount {totals.discount} + shipping {totals.shipping}"
        out.append(Mismatch("to_pay", expect.to_pay, totals.to_pay, detail, span("to_pay")))
    state = outcome.state
    if expect.tier is not None and (state.tier or "none") != expect.tier:
        moves = ", ".join(f"{c.old} → {c.new}: {c.reason}" for c in effects.tier_changes) or "no tier change"
        out.append(Mismatch("tier", expect.tier, state.tier or "none", moves, span("tier")))
    balance = sum((lot.points for lot in state.lots), ZERO)
    if expect.balance is not None and balance != expect.balance:
        out.append(Mismatch("balance", expect.balance, balance, f"{len(state.lots)} lots", span("balance")))
    for position, badge in enumerate(expect.badges or []):
        if badge not in state.badges:
            held = ", ".join(state.badges) or "none"
            out.append(
                Mismatch(f"badges.{badge}", "held", "not held", f"holds: {held}", span("badges", position))
            )
    moment = at or state.last_event_at
    if expect.available is not None and moment is not None:
        available = state.available(moment)
        if available != expect.available:
            detail = f"{state.pending(moment)} pending; {balance} in all lots"
            out.append(Mismatch("available", expect.available, available, detail, span("available")))
    lots = {lot.id: lot.points for lot in state.lots}
    for lot_id, wanted in (expect.lots or {}).items():
        left = lots.get(lot_id)
        if left != wanted:
            detail = "lots: " + (_listing(lots) or "none")
            out.append(Mismatch(f"lots.{lot_id}", wanted, left, detail, span("lots", lot_id)))
    changes = _sums((change.kind, change.points) for change in effects.points_changes)
    for kind, wanted in (expect.points_changes or {}).items():
        got = changes.get(kind, ZERO)
        if got != wanted:
            detail = (
                "; ".join(f"{c.kind} {c.points} of {c.lot}" for c in effects.points_changes)
                or "no points changed"
            )
            out.append(Mismatch(f"points_changes.{kind}", wanted, got, detail, span("points_changes", kind)))
    if expect.coupons_issued is not None:
        issued = sorted(c.coupon for c in effects.coupons_issued)
        if issued != sorted(expect.coupons_issued):
            codes = "; ".join(f"{c.coupon} ({c.code}) by {c.rule}" for c in effects.coupons_issued)
            out.append(
                Mismatch(
                    "coupons_issued",
                    ", ".join(sorted(expect.coupons_issued)) or "none",
                    ", ".join(issued) or "none",
                    codes or None,
                    span("coupons_issued"),
                )
            )
    if expect.notifications is not None:
        sent = sorted(n.template for n in effects.notifications)
        if sent != sorted(expect.notifications):
            suppressed = [t.reason for t in outcome.trace if t.kind == "notification" and not t.fired]
            out.append(
                Mismatch(
                    "notifications",
                    ", ".join(sorted(expect.notifications)) or "none",
                    ", ".join(sent) or "none",
                    "; ".join(suppressed) or None,
                    span("notifications"),
                )
            )
    for draw, wanted in (expect.entries or {}).items():
        got = Decimal(state.entries.get(draw, 0))
        if got != wanted:
            given = "; ".join(f"{e.count} in {e.draw} by {e.rule}" for e in effects.draw_entries)
            out.append(Mismatch(f"entries.{draw}", wanted, got, given or None, span("entries", draw)))
    for rule, wanted_trace in (expect.trace or {}).items():
        entries = [t for t in outcome.trace if t.rule == rule]
        if not any(_says(entry, wanted_trace) for entry in entries):
            expected = ", ".join(
                part
                for part in (
                    wanted_trace.code,
                    f"reason containing “{wanted_trace.reason}”" if wanted_trace.reason is not None else None,
                )
                if part is not None
            )
            got_text = " / ".join(f"{t.code}: {t.reason}" for t in entries) or "not in the trace"
            out.append(Mismatch(f"trace.{rule}", expected, got_text, None, span("trace", rule)))
    return out


def _says(entry: RuleTrace, wanted: TraceExpect) -> bool:
    return (wanted.code is None or entry.code == wanted.code) and (
        wanted.reason is None or wanted.reason in entry.reason
    )


def _sums(pairs: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for rule, amount in pairs:
        out[rule] = out.get(rule, ZERO) + amount
    return out


def _breakdown(amounts: dict[str, Decimal]) -> str:
    return "from " + _listing(amounts) if amounts else "no rule gave anything"


def _listing(amounts: dict[str, Decimal]) -> str:
    return ", ".join(f"{rule} {amount}" for rule, amount in amounts.items())


def _why(trace: list[RuleTrace], rule: str) -> str:
    """What the trace says about a rule: its reasons, the false parts of its condition, a hint."""
    entries = [t for t in trace if t.rule == rule]
    if not entries:
        return "not considered for this event (no decision about it in the trace)"
    parts = []
    for entry in entries:
        text = entry.reason
        if entry.failing:
            text += ": " + "; ".join(entry.failing)
        if entry.hint:
            text += f" ({entry.hint})"
        parts.append(text)
    return " / ".join(parts)
