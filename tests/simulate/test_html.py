"""The simulate report's HTML page as text: self-contained, escaped, exact and repeatable.

What the page looks like in a browser is tests/simulate/test_html_browser.py's; these need no browser
and run on both builds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.simulate.html import render
from tests.simulate import reports

# Attributes through which a page would load something; every one must stay inside the page.
LOADING = {"src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset", "background"}
# Elements that run or embed something. The page has none of them, however hostile the report.
ACTIVE = {
    "script",
    "iframe",
    "object",
    "embed",
    "link",
    "base",
    "img",
    "image",
    "video",
    "audio",
    "foreignobject",
}


class Page(HTMLParser):
    """What an HTML parser sees: the elements, their attributes, and the text between them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.texts: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((tag, name, value or "") for name, value in attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def assert_inert(page: Page) -> None:
    """No element that runs or loads anything, no event handler, no URL leaving the page."""
    assert not ACTIVE & set(page.tags), ACTIVE & set(page.tags)
    for tag, name, value in page.attributes:
        assert not name.startswith("on"), (tag, name, value)
        if name in LOADING:
            assert value.startswith(("#", "data:")), (tag, name, value)
        if name == "style":
            assert "url(" not in value, (tag, name, value)


def test_the_page_is_one_file_that_loads_and_runs_nothing() -> None:
    text = render(reports.compared())
    page = Page(text)
    assert_inert(page)
    assert page.tags.count("svg") == 4  # liability, tiers, cost per rule, per-rule deltas
    csp = [value for tag, name, value in page.attributes if tag == "meta" and name == "content"]
    assert "default-src 'none'; style-src 'unsafe-inline'; img-src data:" in csp


def test_headline_figures_are_shown_exactly() -> None:
    data = reports.report()
    data["cost"]["money"]["liability"] = "12345678901234567.89"  # more digits than a float holds
    data["cost"]["points"]["liability"] = 1_234_567
    text = Page(render(data)).text
    assert "12,345,678,901,234,567.89 EUR" in text
    assert "1,234,567" in text
    assert "6,767.60 EUR" in text  # points issued in money
    assert "21,530.50 EUR" in text  # discounts given
    assert "83.0%" in text  # repeat rate
    assert "Comparison" not in text
    assert "Gates" not in text


def test_a_negative_liability_is_drawn_inside_the_chart() -> None:
    """Points owed (`negative_balance: allow`, a purchase returned after its points were spent)
    make the liability negative: the chart's axis started at 0, and those months' points were
    drawn outside it, i.e. not at all, while the table said -350."""
    data = reports.report()
    for row, liability in zip(data["monthly"], (100, -350, -350, 20), strict=False):
        row["liability"] = liability
    text = render(data)
    figure = text[text.index('id="figure-liability"') :]
    figure = figure[: figure.index("</figure>")]
    clip = re.search(
        r'<clipPath id="[^"]+">\s*<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"', figure
    )
    assert clip is not None
    top, bottom = float(clip[1]), float(clip[1]) + float(clip[2])
    line = figure[figure.index('<g id="liability-series-0">') :]
    line = line[: line.index('<g id="patch')]  # the line's group ends where the axes' spines begin
    marks = [float(y) for y in re.findall(r'<use xlink:href="#[^"]+" x="[\d.-]+" y="([\d.-]+)"', line)]
    assert len(marks) == len(data["monthly"])
    assert all(top <= y <= bottom for y in marks), (top, bottom, marks)


def test_a_comparison_adds_the_diff_the_tier_matrix_and_the_gates() -> None:
    text = Page(render(reports.compared())).text
    assert "Comparison: coffee-club v3 (base) against coffee-club v4 (other)" in text
    assert "cost.points.issued" in text
    assert "▲ +7.0%" in text
    assert "Tier at the end: coffee-club v3 (rows) against coffee-club v4 (columns)" in text
    assert "1,050" in text  # the matrix's member → member cell
    assert "card-1204" in text
    assert "FAILED" in text
    assert "passed" in text


def test_every_hostile_string_stays_text() -> None:
    """Markup in names shows as the characters the marketer typed, and adds no element."""
    hostile, plain = Page(render(reports.hostile())), Page(render(reports.compared()))
    assert_inert(hostile)
    assert set(hostile.tags) == set(plain.tags)
    for string in [*reports.HOSTILE, reports.CURRENCY]:
        assert string in hostile.text, string


names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("<>&\"'$\\]"),
    min_size=1,
    max_size=30,
)


@settings(max_examples=10, deadline=None)
@given(rule=names, tier=names, category=names)
def test_any_name_stays_text(rule: str, tier: str, category: str) -> None:
    data = reports.report()
    data["cost"]["per_rule"][0]["rule"] = rule
    data["tiers"]["order"][0] = tier
    for row in data["monthly"]:
        row["tiers"][tier] = row["tiers"].pop("member")
    data["analytics"]["top_categories"][0]["category"] = category
    page = Page(render(data))
    assert_inert(page)
    for name in (rule, tier, category):
        assert name in page.text


def test_the_same_report_gives_the_same_bytes_in_another_process() -> None:
    """No date, no random id: a report mailed twice is the same file (and diffs cleanly)."""
    data = reports.compared()
    script = (
        "import json, sys; from rules_engine.simulate.html import render; "
        "sys.stdout.write(render(json.load(sys.stdin)))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(data), capture_output=True, text=True, check=True
    ).stdout
    assert render(data) == other


def test_a_history_without_months_rules_or_comparison_still_renders() -> None:
    data: dict[str, Any] = reports.report()
    data["monthly"] = []
    data["cost"]["per_rule"] = []
    data["cost"]["per_mechanic"] = []
    data["tiers"] = {"order": [], "final": {}, "moves": {"up": 0, "down": 0}, "spend_share": {}}
    for kind in ("challenges", "quests", "badges", "streaks"):
        data["gamification"][kind] = []
    for kind in ("top_categories", "by_month", "by_weekday"):
        data["analytics"][kind] = []
    page = Page(render(data))
    assert "svg" not in page.tags
    assert "Headline figures" in page.text


def test_without_matplotlib_the_import_says_which_extra_to_install() -> None:
    script = "import sys; sys.modules['matplotlib'] = None; import rules_engine.simulate.html"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 1
    assert "pip install 'rules-engine[simulate]'" in result.stderr.splitlines()[-1]


def test_the_diff_shows_money_exactly_with_its_sign() -> None:
    data = reports.compared()
    data["compare"]["diff"] = [
        {
            "figure": "cost.money.discounts",
            "base": "21530.50",
            "other": "1234567890123456.78",
            "delta": "1234567890101926.28",
            "change": 57339.1,
        },
        {
            "figure": "cost.money.breakage",
            "base": "926.15",
            "other": "900.00",
            "delta": "-26.15",
            "change": -0.0282,
        },
        {"figure": "analytics.repeat_rate", "base": 0.83, "other": 0.8, "delta": -0.03, "change": -0.0361},
    ]
    text = Page(render(data)).text
    assert "21,530.501,234,567,890,123,456.78+1,234,567,890,101,926.28▲ +5733910.0%" in text
    assert "926.15900.00-26.15▼ -2.8%" in text
    assert "0.830.8-0.03▼ -3.6%" in text
