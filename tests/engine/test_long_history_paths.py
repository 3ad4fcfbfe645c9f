"""The shortcuts a long history's events take agree with the plain definitions they replace.

Each event of a customer with a year of points expires lots, makes lots available and leaves old
purchase lines out; the code for those takes shortcuts (no conversion to UTC when the times share
one fixed offset, one pass over the lines). Here each is compared with the definition it stands
for, on generated inputs (times in several offsets, dates out of order as late events leave them).
"""

from __future__ import annotations

import bisect
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine import history, lifecycle, processed, ripening, running, settle
from rules_engine.state.customer import Activity, CustomerState, Lot, OlderPurchases, PastLine

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MOSCOW = ZoneInfo("Europe/Moscow")  # a program's zone: window starts are in it
OFFSETS = [dt.UTC, dt.timezone(dt.timedelta(hours=3)), dt.timezone(dt.timedelta(hours=-5))]

moments = st.builds(
    lambda minutes, zone: (BASE + dt.timedelta(minutes=minutes)).astimezone(zone),
    st.integers(0, 3 * 24 * 60),  # three days: many lots share a moment or a day
    st.sampled_from(OFFSETS),
)


def _lot(event: int, rule: str, earned: dt.datetime) -> Lot:
    return Lot(
        event=f"e{event}",
        rule=rule,
        points=Decimal(5),
        earned_at=earned,
        available_at=earned + dt.timedelta(days=14),
        expires_at=earned + dt.timedelta(days=365),
    )


lots = st.lists(
    st.builds(_lot, st.integers(0, 9), st.sampled_from(["base", "tier:gold", "early-bird"]), moments),
    max_size=12,
    unique_by=lambda lot: lot.id,
)


@settings(max_examples=200, deadline=None)
@given(lots, st.booleans())
def test_lots_are_put_in_earned_order_as_instants_then_ids(made: list[Lot], one_zone: bool) -> None:
    """`_oldest_first`: by (the instant earned, the lot's id), whichever way it compares them."""
    if one_zone:  # the engine's own times: one fixed offset (the fast path)
        made = [lot.model_copy(update={"earned_at": lot.earned_at.astimezone(OFFSETS[1])}) for lot in made]
    expected = sorted(made, key=lambda lot: (lot.earned_at.astimezone(dt.UTC), lot.id))
    assert [lot.id for lot in lifecycle._oldest_first(made)] == [lot.id for lot in expected]


@settings(max_examples=200, deadline=None)
@given(lots, st.booleans(), moments)
def test_lots_become_available_in_earned_order(made: list[Lot], one_zone: bool, moment: dt.datetime) -> None:
    """`ripen` reports the pending lots whose time came as `_oldest_first` orders them, whether
    their times share the event's fixed offset (the ids at hand, no key) or not."""
    if one_zone:
        made = [
            lot.model_copy(
                update={
                    "earned_at": lot.earned_at.astimezone(OFFSETS[1]),
                    "available_at": lot.available_at.astimezone(OFFSETS[1]),
                }
            )
            for lot in made
        ]
        moment = moment.astimezone(OFFSETS[1])
    moment += dt.timedelta(days=15)
    ordered = sorted(made, key=lifecycle.expiry_order)
    state = CustomerState(
        lots=ordered,
        pending_lots=[lot.id for lot in made],
        last_event_at=BASE - dt.timedelta(days=1),
    )
    ripe = [lot for lot in made if lot.available_at <= moment and lot.points > 0]
    expected = [("available", lot.id, lot.points, lot.available_at) for lot in lifecycle._oldest_first(ripe)]
    assert [tuple(change) for change in ripening.ripen(state, moment)[0]] == expected


@settings(max_examples=200, deadline=None)
@given(lots, st.booleans(), moments, st.integers(0, 12))
def test_the_pending_lots_read_as_the_tail_are_those_looked_for(
    made: list[Lot], tail: bool, moment: dt.datetime, newest: int
) -> None:
    """`ripen` reads the pending lots as the lots' tail when they are (the usual case: confirmed id
    by id as they are read) and looks for them otherwise (`_pending_lots`): the same changes and
    the same ids still waiting either way."""
    ordered = sorted(made, key=lifecycle.expiry_order)
    newest = min(newest, len(ordered))
    pending = [lot.id for lot in ordered[len(ordered) - newest :]] if tail else [lot.id for lot in made]
    state = CustomerState(lots=ordered, pending_lots=pending, last_event_at=BASE - dt.timedelta(days=1))
    moment += dt.timedelta(days=14)  # some lots of the three days have come, some wait
    found = ripening._pending_lots(state)
    ripe = [lot for _, lot in found if lot.available_at <= moment and lot.points > 0]
    expected = [("available", lot.id, lot.points, lot.available_at) for lot in lifecycle._oldest_first(ripe)]
    waiting = [lot_id for lot_id, lot in found if lot.available_at > moment]
    changes, still = ripening.ripen(state, moment)
    assert [tuple(change) for change in changes] == expected
    assert still == waiting


