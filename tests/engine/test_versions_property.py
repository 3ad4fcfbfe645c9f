"""A customer's state made under one program version and decided on by the next: every path agrees.

A working state (state/working.py, engine/whole/) is made under one program version and may be
stepped by the next after a reload (`PUT /v1/programs/{p}`, `loyalty run` over a stream spanning
versions, `simulate --compare`). The parameters that shape a state may differ between the two:
`points.pending` and `points.expire_after` (the lots' waits and expiry order), `returns.within`
(how long purchase lines are kept), the time zone, the tier's levels, window, threshold, grace and
downgrade, caps' and budgets' periods, a challenge's window, a quest's `within`, a streak's unit,
the birthday's days, the reminders' reach, the frequency cap's period, the quiet hours, the
negative balance, an offer's limit, how late an event may come. Whatever the version before left —
lots ordered by its expiry, lines kept for its return window, memos kept beside the state's lists,
the moment the working state next has something due — the version after must decide as it would on
the public state alone.

So, over drawn versions of coffee-club (the program the whole step covers, and variants with a
return window that it does not) and of random programs (tests/engine/random_programs.py), and
drawn streams of every kind of event with gaps from a minute to months, switching versions at
drawn events, every event is decided three ways, each carrying its own states:

- (a) `Stream.step` of the event's version on the customer's one `Working`, carried across every
  switch (with the whole step on, or off);
- (b) `Engine.process` of the event's version on the public state the last event left;
- (c) the same version's evaluator path (`generated=False`), explaining now and then;

and all three give the same refusal codes, or the same outcome JSON and state JSON, event by event
(the trace left out of the comparison with (c) when it explains: that adds the false parts).
Now and then, before a customer's event, time moves on without one: `Engine.advance` of the
event's version to a drawn moment since the customer's last event, by (b) and (c) on their own
states (the same state, changes and ledger entries), and (a) goes on from a working state made of
the state after it, as a store's does after an `advance`.
And (d): the service over a memory store, SQLite and SQLite carrying working states, reloaded with
each newer version at drawn events (through the store's version guard), answers alike and ends
with the same states and ledger.

Hypothesis is steered (`target`) to streams whose customers switch version often. Each failure
it found is its own example in tests/engine/test_versions.py. `VERSIONS_EXAMPLES=200` runs more
examples than `make test`'s 8 per test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError, StoreError
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.state.working import Working
from rules_engine.store import Store, open_store
from rules_engine.store.versions import check_version
from tests.engine.random_programs import Drawn, programs, streams
from tests.engine.two_paths import PROGRAMS, products

COFFEE = (PROGRAMS / "coffee-club.yaml").read_text(encoding="utf-8")
COFFEE_DRAWN = Drawn(COFFEE, "RUB", 2)

# -- versions -------------------------------------------------------------------------------------
# Each: a pattern of one line of the program (its value the group `v`) and the values a version may
# give it. Only values that keep the program valid whatever else it holds.
_COFFEE_KNOBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"^timezone: (?P<v>\S+)$", ("Europe/Moscow", "Europe/Moscow", "UTC", "Asia/Tokyo")),
    (r"^  pending: (?P<v>\S+)$", ("14d", "1d", "3d", "20d")),
    (r"^  expire_after: (?P<v>\S+)$", ("365d", "3d", "20d", "60d")),
    (r"^  window: (?P<v>rolling 365d)$", ("rolling 365d", "rolling 30d", "rolling 3d")),
    (r"^  downgrade_grace: (?P<v>\S+)$", ("30d", "2d", "60d")),
    (r"^      threshold: (?P<v>30000)$", ("30000", "1000", "300")),
    (r"cap: \{(?P<v>per_day): 10\}", ("per_day", "per_week", "per_month")),
    (r"cap: \{(?P<v>per_day): 50\}", ("per_day", "per_week", "per_month")),
    (
        r"^    window: (?P<v>calendar_week)$",
        ("calendar_week", "calendar_month", "calendar_quarter", "rolling 7d", "rolling 2d", "lifetime"),
    ),
    (r"^    within: (?P<v>30d)$", ("30d", "3d", "1d")),
    (r"^    unit: (?P<v>day)$", ("day", "week")),
    (r"frequency_cap: \{count: 3, per: (?P<v>7d)\}", ("7d", "1d", "30d")),
    (r"points_expiring: \{before: (?P<v>14d)", ("14d", "2d", "30d")),
    (r"tier_downgrade: \{before: (?P<v>30d)", ("30d", "5d")),
    (r'quiet_hours: \{start: "21:00", end: "(?P<v>08:00)"\}', ("08:00", "08:00", "23:00", "12:00")),
    (r"^  days: (?P<v>3)$", ("3", "1", "10")),
    (r"^  downgrade: (?P<v>one_level)$", ("one_level", "to_qualified")),
    (r"^  negative_balance: (?P<v>allow)$", ("allow", "write_off")),
)

_RANDOM_KNOBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"^timezone: (?P<v>\S+)$", ("UTC", "Europe/Berlin", "America/Chicago", "Asia/Tokyo")),
    (r"^  pending: (?P<v>\S+)$", ("1d", "14d", "30d", "3d")),
    (r"^  expire_after: (?P<v>\S+)$", ("45d", "90d", "365d", "3d", "20d")),
    (r"^returns:\n  within: (?P<v>\S+)$", ("10d", "30d", "3d")),
    (r"^  window: (?P<v>rolling \d+d)$", ("rolling 30d", "rolling 3d", "rolling 90d")),
    (r"^  window: (?P<v>calendar_(?:month|year))$", ("calendar_month", "calendar_year")),
    (
        r"cap: \{(?P<v>per_event|per_day|per_week|per_month|lifetime): ",
        ("per_event", "per_day", "per_week", "per_month", "lifetime"),
    ),
    (r"period: (?P<v>day|week|month|year|program)\}", ("day", "week", "month", "year", "program")),
    (
        r"^    window: (?P<v>calendar_week|calendar_month|rolling 7d|lifetime)$",
        ("calendar_week", "calendar_month", "calendar_quarter", "rolling 7d", "rolling 2d", "lifetime"),
    ),
    (r"^    within: (?P<v>3d|30d)$", ("3d", "30d", "1d")),
    (r"^    unit: (?P<v>day|week)$", ("day", "week")),
    (r"frequency_cap: \{count: \d, per: (?P<v>7d)\}", ("7d", "1d", "30d")),
    (r"points_expiring: \{before: (?P<v>14d)", ("14d", "2d", "30d")),
    (r"tier_downgrade: \{before: (?P<v>30d)", ("30d", "5d")),
    (r"limit: \{count: 1, per: (?P<v>\d+d)\}", ("7d", "365d", "1d")),
    (r"accept_within: (?P<v>\S+)$", ("1d", "7d")),
)


def _vary(draw: st.DrawFn, text: str, knobs: tuple[tuple[str, tuple[str, ...]], ...], number: int) -> str:
    """`text` as program version `number`: each knob's every match given a drawn value."""
    text = re.sub(r"^version: \d+$", f"version: {number}", text, count=1, flags=re.MULTILINE)
    for pattern, values in knobs:
        compiled = re.compile(pattern, re.MULTILINE)
        for match in reversed(list(compiled.finditer(text))):
            value = draw(st.sampled_from(values))
            text = text[: match.start("v")] + value + text[match.end("v") :]
    return _waits_less_than_points_live(text)


