"""Tiers on the generated path decide as their `apply` does, byte for byte (issues 12 and 13).

A purchase the generated path takes runs the tiers specialised for it once per program
(`tiers.for_purchase`: the activity appended and the running sums moved as numbers, the window's
bounds once per event); every other event, and `Engine(program, generated=False)`, runs
`tiers.apply`. Before every event `tiers.elapse` answers "no review due" with one comparison
(`tiers.reviews`). Checked here: random tier programs — spend, points and visits; rolling,
calendar and lifetime windows; every hold, grace and downgrade; multipliers and discounts by
tier; leaderboards beside the tier; the downgrade reminder; returns and late events — give the
same outcome JSON and state JSON on both paths, event by event; the review dates and the running
sums equal their plain definitions (`tiers.review_at`, `tiers_windows.metric`); a late purchase and a
state from before the running sums take `apply`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules_engine import periods
from rules_engine.engine import running
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.generate import unsupported
from rules_engine.engine.mechanics import tiers, tiers_windows
from rules_engine.program.validate import load_program, load_program_text
from rules_engine.state.customer import Activity, ActivitySums, CustomerState
from rules_engine.state.shared import appended
from tests.conftest import ROOT
from tests.engine.random_programs import ZONES, Drawn, streams
from tests.engine.test_working import same_stream as working_stream
from tests.engine.two_paths import same_stream

_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
_WINDOWS = (
    "rolling 7d",
    "rolling 30d",
    "rolling 365d",
    "calendar_week",
    "calendar_month",
    "calendar_quarter",
    "calendar_year",
    "lifetime",
)


@st.composite
def tier_programs(draw: st.DrawFn) -> Drawn:
    """A program whose tiers are drawn from every documented option, with leaderboards beside
    them now and then, earn rules that read the tier, and returns and late events."""
    currency, decimals = draw(st.sampled_from([("EUR", 2), ("JPY", 0)]))
    qualify = draw(st.sampled_from(["spend", "points", "visits"]))
    window = draw(st.sampled_from(_WINDOWS))
    parts = [
        "program: tiered-shop",
        "version: 1",
        f"timezone: {draw(st.sampled_from(ZONES))}",
        f"currency: {currency}",
        "points:",
        f"  rounding: {draw(st.sampled_from(['floor', 'round']))}",
        "returns:",
        f"  within: {draw(st.sampled_from(['10d', '60d']))}",
        "tiers:",
        f"  qualify_on: {qualify}",
        f"  window: {window}",
        f"  downgrade: {draw(st.sampled_from(['one_level', 'to_qualified']))}",
    ]
    holds: list[str | None] = [None, "{for: 20d}", "{for: 90d}"]
    if window.startswith("calendar"):
        holds += ["rest_of_period", "next_period"]
    hold = draw(st.sampled_from(holds))
    if hold is not None:
        parts.append(f"  hold: {hold}")
    grace = draw(st.sampled_from([None, "7d", "30d"]))
    if grace is not None:
        parts.append(f"  downgrade_grace: {grace}")
    threshold = draw(st.sampled_from([0, 0, 1]))  # above 0: a new customer enters no tier at first
    parts += ["  levels:", f"    - {{id: t0, threshold: {threshold}}}"]
    names = ["t0"]
    for level in range(1, draw(st.integers(1, 4))):
        threshold += draw(st.integers(1, 4)) if qualify == "visits" else draw(st.integers(10, 600))
        benefits = [f"earn_multiplier: {draw(st.sampled_from(['1.25', '1.5', '2']))}"]
        if draw(st.booleans()):
            benefits.append(f"discount_percent: {draw(st.integers(1, 20))}")
        parts.append(f"    - {{id: t{level}, threshold: {threshold}, benefits: {{{', '.join(benefits)}}}}}")
        names.append(f"t{level}")
    parts += [
        "earn:",
        "  - id: base",
        f"    rate: {draw(st.sampled_from(['1 per 1', '2 per 10', '5 per 100']))}",
        "  - id: loyal",
        f'    when: customer.tier == "{draw(st.sampled_from(names))}"',
        f"    award: {draw(st.integers(1, 30))}",
    ]
    if draw(st.booleans()):
        parts += ["discounts:", "  - id: d0", '    applies_to: item.category == "food"', "    percent: 10"]
    boards = draw(st.lists(st.sampled_from(_WINDOWS), max_size=2))
    if boards:
        parts.append("leaderboards:")
        for number, board in enumerate(boards):
            metric = draw(st.sampled_from(["spend", "points", "visits"]))
            parts.append(f"  - {{id: lb{number}, metric: {metric}, window: {board}}}")
    parts += ["catalog:", "  - {id: gift, name: A gift, cost: 50}"]
    if draw(st.booleans()):
        parts += ["notifications:", "  tier_downgrade: {before: 30d, template: tier_at_risk}"]
    if draw(st.booleans()):
        parts += ["late_events:", f"  accept_within: {draw(st.sampled_from(['1d', '7d']))}"]
    return Drawn("\n".join(parts) + "\n", currency, decimals)


@_SETTINGS
@given(data=st.data())
def test_random_tier_programs_decide_the_same_on_both_paths(data: st.DataObject) -> None:
    drawn = data.draw(tier_programs(), label="program")
    compiled = load_program_text(drawn.text, "tiered.yaml")
    fast, slow = Engine(compiled, secret=b"s"), Engine(compiled, secret=b"s", generated=False)
    assert fast.generated is not None, unsupported(fast.plan)
    assert "tiers_of_purchase" in {f.__name__ for f in fast.generated.mechanics}
    stream = data.draw(streams(drawn, customers=2, events=24), label="stream")
    same_stream(fast, slow, stream)


_COFFEE = ROOT / "programs" / "coffee-club.yaml"


def _purchase(
    number: int, moment: dt.datetime, price: str = "400.00", customer: str = "c1"
) -> dict[str, Any]:
    return {
        "id": f"p{number}",
        "type": "purchase",
        "customer": customer,
        "time": moment.isoformat(),
        "items": [
            {"sku": "LATTE", "category": "coffee", "price": price, "qty": 2},
            {"sku": "CROISSANT", "category": "pastry", "price": "150.00", "qty": 1},
        ],
    }


def test_a_purchase_in_time_order_takes_the_specialised_tiers_and_a_late_one_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The specialised function does its own work for the purchases of a customer in time order
    (across the window's end, a review, an upgrade); a purchase dated before the latest activity
    (a late event the program accepts) runs `apply`, and both paths agree throughout."""
    text = _COFFEE.read_text(encoding="utf-8") + "\nlate_events:\n  accept_within: 7d\n"
    compiled = load_program_text(text, "coffee-club.yaml")
    fast, slow = Engine(compiled), Engine(compiled, generated=False)
    calls: list[str] = []
    apply = tiers.apply

    def counted(run: Any) -> None:
        calls.append(run.event.id)
        apply(run)

    monkeypatch.setattr(tiers, "apply", counted)  # what the specialised function falls back to
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    moments = [start + dt.timedelta(days=day) for day in (0, 1, 40, 200, 380, 381, 800, 1300)]
    stream = [_purchase(n, moment, "25000.00" if n == 3 else "400.00") for n, moment in enumerate(moments)]
    stream.append({**_purchase(99, moments[-1] - dt.timedelta(days=2)), "id": "late"})
    mine: CustomerState | None = None
    theirs: CustomerState | None = None
    changes = []
    for event in stream:
        a, b = fast.process(event, mine), slow.process(event, theirs)
        assert a.outcome().model_dump_json() == b.outcome().model_dump_json()
        assert a.state.model_dump_json() == b.state.model_dump_json()
        mine, theirs = a.state, b.state
        changes += [(change.old, change.new) for change in a.tier_changes]
    assert calls == ["late"]
    assert changes == [(None, "green"), ("green", "gold"), ("gold", "green")]  # entered, upgraded, reviewed


