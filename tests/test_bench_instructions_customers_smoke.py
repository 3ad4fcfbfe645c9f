"""`bench/instructions_customers.py` still runs: its child (customers interleaved round-robin, the
events cachegrind counts) processes events in every mode, and without valgrind the script says so
and exits 0. No count is asserted here (a benchmark's numbers belong in bench/README.md)."""

from __future__ import annotations

import os

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


@pytest.mark.parametrize("mode", ["process", "stream", "loyalty", "run"])
def test_the_counted_stream_runs(mode: str) -> None:
    result = run_bench("instructions_customers.py", "--child", "6", "15", "9", "--mode", mode)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_valgrind_it_says_so_and_skips(tmp_path: os.PathLike[str]) -> None:
    result = run_bench("instructions_customers.py", env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valgrind is not installed" in result.stdout