def _days(text: str, key: str) -> int | None:
    found = re.search(rf"^  {key}: (\d+)d$", text, re.MULTILINE)
    return None if found is None else int(found[1])


def _waits_less_than_points_live(text: str) -> str:
    """A pending period shorter than `expire_after` (else RE129): a day when the draw made it not."""
    pending, expires = _days(text, "pending"), _days(text, "expire_after")
    if pending is not None and expires is not None and pending >= expires:
        text = re.sub(r"^  pending: \d+d$", "  pending: 1d", text, count=1, flags=re.MULTILINE)
    return text


_GOLD = """\
    - id: gold
      name: Gold
      threshold: 30000
      benefits:
        earn_multiplier: 1.5
        perks: ["free syrup", "birthday drink"]
"""
_SILVER = """\
    - id: silver
      name: Silver
      threshold: 200
      benefits: {earn_multiplier: 1.25}
"""


def _levels(draw: st.DrawFn, text: str) -> str:
    """Coffee-club's levels as a version may have them: as they are, with a silver level below
    gold, or without gold (its members moved to green, or to no tier: `removed_tiers`)."""
    assert _GOLD in text
    how = draw(st.sampled_from(["as is", "as is", "silver", "no gold", "no gold, no tier"]))
    if how == "silver":
        return text.replace(_GOLD, _SILVER + _GOLD)
    if how.startswith("no gold"):
        move = "null" if how.endswith("no tier") else "green"
        text = text.replace(_GOLD, "")
        return text.replace(
            "  downgrade: one_level\n", f"  downgrade: one_level\n  removed_tiers: {{move_to: {move}}}\n"
        )
    return text


