"""Reading a tests file: YAML with a span for every node, its event and state files (confined to
the tests file's folder unless allowed), every problem at its line and column."""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from rules_engine.engine.inputs import read_json
from rules_engine.errors import (
    Diagnostic,
    EvaluationError,
    PydanticIssue,
    RulesEngineError,
    StateError,
    diagnostics_from_pydantic,
)
from rules_engine.program import loader
from rules_engine.program.structure import describe_kind, show_value
from rules_engine.source import Span
from rules_engine.state.documents import select_state
from rules_engine.tools.expectations.model import (
    POINTS_CHANGES,
    REFUSALS,
    TRACE_CODES,
    Case,
    Expect,
    LoadedCase,
    Suite,
    SuiteError,
    SuiteFile,
    TraceExpect,
)


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
        seen: set[str] = set()  # not `rules[:position]`: 100,000 names took 17 s to look through
        for position, rule in enumerate(getattr(expect, name) or []):
            if rule in seen:
                problems.append(
                    Diagnostic(
                        "RE121", f"`{rule}` is listed twice", source_map.span((*at, "expect", name, position))
                    )
                )
            seen.add(rule)
    positions = {rule: position for position, rule in reversed(list(enumerate(expect.not_fired or [])))}
    for rule in sorted(set(expect.fired or []) & positions.keys()):
        position = positions[rule]  # the first: not `.index(rule)`, for each rule in both lists
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
