"""`loyalty keys create|list|revoke` and what `loyalty serve` refuses before it listens."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.store import open_store
from rules_engine.store.keys import parse_token


def test_a_key_is_printed_once_listed_without_its_secret_and_revoked(tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    made = CliRunner().invoke(
        app,
        [
            "keys",
            "create",
            "--db",
            db,
            "--scope",
            "events:write",
            "--scope",
            "customers:read",
            "--program",
            "coffee-club",
        ],
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    parsed = parse_token(token)
    assert parsed is not None and made.stdout == token + "\n"
    key_id, secret = parsed
    assert f"key {key_id}: events:write customers:read, programs coffee-club" in made.stderr
    with open_store(db, "") as store:
        kept = store.api_key(key_id)
    assert kept is not None and kept.matches(token) and secret not in kept.digest

    listed = CliRunner().invoke(app, ["keys", "list", "--db", db])
    assert listed.exit_code == 0 and listed.stdout.startswith(
        f"{key_id}  events:write,customers:read  programs coffee-club"
    )
    assert secret not in listed.stdout

    revoked = CliRunner().invoke(app, ["keys", "revoke", key_id, "--db", db])
    assert (revoked.exit_code, revoked.stdout) == (0, f"revoked {key_id}\n")
    assert "revoked 20" in CliRunner().invoke(app, ["keys", "list", "--db", db]).stdout
    again = CliRunner().invoke(app, ["keys", "revoke", key_id, "--db", db])
    assert again.exit_code == 1 and "error[RE610]" in again.stderr


def test_a_scope_outside_the_list_is_a_usage_error(tmp_path: Path) -> None:
    refused = CliRunner().invoke(app, ["keys", "create", "--db", str(tmp_path / "k.db"), "--scope", "root"])
    assert refused.exit_code == 2 and not (tmp_path / "k.db").exists()


def test_a_program_no_program_file_could_name_is_a_usage_error(tmp_path: Path) -> None:
    """`--program` was kept as given: a key limited to `Coffee Club` or 5 MB of text works nowhere."""
    db = tmp_path / "k.db"
    for program in ("Coffee Club", "p" * 65, "coffee-club\x00"):
        refused = CliRunner().invoke(
            app, ["keys", "create", "--db", str(db), "--scope", "events:write", "--program", program]
        )
        assert refused.exit_code == 2 and "error[RE718]" in refused.stderr, refused.output
        assert len(refused.stderr) < 1_000
    assert not db.exists()  # refused before the store was opened


def test_listing_the_keys_of_no_database_says_so(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["keys", "list", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 1 and "error[RE601]" in missing.stderr


def test_serve_refuses_a_broken_program_and_a_shared_memory_store(tmp_path: Path, program_dir: Path) -> None:
    shared = CliRunner().invoke(app, ["serve", str(program_dir), "--db", "memory:", "--workers", "2"])
    assert shared.exit_code == 2 and "error[RE709]" in shared.stderr
    (program_dir / "broken.yaml").write_text("program: broken\nversion: 1\n", encoding="utf-8")
    broken = CliRunner().invoke(app, ["serve", str(program_dir), "--db", str(tmp_path / "s.db")])
    assert broken.exit_code == 1 and "broken.yaml:1:1: error[RE112]" in broken.stderr
    assert not (tmp_path / "s.db").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = CliRunner().invoke(app, ["serve", str(empty), "--db", str(tmp_path / "s.db")])
    assert nothing.exit_code == 1 and "error[RE105]" in nothing.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_says_serving_once_its_socket_listens(tmp_path: Path, program_dir: Path, workers: int) -> None:
    """The line "serving … on http://HOST:PORT" is printed once the socket listens, with the port bound
    (`--port 0`: the one the system chose): a script that waits for the line and connects at once
    is not refused (until 2026-12-08 it was printed before uvicorn bound the port, as port 0)."""
    command = [
        sys.executable, "-m", "rules_engine.cli", "serve", str(program_dir),
        "--db", str(tmp_path / "loyalty.db"), "--port", "0", "--workers", str(workers),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        said = next((line for line in process.stderr if line.startswith("serving ")), "")
        assert said, "loyalty serve ended without saying it serves"
        found = re.search(r"on http://127\.0\.0\.1:(\d+) ", said)
        assert found is not None and found[1] != "0", said
        port = int(found[1])
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # listening: not refused
        deadline = time.monotonic() + 60
        while True:  # and the service answers there once it has started
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
