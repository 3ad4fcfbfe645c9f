"""The docs stand alone and stay complete: every link in README.md, docs/ and bench/README.md leads
to a file in this repository, and every command of `loyalty` is in docs/cli.md's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from rules_engine.cli import app
from tests.conftest import ROOT

DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target): the target up to a space (a title) or the closing bracket.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def _links(doc: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
    return LINK.findall(text)


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_every_link_leads_to_a_file_of_the_repository(doc: Path) -> None:
    broken = []
    for target in _links(doc):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address, or a place on the same page
        path = (doc.parent / target.split("#")[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert broken == []


def test_no_doc_points_outside_the_repository() -> None:
    """Not even in prose: a path such as ../shared/… is not there for a user of the repository."""
    for doc in DOCS:
        assert "../shared" not in doc.read_text(encoding="utf-8"), doc


def _commands(group: typer.Typer, prefix: str = "loyalty") -> list[str]:
    names = [f"{prefix} {command.name or command.callback.__name__}" for command in group.registered_commands]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        names += _commands(sub.typer_instance, f"{prefix} {sub.name}")
    return names


def test_every_command_is_in_the_cli_docs_table() -> None:
    table = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8").split("## Conventions")[0]
    commands = _commands(app)
    assert len(commands) >= 11
    missing = [name for name in commands if f"[`{name}`]" not in table]
    assert missing == []
