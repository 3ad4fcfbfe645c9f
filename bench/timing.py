"""What the benchmarks share: how long to time, and the line that says on what machine."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Settings:
    budget: float  # seconds one repeat should take
    repeat: int


FULL = Settings(budget=0.2, repeat=5)
QUICK = Settings(budget=0.01, repeat=2)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": dt.date.today().isoformat(),
    }


def machine_line(quick: bool) -> str:
    m = machine()
    mode = "--quick: rough numbers" if quick else f"best of {FULL.repeat} x ~{FULL.budget:g} s"
    return f"{m['date']}, {m['implementation']} {m['python']}, {m['cpus']} CPUs, {m['platform']}; {mode}"


def cachegrind(script: str, args: list[str], what: str) -> int:
    """The instructions cachegrind counts for `python script --child *args` (the script's child
    mode runs the work to count), with string hashing fixed so that two runs of the same code count
    alike; `what` names the run in the error when valgrind fails or prints no count."""
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        script,
        "--child",
        *args,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"cachegrind run failed ({what}):\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))
