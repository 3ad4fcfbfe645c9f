"""The mechanics of a purchase on the generated path decide as their `apply` (issues 12/13).

A purchase the generated path takes runs badges, challenges, quests, streaks and tiers as
functions specialised once per program (`for_purchase`, engine/mechanics/): a challenge's window
key worked out once a day, a line-counting `counts` as one list of each line's part
(`compiler.compile_parts`), the records a return reads found by their decimals, a quest's attempt
that a purchase leaves as it was kept whole. These tests hold them to the explaining path's
`apply`, outcome JSON and state JSON event by event: random programs with a challenge of every
window kind (day, week, month, quarter, year, rolling, lifetime), each `counts` form, both repeats,
quests in and out of order with time limits, badges, with and without a return window, over
streams that cross every period's boundary, with returns of earlier purchases (inside and
outside the return window, lines of one SKU twice, quantities in part) and late events; and each
line's part, as `compile_parts` gives it, against the aggregate the compiled expression gives.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import periods
from rules_engine.dsl.context import Context
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import Line
from rules_engine.engine.mechanics import challenges, shared
from rules_engine.engine.mechanics.challenge_progress import _current_window
from rules_engine.engine.mechanics.lines import line_count, lines_counted
from rules_engine.engine.trusted import counted_lines, verdict
from rules_engine.program.types import Window
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import ChallengeProgress
from tests.engine.two_paths import same_stream

WINDOWS = (
    "calendar_day",
    "calendar_week",
    "calendar_month",
    "calendar_quarter",
    "calendar_year",
    "rolling 3d",
    "rolling 40d",
    "lifetime",
)
# What a challenge counts: the forms counted as one list of the lines' parts, and the others.
COUNTS = (
    None,
    'count(item.category == "drink" for item in basket.items)',
    "count(item.qty >= 2 for item in basket.items)",
    "sum(item.qty for item in basket.items)",
    'sum(item.qty for item in basket.items if item.category != "gift")',
    "sum(item.price * item.qty for item in basket.items)",
    "sum(item.weight for item in basket.items)",
    'count(item.weight > 1 for item in basket.items if item.category != "gift")',
    "sum(big for item in basket.items if item.qty > 1)",
    "count(item.price * item.qty * 2 >= basket.total for item in basket.items)",
    "max(item.qty for item in basket.items)",
    "basket.item_count",
)
PRODUCTS = (("TEA", "drink"), ("CAKE", "food"), ("CARD", "gift"), ("MUG", "goods"))
START = dt.datetime(2026, 3, 29, 22, 30, tzinfo=dt.UTC)  # a Sunday night, a quarter's last days


@st.composite
def gamified(draw: st.DrawFn) -> str:
    """A program whose purchases run every specialised mechanic: challenges of drawn windows and
    counts, a quest, automatic badges; a return window or none."""
    parts = [
        "program: mechanics",
        "version: 1",
        f"timezone: {draw(st.sampled_from(['UTC', 'Europe/Berlin', 'Asia/Tokyo']))}",
        "currency: EUR",
        "constants:",
        "  big: 2.5",
        "attributes:",
        "  item:",
        "    weight: number",
        "earn:",
        "  - {id: base, rate: 1 per 1}",
    ]
    if draw(st.booleans()):
        parts += ["returns:", f"  within: {draw(st.sampled_from(['2d', '10d']))}"]
    if draw(st.booleans()):
        parts += ["late_events:", "  accept_within: 30d"]
    parts += [
        "badges:",
        "  - {id: b-given, name: Given}",
        "  - {id: b-first, name: First, on: [purchase], when: len(customer.purchases) == 0}",
        "  - {id: b-big, name: Big, when: basket.total >= 40}",
        "challenges:",
    ]
    windows = draw(st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=3, unique=True))
    for number, window in enumerate(windows):
        counts = draw(st.sampled_from(COUNTS))
        money = counts is not None and "price" in counts
        goal = draw(st.integers(20, 120)) if money else draw(st.integers(1, 8))
        parts += [f"  - id: ch{number}", f"    goal: {goal}", f"    window: {window}"]
        if counts is not None:
            parts.append(f"    counts: {counts}")
        if draw(st.integers(0, 4)) == 0:
            parts.append("    when: basket.total >= 5")
        if draw(st.integers(0, 5)) == 0:
            parts.append("    active: {weekdays: [mon, tue, wed, sat]}")
        parts.append(f"    repeat: {draw(st.sampled_from(['every_window', 'once']))}")
        parts.append(f"    reward: {{points: {draw(st.integers(1, 50))}, badge: b-given}}")
    parts += [
        "quests:",
        "  - id: qu",
        f"    within: {draw(st.sampled_from(['2d', '30d']))}",
        f"    ordered: {str(draw(st.booleans())).lower()}",
        "    steps:",
        '      - {id: tea, when: any(item.category == "drink" for item in basket.items)}',
        "      - {id: review, on: review}",
        '      - {id: cake, when: any(item.category == "food" for item in basket.items)}',
        "    reward: {points: 7}",
    ]
    return "\n".join(parts) + "\n"


@st.composite
def stream(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Two customers' purchases, returns and reviews, with gaps from minutes to half a year (every
    window's boundary crossed), lines of one SKU twice, quantities in part, late events."""
    events: list[dict[str, Any]] = []
    bought: dict[str, list[dict[str, Any]]] = {}
    time = START
    for number in range(draw(st.integers(1, 22))):
        time += dt.timedelta(
            minutes=draw(st.sampled_from([3, 60 * 7, 60 * 24, 60 * 24 * 3, 60 * 24 * 40, 60 * 24 * 170]))
        )
        moment = time - dt.timedelta(hours=30) if draw(st.integers(0, 6)) == 0 else time
        customer = f"c{draw(st.integers(1, 2))}"
        base = {"id": f"e{number}", "time": moment.isoformat(), "customer": customer}
        kind = draw(st.sampled_from(["purchase", "purchase", "purchase", "return", "review"]))
        if kind == "return" and bought.get(customer):
            purchase = draw(st.sampled_from(bought[customer]))
            line = draw(st.sampled_from(purchase["items"]))
            qty = draw(st.sampled_from([1, line["qty"]]))
            events.append(
                {
                    **base,
                    "type": "return",
                    "purchase": purchase["id"],
                    "items": [{"sku": line["sku"], "qty": qty}],
                }
            )
        elif kind == "review":
            events.append({**base, "type": "review"})
        else:
            items = []
            for sku, category in draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=5)):
                item: dict[str, Any] = {
                    "sku": sku,
                    "category": category,
                    "price": draw(st.sampled_from(["0.50", "3", "12.00", "7.25"])),
                    "qty": draw(st.sampled_from([1, 1, 2, 3, "1.5"])),
                }
                if draw(st.booleans()):
                    item["attributes"] = {"weight": draw(st.sampled_from(["0.5", "2", "1.00"]))}
                items.append(item)
            event = {**base, "type": "purchase", "items": items}
            events.append(event)
            bought.setdefault(customer, []).append(event)
    return events


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(program=gamified(), events=stream())
def test_a_purchases_mechanics_decide_as_their_apply(program: str, events: list[dict[str, Any]]) -> None:
    compiled = load_program_text(program, "mechanics.yaml")
    fast, slow = Engine(compiled, secret=b"s"), Engine(compiled, secret=b"s", generated=False)
    assert fast.generated is not None
    specialised = {f.__name__ for f in fast.generated.mechanics}
    assert {"badges_of_purchase", "challenges_of_purchase", "quests_of_purchase"} <= specialised
    same_stream(fast, slow, events)


