"""Program uploads: validated first, swapped atomically, never a half-loaded program — and hot
reload while events flow, on one worker and across workers (the file, replaced, is the news)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rules_engine import jsonio
from rules_engine.errors import StoreError
from rules_engine.http import Settings
from rules_engine.http.problems import ServiceError
from rules_engine.http.routes import events
from rules_engine.http.running import Programs
from rules_engine.http.shortcut import Asked, decide_group
from rules_engine.store import open_store
from rules_engine.store.sql import SqlStore
from rules_engine.store.versions import check_version
from tests.http.conftest import Server, exact, post, purchase, serving, started

P = "/v1/programs/coffee-club"
BROKEN = (
    "program: coffee-club\nversion: 9\ntimezone: Mars/Base\ncurrency: RUB\n"
    "earn:\n  - {id: base, rate: 1 per 100, when: 'basket.total >= \"5\"'}\n"
)


def next_version(text: str, version: int = 4, rate: str = "2 per 100") -> str:
    """The coffee club with another version number and base rate."""
    return text.replace("version: 3", f"version: {version}").replace("rate: 1 per 100", f"rate: {rate}")


@pytest.fixture
def server(program_dir: Path, tmp_path: Path) -> Iterator[Server]:
    with serving(Settings(programs=program_dir, db=str(tmp_path / "p.db"))) as running:
        running.keys["admin"] = running.add_key(["admin"])
        yield running


@pytest.fixture
def admin(server: Server) -> Iterator[Any]:
    with server.client(server.keys["admin"]) as client:
        yield client


def upload(client: Any, text: str, program: str = "coffee-club") -> Any:
    return client.put(
        f"/v1/programs/{program}", content=text.encode(), headers={"Content-Type": "application/yaml"}
    )


def test_an_invalid_upload_lists_every_problem_and_the_running_version_keeps_running(
    admin: Any, program_dir: Path
) -> None:
    before = (program_dir / "coffee-club.yaml").read_text(encoding="utf-8")
    refused = upload(admin, BROKEN)
    assert refused.status_code == 422
    problems = refused.json()["errors"]
    assert {p["code"] for p in problems} >= {"RE117", "RE303"}
    for problem in problems:
        assert problem["line"] and problem["column"] and problem["file"] == "coffee-club.yaml"
    assert any(p["hint"] for p in problems)
    assert admin.get(P).json()["version"] == 3
    assert (program_dir / "coffee-club.yaml").read_text(encoding="utf-8") == before
    assert not [p for p in program_dir.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_valid_upload_replaces_the_program_for_the_next_event(admin: Any, program_dir: Path) -> None:
    text = (program_dir / "coffee-club.yaml").read_text(encoding="utf-8")
    assert exact(post(admin, f"{P}/events", purchase(1)))["version"] == 3
    taken = upload(admin, next_version(text))
    assert taken.status_code == 200, taken.text
    assert taken.json()["replaced"] is True and taken.json()["program"]["version"] == 4
    assert taken.headers["Loyalty-Program-Version"] == "4"
    assert (program_dir / "coffee-club.yaml").read_text(encoding="utf-8") == next_version(text)
    after = exact(post(admin, f"{P}/events", purchase(2)))
    assert after["version"] == 4
    assert exact(post(admin, f"{P}/events", purchase(1)))["version"] == 3  # a redelivery: as decided then
    assert upload(admin, next_version(text)).json()["replaced"] is False  # the same text again: nothing
    stale = upload(admin, next_version(text, 4, "3 per 100"))
    assert (stale.status_code, stale.json()["code"]) == (409, "RE806")
    other = upload(
        admin, text.replace("program: coffee-club", "program: tea-club").replace("version: 3", "version: 7")
    )
    assert (other.status_code, other.json()["code"]) == (422, "RE807")


def test_a_bad_upload_while_events_flow_fails_no_event(server: Server, admin: Any) -> None:
    """Four clients send events while bad programs are uploaded: every event is decided, and by
    the good version; then a good upload mid-stream: each client sees 3, then 4, never back."""
    results: dict[int, list[tuple[int, int]]] = {}
    go = threading.Event()

    def client(number: int) -> None:
        seen: list[tuple[int, int]] = []
        with server.client(server.keys["admin"]) as own:
            go.wait()
            for n in range(1, 26):
                answer = post(own, f"{P}/events", purchase(n, f"flow-{number}"))
                seen.append((answer.status_code, exact(answer).get("version", 0)))
        results[number] = seen

    threads = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    go.set()
    text = server.runtime.programs.get("coffee-club").path.read_text(encoding="utf-8")
    for _ in range(5):
        assert upload(admin, BROKEN).status_code == 422
        assert upload(admin, next_version(text).replace("rate: 2 per 100", "rate: two")).status_code == 422
    assert upload(admin, next_version(text)).status_code == 200
    for thread in threads:
        thread.join(60)
    for seen in results.values():
        assert [status for status, _ in seen] == [200] * 25
        versions = [version for _, version in seen]
        assert set(versions) <= {3, 4} and versions == sorted(versions)
    with server.client() as anonymous:
        metrics = anonymous.get("/metrics").text
    assert 'loyalty_program_reloads_total{program="coffee-club",result="refused"} 10.0' in metrics
    assert 'loyalty_program_reloads_total{program="coffee-club",result="replaced"} 1.0' in metrics


def test_another_worker_picks_up_a_replaced_file_and_ignores_a_broken_one(program_dir: Path) -> None:
    """Each worker process holds its programs: the one that took the upload swaps at once, the
    others see the file change on their next request. A file broken by hand changes nothing."""
    first, second = Programs.load(program_dir), Programs.load(program_dir)
    text = (program_dir / "coffee-club.yaml").read_text(encoding="utf-8")
    running, replaced = first.replace("coffee-club", next_version(text))
    assert replaced and running.version == 4
    assert second.get("coffee-club").version == 4
    assert second.get("coffee-club") is second.get("coffee-club")  # loaded once

    seen: list[tuple[str, str]] = []
    second.on_reload = lambda program, result: seen.append((program, result))
    (program_dir / "coffee-club.yaml").write_text(BROKEN, encoding="utf-8")
    assert second.get("coffee-club").version == 4
    assert second.get("coffee-club").version == 4
    assert seen == [("coffee-club", "refused")]  # once, not at every request


def test_two_uploads_of_one_version_to_two_workers_at_once_run_one_of_them(
    program_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers take an upload of the same version, each with other content, at the same time:
    one is accepted, the other refused (409), and both workers run the accepted one. Until
    2026-12-07 both were accepted and each worker ran its own: two programs under one number (the
    version guard reads the versions the store ran, then records the new one: both had read
    before either recorded). The first upload is held between the two until the second has ended,
    or has waited half a second (its turn comes after the first's)."""
    db = str(tmp_path / "versions.db")
    first, second = Programs.load(program_dir), Programs.load(program_dir)
    for programs in (first, second):
        programs.guard = lambda program: _checked(db, program)
    guarding, ended = threading.Event(), threading.Event()
    record = SqlStore.add_version

    def held(store: SqlStore, version: Any) -> Any:
        if threading.current_thread().name == "first":
            guarding.set()
            ended.wait(0.5)
        return record(store, version)

    monkeypatch.setattr(SqlStore, "add_version", held)
    text = (program_dir / "coffee-club.yaml").read_text(encoding="utf-8")
    answers: dict[str, str] = {}

    def upload(programs: Programs, rate: str) -> None:
        try:
            answers[threading.current_thread().name] = programs.replace(
                "coffee-club", next_version(text, 4, rate)
            )[0].digest
        except (ServiceError, StoreError) as error:
            answers[threading.current_thread().name] = error.diagnostics[0].code
        ended.set()

    uploads = [
        threading.Thread(target=upload, args=(first, "2 per 100"), name="first"),
        threading.Thread(target=upload, args=(second, "3 per 100"), name="second"),
    ]
    uploads[0].start()
    assert guarding.wait(30)
    uploads[1].start()
    for thread in uploads:
        thread.join(30)
    accepted = [digest for digest in answers.values() if digest.startswith("sha256:")]
    assert len(accepted) == 1 and {"RE806", "RE611"} & set(answers.values()), answers
    assert first.get("coffee-club").digest == second.get("coffee-club").digest == accepted[0]


