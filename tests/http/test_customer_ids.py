"""A customer id in a URL that no store can hold — longer than an event's ids may be (200
characters) or with a NUL — is no customer of the store: 404 (RE606) on every customer route, the
store never asked (PostgreSQL failed on the NUL: 503, RE810), and the answer's words quote the id's
start, not 10 KB of it; so do an unknown program's (404, RE803)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rules_engine.http import Settings
from tests.http.conftest import exact, post, purchase, serving

P = "/v1/programs/coffee-club"
LONG = "c" * 10_000
IDS = {"long": LONG, "nul": "a%00b"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ids.db")
    database: str = request.getfixturevalue("postgres_database")
    return database


@pytest.mark.parametrize("which", sorted(IDS))
def test_an_id_no_store_can_hold_is_no_customer_on_every_route(
    program_dir: Path, db: str, which: str
) -> None:
    customer = IDS[which]
    with serving(Settings(programs=program_dir, db=db)) as server:
        key = server.add_key(["admin", "customers:read", "events:write"])
        with server.client(key) as client:
            at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
            exact(post(client, f"{P}/events", purchase(1, "anna", at=at)))  # the store holds someone
            answers = [
                client.get(f"{P}/customers/{customer}"),
                client.get(f"{P}/customers/{customer}/ledger"),
                client.delete(f"{P}/customers/{customer}"),
                client.post(
                    f"{P}/customers/{customer}/adjustments",
                    json={"id": "adj-1", "points": 5, "reason": "goodwill"},
                ),
                client.post(
                    f"{P}/customers/{customer}/voids", json={"id": "void-1", "event": "e1", "reason": "x"}
                ),
            ]
            for answer in answers:
                assert answer.status_code == 404, answer.text
                assert answer.json()["code"] == "RE606"
                assert len(answer.json()["detail"]) < 200  # (`instance` is the request's path, as sent)
            assert exact(client.get(f"{P}/customers/anna"))["state"]["customer"] == "anna"


def test_an_unknown_programs_long_name_is_quoted_by_its_start(program_dir: Path, tmp_path: Path) -> None:
    with serving(Settings(programs=program_dir, db=str(tmp_path / "p.db"))) as server:
        key = server.add_key(["customers:read"])
        with server.client(key) as client:
            answer = client.get(f"/v1/programs/{'p' * 10_000}/customers/anna")
    assert answer.status_code == 404 and answer.json()["code"] == "RE803"
    assert "10,000 characters" in answer.json()["detail"] and len(answer.json()["detail"]) < 200
