"""A damaged database file and a full disk: a clear error that says what to do, and nothing changed.

Retrying does not mend a damaged file, so the advice differs from a lost connection's; a full disk
stops a run at the event that did not fit, keeps every event before it, and the same file run again
once there is room applies the rest exactly once (balance == sum of the ledger for everyone).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import StoreError
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.sqlite import SqliteStore
from tests.conftest import ROOT
from tests.store.test_readonly import DECEMBER, PROGRAM, _filled

NOW = "2026-12-31T23:59:59+03:00"


def _loyalty(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rules_engine.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "200"},
    )


def _damaged(db: Path, at: int) -> Path:
    data = bytearray(db.read_bytes())
    data[at : at + 2000] = b"\xde\xad\xbe\xef" * 500
    damaged = db.with_name(f"damaged-{at}.db")
    damaged.write_bytes(bytes(data))
    return damaged


@pytest.mark.parametrize(("at", "code"), [(100, "RE601"), (3 * 4096, "RE605")])
@pytest.mark.parametrize("command", ["customer", "run"])
def test_a_damaged_file_is_refused_with_what_to_do_and_left_as_it_is(
    tmp_path: Path, at: int, code: str, command: str
) -> None:
    """At 100 the header page is hit (SQLite cannot open it), at page 4 a table's page (it opens,
    and fails at the first read)."""
    damaged = _damaged(_filled(tmp_path), at)
    before = damaged.read_bytes()
    args = {
        "customer": ["customer", PROGRAM, "boris", "--db", str(damaged)],
        "run": ["run", PROGRAM, DECEMBER, "--db", str(damaged), "--now", NOW, "-q"],
    }[command]
    shown = _loyalty(*args)
    assert shown.returncode == 1
    assert f"error[{code}]" in shown.stderr and "Traceback" not in shown.stderr
    assert "damaged" in shown.stderr and ".recover" in shown.stderr  # what to do, not "retry"
    assert "retry" not in shown.stderr
    assert damaged.read_bytes() == before


def test_a_file_that_is_no_database_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("shopping list: milk, coffee\n" * 200)
    shown = _loyalty("run", PROGRAM, DECEMBER, "--db", str(text), "--now", NOW, "-q")
    assert shown.returncode == 1 and "error[RE601]" in shown.stderr and "damaged" in shown.stderr
    assert text.read_text() == "shopping list: milk, coffee\n" * 200


def _purchase(number: int) -> dict[str, Any]:
    return {
        "id": f"p{number}",
        "type": "purchase",
        "time": f"2026-12-{1 + number % 28:02d}T10:{number % 60:02d}:00+03:00",
        "customer": f"c{number}",
        "items": [{"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 1}],
    }


def test_an_event_that_does_not_fit_on_the_disk_changes_nothing_and_is_applied_once_later(
    tmp_path: Path,
) -> None:
    """The disk is full as SQLite sees it: the database may not grow by a page (max_page_count)."""
    db = _filled(tmp_path)
    engine = Engine.from_file(PROGRAM)
    with open_store(str(db), "coffee-club") as store:
        assert isinstance(store, SqliteStore)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        service = Loyalty(engine, store)
        applied = 0
        with pytest.raises(StoreError) as full:
            for number in range(500):  # each new customer adds a state of a few KB: pages run out
                service.process(_purchase(number))
                applied += 1
        assert full.value.code == "RE605" and "full" in str(full.value)
        assert "disk is full" in (full.value.diagnostics[0].hint or "")
        refused = _purchase(applied)
        assert store.state(refused["customer"]) is None  # nothing of it was written
        store._db.execute(f"PRAGMA max_page_count = {10 * pages}")
        assert not service.handle(refused).duplicate
        assert service.handle(refused).duplicate  # a redelivery after the retry: applied once
        state = store.state(refused["customer"])
        assert state is not None and sum(lot.points for lot in state.lots) > 0


def test_loyalty_run_on_a_full_disk_stops_at_the_line_that_did_not_fit_and_resumes_exactly_once(
    tmp_path: Path,
) -> None:
    """A real full disk: the database on a 640 KiB tmpfs in a private mount namespace."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("no mount namespaces here (unshare -m)")
    stream = tmp_path / "stream.jsonl"
    stream.write_text("".join(json.dumps(_purchase(n), default=str) + "\n" for n in range(400)))
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    kept.mkdir()
    run = [sys.executable, "-m", "rules_engine.cli", "run", PROGRAM, str(stream)]
    run += ["--db", f"{disk}/loyalty.db"]
    script = (
        f'mount -t tmpfs -o size=640k tmpfs "{disk}" || exit 97; '
        f'"$@" --now {NOW} --batch 10 -q > "{kept}/stdout" 2> "{kept}/stderr"; echo $? > "{kept}/status"; '
        f'cp "{disk}"/loyalty.db* "{kept}/"'
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *run], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode == 97:
        pytest.skip("cannot mount a tmpfs here (needs a mount namespace)")
    assert done.returncode == 0, done.stderr
    stderr = (kept / "stderr").read_text()
    assert (kept / "status").read_text().strip() == "1", stderr
    assert "error[RE605]" in stderr and "disk is full" in stderr and "Traceback" not in stderr
    assert "the run stopped here" in stderr
    with open_store(str(kept / "loyalty.db"), "coffee-club", readonly=True) as store:
        stored = sum(1 for _ in store.states())
    assert 0 < stored < 400  # the batches committed before the disk filled are kept
    # room again: the same stream applies the rest, each event once
    rerun = _loyalty("run", PROGRAM, str(stream), "--db", str(kept / "loyalty.db"), "--now", NOW, "-q")
    assert rerun.returncode == 0, rerun.stderr
    with open_store(str(kept / "loyalty.db"), "coffee-club", readonly=True) as store:
        for number in range(400):
            state = store.state(f"c{number}")
            assert state is not None
            rows = list(store.ledger(customer=f"c{number}"))
            assert len({row.entry.lot for row in rows}) == len(rows)  # no rule's points twice
            assert sum(lot.points for lot in state.lots) == sum(row.entry.points for row in rows) > 0