_PARTS = """\
program: parts
version: 1
timezone: UTC
currency: EUR
constants:
  big: 2.5
attributes:
  item:
    weight: number
earn:
  - {id: base, rate: 1 per 1}
challenges:
  - {id: ch, counts: COUNTS, goal: 5, window: lifetime, reward: {points: 1}}
"""
_LINES = st.lists(
    st.fixed_dictionaries(
        {
            "sku": st.sampled_from(["A", "B"]),
            "category": st.sampled_from(["drink", "gift", None]),
            "price": st.sampled_from([Decimal("0.50"), Decimal(3), Decimal("2.000"), Decimal("1E+1")]),
            "qty": st.sampled_from([Decimal(1), Decimal(2), Decimal("1.5"), Decimal("0.250")]),
            "weight": st.sampled_from([None, Decimal("0.5"), Decimal(2), Decimal("1.00")]),
        }
    ),
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(
    lines=_LINES, form=st.sampled_from([c for c in COUNTS if c is not None and "basket.total" not in c][:7])
)
def test_each_lines_part_adds_up_to_what_the_compiled_aggregate_gives(
    lines: list[dict[str, Any]], form: str
) -> None:
    """`compile_parts`' parts, summed from 0 in order, are the compiled `count(…)` / `sum(…)`:
    the same value and the same exponent (its text); a `count`'s parts are 1 and 0."""
    counts = load_program_text(_PARTS.replace("COUNTS", form), "parts.yaml").expression(
        "challenges", 0, "counts"
    )
    assert counts is not None
    fused = line_count(counts)
    assert fused is not None, form
    items = tuple(
        {
            "sku": line["sku"],
            "name": None,
            "category": line["category"],
            "price": line["price"],
            "qty": line["qty"],
            "weight": line["weight"],
        }
        for line in lines
    )
    context = Context({"basket": {"items": items, "total": Decimal(0), "item_count": Decimal(0)}})
    parts = fused.parts(context)
    assert len(parts) == len(items)
    whole = counts.evaluate(context)
    assert str(sum(parts)) == str(whole)
    if fused.func == "count":
        assert set(parts) <= {0, 1}


# What a gamification expression reads, and whether the lines alone hold it (`reads_only_lines`).
_ONLY_LINES = (
    'count(item.category == "drink" for item in basket.items)',
    "sum(item.qty for item in basket.items if item.price > big)",
    'count(line.sku == "A" and line.name == null for line in basket.items)',
    "count(any(o.sku == i.sku for o in basket.items) for i in basket.items)",
)
_NOT_ONLY_LINES = (
    "sum(item.weight for item in basket.items)",  # a custom attribute: the record's, not the Line's
    "count(item.price * item.qty * 2 >= basket.total for item in basket.items)",
    "basket.item_count",
    "len(basket.items)",  # the list outside a comprehension over it
    "count(item.qty > 1 for item in basket.items) + customer.visits",
    "event.time.hour",
)


def _counts(form: str) -> Any:
    counts = load_program_text(_PARTS.replace("COUNTS", f"'{form}'"), "only.yaml").expression(
        "challenges", 0, "counts"
    )
    assert counts is not None
    return counts


@pytest.mark.parametrize("form", _ONLY_LINES)
def test_an_expression_of_the_lines_own_fields_reads_only_them(form: str) -> None:
    assert shared.reads_only_lines(_counts(form))


@pytest.mark.parametrize("form", _NOT_ONLY_LINES)
def test_an_expression_that_reads_more_than_the_lines_does_not(form: str) -> None:
    assert not shared.reads_only_lines(_counts(form))


@settings(max_examples=40, deadline=None)
@given(lines=_LINES, form=st.sampled_from(_ONLY_LINES))
def test_the_lines_context_gives_what_the_whole_context_gives(lines: list[dict[str, Any]], form: str) -> None:
    """An expression that reads only the lines' own fields has the same value on `lines_context`
    (each record the `Line`'s field dict) as on the records the whole context holds."""
    counts = _counts(form)
    models = [
        Line(sku=line["sku"], category=line["category"], price=line["price"], qty=line["qty"])
        for line in lines
    ]
    records = tuple(
        {"sku": m.sku, "name": m.name, "category": m.category, "price": m.price, "qty": m.qty, "weight": None}
        for m in models
    )
    whole = Context({"basket": {"items": records, "total": Decimal(0), "item_count": Decimal(0)}})
    fields = [m.__dict__ for m in models]  # as `open_run` reads them
    run: Any = SimpleNamespace(context=None, mechanics_contexts={}, items=models, fields=fields)
    alone = shared.lines_context(run)
    assert shared.lines_context(run) is alone  # made once per event
    assert str(counts.evaluate(alone)) == str(counts.evaluate(whole))
    run.context = whole
    assert shared.lines_context(run) is whole  # the whole context once it is built


@pytest.mark.parametrize("points", [None, Decimal(0), Decimal(100), Decimal("2.5")])
def test_the_verdicts_made_at_once_are_the_keyword_forms(points: Any) -> None:
    """`hinted_verdict` and `reward_verdict` are `verdict(...)` of the same arguments: the same
    entry, the same model (the optional fields given included)."""
    hinted = shared.hinted_verdict("challenge:c", "challenge", "nothing_eligible", "2 of 5", "3 more")
    keyword = verdict("challenge:c", "challenge", False, "nothing_eligible", "2 of 5", hint="3 more")
    assert hinted == keyword
    assert hinted.model().model_dump(exclude_unset=True) == keyword.model().model_dump(exclude_unset=True)
    amount = {"amount": points, "unit": "points"} if points else {}
    rewarded = shared.reward_verdict("quest:q", "quest", "done", points)
    expected = verdict("quest:q", "quest", True, "fired", "done", **amount)
    assert rewarded == expected
    assert rewarded.model().model_dump(exclude_unset=True) == expected.model().model_dump(exclude_unset=True)


@settings(max_examples=60, deadline=None)
@given(
    baskets=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["A", "B"]), st.sampled_from(["1", "1.0", "2", "2.00", "0.5"]), st.booleans()
            ),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_counts_lines_are_the_records_of_their_parts(baskets: list[list[tuple[str, str, bool]]]) -> None:
    """The records of a count's lines, found by value in a challenge's table, are those
    `counted_lines` makes of the parts 1 and 0: a quantity of another exponent (2 and 2.00, equal)
    never takes the record of the other, whose text the state would keep."""
    kept: dict[Any, Any] = {}
    for basket in baskets:
        items = [Line(sku=sku, price=Decimal(1), qty=Decimal(qty)) for sku, qty, _ in basket]
        raw = [1 if counted else 0 for _, _, counted in basket]
        got = lines_counted(items, raw, kept)
        expected = counted_lines(items, [Decimal(part) for part in raw])
        assert [line.model_dump_json() for line in got] == [line.model_dump_json() for line in expected]


