"""`loyalty run`: a stream of events in memory, per-customer states, bad lines skipped."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.jsonio import loads
from tests.conftest import ROOT

PROGRAM = str(ROOT / "programs" / "coffee-club.yaml")
STREAM = str(ROOT / "programs" / "events" / "coffee-club.jsonl")
DECEMBER_ENDED = "2026-12-31T23:59:59+03:00"  # loaded once the month is over (the horizon: docs/stores.md)


def test_replays_a_stream_and_reports_bad_lines_by_number(tmp_path: Path) -> None:
    out = tmp_path / "states.json"
    result = CliRunner().invoke(app, ["run", PROGRAM, STREAM, "--state-out", str(out)])
    assert result.exit_code == 1  # two bad lines
    assert (
        "line 1: s1 anna: early-bird 10, base 6, pastry-bonus 5, double-tuesday 22, 128.00 off"
        in result.stdout
    )
    assert "line 7: s6 boris: no points, took back 137" in result.stdout
    assert "coffee-club.jsonl:5:1: error[RE414]: line 5 is not JSON" in result.stderr
    assert "coffee-club.jsonl:6:42: error[RE410]: line 6: time" in result.stderr
    assert "5 events processed, 2 problem(s)" in result.stdout
    states = loads(out.read_text())
    assert set(states) == {"anna", "boris"}
    assert sum(lot["points"] for lot in states["boris"]["lots"]) == 0
    assert states["anna"]["visits"] == 2


def test_json_lines_output_and_a_clean_stream_exits_0(tmp_path: Path) -> None:
    clean = tmp_path / "clean.jsonl"
    lines = [
        line for line in Path(STREAM).read_text().splitlines() if line.startswith("{") and '"s5"' not in line
    ]
    clean.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["run", PROGRAM, str(clean), "--json"])
    assert result.exit_code == 0
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["event"] for o in outcomes] == ["s1", "s2", "s3", "s4", "s6"]


def test_replaying_the_same_stream_twice_in_one_run_gives_the_same_final_states(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    CliRunner().invoke(app, ["run", PROGRAM, STREAM, "--state-out", str(first)])
    CliRunner().invoke(app, ["run", PROGRAM, STREAM, "--state-out", str(second)])
    assert first.read_text() == second.read_text()


DECEMBER = str(ROOT / "programs" / "events" / "coffee-club-december.jsonl")


def test_with_a_database_a_second_run_of_the_same_file_applies_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "loyalty.db")
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    once = CliRunner().invoke(
        app, ["run", PROGRAM, DECEMBER, "--db", db, "--now", DECEMBER_ENDED, "--state-out", str(first)]
    )
    twice = CliRunner().invoke(
        app, ["run", PROGRAM, DECEMBER, "--db", db, "--now", DECEMBER_ENDED, "--state-out", str(second)]
    )
    assert once.exit_code == twice.exit_code == 0, once.output + twice.output
    assert "7 events processed, 0 problem(s)" in once.stdout
    assert "0 events processed, 7 already processed before" in twice.stdout
    assert "line 6: s7 boris: already processed, nothing applied" in twice.stdout
    assert loads(first.read_text()) == loads(second.read_text())


def test_a_later_file_continues_from_the_stored_states(tmp_path: Path) -> None:
    db = str(tmp_path / "loyalty.db")
    lines = Path(DECEMBER).read_text().splitlines()
    (tmp_path / "a.jsonl").write_text("\n".join(lines[:5]) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(lines[5:]) + "\n")
    CliRunner().invoke(app, ["run", PROGRAM, str(tmp_path / "a.jsonl"), "--db", db, "--now", DECEMBER_ENDED])
    result = CliRunner().invoke(
        app,
        [
            "run",
            PROGRAM,
            str(tmp_path / "b.jsonl"),
            "--db",
            db,
            "--now",
            DECEMBER_ENDED,
            "-q",
            "--by-customer",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "line " not in result.stdout  # --quiet: no line per event
    assert "boris: tier green, 150 points, 2 visits, 500 earned in this run" in result.stdout
    assert "2 events processed, 0 problem(s), 1 customer(s)" in result.stdout


def test_a_database_that_cannot_be_opened_is_an_error_and_nothing_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", PROGRAM, DECEMBER, "--db", str(tmp_path / "no" / "such" / "x.db")]
    )
    assert result.exit_code == 1
    assert "error[RE601]" in result.stderr and "cannot open the database" in result.stderr
    assert "events processed" not in result.stdout


def test_loyalty_customer_shows_what_the_store_holds_for_one_customer(tmp_path: Path) -> None:
    db = str(tmp_path / "loyalty.db")
    CliRunner().invoke(app, ["run", PROGRAM, DECEMBER, "--db", db, "--now", DECEMBER_ENDED, "-q"])
    shown = CliRunner().invoke(app, ["customer", PROGRAM, "boris", "--db", db, "--last", "2"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == "boris: tier green since 2026-12-01T13:10:00+03:00"
    assert "balance 150 beans: 150 available, 0 pending" in lines[1]
    assert lines[-2:] == [
        "    2026-12-30T10:00:00+03:00 burn         -50  catalog:free-latte (s8)",
        "    2026-12-30T10:00:00+03:00 burn         -50  catalog:free-latte (s8)",
    ]
    document = loads(CliRunner().invoke(app, ["customer", PROGRAM, "boris", "--db", db, "--json"]).stdout)
    assert sum(entry["points"] for entry in document["ledger"]) == 150  # the whole stored history
    assert [entry["seq"] for entry in document["ledger"]] == sorted(e["seq"] for e in document["ledger"])
    unknown = CliRunner().invoke(app, ["customer", PROGRAM, "nobody", "--db", db])
    assert unknown.exit_code == 1 and "error[RE606]: no customer 'nobody'" in unknown.stderr
    negative = CliRunner().invoke(app, ["customer", PROGRAM, "boris", "--db", db, "--last", "-1"])
    assert negative.exit_code == 2 and "--last" in negative.output  # not "all but the first"


def test_a_referral_to_a_customer_the_store_does_not_know_is_a_warning(tmp_path: Path) -> None:
    from rules_engine.engine.mechanics.referral import referral_code

    program = str(ROOT / "programs" / "fashion-house.yaml")
    code = referral_code("fashion-house", "zoe", b"")
    events = [
        {
            "id": "s1",
            "type": "signup",
            "time": "2026-12-01T10:00:00+01:00",
            "customer": "bob",
            "referral_code": code,
        },
        {
            "id": "p1",
            "type": "purchase",
            "time": "2026-12-02T10:00:00+01:00",
            "customer": "bob",
            "items": [{"sku": "COAT", "price": "120.00", "qty": 1}],
        },
    ]
    stream = tmp_path / "stream.jsonl"
    stream.write_text("".join(json.dumps(event) + "\n" for event in events))
    result = CliRunner().invoke(app, ["run", program, str(stream)], env={"LOYALTY_SECRET": None})
    assert result.exit_code == 0, result.output  # a warning, not a bad line
    assert f"warning[RE607]: line 2: the referral code {code} names no customer" in result.stderr
    assert "2 events processed, 0 problem(s)" in result.stdout


def test_a_referrer_reward_owed_until_a_redelivery_counts_in_that_run(tmp_path: Path) -> None:
    from rules_engine.engine.mechanics.referral import referral_code

    program = str(ROOT / "programs" / "fashion-house.yaml")
    db = str(tmp_path / "loyalty.db")
    code = referral_code("fashion-house", "zoe", b"")
    signup = {"id": "s1", "type": "signup", "time": "2026-12-01T10:00:00+01:00", "customer": "bob"}
    bought = {
        "id": "p1",
        "type": "purchase",
        "time": "2026-12-02T10:00:00+01:00",
        "customer": "bob",
        "items": [{"sku": "COAT", "price": "120.00", "qty": 1}],
    }
    # zoe's first event is before bob's purchase (a code is known from its owner's first event's time)
    zoe = {**bought, "id": "z1", "customer": "zoe", "time": "2026-12-01T12:00:00+01:00"}
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text(json.dumps({**signup, "referral_code": code}) + "\n" + json.dumps(bought) + "\n")
    second.write_text(json.dumps(zoe) + "\n" + json.dumps(bought) + "\n")  # zoe known, p1 again
    env = {"LOYALTY_SECRET": None}
    CliRunner().invoke(app, ["run", program, str(first), "--db", db], env=env)
    result = CliRunner().invoke(app, ["run", program, str(second), "--db", db, "--by-customer"], env=env)
    assert result.exit_code == 0, result.output
    assert "warning[RE607]" not in result.stderr
    assert result.stdout.splitlines()[1:3] == [
        "line 2: p1 bob: already processed, nothing applied",
        "line 2: p1:referrer:bob zoe: referral:referrer 1000",
    ]
    # zoe's own purchase (1200 points) and the referrer reward given on the redelivery (1000)
    assert "zoe: tier member, 2200 points, 1 visits, 2200 earned in this run" in result.stdout
    assert "2 events processed, 1 already processed before" in result.stdout


def test_a_line_that_is_not_utf8_is_a_bad_line_and_the_rest_runs(tmp_path: Path) -> None:
    lines = Path(STREAM).read_bytes().split(b"\n")
    broken = tmp_path / "broken.jsonl"
    # a byte order mark first (editors write one), a Latin-1 "é" in a customer's name on line 2
    broken.write_bytes(b"\xef\xbb\xbf" + b"\n".join([lines[0], lines[1].replace(b'"boris"', b'"bor\xe9s"')]))
    result = CliRunner().invoke(app, ["run", PROGRAM, str(broken)])
    assert result.exit_code == 1
    assert "line 1: s1 anna: early-bird 10" in result.stdout
    assert "broken.jsonl:2:" in result.stderr and "line 2 is not UTF-8 text (byte 0xE9 here)" in result.stderr
    assert "1 events processed, 1 problem(s)" in result.stdout


def test_commands_that_read_a_store_refuse_a_path_with_no_database(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    for command in (
        ["customer", PROGRAM, "anna", "--db", str(missing)],
        ["ledger", "export", PROGRAM, "--db", str(missing)],
        ["advance", PROGRAM, "--db", f"sqlite:///{missing}", "--to", "2026-12-31T00:00:00+03:00"],
        [
            "leaderboard",
            str(ROOT / "programs" / "fashion-house.yaml"),
            "--db",
            str(missing),
            "--id",
            "monthly-stylists",
            "--at",
            "2026-12-31T00:00:00+01:00",
        ],
    ):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1, (command, result.output)
        assert f"error[RE601]: no database at {missing}" in result.stderr, command
        assert not missing.exists()  # no empty database left behind to answer "nothing there"


# -- issue 11: report as you go, stop cleanly, totals -------------------------------------------


def _purchases(count: int, customers: int = 50) -> list[str]:
    """`count` purchases of the coffee club, a minute apart, spread over `customers` customers."""
    start = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    return [
        json.dumps(
            {
                "id": f"e{n}",
                "type": "purchase",
                "time": (start + dt.timedelta(minutes=n)).isoformat(),
                "customer": f"c{n % customers}",
                "items": [{"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 1}],
            }
        )
        for n in range(count)
    ]


def test_the_totals_close_a_run_and_customer_lines_only_come_with_by_customer(tmp_path: Path) -> None:
    db = str(tmp_path / "loyalty.db")
    result = CliRunner().invoke(app, ["run", PROGRAM, DECEMBER, "--db", db, "--now", DECEMBER_ENDED, "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "7 events processed, 0 problem(s), 2 customer(s)",
        "points: 729 issued, 350 redeemed, 0 expired, 137 reversed",  # 92 + 150 left
    ]
    by_customer = CliRunner().invoke(
        app, ["run", PROGRAM, DECEMBER, "--db", db, "--now", DECEMBER_ENDED, "-q", "--by-customer"]
    )
    assert by_customer.stdout.splitlines()[:2] == [
        "anna: tier green, 92 points, 2 visits, 0 earned in this run",
        "boris: tier green, 150 points, 2 visits, 0 earned in this run",
    ]
    assert "0 events processed, 7 already processed before, 0 problem(s), 2 customer(s)" in by_customer.stdout


def test_a_missing_events_file_leaves_no_empty_database_behind(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    result = CliRunner().invoke(app, ["run", PROGRAM, str(tmp_path / "missing.jsonl"), "--db", str(db)])
    assert result.exit_code == 1 and "error[RE414]: cannot read" in result.stderr
    assert not db.exists()


def test_problems_go_to_a_json_lines_file_with_their_line(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    result = CliRunner().invoke(app, ["run", PROGRAM, STREAM, "-q", "--problems", str(problems)])
    assert result.exit_code == 1
    assert "error[" not in result.stderr  # in the file instead
    found = [loads(line) for line in problems.read_text().splitlines()]
    assert [(p["code"], p["line"], p["column"]) for p in found] == [("RE414", 5, 1), ("RE410", 6, 42)]
    assert f"5 events processed, 2 problem(s) (in {problems}), 2 customer(s)" in result.stdout
    unwritable = CliRunner().invoke(app, ["run", PROGRAM, STREAM, "--problems", str(tmp_path / "no" / "p")])
    assert unwritable.exit_code == 1 and "error[RE461]" in unwritable.stderr
    assert "events processed" not in unwritable.stdout


def test_the_progress_bar_shows_on_an_interactive_terminal_only(tmp_path: Path) -> None:
    stream = tmp_path / "stream.jsonl"
    stream.write_text("\n".join(_purchases(20)) + "\n")
    plain = CliRunner().invoke(app, ["run", PROGRAM, str(stream)])  # stderr is not a terminal
    assert plain.exit_code == 0 and plain.stderr == ""
    forced = {"TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1"}
    shown = CliRunner().invoke(app, ["run", PROGRAM, str(stream)], env=forced)
    assert shown.exit_code == 0 and "20 lines" in shown.stderr and "100%" in shown.stderr
    quiet = CliRunner().invoke(app, ["run", PROGRAM, str(stream), "-q"], env=forced)
    assert quiet.exit_code == 0 and quiet.stderr == ""


def _start_run(args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rules_engine.cli", "run", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )


def _wait_for_line(process: subprocess.Popen[str], number: int) -> None:
    """Read the run's stdout until it has applied line `number` (stdout is block-buffered)."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("line ") and int(line.split(":")[0].split()[1]) >= number:
            return
    raise AssertionError("the run ended before the signal could be sent")


