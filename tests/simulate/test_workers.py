"""How `loyalty simulate` starts its worker processes and holds a batch: forked where that is safe,
started before the caller's display thread, the same report whichever way; a batch's customers
kept exactly, whatever their ids hold."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.simulate import build_report, simulate
from rules_engine.simulate.batches import split
from rules_engine.simulate.kernel import read_batch
from rules_engine.simulate.report import report_json
from rules_engine.simulate.simulation import _start_method
from tests.conftest import ROOT

FASHION = ROOT / "programs" / "fashion-house.yaml"
LINUX = sys.platform == "linux"


@pytest.fixture
def other_thread() -> Iterator[None]:
    """A thread running beside the test's, as a progress bar's would."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _fresh(code: str) -> str:
    """What `code` prints in a new Python process, where no other thread runs (a test process
    may run some: the browser tests' driver)."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True, cwd=ROOT
    )
    return done.stdout


@pytest.mark.skipif(not LINUX, reason="fork is used on Linux only")
def test_workers_are_forked_when_no_other_thread_runs() -> None:
    code = (
        "from rules_engine.simulate.simulation import _start_method\n"
        "print(_start_method()[0].get_start_method())\n"
    )
    assert _fresh(code).strip() == "fork"


def test_workers_are_never_forked_beside_another_thread(other_thread: None) -> None:
    context, _ = _start_method()
    assert context.get_start_method() != "fork"


def test_forked_and_started_workers_give_the_same_report(fashion_history: Path, other_thread: None) -> None:
    """Workers forked (a fresh process, no other thread) and workers started afresh (beside a
    thread) give one report, the one a single process gives; referrals make it two passes."""
    one = build_report(simulate(fashion_history, [FASHION], workers=1))
    started = build_report(simulate(fashion_history, [FASHION], workers=2, batch_bytes=64 * 1024))
    code = (
        "from rules_engine.simulate import build_report, simulate\n"
        "from rules_engine.simulate.report import report_json\n"
        f"result = simulate({str(fashion_history)!r}, [{str(FASHION)!r}], workers=2, batch_bytes=64 * 1024)\n"
        "print(report_json(build_report(result)), end='')\n"
    )
    forked = json.loads(_fresh(code))
    assert one["run"]["passes"] == 2
    assert started == one
    assert forked == json.loads(report_json(one))


def test_the_workers_exist_before_the_caller_is_first_told(fashion_history: Path) -> None:
    """`loyalty simulate` starts its progress bar (a thread) at the first call: by then every
    worker must have been started, so that none is forked beside that thread."""
    calls: list[tuple[int, int]] = []
    workers_then: list[int] = []

    def told(done: int, total: int) -> None:
        if not calls:
            workers_then.append(len(multiprocessing.active_children()))
        calls.append((done, total))

    simulate(fashion_history, [FASHION], workers=2, progress=told)
    assert calls[0] == (0, 0)
    assert workers_then == [2]
    assert calls[-1][0] == calls[-1][1] > 0


customer_ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda text: "\n" not in text
)


@settings(max_examples=50, deadline=None)
@given(st.lists(customer_ids, min_size=1, max_size=8))
def test_a_batch_keeps_every_customer_and_line_exactly(customers: list[str]) -> None:
    """Ids with tabs, quotes, backslashes or any other character come back as they were, each
    customer's lines in file order under their own id."""
    lines = [
        jsonio.dumps({"id": f"e{n}", "type": "app_open", "time": "2026-01-01T10:00:00Z", "customer": c})
        for n, c in enumerate(customers)
    ]
    batches = split((line.encode("utf-8") for line in lines), "history.jsonl", 1)
    try:
        read = read_batch(str(batches.paths[0]))
    finally:
        batches.close()
    expected: dict[str, list[tuple[int, str]]] = {}
    for number, (customer, line) in enumerate(zip(customers, lines, strict=True), start=1):
        expected.setdefault(customer, []).append((number, line))
    assert read == expected


def test_a_carriage_return_between_an_events_fields_is_no_line_break(tmp_path: Path) -> None:
    """JSON allows a carriage return as white space; the batch file keeps it inside its line."""
    line = '{"id": "e1", "type": "app_open",\r "time": "2026-01-01T10:00:00Z", "customer": "c1"}'
    batches = split([line.encode("utf-8")], "history.jsonl", 1)
    try:
        assert read_batch(str(batches.paths[0])) == {"c1": [(1, line)]}
    finally:
        batches.close()
