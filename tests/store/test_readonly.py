"""Reading a store without writing to it (issue 11): `open_store(..., readonly=True)` and the
commands that only read (`customer`, `ledger export`, `draw --db`, `leaderboard --db`)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.errors import StoreError
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from tests.conftest import ROOT

PROGRAM = str(ROOT / "programs" / "coffee-club.yaml")
DECEMBER = str(ROOT / "programs" / "events" / "coffee-club-december.jsonl")


def _filled(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    db = folder / "loyalty.db"
    # December is over (--now): its events days apart are within the store's horizon
    result = CliRunner().invoke(
        app, ["run", PROGRAM, DECEMBER, "--db", str(db), "--now", "2026-12-31T23:59:59+03:00", "-q"]
    )
    assert result.exit_code == 0, result.output
    return db


def _on_readonly_media(folder: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command with `folder` mounted read-only (a private mount namespace: the real failure
    mode, which file modes cannot show to root); skip where namespaces are not allowed."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    mount = f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}"'
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{mount} && ! touch "{folder}/probe" 2>/dev/null'],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip("cannot mount a folder read-only here (needs a mount namespace)")
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{mount} && exec "$@"', "sh", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "200"},
    )


def test_loyalty_customer_reads_a_database_on_read_only_media(tmp_path: Path) -> None:
    db = _filled(tmp_path / "archive")
    assert sorted(p.name for p in db.parent.iterdir()) == ["loyalty.db"]  # closed cleanly
    shown = _on_readonly_media(
        db.parent, [sys.executable, "-m", "rules_engine.cli", "customer", PROGRAM, "boris", "--db", str(db)]
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("boris: tier green since 2026-12-01T13:10:00+03:00")
    export = _on_readonly_media(
        db.parent, [sys.executable, "-m", "rules_engine.cli", "ledger", "export", PROGRAM, "--db", str(db)]
    )
    assert export.returncode == 0, export.stderr
    advance = [sys.executable, "-m", "rules_engine.cli", "advance", PROGRAM, "--db", str(db)]
    writer = _on_readonly_media(db.parent, [*advance, "--to", "2027-12-31T00:00:00Z"])
    assert writer.returncode == 1 and "error[RE601]" in writer.stderr
    assert "writable storage" in writer.stderr  # the hint says why and what to do, not "check the path"


def test_a_log_never_checkpointed_on_read_only_media_is_refused_not_ignored(tmp_path: Path) -> None:
    db = _filled(tmp_path / "live")
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("UPDATE customers SET revision = revision + 1")  # now only in loyalty.db-wal
    archive = tmp_path / "archive"
    archive.mkdir()
    shutil.copy(db, archive / "loyalty.db")
    shutil.copy(f"{db}-wal", archive / "loyalty.db-wal")  # as a crashed writer leaves them
    writer.close()
    shown = _on_readonly_media(
        archive,
        [
            sys.executable,
            "-m",
            "rules_engine.cli",
            "customer",
            PROGRAM,
            "boris",
            "--db",
            str(archive / "loyalty.db"),
        ],
    )
    assert shown.returncode == 1
    assert "error[RE609]" in shown.stderr and "loyalty.db-wal" in shown.stderr


def test_a_read_only_store_writes_nothing(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    before = db.read_bytes()
    with open_store(str(db), "coffee-club", readonly=True) as store:
        assert store.state("boris") is not None
        event = {"id": "new", "type": "purchase", "time": "2026-12-31T10:00:00+03:00", "customer": "boris"}
        with pytest.raises(StoreError) as refused:
            Loyalty(Engine.from_file(PROGRAM), store).process(
                {**event, "items": [{"sku": "X", "price": 5, "qty": 1}]}
            )
        assert refused.value.code == "RE605" and "readonly" in str(refused.value)
    assert db.read_bytes() == before
    with pytest.raises(StoreError) as missing:
        open_store(str(tmp_path / "nothing.db"), "coffee-club", readonly=True)
    assert missing.value.code == "RE601" and not (tmp_path / "nothing.db").exists()


def test_a_database_that_needs_an_upgrade_is_refused_read_only_and_left_as_it_is(tmp_path: Path) -> None:
    db = _filled(tmp_path)
    with sqlite3.connect(db) as old:
        old.execute(
            "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
        )
    old.close()
    before = db.read_bytes()
    with pytest.raises(StoreError) as refused:
        open_store(str(db), "coffee-club", readonly=True)
    assert refused.value.code == "RE609"
    assert db.read_bytes() == before


def test_another_programs_database_is_named_not_answered_with_no_customer(tmp_path: Path) -> None:
    db = str(_filled(tmp_path))
    fashion = str(ROOT / "programs" / "fashion-house.yaml")
    shown = CliRunner().invoke(app, ["customer", fashion, "boris", "--db", db])
    assert shown.exit_code == 1
    assert "error[RE608]" in shown.stderr and "'coffee-club'" in shown.stderr
    assert "RE606" not in shown.stderr
    export = CliRunner().invoke(app, ["ledger", "export", fashion, "--db", db])
    assert export.exit_code == 1 and "error[RE608]" in export.stderr


def test_a_recorded_draw_prints_from_a_database_on_read_only_media(tmp_path: Path) -> None:
    """An auditor reprints a draw's result from an archived copy; drawing afresh still needs to write."""
    volt = str(ROOT / "programs" / "volt-electronics.yaml")
    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "loyalty.db"
    store = open_store(str(db), "volt-electronics")
    loyalty = Loyalty(Engine.from_file(volt), store, horizon=None)
    for number, customer in enumerate(["anna", "boris", "chen", "dana"]):
        loyalty.process(
            {"id": f"r{number}", "type": "review", "time": "2026-12-10T12:00:00+05:00", "customer": customer}
        )
    store.close()
    draw = [
        sys.executable, "-m", "rules_engine.cli", "draw", volt, "--db", str(db),
        "--draw", "new-year-draw", "--seed", "lotto", "--now", "2027-01-02T12:00:00+05:00",
    ]  # fmt: skip
    unrecorded = _on_readonly_media(folder, draw)
    assert unrecorded.returncode == 1 and "error[RE601]" in unrecorded.stderr  # drawing records: it writes
    first = subprocess.run(draw, capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["loyalty.db"]  # closed cleanly

    again = _on_readonly_media(folder, draw)

    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[:-1] == first.stdout.splitlines()[:-1]  # the same winners
    assert "recorded before" in again.stdout.splitlines()[-1]
    other = _on_readonly_media(folder, [*draw[:-4], "--seed", "another", *draw[-2:]])
    assert other.returncode == 1 and "error[RE452]" in other.stderr
