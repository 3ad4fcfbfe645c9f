"""What the benchmarks share: how long to time, and the line that says on what machine."""

from __future__ import annotations

import datetime as dt
import os
import platform
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
