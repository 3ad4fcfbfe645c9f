"""The routes against a real server on loopback: events exactly once, refusals as problems,
customers and their ledgers, redemptions, dry-runs, programs and uploads, the books, health and
metrics. One server (SQLite) serves the whole module; each test uses its own customers."""

from __future__ import annotations

import datetime as dt
import gc
import re
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.http import Settings
from rules_engine.service import Loyalty
from tests.conftest import ROOT
from tests.http.conftest import PROGRAMS, Server, exact, post, purchase, serving

EVENTS = "/v1/programs/coffee-club/events"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("programs")
    for program in PROGRAMS:
        (folder / f"{program}.yaml").write_text(
            (ROOT / "programs" / f"{program}.yaml").read_text(encoding="utf-8"), encoding="utf-8"
        )
    db = str(tmp_path_factory.mktemp("db") / "loyalty.db")
    with serving(Settings(programs=folder, db=db, max_body=64 * 1024)) as running:
        running.keys["admin"] = running.add_key(["admin"])
        yield running


@pytest.fixture
def admin(server: Server) -> Iterator[Any]:
    with server.client(server.keys["admin"]) as client:
        yield client


def alone(events: list[dict[str, Any]]) -> Loyalty:
    """The same events through the engine and a memory store: what the service must agree with."""
    loyalty = Loyalty.in_memory(Engine.from_file(ROOT / "programs" / "coffee-club.yaml"))
    for event in events:
        loyalty.handle(event)
    return loyalty


def test_an_event_is_applied_once_and_a_redelivery_gets_the_original_outcome(admin: Any) -> None:
    first = post(admin, EVENTS, purchase(1, "ivan"))
    assert first.status_code == 200, first.text
    assert first.headers["Loyalty-Program-Version"] == "3"
    body = exact(first)
    assert (body["program"], body["version"], body["duplicate"]) == ("coffee-club", 3, False)
    expected = alone([purchase(1, "ivan")]).store.state("ivan")
    assert expected is not None
    assert body["balance"]["total"] == sum(lot.points for lot in expected.lots)
    assert "state" not in body["outcome"] and body["outcome"]["totals"]["points"] > 0

    again = exact(post(admin, EVENTS, purchase(1, "ivan")))
    assert again["duplicate"] is True
    assert again["outcome"] == body["outcome"]
    assert again["balance"] == body["balance"]


def test_numbers_are_exact_both_ways(admin: Any) -> None:
    """320.10 × 2 is sent and read back digit for digit (a float would give 640.2000000000001)."""
    body = exact(post(admin, EVENTS, purchase(1, "nina", price="320.10")))
    assert body["outcome"]["totals"]["basket"] == Decimal("640.2")
    # digit for digit in the text itself (compact or spaced, as the writer likes)
    assert re.search(r'"basket": ?640\.2[,}]', post(admin, EVENTS, purchase(1, "nina", price="320.10")).text)


def test_the_same_id_with_another_payload_is_a_conflict(admin: Any) -> None:
    assert post(admin, EVENTS, purchase(1, "olga")).status_code == 200
    refused = post(admin, EVENTS, purchase(1, "olga", price="9000.00"))
    assert refused.status_code == 409
    problem = refused.json()
    assert refused.headers["content-type"] == "application/problem+json"
    assert problem["code"] == "RE443" and problem["type"] == "urn:loyalty:error:RE443"
    assert problem["request_id"] == refused.headers["x-request-id"]


def test_a_malformed_event_is_refused_with_every_field_at_its_path(admin: Any) -> None:
    event = {**purchase(1, "petr"), "items": [{"sku": "X", "price": -1, "qty": 1}], "color": "red"}
    refused = post(admin, EVENTS, event)
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert {e["code"] for e in errors} == {"RE410"}
    assert ["items", 0, "price"] in [e["path"] for e in errors]
    assert admin.get("/v1/programs/coffee-club/customers/petr").status_code == 404


