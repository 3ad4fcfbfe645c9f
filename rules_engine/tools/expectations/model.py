"""The tests file's format (pydantic models, `extra="forbid"`) and the results of running it
(`CaseResult`, `Mismatch`): data, which `render.py` turns into text."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from rules_engine.codes import CODES, REFUSING_STAGES
from rules_engine.engine.outcome import Outcome, TraceCode
from rules_engine.errors import (
    Diagnostic,
    RulesEngineError,
)
from rules_engine.program import loader
from rules_engine.source import Span

ZERO = Decimal(0)


class SuiteError(RulesEngineError):
    """A tests file is not valid: every problem in it, each at its place in the file."""


def _number(value: Any) -> Any:
    """Exact numbers only: YAML gives int or Decimal; text and true/false are mistakes."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PydanticCustomError("number_type", "must be a number")
    return Decimal(value)


Number = Annotated[Decimal, BeforeValidator(_number)]


class SuiteModel(BaseModel):
    # strict: `free_shipping: "no"` or `points: "52"` are mistakes, as in program files
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)


POINTS_CHANGES = ("available", "expire", "burn", "reverse", "refund")
"""The kinds of `effects.points_changes` that `points_changes` can expect."""
TRACE_CODES: tuple[str, ...] = typing.get_args(TraceCode)
# The codes an event (or its customer's state) can be refused with: what `expect: {error: …}` may say.
REFUSALS = tuple(code for code, entry in CODES.items() if entry.stage in REFUSING_STAGES)


class TraceExpect(SuiteModel):
    """What the trace must say about one rule: some entry of it has this code and this reason."""

    code: str | None = None
    """The entry's code: fired, capped, condition_false, nothing_eligible, duplicate … (docs/engine.md)."""
    reason: str | None = None
    """Text the entry's reason contains, e.g. `already referred with`."""


class Expect(SuiteModel):
    """What must happen when the case's event is processed; keys left out are not checked."""

    points: Number | None = None
    """All points given (`totals.points`)."""
    rules: dict[str, Number] | None = None
    """Exact points per rule (`effects.points[].rule`), e.g. {base: 6, "tier:gold": 10}; a rule that
    gave nothing counts 0; rules not listed are not checked; `{}` means no rule gave points."""
    fired: list[str] | None = None
    """Rules (of any kind: earn, discount, `coupon:<code>`, `tier:<id>`) that must have fired."""
    not_fired: list[str] | None = None
    """Rules that must not have fired."""
    discount: Number | None = None
    """All money off (`totals.discount`)."""
    discounts: dict[str, Number] | None = None
    """Money off per discount, `coupon:<code>` or `tier:<id>`; one that took nothing off counts 0;
    `{}` means nothing took money off."""
    free_shipping: bool | None = None
    """Whether shipping was made free."""
    to_pay: Number | None = None
    """What the customer pays (`totals.to_pay`)."""
    tier: str | None = None
    """The customer's tier after the event (`none` for no tier)."""
    balance: Number | None = None
    """The points in the customer's lots after the event (pending and available)."""
    badges: list[str] | None = None
    """Badges the customer must hold after the event."""
    available: Number | None = None
    """The points the customer can spend after the event, at its time (not pending, not expired)."""
    lots: dict[str, Number] | None = None
    """Points left in each lot listed (`<event>/<rule>`) after the event; lots not listed are not
    checked; a listed lot that is not in the state (never earned, or expired) fails."""
    points_changes: dict[str, Number] | None = None
    """Points moved by each kind of change during the event (`effects.points_changes`):
    `available`, `expire`, `burn`, `reverse`; a kind that did not happen counts 0."""
    coupons_issued: list[str] | None = None
    """Every coupon the event issued, by its id in the program (one entry per coupon); `[]`: none."""
    notifications: list[str] | None = None
    """The template of every notification the event sent; `[]`: none. Suppressed ones are not
    sent: they are in the trace (`capped`)."""
    entries: dict[str, Number] | None = None
    """Prize draw entries the customer holds after the event, per draw; a draw not held counts 0."""
    trace: dict[str, TraceExpect] | None = None
    """Per rule, what some entry of the trace says: its `code` and text its `reason` contains."""
    error: str | None = Field(default=None, pattern=r"^RE[0-9]{3}$")
    """The event must be refused with this code (e.g. RE411); nothing else may be expected then."""


class Case(SuiteModel):
    """One example: a customer, an event, and what must come of it."""

    name: str = Field(min_length=1)
    """What the example shows, e.g. "gold member, Tuesday morning latte and croissant"."""
    customer: dict[str, Any] | None = None
    """The customer's state before the event (as `schemas/state.schema.json`); absent = new customer."""
    customer_file: str | None = None
    """A JSON file holding the state instead, relative to the tests file."""
    event: dict[str, Any] | None = None
    """The event (as `schemas/event.schema.json`)."""
    event_file: str | None = None
    """A JSON file holding the event instead, relative to the tests file."""
    before: list[str] | None = None
    """A scenario's history: event files (relative to the tests file) processed in order first,
    starting from `customer`; the case's event then meets the state they left."""
    expect: Expect
    """What must happen."""


class SuiteFile(SuiteModel):
    """A tests file."""

    program: str | None = None
    """The program file, relative to the tests file (used when the command names no program)."""
    cases: list[Case] = Field(min_length=1)
    """The examples."""


@dataclass(frozen=True)
class LoadedCase:
    """A case with its event and state data read (from the tests file or the files it names)."""

    case: Case
    event: Any
    state: Any
    span: Span
    """Where the case's name is written, for a failure's location."""
    event_span: Span
    state_span: Span | None
    before: tuple[Any, ...] = ()
    """The data of the `before` events, in order."""


@dataclass(frozen=True)
class Suite:
    """A loaded tests file: its cases and where everything in it is written."""

    file: Path
    program: Path | None
    """`program:` resolved against the tests file's folder (links followed), when given."""
    cases: list[LoadedCase]
    source_map: loader.SourceMap = field(repr=False)
    program_problems: tuple[Diagnostic, ...] = ()
    """Why `program:` is not read (RE450 outside the folder, RE414 a NUL in the name): reported
    by `suite_program`, only when the program is taken from the tests file."""


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold."""

    key: str
    """Which expectation: `points`, `rules.base`, `fired.refill`, `error` …"""
    expected: Decimal | bool | str | None
    actual: Decimal | bool | str | None
    detail: str | None = None
    """Why, from the outcome: the rule's reason, or what a total is made of."""
    span: Span | None = None
    """Where the expectation is written in the tests file."""


@dataclass(frozen=True)
class CaseResult:
    name: str
    span: Span
    mismatches: list[Mismatch]
    refused: list[Diagnostic] = field(default_factory=list)
    """Why the event was refused, when that was not expected."""
    outcome: Outcome | None = None

    @property
    def passed(self) -> bool:
        return not self.mismatches
