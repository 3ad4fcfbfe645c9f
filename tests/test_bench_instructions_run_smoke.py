"""`bench/instructions_run.py` still runs: its child runs each part it counts (the run in memory on
working and on public states, with the collector set as `loyalty run` sets it and off, the
command, the engine, the step, the digest, reading a line now and as before), and without
valgrind the script says so and exits 0. No count is asserted (a benchmark's numbers belong in
bench/README.md); the cachegrind runs take minutes, so they are left to the bench."""

from __future__ import annotations

import os

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench

PARTS = ("quiet", "public", "tuned", "nogc", "cli", "cli-public", "engine", "step", "digest", "read", "loads")


@pytest.mark.parametrize("part", PARTS)
def test_each_counted_part_runs(part: str) -> None:
    result = run_bench("instructions_run.py", "--child", part, "5")
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_unknown_part_is_refused() -> None:
    result = run_bench("instructions_run.py", "nothing")
    assert result.returncode == 2 and "no part nothing" in result.stderr


def test_without_valgrind_it_says_so_and_skips(tmp_path: os.PathLike[str]) -> None:
    result = run_bench("instructions_run.py", env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valgrind is not installed" in result.stdout