@pytest.mark.parametrize(
    ("content", "code", "status"),
    [
        (b"{not json", "RE805", 400),
        (b"", "RE805", 400),
        (b"\xff\xfe", "RE805", 400),
        (b'{"a": 1, "a": 2}', "RE805", 400),
        (b"[1, 2]", "RE410", 422),
        (b"x" * (64 * 1024 + 1), "RE804", 413),
    ],
    ids=["not-json", "empty", "not-utf8", "duplicate-key", "not-an-object", "too-large"],
)
def test_a_body_the_service_cannot_read_is_a_problem(
    admin: Any, content: bytes, code: str, status: int
) -> None:
    refused = admin.post(EVENTS, content=content)
    assert (refused.status_code, refused.json()["code"]) == (status, code)


def test_a_chunked_body_past_the_limit_is_refused_as_it_arrives(admin: Any) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            yield b" " * 1024

    refused = admin.post(EVENTS, content=chunks())
    assert (refused.status_code, refused.json()["code"]) == (413, "RE804")


def test_unknown_things_are_404_and_wrong_methods_405(admin: Any) -> None:
    assert admin.get("/v1/programs/no-such/customers/x").json()["code"] == "RE803"
    assert admin.get("/v1/programs/coffee-club/customers/nobody").json()["code"] == "RE606"
    missing = admin.get("/v2/anything")
    assert (missing.status_code, missing.json()["code"]) == (404, "RE808")
    wrong = admin.delete(EVENTS)
    assert (wrong.status_code, wrong.json()["code"]) == (405, "RE808")


