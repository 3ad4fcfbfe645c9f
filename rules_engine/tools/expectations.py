"""Expectations: a marketer's examples of what a program must do, run as a test suite.

`loyalty test PROGRAM [TESTS.yaml]` is built from three verbs:

    load_suite(path) -> Suite                      the tests file, its event and state files
    check_suite(suite, program) -> [Diagnostic]     every rule it names exists, with a sensible kind
    run_suite(engine, suite) -> [CaseResult]        each case's outcome compared with its expectations

A tests file is YAML loaded like a program (`program.loader`: exact numbers, YAML 1.2 values, a
span for every node), so a mistake in it is reported at its line and column. Its format is the
pydantic models below (`extra="forbid"`: a misspelt expectation is an error, never ignored):

    program: coffee-club.yaml          # optional, relative to this file
    cases:
      - name: gold member, Tuesday morning latte and croissant
        customer: {tier: gold}         # or customer_file: states/gold.json; absent = new customer
        event: {...}                   # or event_file: events/tuesday.json (relative to this file)
        expect: {points: 52, rules: {base: 6}, fired: [refill], not_fired: [big-order],
                 discount: 128.00, discounts: {refill: 128.00}, free_shipping: false,
                 to_pay: 692.50}       # or expect: {error: RE411}
      - name: a scenario            # `before:` events build the customer's history first
        before: [events/signup.json]
        event_file: events/first-purchase.json
        expect: {tier: green, balance: 106, available: 0, badges: [first-cup],
                 lots: {"evt-1/base": 6}, points_changes: {expire: 10, burn: 350},
                 coupons_issued: [welcome-10], notifications: [beans_expiring],
                 entries: {new-year-draw: 2},
                 trace: {"referral:signup": {code: capped, reason: already referred}}}

Results are data (`CaseResult`, `Mismatch`); `render.py` turns them into text.
"""

from __future__ import annotations

import datetime as dt
import difflib
import typing
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from pydantic_core import PydanticCustomError

from rules_engine.codes import CODES, REFUSING_STAGES
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import parse_event
from rules_engine.engine.inputs import read_json
from rules_engine.engine.outcome import Outcome, RuleTrace, TraceCode
from rules_engine.errors import (
    Diagnostic,
    EvaluationError,
    PydanticIssue,
    RulesEngineError,
    StateError,
    diagnostics_from_pydantic,
)
from rules_engine.program import loader
from rules_engine.program.model import Program
from rules_engine.program.structure import describe_kind, show_value
from rules_engine.source import Span
from rules_engine.state.documents import select_state

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


POINTS_CHANGES = ("available", "expire", "burn", "reverse")
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


def default_tests_path(program: Path) -> Path:
    """`programs/coffee-club.yaml` → `programs/coffee-club.tests.yaml`."""
    suffix = program.suffix if program.suffix in (".yaml", ".yml") else ".yaml"
    stem = program.name[: -len(program.suffix)] if program.suffix else program.name
    return program.with_name(f"{stem}.tests{suffix}")


def suite_paths(program: Path, tests: Path | None) -> tuple[Path | None, Path]:
    """The program and the tests file that `loyalty test PROGRAM [TESTS]` means.

    `loyalty test coffee-club.tests.yaml` names only a tests file: the program is then None here,
    and `suite_program` finds it once the file is loaded.
    """
    if tests is None and ".tests." in program.name:
        return None, program
    return program, tests or default_tests_path(program)


def suite_program(suite: Suite) -> Path:
    """The program a tests file is for: its `program:`, or `x.yaml` beside `x.tests.yaml`.

    Raises:
        SuiteError: RE105 when the file names no program and there is no such file beside it;
            RE450 or RE414 when `program:` names a file outside the tests file's folder or a name
            no file can have (`load_suite`).
    """
    if suite.program_problems:
        raise SuiteError(list(suite.program_problems))
    if suite.program is not None:
        return suite.program
    beside = suite.file.with_name(suite.file.name.replace(".tests.", ".", 1))
    if beside == suite.file or not beside.exists():
        raise SuiteError(
            [
                Diagnostic(
                    "RE105",
                    f"{suite.file} names no program, and there is no {beside.name} beside it",
                    hint="add `program: FILE.yaml` to the tests file, or run loyalty test PROGRAM TESTS",
                )
            ]
        )
    return beside


# -- loading -------------------------------------------------------------------------------------


