"""A customer read between events shows the tier progress the engine would report
(tools/standing.py), and /readyz turns 503 the moment SIGTERM arrives (app.not_ready_on_signal)."""

from __future__ import annotations

import datetime as dt
import os
import signal
from pathlib import Path
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.http import Settings, create_app
from rules_engine.http.app import not_ready_on_signal
from rules_engine.http.runtime import Runtime
from rules_engine.service import Loyalty
from rules_engine.tools.standing import tier_progress
from tests.conftest import ROOT
from tests.http.conftest import exact, post, purchase, serving

P = "/v1/programs/coffee-club"


def test_the_customer_shows_the_tier_progress_of_their_latest_outcome(
    program_dir: Path, tmp_path: Path
) -> None:
    with serving(Settings(programs=program_dir, db=str(tmp_path / "view.db"))) as server:
        key = server.add_key(["customers:read", "events:write"])
        with server.client(key) as client:
            event = purchase(1, "tia", price="9000.00", at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
            outcome = exact(post(client, f"{P}/events", event))["outcome"]
            view = exact(client.get(f"{P}/customers/tia"))
    assert outcome["tier_progress"]["next"] == "gold"
    assert view["tier_progress"] == outcome["tier_progress"]


def test_tier_progress_moves_with_a_rolling_window_between_events() -> None:
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    loyalty = Loyalty.in_memory(engine)
    at = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    outcome = loyalty.process(purchase(1, "tia", price="9000.00", at=at))
    state = outcome.state
    assert tier_progress(engine.program, state, at) == outcome.tier_progress
    later = tier_progress(engine.program, state, at + dt.timedelta(days=400))  # out of the 365-day window
    assert later is not None and later.metric == 0 and later.needed == 30000
    assert tier_progress(engine.program, state, at - dt.timedelta(days=1)) == outcome.tier_progress


def test_readyz_turns_503_as_soon_as_sigterm_arrives(program_dir: Path) -> None:
    app = create_app(Settings(programs=program_dir, db="memory:"))
    runtime: Runtime = app.state.runtime
    runtime.ready = True
    seen: list[Any] = []
    previous = signal.signal(signal.SIGTERM, lambda number, _frame: seen.append(number))
    server = signal.getsignal(signal.SIGTERM)
    try:
        restore = not_ready_on_signal(runtime)
        os.kill(os.getpid(), signal.SIGTERM)  # handled in this (the main) thread before the next line
        assert runtime.ready is False and seen == [signal.SIGTERM]  # the server's handler ran too
        restore()
        assert signal.getsignal(signal.SIGTERM) is server
    finally:
        signal.signal(signal.SIGTERM, previous)
        runtime.stores.close()
