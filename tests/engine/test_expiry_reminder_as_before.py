"""Expiry and the points-expiring reminder happen as they did before their work was made cheaper.

The fixture `tests/fixtures/history/expiry_reminder.json` was written by the code before the
expiry and the reminder read their lots in C (main 7dd197b, `python -m
tests.engine.test_expiry_reminder_as_before --write` run in its tree): for each case below — a
coffee-club variant whose points expire within weeks, and a seeded stream of purchases, app opens
and sign-ups whose gaps (minutes to weeks, at any hour) cross pending periods, expiry and the
reminder's reach, the frequency cap and the quiet hours — a digest of each event's outcome JSON
and state JSON through `Engine.process` explain off, explain on, and `Stream.step` (the whole step
and the step in place). The same events give the same digests now: the same points expire at the
same moments, the same reminders go out, wait or are dropped at the same events, with the same
words, and the states are the same byte for byte, whichever path made them. Two cases hold more
than `SHARED_FROM` lots (the long lists shared between states, state/shared.py), as a long
history does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState
from tests.engine.test_whole_reminder import CAP, QUIET, purchase, variant
from tests.engine.test_whole_stream import MSK

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "history" / "expiry_reminder.json"

# (name, the variant's settings, seed, events, the largest gap in days, customers)
CASES: list[tuple[str, dict[str, Any], int, int, int, int]] = [
    ("coffee-settings", {}, 1, 90, 3, 1),
    ("cap-a-day", {"cap": "frequency_cap: {count: 1, per: 1d}", "before": "14d"}, 2, 90, 5, 2),
    ("no-cap-no-quiet", {"cap": None, "quiet": None, "expire": "10d", "pending": "12h"}, 3, 80, 9, 1),
    ("waits-2h", {"delay": "2h", "before": "2d"}, 4, 80, 4, 2),
    (
        "waits-2d-midday-quiet",
        {"delay": "2d", "quiet": 'quiet_hours: {start: "12:00", end: "14:00"}'},
        5,
        80,
        6,
        1,
    ),
    (
        "long-reach",
        {"expire": "45d", "before": "30d", "pending": "3d", "cap": CAP, "quiet": QUIET},
        6,
        120,
        3,
        1,
    ),
    ("many-lots", {"expire": "60d", "before": "14d", "pending": "1d"}, 7, 160, 1, 1),
    ("many-lots-no-cap", {"expire": "80d", "before": "7d", "cap": None}, 8, 170, 1, 1),
]


def stream_of(seed: int, count: int, widest: int, customers: int) -> list[dict[str, Any]]:
    """A seeded stream: purchases of 1-3 lines, an app open now and then, a sign-up with a time zone
    for some customers; gaps from minutes to `widest` days, at any hour."""
    draw = random.Random(seed)
    names = ["c", "d"][:customers]
    time = dt.datetime(2026, 3, 2, draw.randrange(24), 5, tzinfo=MSK)
    events: list[dict[str, Any]] = []
    for name in names:
        zone = draw.choice([None, "Asia/Tokyo", "America/New_York"])
        if zone is not None:
            events.append(
                {
                    "id": f"s-{name}",
                    "type": "signup",
                    "time": time.isoformat(),
                    "customer": name,
                    "timezone": zone,
                }
            )
    for number in range(count):
        kind = draw.randrange(3)
        if kind == 0:
            gap = dt.timedelta(minutes=draw.randrange(1, 600))
        elif kind == 1:
            gap = dt.timedelta(hours=draw.randrange(1, 30), minutes=17)
        else:
            gap = dt.timedelta(days=draw.randrange(1, widest + 1), minutes=-31)
        time += gap
        name = draw.choice(names)
        if draw.randrange(10) == 0:
            events.append(
                {"id": f"a{number}", "type": "app_open", "time": time.isoformat(), "customer": name}
            )
        else:
            events.append(purchase(number, time, name, draw.randrange(1, 4)))
    return events


def _digest(*texts: str) -> str:
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def digests(
    settings: dict[str, Any], seed: int, count: int, widest: int, customers: int
) -> dict[str, list[str]]:
    """Each event's digest of (outcome JSON, state JSON) through each path ("-": refused)."""
    engine = Engine(load_program_text(variant(**settings), "variant.yaml"))
    events = stream_of(seed, count, widest, customers)
    made: dict[str, list[str]] = {}
    for path, explain in (("process", False), ("explain", True)):
        states: dict[str, CustomerState | None] = {}
        made[path] = []
        for event in events:
            try:
                result = engine.process(event, states.get(event["customer"]), explain=explain)
            except EventError as error:
                made[path].append("-" + ",".join(d.code for d in error.diagnostics))
                continue
            states[event["customer"]] = result.state
            made[path].append(_digest(result.outcome().model_dump_json(), result.state.model_dump_json()))
    stream = Stream(engine)
    workings: dict[str, Any] = {}
    made["stream"] = []
    for event in events:
        working = workings.get(event["customer"])
        if working is None:
            working = workings[event["customer"]] = stream.working(None)
        try:
            result = stream.step(event, working)
        except EventError as error:
            made["stream"].append("-" + ",".join(d.code for d in error.diagnostics))
            continue
        made["stream"].append(_digest(result.outcome().model_dump_json(), result.state.model_dump_json()))
    # the states each path leaves, read only at the end (nothing read between the events)
    states = {}
    for event in events:
        try:
            states[event["customer"]] = engine.process(event, states.get(event["customer"])).state
        except EventError:
            continue
    made["final"] = [_digest(states[name].model_dump_json()) for name in sorted(states)]
    return made


@pytest.fixture(scope="module")
def written() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_expiry_and_reminders_as_the_code_before_made_them(
    case: tuple[str, dict[str, Any], int, int, int, int], written: dict[str, Any]
) -> None:
    name, *spec = case
    expected = written[name]
    got = digests(*spec)  # type: ignore[arg-type]
    for path, before in expected.items():
        now = got[path]
        assert len(now) == len(before), path
        different = [index for index, (a, b) in enumerate(zip(now, before, strict=True)) if a != b]
        assert not different, f"{name} {path}: events {different[:5]} differ from the fixture"


def test_the_cases_cross_expiry_and_every_reminder_outcome(written: dict[str, Any]) -> None:
    """The fixture's streams do what they are there for: lots expire, reminders go out, wait and
    are suppressed, and some states hold more lots than a short list."""
    from rules_engine.state.shared import SHARED_FROM

    expired = sent = waited = suppressed = 0
    most_lots = 0
    for _, settings, seed, count, widest, customers in CASES[:2] + CASES[6:7]:
        engine = Engine(load_program_text(variant(**settings), "variant.yaml"))
        states: dict[str, CustomerState | None] = {}
        for event in stream_of(seed, count, widest, customers):
            result = engine.process(event, states.get(event["customer"]), explain=True)
            states[event["customer"]] = result.state
            expired += sum(change.kind == "expire" for change in result.points_changes)
            for verdict in result.trace:
                if verdict.kind == "notification":
                    sent += verdict.code == "fired"
                    waited += "deferred to" in str(verdict.reason)
                    suppressed += "suppressed" in str(verdict.reason)
            most_lots = max(most_lots, len(result.state.lots))
    assert expired and sent and waited and suppressed
    assert most_lots >= SHARED_FROM
    assert set(written) == {case[0] for case in CASES}


def _write() -> None:
    made = {name: digests(*spec) for name, *spec in CASES}  # type: ignore[arg-type]
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(made, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _write()