@pytest.mark.parametrize("presses", [1, 2], ids=["ctrl-c", "ctrl-c-twice"])
def test_ctrl_c_stops_after_the_current_event_and_a_rerun_applies_the_rest_once(
    tmp_path: Path, presses: int
) -> None:
    """Once: the event in progress completes. Twice: it is interrupted and rolled back (or was
    just committed); either way the database is consistent and a re-run applies the rest once."""
    from rules_engine.store import open_store

    stream = tmp_path / "stream.jsonl"
    count = 1000
    stream.write_text("\n".join(_purchases(count)) + "\n")
    db = f"sqlite:///{tmp_path / 'loyalty.db'}?synchronous=normal"
    process = _start_run([PROGRAM, str(stream), "--db", db], tmp_path)
    _wait_for_line(process, 100)
    for _ in range(presses):
        process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "warning[RE460]: interrupted: stopped" in stderr
    assert "Traceback" not in stderr
    first = re.search(r"^(\d+) events processed, 0 problem\(s\), 50 customer\(s\) so far$", stdout, re.M)
    assert first is not None, stdout
    applied = int(first.group(1))
    assert 100 <= applied < count
    with open_store(db, "coffee-club") as store:  # the database holds what was reported
        assert store.processed() - applied in ((0,) if presses == 1 else (0, 1))
        applied = store.processed()
        balances = sum((lot.points for _, state in store.states() for lot in state.lots), Decimal(0))
        assert sum((row.entry.points for row in store.ledger()), Decimal(0)) == balances
    again = CliRunner().invoke(app, ["run", PROGRAM, str(stream), "--db", db, "-q"])
    assert again.exit_code == 0, again.output
    assert (
        f"{count - applied} events processed, {applied} already processed before, 0 problem(s)"
        in again.stdout
    )
    with open_store(db, "coffee-club") as store:
        assert store.processed() == count


