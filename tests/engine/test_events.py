"""Events as they arrive: a bad one is refused with RE410 naming the field and a hint, never a
traceback; nothing but an outcome or a project error leaves `Engine.process`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine import points
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.errors import EventError, RulesEngineError
from tests.conftest import ROOT

ENGINE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
MOSCOW = ZoneInfo("Europe/Moscow")
GOOD: dict[str, Any] = {
    "id": "e1",
    "type": "purchase",
    "time": "2026-12-08T09:00:00+03:00",
    "customer": "anna",
    "items": [{"sku": "LATTE", "category": "coffee", "price": Decimal("300.00"), "qty": 1}],
}


def refused(**changes: Any) -> list[tuple[str, tuple[str | int, ...] | None, str | None]]:
    with pytest.raises(EventError) as caught:
        ENGINE.process({**GOOD, **changes})
    return [(d.code, d.path, d.hint) for d in caught.value.diagnostics]


def line(**changes: Any) -> list[dict[str, Any]]:
    return [{**GOOD["items"][0], **changes}]


@pytest.mark.parametrize(
    "time",
    [
        "0001-01-01T00:00:00+03:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T23:00:00Z",
    ],
)
def test_a_time_in_year_1_or_9999_is_refused_not_an_overflow(time: str) -> None:
    # OverflowError left Engine.process and aborted `loyalty run` (issue 11)
    [(code, path, hint)] = refused(time=time)
    assert (code, path) == ("RE410", ("time",))
    assert hint is not None and "1900 to 2999" in hint


@pytest.mark.parametrize("time", [1765170900, "1765170900", Decimal("1765170900.5")])
def test_a_time_written_as_a_number_is_refused_not_read_as_epoch_seconds(time: Any) -> None:
    [(code, path, hint)] = refused(time=time)
    assert (code, path) == ("RE410", ("time",))
    assert hint is not None and "2026-12-05T09:15:00+03:00" in hint


def test_an_amount_with_more_decimals_than_the_currency_is_refused_not_rounded() -> None:
    problems = refused(items=line(price=Decimal("100.005")), shipping=Decimal("1.001"))
    assert [(code, path) for code, path, _ in problems] == [
        ("RE410", ("items", 0, "price")),
        ("RE410", ("shipping",)),
    ]


def test_an_amount_as_text_is_read_exactly_when_it_is_a_plain_decimal() -> None:
    as_text = ENGINE.process({**GOOD, "items": line(price="300.00", qty="1")})
    as_number = ENGINE.process(GOOD)
    assert as_text.model_dump_json() == as_number.model_dump_json()
    for text in ("1e3", " 300", "3,00", "NaN", "0x1F"):
        [(code, path, _)] = refused(items=line(price=text))
        assert (code, path) == ("RE410", ("items", 0, "price"))


def test_a_quantity_of_zero_is_not_told_it_cannot_be_negative() -> None:
    [(code, path, hint)] = refused(items=line(qty=0))
    assert (code, path) == ("RE410", ("items", 0, "qty"))
    assert hint is not None and "negative" not in hint and "more than 0" in hint


def test_a_numeric_id_gets_a_hint_to_quote_it() -> None:
    problems = refused(customer=7781, id=12)
    assert [(code, path) for code, path, _ in problems] == [("RE410", ("id",)), ("RE410", ("customer",))]
    assert problems[1][2] is not None and '"7781"' in problems[1][2]


def test_more_than_a_hundred_coupons_is_refused_with_a_clear_message() -> None:
    """A till never sends more; the bound also keeps `item.sku in basket.coupons` in a per-item
    rule within the loop budget (10,000 lines × 100 coupons)."""
    assert ENGINE.process({**GOOD, "coupons": [f"C-{i}" for i in range(100)]}) is not None
    with pytest.raises(EventError) as caught:
        ENGINE.process({**GOOD, "coupons": [f"C-{i}" for i in range(101)]})
    [problem] = caught.value.diagnostics
    assert (problem.code, problem.path) == ("RE410", ("coupons",))
    assert "101 coupons" in problem.message and "100" in problem.message
    assert problem.hint is not None and "at most 100 coupons" in problem.hint


def test_a_time_without_an_offset_gets_a_hint() -> None:
    [(code, path, hint)] = refused(time="2026-12-05T09:15:00")
    assert (code, path) == ("RE410", ("time",))
    assert hint is not None and "+03:00" in hint and "Z" in hint


def test_a_date_overflow_while_processing_is_a_project_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def overflow(*_: Any) -> Any:  # as a far-off time in a state plus a program's long window would
        raise OverflowError("date value out of range")

    monkeypatch.setattr(points, "time_passed", overflow)  # what `process` asks of time passing
    with pytest.raises(EventError) as caught:
        ENGINE.process(GOOD)
    assert [d.code for d in caught.value.diagnostics] == ["RE417"]


_scalars = st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False) | st.text(max_size=12)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_times = st.datetimes(
    min_value=dt.datetime(1, 1, 2),
    max_value=dt.datetime(9999, 12, 30),
    timezones=st.sampled_from([dt.UTC, None]),
).map(lambda moment: moment.isoformat())
_events = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=5) | _json,
        "type": st.sampled_from(["purchase", "return", "signup", "redeem", "review", "referral_reward", "x"]),
        "time": _times | _json,
        "customer": st.just("anna") | _json,
        "items": st.lists(
            st.fixed_dictionaries(
                {"sku": st.just("A") | _json, "price": _scalars, "qty": _scalars},
                optional={"category": _json, "attributes": _json},
            ),
            max_size=3,
        )
        | _json,
        "shipping": _scalars,
        "purchase": _json,
        "coupons": _json,
        "item": _json,
        "attributes": _json,
        "referral_code": _json,
    },
)


_offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))
_purchases = st.fixed_dictionaries(
    {
        "id": st.text("abc123-", min_size=1, max_size=8),
        "type": st.just("purchase"),
        "time": st.datetimes(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30), timezones=_offsets).map(
            lambda moment: moment.isoformat()
        )
        | st.sampled_from(["0001-01-02T00:00:00Z", "9999-12-30T00:00:00Z", "2026-12-08T09:00:00Z"]),
        "customer": st.just("anna"),
        "items": st.lists(
            st.fixed_dictionaries(
                {
                    "sku": st.sampled_from(["LATTE", "CROISSANT", "GIFT"]),
                    "category": st.sampled_from(["coffee", "pastry", "gift_card"]),
                    "price": st.decimals(0, 10**6, places=2),
                    "qty": st.integers(1, 5),
                }
            ),
            min_size=1,
            max_size=3,
        ),
    },
    optional={
        "shipping": st.decimals(0, 1000, places=3),
        "coupons": st.lists(st.text(max_size=6), max_size=2),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_purchases | _events | _json)
def test_any_json_gives_an_outcome_or_a_project_error(event: Any) -> None:
    try:
        result = ENGINE.process(event)
    except RulesEngineError:
        return
    assert isinstance(result.outcome(), Outcome)


@pytest.mark.parametrize(("first", "second"), [("+03:00", "+03:00"), ("Z", "+00:00"), ("-05:30", "-05:30")])
def test_times_of_one_offset_share_one_timezone_and_keep_their_json(first: str, second: str) -> None:
    """Times with the same UTC offset carry one shared timezone object (events.fixed_offset), so
    the engine compares them as plain times; what is written back is the offset as it came."""
    from rules_engine.engine.reader import parse_event

    def at(time: str) -> dict[str, Any]:
        item = {"sku": "LATTE-L", "category": "coffee", "price": 320, "qty": 1}
        return {"id": f"e-{time}", "type": "purchase", "time": time, "customer": "c", "items": [item]}

    moscow = parse_event(at("2026-12-08T08:15:00+03:00") | {"time": dt.datetime(2026, 12, 8, tzinfo=MOSCOW)})
    assert moscow.time.tzinfo is parse_event(at("2026-12-09T08:15:00+03:00")).time.tzinfo  # a named zone too

    a = parse_event(at(f"2026-12-08T08:15:00{first}")).time
    b = parse_event(at(f"2026-12-09T09:00:00{second}")).time
    assert a.tzinfo is b.tzinfo
    assert a.utcoffset() == b.utcoffset()
    state = ENGINE.process(at(f"2026-12-08T08:15:00{first}")).state
    written = state.model_dump(mode="json")["last_event_at"]
    assert written == "2026-12-08T08:15:00" + ("Z" if first == "Z" else first)