def test_a_state_from_before_the_running_sums_takes_apply() -> None:
    """A state written before `activity_sums` were kept (null) is added up once by `apply`, on
    either path, and the next purchase is the specialised one's again."""
    compiled = load_program(_COFFEE)
    fast, slow = Engine(compiled), Engine(compiled, generated=False)
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    state = fast.process(_purchase(0, start), None).state
    old = state.model_copy(update={"activity_sums": None})
    for n in (1, 2):
        event = _purchase(n, start + dt.timedelta(days=n))
        a, b = fast.process(event, old), slow.process(event, old)
        assert a.state.model_dump_json() == b.state.model_dump_json()
        assert a.outcome().model_dump_json() == b.outcome().model_dump_json()
        assert a.state.activity_sums is not None
        old = a.state


# Offsets an event's time may carry: the program's zone's own, others, and the farthest apart
# (UTC+14 and UTC-12: 26 hours); the event's zone is where the shortcut compares.
_OFFSETS = [dt.timedelta(hours=h) for h in (0, 1, 2, -5, -6, 9, 14, -12)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    length=st.sampled_from(["1d", "2d", "3d", "7d", "30d"]),
    zone=st.sampled_from(["Europe/Berlin", "America/Chicago", "Pacific/Apia", "UTC"]),
    board=st.sampled_from([None, "rolling 1d", "rolling 10d", "calendar_week"]),
    first=st.integers(0, 400 * 24),
    steps=st.lists(
        st.tuples(
            # hours to the next purchase: the same hour, across a window's start or its horizon
            st.integers(0, 30) | st.integers(40, 80) | st.integers(0, 30 * 24) | st.integers(0, 65 * 24),
            st.sampled_from(_OFFSETS),
            st.integers(1, 900),
        ),
        min_size=2,
        max_size=25,
    ),
)
def test_purchases_across_window_starts_decide_the_same_on_both_paths(
    length: str, zone: str, board: str | None, first: int, steps: list[tuple[int, dt.timedelta, int]]
) -> None:
    """The specialised tiers know without comparing across zones that an entry is inside a
    rolling window or its horizon, from the event's time less the window's length and two days
    (`tiers_windows.surely_inside`). Purchases with gaps across the window's start and horizon, over the
    daylight-saving changes of the program's zone (and Samoa's skipped day), in offsets up to 26
    hours apart, with a tier review falling between them: each outcome and state is the general
    path's (`apply`), event by event."""
    lines = [
        "program: rolling-shop",
        "version: 1",
        f"timezone: {zone}",
        "currency: EUR",
        "earn: [{id: base, rate: 1 per 1}]",
        "tiers:",
        "  qualify_on: spend",
        f"  window: rolling {length}",
        "  downgrade: to_qualified",
        "  hold: {for: 2d}",
        "  levels: [{id: a, threshold: 0}, {id: b, threshold: 500}, {id: c, threshold: 1500}]",
    ]
    if board is not None:
        lines.append(f"leaderboards: [{{id: lb, metric: visits, window: {board}}}]")
    compiled = load_program_text("\n".join(lines) + "\n", "rolling.yaml")
    fast, slow = Engine(compiled), Engine(compiled, generated=False)
    moment = dt.datetime(2011, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=first)
    stream = []
    for number, (hours, offset, price) in enumerate(steps):
        moment += dt.timedelta(hours=hours, minutes=number)
        local = moment.astimezone(dt.timezone(offset))
        stream.append(_purchase(number, local, f"{price}.00"))
    same_stream(fast, slow, stream)


