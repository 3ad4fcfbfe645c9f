"""`bench/bench_gate.py` still runs: groups decided as a worker of several decides them, and as
one worker does, each line printed. No timing is asserted here; a benchmark's numbers belong in
bench/README.md, not in a test."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.bench


@pytest.mark.parametrize("options", [[], ["--one-worker"]], ids=["workers", "one-worker"])
def test_the_gate_bench_runs(options: list[str]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_gate.py"),
            "--group",
            "4",
            "1",
            "--events",
            "12",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["group  4", "group  1"]
    assert all("inside" in line for line in lines)
