"""`Loyalty-Program-Version` on the answers a program's running version decided (docs/service.md,
Routes): every 200, and every refusal once the route has found the program — an event, a
redemption, a dry-run, an adjustment, a void or bulk codes refused, an unknown customer or event —
so a client can tell which version refused it, as it can for what was applied. Not on what no
version decided: 401 (authorization first), an unknown program, a body the route cannot read, a
failure. Until 2026-12-07 no refusal carried it, though the docs said every answer did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rules_engine.http import Settings
from rules_engine.http.direct import EventsProtocol
from rules_engine.http.protocol import NoDelayHttpToolsProtocol
from tests.http.conftest import Server, exact, post, purchase, serving

P = "/v1/programs/coffee-club"
HEADER = "Loyalty-Program-Version"


@pytest.fixture(params=["direct", "shortcut", "routes"])
def server(program_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """The events route three ways: served by the protocol itself (direct.py), by the shortcut
    (shortcut.py), by FastAPI's route."""
    protocol = EventsProtocol if request.param == "direct" else NoDelayHttpToolsProtocol
    settings = Settings(
        programs=program_dir, db=str(tmp_path / "version.db"), shortcut=request.param != "routes"
    )
    with serving(settings, protocol) as running:
        running.keys["admin"] = running.add_key(["admin"])
        yield running


def refused(answer: httpx.Response, status: int, code: str) -> httpx.Response:
    assert (answer.status_code, exact(answer)["code"]) == (status, code), answer.text[:300]
    return answer


def test_refusals_a_version_decided_name_it_and_the_others_do_not(server: Server) -> None:
    with server.client(server.keys["admin"]) as admin:
        version = exact(admin.get(P))["version"]
        applied = post(admin, f"{P}/events", purchase(1, "vera"))
        assert applied.status_code == 200 and applied.headers[HEADER] == str(version)
        customer = f"{P}/customers/vera"
        redeem = {**purchase(3, "vera"), "type": "redeem", "item": "free-latte"}
        del redeem["items"]
        decided = [
            refused(post(admin, f"{P}/events", {**purchase(2, "vera"), "items": []}), 422, "RE410"),
            refused(
                post(admin, f"{P}/events", redeem),
                422,
                "RE430",
            ),
            refused(
                post(
                    admin,
                    f"{customer}/redemptions",
                    {"id": "r1", "item": "free-latte", "time": redeem["time"]},
                ),
                422,
                "RE430",
            ),
            refused(post(admin, f"{P}/dry-run", {"event": {"id": "d", "type": "nope"}}), 422, "RE410"),
            refused(
                post(admin, f"{customer}/adjustments", {"id": "a1", "points": -(10**9), "reason": "x"}),
                422,
                "RE432",
            ),
            refused(
                post(admin, f"{customer}/adjustments", {"id": "a2", "points": 10**20, "reason": "x"}),
                422,
                "RE449",
            ),
            refused(
                post(admin, f"{customer}/voids", {"id": "v1", "event": "nope", "reason": "x"}), 404, "RE447"
            ),
            refused(
                post(admin, f"{P}/customers/nobody/adjustments", {"id": "a3", "points": 1, "reason": "x"}),
                404,
                "RE606",
            ),
            refused(admin.get(f"{P}/customers/nobody"), 404, "RE606"),
            refused(admin.get(f"{P}/customers/nobody/ledger"), 404, "RE606"),
            refused(admin.delete(f"{P}/customers/nobody"), 404, "RE606"),
            refused(post(admin, f"{P}/coupons/nope/codes", {"count": 1}), 404, "RE444"),
            refused(admin.get(f"{P}/coupons/nope/codes"), 404, "RE444"),
        ]
        for answer in decided:
            assert answer.headers.get(HEADER) == str(version), answer.request.url
        undecided = [
            refused(post(admin, "/v1/programs/nope/events", purchase(4, "vera")), 404, "RE803"),
            refused(admin.post(f"{P}/events", content=b"{not json"), 400, "RE805"),
            refused(post(admin, f"{customer}/adjustments", {"id": "a4", "points": 1}), 400, "RE805"),
            refused(post(admin, f"{P}/dry-run", {"events": []}), 400, "RE805"),
            refused(admin.get(f"{customer}/ledger?limit=0"), 422, "RE807"),
        ]
        for answer in undecided:
            assert HEADER not in answer.headers, answer.request.url
    with server.client() as nobody:
        assert HEADER not in refused(post(nobody, f"{P}/events", purchase(5, "vera")), 401, "RE801").headers