def load_suite(path: str | Path, *, allow_outside: bool = False) -> Suite:
    """Load a tests file and the event and state files it names.

    Event and state files must lie in the tests file's folder or below it (after following
    links): a tests file from a pull request must not read, and print a line of, any file the CI
    runner can. `allow_outside` lifts that (`loyalty test --allow-outside`).

    Raises:
        SuiteError: with every problem found: YAML (RE10x), unknown, missing or mistyped keys
            (RE111–RE117), duplicate case names (RE121), unreadable or malformed JSON (RE414),
            a file outside the tests file's folder (RE450).
    """
    file = Path(path)
    try:
        data, source_map = loader.load_file(file)
    except RulesEngineError as error:
        raise SuiteError(error.diagnostics) from None
    try:
        suite = SuiteFile.model_validate(data)
    except PydanticError as error:
        raise SuiteError(_model_problems(error, data, source_map)) from None
    problems: list[tuple[int, Diagnostic]] = []  # (where in the tests file, problem)
    cases: list[LoadedCase] = []
    seen: dict[str, int] = {}
    base = file.parent
    for index, case in enumerate(suite.cases):
        at: tuple[Hashable, ...] = ("cases", index)
        problems += [(d.span.start if d.span else -1, d) for d in _shape_problems(case, at, source_map)]
        if case.name in seen:
            name_span = source_map.span((*at, "name"))
            problems.append(
                (
                    name_span.start,
                    Diagnostic(
                        "RE121",
                        f"two cases are named `{case.name}`",
                        name_span,
                        f"the first is on line {source_map.span(('cases', seen[case.name], 'name')).line}; "
                        "give each case its own name",
                    ),
                )
            )
        seen.setdefault(case.name, index)
        event, event_span = _data(
            case.event, case.event_file, "event", base, at, source_map, problems, allow_outside
        )
        state, state_span = _data(
            case.customer, case.customer_file, "customer state", base, at, source_map, problems, allow_outside
        )
        if case.customer_file is not None and state is not None:  # any file a command wrote
            try:
                state, _ = select_state(state, event.get("customer") if isinstance(event, dict) else None)
            except StateError as error:
                offset = state_span.start if state_span else -1
                problems += [(offset, replace(d, span=state_span)) for d in error.diagnostics]
        history = []
        for position, name in enumerate(case.before or []):
            where = source_map.span((*at, "before", position))
            try:
                history.append(_read(base, name, "event", allow_outside))
            except RulesEngineError as error:
                problems += [
                    (where.start, d if d.span is not None else Diagnostic(d.code, d.message, where, d.hint))
                    for d in error.diagnostics
                ]
        cases.append(
            LoadedCase(
                case=case,
                event=event,
                state=state,
                span=source_map.span((*at, "name")),
                event_span=event_span or source_map.span(at),
                state_span=state_span,
                before=tuple(history),
            )
        )
    if problems:
        # in file order; a problem inside an event or state file sits where the tests file names it
        ordered = sorted(enumerate(problems), key=lambda item: (item[1][0], item[0]))
        raise SuiteError([problem for _, (_, problem) in ordered])
    program: Path | None = None
    program_problems: list[Diagnostic] = []
    if suite.program is not None:
        where = source_map.span(("program",))
        try:
            program = _confined(base, suite.program, "program", allow_outside)
        except RulesEngineError as error:
            program_problems = [replace(d, span=d.span or where) for d in error.diagnostics]
    return Suite(
        file=file,
        program=program,
        cases=cases,
        source_map=source_map,
        program_problems=tuple(program_problems),
    )


def _data(
    inline: dict[str, Any] | None,
    file_name: str | None,
    what: str,
    base: Path,
    at: tuple[Hashable, ...],
    source_map: loader.SourceMap,
    problems: list[tuple[int, Diagnostic]],
    allow_outside: bool = False,
) -> tuple[Any, Span | None]:
    """The event or state data of a case, inline or read from its file; and where it is named."""
    inline_key, file_key = ("event", "event_file") if what == "event" else ("customer", "customer_file")
    if file_name is None:
        span = source_map.key_span((*at, inline_key)) if inline is not None else None
        return inline, span
    where = source_map.span((*at, file_key))
    try:
        return _read(base, file_name, what, allow_outside), where
    except RulesEngineError as error:
        problems += [
            (where.start, d if d.span is not None else Diagnostic(d.code, d.message, where, d.hint))
            for d in error.diagnostics
        ]
        return None, where


def _read(base: Path, name: str, what: str, allow_outside: bool) -> Any:
    """An event or state file named by a tests file in `base`; RE450 if it lies outside."""
    return read_json(_confined(base, name, what, allow_outside), what, name=str(base / name))