@pytest.mark.parametrize("to_file", [False, True], ids=["stderr", "problems-file"])
def test_a_killed_run_has_already_reported_the_bad_lines_it_met(tmp_path: Path, to_file: bool) -> None:
    lines = _purchases(1000)
    lines[1] = "not json"
    lines[4] = lines[4].replace("+03:00", "")  # a time without an offset
    stream = tmp_path / "stream.jsonl"
    stream.write_text("\n".join(lines) + "\n")
    problems = tmp_path / "problems.jsonl"
    extra = ["--problems", str(problems)] if to_file else []
    db = f"sqlite:///{tmp_path / 'loyalty.db'}?synchronous=normal"
    process = _start_run([PROGRAM, str(stream), "--db", db, *extra], tmp_path)
    _wait_for_line(process, 100)
    process.kill()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    if to_file:
        found = [loads(line) for line in problems.read_text().splitlines()]
        assert [(p["code"], p["line"]) for p in found] == [("RE414", 2), ("RE410", 5)]
    else:
        assert "error[RE414]: line 2 is not JSON" in stderr
        assert "error[RE410]: line 5: time" in stderr


def test_on_a_real_terminal_the_bar_is_on_stderr_and_redirected_stdout_keeps_its_lines(
    tmp_path: Path,
) -> None:
    import pty
    import threading

    stream = tmp_path / "stream.jsonl"
    stream.write_text("\n".join(_purchases(300)) + "\n")
    terminal, stderr = pty.openpty()
    drawn: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the run ended and closed its side
                return
            if not chunk:
                return
            drawn.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rules_engine.cli",
            "run",
            PROGRAM,
            str(stream),
            "--db",
            str(tmp_path / "x.db"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,  # `loyalty run … > file` from a terminal
        stderr=stderr,
        env={**env, "TERM": "xterm"},
        timeout=300,
    )
    os.close(stderr)
    reader.join(timeout=10)
    assert done.returncode == 0
    lines = done.stdout.decode().splitlines()
    assert sum(line.startswith("line ") for line in lines) == 300  # not drawn on the terminal instead
    assert lines[-2] == "300 events processed, 0 problem(s), 50 customer(s)"
    assert b"300 lines" in b"".join(drawn) and b"lines/s" in b"".join(drawn)


