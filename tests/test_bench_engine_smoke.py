"""The engine benchmark still runs: `bench/bench_engine.py --quick` exits 0 and reports both programs.

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def _run(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_engine.py"), "--quick", *flags],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )


def test_quick_benchmark_runs_and_names_both_programs() -> None:
    result = _run()
    assert result.returncode == 0, result.stderr
    for program in ("coffee-club", "corner-hardware"):
        assert program in result.stdout
    assert "FAILED" not in result.stdout
    assert "DISAGREES" not in result.stdout
    assert "events/s" in result.stdout


def test_quick_benchmark_json_is_one_document() -> None:
    result = _run("--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {case["program"] for case in document["cases"]} == {"coffee-club", "corner-hardware"}
    assert document["errors"] == []
    assert document["hardware_disagreements"] == []
