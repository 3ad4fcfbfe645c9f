from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

import pytest

from rules_engine import compile_expression
from rules_engine.engine import evaluator
from rules_engine.jsonio import loads
from tests import browser, postgres

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONTEXT = ROOT / "programs" / "contexts" / "morning-coffee.json"

Evaluate = Callable[..., Any]

# Which build of rules_engine the tests run on: the compiled one (make compiled, docs/development.md)
# only with RULES_ENGINE_EXPECT_COMPILED=1, the pure one otherwise. Checked before any test runs, so
# a run can neither test the pure code twice nor test a stale compiled module left in the source tree.
EXPECT_COMPILED = "RULES_ENGINE_EXPECT_COMPILED"
COMPILED = evaluator.__file__ is not None and evaluator.__file__.endswith(tuple(EXTENSION_SUFFIXES))


def pytest_configure() -> None:
    expected = os.environ.get(EXPECT_COMPILED) == "1"
    if COMPILED and not expected:
        where = Path(evaluator.__file__ or "")
        advice = (
            "a stale build in the source tree: delete it"
            if where.is_relative_to(ROOT / "rules_engine")
            else f"to test the compiled build, set {EXPECT_COMPILED}=1"
        )
        raise pytest.UsageError(f"rules_engine.engine.evaluator is a compiled module ({where}): {advice}")
    if expected and not COMPILED:
        raise pytest.UsageError(
            f"{EXPECT_COMPILED}=1, but rules_engine.engine.evaluator is pure Python ({evaluator.__file__}): "
            "the tests would run on the pure code. Run .venv-compiled/bin/pytest --import-mode=importlib"
        )


def pytest_report_header() -> str:
    build = "compiled (mypyc)" if COMPILED else "pure Python"
    return f"rules_engine: {build}, from {Path(evaluator.__file__ or '?').parent.parent}"


@pytest.fixture(autouse=True)
def collector_as_it_was() -> Iterator[None]:
    """`loyalty run` and `simulate` set the collector of the process they run in for events
    (rules_engine/collector.py); run in-process by a test, they would set the test session's:
    each test gets it back as it was."""
    thresholds = gc.get_threshold()
    frozen = gc.get_freeze_count()
    yield
    if gc.get_threshold() != thresholds or gc.get_freeze_count() != frozen:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.fixture(scope="session")
def sample_context() -> dict[str, Any]:
    data: dict[str, Any] = loads(SAMPLE_CONTEXT.read_text(encoding="utf-8"))
    return data


@pytest.fixture(params=["compiled", "interpreted"])
def evaluate(request: pytest.FixtureRequest, sample_context: dict[str, Any]) -> Evaluate:
    """Evaluate an expression on one back end; every semantics test runs on both (jinja's pattern)."""

    def run(text: str, context: dict[str, Any] | None = None, **options: Any) -> Any:
        expression = compile_expression(text, per_item=bool(context and "item" in context), **options)
        normalized = expression.context(sample_context if context is None else context)
        if request.param == "compiled":
            return expression.evaluate(normalized)
        return expression.interpret(normalized)

    return run


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the PostgreSQL server to test on (LOYALTY_TEST_POSTGRES), checked to answer.

    Skips the test when the variable is unset, unless LOYALTY_REQUIRE_POSTGRES=1 (make test, CI):
    then it fails. See tests/postgres.py.
    """
    return postgres.server_url()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database on that server for this test alone; dropped afterwards."""
    with postgres.fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium (a Playwright BrowserContext) with a fresh profile, offline.

    Skips the test when there is no Chromium, unless LOYALTY_REQUIRE_BROWSER=1 (make test, CI):
    then it fails. See tests/browser.py.
    """
    with browser.launch(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def offline_page(browser_context: Any) -> Iterator[tuple[Any, browser.Requests]]:
    """A new page that may load file:// URLs only, and the list of requests it made or was refused."""
    page, requests = browser.offline_page(browser_context)
    yield page, requests
    page.close()
