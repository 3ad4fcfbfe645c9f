"""Property-based, from the live server's own OpenAPI schema (schemathesis): requests generated for
every operation, with an admin key, must never get a 5xx, and every answer must match the schema
— its status documented, its content type and its body as declared.

Bounded: a few examples per operation (derandomized, so a run is repeatable), a few seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from rules_engine.http import Settings
from tests.http.conftest import Server, serving

EXAMPLES = 4  # per operation: with 17 operations, about 70 requests (6 took half again as long)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from tests.conftest import ROOT

    folder = tmp_path_factory.mktemp("programs")
    (folder / "coffee-club.yaml").write_bytes((ROOT / "programs" / "coffee-club.yaml").read_bytes())
    db = str(tmp_path_factory.mktemp("db") / "schema.db")
    with serving(Settings(programs=folder, db=db, docs=False)) as running:
        running.keys["admin"] = running.add_key(["admin"])
        yield running


def operations(server: Server) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_no_operation_answers_5xx_or_off_its_schema(server: Server, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {server.keys['admin']}"}
    found = operations(server)
    assert len(found) >= 16
    for operation in found:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            if case.path_parameters and "program" in case.path_parameters:
                case.path_parameters["program"] = "coffee-club"  # reach the routes past the 404
            case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS)

        check()
