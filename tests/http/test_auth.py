"""Who may call what: every route × no key, a wrong key, a revoked key, a key without the scope,
a key with the scope, a key with the scope for another program only.

The answer to "may you" comes before anything else: a refused caller learns nothing about the
program or the customer (401 and 403 whether they exist or not), and nothing is written."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from starlette.concurrency import run_in_threadpool

from rules_engine.http import Settings, auth
from rules_engine.http.runtime import KeyCache
from rules_engine.store.keys import SCOPES, ApiKey, new_key, parse_token
from tests.http.conftest import Server, post, purchase, serving

P = "/v1/programs/coffee-club"
NOW = dt.datetime.now(dt.UTC).isoformat()

# (method, path, the scope it needs (None: any valid key), body)
ROUTES: list[tuple[str, str, str | None, Any]] = [
    ("POST", f"{P}/events", "events:write", purchase(1, "matrix")),
    ("POST", f"{P}/dry-run", "events:write", {"event": purchase(2, "matrix")}),
    ("GET", f"{P}/customers/matrix", "customers:read", None),
    ("GET", f"{P}/customers/matrix/ledger", "customers:read", None),
    (
        "POST",
        f"{P}/customers/matrix/redemptions",
        "redemptions:write",
        {"id": "r", "item": "free-latte", "time": NOW},
    ),
    ("POST", f"{P}/customers/matrix/voids", "admin", {"id": "v", "event": "no-such-event", "reason": "x"}),
    ("DELETE", f"{P}/customers/nobody", "admin", None),
    ("GET", f"{P}/coupons/free-latte/codes", "admin", None),
    ("POST", f"{P}/coupons/no-such-coupon/codes", "admin", {"count": 1}),
    ("GET", f"{P}/ledger/export", "customers:read", None),
    ("PUT", P, "programs:write", "program: coffee-club\n"),
    ("GET", P, None, None),
]
# What the right key gets: the route's own answer (a redemption with no points is refused by the
# engine, an upload of a broken program by the validator: both past the authorization).
RIGHT = {"redemptions": 422, "PUT": 422, "voids": 404, "DELETE": 404}
# (a generation for a coupon the program lacks: 404 past the authorization)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from tests.conftest import ROOT

    folder = tmp_path_factory.mktemp("programs")
    for program in ("coffee-club", "book-nook"):
        (folder / f"{program}.yaml").write_bytes((ROOT / "programs" / f"{program}.yaml").read_bytes())
    with serving(Settings(programs=folder, db=str(tmp_path_factory.mktemp("db") / "auth.db"))) as running:
        running.keys["admin"] = running.add_key(["admin"])
        with running.client(running.keys["admin"]) as admin:  # the customer the routes read
            assert post(admin, f"{P}/events", purchase(1, "matrix")).status_code == 200
        yield running


def call(server: Server, token: str | None, method: str, path: str, body: Any) -> Any:
    with server.client(token) as client:
        if isinstance(body, str):
            return client.request(method, path, content=body.encode())
        if body is not None:
            return post(client, path, body)
        return client.request(method, path)


def expected_success(method: str, path: str) -> int:
    if "no-such-coupon" in path:
        return 404
    last = path.rsplit("/", 1)[-1]
    return RIGHT.get(last if last in RIGHT else method, 200)


@pytest.mark.parametrize(
    ("method", "path", "scope", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES]
)
def test_every_route_refuses_who_may_not_and_serves_who_may(
    server: Server, method: str, path: str, scope: str | None, body: Any
) -> None:
    nobody = call(server, None, method, path, body)
    assert (nobody.status_code, nobody.json()["code"]) == (401, "RE801")
    assert nobody.headers["www-authenticate"] == "Bearer"
    assert call(server, "lk_000000000000_" + "x" * 43, method, path, body).status_code == 401
    assert call(server, "not a key", method, path, body).status_code == 401

    if scope is not None:
        others = [s for s in SCOPES if s not in (scope, "admin")]
        wrong = call(server, server.add_key(others), method, path, body)
        assert (wrong.status_code, wrong.json()["code"]) == (403, "RE802"), wrong.text
        assert scope in wrong.json()["detail"]

    granted = [scope] if scope else ["customers:read"]
    other_program = call(server, server.add_key(granted, ["book-nook"]), method, path, body)
    assert (other_program.status_code, other_program.json()["code"]) == (403, "RE802")

    right = call(server, server.add_key(granted, ["coffee-club"]), method, path, body)
    assert right.status_code == expected_success(method, path), right.text
    admin = call(server, server.keys["admin"], method, path, body)
    assert admin.status_code == expected_success(method, path), admin.text


def test_a_revoked_key_is_refused_within_a_second(server: Server) -> None:
    """A key read from the store is trusted for `Settings.key_cache` (1 s): revoked, it still
    works for what is left of that second, then is refused (docs/service.md says so)."""
    moment = [1000.0]
    cache = server.runtime.keys
    cache.clock = lambda: moment[0]
    try:
        token = server.add_key(["customers:read"])
        assert call(server, token, "GET", f"{P}/customers/matrix", None).status_code == 200  # read now
        parsed = parse_token(token)
        assert parsed is not None
        with server.runtime.stores.keys() as store:
            assert store.revoke_key(parsed[0], dt.datetime.now(dt.UTC))
        moment[0] += 0.9
        assert call(server, token, "GET", f"{P}/customers/matrix", None).status_code == 200  # trusted
        moment[0] += 0.1
        refused = call(server, token, "GET", f"{P}/customers/matrix", None)
        assert (refused.status_code, refused.json()["code"]) == (401, "RE801")
        moment[0] += 0.5  # the revoked key is kept too: refused without reading it again
        assert call(server, token, "GET", f"{P}/customers/matrix", None).status_code == 401
    finally:
        cache.clock = time.monotonic


def test_a_key_in_use_is_read_again_in_the_background_before_its_reading_expires(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past three quarters of its second (`REFRESH`), a request that finds its key in the cache is answered
    from it and has the key read again on another thread: a busy client's requests never find
    the reading expired, so none of them waits for the store to read the key."""
    moment = [1000.0]
    cache = server.runtime.keys
    cache.clock = lambda: moment[0]
    reads: list[str] = []
    waited: list[str] = []  # the reads a request waited for
    read, on_a_thread = KeyCache.read, run_in_threadpool

    def counted(self: KeyCache, key_id: str) -> ApiKey | None:
        reads.append(key_id)
        return read(self, key_id)

    async def waiting_for(function: Any, *args: Any) -> Any:
        waited.append(args[0])
        return await on_a_thread(function, *args)

    monkeypatch.setattr(KeyCache, "read", counted)
    monkeypatch.setattr(auth, "run_in_threadpool", waiting_for)
    try:
        token = server.add_key(["customers:read"])
        path = f"{P}/customers/matrix"
        assert call(server, token, "GET", path, None).status_code == 200
        assert len(reads) == len(waited) == 1  # not in the cache: read for the request
        moment[0] += 0.6
        assert call(server, token, "GET", path, None).status_code == 200
        assert len(reads) == 1  # fresh enough: not read again
        moment[0] += 0.2  # 0.8 s: past REFRESH
        assert call(server, token, "GET", path, None).status_code == 200
        deadline = time.monotonic() + 10
        while len(reads) < 2:
            assert time.monotonic() < deadline, "the key was not read again"
            time.sleep(0.01)
        moment[0] += 0.7  # 1.5 s after the first reading, 0.7 after the second
        assert call(server, token, "GET", path, None).status_code == 200
        assert len(waited) == 1  # every later request answered from a reading: none waited for one
    finally:
        cache.clock = time.monotonic


