"""The public API: `import rules_engine as loyalty` is what users write, so what it offers is pinned
here, and the Python examples in the docs that use it are run (the typer lesson: examples are tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import rules_engine as loyalty
from tests.conftest import ROOT

PUBLIC = {
    # the condition language
    "Context", "Expression", "compile_condition", "compile_expression", "declare_symbols", "make_context",
    # programs, the engine, stores and the service
    "CompiledProgram", "CustomerState", "Engine", "Handled", "Outcome", "Program", "Result", "Service",
    "Store",
    "load_program", "open_store",
    # errors
    "ConditionError", "ConditionSyntaxError", "ConditionTypeError", "ContextError", "Diagnostic",
    "EvaluationError", "EventError", "LoopBudgetError", "ProgramError", "RulesEngineError", "StateError",
    "StoreError",
}  # fmt: skip


def test_the_public_names_are_pinned() -> None:
    assert set(loyalty.__all__) == PUBLIC
    assert sorted(loyalty.__all__) == loyalty.__all__


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(loyalty, name) is not None
    assert name in dir(loyalty)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Loyalty'"):
        loyalty.Loyalty  # noqa: B018  (the old name stays in rules_engine.service)


def test_the_facade_is_the_implementation() -> None:
    from rules_engine.engine.evaluator import Engine
    from rules_engine.service import Loyalty

    assert loyalty.Engine is Engine
    assert loyalty.Service is Loyalty
    assert issubclass(loyalty.EventError, loyalty.RulesEngineError)


def test_conditions_alone_do_not_load_the_engine() -> None:
    """A caller that only checks conditions does not pay for the engine's models."""
    probe = "import sys, rules_engine; print('rules_engine.engine.evaluator' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"


def test_load_program_gives_the_compiled_program() -> None:
    compiled = loyalty.load_program(ROOT / "programs" / "coffee-club.yaml")
    assert isinstance(compiled, loyalty.CompiledProgram)
    assert isinstance(compiled.program, loyalty.Program)
    assert compiled.program.program == "coffee-club"
    when = compiled.expression("earn", 1, "when")  # compiled once, with its place in the file
    assert when is not None and when.origin.file.name.endswith("coffee-club.yaml")
    assert loyalty.Engine(compiled).program is compiled.program
    with pytest.raises(loyalty.ProgramError) as refused:
        loyalty.load_program(ROOT / "tests" / "golden" / "errors" / "references.yaml")
    assert {d.code for d in refused.value.diagnostics} == {"RE121", "RE122"}


def _python_blocks(doc: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("doc", ["docs/engine.md", "docs/stores.md"])
def test_the_python_examples_in_the_docs_run(
    doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each block runs in a fresh folder (a store it opens is made there) that sees programs/."""
    (tmp_path / "programs").symlink_to(ROOT / "programs")
    monkeypatch.chdir(tmp_path)
    blocks = _python_blocks(ROOT / doc)
    assert blocks, f"{doc} has no Python example"
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"{doc}, example {number}", "exec"), {})
