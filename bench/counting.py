"""Instructions of one window of a child's run, counted by valgrind the same way every time.

The instruction scripts (`instructions*.py`) count what an event costs under valgrind. Counted as
the difference of two cachegrind runs of a child (K events, then K + N), the 1,000-purchase row of
`instructions.py --stream` moved by ±17k an event (±3 %) between runs of one tree, which hid every
change of 1–2 %. What moved it, and what this module does about each:

- **Where things are in memory.** CPython's method cache is indexed by the attribute name's
  address, an object's default hash is its address, and glibc's malloc hands out different blocks
  when the stack and the mappings start elsewhere: with address-space randomization on, each run
  lays the heap out anew and lands on other collisions. The child runs with randomization off (the
  `ADDR_NO_RANDOMIZE` personality, as `setarch -R`), string hashing fixed (`PYTHONHASHSEED=0`) and
  glibc's malloc pinned (one arena, a fixed mmap threshold and top pad: no threshold that moves
  with what was freed before).
- **The build.** Two children each build the histories (a billion instructions at 1,000
  purchases); their difference carried both builds' jitter. One child is counted instead, and only
  inside the window: callgrind starts with collection off and toggles it on entering and leaving
  `sys.call_tracing` (`--toggle-collect`), which the child calls with the counted work and which
  nothing else calls (it changes nothing when no trace function is set).
- **The collector.** A full pass over 40 customers' histories costs millions of instructions; where
  the build left the collector's counts decided whether one fell inside 300 events. The child runs
  `gc.collect()` right before the window, so every run enters it with the same empty young
  generations and counts (`window`). Full passes are then triggered only once a quarter of what
  survived is new (CPython's rule), which 300 events do not reach: their cost, flat per event
  however long the history (each pass walks the history, but passes fall rarer in proportion), is
  not in the figures; `bench_reader.py --collector` times it.

What is left is the work's own: the counts repeat within a few hundred instructions an event, and
`count` runs the child several times and gives every count so that a script prints the minimum and
the median (`spread`). Without valgrind the scripts say so and exit 0.
"""

from __future__ import annotations

import ctypes
import gc
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable

ADDR_NO_RANDOMIZE = 0x0040000  # <linux/personality.h>: the `setarch -R` flag, kept across exec
MARK = "sys_call_tracing"  # the C function the counted window runs inside (`window`)
ENV = {
    "PYTHONHASHSEED": "0",
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_THRESHOLD_": str(1 << 20),  # fixed: glibc's own moves with the largest block freed
    "MALLOC_TOP_PAD_": str(1 << 20),
}


def window(work: Callable[[], object]) -> None:
    """Run `work` as the counted window (in the child): after a full collection, inside
    `sys.call_tracing`, the function callgrind's collection is toggled on and off by."""
    gc.collect()
    sys.call_tracing(work, ())


def _no_randomization() -> None:
    """In the child before exec: address-space randomization off for it and what it runs."""
    libc = ctypes.CDLL(None, use_errno=True)
    current = libc.personality(0xFFFFFFFF)  # 0xffffffff: read without setting
    if current != -1:
        libc.personality(current | ADDR_NO_RANDOMIZE)


def count(script: str, args: list[str], what: str, runs: int = 1) -> list[int]:
    """The instructions of the window (`window`) of `python script --child *args`, counted by
    callgrind `runs` times; `what` names the run in the error when valgrind fails or counts nothing."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        "--collect-atstart=no",
        f"--toggle-collect={MARK}",
        "--max-stackframe=8000000",  # CPython's deep frames are not a stack switch
        sys.executable,
        script,
        "--child",
        *args,
    ]
    env = {**os.environ, **ENV}
    counts = []
    for _ in range(runs):
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, check=False, preexec_fn=_no_randomization
        )
        found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise SystemExit(f"callgrind run failed ({what}):\n{done.stderr[-2000:]}")
        counts.append(int(found.group(1)))
        done_runs = f"run {len(counts)} of {runs}"
        print(f"  {what}: {done_runs}, {counts[-1]:,} instructions", file=sys.stderr, flush=True)
    return counts


def spread(counts: list[float]) -> str:
    """`min / median (max - min)` of per-event counts, in thousands."""
    low, middle, high = min(counts), statistics.median(counts), max(counts)
    return f"{low / 1000:,.1f}k / {middle / 1000:,.1f}k (±{(high - low) / 2000:,.1f}k)"
