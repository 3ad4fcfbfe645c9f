"""The whole-step benchmark still runs: `bench/bench_whole.py --quick` checks the whole purchase step
generated for coffee-club against `Engine.process` event by event (exit 1 on a disagreement), then
times each level of the step beside the hand-written processor. Until 2026-12-06 no test ran it,
and its first level ("whole: decision") called `WholeStep.decision` without the lines it now takes.

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


def test_quick_whole_step_benchmark_agrees_and_times_every_level() -> None:
    result = run_bench("bench_whole.py", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ", 0 disagreeing" in result.stdout
    for level in ("hand-written", "whole: decision", "whole: step", "whole: + outcome JSON", "Stream.step"):
        assert f"  {level} " in result.stdout, level
