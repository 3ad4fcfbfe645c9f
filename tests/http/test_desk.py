"""The support desk over HTTP and at the command line: voiding an event, erasing a customer, bulk
coupon codes. What each does in detail is tested under tests/tools/; here: the routes, their
scope, their answers and errors, the commands' output and exit statuses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.http import Settings
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from tests.conftest import ROOT
from tests.http.conftest import Server, exact, post, purchase, serving

P = "/v1/programs/coffee-club"
PROGRAM = str(ROOT / "programs" / "coffee-club.yaml")


@pytest.fixture
def server(program_dir: Path, tmp_path: Path) -> Iterator[Server]:
    with serving(Settings(programs=program_dir, db=str(tmp_path / "desk.db"))) as running:
        running.keys["admin"] = running.add_key(["admin"])
        yield running


def test_a_void_over_http_reverses_the_event_once_and_the_books_reconcile(server: Server) -> None:
    now = dt.datetime.now(dt.UTC)
    with server.client(server.keys["admin"]) as admin:
        assert (
            post(admin, f"{P}/events", purchase(1, "desk", at=now - dt.timedelta(hours=2))).status_code == 200
        )
        before = exact(admin.get(f"{P}/customers/desk"))["balance"]["total"]
        assert (
            post(admin, f"{P}/events", purchase(2, "desk", at=now - dt.timedelta(hours=1))).status_code == 200
        )
        path = f"{P}/customers/desk/voids"
        asked = {"id": "void-1", "event": "evt-desk-2", "reason": "scanned twice"}
        voided = post(admin, path, asked)
        assert voided.status_code == 200, voided.text
        body = exact(voided)
        assert body["balance"]["total"] == before and body["duplicate"] is False
        assert body["void"]["voided"] == "evt-desk-2" and body["void"]["points"] < 0
        assert exact(post(admin, path, asked))["duplicate"] is True
        again = post(admin, path, {**asked, "id": "void-2"})
        assert (again.status_code, again.json()["code"]) == (422, "RE446")
        reused = post(admin, path, {**asked, "event": "evt-desk-1"})
        assert (reused.status_code, reused.json()["code"]) == (409, "RE443")
        unknown = post(admin, path, {"id": "void-3", "event": "nope", "reason": "x"})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "RE447")
        nobody = post(admin, f"{P}/customers/nobody/voids", {"id": "v", "event": "e", "reason": "x"})
        assert (nobody.status_code, nobody.json()["code"]) == (404, "RE606")
        ledger = exact(admin.get(f"{P}/customers/desk/ledger"))["entries"]
        # one reversal per lot the voided event earned (one or two: early-bird fires before 10:00 in
        # the program's zone, and `now` is the wall clock), each naming the voided event
        earned = {e["lot"]: e["points"] for e in ledger if e["event"] == "evt-desk-2" and e["kind"] == "earn"}
        voids = [e for e in ledger if e["event"] == "void-1"]
        assert {(e["rule"], e["kind"]) for e in voids} == {("void:evt-desk-2", "reverse")}
        assert {e["lot"]: -e["points"] for e in voids} == earned and earned
        assert exact(admin.get(f"{P}/ledger/export"))["summary"]["reconciles"] is True
    limited = server.add_key(["customers:read", "events:write", "redemptions:write", "programs:write"])
    with server.client(limited) as desk:
        assert post(desk, path, {"id": "v9", "event": "evt-desk-1", "reason": "x"}).status_code == 403


def test_the_command_line_voids_once_and_says_why_not(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    from rules_engine.engine.evaluator import Engine

    engine = Engine.from_file(PROGRAM)
    with open_store(db, "coffee-club") as store:
        loyalty = Loyalty(engine, store, horizon=None)
        loyalty.process(purchase(1, "kira"))
        loyalty.process(purchase(2, "kira"))
    command = ["void", PROGRAM, "kira", "evt-kira-2", "--db", db, "--reason", "twice", "--id", "v1"]
    first = CliRunner().invoke(app, [*command, "--operator", "olga"])
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("v1: voided evt-kira-2 of kira by olga (twice): applied; points -")
    assert "kept as they are: notifications sent" in first.stdout
    again = CliRunner().invoke(app, [*command, "--operator", "olga"])
    assert "applied before, nothing changed" in again.stdout
    twice = CliRunner().invoke(app, [*command[:-1], "v2", "--operator", "olga"])
    assert twice.exit_code == 1 and "error[RE446]" in twice.stderr and "v1" in twice.stderr


def test_an_erasure_over_http_keeps_the_books_and_forgets_the_customer(server: Server) -> None:
    now = dt.datetime.now(dt.UTC)
    with server.client(server.keys["admin"]) as admin:
        for number in (1, 2):
            event = purchase(number, "gdpr", at=now - dt.timedelta(hours=3 - number))
            assert post(admin, f"{P}/events", event).status_code == 200
        books = exact(admin.get(f"{P}/ledger/export"))["summary"]
        erased = admin.delete(f"{P}/customers/gdpr")
        assert erased.status_code == 200, erased.text
        body = exact(erased)["erasure"]
        assert body["points"] > 0 and body["pseudonym"].startswith("erased-")
        assert exact(admin.get(f"{P}/ledger/export"))["summary"] == books
        assert admin.get(f"{P}/customers/gdpr").status_code == 404
        assert (admin.delete(f"{P}/customers/gdpr").json()["code"]) == "RE606"
        assert exact(admin.get(f"{P}/customers/{body['pseudonym']}"))["balance"]["total"] == body["points"]
    with server.client(server.add_key(["customers:read", "events:write"])) as reader:
        assert reader.delete(f"{P}/customers/{body['pseudonym']}").status_code == 403


def test_the_command_line_erases(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    from rules_engine.engine.evaluator import Engine

    with open_store(db, "coffee-club") as store:
        Loyalty(Engine.from_file(PROGRAM), store, horizon=None).process(purchase(1, "gone"))
    first = CliRunner().invoke(app, ["erase", PROGRAM, "gone", "--db", db, "--operator", "dpo"])
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("gone: erased by dpo; ") and "kept as erased-" in first.stdout
    again = CliRunner().invoke(app, ["erase", PROGRAM, "gone", "--db", db])
    assert again.exit_code == 1 and "error[RE606]" in again.stderr


def test_bulk_codes_over_http_are_generated_imported_exported_and_honoured(server: Server) -> None:
    codes_path = f"{P}/coupons/free-latte/codes"
    with server.client(server.keys["admin"]) as admin:
        made = post(admin, codes_path, {"count": 3, "prefix": "WEB-", "batch": "web"})
        assert made.status_code == 200, made.text
        codes = exact(made)["codes"]
        assert len(codes) == 3 and all(code.startswith("WEB-") for code in codes)
        imported = admin.post(
            codes_path,
            content=b"code\nshop-0001\n",
            headers={"Content-Type": "text/csv"},
            params={"batch": "shop"},
        )
        assert imported.status_code == 200 and exact(imported)["codes"] == ["SHOP-0001"]
        refused = admin.post(
            codes_path, content=b"code\nSHOP-0002\n?\nSHOP-0002\n", headers={"Content-Type": "text/csv"}
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "RE445")
        assert len(refused.json()["errors"]) == 2
        nothing = post(admin, f"{P}/coupons/free-lat/codes", {"count": 1})
        assert (nothing.status_code, nothing.json()["code"]) == (404, "RE444")
        assert post(admin, codes_path, {"count": 0}).status_code == 400

        event = {**purchase(1, "flyer", at=dt.datetime.now(dt.UTC)), "coupons": [codes[0]]}
        outcome = exact(post(admin, f"{P}/events", event))["outcome"]
        assert outcome["effects"]["coupons_redeemed"] == [codes[0]]

        exported = admin.get(codes_path)
        assert exported.headers["content-type"].startswith("text/csv")
        lines = exported.text.splitlines()
        assert lines[0] == "code,coupon,batch,created_at,claimed_at" and len(lines) == 5
        claimed = [line for line in lines if line.startswith(codes[0])]
        assert claimed and not claimed[0].endswith(",")
        as_json = exact(admin.get(codes_path, params={"format": "json"}))
        assert {c["code"] for c in as_json["codes"]} == {*codes, "SHOP-0001"}


def test_the_command_line_generates_imports_and_exports_codes(tmp_path: Path) -> None:
    db = str(tmp_path / "codes.db")
    open_store(db, "coffee-club").close()  # the commands open a store, `run` and `serve` make one
    made = CliRunner().invoke(app, ["coupons", "generate", PROGRAM, "free-latte", "--db", db, "--count", "4"])
    assert made.exit_code == 0, made.output
    lines = made.stdout.splitlines()
    assert lines[0] == "code,coupon,batch,created_at,claimed_at" and len(lines) == 5
    source = tmp_path / "codes.csv"
    source.write_text("PARTNER-1\nPARTNER-2\n")
    imported = CliRunner().invoke(app, ["coupons", "import", PROGRAM, "free-latte", str(source), "--db", db])
    assert imported.exit_code == 0 and imported.stdout.startswith("2 code(s) imported for free-latte")
    again = CliRunner().invoke(app, ["coupons", "import", PROGRAM, "free-latte", str(source), "--db", db])
    assert again.exit_code == 1 and "error[RE445]" in again.stderr
    exported = CliRunner().invoke(app, ["coupons", "export", PROGRAM, "free-latte", "--db", db])
    assert exported.exit_code == 0 and len(exported.stdout.splitlines()) == 7
    unknown = CliRunner().invoke(app, ["coupons", "export", PROGRAM, "free-lat", "--db", db])
    assert unknown.exit_code == 1 and "error[RE444]" in unknown.stderr


@pytest.mark.parametrize("kind", ["adjustments", "voids"])
def test_a_correction_erased_right_after_is_answered_with_the_state_it_saved(
    server: Server, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The answer's balance was read after the correction's transaction: an erasure committing
    in between made an applied adjustment or void a 500, and its retry a 404. The balance is now
    the state the correction saved."""
    operation = Loyalty.adjust if kind == "adjustments" else Loyalty.void

    def then_erased(self: Loyalty, asked: Any) -> Any:
        booked = operation(self, asked)
        Loyalty(self.engine, self.store).erase(asked.customer, operator="gdpr", at=asked.at)
        return booked

    monkeypatch.setattr(Loyalty, "adjust" if kind == "adjustments" else "void", then_erased)
    now = dt.datetime.now(dt.UTC)
    with server.client(server.keys["admin"]) as admin:
        for n in (1, 2):
            assert post(
                admin, f"{P}/events", purchase(n, "gone", at=now - dt.timedelta(hours=3 - n))
            ).is_success
        before = exact(admin.get(f"{P}/customers/gone"))["balance"]["total"]
        asked = {"id": "c-1", "points": 100, "event": "evt-gone-2", "reason": "x"}
        if kind == "adjustments":
            del asked["event"]
        else:
            del asked["points"]
        answer = post(admin, f"{P}/customers/gone/{kind}", asked)
        assert answer.status_code == 200, answer.text
        body = exact(answer)
        assert body["duplicate"] is False
        changed = body["adjustment"]["points"] if kind == "adjustments" else body["void"]["points"]
        assert body["balance"]["total"] == before + changed != before
        assert admin.get(f"{P}/customers/gone").status_code == 404
