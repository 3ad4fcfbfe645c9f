"""State files round-trip: whatever a command writes about a customer feeds `dry-run --customer` and
a tests file's `customer_file` (docs/cli.md, "State files")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.events import MAX_ID
from rules_engine.state import documents
from tests.conftest import ROOT

PROGRAM = str(ROOT / "programs" / "coffee-club.yaml")
DECEMBER = str(ROOT / "programs" / "events" / "coffee-club-december.jsonl")
PLAIN = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
# Anna's next purchase, after every event of DECEMBER.
NEXT = {
    "id": "jan-1",
    "type": "purchase",
    "time": "2027-01-05T09:00:00+03:00",
    "customer": "anna",
    "items": [{"sku": "LATTE", "category": "coffee", "price": 250, "qty": 1}],
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=PLAIN)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Anna's state as each command writes it, after the December stream."""
    folder = tmp_path_factory.mktemp("states")
    db, files = str(folder / "store.db"), {}
    files["run --state-out"] = folder / "states.json"
    code, _, err = invoke(
        "run",
        PROGRAM,
        DECEMBER,
        "-q",
        "--db",
        db,
        "--horizon",
        "none",
        "--state-out",
        str(files["run --state-out"]),
    )
    assert code == 0, err
    code, out, err = invoke("customer", PROGRAM, "anna", "--db", db, "--json")
    assert code == 0, err
    files["customer --json"] = folder / "customer.json"
    files["customer --json"].write_text(out, encoding="utf-8")
    files["a bare state"] = folder / "anna.json"
    files["a bare state"].write_text(json.dumps(json.loads(out)["state"]), encoding="utf-8")
    (folder / "next.json").write_text(json.dumps(NEXT), encoding="utf-8")
    return files


@pytest.mark.parametrize("shape", ["run --state-out", "customer --json", "a bare state"])
def test_what_a_command_writes_feeds_dry_run(written: dict[str, Path], shape: str) -> None:
    event = str(written["a bare state"].parent / "next.json")
    bare = invoke("dry-run", PROGRAM, event, "--customer", str(written["a bare state"]), "--json")
    code, out, err = invoke("dry-run", PROGRAM, event, "--customer", str(written[shape]), "--json")
    assert code == 0, err
    assert out == bare[1]
    outcome = json.loads(out)
    assert outcome["customer"] == "anna" and outcome["state"]["visits"] > 1  # not a new customer