def _confined(base: Path, name: str, what: str, allow_outside: bool) -> Path:
    """The file a tests file in `base` names, links followed: the path that is then read.

    Reading the resolved path, not the name, means a link swapped after the check is not followed.

    Raises:
        EvaluationError: RE450 when it lies outside `base` (unless `allow_outside`); RE414 when the
            name holds a NUL character, which no file name can.
    """
    if "\0" in name:  # the OS refuses it: open() and resolve() raise ValueError, not OSError
        raise EvaluationError(
            [
                Diagnostic(
                    "RE414",
                    f"the {what} file name {name!r} holds a NUL character, which no file name can",
                    hint="remove the \\0 (or \\u0000) from the name",
                )
            ]
        )
    try:
        path = (base / name).resolve()
    except (OSError, RuntimeError) as problem:  # a loop of links: RuntimeError before Python 3.13
        raise EvaluationError(
            [Diagnostic("RE414", f"cannot read the {what} file {name}: {problem}", hint="check the path")]
        ) from None
    if not allow_outside and not path.is_relative_to(base.resolve()):
        raise EvaluationError(
            [
                Diagnostic(
                    "RE450",
                    f"the {what} file {name} is outside the tests file's folder: not read",
                    hint="keep the program, event and state files beside the tests file or in a folder "
                    "below it (or run `loyalty test --allow-outside` if you trust the tests file)",
                )
            ]
        )
    return path


def _shape_problems(case: Case, at: tuple[Hashable, ...], source_map: loader.SourceMap) -> list[Diagnostic]:
    """Rules of the format a model cannot say well: one of two keys, `error` alone."""
    problems = []
    if case.event is None and case.event_file is None:
        problems.append(
            Diagnostic(
                "RE112",
                "missing field `event` (or `event_file`)",
                source_map.span((*at, "name")),
                "give the event inline with `event: {...}`, or name a JSON file with `event_file:`",
            )
        )
    if case.event is not None and case.event_file is not None:
        problems.append(
            Diagnostic(
                "RE117",
                "a case has `event` or `event_file`, not both",
                source_map.key_span((*at, "event_file")),
                "remove one of them",
            )
        )
    if case.customer is not None and case.customer_file is not None:
        problems.append(
            Diagnostic(
                "RE117",
                "a case has `customer` or `customer_file`, not both",
                source_map.key_span((*at, "customer_file")),
                "remove one of them",
            )
        )
    expect = case.expect
    given = [name for name in Expect.model_fields if getattr(expect, name) is not None]
    if not given:
        problems.append(
            Diagnostic(
                "RE116",
                "`expect` is empty: nothing would be checked",
                source_map.span((*at, "expect")),
                f"expect at least one of: {', '.join(Expect.model_fields)}",
            )
        )
    if expect.error is not None and len(given) > 1:
        others = ", ".join(f"`{name}`" for name in given if name != "error")
        problems.append(
            Diagnostic(
                "RE117",
                f"`error` cannot be combined with {others}: a refused event gives nothing",
                source_map.key_span((*at, "expect", "error")),
                "put the other expectations in a case of their own",
            )
        )
    for name in ("fired", "not_fired"):
        rules = getattr(expect, name) or []
        for position, rule in enumerate(rules):
            if rule in rules[:position]:
                problems.append(
                    Diagnostic(
                        "RE121", f"`{rule}` is listed twice", source_map.span((*at, "expect", name, position))
                    )
                )
    both = set(expect.fired or []) & set(expect.not_fired or [])
    for rule in sorted(both):
        position = (expect.not_fired or []).index(rule)
        problems.append(
            Diagnostic(
                "RE117",
                f"`{rule}` is expected both to fire and not to fire",
                source_map.span((*at, "expect", "not_fired", position)),
                "remove it from one of the lists",
            )
        )
    for kind in expect.points_changes or {}:
        if kind not in POINTS_CHANGES:
            problems.append(
                _not_one_of(
                    kind,
                    POINTS_CHANGES,
                    "a kind of points change",
                    source_map.key_span((*at, "expect", "points_changes", kind))
                    or source_map.span((*at, "expect", "points_changes")),
                )
            )
    for rule, wanted in (expect.trace or {}).items():
        path = (*at, "expect", "trace", rule)
        if wanted.code is None and wanted.reason is None:
            problems.append(
                Diagnostic(
                    "RE116",
                    f"`trace` of `{rule}` is empty: nothing would be checked",
                    source_map.span(path),
                    "give its `code`, or text its `reason` contains, or both",
                )
            )
        if wanted.code is not None and wanted.code not in TRACE_CODES:
            problems.append(
                _not_one_of(wanted.code, TRACE_CODES, "a trace code", source_map.span((*path, "code")))
            )
    if expect.error is not None and expect.error not in REFUSALS:
        where = source_map.span((*at, "expect", "error"))
        problems.append(_not_one_of(expect.error, REFUSALS, "a code an event can be refused with", where))
    return problems


