"""An event's answer as `answers.py` writes it (pydantic's serializer): the same JSON as
`jsonio.dumps` of the outcome's data, number for number, on every example program's cases; the
trace only when asked.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.engine.outcome import Effects, Outcome, Totals
from rules_engine.errors import EventError
from rules_engine.http import Settings, answers
from rules_engine.http.models import Balance
from rules_engine.state.customer import CustomerState, Profile, parse_state
from tests.conftest import ROOT
from tests.http.conftest import PROGRAMS, Server, exact, post, purchase, serving
from tests.test_example_expectations import _engine, _event, _params, _state

EVENTS = "/v1/programs/coffee-club/events"


def literal(text: str | bytes) -> Any:
    """A JSON text's data with every number kept as the text it was written as: two answers
    compare equal only when their numbers are written digit for digit alike."""
    return json.loads(text, parse_float=lambda s: ("number", s), parse_int=lambda s: ("number", s))


def old_event_answer(outcome: Outcome, *, trace: bool) -> str:
    """The answer as the service wrote it before answers.py: data, then jsonio."""
    exclude = {"state"} if trace else {"state", "trace"}
    return jsonio.dumps(
        {
            "program": outcome.program,
            "version": outcome.version,
            "duplicate": False,
            "outcome": outcome.model_dump(mode="python", exclude=exclude),
            "balance": Balance.of(outcome.state, outcome.customer).model_dump(mode="python"),
            "referrer": None,
        }
    )


def new_event_answer(outcome: Outcome, *, trace: bool) -> bytes:
    exclude = {"state"} if trace else {"state", "trace"}
    body: answers.EventAnswer = {
        "program": outcome.program,
        "version": outcome.version,
        "duplicate": False,
        "outcome": outcome,
        "balance": Balance.of(outcome.state, outcome.customer),
        "referrer": None,
    }
    return answers.EVENT.dumps(body, exclude={"outcome": exclude})


def decided(explain: bool) -> Iterator[tuple[str, Outcome]]:
    """Every example program's case that the engine decides on its own (a case that needs an
    earlier purchase in a store, or expects a refusal, is left out), with its outcome."""
    for param in _params():
        tests_file, program, case = param.values
        if "error" in case.get("expect", {}):
            continue
        state = _state(tests_file, case)
        try:
            result = _engine(tests_file.parent / program).process(
                _event(tests_file, case), parse_state(state) if state else None, explain=explain
            )
        except EventError:
            continue
        yield param.id, result.outcome()


@pytest.mark.parametrize("explain", [False, True], ids=["plain", "explain"])
def test_the_answer_is_what_jsonio_wrote(explain: bool) -> None:
    """Differential: event answers (with and without the trace) and whole outcomes (a dry-run's,
    with the state and, explained, every condition's values) read exactly as before, on every
    example program's sample events."""
    compared = 0
    for name, outcome in decided(explain):
        for trace in (True, False):
            assert literal(new_event_answer(outcome, trace=trace)) == literal(
                old_event_answer(outcome, trace=trace)
            ), name
        whole: answers.DryRunAnswer = {
            "program": outcome.program,
            "version": outcome.version,
            "outcome": outcome,
        }
        old = {"program": outcome.program, "version": outcome.version, "outcome": outcome.model_dump()}
        assert literal(answers.DRY_RUN.dumps(whole)) == literal(jsonio.dumps(old)), name
        compared += 1
    assert compared >= 40  # the example programs' cases, most of them


# amounts as money and points are: up to 15 digits, up to 8 places (trailing zeros kept: 5.10)
amounts = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places), st.integers(-(10**15), 10**15), st.integers(0, 8)
)


@given(
    total=amounts, available=amounts, pending=amounts, extra=st.dictionaries(st.text(), amounts, max_size=4)
)
def test_every_decimal_is_written_digit_for_digit(
    total: Decimal, available: Decimal, pending: Decimal, extra: dict[str, Decimal]
) -> None:
    """Any decimal, in a typed field (Balance) or in an `Any` one (a state's attributes), is a
    JSON number with jsonio's digits: no exponent, no trailing zeros, never a string or a float;
    a date in an `Any` field as jsonio writes it."""
    balance = Balance(customer="c", tier=None, total=total, available=available, pending=pending, as_of=None)
    profile = Profile(attributes={"money": extra, "when": dt.date(2026, 12, 2), "list": [total, (pending,)]})
    state = CustomerState(customer="c", profile=profile)
    body: answers.DryRunAnswer = {"program": "p", "version": 1, "outcome": _outcome_with(state)}
    written = answers.DRY_RUN.dumps(body)
    assert literal(written) == literal(
        jsonio.dumps({"program": "p", "version": 1, "outcome": body["outcome"].model_dump()})
    )
    event: answers.EventAnswer = {
        "program": "p",
        "version": 1,
        "duplicate": False,
        "outcome": body["outcome"],
        "balance": balance,
        "referrer": None,
    }
    read = jsonio.loads(answers.EVENT.dumps(event, exclude={"outcome": {"state"}}).decode())
    assert (read["balance"]["total"], read["balance"]["available"], read["balance"]["pending"]) == (
        total,
        available,
        pending,
    )
    assert literal(answers.EVENT.dumps(event, exclude={"outcome": {"state"}}))["balance"] == literal(
        jsonio.dumps(balance.model_dump())
    )


