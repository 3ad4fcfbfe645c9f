"""One registry of diagnostic codes (rules_engine/codes.py), and the docs that index it.

A code a user can see must be registered, documented in the section the registry names, and
listed in docs/errors.md, which is generated from the registry; a retired code is never given
again. `Diagnostic` itself refuses an unregistered code; the scans here find one before it runs.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from rules_engine.codes import CODES, RETIRED, Severity, Stage, exit_status
from rules_engine.errors import Diagnostic
from tests.conftest import ROOT

CODE = re.compile(r"\bRE\d{3}\b")
SOURCES = sorted(p for p in (ROOT / "rules_engine").rglob("*.py") if p.name != "codes.py")
SOURCES.append(ROOT / "cli.py")
DOCS = sorted((ROOT / "docs").glob("*.md"))
ERRORS_MD = ROOT / "docs" / "errors.md"
HEADING = re.compile(r"^(#+) (.*)$", re.MULTILINE)


def _codes_in(path: Path) -> set[str]:
    return set(CODE.findall(path.read_text(encoding="utf-8")))


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_errors_doc", ROOT / "scripts" / "gen-errors-doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _section(page: Path, anchor: str) -> str:
    """The text of the section under the heading with this anchor, up to the next heading of
    the same or a higher level; empty if there is no such heading."""
    text = page.read_text(encoding="utf-8")
    headings = list(HEADING.finditer(text))
    for index, heading in enumerate(headings):
        if _anchor(heading.group(2)) != anchor:
            continue
        level = len(heading.group(1))
        end = next((h.start() for h in headings[index + 1 :] if len(h.group(1)) <= level), len(text))
        return text[heading.end() : end]
    return ""


# -- the code: every code it gives is registered ------------------------------------------------


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_the_package_names_is_registered(path: Path) -> None:
    """Call sites keep their literals (`Diagnostic("RE410", …)`); each must be registered, and
    so must a code a docstring or comment names."""
    assert sorted(_codes_in(path) - set(CODES)) == []


def test_every_registered_code_is_given_somewhere() -> None:
    """A code no call site gives is not one a user can see: retire it rather than list it."""
    given = {
        code for path in SOURCES for code in re.findall(r'"(RE\d{3})"', path.read_text(encoding="utf-8"))
    }
    assert sorted(set(CODES) - given) == []


def test_a_diagnostic_with_an_unregistered_code_or_the_wrong_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="RE999 is not a registered"):
        Diagnostic("RE999", "no such code")
    with pytest.raises(ValueError, match="RE415 is not a registered"):
        Diagnostic("RE415", "a retired code is not given again")
    with pytest.raises(ValueError, match="RE312 is registered as warning"):
        Diagnostic("RE312", "a warning made as an error")


def test_retired_codes_are_not_registered_and_name_codes_that_are() -> None:
    assert not set(RETIRED) & set(CODES)
    for code, (_, now) in RETIRED.items():
        if now.startswith("none: "):  # e.g. RE705: click itself refuses a value outside a choice
            assert not CODE.findall(now), code
            continue
        assert CODE.findall(now) and set(CODE.findall(now)) <= set(CODES), code


def test_the_registry_reads_as_the_pipeline() -> None:
    """Each hundred is one part of the pipeline; usage problems alone exit 2, as click does."""
    assert all(re.fullmatch(r"RE[1-8]\d\d", code) for code in CODES)
    usage = {code for code, entry in CODES.items() if entry.stage is Stage.USAGE}
    assert usage == {code for code in CODES if code.startswith("RE7")}
    assert {code for code, entry in CODES.items() if entry.exit_status == 2} == usage
    assert all(entry.severity is Severity.WARNING for code, entry in CODES.items() if code.startswith("RE5"))
    assert all(entry.title and not entry.title.endswith(".") for entry in CODES.values())


def test_the_exit_status_of_a_command_follows_its_codes() -> None:
    assert exit_status(["RE410"]) == 1
    assert exit_status(["RE702"]) == 2
    assert exit_status(["RE411", "RE702"]) == 2
    assert exit_status(["RE501", "RE127"]) == 0
    assert exit_status(["RE460"]) == 130
    assert exit_status(["RE501", "RE411"]) == 1


# -- the docs: errors.md is the index, the pages explain --------------------------------------------


def test_docs_errors_md_is_what_the_registry_generates() -> None:
    """Regenerate with `make docs` (scripts/gen-errors-doc.py) after editing codes.py."""
    assert ERRORS_MD.read_text(encoding="utf-8") == _generator().render()


def test_every_registered_code_is_in_docs_errors_md() -> None:
    listed = set(re.findall(r"^\| (RE\d{3}) \|", ERRORS_MD.read_text(encoding="utf-8"), re.MULTILINE))
    assert listed == set(CODES) | set(RETIRED)


@pytest.mark.parametrize("doc", [*DOCS, ROOT / "README.md"], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_a_doc_names_is_registered(doc: Path) -> None:
    """Only errors.md may name a retired code (in its table of them)."""
    assert sorted(_codes_in(doc) - set(CODES) - (set(RETIRED) if doc == ERRORS_MD else set())) == []


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_code_is_explained_in_the_section_the_registry_names(code: str) -> None:
    page, anchor = CODES[code].docs.split("#")
    section = _section(ROOT / "docs" / page, anchor)
    assert section, f"no section #{anchor} in docs/{page}"
    assert code in section, f"{code} is not in docs/{page}#{anchor}"


def test_the_command_line_docs_and_readme_link_the_index() -> None:
    assert "(errors.md)" in _section(ROOT / "docs" / "cli.md", "conventions")
    assert "(docs/errors.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


# -- tests files: an expected error is a code the engine can give -----------------------------------


def test_the_example_tests_files_expect_registered_codes() -> None:
    files = [*(ROOT / "programs").glob("*.tests.yaml"), *(ROOT / "tests" / "fixtures").rglob("*.tests.yaml")]
    expected = {code for path in files for code in re.findall(r"error: (RE\d{3})", path.read_text("utf-8"))}
    assert expected and expected <= set(CODES)


def test_a_tests_file_expecting_a_code_no_event_is_refused_with_is_caught_up_front(tmp_path: Path) -> None:
    """`expect: {error: RE499}` (no such code) or `RE603` (a store's, never an event's in
    `loyalty test`) would fail for ever: both are refused before any case runs, at their place."""
    from typer.testing import CliRunner

    from rules_engine.cli import app

    signup = '{id: e1, type: signup, time: "2026-12-01T10:00:00+03:00", customer: c1}'
    (tmp_path / "cafe.tests.yaml").write_text(
        "cases:\n"
        f"  - name: no such code\n    event: {signup}\n    expect: {{error: RE499}}\n"
        f"  - name: a store's\n    event: {signup}\n    expect: {{error: RE603}}\n"
        f"  - name: a store's refusal of an event\n    event: {signup}\n    expect: {{error: RE441}}\n",
        encoding="utf-8",
    )
    program = ROOT / "programs" / "coffee-club.yaml"
    result = CliRunner().invoke(app, ["test", str(program), str(tmp_path / "cafe.tests.yaml")])
    assert result.exit_code == 1
    refused = re.findall(
        r":(\d+):\d+: error\[RE114\]: `(RE\d+)` is not a code an event can be refused with", result.stderr
    )
    assert refused == [("4", "RE499"), ("7", "RE603")]