def _not_one_of(value: str, allowed: Sequence[str], what: str, span: Span | None) -> Diagnostic:
    close = difflib.get_close_matches(value, list(allowed), n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`?" if close else f"one of: {', '.join(allowed)}"
    return Diagnostic("RE114", f"`{value}` is not {what}", span, hint)


_MESSAGES = {
    "missing": ("RE112", "missing field `{name}`"),
    "number_type": ("RE113", "`{name}` must be a number, not {kind}"),
    "bool_type": ("RE113", "`{name}` must be true or false, not {kind}"),
    "string_type": ("RE113", "`{name}` must be text, not {kind}"),
    "key_type": ("RE113", "a key of `{name}` must be text, not {kind}"),
    "list_type": ("RE113", "`{name}` must be a list, not {kind}"),
    "dict_type": ("RE113", "`{name}` must be a mapping of fields, not {kind}"),
    "model_type": ("RE113", "`{name}` must be a mapping of fields, not {kind}"),
    "model_attributes_type": ("RE113", "`{name}` must be a mapping of fields, not {kind}"),
    "string_pattern_mismatch": ("RE115", "{shown} is not a diagnostic code"),
    "too_short": ("RE116", "`{name}` cannot be empty"),
    "string_too_short": ("RE116", "`{name}` cannot be empty"),
}
_HINTS = {
    "cases": "a tests file is `cases:` followed by a list of `- name: … event: … expect: …`",
    "error": "write the code the event must be refused with, e.g. RE411",
}


def _model_problems(error: PydanticError, data: Any, source_map: loader.SourceMap) -> list[Diagnostic]:
    def name(issue: PydanticIssue) -> str:
        names = [step for step in issue.loc if isinstance(step, str) and step != "[key]"]
        return names[-1] if names else "the tests file"

    def described(issue: PydanticIssue) -> tuple[str, str]:  # the code and the message
        if issue.kind == "extra_forbidden":
            return "RE111", f"unknown field `{name(issue)}`"
        kind = "key_type" if issue.loc[-1:] == ("[key]",) else issue.kind  # a mapping key, not its value
        code, template = _MESSAGES.get(kind, ("RE117", "`{name}`: {message}"))
        shown = show_value(issue.input)
        return code, template.format(
            name=name(issue), kind=describe_kind(issue.input), shown=shown, message=issue.message
        )

    def hint(issue: PydanticIssue) -> str | None:
        if issue.kind != "extra_forbidden":
            return _HINTS.get(name(issue))
        allowed = list(_model_at(issue.loc[:-1]).model_fields)
        close = difflib.get_close_matches(name(issue), allowed, n=1, cutoff=0.6)
        return f"did you mean `{close[0]}`?" if close else f"known fields here: {', '.join(allowed)}"

    def span(issue: PydanticIssue) -> Span:
        path = _data_path(issue.loc, data)
        if issue.kind == "extra_forbidden" or issue.loc[-1:] == ("[key]",):
            return source_map.key_span(path) or source_map.span(path)
        if issue.kind == "missing":  # the mapping that lacks the field, or its first line for a list item
            return _first_line(source_map.span(issue.loc))
        return source_map.span(path)

    problems = diagnostics_from_pydantic(
        error,
        lambda issue: described(issue)[0],
        data=data,
        message=lambda issue: described(issue)[1],
        hint=hint,
        span=span,
    )
    return sorted(problems, key=lambda d: d.span.start if d.span else -1)


def _first_line(span: Span) -> Span:
    text = span.file.text
    end = text.find("\n", span.start, span.end)
    return span if end < 0 else Span(span.file, span.start, end)


def _model_at(loc: Sequence[Any]) -> type[BaseModel]:
    """The model a pydantic `loc` (without its last step) points into."""
    model: type[BaseModel] = SuiteFile
    steps = list(loc)
    for position, step in enumerate(steps):
        if model is SuiteFile and step == "cases":
            model = Case
        elif model is Case and step == "expect":
            model = Expect
        elif model is Expect and step == "trace" and position + 1 < len(steps):
            model = TraceExpect  # past the rule's name: `trace: {rule: {code, reason}}`
    return model


def _data_path(loc: Sequence[Any], data: Any) -> tuple[Hashable, ...]:
    """Pydantic's `loc` reduced to the steps that exist in the data (a missing key stops it)."""
    path: list[Hashable] = []
    node = data
    for step in loc:
        in_dict = isinstance(node, dict) and step in node
        if not in_dict and not (isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)):
            break
        path.append(step)
        node = node[step]
    return tuple(path)


# -- references ----------------------------------------------------------------------------------


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


def run_suite(engine: Engine, suite: Suite) -> list[CaseResult]:
    """Run every case; a case never stops the others."""
    return [
        run_case(engine, loaded, suite.source_map, ("cases", index))
        for index, loaded in enumerate(suite.cases)
    ]


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
        outcome = engine.process(loaded.event, state, explain=True)
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
            mismatch = Mismatch("error", "no error", ", ".join(codes), "the event was refused")
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
