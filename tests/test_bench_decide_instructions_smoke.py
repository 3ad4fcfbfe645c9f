"""`bench/decide_instructions.py` still runs: its child (the runs callgrind counts) decides them,
and without valgrind the script says so and exits 0. No count is asserted (bench/README.md has
them); the callgrind run itself takes minutes, so it is left to the bench."""

from __future__ import annotations

import os

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


def test_the_counted_runs_are_decided() -> None:
    result = run_bench("decide_instructions.py", "--child")
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.split()[-1]) > 0  # how many runs it decided


def test_without_valgrind_it_says_so_and_skips(tmp_path: os.PathLike[str]) -> None:
    result = run_bench("decide_instructions.py", env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valgrind is not installed" in result.stdout


def test_the_counted_runs_are_opened() -> None:
    result = run_bench("decide_instructions.py", "--child", "--open")
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.split()[-1]) > 0  # how many runs it opened