def test_a_dry_runs_outcome_feeds_the_next_dry_run(tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    first.write_text(
        json.dumps({**NEXT, "id": "jan-0", "time": "2027-01-04T09:00:00+03:00"}), encoding="utf-8"
    )
    second = tmp_path / "second.json"
    second.write_text(json.dumps(NEXT), encoding="utf-8")
    code, out, err = invoke("dry-run", PROGRAM, str(first), "--json")
    assert code == 0, err
    (tmp_path / "outcome.json").write_text(out, encoding="utf-8")
    code, out, err = invoke(
        "dry-run", PROGRAM, str(second), "--customer", str(tmp_path / "outcome.json"), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["state"]["visits"] == 2


def test_a_states_file_without_the_events_customer_is_refused_by_name(
    written: dict[str, Path], tmp_path: Path
) -> None:
    event = tmp_path / "carl.json"
    event.write_text(json.dumps({**NEXT, "customer": "carl"}), encoding="utf-8")
    code, out, err = invoke("dry-run", PROGRAM, str(event), "--customer", str(written["run --state-out"]))
    assert (code, out) == (1, "")
    holds = "the file holds the states of 2 customers (anna, boris)"
    assert f"error[RE412]: {written['run --state-out']}: {holds}" in err
    assert "not the event's customer carl" in err


def test_a_problem_in_a_wrapped_state_is_shown_at_its_place(tmp_path: Path) -> None:
    event = tmp_path / "next.json"
    event.write_text(json.dumps(NEXT), encoding="utf-8")
    state = tmp_path / "customer.json"
    state.write_text('{"state": {"tier": 5}, "ledger": []}', encoding="utf-8")
    code, _, err = invoke("dry-run", PROGRAM, str(event), "--customer", str(state))
    assert code == 1
    assert f"{state}:1:20: error[RE420]: tier: Input should be a valid string" in err


def test_a_tests_file_takes_a_state_file_written_by_run(written: dict[str, Path]) -> None:
    folder = written["run --state-out"].parent
    (folder / "anna.tests.yaml").write_text(
        f"program: {PROGRAM}\n"
        "cases:\n"
        "  - name: anna's visits go on\n"
        "    event_file: next.json\n"
        "    customer_file: states.json\n"
        "    expect: {points: 12, tier: green}\n",
        encoding="utf-8",
    )
    code, out, err = invoke(
        "test", str(folder / "anna.tests.yaml"), "--allow-outside"
    )  # the program is not beside it
    assert (code, err) == (0, ""), out
    assert "PASS anna's visits go on" in out


def test_a_tests_file_state_without_the_events_customer_is_refused_at_its_place(
    written: dict[str, Path], tmp_path: Path
) -> None:
    shutil.copy(written["run --state-out"], tmp_path / "states.json")
    (tmp_path / "carl.json").write_text(json.dumps({**NEXT, "customer": "carl"}), encoding="utf-8")
    suite = tmp_path / "carl.tests.yaml"
    suite.write_text(
        f"program: {PROGRAM}\n"
        "cases:\n"
        "  - name: carl\n"
        "    event_file: carl.json\n"
        "    customer_file: states.json\n"
        "    expect: {points: 12}\n",
        encoding="utf-8",
    )
    code, out, err = invoke("test", str(suite))
    assert (code, out) == (1, "")
    assert f"{suite}:5:20: error[RE412]: the file holds the states of 2 customers (anna, boris)" in err


def test_a_state_with_thousands_of_problems_prints_the_first_hundred(tmp_path: Path) -> None:
    # a state of 100,000 bad purchases (600,000 problems) took minutes to print, each with its
    # line of the file; the count of the others is still said, and the exit status is theirs too
    purchases = [{"event": f"e{i}", "at": "2026-01-01T00:00:00Z"} for i in range(400)]
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"customer": "card-7001", "purchases": purchases}), encoding="utf-8")
    event = ROOT / "programs" / "events" / "coffee-club" / "points" / "beans-40k.json"
    code, _, err = invoke("dry-run", PROGRAM, str(event), "--customer", str(state))
    assert code == 1
    assert err.count("error[RE420]") == 100
    assert err.rstrip().endswith("… and 1,900 more problems, not shown")  # five a purchase


def test_a_states_files_customer_id_is_bounded_as_an_events(written: dict[str, Path], tmp_path: Path) -> None:
    """A customer id over 200 characters (events.py `MAX_ID`), as a key of the states file or in a
    state, is RE420 at its line in the file, for `draw` and `leaderboard` as for `dry-run
    --customer`; the id itself is not printed. 200 is read."""
    assert MAX_ID == documents.MAX_ID
    states = json.loads(written["run --state-out"].read_text(encoding="utf-8"))
    anna = states["anna"]
    fashion = str(ROOT / "programs" / "fashion-house.yaml")
    board = ["--id", "monthly-stylists", "--at", "2026-12-31T00:00:00+01:00"]
    event = tmp_path / "next.json"
    event.write_text(json.dumps(NEXT), encoding="utf-8")
    for size, where in ((200, "key"), (201, "key"), (201, "state"), (3_000_000, "key")):
        long = "c" * size
        document = {"anna": anna, long: anna} if where == "key" else {"anna": {**anna, "customer": long}}
        path = tmp_path / f"states-{size}-{where}.json"
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
        line = (
            path.read_text(encoding="utf-8")
            .splitlines()
            .index(next(text for text in path.read_text(encoding="utf-8").splitlines() if long in text))
            + 1
        )
        commands = [["leaderboard", fashion, str(path), *board]]
        if where == "key":
            commands.append(["dry-run", PROGRAM, str(event), "--customer", str(path)])
        for command in commands:
            code, _, err = invoke(*command)
            if size == 200:
                assert "RE420" not in err, err
                continue
            assert code == 1, (command, err)
            assert f"{path}:{line}:" in err and "error[RE420]" in err, err
            assert f"a customer id of {size:,} characters, more than the 200 an id may have" in err
            assert long not in err