@st.composite
def _coffee_versions(draw: st.DrawFn) -> list[str]:
    """Two or three versions of coffee-club; some with a return window (which the whole step leaves
    to the other paths), no pending period, another time zone, or other tier levels."""
    made = []
    for number in range(draw(st.integers(2, 3))):
        text = _levels(draw, COFFEE)
        text = _vary(draw, text, _COFFEE_KNOBS, 3 + number)
        if draw(st.integers(0, 3)) == 0:
            text = text.replace(
                "\nearning_base:",
                f"\nreturns:\n  within: {draw(st.sampled_from(['3d', '20d']))}\n\nearning_base:",
            )
        if draw(st.integers(0, 4)) == 0:
            text = re.sub(r"^  pending: \S+\n", "", text, flags=re.MULTILINE)
        made.append(text)
    return made


@st.composite
def _random_versions(draw: st.DrawFn, budgets: bool = False) -> tuple[Drawn, list[str]]:
    """A random program and two or three versions of it; `budgets`: rules may have a budget (which
    a store counts)."""
    drawn = draw(programs(budgets=budgets))
    return drawn, [_vary(draw, drawn.text, _RANDOM_KNOBS, 1 + n) for n in range(draw(st.integers(2, 3)))]


# -- the three paths ------------------------------------------------------------------------------
_ENGINES: dict[str, tuple[Engine, Engine]] = {}


def _engines(text: str) -> tuple[Engine, Engine]:
    """The version's engine (the generated path) and its evaluator-path twin, compiled once."""
    if text not in _ENGINES:
        if len(_ENGINES) > 64:
            _ENGINES.clear()
        compiled = load_program_text(text, "versioned.yaml")
        _ENGINES[text] = (Engine(compiled, secret=b"v"), Engine(compiled, secret=b"v", generated=False))
    return _ENGINES[text]


def _diff(mine: str, theirs: str, path: str = "") -> str:
    """Where two JSON texts differ first (for an assertion's message)."""
    return _first_difference(json.loads(mine), json.loads(theirs), path)


def _first_difference(a: Any, b: Any, path: str) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key, "<missing>") != b.get(key, "<missing>"):
                return _first_difference(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list):
        for n, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return _first_difference(x, y, f"{path}[{n}]")
        if len(a) != len(b):
            return f"{path}: {len(a)} elements, not {len(b)}: {a[len(b) :] or b[len(a) :]}"
    return f"{path}: {a!r}, not {b!r}"


def _without_trace(outcome_json: str) -> Any:
    data = json.loads(outcome_json)
    data.pop("trace", None)
    return data