def _reference_kept(
    purchases: list[PastLine],
    new: list[PastLine],
    older: OlderPurchases | None,
    today: dt.date,
    keep: dt.timedelta,
) -> tuple[list[PastLine], OlderPurchases | None]:
    """`history.kept` as it was first written: the lines before the cutoff found, then their newest date."""
    cutoff = today - dt.timedelta(days=keep.days + 1)
    end = 0
    for line in purchases:
        if line.date >= cutoff:
            break
        end += 1
    if not end:
        return [*purchases, *new], older
    gone = purchases[:end]
    until = max(line.date for line in gone)
    if older is not None and older.until > until:
        until = older.until
    return [*purchases[end:], *new], OlderPurchases(
        lines=(older.lines if older else 0) + len(gone), until=until
    )


def _line(day: int, n: int) -> PastLine:
    return PastLine(
        sku=f"S{n}",
        category="coffee",
        price=Decimal(1),
        qty=Decimal(1),
        date=dt.date(2026, 1, 1) + dt.timedelta(days=day),
        event=f"e{n}",
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 60), max_size=30),  # the lines' days: mostly in order, not always (late events)
    st.integers(0, 3),
    st.integers(0, 90),
    st.integers(1, 40),
    st.one_of(st.none(), st.integers(0, 60)),
)
def test_purchase_lines_left_out_and_their_newest_date(
    days: list[int], new: int, today: int, keep: int, older_day: int | None
) -> None:
    purchases = [_line(day, n) for n, day in enumerate(days)]
    added = [_line(today, 100 + n) for n in range(new)]
    older = (
        None
        if older_day is None
        else OlderPurchases(lines=7, until=dt.date(2026, 1, 1) + dt.timedelta(days=older_day))
    )
    on = dt.date(2026, 1, 1) + dt.timedelta(days=today)
    window = dt.timedelta(days=keep)
    assert history.kept(purchases, added, older, on, window) == _reference_kept(
        purchases, added, older, on, window
    )


@settings(max_examples=300, deadline=None)
@given(lots, st.booleans(), moments)
def test_the_lots_expiring_by_a_moment_are_found_as_by_their_expiry_order(
    made: list[Lot], never: bool, moment: dt.datetime
) -> None:
    """`lifecycle.expiring_by`: the bisection of the lots in expiry order, by `expires_at` read in
    C when every lot expires, else by `expiry_order`; times in several offsets."""
    if never and made:  # some lots never expire: they are last
        made = [*made[:-2], *(lot.model_copy(update={"expires_at": None}) for lot in made[-2:])]
    ordered = sorted(made, key=lifecycle.expiry_order)
    moment = moment + dt.timedelta(days=365)  # among the lots' expiry moments
    expected = bisect.bisect_right(ordered, (False, moment), key=lifecycle.expiry_order)
    assert lifecycle.expiring_by(ordered, moment) == expected


@settings(max_examples=200, deadline=None)
@given(lots, st.integers(0, 11), moments)
def test_a_lot_that_never_expires_out_of_its_place_is_no_error(
    made: list[Lot], at: int, moment: dt.datetime
) -> None:
    """A state whose lots are not all in expiry order (a lot of a program version that did not
    expire points, kept before lots of a later one that does; found by tests/store/test_tables.py)
    gets the answer it got before the bisection read `expires_at` in C, not a TypeError."""
    ordered = sorted(made, key=lifecycle.expiry_order)
    if not ordered:
        return
    at = min(at, len(ordered) - 1)
    ordered[at] = ordered[at].model_copy(update={"expires_at": None})
    moment = moment + dt.timedelta(days=365)
    expected = bisect.bisect_right(ordered, (False, moment), key=lifecycle.expiry_order)
    assert lifecycle.expiring_by(ordered, moment) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(moments, max_size=12), moments, st.sampled_from([*OFFSETS, MOSCOW]), st.booleans())
def test_the_activity_in_a_window_is_found_whatever_the_zone_of_its_start(
    times: list[dt.datetime], start: dt.datetime, zone: dt.tzinfo, one_zone: bool
) -> None:
    """`running.between` and the running sums' bisections look for a window's start (in the
    program's zone) among the activity in the events' own zone: the same entries as comparing
    each time with the start as it is."""
    if one_zone:  # the engine's own times: one fixed offset
        times = [t.astimezone(OFFSETS[1]) for t in times]
    activity = [
        Activity(event=f"e{n}", at=at, spend=Decimal(n), points=Decimal(1), visits=1)
        for n, at in enumerate(sorted(times))
    ]
    state = CustomerState(
        activity=activity, activity_sums=running.sums(CustomerState(activity=activity), None)
    )
    begin = start.astimezone(zone)
    end = begin + dt.timedelta(hours=20)
    expected = [entry for entry in activity if begin <= entry.at < end]
    assert running.between(state, begin, end) == expected
    assert running.sums(state, begin).spend == sum(
        (entry.spend for entry in activity if entry.at >= begin), Decimal(0)
    )


