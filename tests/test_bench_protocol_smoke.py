"""`bench/bench_protocol.py` still runs: the loop's side of an events request, served by serve's
protocol and by uvicorn's ASGI way, each answered. No timing is asserted here; a benchmark's
numbers belong in bench/README.md, not in a test."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.bench


def test_the_protocol_bench_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_protocol.py"), "--requests", "20", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["asgi", "direct"]
    assert all("µs of CPU a request" in line for line in lines)


def test_the_counted_child_runs() -> None:
    """`--instructions`' child (what callgrind counts, in counting.py's window) serves its requests
    and exits 0: a missing answer would make it exit with a message."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_protocol.py"), "--child", "direct", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
