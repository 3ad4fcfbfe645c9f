"""The README's HTTP session ("**Over HTTP.**") run as a user types it, and its answers as the
README describes them.

bash runs the block as written, in a folder of its own that holds what the README's commands
name: `programs/` (a copy of the repository's) and `.venv/bin/loyalty` (this interpreter's
`python -m rules_engine.cli`). The one change is the port: 8000 becomes a free one. Between the
block's commands the test adds only what a user does by hand: wait for the server to listen before
the first curl, then run the purchase and the customer's read a second time, and once more a
second later with the purchase's time taken again (`NOW=…`), and stop the server.
`curl` is the machine's when it is installed, and tests/http/curl.py (the same options over httpx)
either way, so that the session is checked on a machine without curl too.

What the README says, checked: the purchase's answer names the program version that decided it,
its rewards (the engine's own outcome for that event) and the new balance; the customer read back
has that balance; sending the purchase again returns the same outcome with `"duplicate": true` and
applies nothing; another event under that id (a new time) is refused (409, RE443), nothing applied."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from tests.conftest import ROOT
from tests.http.conftest import free_port

README = (ROOT / "README.md").read_text(encoding="utf-8")
STAND_IN = Path(__file__).with_name("curl.py")
SESSION_TIMEOUT = 120  # seconds


def session_block() -> str:
    """The README's shell block after "**Over HTTP.**"."""
    found = re.search(r"\*\*Over HTTP\.\*\*.*?```sh\n(.*?)```", README, re.DOTALL)
    assert found, "README.md has no shell block after **Over HTTP.**"
    return found.group(1)


def commands(block: str) -> list[str]:
    """The block's commands: each starts at the beginning of a line, its continuation lines
    (after a backslash, or inside a quoted argument) are indented."""
    found: list[str] = []
    for line in block.splitlines(keepends=True):
        if line[:1].isspace() and found:
            found[-1] += line
        elif line.strip():
            found.append(line)
    return found


PRELUDE = r"""set -euo pipefail
# Every curl call's arguments (as the shell expanded them) and answer, kept in files.
curl() {
  CALLS=$((CALLS + 1))
  printf "%s\0" "$@" >"call-$CALLS.args"
  client "$@" >"call-$CALLS.out"
}
CALLS=0
listening() {  # until the port accepts a connection: the server is ready then
  for _ in $(seq 600); do
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$SERVE" 2>/dev/null || { echo "loyalty serve ended" >&2; return 1; }
    sleep 0.1
  done
  return 1
}
"""


def script(block: str, client: str) -> str:
    """The block as a bash script, with the test's additions between its commands."""
    lines = [PRELUDE + f'client() {{ {client} "$@"; }}']
    steps = [step.rstrip("\n") for step in commands(block)]
    port = re.search(r"127\.0\.0\.1:(\d+)", block)
    assert port, block
    purchase = [step for step in steps if step.startswith("curl") and "-X POST" in step]
    customer = [step for step in steps if step.startswith("curl") and "/customers/" in step]
    assert len(purchase) == len(customer) == 1, steps
    for step in steps:
        lines.append(step)
        if step.split("#")[0].rstrip().endswith("&"):  # the server, started in the background
            lines += [
                'SERVE=$!; echo "$SERVE" >serve.pid',
                'trap \'kill -TERM "$SERVE"; wait "$SERVE" || true\' EXIT',
                f"listening {port.group(1)}",
            ]
    now = [step for step in steps if step.startswith("NOW=")]
    assert len(now) == 1, steps
    lines += [purchase[0], customer[0]]  # the same purchase again
    lines += ["sleep 1", now[0], purchase[0], customer[0]]  # and both lines again a second later
    return "\n".join(lines) + "\n"