# Daylight-saving changes (the instant, UTC) of program zones: spring and autumn, and Samoa's
# skipped day (UTC-10 to UTC+14 on 30 December 2011).
_CHANGES = (
    ("Europe/Berlin", dt.datetime(2026, 3, 29, 1, tzinfo=dt.UTC)),
    ("Europe/Berlin", dt.datetime(2026, 10, 25, 1, tzinfo=dt.UTC)),
    ("America/Chicago", dt.datetime(2026, 3, 8, 8, tzinfo=dt.UTC)),
    ("America/Chicago", dt.datetime(2026, 11, 1, 7, tzinfo=dt.UTC)),
    ("Pacific/Apia", dt.datetime(2011, 12, 30, 10, tzinfo=dt.UTC)),
)
_LENGTHS = {
    "1h": dt.timedelta(hours=1),
    "12h": dt.timedelta(hours=12),
    "1d": dt.timedelta(days=1),
    "30d": dt.timedelta(days=30),
}


def _window_start(at: dt.datetime, zone: zoneinfo.ZoneInfo, length: dt.timedelta) -> dt.datetime:
    """A rolling window's start, by its plain definition: the wall time `length` before the
    event's, in the program's zone, at the earliest instant that wall time names (in a
    daylight-saving gap, with the offset after the change; in a fold, the first of the two)."""
    wall = at.astimezone(zone).replace(tzinfo=None) - length
    return min(wall.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC) for fold in (0, 1))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    change=st.sampled_from(_CHANGES),
    length=st.sampled_from(sorted(_LENGTHS)),
    early=st.lists(st.integers(-150, 150), min_size=1, max_size=8),
    late=st.lists(st.tuples(st.integers(-150, 150), st.sampled_from(_OFFSETS)), min_size=1, max_size=12),
)
@example(change=_CHANGES[0], length="30d", early=[20], late=[(-30, _OFFSETS[0]), (10, _OFFSETS[0])])
# two purchases at one instant in two offsets: the state keeps the first's time, on every path
@example(change=_CHANGES[0], length="12h", early=[0], late=[(0, _OFFSETS[0]), (0, _OFFSETS[1])])
# Samoa's day-long move: the horizon passes the sums' start (the whole step cut what they counted)
@example(change=_CHANGES[4], length="1d", early=[-2], late=[(-1, _OFFSETS[1]), (-2, _OFFSETS[5])])
def test_every_purchases_tier_metric_is_the_spend_of_its_rolling_window(
    change: tuple[str, dt.datetime], length: str, early: list[int], late: list[tuple[int, dt.timedelta]]
) -> None:
    """A rolling window's start is a wall time (30 days before the event's, in the program's
    zone); when it falls in a daylight-saving gap or fold, its wall order is not its instants'
    (the running sums, moved by wall-time comparisons, once missed the purchases of a window that
    moved back). Purchases minutes around a change of the zone's offset and around the same
    moment a window later, in several offsets: each purchase's tier metric is the spend of the
    purchases in its window by the plain definition, on the generated path, the explaining path
    and the working state's step."""
    name, moment = change
    zone = zoneinfo.ZoneInfo(name)
    window = _LENGTHS[length]
    times = sorted(moment + dt.timedelta(minutes=m) for m in early)
    later = sorted((moment + window + dt.timedelta(minutes=m), offset) for m, offset in late)
    times += [at for at, _ in later if at > times[-1]]
    offsets = [dt.UTC] * (len(times) - len(later)) + [dt.timezone(o) for _, o in later][-len(times) :]
    compiled = load_program_text(
        "\n".join(
            [
                "program: rolling-shop",
                "version: 1",
                f"timezone: {name}",
                "currency: EUR",
                "earn: [{id: base, rate: 1 per 1}]",
                "tiers:",
                "  qualify_on: spend",
                f"  window: rolling {length}",
                "  levels: [{id: a, threshold: 0}, {id: b, threshold: 500}]",
            ]
        )
        + "\n",
        "rolling.yaml",
    )
    stream = [
        {
            "id": f"p{number}",
            "type": "purchase",
            "customer": "c1",
            "time": at.astimezone(offset).isoformat(),
            "items": [{"sku": "LATTE", "category": "coffee", "price": f"{number + 1}.00", "qty": 1}],
        }
        for number, (at, offset) in enumerate(zip(times, offsets, strict=True))
    ]
    fast, slow = Engine(compiled), Engine(compiled, generated=False)
    same_stream(fast, slow, stream)  # the generated path decides as the explaining one
    working_stream(fast, stream)  # and the working state's step as `process`
    state = None
    for number, at in enumerate(times):
        result = fast.process(stream[number], state)
        state = result.state
        start = _window_start(at, zone, window)
        expected = sum(Decimal(n + 1) for n, t in enumerate(times[: number + 1]) if t >= start)
        progress = result.outcome().tier_progress
        assert progress is not None and progress.metric == expected, (stream[number]["time"], start)


