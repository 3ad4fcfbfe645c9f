"""The simulate report's HTML page as a marketer sees it: opened from a file in headless Chromium.

The page must show the headline figures and every chart, fetch nothing (every request but the file
itself is aborted and noted), run nothing from the report, and draw a real picture. The pure pass
of `make test` runs these (marker `browser`) in Debian's chromium, which scripts/with-chromium.sh
installs when it is missing.

With LOYALTY_WRITE_DOCS_IMAGES=1 the screenshot test also writes docs/images/simulate-report.png,
the picture in docs/simulate.md.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from rules_engine.simulate.html import render
from tests.browser import Requests
from tests.simulate import reports

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS_IMAGE = ROOT / "docs" / "images" / "simulate-report.png"
DOCS_IMAGE_HEIGHT = 2200  # pixels of the page's top shown in the docs: the headline figures and two charts

Offline = tuple[Any, Requests]


def open_report(offline_page: Offline, tmp_path: Path, report: dict[str, Any]) -> Any:
    page, requests = offline_page
    path = tmp_path / "report.html"
    path.write_text(render(report), encoding="utf-8")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert requests.made == [path.as_uri()], "the page asked for something besides its own file"
    assert requests.refused == []
    assert dialogs == []
    return page


def test_the_page_shows_the_headline_figures(offline_page: Offline, tmp_path: Path) -> None:
    page = open_report(offline_page, tmp_path, reports.compared())
    assert page.title() == "coffee-club v3 — simulated cost and analytics"
    for heading in ("Headline figures", "Gates", "Cost", "Tiers", "Gamification", "Analytics"):
        assert page.get_by_role("heading", name=heading, exact=True).is_visible()
    headline = page.get_by_role("table", name="What the program costs")
    assert headline.get_by_role("row", name="Liability at the end 441,028 4,410.28 EUR").is_visible()
    assert headline.get_by_role("row", name="Discounts given 21,530.50 EUR").is_visible()
    gates = page.locator("#gates")
    assert gates.get_by_role("row", name="cost > +5% +7.1% FAILED").is_visible()
    challenge = page.get_by_role("table", name="Challenges")
    assert challenge.get_by_role("row", name="five-coffees-a-week 1,544 702 45.5%").is_visible()
    assert page.get_by_role("table", name="Customers and baskets").get_by_text("21.84 EUR").is_visible()


def test_each_chart_is_drawn_with_its_series(offline_page: Offline, tmp_path: Path) -> None:
    data = reports.compared()
    page = open_report(offline_page, tmp_path, data)
    rules, months = len(data["cost"]["per_rule"]), len(data["monthly"])
    charts = {
        "liability": ("Liability over time", {'g[id^="liability-series-"]': 2}),
        "tiers": ("Tier distribution by month", {'g[id^="tiers-bar-"]': 3 * months}),
        "cost-per-rule": (
            "Cost per rule (EUR)",
            {'g[id^="cost-per-rule-points-"]': rules, 'g[id^="cost-per-rule-discounts-"]': rules},
        ),
        "rule-deltas": ("Per-rule change in points", {'g[id^="rule-delta-"]': rules}),
    }
    for name, (title, counts) in charts.items():
        chart = page.get_by_role("img", name=page.locator(f"#figure-{name} svg").get_attribute("aria-label"))
        assert chart.is_visible(), name
        box = chart.bounding_box()
        assert box["width"] > 600 and box["height"] > 200, (name, box)
        assert title in " ".join(page.locator(f"#figure-{name} svg text").all_text_contents()), name
        for selector, count in counts.items():
            assert page.locator(f"#figure-{name} {selector}").count() == count, (name, selector)
    legend = page.locator("#figure-tiers svg text").all_text_contents()
    assert {"member", "silver", "gold"} <= set(legend)
    matrix = page.locator("#tier-matrix")
    assert matrix.get_by_role("row", name="gold 0 0 264").is_visible()


def test_the_month_charts_figures_are_in_tables_exactly(offline_page: Offline, tmp_path: Path) -> None:
    """The liability and tier charts are for the shape; their figures, month by month, were in no
    table of the page (the terminal report had them): the docs say the tables carry them."""
    report = reports.compared()
    page = open_report(offline_page, tmp_path, report)
    points = page.get_by_role("table", name="Points by month")
    tiers = page.get_by_role("table", name="Customers by tier, month by month")
    other = {row["month"]: row["liability"] for row in report["compare"]["report"]["monthly"]}
    for row in report["monthly"]:
        figures = [row["issued"], row["redeemed"], row["expired"], row["liability"], other[row["month"]]]
        name = " ".join([row["month"], *(f"{figure:,}" for figure in figures)])
        assert points.get_by_role("row", name=name, exact=True).is_visible(), name
        counts = [f"{row['tiers'].get(tier, 0):,}" for tier in ("member", "silver", "gold")]
        assert tiers.get_by_role("row", name=" ".join([row["month"], *counts]), exact=True).is_visible()
    assert points.get_by_role("row").count() == len(report["monthly"]) + 1  # and the header


def test_nothing_of_the_report_runs(offline_page: Offline, tmp_path: Path) -> None:
    page = open_report(offline_page, tmp_path, reports.hostile())
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 0
    assert page.locator("img, iframe, object, embed").count() == 0
    for string in reports.HOSTILE:  # each shows as the characters typed
        assert page.get_by_text(string).first.is_visible(), string
    rules = page.get_by_role("table", name="Per rule").first
    assert rules.get_by_role("cell", name="<script>window.__pwned = 'script'</script> #0").is_visible()


def test_a_long_name_wraps_in_its_table_rather_than_widen_the_page(
    offline_page: Offline, tmp_path: Path
) -> None:
    """A category or rule name of 200 characters without a space (a SKU code, a pasted URL) showed
    whole, as the docs say, but stretched its table to 2,232 pixels: the page scrolled sideways and
    a printout cut the figures off. It now breaks within its cell."""
    report = reports.report()
    name = "x" * 200
    report["analytics"]["top_categories"][0]["category"] = name
    report["cost"]["per_rule"][0]["rule"] = name
    page = open_report(offline_page, tmp_path, report)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    cell = page.get_by_role("table", name="Top categories").get_by_role("cell", name=name)
    assert cell.is_visible() and cell.inner_text().replace("\n", "") == name  # whole, only wrapped


def test_the_network_guard_sees_a_request_the_page_makes(offline_page: Offline, tmp_path: Path) -> None:
    """The check above would pass vacuously if the guard saw nothing: a page that does fetch is caught."""
    page, requests = offline_page
    path = tmp_path / "online.html"
    path.write_text('<!DOCTYPE html><img src="http://127.0.0.1:9/pixel.png">', encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert requests.refused == ["http://127.0.0.1:9/pixel.png"]


def test_a_screenshot_is_a_real_picture(offline_page: Offline, tmp_path: Path) -> None:
    page = open_report(offline_page, tmp_path, reports.compared())
    png = page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    width, height = image.size
    assert width == 1280 and 3_000 < height < 20_000, image.size
    grey = image.convert("L")
    ink = sum(count for level, count in enumerate(grey.histogram()) if level < 200) / (width * height)
    assert 0.01 < ink < 0.5, ink  # text and charts, on a mostly white page
    assert ImageStat.Stat(image.convert("RGB")).stddev[0] > 10  # not one flat colour
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 100  # the charts' colours
    if os.environ.get("LOYALTY_WRITE_DOCS_IMAGES") == "1":
        DOCS_IMAGE.parent.mkdir(exist_ok=True)
        image.crop((0, 0, width, min(height, DOCS_IMAGE_HEIGHT))).save(DOCS_IMAGE, optimize=True)
