"""`bench/texts_instructions.py` still runs: its child makes the service's purchase results and
writes their outcome texts (all of it, and each part it can count alone), and without valgrind
the script says so and exits 0. No count is asserted (bench/README.md has them); the callgrind
run itself takes minutes, so it is left to the bench."""

from __future__ import annotations

import os

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


@pytest.mark.parametrize("flags", [("--part", "write"), ("--part", "answered", "--made", "--words")])
def test_the_counted_results_are_written(flags: tuple[str, ...]) -> None:
    result = run_bench("texts_instructions.py", "--child", *flags)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_valgrind_it_says_so_and_skips(tmp_path: os.PathLike[str]) -> None:
    result = run_bench("texts_instructions.py", env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valgrind is not installed" in result.stdout
