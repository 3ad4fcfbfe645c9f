"""Helpers for the loader's tests: load a text, or get the problems it has."""

from __future__ import annotations

from typing import Any

import pytest

from rules_engine.errors import Diagnostic, YamlSyntaxError
from rules_engine.program.loader import load_yaml


def load(text: str) -> Any:
    data, _ = load_yaml(text, "program.yaml")
    return data


def problems(text: str) -> list[Diagnostic]:
    with pytest.raises(YamlSyntaxError) as caught:
        load_yaml(text, "program.yaml")
    return caught.value.diagnostics


def where(diagnostic: Diagnostic) -> tuple[str, int, int]:
    assert diagnostic.span is not None
    return diagnostic.code, diagnostic.span.line, diagnostic.span.column


def only(text: str) -> Diagnostic:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]
