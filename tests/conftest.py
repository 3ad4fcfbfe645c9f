from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from rules_engine import collector, compile_expression
from rules_engine.engine import evaluator
from rules_engine.jsonio import loads
from tests import browser, postgres

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONTEXT = ROOT / "programs" / "contexts" / "morning-coffee.json"

Evaluate = Callable[..., Any]

# No test has a deadline: a timed assertion fails on a loaded machine, not on a slow engine (speed
# is measured in bench/). Hypothesis's default of 200 ms an example failed the digest property test
# once at load 10. Tests that set their own settings inherit this, since the profile is loaded
# before any test module is imported.
settings.register_profile("project", deadline=None)
settings.load_profile("project")


def pytest_configure(config: pytest.Config) -> None:
    """Tests name the example files as the README does, from the project's root
    (`programs/coffee-club.yaml`). Run from a folder below it (`cd tests/engine && pytest`), they
    would not be found: every test runs from the root, wherever pytest was started (the paths on
    its command line are read from where it was started, before this)."""
    os.chdir(ROOT)


def pytest_report_header() -> str:
    return f"rules_engine from {Path(evaluator.__file__ or '?').parent.parent}"


@pytest.fixture(autouse=True)
def collector_as_it_was() -> Iterator[None]:
    """`loyalty run` and `simulate` set the collector of the process they run in for events
    (rules_engine/collector.py); run in-process by a test, they would set the test session's:
    each test gets it back as it was."""
    thresholds = gc.get_threshold()
    frozen = gc.get_freeze_count()
    yield
    if gc.get_threshold() != thresholds or gc.get_freeze_count() != frozen:
        collector.untune(thresholds)


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
