"""`loyalty serve --request-timeout`: a client that sends half a request, or nothing, is answered
408 (RE811) and its connection closed, instead of holding a socket and a file descriptor of the
worker for good (uvicorn has no such limit); the route that was waiting for the body logs the
request as its client's (499), not as the service's failure (500 and a traceback); the other
clients are served meanwhile (protocol.py `request_timeout`)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.http.conftest import add_key, post, purchase, serve_process


def _read_all(connection: socket.socket, within: float) -> bytes:
    connection.settimeout(within)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        received += b"<still open>"
    return received


@pytest.mark.parametrize("workers", [1, 2])
def test_half_sent_requests_are_answered_408_and_closed(
    program_dir: Path, tmp_path: Path, workers: int
) -> None:
    db = str(tmp_path / "slow.db")
    token = add_key(db, ["events:write", "programs:write"])
    with serve_process(
        program_dir, db, workers=workers, cwd=tmp_path, options=["--request-timeout", "1"]
    ) as served:
        served.wait_workers(workers)
        port = int(served.url.rsplit(":", 1)[1])
        auth = f"Authorization: Bearer {token}\r\n".encode()
        heads = {
            "nothing": b"",
            "half a head": b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
            "half an event": b"POST /v1/programs/coffee-club/events HTTP/1.1\r\nHost: x\r\n" + auth
            + b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"id\": ",
            "half a program": b"PUT /v1/programs/coffee-club HTTP/1.1\r\nHost: x\r\n" + auth
            + b"Content-Type: application/yaml\r\nContent-Length: 200\r\n\r\nprogram: ",
        }  # fmt: skip
        slow = {}
        for name, sent in heads.items():
            slow[name] = socket.create_connection(("127.0.0.1", port))
            slow[name].sendall(sent)
        started = time.monotonic()
        with served.client(token) as client:  # served meanwhile
            answer = post(client, "/v1/programs/coffee-club/events", purchase(1))
            assert answer.status_code == 200, answer.text

        answers = {name: _read_all(connection, within=10) for name, connection in slow.items()}

        assert time.monotonic() - started < 8
        assert answers["nothing"] == b""  # closed: nothing was asked, nothing is answered
        for name in ("half a head", "half an event", "half a program"):
            head, _, body = answers[name].partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), (name, answers[name])
            assert b"content-type: application/problem+json" in head
            problem = json.loads(body)
            assert (problem["status"], problem["code"]) == (408, "RE811")
        for connection in slow.values():
            connection.close()
        time.sleep(0.5)
        lines = served.log_lines()
        assert sum(line.get("message") == "request timed out" for line in lines) == 3
        assert not [line for line in lines if line.get("level") == "error"]  # no traceback
        gone = sorted(line["route"] for line in lines if line.get("status") == 499)
        assert gone == ["/v1/programs/{program}", "/v1/programs/{program}/events"]


def test_serve_refuses_a_request_timeout_out_of_range(program_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rules_engine.cli import app

    result = CliRunner().invoke(
        app, ["serve", str(program_dir), "--db", str(tmp_path / "x.db"), "--request-timeout", "0"]
    )
    assert result.exit_code == 2 and "--request-timeout" in result.output