# -- the duplicate check's set (engine/processed.py) ---------------------------------------------
ids = st.text(alphabet="abc-0123", min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([0, 1, 47, 48, 999, 1000, 1001]),
    st.lists(ids, max_size=6),
    st.lists(st.tuples(ids, st.booleans()), min_size=1, max_size=8),
)
def test_an_id_is_seen_exactly_when_it_is_in_the_list(
    length: int, extra: list[str], events: list[tuple[str, bool]]
) -> None:
    """`processed.seen` answers as `in` on the list, whatever its length (scanned under `SHORT`, a
    set from it on), with ids repeated (a state written by hand), on the lists `settle.kept` makes
    from one event to the next (the set carried over) and on the lists it was given again later
    (an older state used again: its set was carried away, it is built again)."""
    first = [f"e{n}" for n in range(length)] + extra
    lists = [first]
    current = first
    for event, again in events:
        if again:  # an id of the list (a redelivery), or one an older list still holds
            pool = [i for listed in lists for i in listed]
            event = pool[sum(map(ord, event)) % len(pool)] if pool else event
        for listed in (current, *lists):  # the newest list, then every older one again
            assert processed.seen(listed, event) == (event in listed)
        if event not in current:  # the engine adds only an id it has not seen
            current = settle.kept(current, event)
            lists.append(current)
            assert len(current) <= settle.PROCESSED_KEPT


def test_a_state_loaded_from_json_finds_its_duplicates_at_any_length() -> None:
    """States loaded from JSON (their lists new to the engine) and states the engine made agree:
    the 0th, 999th, 1,000th and 1,001st id before are duplicates while kept, and only then."""
    from rules_engine.engine.evaluator import Engine
    from rules_engine.state.customer import CustomerState
    from tests.conftest import ROOT

    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    base = dt.datetime(2026, 1, 5, 10, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    state = CustomerState(customer="c1", processed=[f"old-{n}" for n in range(999)])

    def event(number: int | str, minutes: int) -> dict[str, object]:
        return {
            "id": number if isinstance(number, str) else f"new-{number}",
            "type": "purchase",
            "time": (base + dt.timedelta(minutes=minutes)).isoformat(),
            "customer": "c1",
            "items": [{"sku": "TEA", "category": "drinks", "price": Decimal("120.00"), "qty": 1}],
        }

    made = engine.process(event(0, 0), state).state  # 1,000 ids: old-0 .. old-998, new-0
    loaded = CustomerState.model_validate_json(made.model_dump_json())
    for current in (made, loaded):
        for id_, duplicate in (("old-0", True), ("old-998", True), ("new-0", True), ("new-1", False)):
            result = engine.process(event(id_, 1), current)
            assert (result.trace[0].code == "duplicate") is duplicate, id_
        after = engine.process(event(1, 1), current).state  # old-0 leaves
        assert len(after.processed) == 1000
        assert engine.process(event("old-0", 2), after).trace[0].code != "duplicate"
        assert engine.process(event("old-1", 2), after).trace[0].code == "duplicate"
        assert engine.process(event(1, 2), after).trace[0].code == "duplicate"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["base", "tier:gold"]), st.integers(-5, 500), moments), max_size=6))
def test_the_changes_and_entries_of_expiry_made_in_one_loop_are_the_validated_models(
    expired: list[tuple[str, int, dt.datetime]],
) -> None:
    """`trusted.points_changes` and `trusted.expiry_entries` make what the models' constructors
    make: equal, the same JSON, the same fields given."""
    from rules_engine.engine.outcome import PointsChange
    from rules_engine.engine.trusted import expiry_entries, points_changes
    from rules_engine.state.customer import LedgerEntry

    rows = [(rule, Decimal(points), f"e{n}/{rule}", at) for n, (rule, points, at) in enumerate(expired)]
    changes = points_changes([("expire", lot, points, at) for _, points, lot, at in rows])
    entries = expiry_entries("evt-9", 3, rows)
    expected_changes = [
        PointsChange(kind="expire", lot=lot, points=points, at=at) for _, points, lot, at in rows
    ]
    expected_entries = [
        LedgerEntry(event="evt-9", rule=rule, kind="expire", points=-points, lot=lot, at=at, version=3)
        for rule, points, lot, at in rows
    ]
    for made, expected in ((changes, expected_changes), (entries, expected_entries)):
        assert made == expected
        assert [m.model_dump_json() for m in made] == [e.model_dump_json() for e in expected]
        assert [m.model_fields_set for m in made] == [e.model_fields_set for e in expected]