@given(
    st.decimals(allow_nan=False, allow_infinity=False)
    | st.builds(Decimal, st.sampled_from(["-0", "-0.00", "0E+3", "1E+3", "1.20E-7", "-5E-9", "100.000"]))
)
def test_a_decimals_digits_are_those_of_its_fixed_point_form(value: Decimal) -> None:
    """`answers._digits` (from `str`) writes what `format(value, "f")` writes, less trailing zeros."""
    fixed = format(value, "f")
    assert answers._digits(value) == (fixed.rstrip("0").rstrip(".") if "." in fixed else fixed)


@pytest.mark.parametrize("value", ["NaN", "-NaN", "sNaN", "NaN12", "Infinity", "-Infinity"])
def test_a_decimal_that_is_no_number_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not a number JSON can hold"):
        answers._digits(Decimal(value))


def _outcome_with(state: CustomerState) -> Outcome:
    return Outcome(
        program="p",
        version=1,
        event="e",
        customer="c",
        effects=Effects(),
        totals=Totals(),
        state=state,
        trace=[],
    )


def test_a_string_that_looks_like_the_mark_stays_a_string() -> None:
    """Only the writer's own decimals lose their quotes: a client's text, even one with a NUL and
    digits, is written back as the text it was."""
    sly = "\x00" + "0" * 16 + ":123"
    state = CustomerState(customer=sly, profile=Profile(attributes={"note": sly, "n": "\x00123"}))
    body: answers.DryRunAnswer = {"program": "p", "version": 1, "outcome": _outcome_with(state)}
    read = json.loads(answers.DRY_RUN.dumps(body))
    assert read["outcome"]["state"]["customer"] == sly
    assert read["outcome"]["state"]["profile"]["attributes"] == {"note": sly, "n": "\x00123"}


# -- over HTTP: the trace when asked ------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("programs")
    for program in PROGRAMS:
        (folder / f"{program}.yaml").write_text(
            (ROOT / "programs" / f"{program}.yaml").read_text(encoding="utf-8"), encoding="utf-8"
        )
    db = str(tmp_path_factory.mktemp("db") / "loyalty.db")
    with serving(Settings(programs=folder, db=db)) as running:
        running.keys["admin"] = running.add_key(["admin"])
        yield running


@pytest.fixture
def admin(server: Server) -> Iterator[Any]:
    with server.client(server.keys["admin"]) as client:
        yield client


def test_an_event_is_answered_without_its_trace_unless_asked(admin: Any) -> None:
    plain = exact(post(admin, EVENTS, purchase(1, "uma")))
    assert "trace" not in plain["outcome"]
    assert plain["outcome"]["totals"]["points"] > 0 and plain["balance"]["total"] > 0

    traced = post(admin, f"{EVENTS}?trace=true", purchase(2, "uma"))
    assert traced.status_code == 200, traced.text
    trace = exact(traced)["outcome"]["trace"]
    assert {"base", "double-tuesday"} <= {rule["rule"] for rule in trace}
    assert any(rule["fired"] for rule in trace) and any(not rule["fired"] for rule in trace)

    # a redelivery asked for the trace gets the original one; not asked, none
    again = exact(post(admin, f"{EVENTS}?trace=true", purchase(2, "uma")))
    assert again["duplicate"] is True and again["outcome"]["trace"] == trace
    assert "trace" not in exact(post(admin, f"{EVENTS}?trace=false", purchase(2, "uma")))["outcome"]


def test_a_redemption_is_answered_with_its_trace_when_asked(admin: Any) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)  # past the pending period
    for n in range(3):
        assert post(admin, EVENTS, purchase(n, "vic", price="5000.00", at=long_ago)).status_code == 200
    path = "/v1/programs/coffee-club/customers/vic/redemptions"
    redemption = {"id": "red-vic-1", "item": "free-latte", "time": dt.datetime.now(dt.UTC).isoformat()}
    spent = post(admin, path, redemption)
    assert spent.status_code == 200, spent.text
    assert "trace" not in exact(spent)["outcome"]
    traced = exact(post(admin, f"{path}?trace=true", redemption))
    assert traced["duplicate"] is True
    assert any(rule["kind"] == "catalog" for rule in traced["outcome"]["trace"])


def test_the_schema_says_the_trace_is_optional(server: Server) -> None:
    with server.client() as anonymous:
        schema = anonymous.get("/openapi.json").json()
    summary = schema["components"]["schemas"]["OutcomeSummary"]
    assert "trace" in summary["properties"] and "trace" not in summary.get("required", [])
    events = schema["paths"]["/v1/programs/{program}/events"]["post"]
    assert any(p["name"] == "trace" and p["in"] == "query" for p in events["parameters"])


def test_a_balance_counts_each_lot_as_the_state_does() -> None:
    """`Balance.of` (one pass, no validation) gives what the state's own `available` and `pending`
    give, and the same model as a validated one, on every example program's outcomes."""
    compared = 0
    for name, outcome in decided(False):
        state = outcome.state
        at = state.last_event_at
        balance = Balance.of(state, outcome.customer)
        total = sum((lot.points for lot in state.lots), Decimal(0))
        expected = (total, state.available(at), state.pending(at)) if at else (total, total, Decimal(0))
        assert (balance.total, balance.available, balance.pending) == expected, name
        assert balance == Balance.model_validate(balance.model_dump()), name
        compared += bool(state.lots)
    assert compared >= 20