_REMINDERS = """\
program: reminders
version: 1
timezone: Europe/Berlin
currency: EUR
points: {expire_after: 20d}
earn:
  - {id: base, rate: 1 per 1}
tiers:
  qualify_on: spend
  window: rolling 30d
  downgrade_grace: 4d
  levels:
    - {id: basic, name: Basic, threshold: 0}
    - {id: gold, name: Gold, threshold: 60}
birthday: {window: around, days: 2, on: [purchase], reward: {points: 5}}
notifications:
  frequency_cap: {count: 2, per: 3d}
  quiet_hours: {start: "22:00", end: "07:00"}
  points_expiring: {before: 6d, channel: push, template: expiring}
  tier_downgrade: {before: 12d, channel: email, template: at_risk}
"""


@st.composite
def reminded(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Two customers, one who signed up with a birthday and one who never did, buying at gaps
    that cross their tier's review, its reminder's reach, their points' expiry and the birthday."""
    events: list[dict[str, Any]] = [
        {"id": "s1", "type": "signup", "customer": "c1", "time": START.isoformat(), "birthday": "1990-04-20"}
    ]
    time = START
    for number in range(draw(st.integers(1, 16))):
        time += dt.timedelta(hours=draw(st.sampled_from([2, 20, 24 * 3, 24 * 9, 24 * 17, 24 * 33])))
        price = draw(st.sampled_from(["3", "12.50", "40"]))
        events.append(
            {
                "id": f"e{number}",
                "type": "purchase",
                "customer": f"c{draw(st.integers(1, 2))}",
                "time": time.isoformat(),
                "items": [{"sku": "TEA", "price": price, "qty": draw(st.sampled_from([1, 2]))}],
            }
        )
    return events


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=reminded())
def test_the_birthday_and_the_reminders_of_a_purchase_decide_as_their_apply(
    events: list[dict[str, Any]],
) -> None:
    """The birthday and the notifications specialised for a purchase (a customer with no birthday
    on file refused by one entry; a tier review out of the reminder's reach one comparison) give
    what their `apply` gives, and the referral, which a program without one never needs for a
    purchase, is left out of the purchase's mechanics."""
    compiled = load_program_text(_REMINDERS, "reminders.yaml")
    fast, slow = Engine(compiled, secret=b"s"), Engine(compiled, secret=b"s", generated=False)
    assert fast.generated is not None
    specialised = {f.__name__ for f in fast.generated.mechanics}
    assert {"birthday_of_purchase", "notifications_of_purchase", "tiers_of_purchase"} <= specialised
    assert "apply" not in specialised  # the referral's: nothing to do for a purchase
    same_stream(fast, slow, events)