# -- the review dates and the running sums against their plain definitions -------------------------

_ZONES = [zoneinfo.ZoneInfo(name) for name in ("Europe/Berlin", "America/Chicago", "Asia/Tokyo", "UTC")]


@st.composite
def _tiers(draw: st.DrawFn) -> Any:
    window = draw(st.sampled_from(_WINDOWS))
    holds: list[str | None] = [None, "{for: 20d}"]
    if window.startswith("calendar"):
        holds += ["rest_of_period", "next_period"]
    hold = draw(st.sampled_from(holds))
    grace = draw(st.sampled_from([None, "7d", "30d"]))
    lines = [
        "program: p",
        "version: 1",
        "timezone: Europe/Berlin",
        "currency: EUR",
        "earn: [{id: base, rate: 1 per 1}]",
        "tiers:",
        "  qualify_on: spend",
        f"  window: {window}",
        "  levels: [{id: a, threshold: 0}, {id: b, threshold: 100}, {id: c, threshold: 300}]",
    ]
    if hold is not None:
        lines.append(f"  hold: {hold}")
    if grace is not None:
        lines.append(f"  downgrade_grace: {grace}")
    if draw(st.booleans()):
        lines.append("  removed_tiers: {move_to: a}")
    return load_program_text("\n".join(lines) + "\n", "p.yaml").program.tiers


