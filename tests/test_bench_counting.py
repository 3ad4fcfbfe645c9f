"""`bench/counting.py`, the instruction scripts' harness: the window it counts, and that it counts
only the window, the same every run.

What a user of the scripts relies on: a figure that repeats between runs of one tree, so that a
change of 1 % can be told from noise, and that is the work's alone (not the interpreter's start or
the build before the window). The counts are instructions, not times; the valgrind cases are
skipped without valgrind and take ~10 s each under it."""

from __future__ import annotations

import gc
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import counting  # bench/ is on the path above: not a package

pytestmark = pytest.mark.bench

CHILD = """
import sys
sys.path.insert(0, {bench!r})
from counting import window

garbage = [[i] for i in range({before})]  # work before the window: not counted
loops = int(sys.argv[2])


def work():
    for _ in range(loops):
        block = [0] * 8  # the same work each time round


window(work)
"""


def test_the_window_starts_with_the_collector_at_rest() -> None:
    seen: list[tuple[int, int, int]] = []
    frames: list[str] = []

    def work() -> None:
        seen.append(gc.get_count())
        frames.append(sys._getframe(1).f_code.co_name)

    [[i] for i in range(5000)]  # young objects the collector has not walked yet
    counting.window(work)
    assert seen and seen[0][1:] == (0, 0)  # nothing pending in the older generations
    assert seen[0][0] < 10
    assert frames == ["window"]  # called through sys.call_tracing, from `window`


def test_spread_gives_min_median_and_half_the_range() -> None:
    assert counting.spread([410_000, 412_000, 411_000]) == "410.0k / 411.0k (±1.0k)"


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_only_the_window_is_counted_and_counts_repeat(tmp_path: Path) -> None:
    def counted(before: int, loops: int, runs: int = 1) -> list[int]:
        script = tmp_path / f"child_{before}.py"
        script.write_text(textwrap.dedent(CHILD.format(bench=str(ROOT / "bench"), before=before)))
        return counting.count(str(script), [str(loops)], f"{before}, {loops}", runs)

    once = counted(0, 20_000, runs=2)
    assert once[0] == once[1]  # the same work counts the same, run after run
    twice = counted(0, 40_000)[0]
    # the loop's, in proportion: the interpreter's start (~40M instructions) is not counted
    assert twice == pytest.approx(2 * once[0], rel=0.01)
    # the work before the window (~100M instructions) is not counted: what is left of it is the
    # heap it leaves, which moves the window's own allocations by a few per cent
    after_work = counted(500_000, 20_000)[0]
    assert after_work == pytest.approx(once[0], rel=0.1)