def _checked(db: str, program: Any) -> None:
    """The version guard as the service runs it (runtime.py `_guard`), on the store `db`."""
    with open_store(db, program.program) as store:
        check_version(store, program, dt.datetime.now(dt.UTC))


def test_an_upload_to_another_worker_while_a_group_holds_the_store_keeps_the_group_going(
    program_dir: Path, tmp_path: Path
) -> None:
    """The events that join a group once it holds the store are decided with the version this
    worker holds; the file another worker replaced meanwhile is loaded at the next group. Until
    2026-12-07 the joiners' lookup loaded it there and then, and its check against the store waited
    for the connection the group held: 30 s, then 503 for the whole group, and so for every group
    until a request outside one loaded it (an SQLite worker beside one that took an upload)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    text = (program_dir / "coffee-club.yaml").read_text(encoding="utf-8")
    with started(program_dir, str(tmp_path / "lane.db"), now) as runtime:
        other = Programs.load(program_dir)  # another worker, on the same folder and store
        other.guard = lambda program: _checked(str(tmp_path / "lane.db"), program)

        def more() -> list[Asked]:  # while the group holds the store: another worker's upload
            if not joined:
                other.replace("coffee-club", next_version(text))
                joined.append(
                    Asked(events.parse_text(jsonio.dumps(purchase(2, "joiner")).encode()), {}, False)
                )
                return joined[-1:]
            return []

        joined: list[Asked] = []
        answers: dict[int, Any] = {}
        first = Asked(events.parse_text(jsonio.dumps(purchase(1, "early")).encode()), {}, False)
        began = time.monotonic()
        decide_group(runtime, "coffee-club", [first], answers.__setitem__, more)
        assert time.monotonic() - began < 10
        assert all(isinstance(answers[index], tuple) for index in range(2)), answers  # (body, version)
        assert runtime.programs.get("coffee-club").version == 4  # loaded at the next look