# Moments around the daylight-saving changes of Berlin and Chicago (an hour repeated, an hour
# skipped) and at midnights, in the zones' own wall time and in fixed offsets.
_MOMENTS = st.builds(
    lambda day, minute, zone, fold: dt.datetime.combine(
        dt.date(2026, 1, 1) + dt.timedelta(days=day), dt.time(), tzinfo=zone
    ).replace(hour=minute // 60, minute=minute % 60, fold=fold),
    st.integers(0, 1100),
    st.sampled_from([0, 60, 90, 120, 150, 180, 23 * 60 + 59]) | st.integers(0, 24 * 60 - 1),
    st.sampled_from([*_ZONES, dt.timezone(dt.timedelta(hours=3)), dt.UTC]),
    st.integers(0, 1),
)


@settings(max_examples=300, deadline=None)
@given(tiers_=_tiers(), since=_MOMENTS, zone=st.sampled_from(_ZONES))
def test_a_review_date_worked_out_once_is_review_at(tiers_: Any, since: dt.datetime, zone: Any) -> None:
    facts = tiers.reviews(tiers_, zone)
    assert facts is tiers.reviews(tiers_, zone)  # made once per program
    for _ in range(2):  # the second from what was kept
        due = facts.due(since)
        expected = tiers.review_at(tiers_, since, zone)
        if expected is None:
            assert due is None
        else:  # the same moment, written the same way
            assert due is not None and due.tzinfo is expected.tzinfo and due.fold == expected.fold
            assert due.replace(tzinfo=None) == expected.replace(tzinfo=None)


@settings(max_examples=200, deadline=None)
@given(
    tiers_=_tiers(),
    since=_MOMENTS,
    ahead=st.integers(-400, 2000),
    tier=st.sampled_from(["a", "b", "c", "gone", None]),
    spent=st.lists(st.integers(0, 200), max_size=6),
)
def test_elapse_answers_as_the_reviews_do(
    tiers_: Any, since: dt.datetime, ahead: int, tier: str | None, spent: list[int]
) -> None:
    """`elapse`'s early answer ("nothing due") is what the reviews decide (`review`, `removed`)."""
    zone = zoneinfo.ZoneInfo("Europe/Berlin")
    moment = (since + dt.timedelta(days=ahead)).astimezone(dt.UTC)
    activity = [
        Activity(event=f"e{n}", at=since + dt.timedelta(days=9 * n), spend=Decimal(s), visits=1)
        for n, s in enumerate(spent)
    ]
    state = CustomerState(tier=tier, tier_since=since if tier else None, activity=activity)
    after, changes = tiers.elapse(tiers_, state, moment, zone)
    moved = tiers.removed(tiers_, state)  # elapse's own steps, without its early answer
    base = state
    if moved is not None:
        base = state.model_copy(
            update={"tier": moved.new, "tier_since": state.tier_since if moved.new else None}
        )
    current, held, reviewed = tiers.review(tiers_, base, moment, zone)
    expected = ([moved] if moved is not None else []) + reviewed
    assert [c.model_dump() for c in changes] == [c.model_dump() for c in expected]
    assert (after.tier, after.tier_since) == (current, held)
    if not expected and held == state.tier_since:  # nothing reviewed: the state itself
        assert after is state


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 30), min_size=0, max_size=40),
    spends=st.lists(st.integers(-50, 500), min_size=40, max_size=40),
    known_at=st.integers(-5, 600),
    start_at=st.integers(-5, 700),
    shared=st.booleans(),
    zone=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=3)), zoneinfo.ZoneInfo("Europe/Berlin")]),
)
def test_the_running_sums_moved_forward_are_the_sums_of_the_window(
    gaps: list[int], spends: list[int], known_at: int, start_at: int, shared: bool, zone: Any
) -> None:
    """`running.sums` (one bisection and a walk over what left) and `running.moved` give the sums
    of the entries at or after the window's start (`tiers_windows.metric`), a window shared or not."""
    offset = dt.timezone(dt.timedelta(hours=3))
    origin = dt.datetime(2026, 1, 1, 12, tzinfo=offset)
    activity: list[Activity] = []
    day = 0
    for gap, spend in zip(gaps, spends, strict=False):
        day += gap
        at = origin + dt.timedelta(days=day)
        activity.append(Activity(event=f"e{len(activity)}", at=at, spend=Decimal(spend).scaleb(-2), visits=1))
    held: Any = appended([], activity) if shared else activity
    known = (origin + dt.timedelta(days=known_at)).astimezone(zone)
    start = (origin + dt.timedelta(days=start_at, hours=1)).astimezone(zone)
    end = origin + dt.timedelta(days=10_000)
    sums = ActivitySums(
        start=known,
        spend=tiers_windows.metric("spend", activity, known, end),
        points=Decimal(0),
        visits=int(tiers_windows.metric("visits", activity, known, end)),
    )
    state = CustomerState(activity_sums=sums).model_copy(update={"activity": held})
    got = running.sums(state, start)
    assert got.start == start
    assert got.spend == tiers_windows.metric("spend", activity, start, end)
    assert got.visits == tiers_windows.metric("visits", activity, start, end)
    assert running.index_from(held, start) == sum(1 for entry in activity if entry.at < start)
    if start >= known:
        left, index = running.moved(held, known, start, (sums.spend, sums.points, sums.visits))
        expected = (got.spend, got.points, got.visits)
        assert (left or (sums.spend, sums.points, sums.visits)) == expected
        assert index == running.index_from(held, start)


