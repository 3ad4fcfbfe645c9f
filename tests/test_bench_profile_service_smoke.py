"""The in-process profile of the service still runs: `bench/profile_service.py` sends purchases
through the app (ASGI, no socket) and through `Loyalty.handle`, every answer 200, and prints the
ratio; with `--profile`, cProfile's table of the app's functions; with `--concurrency N --parts`,
each part's CPU a request, N requests in flight.

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import ROOT

# A few seconds: marker `bench` (`pytest -m "not bench"` leaves it out of a quick run by hand).
pytestmark = pytest.mark.bench


@pytest.mark.parametrize(
    "options",
    [[], ["--profile", "5", "--query", "trace=true"], ["--concurrency", "8", "--parts"]],
    ids=["plain", "profile", "parts"],
)
def test_the_profile_of_the_service_in_process_runs(options: list[str]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "profile_service.py"),
            "--requests",
            "10",
            "--rounds",
            "1",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "app / handle:" in result.stdout
    if "--parts" in options:  # the lane's groups (8 in flight), each part with its calls per request
        assert "8 in flight" in result.stdout and "the lane's group (all of it)" in result.stdout
        assert "the answer (events.event_answer)" in result.stdout and "(1.00)" in result.stdout
    elif options:
        assert "function calls" in result.stdout and "Ordered by: cumulative time" in result.stdout


@pytest.mark.parametrize(
    ("kind", "concurrency"),
    [("app", "1"), ("handle", "1"), ("app", "8"), ("server", "8")],
    ids=["app", "handle", "app-in-flight", "server"],
)
def test_the_instruction_counts_child_runs(kind: str, concurrency: str) -> None:
    """What `--instructions` has cachegrind run (valgrind itself is not needed here): a few
    requests or events, every answer 200 (the server's client fails otherwise), nothing printed
    on success; `server` is a real server (`--server`) with its client in a process of its own."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "profile_service.py"), "--child", kind, "5", concurrency],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_profile_runs_on_postgresql(postgres_database: str) -> None:
    """`--db URL`: the app and `Loyalty.handle` on a PostgreSQL database, the lane's groups with
    the PostgreSQL store's parts (`--parts`), each with its wall time; and `--instructions`'
    child on it (`PROFILE_SERVICE_DB`)."""
    script = str(ROOT / "bench" / "profile_service.py")
    options = [
        "--requests",
        "10",
        "--rounds",
        "1",
        "--concurrency",
        "8",
        "--parts",
        "--db",
        postgres_database,
    ]
    result = subprocess.run(
        [sys.executable, script, *options], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 in flight, PostgreSQL" in result.stdout and "app / handle:" in result.stdout
    assert "PostgreSQL: reads ahead (PostgresStore.read_ahead)" in result.stdout and " wall " in result.stdout
    child = subprocess.run(
        [sys.executable, script, "--child", "app", "5", "8"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PROFILE_SERVICE_DB": postgres_database},
    )
    assert child.returncode == 0, child.stdout + child.stderr


class _Shuffling:
    """An app whose requests reach the store after a random wait: two in flight for one
    customer could be decided in either order, as under cachegrind's slowed threads."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.decided: list[tuple[str, str]] = []

    async def post(self, body: bytes) -> tuple[int, bytes]:
        await asyncio.sleep(self.random.random() / 1000)
        event = json.loads(body)
        self.decided.append((event["customer"], event["id"]))
        return 200, b"{}"


@pytest.mark.parametrize("seed", range(5))
def test_a_round_decides_each_customers_purchases_in_order(seed: int) -> None:
    """60 purchases of 30 customers at 64 in flight (`--instructions`' first count): a customer's
    second purchase is sent only once its first is answered, or the service refuses it (RE440)
    and the count fails."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from profile_service import app_round
    finally:
        sys.path.remove(str(ROOT / "bench"))
    app = _Shuffling(seed)
    # on a thread of its own: an earlier test of the suite leaves this thread marked as running an
    # event loop, and `asyncio.run` refuses to start one there
    with ThreadPoolExecutor(1) as thread:
        thread.submit(app_round, app, 60, None, 64).result()  # type: ignore[arg-type]
    assert len(app.decided) == 60
    for customer in {customer for customer, _ in app.decided}:
        ids = [int(id.rsplit("-", 1)[1]) for who, id in app.decided if who == customer]
        assert ids == sorted(ids) and len(ids) == 2