def test_no_response_shows_a_traceback_or_the_database(
    server: Server, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that fails with the driver's words (which may quote SQL) answers 503 without them;
    an unexpected exception answers 500 with the request id only."""
    from rules_engine.errors import Diagnostic, StoreError

    def broken(*_: Any, **__: Any) -> Any:
        raise StoreError(
            [Diagnostic("RE605", "sqlite:///x.db: the database failed: near SELECT * FROM customers")]
        )

    monkeypatch.setattr(server.runtime.stores, "borrow", broken)
    failed = post(admin, EVENTS, purchase(1, "quentin"))
    assert (failed.status_code, failed.json()["code"]) == (503, "RE810")
    assert "SELECT" not in failed.text and "x.db" not in failed.text

    def crash(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals at /srv/app.py line 3")

    monkeypatch.setattr(server.runtime.stores, "borrow", crash)
    crashed = post(admin, EVENTS, purchase(1, "quentin"))
    assert (crashed.status_code, crashed.json()["code"]) == (500, "RE809")
    assert "secret" not in crashed.text and "Traceback" not in crashed.text


def test_after_an_unexpected_error_the_connection_keeps_serving(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 500 used to close the kept-alive connection (Starlette raises the exception again after
    answering, and uvicorn then closes): a client's next request on it was reset under load."""

    def crash(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.runtime.stores, "borrow", crash)
    body = jsonio.dumps(purchase(1, "ursula")).encode()
    request = (
        f"POST {EVENTS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.keys['admin']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        reader = connection.makefile("rb")
        for _ in range(2):  # the second request goes on the same connection
            connection.sendall(request)
            status = reader.readline()
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            reader.read(int(headers["content-length"]))
            assert status.split()[1] == b"500" and headers.get("connection") != "close"


def test_a_customer_and_their_ledger_page_by_page(admin: Any) -> None:
    events = [purchase(n, "rita") for n in range(1, 6)]
    for event in events:
        assert post(admin, EVENTS, event).status_code == 200
    customer = exact(admin.get("/v1/programs/coffee-club/customers/rita"))
    state = alone(events).store.state("rita")
    assert state is not None
    assert customer["state"]["visits"] == 5 == state.visits
    assert customer["balance"]["total"] == sum(lot.points for lot in state.lots)

    seen: list[int] = []
    after = 0
    while True:
        page = exact(
            admin.get("/v1/programs/coffee-club/customers/rita/ledger", params={"after": after, "limit": 3})
        )
        seen += [entry["seq"] for entry in page["entries"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    everything = exact(admin.get("/v1/programs/coffee-club/customers/rita/ledger", params={"limit": 1000}))
    assert seen == [entry["seq"] for entry in everything["entries"]] and len(seen) > 3
    assert sum(e["points"] for e in everything["entries"]) == customer["balance"]["total"]
    assert admin.get("/v1/programs/coffee-club/customers/rita/ledger", params={"limit": 0}).status_code == 422


def test_a_redemption_spends_once_and_too_few_points_are_refused(admin: Any) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)  # past the pending period
    for n in range(3):
        bought = purchase(n, "sam", price="5000.00", at=long_ago + dt.timedelta(minutes=n))
        assert post(admin, EVENTS, bought).status_code == 200
    now = dt.datetime.now(dt.UTC)
    redemption = {"id": "red-1", "item": "free-latte", "time": now.isoformat()}
    path = "/v1/programs/coffee-club/customers/sam/redemptions"
    spent = post(admin, path, redemption)
    assert spent.status_code == 200, spent.text
    body = exact(spent)
    assert body["outcome"]["effects"]["points_changes"][-1]["kind"] == "burn"
    assert exact(post(admin, path, redemption))["duplicate"] is True
    for number in range(2, 100):  # spend until the points run out
        again = post(admin, path, {"id": f"red-{number}", "item": "free-latte", "time": now.isoformat()})
        if again.status_code != 200:
            break
    assert (again.status_code, again.json()["code"]) == (422, "RE430")
    assert exact(again)["errors"][0]["message"].startswith("not enough points")
    assert post(admin, path, {**redemption, "id": "red-x", "item": "no-such"}).json()["code"] == "RE431"
    assert post(admin, path, {"item": "free-latte"}).json()["code"] == "RE805"
    assert post(admin, path, {**redemption, "time": "2026-12-01T10:00:00"}).json()["code"] == "RE410"


def _afternoon() -> dt.datetime:
    """15:00 in Moscow (coffee-club's zone) a day or more ago, not on a Tuesday: no time-of-day
    or weekday rule fires (`early-bird` before 10:00, `double-tuesday`), whenever the test runs.
    With `BASE` (two hours ago) the test failed from 23:00 to 09:00 UTC: `early-bird` fired, and
    `big-order` lost to it in their exclusive group without its condition being evaluated."""
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    while day.weekday() == 1:  # Tuesday (12:00 UTC is the same day in Moscow)
        day -= dt.timedelta(days=1)
    return day


def test_a_dry_run_stores_nothing_and_explains(admin: Any) -> None:
    path = "/v1/programs/coffee-club/dry-run"
    afternoon = _afternoon()
    answer = post(admin, f"{path}?explain=true", {"event": purchase(1, "tom", at=afternoon)})
    assert answer.status_code == 200, answer.text
    outcome = exact(answer)["outcome"]
    assert outcome["state"]["visits"] == 1
    assert any(rule.get("condition") for rule in outcome["trace"] if not rule["fired"])
    assert admin.get("/v1/programs/coffee-club/customers/tom").status_code == 404
    later = purchase(2, "tom", at=afternoon + dt.timedelta(minutes=1))
    chained = exact(post(admin, path, {"event": later, "state": outcome["state"]}))
    assert chained["outcome"]["state"]["visits"] == 2
    assert post(admin, path, {"events": []}).json()["code"] == "RE805"
    assert post(admin, path, {"event": purchase(1, "tom"), "state": {"visits": -1}}).json()["code"] == "RE420"


def test_programs_are_listed_with_their_version_and_hash(admin: Any) -> None:
    listed = admin.get("/v1/programs").json()["programs"]
    assert [p["program"] for p in listed] == sorted(PROGRAMS)
    one = admin.get("/v1/programs/coffee-club").json()
    assert one["version"] == 3 and one["digest"].startswith("sha256:")


def test_the_ledger_export_is_the_books(admin: Any) -> None:
    post(admin, EVENTS, purchase(1, "uma"))
    books = exact(admin.get("/v1/programs/coffee-club/ledger/export"))
    assert books["summary"]["reconciles"] is True
    assert books["summary"]["closing"]["points"] == books["summary"]["balances"]
    csv = admin.get("/v1/programs/coffee-club/ledger/export", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("date,")
    swapped = admin.get(
        "/v1/programs/coffee-club/ledger/export", params={"from": "2026-12-02", "to": "2026-12-01"}
    )
    assert swapped.json()["code"] == "RE807"


def test_health_readiness_and_metrics(server: Server, admin: Any) -> None:
    with server.client() as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/readyz").json() == {"status": "ready"}
        post(admin, EVENTS, purchase(1, "vera"))
        metrics = anonymous.get("/metrics").text
    assert (
        'loyalty_http_requests_total{method="POST",route="/v1/programs/{program}/events",status="200"}'
        in metrics
    )
    assert 'loyalty_events_total{program="coffee-club",result="applied",type="purchase"}' in metrics
    assert (  # latency by status too: a slow refusal and a slow success are told apart
        'loyalty_http_request_duration_seconds_count{method="POST",route="/v1/programs/{program}/events",'
        'status="200"}' in metrics
    )


def _pauses(metrics: str, generation: int) -> tuple[int, float]:
    """`loyalty_collector_pause_seconds`' count and sum for one generation."""
    found = dict(
        re.findall(
            rf'^loyalty_collector_pause_seconds_(count|sum){{generation="{generation}"}} (\S+)$',
            metrics,
            re.M,
        )
    )
    return int(float(found["count"])), float(found["sum"])


def test_the_collectors_pauses_are_timed_while_the_app_runs(tmp_path: Path) -> None:
    """Every walk of the garbage collector holds the worker, and every request in flight waits it
    out: /metrics times each by generation while the app runs, and the app's end takes its
    callback away (the callbacks are the process's)."""
    folder = tmp_path / "programs"
    folder.mkdir()
    (folder / "coffee-club.yaml").write_bytes((ROOT / "programs" / "coffee-club.yaml").read_bytes())
    callbacks = list(gc.callbacks)
    with (
        serving(Settings(programs=folder, db=str(tmp_path / "loyalty.db"))) as running,
        running.client() as anonymous,
    ):
        before = _pauses(anonymous.get("/metrics").text, 2)
        gc.collect()
        gc.collect()
        after = _pauses(anonymous.get("/metrics").text, 2)
    assert after[0] >= before[0] + 2 and after[1] > before[1]
    assert gc.callbacks == callbacks


def test_the_schema_is_openapi_3_1_with_the_engine_models(server: Server) -> None:
    with server.client() as anonymous:
        schema = anonymous.get("/openapi.json").json()
        assert anonymous.get("/docs").status_code == 200
    assert schema["openapi"].startswith("3.1")
    components = schema["components"]["schemas"]
    assert {"Event", "Purchase", "CustomerState", "Outcome", "OutcomeSummary", "Problem"} <= set(components)
    assert "state" not in components["OutcomeSummary"]["properties"]
    assert set(components["Outcome"]["properties"]) - {"state"} == set(
        components["OutcomeSummary"]["properties"]
    )
    events = schema["paths"]["/v1/programs/{program}/events"]["post"]
    assert events["security"] == [{"ApiKey": ["events:write"]}]


def test_a_request_id_is_kept_or_made(server: Server) -> None:
    with server.client() as anonymous:
        assert (
            anonymous.get("/healthz", headers={"X-Request-Id": "till-7.42"}).headers["x-request-id"]
            == "till-7.42"
        )
        made = anonymous.get("/healthz", headers={"X-Request-Id": "no spaces allowed"}).headers[
            "x-request-id"
        ]
    assert len(made) == 32


def test_settings_reach_the_app(tmp_path: Path, program_dir: Path) -> None:
    """A folder with a broken program never starts: every problem, before anything listens."""
    from rules_engine.errors import ProgramError
    from rules_engine.http import create_app

    (program_dir / "broken.yaml").write_text("program: broken\nversion: 0\n", encoding="utf-8")
    with pytest.raises(ProgramError) as refused:
        create_app(Settings(programs=program_dir, db="memory:"))
    assert {d.code for d in refused.value.diagnostics} >= {"RE112"}