_ORIGINS = (  # a program zone and a moment just before one of its offsets' changes
    (zoneinfo.ZoneInfo("Europe/Berlin"), dt.datetime(2026, 3, 27, tzinfo=dt.UTC)),  # summer time
    (zoneinfo.ZoneInfo("Europe/Berlin"), dt.datetime(2026, 10, 23, tzinfo=dt.UTC)),  # and back
    (zoneinfo.ZoneInfo("Pacific/Apia"), dt.datetime(2011, 12, 27, tzinfo=dt.UTC)),  # the skipped day
    (zoneinfo.ZoneInfo("Europe/Moscow"), dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.one_of(st.integers(0, 8), st.integers(0, 900)), st.integers(-11, 13)),
        min_size=1,
        max_size=60,
    ),
    length=st.integers(1, 400),
    origin=st.sampled_from(_ORIGINS),
)
# a window an hour long (and twelve) ending just after Samoa's skipped day: read with the offset
# before the change, its start was a day after the event (CI, December 2026)
@example(events=[(82, 0)], length=1, origin=_ORIGINS[2])
@example(events=[(82, 0), (0, 0)], length=12, origin=_ORIGINS[2])
def test_a_kept_window_start_is_where_a_bisection_finds_it(
    events: list[tuple[int, int]], length: int, origin: tuple[Any, dt.datetime]
) -> None:
    """The index `running.keep` keeps beside an activity list for the running sums' start, read
    back at the next event (`running.kept_from`, less the entries cut at the head) and walked
    forward (`running.moved`), is the one a fresh bisection finds (`running.index_from`), and the
    sums moved are the window's (`tiers_windows.metric`), event after event as the generated path keeps
    them: purchases in time order, some at equal moments, their times in several fixed offsets, a
    window start in the program's zone across its offsets' changes, the head cut as a horizon
    twice the window passes, and windows that empty."""
    zone, moment = origin
    window = dt.timedelta(hours=length)
    activity: Any = []
    since: dt.datetime | None = None
    totals = (Decimal(0), Decimal(0), 0)
    for number, (gap, offset) in enumerate(events):
        moment += dt.timedelta(hours=gap)
        at = moment.astimezone(dt.timezone(dt.timedelta(hours=offset)))
        entry = Activity(event=f"e{number}", at=at, spend=Decimal(number + 1), points=Decimal(1), visits=1)
        before = activity
        activity = appended(activity, (entry,))
        totals = (totals[0] + entry.spend, totals[1] + entry.points, totals[2] + 1)
        local = at.astimezone(zone)
        start = periods.instant(local - window)  # as the engine works them out: compared by instant
        horizon = periods.instant(local - 2 * window)
        cut = running.index_from(activity, horizon)  # before the start
        if since is not None and since < horizon:
            left, _ = running.moved(activity, since, horizon, totals)
            totals, since = left or totals, horizon
        activity = appended(activity, (), cut)
        if since is not None and start < since:  # the window moved back (a later wall time in a fold)
            found = running.index_from(activity, start)
            again = running.summed(activity[found:], start)
            totals = (again.spend, again.points, again.visits)
        else:
            kept = running.kept_from(before, since, cut)
            if kept is not None:
                assert kept == running.index_from(activity, since)
            left, found = running.moved(activity, since, start, totals, kept)
            totals = left or totals
        assert found == running.index_from(activity, start)
        end = at + dt.timedelta(microseconds=1)
        assert totals[0] == tiers_windows.metric("spend", list(activity), start, end)
        assert totals[2] == tiers_windows.metric("visits", list(activity), start, end)
        if found:
            running.keep(activity, start, found)
        since = start
