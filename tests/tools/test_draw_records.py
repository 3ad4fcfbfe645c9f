"""`loyalty draw --db` draws once: the first run records the result in the store, later runs print
it (a void or an erasure since changes nothing of it), another seed is refused (RE452), and two
runs at once record one result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from rules_engine.cli import app
from tests.conftest import ROOT

VOLT = ROOT / "programs" / "volt-electronics.yaml"
CUSTOMERS = ["anna", "boris", "chen", "dana", "emil"]


def loyalty(*args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout.splitlines(), result.stderr


def store_with_entries(tmp_path: Path) -> str:
    """Five customers with an entry each, and an event after the draw closed (its entries final)."""
    events = [
        {"id": f"r{n}", "type": "review", "time": "2026-12-10T12:00:00+05:00", "customer": customer}
        for n, customer in enumerate(CUSTOMERS)
    ]
    events.append({"id": "late", "type": "review", "time": "2027-01-02T12:00:00+05:00", "customer": "fred"})
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    db = str(tmp_path / "loyalty.db")
    code, _, err = loyalty("run", str(VOLT), str(path), "--db", db, "--horizon", "none")
    assert code == 0, err
    return db


def draw(db: str, seed: str = "lotto 4 8 15") -> tuple[int, list[str], str]:
    return loyalty("draw", str(VOLT), "--db", db, "--draw", "new-year-draw", "--seed", seed)


def test_the_first_draw_is_recorded_and_a_run_after_a_void_prints_it_again(tmp_path: Path) -> None:
    db = store_with_entries(tmp_path)

    code, first, err = draw(db)

    assert code == 0, err
    assert first[0] == "draw new-year-draw: 5 entries from 5 customers, seed 'lotto 4 8 15'"
    assert first[-1] == (
        f"recorded in sqlite:///{db} at 2027-01-02T12:00:00+05:00 (program version 2): "
        "a run again prints this result"
    )
    winner = first[1].split()[1]
    voided = f"r{CUSTOMERS.index(winner)}"
    code, _, err = loyalty(
        "void", str(VOLT), winner, voided, "--db", db, "--reason", "fake review", "--id", "v1"
    )
    assert code == 0, err

    code, again, err = draw(db)

    assert code == 0, err
    assert again[:-1] == first[:-1]  # the winner whose entry was voided still won: it was announced
    assert again[-1] == (
        "recorded before, at 2027-01-02T12:00:00+05:00 (program version 2): the recorded result,"
        " not drawn again"
    )


def test_another_seed_is_refused_naming_the_recorded_one(tmp_path: Path) -> None:
    db = store_with_entries(tmp_path)
    assert draw(db)[0] == 0

    code, out, err = draw(db, seed="a seed that suits me better")

    assert code == 1 and out == []
    assert "RE452" in err and "'lotto 4 8 15'" in err and "--seed 'lotto 4 8 15'" in err
    assert draw(db)[0] == 0


def test_a_draw_refused_as_early_records_nothing(tmp_path: Path) -> None:
    db = store_with_entries(tmp_path)
    code, _, err = loyalty(
        "draw",
        str(VOLT),
        "--db",
        db,
        "--draw",
        "new-year-draw",
        "--seed",
        "s",
        "--now",
        "2026-12-31T23:00:00+05:00",
    )
    assert code == 1 and "RE451" in err and "it is 2026-12-31T23:00:00+05:00" in err  # in the program's zone

    code, out, err = draw(db, seed="t")

    assert code == 0, err
    assert out[0].endswith("seed 't'") and out[-1].startswith("recorded in")


def test_an_erased_winner_shows_as_the_pseudonym(tmp_path: Path) -> None:
    db = store_with_entries(tmp_path)
    _, first, _ = draw(db)
    winner = first[2].split()[1]

    code, said, err = loyalty("erase", str(VOLT), winner, "--db", db)
    assert code == 0, err
    pseudonym = said[0].split()[-1]

    code, again, err = draw(db)

    assert code == 0, err
    assert again[2] == f"2. {pseudonym} (entry 1, hash dropped: the winner was erased)"
    assert again[1] == first[1] and again[3] == first[3]
    assert not any(winner in line for line in again)


def test_two_processes_drawing_at_once_record_one_result(tmp_path: Path) -> None:
    db = store_with_entries(tmp_path)
    command = [
        sys.executable,
        "-m",
        "rules_engine.cli",
        "draw",
        str(VOLT),
        "--db",
        db,
        "--draw",
        "new-year-draw",
    ]
    env = {**os.environ, "COLUMNS": "200"}
    runs = [
        subprocess.Popen([*command, "--seed", "lotto 4 8 15"], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0].splitlines() for run in runs]

    assert [run.returncode for run in runs] == [0, 0]
    assert outputs[0][:-1] == outputs[1][:-1]
    assert sorted(output[-1].split()[0] for output in outputs) == ["recorded", "recorded"]
    assert sorted(output[-1].split()[1] for output in outputs) == ["before,", "in"]  # one recorded it


def test_a_draw_from_a_states_file_says_it_is_not_recorded(tmp_path: Path) -> None:
    db = store_with_entries(tmp_path)
    states = tmp_path / "states.json"
    code, _, err = loyalty("run", str(VOLT), str(tmp_path / "events.jsonl"), "--state-out", str(states))
    assert code == 0, err

    code, out, err = loyalty("draw", str(VOLT), str(states), "--draw", "new-year-draw", "--seed", "x")

    assert code == 0, err
    assert (
        out[-1]
        == "from a states file: not recorded (a draw from a store, --db, is recorded by its first run)"
    )
    assert draw(db, seed="y")[0] == 0  # the file's draw left the store's undrawn


def test_a_later_version_moving_the_closing_day_is_named_beside_the_recorded_result(tmp_path: Path) -> None:
    db = store_with_entries(tmp_path)
    code, first, err = draw(db)
    assert code == 0, err
    text = VOLT.read_text(encoding="utf-8")
    moved = tmp_path / "volt-electronics.yaml"
    moved.write_text(
        text.replace("version: 2", "version: 3").replace("closes: 2026-12-31", "closes: 2027-01-01"),
        encoding="utf-8",
    )

    code, again, err = loyalty(
        "draw", str(moved), "--db", db, "--draw", "new-year-draw", "--seed", "lotto 4 8 15"
    )

    assert code == 0, err
    assert again[:-2] == first[:-1]  # the recorded winners, not a new draw
    assert again[-2].startswith("recorded before, at 2027-01-02T12:00:00+05:00 (program version 2)")
    assert again[-1] == (
        "drawn for entries until 2026-12-31; the program now says the draw closes 2027-01-01: "
        "the recorded result stands"
    )
    code, same, err = draw(db)
    assert code == 0 and len(same) == len(first) and "now says" not in same[-1]
