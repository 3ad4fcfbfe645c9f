"""`loyalty serve --workers 2` stopped through its master, as `docker stop` or `kill PID` does: the
workers are told at once (/readyz stops answering 200 within a moment, not at the supervisor's
next half-second look), the process ends by the signal as one worker does, and a worker whose
master was killed stops rather than serve on unsupervised, holding the port (supervise.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.http.conftest import serve_process


def _workers(master: int) -> list[int]:
    """The master's children that serve (multiprocessing's resource tracker is one too)."""
    found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False)
    children = [int(pid) for pid in found.stdout.split()]
    return [pid for pid in children if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_sigterm_to_the_master_stops_the_workers_at_once_and_ends_by_the_signal(
    program_dir: Path, tmp_path: Path
) -> None:
    with serve_process(program_dir, str(tmp_path / "stop.db"), workers=2, cwd=tmp_path) as served:
        served.wait_workers(2)
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        answers = []
        for _ in range(4):  # within the half second uvicorn's supervisor took to pass the signal on
            try:
                answers.append(httpx.get(f"{served.url}/readyz", timeout=2).status_code)
            except httpx.TransportError:
                answers.append(None)
            time.sleep(0.05)
        assert 200 not in answers
        assert served.process.wait(30) == -signal.SIGTERM  # as with one worker (status 143 from a shell)


def test_the_workers_of_a_master_killed_with_kill_9_stop_and_free_the_port(
    program_dir: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "orphans.db")
    with serve_process(program_dir, db, workers=2, cwd=tmp_path) as served:
        served.wait_workers(2)
        workers = _workers(served.process.pid)
        assert len(workers) == 2
        served.process.send_signal(signal.SIGKILL)
        served.process.wait(10)
        deadline = time.monotonic() + 20
        while any(os.path.exists(f"/proc/{pid}") for pid in workers):
            assert time.monotonic() < deadline, "a worker serves on without its master"
            time.sleep(0.1)
        try:
            answer = httpx.get(f"{served.url}/readyz", timeout=2).status_code
        except httpx.TransportError:
            answer = None
        assert answer is None  # the port is free for the service started again
