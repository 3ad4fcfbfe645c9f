"""The headless Chromium the browser tests drive through Playwright, and a page that may not go online.

`make test` runs the tests under scripts/with-chromium.sh, which installs Debian's `chromium` when
it is missing and sets LOYALTY_TEST_CHROMIUM to it and LOYALTY_REQUIRE_BROWSER=1. Run by hand,
the browser tests use LOYALTY_TEST_CHROMIUM or the first chromium on PATH, and are skipped when
there is none (docs/development.md). Playwright's own browser downloads are never used.

The fixtures `browser_context` and `offline_page` in tests/conftest.py are built on these; tests
that use them carry the marker `browser` (the pure pass of `make test` runs them, the compiled
pass leaves them out).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # Playwright is imported when a browser test runs, not when pytest collects
    from playwright.sync_api import BrowserContext, Page, Route

PATH_VARIABLE = "LOYALTY_TEST_CHROMIUM"
REQUIRE_VARIABLE = "LOYALTY_REQUIRE_BROWSER"

# The flags this machine's closed network needs (no background requests to Google's hosts, no QUIC),
# and the ones a headless run as root in a container needs (no sandbox, no GPU).
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> str:
    """The Chromium to launch; a skip when there is none, a failure when make test requires one."""
    named = os.environ.get(PATH_VARIABLE, "")
    found = named or shutil.which("chromium") or shutil.which("chromium-browser") or ""
    if named and not os.access(named, os.X_OK):
        pytest.fail(f"{PATH_VARIABLE}={named} is not an executable file", pytrace=False)
    if not found:
        if os.environ.get(REQUIRE_VARIABLE) == "1":
            pytest.fail(
                f"{REQUIRE_VARIABLE}=1 but no Chromium is found ({PATH_VARIABLE} unset, none on PATH); "
                "scripts/with-chromium.sh installs it",
                pytrace=False,
            )
        pytest.skip("no Chromium to test in (make test installs Debian's chromium: scripts/with-chromium.sh)")
    return found


@dataclass
class Requests:
    """Every request a page made, and those refused because they would have left the file."""

    made: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@contextmanager
def launch(user_data_dir: Path) -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile in `user_data_dir`, offline."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=chromium_path(),
            args=ARGS,
            headless=True,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            offline=True,
        )
        try:
            yield context
        finally:
            context.close()


def offline_page(context: BrowserContext) -> tuple[Page, Requests]:
    """A new page on which every request but for a file:// URL is aborted, and noted in Requests."""
    requests = Requests()

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            requests.refused.append(url)
            route.abort()

    page = context.new_page()
    page.route("**/*", guard)
    page.on("request", lambda request: requests.made.append(request.url))
    return page, requests
