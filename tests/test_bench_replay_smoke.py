"""The replay benchmark still runs: `bench/bench_replay.py` on a tiny generated stream, into SQLite and
in memory, samples the run's RSS and CPU time and gives its verdicts. No number is asserted but
that they were measured."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# The pure pass of `make test` runs it; the compiled pass leaves it out (-m "not bench").
pytestmark = pytest.mark.bench


@pytest.mark.parametrize("db", [None, "memory"])
def test_replay_benchmark_samples_a_tiny_stream(db: str | None) -> None:
    command = [sys.executable, str(ROOT / "bench" / "bench_replay.py"), "--customers", "8", "--events", "400"]
    command += ["--every", "100", "--cache", "4", "--json"] + ([] if db is None else ["--db", db])
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lines"] == 400 and report["returncode"] in (0, 1)
    assert ("--db" in report["command"]) == (db is None)
    assert db is not None or any(part.endswith("&cache=4") for part in report["command"])
    assert report["cpu_s"] > 0 and report["peak_mb"] > 0 and report["under_target"] is True
    samples = report["samples"]
    assert [sample["lines"] for sample in samples] == [100, 200, 300, 400][: len(samples)]
    assert all(sample["rss_mb"] > 0 for sample in samples)
