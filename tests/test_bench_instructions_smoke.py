"""`bench/instructions.py` still runs: its child (the stream cachegrind counts) processes events,
and without valgrind the script says so and exits 0. No count is asserted here (a benchmark's
numbers belong in bench/README.md); the cachegrind runs themselves take minutes, so they are
left to the bench."""

from __future__ import annotations

import os

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


def test_the_counted_stream_runs() -> None:
    result = run_bench("instructions.py", "--child", "15", "5")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_counted_stream_runs_through_stream_step() -> None:
    result = run_bench("instructions.py", "--child", "15", "5", "--stream")
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_valgrind_it_says_so_and_skips(tmp_path: os.PathLike[str]) -> None:
    result = run_bench("instructions.py", env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valgrind is not installed" in result.stdout


def test_the_counted_stream_runs_with_the_histories_frozen() -> None:
    result = run_bench("instructions.py", "--child", "15", "5", "--frozen")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_bench("instructions.py", "--child", "15", "5", "--stream", "--frozen")
    assert result.returncode == 0, result.stdout + result.stderr