def calls(folder: Path) -> list[tuple[list[str], Any]]:
    """Every curl call of the session in order: its arguments and its answer (exact JSON)."""
    made = []
    for number in range(1, len(list(folder.glob("call-*.args"))) + 1):
        args = (folder / f"call-{number}.args").read_text(encoding="utf-8").split("\0")[:-1]
        made.append((args, jsonio.loads((folder / f"call-{number}.out").read_text(encoding="utf-8"))))
    return made


CLIENTS = {
    "curl": "command curl",
    "stand-in": f"{shlex.quote(sys.executable)} {shlex.quote(str(STAND_IN))}",
}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_readme_session_answers_as_the_readme_says(client: str, tmp_path: Path) -> None:
    if client == "curl" and shutil.which("curl") is None:
        pytest.skip("curl is not installed: the session ran with the stand-in (tests/http/curl.py)")
    folder = tmp_path / "session"
    shutil.copytree(ROOT / "programs", folder / "programs")
    loyalty = folder / ".venv" / "bin" / "loyalty"
    loyalty.parent.mkdir(parents=True)
    loyalty.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m rules_engine.cli "$@"\n')
    loyalty.chmod(0o755)
    port = free_port()
    block = session_block()
    assert "8000" in block
    (folder / "session.sh").write_text(script(block.replace("8000", str(port)), CLIENTS[client]))

    log = tmp_path / "session.log"
    with log.open("wb") as sink:  # a file, not a pipe: a server left behind cannot hold it open
        session = subprocess.Popen(["bash", "session.sh"], cwd=folder, stdout=sink, stderr=subprocess.STDOUT)
    try:
        session.wait(SESSION_TIMEOUT)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait(10)
        stop_server(folder / "serve.pid")
    assert session.returncode == 0, log.read_text(encoding="utf-8")

    (sent, answer), (_, read), (again_sent, again), (_, read_again), (later_sent, later), (_, read_last) = (
        calls(folder)
    )
    event = jsonio.loads(sent[sent.index("-d") + 1])
    assert again_sent == sent  # the same command: the same id, time and basket
    engine = Engine.from_file(folder / "programs" / "coffee-club.yaml")
    decided = engine.process(event, None).model_dump(exclude={"state", "trace"})
    assert answer["program"] == "coffee-club"
    assert answer["version"] == decided["version"] == engine.program.version
    assert answer["duplicate"] is False
    assert same(answer["outcome"], decided)  # the rewards the engine gives that purchase
    assert read["balance"] == answer["balance"]  # the customer read back has the new balance
    assert answer["balance"]["total"] == decided["totals"]["points"] > 0
    assert again["duplicate"] is True
    assert again["outcome"] == answer["outcome"]
    assert read_again == read  # nothing applied the second time
    # The purchase's time taken again: another event under the same id, refused as a problem.
    assert later_sent != sent
    assert (later["status"], later["code"]) == (409, "RE443")
    assert read_last == read


def same(answered: Any, decided: Any) -> bool:
    """Whether an answer's JSON (numbers exact, moments as text) says what the engine's outcome
    (`model_dump()`: Decimals and datetimes) does, value for value."""
    if isinstance(decided, dict):
        return (
            isinstance(answered, dict)
            and answered.keys() == decided.keys()
            and all(same(answered[key], value) for key, value in decided.items())
        )
    if isinstance(decided, list | tuple):
        return (
            isinstance(answered, list) and len(answered) == len(decided) and all(map(same, answered, decided))
        )
    if isinstance(decided, dt.datetime):
        return isinstance(answered, str) and dt.datetime.fromisoformat(answered) == decided
    if isinstance(decided, Decimal | int) and not isinstance(decided, bool):
        return isinstance(answered, Decimal | int) and not isinstance(answered, bool) and answered == decided
    return bool(answered == decided)


def stop_server(pid_file: Path) -> None:
    """The server the session started, if the session ended without stopping it (SIGTERM, then
    SIGKILL after 30 s): by its process id, which the session wrote."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text(encoding="utf-8"))
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
