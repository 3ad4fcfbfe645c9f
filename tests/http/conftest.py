"""Real servers on loopback for the HTTP service's tests, and what they share.

Two ways to start one, both listening on 127.0.0.1 on a free port and called with httpx:

- `serving(settings)`: uvicorn in a thread of the test process, on the app `create_app` builds
  (fast to start; the test can reach the app's runtime, to add keys for instance);
- `serve_process(...)`: `loyalty serve` as a child process (`python -m rules_engine.cli`), for
  what only a process shows: workers, SIGTERM, kill -9.

Every server is stopped by the fixture or context manager that started it, by its own handle.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.errors import RulesEngineError, StoreError
from rules_engine.http import Settings, create_app
from rules_engine.http.loop import LOOP
from rules_engine.http.protocol import PROTOCOL
from rules_engine.http.routes import events
from rules_engine.http.runtime import Runtime
from rules_engine.http.shortcut import Asked, decide_group
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.keys import new_key
from rules_engine.store.sql_writing import OutdatedError, SqlWriting
from tests.conftest import ROOT

PROGRAMS = ("coffee-club", "book-nook")
"""The programs every test folder holds (copied from programs/)."""
START_TIMEOUT = 60.0


@pytest.fixture
def program_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "programs"
    folder.mkdir()
    for program in PROGRAMS:
        shutil.copy(ROOT / "programs" / f"{program}.yaml", folder)
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    app: FastAPI | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def runtime(self) -> Runtime:
        assert self.app is not None
        runtime: Runtime = self.app.state.runtime
        return runtime

    def add_key(self, scopes: list[str], programs: list[str] | None = None) -> str:
        token, key = new_key(scopes, programs or [])
        with self.runtime.stores.keys() as store:
            store.add_key(key)
        return token

    def client(self, token: str | None = None, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **options)


@contextmanager
def serving(settings: Settings, protocol: Any = PROTOCOL) -> Iterator[Server]:
    """uvicorn in a thread on a free loopback port, until the block ends, as `loyalty serve` runs
    it: on the service's loop (loop.py), with its protocol (protocol.py), or the `protocol` given
    (a class or its import path: tests/http/test_direct.py compares two)."""
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", loop=LOOP, http=protocol)
    server = uvicorn.Server(config)  # the loop and the protocol `loyalty serve` runs (server.py)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield Server(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def wait_workers(self, workers: int, timeout: float = 60) -> None:
        """Until every worker has started: /readyz answers once one of them is up."""
        deadline = time.monotonic() + timeout
        while (
            sum(line.get("message") == "Application startup complete." for line in self.log_lines()) < workers
        ):
            assert time.monotonic() < deadline, self.log.read_text(encoding="utf-8")
            time.sleep(0.1)


def add_key(db: str, scopes: list[str], programs: list[str] | None = None) -> str:
    """A key put straight into the store `loyalty serve` will use."""
    token, key = new_key(scopes, programs or [])
    with open_store(db, "") as store:
        store.add_key(key)
    return token


@contextmanager
def serve_process(
    program_dir: Path, db: str, *, workers: int = 1, cwd: Path, options: Sequence[str] = ()
) -> Iterator[Process]:
    """`loyalty serve` in a child process on a free port, ready; stopped with SIGTERM (then
    SIGKILL) at the end unless the test ended it. Run from `cwd`, never the repository root:
    `python -m` puts the working folder first on sys.path, and the compiled suite must run the
    installed package. `options`: more of serve's options."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    command = [
        sys.executable, "-m", "rules_engine.cli", "serve", str(program_dir),
        "--db", db, "--port", str(port), "--workers", str(workers), *options,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, env=env)
    served = Process(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(served)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def wait_ready(served: Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(base_url=served.url, timeout=2.0) as client:
        while True:
            if served.process.poll() is not None:
                raise AssertionError(f"loyalty serve exited: {served.log.read_text(encoding='utf-8')}")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, served.log.read_text(encoding="utf-8")
            time.sleep(0.1)


# -- events -----------------------------------------------------------------------------------------

BASE = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
"""Event times are a little in the past: the service measures the horizon from the real clock."""


def purchase(
    number: int, customer: str = "anna", *, price: str = "320.00", at: dt.datetime | None = None
) -> dict[str, Any]:
    """A coffee purchase; later numbers are later in time (a second apart)."""
    return {
        "id": f"evt-{customer}-{number}",
        "type": "purchase",
        "time": (at or BASE + dt.timedelta(seconds=number)).isoformat(),
        "customer": customer,
        "items": [{"sku": "LATTE-L", "category": "coffee", "price": Decimal(price), "qty": 2}],
    }


def post(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    """POST a body written with exact numbers (as a client should: never floats for money)."""
    return client.post(path, content=jsonio.dumps(body), headers={"Content-Type": "application/json"})


def exact(response: httpx.Response) -> Any:
    return jsonio.loads(response.text)


def deliver_twice(
    served: Process, token: str, program: str, events: list[dict[str, Any]], clients: int = 8
) -> list[tuple[str, int, bool]]:
    """Every event sent twice, in a shuffled order, from `clients` threads at once, each request on
    a new connection (so that every worker takes some): each answer's event id, status and whether
    it was a duplicate. How the several-worker tests race the workers on the same customers."""
    deliveries = [*events, *events]
    random.Random(17).shuffle(deliveries)
    answers: list[tuple[str, int, bool]] = []
    lock = threading.Lock()

    def client(batch: list[dict[str, Any]]) -> None:
        with httpx.Client(
            base_url=served.url,
            headers={"Authorization": f"Bearer {token}", "Connection": "close"},
            timeout=30,
        ) as own:
            for event in batch:
                answer = post(own, f"/v1/programs/{program}/events", event)
                with lock:
                    answers.append((event["id"], answer.status_code, answer.json().get("duplicate", False)))

    threads = [threading.Thread(target=client, args=(deliveries[n::clients],)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers


@contextmanager
def counting_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What the optimistic groups' checks found (store/sql_writing.py `_lock_unchanged`, SQLite's and
    PostgreSQL's alike): 'same' or 'changed', one a check."""
    found: list[str] = []
    check = SqlWriting._lock_unchanged

    def counted(store: SqlWriting, batch: Any) -> None:
        try:
            check(store, batch)
        except OutdatedError:
            found.append("changed")
            raise
        found.append("same")

    monkeypatch.setattr(SqlWriting, "_lock_unchanged", counted)
    yield found


def other_worker(
    db: str, program_dir: Path, event: dict[str, Any], now: dt.datetime, program: str = "coffee-club"
) -> Callable[[], None]:
    """Another worker's write of one event, to run while a group is being decided: the engine
    alone on a store connection of its own, the event read from its body as a worker reads it."""

    def write() -> None:
        engine = Engine.from_file(program_dir / f"{program}.yaml")
        with open_store(db, program) as store:
            parsed = events.parse_text(jsonio.dumps(event).encode())
            assert not isinstance(parsed, str)
            Loyalty(engine, store, now=now).handle(parsed)

    return write


@contextmanager
def started(program_dir: Path, db: str, now: dt.datetime) -> Iterator[Runtime]:
    """A service's runtime on the store `db` (no server: its lane's function is called directly,
    `decided_group`), its clock at `now`; its stores closed after."""
    runtime = Runtime.start(Settings(programs=program_dir, db=db, clock=lambda: now, docs=False))
    try:
        yield runtime
    finally:
        runtime.stores.close()


def decided_group(runtime: Runtime, program: str, bodies: Sequence[bytes]) -> list[Any]:
    """The bodies through the events lane's function (`decide_group`) as one group, each read as
    the loop reads it (a body that is no event never queues): each one's answer or error, in order."""
    answers: dict[int, Any] = {}
    asked: list[tuple[int, Asked]] = []
    for index, body in enumerate(bodies):
        try:
            asked.append((index, Asked(events.parse_text(body), {}, False)))
        except RulesEngineError as error:
            answers[index] = error
    again = decide_group(
        runtime,
        program,
        [one for _, one in asked],
        lambda place, answer: answers.__setitem__(asked[place][0], answer),
    )
    # As the lane's `deliver` (http/app.py `_deliver`): PostgreSQL's COMMIT may still be in
    # flight (store/postgres_flights.py); failed, each event is answered as decided again.
    landed: list[StoreError | None] = []
    runtime.stores.after_commit(program, landed.append)
    for _ in range(6000):
        if landed:
            break
        time.sleep(0.01)
    assert landed, "the group's commit did not come back"
    if landed[0] is not None and again is not None:
        for place, (index, _) in enumerate(asked):
            answers[index] = again(place, answers[index])
    return [answers[index] for index in range(len(bodies))]


def counters(text: str) -> dict[str, str]:
    """/metrics' counters' samples by name and labels (not /metrics' own requests, not the
    latencies): what two servers that served the same requests must agree on."""
    found = {}
    for line in text.splitlines():
        if (
            line.startswith(("loyalty_http_requests_total", "loyalty_events_total"))
            and "/metrics" not in line
        ):
            name, value = line.rsplit(" ", 1)
            found[name] = value
    return found
