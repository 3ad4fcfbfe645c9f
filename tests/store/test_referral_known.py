"""A referral code is known from its owner's first event's time (store/base.py `known`), not from
when that event was stored: a referee's qualifying purchase rewards the referrer only if their
first event is earlier. So the order events reach the store in — `loyalty run --workers N`, whose
workers commit each other's customers early or late, the service's requests — changes nothing one
process would not: every store (memory, SQLite with and without working states, PostgreSQL), the
service alone, and `loyalty run` on one process against two.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.replay_workers import _Parent, owner
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.store import open_store
from tests.store.conftest import OpenStore
from tests.store.test_run_workers import ENGINE, NO_BUDGET, SECRET

ZONE = dt.timezone(dt.timedelta(hours=1))


def at(minute: int) -> str:
    return (dt.datetime(2026, 12, 1, 11, 0, tzinfo=ZONE) + dt.timedelta(minutes=minute)).isoformat()


def code(customer: str) -> str:
    return referral_code("store-test", customer, SECRET.encode())


def purchase(event: str, customer: str, minute: int) -> dict[str, Any]:
    item = {"sku": "S", "category": "goods", "price": "20", "qty": 1}
    return {"id": event, "type": "purchase", "customer": customer, "time": at(minute), "items": [item]}


def signup(event: str, customer: str, minute: int, referrer: str) -> dict[str, Any]:
    return {
        "id": event,
        "type": "signup",
        "customer": customer,
        "time": at(minute),
        "referral_code": code(referrer),
    }


def points(loyalty: Loyalty, customer: str) -> int:
    state = loyalty.store.state(customer)
    assert state is not None
    return int(sum(lot.points for lot in state.lots))


def test_a_referrer_whose_first_event_is_later_than_the_purchase_is_not_paid_though_stored_first(
    open_test_store: OpenStore,
) -> None:
    # the order a worker that committed fay's line early gives: fay's event (11:02) is stored before
    # rita's qualifying purchase (11:01); one process, in file order, did not know fay at 11:01
    loyalty = Loyalty(ENGINE, open_test_store(), horizon=None)
    loyalty.handle(purchase("f1", "fay", 2))
    loyalty.handle(signup("r1", "rita", 0, "fay"))
    qualifying = purchase("r2", "rita", 1)
    for _ in range(2):  # delivered again: still not known at 11:01
        handled = loyalty.handle(qualifying)
        assert handled.unknown_referrer == code("fay")
        assert handled.referred is None
    assert points(loyalty, "fay") == 20
    assert points(loyalty, "rita") == 25  # the referee's own reward stands


def test_a_referrer_known_before_the_purchase_is_paid_once_stored_whatever_came_first(
    open_test_store: OpenStore,
) -> None:
    loyalty = Loyalty(ENGINE, open_test_store(), horizon=None)
    loyalty.handle(signup("r1", "rita", 0, "fay"))
    qualifying = purchase("r2", "rita", 2)
    assert loyalty.handle(qualifying).unknown_referrer == code("fay")
    loyalty.handle(purchase("f1", "fay", 1))  # fay's first event: before the purchase, stored after
    again = loyalty.handle(qualifying)
    assert again.unknown_referrer is None and again.referrer_applied
    assert points(loyalty, "fay") == 20 + 50
    assert loyalty.store.referrer(code("fay"), dt.datetime.fromisoformat(at(2))) == "fay"
    assert loyalty.store.referrer(code("fay"), dt.datetime.fromisoformat(at(1))) is None  # not at once
    assert loyalty.store.referrer(code("fay")) == "fay"


def test_a_referrer_whose_first_event_is_at_the_purchases_moment_is_not_paid(
    open_test_store: OpenStore,
) -> None:
    """Two events at one moment have no order but their lines', which N workers do not keep."""
    loyalty = Loyalty(ENGINE, open_test_store(), horizon=None)
    loyalty.handle(purchase("f1", "fay", 1))
    loyalty.handle(signup("r1", "rita", 0, "fay"))
    assert loyalty.handle(purchase("r2", "rita", 1)).unknown_referrer == code("fay")


def test_an_imported_referrer_is_known_since_ever(open_test_store: OpenStore) -> None:
    loyalty = Loyalty(ENGINE, open_test_store(), horizon=None)
    loyalty.put("fay", CustomerState(customer="fay"))
    loyalty.handle(signup("r1", "rita", 0, "fay"))
    assert loyalty.handle(purchase("r2", "rita", 1)).referrer_applied
    assert points(loyalty, "fay") == 50


def one_and_two_workers(tmp_path: Path, lines: list[dict[str, Any]], customer: str) -> list[Any]:
    """What `loyalty run` says on one process and on two (exit code, output, problems), and the
    points `customer` holds after each."""
    program, stream = tmp_path / "store-test.yaml", tmp_path / "events.jsonl"
    program.write_text(NO_BUDGET)
    stream.write_text("".join(json.dumps(line) + "\n" for line in lines))
    runs = []
    for workers in ("1", "2"):
        db = tmp_path / f"{workers}.db"
        args = ["run", str(program), str(stream), "--db", str(db), "--horizon", "none", "--batch", "50"]
        done = CliRunner().invoke(app, [*args, "--workers", workers], env={"LOYALTY_SECRET": SECRET})
        assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
        with open_store(str(db), "store-test") as store:
            state = store.state(customer)
            assert state is not None
            runs.append((done.exit_code, done.stdout, done.stderr, sum(lot.points for lot in state.lots)))
    return runs


