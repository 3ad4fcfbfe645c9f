"""Small generated histories the simulate tests share (the engine replays ~1,000 events/s: a few
thousand events per history keep each test to seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.simulate.generate import generate_file
from tests.conftest import ROOT


def history(program: Path, folder: Path, *, customers: int, days: int, seed: int = 3) -> Path:
    out = folder / f"{program.stem}-{customers}-{days}-{seed}.jsonl"
    generate_file(
        Engine.from_file(program).program,
        program.read_text(encoding="utf-8"),
        out,
        customers=customers,
        days=days,
        seed=seed,
    )
    return out


@pytest.fixture(scope="package")
def fashion_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fashion-house (tiers, referrals, a budget) over 14 months: referrals cross customers."""
    return history(
        ROOT / "programs" / "fashion-house.yaml", tmp_path_factory.mktemp("h"), customers=40, days=420
    )


@pytest.fixture(scope="package")
def coffee_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """coffee-club (challenges, a quest, streaks, expiry after 365 days) over 15 months."""
    return history(
        ROOT / "programs" / "coffee-club.yaml", tmp_path_factory.mktemp("h"), customers=30, days=450
    )
