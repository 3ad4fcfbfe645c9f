"""A generated coffee-club year of four customers, and a SQL store opened for a block: what the
tests of states read back (test_read_held.py, test_lazy.py) replay. One of the four has 169 events,
so its long lists pass `SharedList`'s bound and the lazy reads' (128 elements) on the way."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.simulate.generate import generate
from rules_engine.store import open_store
from rules_engine.store.sql import SqlStore


def four_customers(engine: Engine, text: str, secret: bytes) -> list[dict[str, Any]]:
    """The year's 252 events (purchases, returns, redemptions, reviews, app opens), in order."""
    out = io.StringIO()
    generate(engine.program, text, customers=4, days=365, seed=3, out=out, secret=secret)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@contextlib.contextmanager
def opened(url: str, program: str, **options: Any) -> Iterator[SqlStore]:
    """The SQL store of `url` for `program`, closed at the block's end."""
    store = open_store(url, program, **options)
    assert isinstance(store, SqlStore)
    try:
        yield store
    finally:
        store.close()