CUSTOMERS = [f"k{i}" for i in range(200)]
ON_0 = [n for n in CUSTOMERS if owner(n, 2) == 0]
ON_1 = [n for n in CUSTOMERS if owner(n, 2) == 1]


def test_run_on_two_workers_refuses_a_referrer_one_process_refuses(tmp_path: Path) -> None:
    """The hunt's case (fashion-house, `loyalty generate` seed 1: 1,000 points apart): the referee's
    qualifying purchase precedes, in time and in the file, the referrer's first event, which the
    other worker, less busy, committed first."""
    referee, filler, referrer = ON_0[0], ON_0[1:20], ON_1[0]
    lines = [purchase(f"e{i}", filler[i % len(filler)], i - 300) for i in range(300)]  # worker 0's
    lines += [signup("s", referee, 0, referrer), purchase("q", referee, 1), purchase("f", referrer, 2)]
    runs = one_and_two_workers(tmp_path, lines, referrer)
    assert runs[0] == runs[1]
    assert "RE607" in runs[0][2] and runs[0][3] == 20


def test_run_on_two_workers_rewards_a_referrer_after_their_own_earlier_lines(tmp_path: Path) -> None:
    """Given at the purchase's time before the referrer's worker reached the referrer's own earlier
    line, the reward moved their clock past it, and that line was refused (RE440): the referee's
    worker now gives it when every line before the purchase is done, as one process does."""
    referee, referrer, filler = ON_0[0], ON_1[0], ON_1[1:20]
    lines = [purchase("f0", referrer, -400)]
    lines += [purchase(f"e{i}", filler[i % len(filler)], i - 300) for i in range(300)]  # worker 1's
    lines += [purchase("f1", referrer, -1), signup("s", referee, 0, referrer), purchase("q", referee, 1)]
    runs = one_and_two_workers(tmp_path, lines, referrer)
    assert runs[0] == runs[1]
    assert runs[0][0] == 0 and runs[0][3] == 20 + 20 + 50


def hold_back(monkeypatch: pytest.MonkeyPatch, line: int, until: int) -> None:
    """The parent of `--workers` hands on no line from `line` on before line `until` (later in the
    file) is acknowledged, committed: the worst order for the referee's line, made sure of."""
    hand_on = _Parent._hand_on

    def held_back(self: _Parent) -> None:
        if self.next < line or until in self.held:
            hand_on(self)

    monkeypatch.setattr(_Parent, "_hand_on", held_back)


def runs_on(tmp_path: Path, lines: list[dict[str, Any]], customer: str, *workers: str) -> list[Any]:
    """What `loyalty run` says (exit code, output, problems) and the points `customer` holds after,
    on each number of workers ("memory": one process, in memory, nothing held after)."""
    program, stream = tmp_path / "store-test.yaml", tmp_path / "events.jsonl"
    program.write_text(NO_BUDGET)
    stream.write_text("".join(json.dumps(line) + "\n" for line in lines))
    runs = []
    for count in workers:
        db = str(tmp_path / f"{count}.db")
        args = ["run", str(program), str(stream), "--horizon", "none", "--batch", "50"]
        args += ["--workers", count, "--db", db] if count != "memory" else []
        done = CliRunner().invoke(app, args, env={"LOYALTY_SECRET": SECRET})
        assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
        held = None
        if count != "memory":
            with open_store(db, "store-test") as store:
                state = store.state(customer)
                assert state is not None
                held = sum(lot.points for lot in state.lots)
        runs.append((done.exit_code, done.stdout, done.stderr, held))
    return runs


REFEREE, FILLER, REFERRER = ON_0[0], ON_0[1:20], ON_1[0]
BUSY = [purchase(f"e{i}", FILLER[i % len(FILLER)], i - 300) for i in range(300)]  # worker 0's
"""Lines 1-300, which keep the referee's worker busy: the referrer's, on the other, runs ahead."""


def test_run_on_workers_refuses_a_referrer_known_from_a_later_line_at_an_earlier_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purchase's line (302) comes before the referrer's first (303), whose time is earlier:
    one process does not know the referrer yet (RE607), and N workers, whose store holds line 303
    when the purchase's turn comes, say so too."""
    lines = [*BUSY, signup("s", REFEREE, 0, REFERRER), purchase("q", REFEREE, 2), purchase("f", REFERRER, 1)]
    hold_back(monkeypatch, 302, until=303)
    memory, *runs = runs_on(tmp_path, lines, REFERRER, "memory", "1", "2", "3")
    assert runs[0] == runs[1] == runs[2]
    assert memory[:3] == runs[0][:3]
    assert "warning[RE607]: line 302: the referral code" in memory[2] and runs[0][3] == 20


def test_run_on_workers_rewards_a_referrer_known_before_the_purchase_with_later_lines_done_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The referrer's first line (1) is before the purchase's (303), their next (304) after it and
    committed first: they were known, and are paid once, as one process pays them."""
    lines = [purchase("f0", REFERRER, -400), *BUSY, signup("s", REFEREE, 0, REFERRER)]
    lines += [purchase("q", REFEREE, 2), purchase("f", REFERRER, 3)]
    hold_back(monkeypatch, 303, until=304)
    memory, *runs = runs_on(tmp_path, lines, REFERRER, "memory", "1", "2", "3")
    assert runs[0] == runs[1] == runs[2]
    assert memory[:3] == runs[0][:3]
    assert runs[0][0] == 0 and runs[0][3] == 20 + 50 + 20
