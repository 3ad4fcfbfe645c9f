"""Work counted in Python steps rather than seconds, so that "refused fast" is a deterministic claim.

A test that asserted a wall-clock bound failed on a loaded machine and passed on a fast one whatever
the code did. `python_steps` counts the lines of Python the code under it runs (`sys.settrace`), and
stops it with `TooMuchWorkError` once past the limit, so that a regression fails at once instead of
running for hours. The condition language's both back ends run Python lines per loop step (the
compiled one generates Python), so a loop the budget failed to stop shows up as a count in the
millions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any


class TooMuchWorkError(AssertionError):
    """The code under `python_steps` ran more lines of Python than the test allows."""


@dataclass
class Steps:
    limit: int
    count: int = 0


@contextmanager
def python_steps(limit: int) -> Iterator[Steps]:
    """Count the lines of Python run inside the block; raise `TooMuchWorkError` past `limit`."""
    steps = Steps(limit)

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            steps.count += 1
            if steps.count > limit:
                raise TooMuchWorkError(f"more than {limit:,} lines of Python ran")
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        yield steps
    finally:
        sys.settrace(previous)