def test_requests_that_miss_a_key_at_once_share_one_reading(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key nobody used for a second is read again for the next request; the requests that come
    while it is read wait for that reading rather than each reading the key."""
    reads: list[str] = []
    entered, release = threading.Event(), threading.Event()
    read = KeyCache.read

    def slow(self: KeyCache, key_id: str) -> ApiKey | None:
        reads.append(key_id)
        entered.set()
        assert release.wait(30)  # the others arrive while the store is read
        return read(self, key_id)

    token = server.add_key(["customers:read"])
    monkeypatch.setattr(KeyCache, "read", slow)
    path = f"{P}/customers/matrix"
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(call, server, token, "GET", path, None)
        assert entered.wait(30)
        others = [pool.submit(call, server, token, "GET", path, None) for _ in range(7)]
        time.sleep(0.3)  # all of them waiting on the loop for the first reading
        release.set()
        assert [answer.result(30).status_code for answer in [first, *others]] == [200] * 8
    assert len(reads) == 1
    assert server.runtime.keys.reading == {}  # nothing left once read


def test_a_key_is_read_again_once_at_a_time_and_a_failed_reading_keeps_the_cached_one(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = [1000.0]
    cache = KeyCache(server.runtime.stores, 1.0, clock=lambda: moment[0])
    token = server.add_key(["customers:read"])
    parsed = parse_token(token)
    assert parsed is not None
    key_id = parsed[0]
    assert not cache.due(key_id)  # never read: nothing to read again
    assert cache.read(key_id) is not None
    moment[0] += 0.8
    assert cache.due(key_id)
    assert not cache.due(key_id)  # the first caller reads it; the others do not
    broken = RuntimeError("the database is gone")

    def failing(self: Any) -> Any:
        raise broken

    monkeypatch.setattr(type(server.runtime.stores), "keys", failing)
    cache.refresh(key_id)  # logged, not raised
    assert cache.cached(key_id) is not None  # the first reading still counts, for its second
    assert cache.due(key_id)  # and a later request tries again
    monkeypatch.undo()
    cache.refresh(key_id)
    moment[0] += 0.3  # 1.1 s after the first reading (expired), 0.3 after the second
    assert cache.cached(key_id) is not None
    assert not cache.due(key_id)


def test_without_the_cache_a_revoked_key_is_refused_from_its_next_request(tmp_path: Path) -> None:
    from tests.conftest import ROOT

    folder = tmp_path / "programs"
    folder.mkdir()
    (folder / "coffee-club.yaml").write_bytes((ROOT / "programs" / "coffee-club.yaml").read_bytes())
    with serving(Settings(programs=folder, db=str(tmp_path / "k.db"), key_cache=0)) as running:
        token = running.add_key(["events:write"])
        assert call(running, token, "POST", f"{P}/events", purchase(1, "ned")).status_code == 200
        parsed = parse_token(token)
        assert parsed is not None
        with running.runtime.stores.keys() as store:
            assert store.revoke_key(parsed[0], dt.datetime.now(dt.UTC))
        refused = call(running, token, "POST", f"{P}/events", purchase(2, "ned"))
        assert (refused.status_code, refused.json()["code"]) == (401, "RE801")


def test_a_wrong_secret_is_refused_even_for_a_cached_key(server: Server) -> None:
    """The cache holds what the store says of a key id; the secret is compared every time."""
    token = server.add_key(["customers:read"])
    assert call(server, token, "GET", f"{P}/customers/matrix", None).status_code == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert call(server, forged, "GET", f"{P}/customers/matrix", None).status_code == 401


def test_the_program_list_shows_only_the_programs_a_key_may_use(server: Server) -> None:
    limited = call(server, server.add_key(["events:write"], ["book-nook"]), "GET", "/v1/programs", None)
    assert [p["program"] for p in limited.json()["programs"]] == ["book-nook"]
    everything = call(server, server.keys["admin"], "GET", "/v1/programs", None)
    assert [p["program"] for p in everything.json()["programs"]] == ["book-nook", "coffee-club"]


def test_health_metrics_and_the_schema_need_no_key(server: Server) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert call(server, None, "GET", path, None).status_code == 200, path


def test_keys_are_kept_hashed_and_checked_whole(tmp_path: Path) -> None:
    token, key = new_key(["admin"], ["coffee-club"])
    assert token.startswith(f"lk_{key.id}_") and token.split("_", 2)[2] not in key.digest
    assert key.matches(token)
    assert not key.matches(token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not key.matches(f"lk_{'0' * 12}_{token.split('_', 2)[2]}")  # the secret with another id
    revoked = ApiKey(key.id, key.digest, key.scopes, key.programs, revoked_at=dt.datetime.now(dt.UTC))
    assert not revoked.allows("admin", "coffee-club")
    assert key.allows("events:write", "coffee-club") and not key.allows("events:write", "book-nook")
    with pytest.raises(ValueError, match="unknown scope"):
        new_key(["root"])
