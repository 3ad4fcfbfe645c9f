"""How the benchmarks' smoke tests run a script of `bench/`: in a process of its own, from the
checkout, with a bound on its time. A smoke test asserts that the script still runs and still
reports (agreement, targets), never a timing: a benchmark's numbers belong in bench/README.md."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

from tests.conftest import ROOT


def run_bench(
    script: str, *flags: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python bench/<script> <flags>…`, its output captured as text; never raises on its exit status."""
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *flags],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env=env,
    )
