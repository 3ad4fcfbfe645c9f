"""The version guard on uploads (issue 16, item 8): `PUT /v1/programs/{program}` refuses a version
the store ran with other content (409, RE611) and a version older than one it ran (409, RE612),
and the running version keeps running."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rules_engine.http import Settings
from rules_engine.program.validate import load_program_text
from rules_engine.store import open_store
from rules_engine.store.versions import check_version
from tests.http.conftest import serving


def version(text: str, number: int, rate: str) -> str:
    return text.replace("version: 3", f"version: {number}").replace("rate: 1 per 100", f"rate: {rate}")


def test_an_upload_the_store_history_refuses_is_409_and_changes_nothing(
    program_dir: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "guard.db")
    text = (program_dir / "coffee-club.yaml").read_text(encoding="utf-8")
    ran = version(text, 5, "2 per 100")  # what another deployment ran on this store
    with open_store(db, "coffee-club") as store:
        check_version(
            store, load_program_text(ran, "coffee-club.yaml").program, dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        )
    with serving(Settings(programs=program_dir, db=db)) as server:
        token = server.add_key(["admin"])
        with server.client(token) as client:

            def upload(body: str) -> tuple[int, str, str]:
                answer = client.put(
                    "/v1/programs/coffee-club",
                    content=body.encode(),
                    headers={"Content-Type": "application/yaml"},
                )
                problem = answer.json()
                return answer.status_code, problem.get("code", ""), problem.get("detail", "")

            status, code, detail = upload(version(text, 5, "3 per 100"))
            assert (status, code) == (409, "RE611") and "sha256:" in detail
            status, code, _ = upload(version(text, 4, "3 per 100"))
            assert (status, code) == (409, "RE612")
            assert client.get("/v1/programs/coffee-club").json()["version"] == 3
            assert upload(ran)[0] == 200  # the very version it ran: taken
            assert client.get("/v1/programs/coffee-club").json()["version"] == 5


def test_loyalty_serve_refuses_to_start_on_a_program_the_store_history_refuses(
    program_dir: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from rules_engine.cli import app

    db = str(tmp_path / "serve.db")
    text = (program_dir / "coffee-club.yaml").read_text(encoding="utf-8")
    with open_store(db, "coffee-club") as store:  # version 3 ran with another base rate
        other = load_program_text(version(text, 3, "2 per 100"), "coffee-club.yaml").program
        check_version(store, other, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    result = CliRunner().invoke(app, ["serve", str(program_dir), "--db", db, "--port", "0"])
    assert result.exit_code == 1 and "error[RE611]" in result.stderr
    assert "serving" not in result.stderr
