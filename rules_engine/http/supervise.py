"""`loyalty serve --workers N` (N > 1): uvicorn's supervisor of the workers, stopped as one worker is.

uvicorn's `Multiprocess` supervisor queues SIGTERM and SIGINT and looks at the queue every half
second; it then sends SIGTERM to the workers, waits for them, and returns, so the process ended with
status 0. Two promises of docs/service.md ("shutdown") did not hold for a service with workers
stopped through its master (`docker stop`, `kill PID`):

- /readyz answered 200, and new connections were taken, for up to half a second after SIGTERM
  (measured: three /readyz of five, 50 ms apart, answered 200): here the workers are told at once,
  and each one's /readyz turns 503 as it does with one worker (app.py `not_ready_on_signal`).
- The process ended with status 0, where one worker ends by the signal (143): here the master
  ends by the signal it was stopped with, once every worker has finished.

A worker whose master was killed (`kill -9`, the OOM killer) kept serving with no one to restart
it, and held the port: the service started again could not bind (exit 3) until someone found and
killed the orphans. `end_with_master` makes a worker stop gracefully (SIGTERM to itself: the
requests in flight finish) within a second of its master's end.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

STOPS = (signal.SIGTERM, signal.SIGINT)

MASTER_CHECK = 1.0
"""Seconds between a worker's looks at whether its master is still there."""


def supervise(config: Config, sock: socket.socket) -> int | None:
    """Run the workers of uvicorn's `config` on `sock` (bound and listening: server.py `serve`)
    until SIGTERM or SIGINT; returns that signal, which the caller raises once it has cleaned up
    (`end_by`)."""
    supervisor = Multiprocess(config, sockets=[sock])
    queued: dict[int, Any] = {number: signal.getsignal(number) for number in STOPS}  # the supervisor's
    received: list[int] = []

    def stopping(number: int, frame: FrameType | None) -> None:
        received.append(number)
        supervisor.terminate_all()  # each worker stops taking requests now; the supervisor waits for them
        handler = queued[number]
        if callable(handler):
            handler(number, frame)

    for number in STOPS:
        signal.signal(number, stopping)
    supervisor.run()
    return received[0] if received else None


def end_by(number: int | None) -> None:
    """End the process by the signal `number` (as uvicorn's one worker does), if there is one."""
    if number is not None:
        signal.signal(number, signal.SIG_DFL)
        signal.raise_signal(number)


def end_with_master() -> None:
    """In a worker: SIGTERM to itself once its master has gone (see the module docstring)."""
    master = os.getppid()

    def watch() -> None:
        while os.getppid() == master:
            time.sleep(MASTER_CHECK)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="loyalty-master-watch", daemon=True).start()