_CALENDAR = tuple(window for window in WINDOWS if " " not in window)  # all but the rolling ones


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(_CALENDAR),
    stored_kind=st.sampled_from((*_CALENDAR, "rolling")),
    day=st.dates(dt.date(2025, 11, 1), dt.date(2027, 2, 1)),
    stored_day=st.dates(dt.date(2025, 11, 1), dt.date(2027, 2, 1)),
    hour=st.integers(0, 23),
)
def test_a_calendar_windows_key_of_a_purchase_is_the_general_ones(
    kind: str, stored_kind: str, day: dt.date, stored_day: dt.date, hour: int
) -> None:
    """`challenges._window_key` (a day's key remembered, the stored window compared before asking
    which is older) gives `_current_window`'s key, or None for an event before the stored window:
    for an event in that window, before or after it, and for a window stored under a program
    version whose window was of another kind (a rolling start, `lifetime`, another period)."""
    window = Window(kind=kind)  # type: ignore[arg-type]
    local = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)
    if stored_kind == "rolling":
        stored = dt.datetime.combine(stored_day, dt.time(9), tzinfo=dt.UTC).isoformat()
    else:
        stored = periods.key(periods.WINDOWS.get(stored_kind), stored_day)
    before = ChallengeProgress(window=stored, progress=Decimal(1), completed=[], counted={})
    window_key = challenges._window_key(window)
    for _ in range(2):  # the day's key worked out, then remembered
        assert window_key(local, before) == _current_window(window, local, before)
        assert window_key(local, None) == _current_window(window, local, None)