def _stretched(data: st.DataObject, stream: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`stream` with gaps of days drawn between events (never shrinking: the order stays), across
    the versions' pending periods, windows and expiries of a few days."""
    shift = dt.timedelta(0)
    out = []
    for event in stream:
        shift += dt.timedelta(days=data.draw(st.sampled_from([0, 0, 0, 1, 2, 4, 8, 19, 25]), label="gap"))
        out.append({**event, "time": (dt.datetime.fromisoformat(event["time"]) + shift).isoformat()})
    return out


def _advance_to(data: st.DataObject, before: CustomerState, event: dict[str, Any]) -> dt.datetime:
    """A moment drawn between the customer's latest event and `event` (at either end too)."""
    latest = before.last_event_at
    moment = dt.datetime.fromisoformat(event["time"])
    if latest is None or moment <= latest:
        return moment
    return latest + (moment - latest) * data.draw(st.integers(0, 100), label="advance at") / 100


def _advanced(
    fast: Engine,
    slow: Engine,
    before: CustomerState,
    slow_before: CustomerState | None,
    moment: dt.datetime,
    where: str,
) -> tuple[CustomerState, CustomerState]:
    """`Engine.advance` to `moment` by the generated engine and the evaluator's, each on its own
    state (made by earlier versions too): the same state, changes and ledger entries."""
    one = fast.advance(before, moment)
    two = slow.advance(slow_before, moment)
    mine, theirs = two.state.model_dump_json(), one.state.model_dump_json()
    assert mine == theirs, f"before {where}, advance's state: {_diff(mine, theirs)}"
    assert [c.model_dump_json() for c in two.changes] == [c.model_dump_json() for c in one.changes], where
    assert [e.model_dump_json() for e in two.ledger] == [e.model_dump_json() for e in one.ledger], where
    return one.state, two.state


def across_versions(
    data: st.DataObject, texts: list[str], events: list[dict[str, Any]], *, whole: bool
) -> tuple[int, int]:
    """Every event decided by the version drawn for it, three ways (the module docstring): the same
    answers. Returns how many switches of version a customer's state went through, and how many
    events the stream decided without `process`."""
    versions = [_engines(text) for text in texts]
    streams_ = [Stream(fast, whole=whole) for fast, _ in versions]
    workings: dict[str, Working] = {}
    public: dict[str, CustomerState | None] = {}
    slow_states: dict[str, CustomerState | None] = {}
    last: dict[str, int] = {}
    switches = 0
    version = 0
    for number, event in enumerate(events):
        if data.draw(st.integers(0, 3), label="switch?") == 0:
            version = data.draw(st.integers(0, len(texts) - 1), label="version")
        fast, slow = versions[version]
        stream = streams_[version]
        customer = event["customer"]
        switches += last.setdefault(customer, version) != version
        last[customer] = version
        where = f"event {number} ({event['type']} {event['id']}) under version {version}"
        before = public.get(customer)
        if before is not None and data.draw(st.integers(0, 4), label="advance?") == 0:
            moment = _advance_to(data, before, event)
            public[customer], slow_states[customer] = _advanced(
                fast, slow, before, slow_states.get(customer), moment, where
            )
            workings[customer] = stream.working(public[customer])
        working = workings.get(customer)
        if working is None:
            working = workings[customer] = stream.working(None)
        explain = data.draw(st.integers(0, 3), label="explain?") == 0
        try:
            expected = fast.process(event, public.get(customer))
        except EventError as error:
            codes = [d.code for d in error.diagnostics]
            kept = working.public().model_dump_json()
            with pytest.raises(EventError) as raised:
                stream.step(event, working)
            assert [d.code for d in raised.value.diagnostics] == codes, where
            assert working.public().model_dump_json() == kept, where
            with pytest.raises(EventError) as raised:
                slow.process(event, slow_states.get(customer), explain=explain)
            assert [d.code for d in raised.value.diagnostics] == codes, where
            continue
        outcome = expected.outcome().model_dump_json()
        state = expected.state.model_dump_json()
        got = stream.step(event, working)
        mine = got.outcome().model_dump_json()
        assert mine == outcome, f"{where}, the stream: {_diff(mine, outcome)}"
        mine = got.state.model_dump_json()
        assert mine == state, f"{where}, the stream's state: {_diff(mine, state)}"
        mine = working.public().model_dump_json()
        assert mine == state, f"{where}, the working state: {_diff(mine, state)}"
        explained = slow.process(event, slow_states.get(customer), explain=explain)
        mine = explained.outcome().model_dump_json()
        if explain:
            assert _without_trace(mine) == _without_trace(outcome), (
                f"{where}, explained: {_diff(mine, outcome)}"
            )
        else:
            assert mine == outcome, f"{where}, the evaluator: {_diff(mine, outcome)}"
        mine = explained.state.model_dump_json()
        assert mine == state, f"{where}, the evaluator's state: {_diff(mine, state)}"
        public[customer] = expected.state
        slow_states[customer] = explained.state
    return switches, sum(s.taken for s in streams_)


_EXAMPLES = int(os.environ.get("VERSIONS_EXAMPLES", "8"))
"""Examples per test: 8 in `make test` (about 20 s); `VERSIONS_EXAMPLES=200` for a longer run."""
_SETTINGS = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "in place"])
@_SETTINGS
@given(texts=_coffee_versions(), data=st.data())
def test_coffee_club_versions_decide_alike_on_every_path(
    whole: bool, texts: list[str], data: st.DataObject
) -> None:
    events = data.draw(streams(COFFEE_DRAWN, customers=2, events=30, products=products("coffee-club")))
    switches, taken = across_versions(data, texts, _stretched(data, events), whole=whole)
    target(switches + taken / 100, label="customers' switches of version, events stepped")