def test_a_store_failure_prints_the_totals_so_far_then_names_the_line_and_the_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rules_engine.errors import Diagnostic, StoreError
    from rules_engine.service import Loyalty

    handle = Loyalty.handle

    def failing_at_s4(self: Loyalty, event: Any, **options: Any) -> Any:
        if (event["id"] if isinstance(event, dict) else event.id) == "s4":  # the run gives it parsed
            raise StoreError([Diagnostic("RE605", "sqlite:///x.db: the database failed: disk I/O error")])
        return handle(self, event, **options)

    monkeypatch.setattr(Loyalty, "handle", failing_at_s4)
    result = CliRunner().invoke(app, ["run", PROGRAM, DECEMBER, "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1
    assert "3 events processed, 0 problem(s), 2 customer(s) so far" in result.stdout
    assert "line 4" not in result.stdout
    assert (
        "coffee-club-december.jsonl:4:1: error[RE605]: line 4: event 's4' of customer 'anna'" in result.stderr
    )


# -- the horizon and the clock (issue 11) ----------------------------------------------------------
def test_run_into_a_store_refuses_a_future_dated_line_and_goes_on(tmp_path: Path) -> None:
    db = str(tmp_path / "loyalty.db")
    lines = Path(DECEMBER).read_text().splitlines()
    typo = json.loads(lines[2])
    typo["time"] = typo["time"].replace("2026", "2028", 1)
    (tmp_path / "typo.jsonl").write_text("\n".join([lines[0], lines[1], json.dumps(typo)]) + "\n")
    result = CliRunner().invoke(app, ["run", PROGRAM, str(tmp_path / "typo.jsonl"), "--db", db])
    assert result.exit_code == 1
    assert "typo.jsonl:3:42: error[RE441]: line 3: event s3" in result.stderr  # the caret under `time`
    assert "2 events processed, 1 problem(s)" in result.stdout
    shown = CliRunner().invoke(app, ["customer", PROGRAM, "anna", "--db", db, "--json"])
    assert loads(shown.stdout)["state"]["last_event_at"].startswith("2026-12-01")


def test_run_with_a_sparse_file_asks_for_now_or_a_longer_horizon(tmp_path: Path) -> None:
    """December's file into a new store: a day's horizon from the store's latest event refuses the
    lines after the first gap of several days (and everything after, in order), reported; run again
    with --now, those are applied in order and the rest are duplicates."""
    db = str(tmp_path / "loyalty.db")
    refused = CliRunner().invoke(app, ["run", PROGRAM, DECEMBER, "--db", db, "-q"])
    assert refused.exit_code == 1 and "error[RE441]" in refused.stderr and "--horizon" in refused.stderr
    again = CliRunner().invoke(
        app, ["run", PROGRAM, DECEMBER, "--db", db, "--now", DECEMBER_ENDED, "-q", "--by-customer"]
    )
    assert again.exit_code == 0, again.output
    assert "boris: tier green, 150 points, 2 visits" in again.stdout
    longer = CliRunner().invoke(
        app, ["run", PROGRAM, DECEMBER, "--db", str(tmp_path / "b.db"), "--horizon", "30d"]
    )
    assert longer.exit_code == 0, longer.output


def test_advance_beyond_the_horizon_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "loyalty.db")
    CliRunner().invoke(app, ["run", PROGRAM, DECEMBER, "--db", db, "--now", DECEMBER_ENDED, "-q"])
    before = loads(CliRunner().invoke(app, ["customer", PROGRAM, "boris", "--db", db, "--json"]).stdout)
    result = CliRunner().invoke(app, ["advance", PROGRAM, "--db", db, "--to", "2030-01-01T00:00:00+03:00"])
    assert result.exit_code == 1 and "error[RE442]" in result.stderr
    assert "customer(s) changed" not in result.stdout
    after = loads(CliRunner().invoke(app, ["customer", PROGRAM, "boris", "--db", db, "--json"]).stdout)
    assert after == before
    now = ["--now", "2029-12-31T12:00:00+03:00"]
    allowed = CliRunner().invoke(
        app, ["advance", PROGRAM, "--db", db, "--to", "2030-01-01T00:00:00+03:00", *now]
    )
    assert allowed.exit_code == 0, allowed.output


@pytest.mark.parametrize(
    ("options", "code"),
    [
        (["--horizon", "a week"], "RE703"),
        (["--now", "tomorrow"], "RE702"),
        (["--now", "2026-12-31T10:00:00"], "RE702"),
        (["--now", "9999-12-31T23:59:59-12:00"], "RE702"),  # beyond 2999: an OverflowError
        (["--now", "2999-12-31T23:59:59-12:00"], "RE702"),  # 3000 in UTC
        (["--now", "1899-12-31T23:59:59+00:00"], "RE702"),
        (["--horizon", "3000000d"], "RE703"),
        (["--horizon", "3651d"], "RE703"),
        (["--horizon", "99999999999999d"], "RE703"),  # more than a timedelta holds
    ],
)
def test_bad_now_and_horizon_options_are_refused(tmp_path: Path, options: list[str], code: str) -> None:
    result = CliRunner().invoke(app, ["run", PROGRAM, DECEMBER, "--db", str(tmp_path / "x.db"), *options])
    assert result.exit_code == 2 and f"error[{code}]" in result.stderr
    assert "events processed" not in result.stdout


def test_now_can_be_the_system_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from rules_engine.cli import common as cli

    lines = Path(DECEMBER).read_text().splitlines()  # the first: 2026-12-01T08:30:00+03:00
    (tmp_path / "one.jsonl").write_text(lines[0] + "\n")
    command = ["run", PROGRAM, str(tmp_path / "one.jsonl"), "--db", str(tmp_path / "x.db"), "--now", "now"]
    monkeypatch.setattr(cli, "_system_clock", lambda: dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    early = CliRunner().invoke(app, command)
    assert early.exit_code == 1 and "error[RE441]" in early.stderr and "after now (2026-11-01" in early.stderr
    monkeypatch.setattr(cli, "_system_clock", lambda: dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert CliRunner().invoke(app, command).exit_code == 0


def test_run_reads_no_line_past_the_length_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rules_engine import jsonio

    monkeypatch.setattr(jsonio, "MAX_TEXT", 64)
    events = tmp_path / "long.jsonl"
    events.write_text("x" * 500 + "\n" + "[]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", PROGRAM, str(events), "-q"])
    assert result.exit_code == 1
    assert "error[RE414]" in result.stderr and "line 1 is longer than" in result.stderr
    assert "2 problem(s)" in result.stdout


def test_events_from_a_pipe_are_all_read(tmp_path: Path) -> None:
    lines = [
        line for line in Path(STREAM).read_text().splitlines() if line.startswith("{") and '"s5"' not in line
    ]
    done = subprocess.run(
        [sys.executable, "-m", "rules_engine.cli", "run", PROGRAM, "/dev/stdin", "--json"],
        input="\n".join(lines) + "\n",  # through a pipe: no size, no position
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "RE414" not in done.stderr
    assert [json.loads(line)["event"] for line in done.stdout.splitlines()] == ["s1", "s2", "s3", "s4", "s6"]


@pytest.mark.parametrize("option", ["--problems", "--state-out"])
def test_an_output_naming_the_events_file_is_refused_untouched(tmp_path: Path, option: str) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(Path(STREAM).read_text())
    before = events.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(events)
    for named in (str(events), str(tmp_path / "." / "events.jsonl"), str(tmp_path / "link.jsonl")):
        result = CliRunner().invoke(app, ["run", PROGRAM, str(events), option, named])
        assert result.exit_code == 2 and "error[RE708]" in result.stderr
        assert result.stdout == ""
        assert events.read_bytes() == before


def test_a_state_out_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path) -> None:
    for unwritable in (tmp_path / "no" / "such" / "states.json", tmp_path):
        result = CliRunner().invoke(app, ["run", PROGRAM, STREAM, "--state-out", str(unwritable)])
        assert result.exit_code == 1 and "error[RE461]" in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""  # nothing ran


def test_a_state_out_write_that_fails_is_a_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rules_engine.cli import replaying

    monkeypatch.setattr(replaying, "_check_writable", lambda *_: None)  # as if the disk filled during the run
    result = CliRunner().invoke(app, ["run", PROGRAM, STREAM, "--state-out", str(tmp_path / "no" / "x.json")])
    assert result.exit_code == 1 and "error[RE461]" in result.stderr and "Traceback" not in result.stderr


def test_states_the_store_cannot_give_are_no_states_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rules_engine import replay
    from rules_engine.errors import Diagnostic, StoreError
    from rules_engine.store.memory import RunMemoryStore

    replayed: list[bool] = []
    original_replay, original_state = replay.replay_lines, RunMemoryStore.state

    def replay_lines(*args: Any, **kwargs: Any) -> Any:
        done = original_replay(*args, **kwargs)
        replayed.append(True)
        return done

    def state(self: RunMemoryStore, customer: str) -> Any:  # the store is lost once the events are in
        if replayed:
            raise StoreError([Diagnostic("RE605", "the database went away")])
        return original_state(self, customer)

    monkeypatch.setattr(replay, "replay_lines", replay_lines)
    monkeypatch.setattr(RunMemoryStore, "state", state)
    clean = tmp_path / "clean.jsonl"
    clean.write_text("".join(line for line in Path(STREAM).read_text().splitlines(True)[:4]))
    out = tmp_path / "states.json"
    result = CliRunner().invoke(app, ["run", PROGRAM, str(clean), "--state-out", str(out), "-q"])
    assert "4 events processed, 0 problem(s)" in result.stdout
    assert "error[RE605]" in result.stderr and result.exit_code == 1
    assert not out.exists()


def test_advance_on_another_programs_database_names_it(tmp_path: Path) -> None:
    db = str(tmp_path / "coffee.db")
    filled = CliRunner().invoke(app, ["run", PROGRAM, DECEMBER, "--db", db, "--now", DECEMBER_ENDED, "-q"])
    assert filled.exit_code == 0, filled.output
    fashion = str(ROOT / "programs" / "fashion-house.yaml")
    moved = CliRunner().invoke(app, ["advance", fashion, "--db", db, "--to", DECEMBER_ENDED])
    assert moved.exit_code == 1 and "error[RE608]" in moved.stderr and "'coffee-club'" in moved.stderr
    assert "customer(s) changed" not in moved.stdout


def test_far_off_moments_of_advance_and_leaderboard_are_usage_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "coffee.db")
    filled = CliRunner().invoke(app, ["run", PROGRAM, DECEMBER, "--db", db, "--now", DECEMBER_ENDED, "-q"])
    assert filled.exit_code == 0, filled.output
    before = loads(CliRunner().invoke(app, ["customer", PROGRAM, "boris", "--db", db, "--json"]).stdout)
    far = "9999-12-31T23:00:00+00:00"
    moved = CliRunner().invoke(app, ["advance", PROGRAM, "--db", db, "--to", far, "--horizon", "none"])
    assert moved.exit_code == 2 and "error[RE702]" in moved.stderr
    after = loads(CliRunner().invoke(app, ["customer", PROGRAM, "boris", "--db", db, "--json"]).stdout)
    assert after == before  # no customer's clock moved to 9999
    fashion = str(ROOT / "programs" / "fashion-house.yaml")
    (tmp_path / "states.json").write_text("{}")
    ranked = CliRunner().invoke(
        app, ["leaderboard", fashion, str(tmp_path / "states.json"), "--id", "monthly-stylists", "--at", far]
    )
    assert ranked.exit_code == 2 and "error[RE702]" in ranked.stderr and "Traceback" not in ranked.stderr
    assert "Traceback" not in moved.stderr


@pytest.mark.parametrize(
    ("url", "held"), [("sqlite:///{path}", (8_192, 150_000)), ("sqlite:///{path}?cache=7", (7, 7_000))]
)
def test_a_replay_into_a_store_holds_customers_within_an_element_budget_unless_the_url_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, held: tuple[int, int]
) -> None:
    """`loyalty run --db` holds many customers' states within a budget of list elements: in a replay
    customers interleave, so only a cache of the last few thousand events' customers finds them,
    and what bounds its memory is the elements held (docs/stores.md); `?cache=N` holds N customers
    and 1,000 elements each on average, as any store."""
    import rules_engine.store as stores

    opened: list[Any] = []
    real = stores.open_store

    def watched(*args: Any, **kwargs: Any) -> Any:
        store = real(*args, **kwargs)
        opened.append(store)
        return store

    monkeypatch.setattr(stores, "open_store", watched)
    db = url.format(path=tmp_path / "run.db")
    result = CliRunner().invoke(app, ["run", PROGRAM, STREAM, "--db", db, "-q"])
    assert result.exit_code in (0, 1), result.output  # the stream has bad lines on purpose
    assert [(store._cache.size, store._cache.budget) for store in opened] == [held]


def test_an_id_with_control_characters_prints_as_one_line_with_escapes(tmp_path: Path) -> None:
    """Into a file or a pipe each outcome is one line as written (no styling), and an id holding a
    newline or an escape sequence cannot split it or steer a terminal that shows the file later."""
    first = json.loads(Path(STREAM).read_text().splitlines()[0])
    odd = {**first, "id": "a\nb", "customer": "eve\x1b[31m"}
    stream = tmp_path / "odd.jsonl"
    stream.write_text(json.dumps(odd) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "rules_engine.cli", "run", PROGRAM, str(stream)],
        capture_output=True,
        text=True,
        env={**os.environ, "TTY_INTERACTIVE": "0"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("line 1: a\\x0ab eve\\x1b[31m: early-bird 10, base 6")
    assert "\x1b" not in done.stdout