@_SETTINGS
@given(drawn=_random_versions(), data=st.data())
def test_random_program_versions_decide_alike_on_every_path(
    drawn: tuple[Drawn, list[str]], data: st.DataObject
) -> None:
    program, texts = drawn
    events = data.draw(streams(program, customers=2, events=24))
    switches, taken = across_versions(data, texts, _stretched(data, events), whole=True)
    target(switches + taken / 100, label="customers' switches of version, events stepped")


# -- (d) the stores across a reload ---------------------------------------------------------------
_STORES = ("memory:", "sqlite:///{dir}/a.db", "sqlite:///{dir}/b.db?working=1")


def _stored(store: Store) -> Any:
    """What a store holds: every customer's state and ledger rows, as JSON."""
    states = {customer: state.model_dump_json() for customer, state in store.states()}
    ledger = [(row.customer, row.entry.model_dump_json()) for row in store.ledger()]
    return states, ledger


_STORE_SETTINGS = settings(
    max_examples=max(1, _EXAMPLES // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_STORE_SETTINGS
@given(texts=_coffee_versions(), data=st.data())
def test_stores_carry_customers_across_a_reload_alike(texts: list[str], data: st.DataObject) -> None:
    """Coffee-club's versions through the stores (`through_stores`)."""
    events = data.draw(streams(COFFEE_DRAWN, customers=2, events=24, products=products("coffee-club")))
    through_stores(data, "coffee-club", texts, _stretched(data, events))


@_STORE_SETTINGS
@given(drawn=_random_versions(budgets=True), data=st.data())
def test_stores_carry_budgets_across_a_reload_alike(
    drawn: tuple[Drawn, list[str]], data: st.DataObject
) -> None:
    """A random program with budgets (counted by the store across customers, in periods a version
    may change) through the stores (`through_stores`)."""
    program, texts = drawn
    events = data.draw(streams(program, customers=3, events=24))
    through_stores(data, "random-shop", texts, _stretched(data, events))


def through_stores(data: st.DataObject, program: str, texts: list[str], events: list[dict[str, Any]]) -> None:
    """The service over a memory store, SQLite, and SQLite carrying working states (`?working=1`),
    the program reloaded with a newer version at drawn events (each passing the store's version
    guard, docs/stores.md "Program versions"): the same answers, event by event, and the same
    states and ledger in each store after every reload."""
    engines = [_engines(text)[0] for text in texts]
    with tempfile.TemporaryDirectory() as folder:
        stores = [open_store(url.format(dir=folder), program) for url in _STORES]
        try:
            version = 0
            services = [Loyalty(engines[0], store, horizon=None) for store in stores]
            for store in stores:
                check_version(store, engines[0].program, _AT)
            for number, event in enumerate(events):
                if version + 1 < len(engines) and data.draw(st.integers(0, 5), label="reload?") == 0:
                    guarded = []
                    for store in stores:
                        try:
                            check_version(store, engines[version + 1].program, _AT)
                        except StoreError as error:  # a tier customers hold, without removed_tiers
                            guarded.append([d.code for d in error.diagnostics])
                        else:
                            guarded.append([])
                    assert guarded.count(guarded[0]) == len(guarded), f"the guard before event {number}"
                    if not guarded[0]:
                        version += 1
                        services = [Loyalty(engines[version], store, horizon=None) for store in stores]
                    assert len({repr(_stored(store)) for store in stores}) == 1, f"before event {number}"
                said = []
                for service in services:
                    try:
                        handled = service.handle(event)
                    except EventError as error:
                        said.append([d.code for d in error.diagnostics])
                        continue
                    said.append([handled.duplicate, handled.outcome.model_dump_json()])
                assert said.count(said[0]) == len(said), f"event {number} under version {version}: {said}"
            assert len({repr(_stored(store)) for store in stores}) == 1
        finally:
            for store in stores:
                store.close()


_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
